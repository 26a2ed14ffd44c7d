//! TTL presets (seed 003's `CacheTTL`) and human durations (`90s`, `2h5m`).

use crate::error::{Error, Result};
use std::time::Duration;

/// 5 minutes: frequently changing data.
pub const VERY_SHORT: Duration = Duration::from_secs(5 * 60);
/// 15 minutes.
pub const SHORT: Duration = Duration::from_secs(15 * 60);
/// 30 minutes: moderately stable data.
pub const MEDIUM: Duration = Duration::from_secs(30 * 60);
/// 1 hour: stable data.
pub const LONG: Duration = Duration::from_secs(60 * 60);
/// 2 hours.
pub const VERY_LONG: Duration = Duration::from_secs(2 * 60 * 60);
/// 24 hours: nearly static data.
pub const DAY: Duration = Duration::from_secs(24 * 60 * 60);
/// 7 days.
pub const WEEK: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// The presets by name, in the order and with the names seed 003's stats endpoint reports
/// them (`ttl_very_short` ... `ttl_week`).
pub const PRESETS: [(&str, Duration); 7] = [
    ("ttl_very_short", VERY_SHORT),
    ("ttl_short", SHORT),
    ("ttl_medium", MEDIUM),
    ("ttl_long", LONG),
    ("ttl_very_long", VERY_LONG),
    ("ttl_day", DAY),
    ("ttl_week", WEEK),
];

/// Parses a duration written as one or more `{number}{unit}` groups, largest unit first
/// or not: `500ms`, `90s`, `15m`, `2h5m`, `1d12h`, `1w`.
///
/// Units: `ms`, `s`, `m`, `h`, `d`, `w`. A bare number is refused (is `90` seconds or
/// minutes?), as are negative numbers, fractions and empty text.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(hoard::ttl::parse_duration("2h5m")?, Duration::from_secs(2 * 3600 + 5 * 60));
/// assert!(hoard::ttl::parse_duration("90").is_err());
/// # Ok::<(), hoard::Error>(())
/// ```
pub fn parse_duration(input: &str) -> Result<Duration> {
    let refuse = |reason: &str| Error::InvalidDuration {
        input: crate::error::clip(input),
        reason: reason.to_owned(),
    };
    let text = input.trim();
    if text.is_empty() {
        return Err(refuse("empty duration"));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(refuse("expected a number, like 90s or 2h5m"));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| refuse("number is too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(1),
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            "d" => Duration::from_secs(86_400),
            "w" => Duration::from_secs(604_800),
            "" if rest.starts_with('.') => {
                return Err(refuse(
                    "fractions are not supported (write 1h30m, not 1.5h)",
                ))
            }
            "" => return Err(refuse("missing unit (ms, s, m, h, d or w)")),
            _ => return Err(refuse("unknown unit (use ms, s, m, h, d or w)")),
        };
        rest = &rest[unit_len..];
        let part = u32::try_from(number)
            .ok()
            .and_then(|n| unit.checked_mul(n))
            .ok_or_else(|| refuse("duration is too large"))?;
        total = total
            .checked_add(part)
            .ok_or_else(|| refuse("duration is too large"))?;
    }
    Ok(total)
}

/// Formats a duration the way [`parse_duration`] reads it: `2h5m`, `90s` is `1m30s`,
/// `1500ms` is `1s500ms`, zero is `0s`.
pub fn format_duration(duration: Duration) -> String {
    const UNITS: [(&str, u128); 6] = [
        ("w", 604_800_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let mut millis = duration.as_millis();
    if millis == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, size) in UNITS {
        let count = millis / size;
        if count > 0 {
            out.push_str(&format!("{count}{unit}"));
            millis %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_match_seed_003() {
        let seconds: Vec<u64> = PRESETS.iter().map(|(_, d)| d.as_secs()).collect();
        assert_eq!(seconds, [300, 900, 1800, 3600, 7200, 86400, 604800]);
    }

    #[test]
    fn parses_groups() {
        let cases = [
            ("90s", 90_000),
            ("2h5m", 7_500_000),
            ("500ms", 500),
            ("1d12h", 129_600_000),
            ("1w", 604_800_000),
            ("5m2h", 7_500_000),
            (" 15m ", 900_000),
            ("0s", 0),
        ];
        for (text, millis) in cases {
            assert_eq!(
                parse_duration(text).unwrap(),
                Duration::from_millis(millis),
                "{text}"
            );
        }
    }

    #[test]
    fn refuses_bad_durations_with_a_reason() {
        let cases = [
            ("", "empty"),
            ("90", "missing unit"),
            ("1.5h", "fractions"),
            ("-5s", "expected a number"),
            ("5y", "unknown unit"),
            ("h", "expected a number"),
            ("99999999999999999999s", "too large"),
            ("4294967296w", "too large"),
        ];
        for (text, reason) in cases {
            let err = parse_duration(text).unwrap_err().to_string();
            assert!(err.contains(reason), "{text:?}: {err}");
        }
    }

    #[test]
    fn format_round_trips() {
        for text in ["2h5m", "1m30s", "1s500ms", "1w1d", "0s"] {
            assert_eq!(format_duration(parse_duration(text).unwrap()), text);
        }
    }
}
