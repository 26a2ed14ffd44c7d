//! TTL presets (`SHORT`, `MEDIUM`, `LONG` = 1 h, ...) and human durations (`90s`, `2h5m`).

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

/// The longest TTL any tier takes: 3650 days (about ten years). Longer ones are refused
/// with [`crate::Error::InvalidDuration`] on every tier alike (Redis itself refuses
/// deadlines past its 64-bit millisecond clock; a cache entry that outlives its code
/// by a decade is a bug, not a plan).
pub const MAX: Duration = Duration::from_secs(3650 * 24 * 60 * 60);

/// The presets by name, in the order and with the names a cache-stats endpoint reports
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
    parse_duration_const(input).map_err(|reason| Error::InvalidDuration {
        input: crate::error::clip(input),
        reason: reason.to_owned(),
    })
}

/// [`parse_duration`] as a `const fn`, so `#[cached(ttl = "2h")]` is checked at compile
/// time; the error is the reason alone.
pub const fn parse_duration_const(input: &str) -> std::result::Result<Duration, &'static str> {
    let mut rest = input.as_bytes().trim_ascii();
    if rest.is_empty() {
        return Err("empty duration");
    }
    let mut total_ms: u64 = 0;
    while !rest.is_empty() {
        let mut number: u64 = 0;
        let mut digits = 0;
        while digits < rest.len() && rest[digits].is_ascii_digit() {
            number = match number.checked_mul(10) {
                Some(n) => match n.checked_add((rest[digits] - b'0') as u64) {
                    Some(n) => n,
                    None => return Err("number is too large"),
                },
                None => return Err("number is too large"),
            };
            digits += 1;
        }
        if digits == 0 {
            return Err("expected a number, like 90s or 2h5m");
        }
        let (_, after) = rest.split_at(digits);
        rest = after;
        let (unit_ms, unit_len): (u64, usize) = match rest {
            [b'm', b's', ..] => (1, 2),
            [b's', ..] => (1_000, 1),
            [b'm', ..] => (60_000, 1),
            [b'h', ..] => (3_600_000, 1),
            [b'd', ..] => (86_400_000, 1),
            [b'w', ..] => (604_800_000, 1),
            [b'.', ..] => return Err("fractions are not supported (write 1h30m, not 1.5h)"),
            [] => return Err("missing unit (ms, s, m, h, d or w)"),
            _ => return Err("unknown unit (use ms, s, m, h, d or w)"),
        };
        let (_, after) = rest.split_at(unit_len);
        rest = after;
        // `m` followed by more letters is not `m` (`min` is not a unit).
        if !rest.is_empty() && rest[0].is_ascii_alphabetic() {
            return Err("unknown unit (use ms, s, m, h, d or w)");
        }
        let part = match number.checked_mul(unit_ms) {
            Some(part) => part,
            None => return Err("duration is too large"),
        };
        total_ms = match total_ms.checked_add(part) {
            Some(total) => total,
            None => return Err("duration is too large"),
        };
    }
    Ok(Duration::from_millis(total_ms))
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

/// Checks a TTL as every write does: at least 1 ms (deadlines are whole milliseconds) and
/// at most [`MAX`].
pub fn check(ttl: Duration) -> crate::error::Result<()> {
    // Deadlines are kept in whole milliseconds: a shorter TTL would expire as it is written.
    if ttl < Duration::from_millis(1) {
        return Err(crate::error::Error::InvalidDuration {
            input: format_duration(ttl),
            reason: "a TTL must be at least 1ms".into(),
        });
    }
    if ttl > MAX {
        return Err(crate::error::Error::InvalidDuration {
            input: format_duration(ttl),
            reason: format!(
                "a TTL may be at most {} ({} days)",
                format_duration(MAX),
                MAX.as_secs() / 86_400
            ),
        });
    }
    Ok(())
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
            ("99999999999w", "too large"),
            ("5min", "unknown unit"),
            ("5sec", "unknown unit"),
        ];
        for (text, reason) in cases {
            let err = parse_duration(text).unwrap_err().to_string();
            assert!(err.contains(reason), "{text:?}: {err}");
        }
    }

    #[test]
    fn const_parse_works_in_const_context() {
        const TWO_HOURS_FIVE: Duration = match parse_duration_const("2h5m") {
            Ok(d) => d,
            Err(_) => panic!("valid"),
        };
        assert_eq!(TWO_HOURS_FIVE, Duration::from_secs(7500));
    }

    #[test]
    fn format_round_trips() {
        for text in ["2h5m", "1m30s", "1s500ms", "1w1d", "0s"] {
            assert_eq!(format_duration(parse_duration(text).unwrap()), text);
        }
    }
}
