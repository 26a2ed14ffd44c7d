//! The end of a `#[cached]` call's key: the marker `:v2:` and the 32 lowercase hex digits
//! of the call's argument digest (`cached/args.rs` defines the digest).
//!
//! Two sides share it. `#[cached]` writes keys that end so, and L1 recognises them: it
//! hashes such a key by its digest rather than by its text, so that a call can look its
//! entry up from the digest it just computed, without formatting the key first. Formatting
//! and hashing the key text cost about a quarter of a hit; a key read as text (a plain
//! `get` of the same key) finds the same entry, because both sides hash the same parts.

/// What stands between a function's name and its arguments' digest. A new argument
/// encoding is a new marker, so a key of another format never matches.
pub(crate) const MARKER: &str = ":v2:";

/// Bytes of the marker and the digits together.
pub(crate) const SUFFIX_LEN: usize = MARKER.len() + 32;

/// `digest` as 32 lowercase hex digits, most significant first (XXH3-128's canonical form).
///
/// Eight digits at a time, in a `u64`'s bytes: a table lookup per digit costs more than
/// the rest of the key text together.
pub(crate) fn hex32(digest: u128) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, chunk) in out.chunks_exact_mut(8).enumerate() {
        // The i-th 32 bits from the top, spread one nibble per byte, the top nibble into
        // the top byte.
        let mut x = u64::from((digest >> (96 - 32 * i)) as u32);
        x = (x | (x << 16)) & 0x0000_ffff_0000_ffff;
        x = (x | (x << 8)) & 0x00ff_00ff_00ff_00ff;
        x = (x | (x << 4)) & 0x0f0f_0f0f_0f0f_0f0f;
        // Each nibble n becomes '0' + n, plus 39 ('a' - '0' - 10) where n > 9; no byte
        // carries into the next.
        let letters = ((x + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
        let ascii = x + 0x3030_3030_3030_3030 + letters * 0x27;
        chunk.copy_from_slice(&ascii.to_be_bytes());
    }
    out
}

/// `key` as the name before the marker and the digest after it, when it ends in the marker
/// and exactly 32 lowercase hex digits (the only form [`hex32`] writes, so one digest has
/// one text). Any other key is `None`: it is hashed as text.
pub(crate) fn split(key: &str) -> Option<(&str, u128)> {
    let name_len = key.len().checked_sub(SUFFIX_LEN)?;
    // Not a character boundary: the suffix is not ASCII, so not ours.
    let name = key.get(..name_len)?;
    let (marker, digits) = key.as_bytes()[name_len..].split_at(MARKER.len());
    if marker != MARKER.as_bytes() {
        return None;
    }
    let mut digest = 0u128;
    for &digit in digits {
        let nibble = match digit {
            b'0'..=b'9' => digit - b'0',
            b'a'..=b'f' => digit - b'a' + 10,
            _ => return None,
        };
        digest = (digest << 4) | u128::from(nibble);
    }
    Some((name, digest))
}

/// Whether `key` is `{name}{MARKER}{hex32(digest)}`, given `hex` = `hex32(digest)`.
pub(crate) fn is_call_key(key: &str, name: &str, hex: &[u8; 32]) -> bool {
    let key = key.as_bytes();
    key.len() == name.len() + SUFFIX_LEN
        && key.starts_with(name.as_bytes())
        && key[name.len()..name.len() + MARKER.len()] == *MARKER.as_bytes()
        && key[name.len() + MARKER.len()..] == *hex
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(name: &str, digest: u128) -> String {
        format!("{name}{MARKER}{digest:032x}")
    }

    #[test]
    fn hex_digits_are_those_of_the_formatter() {
        let mut x: u128 = 0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834;
        for _ in 0..1000 {
            let hex = hex32(x);
            assert_eq!(std::str::from_utf8(&hex).unwrap(), format!("{x:032x}"));
            x = x.rotate_left(7) ^ x.wrapping_mul(0x2545_f491_4f6c_dd1d);
        }
        for edge in [0, u128::MAX, 0xa, 0xf << 124, 0x9 << 124] {
            assert_eq!(
                std::str::from_utf8(&hex32(edge)).unwrap(),
                format!("{edge:032x}")
            );
        }
    }

    #[test]
    fn split_reads_back_what_is_written() {
        let mut x: u128 = 0x0123_4567_89ab_cdef_0011_2233_4455_6677;
        for name in ["f", "report", "", "é:v2:x", "a:v2:"] {
            for _ in 0..100 {
                let key = text(name, x);
                assert_eq!(split(&key), Some((name, x)), "{key}");
                assert!(is_call_key(&key, name, &hex32(x)));
                x = x.rotate_left(11) ^ x.wrapping_mul(0x2545_f491_4f6c_dd1d);
            }
        }
    }

    #[test]
    fn other_keys_are_text() {
        let digits = "0123456789abcdef0123456789abcdef";
        for key in [
            "",
            "short",
            // Uppercase digits: a text of its own, not the lowercase key's digest.
            "f:v2:0123456789ABCDEF0123456789abcdef",
            "f:v3:0123456789abcdef0123456789abcdef",
            "f:v2:0123456789abcdef0123456789abcdeg",
            // 31 and 33 digits.
            "f:v2:123456789abcdef0123456789abcdef",
            "f:v2:00123456789abcdef0123456789abcdef",
            &format!("é{digits}"),
        ] {
            assert_eq!(split(key), None, "{key}");
        }
        // A key that merely contains the marker further left is text.
        assert_eq!(split(&format!("f:v2:{digits}x")), None);
        let hex = hex32(1);
        assert!(!is_call_key(&text("g", 1), "f", &hex));
        assert!(!is_call_key(&text("f", 2), "f", &hex));
        assert!(!is_call_key(&format!("f:v3:{:032x}", 1), "f", &hex));
        assert!(!is_call_key(&format!("xf:v2:{:032x}", 1), "f", &hex));
    }
}
