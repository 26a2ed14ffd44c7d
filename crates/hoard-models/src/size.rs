//! Sizes as people write and read them: `--max-size 50GiB` in, `4.9 KiB` out.
//!
//! The value is [`bytesize::ByteSize`], and so is the formatting: its IEC style (`512 B`,
//! `1.5 KiB`, `10.0 GiB`, one decimal) is what `hoard models` has always printed.
//!
//! The parsing is hoard's own and small: it reads the grammar the configuration file
//! uses for its sizes (`256MiB`, `16MB`, `512KiB`, `1GiB`, a bare `K`/`M`/`G` meaning the
//! binary unit, or plain bytes; whole numbers only). `ByteSize`'s `FromStr` reads a bare
//! `K`, `M` or `G` as the decimal unit and accepts fractions and `TB`, so the same flag
//! would mean a different size on the command line than in hoard.toml.

pub use bytesize::ByteSize;

/// Why a size did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SizeError {
    /// No number at the start.
    #[error("{0:?} is not a size like 256MiB")]
    NotASize(String),
    /// More bytes than a `u64` holds.
    #[error("{0:?} is too large")]
    TooLarge(String),
    /// A unit that is not one of those listed.
    #[error("unknown size unit {0:?} (use B, KiB, MiB, GiB, KB, MB or GB)")]
    UnknownUnit(String),
}

/// Parses `256MiB`, `16MB`, `512KiB`, `1GiB`, `2G` or `1024` (bytes).
pub fn parse_size(text: &str) -> Result<ByteSize, SizeError> {
    let text = text.trim();
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(SizeError::NotASize(text.to_owned()));
    }
    let too_large = || SizeError::TooLarge(text.to_owned());
    let number: u64 = text[..digits].parse().map_err(|_| too_large())?;
    let unit = match text[digits..].trim() {
        "" | "B" => 1,
        "KB" => bytesize::KB,
        "KiB" | "K" => bytesize::KIB,
        "MB" => bytesize::MB,
        "MiB" | "M" => bytesize::MIB,
        "GB" => bytesize::GB,
        "GiB" | "G" => bytesize::GIB,
        other => return Err(SizeError::UnknownUnit(other.to_owned())),
    };
    number
        .checked_mul(unit)
        .map(ByteSize::b)
        .ok_or_else(too_large)
}

/// A size as text (`256MiB`, `16MB`, `1GiB`) or a number of bytes: a serde
/// `deserialize_with` for configuration fields, refusing anything else with a message that
/// says what was expected.
pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<ByteSize, D::Error> {
    use serde::de::Error;
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Written {
        Bytes(u64),
        Text(String),
    }
    let written = <Written as serde::Deserialize>::deserialize(d)
        .map_err(|_| D::Error::custom("expected a size such as 256MiB"))?;
    match written {
        Written::Bytes(bytes) => Ok(ByteSize::b(bytes)),
        Written::Text(text) => parse_size(&text).map_err(D::Error::custom),
    }
}

/// [`deserialize`] for an optional field (with `#[serde(default)]`: absent is `None`).
pub fn deserialize_optional<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<ByteSize>, D::Error> {
    deserialize(d).map(Some)
}

/// `bytes` as `hoard models` prints sizes: `512 B`, `4.9 KiB`, `1.5 GiB`.
pub fn human(bytes: u64) -> String {
    ByteSize::b(bytes).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_grammar_parses() {
        let cases = [
            ("256MiB", 256 << 20),
            ("16MB", 16_000_000),
            ("512KiB", 512 << 10),
            ("1GiB", 1 << 30),
            ("2G", 2 << 30),
            ("3K", 3 << 10),
            ("1024", 1024),
            (" 7 B ", 7),
            ("1 MiB", 1 << 20),
        ];
        for (text, bytes) in cases {
            assert_eq!(parse_size(text), Ok(ByteSize::b(bytes)), "{text}");
        }
    }

    #[test]
    fn bad_sizes_say_what_is_wrong() {
        let message = |text: &str| parse_size(text).map_err(|e| e.to_string()).unwrap_err();
        assert_eq!(message("lots"), "\"lots\" is not a size like 256MiB");
        assert_eq!(
            message("5TB"),
            "unknown size unit \"TB\" (use B, KiB, MiB, GiB, KB, MB or GB)"
        );
        // Fractions are not part of the grammar: the `.5` is read as the unit.
        assert!(matches!(
            parse_size("1.5GiB"),
            Err(SizeError::UnknownUnit(_))
        ));
        assert!(matches!(
            parse_size("99999999999999999999"),
            Err(SizeError::TooLarge(_))
        ));
        assert!(matches!(
            parse_size("17179869184GiB"),
            Err(SizeError::TooLarge(_))
        ));
    }

    #[test]
    fn sizes_print_in_binary_units_with_one_decimal() {
        assert_eq!(human(0), "0 B");
        assert_eq!(human(1023), "1023 B");
        assert_eq!(human(1024), "1.0 KiB");
        assert_eq!(human(5000), "4.9 KiB");
        assert_eq!(human(6000), "5.9 KiB");
        assert_eq!(human(3 << 29), "1.5 GiB");
        assert_eq!(human(5 << 40), "5.0 TiB");
    }
}
