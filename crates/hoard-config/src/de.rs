//! How the typed fields read their values: sizes, durations, addresses, tokens and
//! numbers, each refused with a message that says what was expected.
//!
//! Every function here is a serde `deserialize_with`; the key and the origin of a refused
//! value are added by [`crate::Config`], which knows where the value came from.

use serde::de::{Deserializer, Error};
use serde::Deserialize;
use std::net::SocketAddr;
use std::time::Duration;

/// The longest any of the server's connection timeouts may be.
pub(crate) const LONGEST_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

/// A size as text (`256MiB`, `16MB`, `1GiB`) or a number of bytes.
pub(crate) fn size<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<hoard_models::size::ByteSize, D::Error> {
    hoard_models::size::deserialize(d)
}

/// A duration in hoard's grammar (`90s`, `2h5m`, `1d`), greater than zero.
pub(crate) fn positive_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    let duration = hoard::ttl::parse_duration(&text).map_err(D::Error::custom)?;
    if duration.is_zero() {
        return Err(D::Error::custom("must be greater than zero"));
    }
    Ok(duration)
}

/// A connection timeout: a positive duration of at most a day.
pub(crate) fn timeout<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let duration = positive_duration(d)?;
    if duration > LONGEST_TIMEOUT {
        return Err(D::Error::custom("use at most 1d"));
    }
    Ok(duration)
}

/// A count that must be at least one (`max_batch`, `max_connections`).
pub(crate) fn count<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    match usize::deserialize(d) {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(D::Error::custom("must be a number greater than zero")),
    }
}

/// `HOST:PORT`, such as `127.0.0.1:7070` or `[::1]:7070`.
pub(crate) fn addr<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(d)?;
    text.parse()
        .map_err(|_| D::Error::custom(format!("{text:?} is not HOST:PORT")))
}

/// One admin token, or none when empty (the server then looks elsewhere).
pub(crate) fn optional_token<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let token = String::deserialize(d)?;
    if !token.is_empty() && token.len() < 16 {
        return Err(D::Error::custom("use at least 16 characters"));
    }
    Ok(token)
}

/// A list of bearer tokens, each checked.
pub(crate) fn tokens<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let tokens = Vec::<String>::deserialize(d)?;
    for token in &tokens {
        check_token(token).map_err(D::Error::custom)?;
    }
    Ok(tokens)
}

/// A token must be sendable as `Authorization: Bearer TOKEN` and hard to guess.
fn check_token(token: &str) -> Result<(), &'static str> {
    if token.len() < 16 {
        return Err("use tokens of at least 16 characters");
    }
    if !token.bytes().all(|b| b.is_ascii_graphic() && b != b',') {
        return Err("a token is printable ASCII without spaces or commas");
    }
    Ok(())
}
