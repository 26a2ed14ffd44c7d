//! JSON numbers the cache keeps exactly, and a clear 400 for the ones it cannot.
//!
//! Values are stored as MessagePack, whose numbers are 64-bit integers and IEEE doubles.
//! Floats round-trip exactly (serde_json's `float_roundtrip` parses them correctly rounded,
//! and they are written back in their shortest exact form). An integer literal outside
//! -2^63..2^64-1 would be read as the nearest double and come back changed
//! (`18446744073709551616` as `1.8446744073709552e19`), so it is refused instead.

use crate::ApiError;

/// Refuses a body holding an integer literal no 64-bit integer can hold. Bytes that are not
/// JSON pass: the parser after this says what is wrong with them.
pub(crate) fn check_integers(body: &[u8]) -> Result<(), ApiError> {
    let mut at = 0;
    while at < body.len() {
        match body[at] {
            b'"' => at = skip_string(body, at + 1),
            b'-' | b'0'..=b'9' => {
                let end = body[at..]
                    .iter()
                    .position(|b| !matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
                    .map_or(body.len(), |n| at + n);
                let literal = &body[at..end];
                if !fits_64_bits(literal) {
                    return Err(ApiError::bad_request(
                        "number_out_of_range",
                        format!(
                            "the integer {} is outside what the cache keeps exactly (-2^63 to \
                             2^64-1); send it as a string, or as a float if rounding is fine",
                            shorten(literal)
                        ),
                    ));
                }
                at = end;
            }
            _ => at += 1,
        }
    }
    Ok(())
}

/// The index just past the string whose first byte (after the quote) is at `from`.
fn skip_string(body: &[u8], mut from: usize) -> usize {
    while from < body.len() {
        match body[from] {
            b'\\' => from += 2,
            b'"' => return from + 1,
            _ => from += 1,
        }
    }
    body.len()
}

/// Whether a number literal is a float, or an integer within i64/u64.
fn fits_64_bits(literal: &[u8]) -> bool {
    if literal.iter().any(|b| matches!(b, b'.' | b'e' | b'E')) {
        return true;
    }
    let (negative, digits) = match literal.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, literal),
    };
    let digits = match digits.iter().position(|&b| b != b'0') {
        Some(first) => &digits[first..],
        None => return true, // zero
    };
    if !digits.iter().all(u8::is_ascii_digit) {
        return true; // not a number JSON allows: the parser will say so
    }
    if digits.len() > 20 {
        return false;
    }
    let Ok(value) = std::str::from_utf8(digits).unwrap_or("x").parse::<u128>() else {
        return true;
    };
    if negative {
        value <= 1u128 << 63
    } else {
        value <= u128::from(u64::MAX)
    }
}

fn shorten(literal: &[u8]) -> String {
    let text = String::from_utf8_lossy(literal);
    if text.len() > 40 {
        format!("{}... ({} digits)", &text[..30], text.len())
    } else {
        text.into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_past_64_bits_are_refused_and_everything_else_passes() {
        for ok in [
            &b"1"[..],
            b"-9223372036854775808",
            b"18446744073709551615",
            b"0.38120423768821243",
            b"1.8446744073709552e19",
            b"[1,-2,3e400]",
            br#"{"n":"123456789012345678901234567890"}"#,
            br#"{"s":"\"18446744073709551616"}"#,
            b"00000000000000000000001",
            b"not json at all",
            b"",
        ] {
            assert!(
                check_integers(ok).is_ok(),
                "{}",
                String::from_utf8_lossy(ok)
            );
        }
        for refused in [
            &b"18446744073709551616"[..],
            b"-9223372036854775809",
            b"[1, 123456789012345678901234567890]",
            br#"{"a":{"b":[99999999999999999999]}}"#,
        ] {
            let error = check_integers(refused).unwrap_err();
            assert_eq!(error.code, "number_out_of_range");
        }
    }
}
