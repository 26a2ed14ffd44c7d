//! Keys: validation of namespaces and keys, and [`KeyBuilder`] for keys made of parts.
//!
//! Every cached entry lives at `{namespace}:{key}`. Namespaces group entries for stats and
//! clearing; keys are free-form within the limits below, so `metrics:abc-123` in the
//! namespace `model` is the full key `model:metrics:abc-123`, which is what a Redis-backed Python backend would have used
//! as a plain Redis key.

use crate::error::{clip, Error, Result};
use serde::Serialize;
use std::fmt::{self, Display, Write as _};

/// Longest key accepted, in bytes.
pub const MAX_KEY_LEN: usize = 1024;
/// Longest namespace accepted, in bytes.
pub const MAX_NAMESPACE_LEN: usize = 128;
/// The character between namespace and key in a full key.
pub const SEPARATOR: char = ':';

/// Checks a namespace: 1 to [`MAX_NAMESPACE_LEN`] bytes of printable, non-whitespace
/// characters, without `:` (so a full key splits back into namespace and key one way only).
pub fn validate_namespace(namespace: &str) -> Result<()> {
    let refuse = |reason| {
        Err(Error::InvalidNamespace {
            namespace: clip(namespace),
            reason,
        })
    };
    if namespace.is_empty() {
        return refuse("namespace is empty");
    }
    if namespace.len() > MAX_NAMESPACE_LEN {
        return refuse("namespace is longer than 128 bytes");
    }
    if namespace.contains(SEPARATOR) {
        return refuse("namespace contains ':', which separates namespace from key");
    }
    match first_unprintable(namespace) {
        Some(reason) => refuse(reason),
        None => Ok(()),
    }
}

/// Checks a key: 1 to [`MAX_KEY_LEN`] bytes of printable, non-whitespace characters.
pub fn validate_key(key: &str) -> Result<()> {
    let refuse = |reason| {
        Err(Error::InvalidKey {
            key: clip(key),
            reason,
        })
    };
    if key.is_empty() {
        return refuse("key is empty");
    }
    if key.len() > MAX_KEY_LEN {
        return refuse("key is longer than 1024 bytes");
    }
    match first_unprintable(key) {
        Some(reason) => refuse(reason),
        None => Ok(()),
    }
}

fn first_unprintable(text: &str) -> Option<&'static str> {
    // Printable ASCII (0x21..=0x7e) is by far the common case: one branch-free pass over
    // the bytes (which the compiler vectorizes) settles it; keys are checked on every get.
    let printable_ascii = text
        .bytes()
        .fold(true, |ok, b| ok & (b.wrapping_sub(0x21) < 0x5e));
    if printable_ascii {
        return None;
    }
    if text.is_ascii() {
        return text.bytes().find_map(|b| {
            if b.is_ascii_control() {
                Some("contains a control character")
            } else if b == b' ' {
                Some("contains whitespace")
            } else {
                None
            }
        });
    }
    text.chars().find_map(|c| {
        if c.is_control() {
            Some("contains a control character")
        } else if c.is_whitespace() {
            Some("contains whitespace")
        } else {
            None
        }
    })
}

/// Checks a namespace and a key (see [`validate_namespace`] and [`validate_key`]).
pub(crate) fn validate(namespace: &str, key: &str) -> Result<()> {
    validate_namespace(namespace)?;
    validate_key(key)
}

/// Builds `{namespace}:{key}`, validating both parts.
pub fn full_key(namespace: &str, key: &str) -> Result<String> {
    validate_namespace(namespace)?;
    validate_key(key)?;
    let mut out = String::with_capacity(namespace.len() + 1 + key.len());
    out.push_str(namespace);
    out.push(SEPARATOR);
    out.push_str(key);
    Ok(out)
}

/// The namespace part of a full key (everything before the first `:`).
pub fn namespace_of(full_key: &str) -> &str {
    full_key
        .split_once(SEPARATOR)
        .map_or(full_key, |(ns, _)| ns)
}

/// A stable, 128-bit hex hash of any serializable value.
///
/// "Stable" means the same value hashes the same in every process, run and platform:
/// the value is first written as canonical JSON (object keys sorted, no whitespace),
/// then hashed with BLAKE3. Use it for parameters too complex or too long for a key
/// (a training dashboard's `model:comparison:{hash}`). A map's iteration order does not matter;
/// a list's does (use [`KeyBuilder::hash_unordered`] for sets).
pub fn stable_hash<T: Serialize + ?Sized>(value: &T) -> Result<String> {
    Ok(hash_canonical(&canonical_json(value)?))
}

/// The [`stable_hash`] of a value whose canonical JSON (object keys sorted by their UTF-8
/// bytes at every depth, no whitespace, serde_json's number and string forms) is `json`.
///
/// For callers that write canonical JSON themselves instead of building a tree first (the
/// Python package streams function arguments this way); `stable_hash(v)` equals
/// `hash_canonical_json(&canonical_json(v))`.
pub fn hash_canonical_json(json: &str) -> String {
    hash_canonical(json)
}

/// The key hash of text that is already canonical JSON.
pub(crate) fn hash_canonical(json: &str) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(HASH_DOMAIN);
    hasher.update(json.as_bytes());
    hex128(&hasher)
}

/// Separates hoard's key hashes from any other BLAKE3 use, and versions them: changing this
/// string changes every hashed key (a pinned test guards it).
const HASH_DOMAIN: &[u8] = b"hoard.key.v1\0";

fn hex128(hasher: &blake3::Hasher) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = hasher.finalize();
    let mut out = String::with_capacity(32);
    for byte in &digest.as_bytes()[..16] {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    out
}

/// Serializes `value` as JSON with object keys sorted at every depth.
///
/// Sorting here (rather than relying on `serde_json::Map` being a `BTreeMap`) keeps hashes
/// stable even if some crate in the build turns on serde_json's `preserve_order` feature.
pub(crate) fn canonical_json<T: Serialize + ?Sized>(value: &T) -> Result<String> {
    // Fast path: without a `{` there is no object, and serde_json's compact output is
    // already canonical (numbers, strings and arrays are written one way only).
    let direct = serde_json::to_string(value).map_err(|e| Error::Encode(Box::new(e)))?;
    if !direct.contains('{') {
        return Ok(direct);
    }
    let value = serde_json::to_value(value).map_err(|e| Error::Encode(Box::new(e)))?;
    let mut out = String::new();
    write_canonical(&value, &mut out);
    Ok(out)
}

fn write_canonical(value: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (name, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(name.clone()).to_string());
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Builds a key from parts joined by `:`, some of them hashed.
///
/// ```
/// use hoard::KeyBuilder;
///
/// // A training dashboard's keys.
/// let metrics = KeyBuilder::new("metrics").part("abc-123").build()?;
/// assert_eq!(metrics, "metrics:abc-123");
///
/// let top = KeyBuilder::new("feature_importance").part("abc-123").part(format_args!("top_{}", 10)).build()?;
/// assert_eq!(top, "feature_importance:abc-123:top_10");
///
/// // The comparison key does not depend on the order of the ids.
/// let a = KeyBuilder::new("comparison").hash_unordered(["abc-123", "def-456"]).build()?;
/// let b = KeyBuilder::new("comparison").hash_unordered(["def-456", "abc-123"]).build()?;
/// assert_eq!(a, b);
/// # Ok::<(), hoard::Error>(())
/// ```
#[derive(Debug)]
#[must_use]
pub struct KeyBuilder {
    key: String,
    error: Option<Error>,
}

impl KeyBuilder {
    /// Starts a key with its first part.
    pub fn new(first: impl Display) -> Self {
        KeyBuilder {
            key: first.to_string(),
            error: None,
        }
    }

    /// Appends `:{part}`.
    pub fn part(mut self, part: impl Display) -> Self {
        let _ = write!(self.key, "{SEPARATOR}{part}");
        self
    }

    /// Appends `:{stable_hash(value)}`: a 32-character hex hash of the value's canonical JSON.
    pub fn hash<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        match stable_hash(value) {
            Ok(hash) => self.part(hash),
            Err(error) => {
                self.error.get_or_insert(error);
                self
            }
        }
    }

    /// Appends a hash of the items that ignores their order (`hash(sorted(items))`).
    ///
    /// Duplicates count: `[a, a, b]` and `[a, b]` hash differently.
    pub fn hash_unordered<I, T>(mut self, items: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Serialize,
    {
        let encoded: Result<Vec<String>> = items.into_iter().map(|i| canonical_json(&i)).collect();
        match encoded {
            Ok(mut encoded) => {
                encoded.sort_unstable();
                let mut hasher = blake3::Hasher::new();
                hasher.update(HASH_DOMAIN);
                hasher.update(b"unordered\0");
                for item in &encoded {
                    // Length-prefix each item so ["ab","c"] and ["a","bc"] differ.
                    hasher.update(&(item.len() as u64).to_le_bytes());
                    hasher.update(item.as_bytes());
                }
                let hash = hex128(&hasher);
                self.part(hash)
            }
            Err(error) => {
                self.error.get_or_insert(error);
                self
            }
        }
    }

    /// Finishes the key, validating it like any other key.
    pub fn build(self) -> Result<String> {
        if let Some(error) = self.error {
            return Err(error);
        }
        validate_key(&self.key)?;
        Ok(self.key)
    }
}

impl Display for KeyBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_rules() {
        assert!(validate_namespace("model").is_ok());
        assert!(validate_namespace("emotion-v2.1_results").is_ok());
        for bad in [
            "",
            "a:b",
            "has space",
            "tab\there",
            "nl\n",
            &"n".repeat(129),
        ] {
            assert!(
                validate_namespace(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
        assert!(validate_namespace(&"n".repeat(128)).is_ok());
    }

    #[test]
    fn key_rules() {
        assert!(validate_key("metrics:abc-123").is_ok());
        assert!(validate_key("données/über").is_ok());
        assert!(validate_key(&"k".repeat(1024)).is_ok());
        let long = "k".repeat(1025);
        for bad in ["", "a b", "bell\u{7}", "nbsp\u{a0}x", "del\u{7f}", &long] {
            assert!(validate_key(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn error_message_names_the_problem() {
        let err = validate_key("a b").unwrap_err().to_string();
        assert_eq!(err, "invalid key \"a b\": contains whitespace");
        let err = validate_key(&"x".repeat(2000)).unwrap_err().to_string();
        assert!(err.contains("longer than 1024 bytes"), "{err}");
        assert!(err.len() < 200, "long input is clipped in messages: {err}");
    }

    #[test]
    fn namespace_of_splits_at_first_separator() {
        assert_eq!(namespace_of("model:metrics:abc"), "model");
        assert_eq!(namespace_of("plain"), "plain");
    }

    #[test]
    fn fast_and_sorted_paths_agree_where_both_apply() {
        let samples = [
            serde_json::json!([1, "two", 3.5, null, true, [u64::MAX, -7]]),
            serde_json::json!("brace { inside a string"),
            serde_json::json!([[], "é\u{1}\"", 1e300]),
        ];
        for value in samples {
            let mut slow = String::new();
            write_canonical(&value, &mut slow);
            assert_eq!(canonical_json(&value).unwrap(), slow, "{value}");
        }
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let mut inner = std::collections::HashMap::new();
        inner.insert("z", 1);
        inner.insert("a", 2);
        let value = serde_json::json!({"b": [1, {"y": true, "x": null}], "a": inner});
        assert_eq!(
            canonical_json(&value).unwrap(),
            r#"{"a":{"a":2,"z":1},"b":[1,{"x":null,"y":true}]}"#
        );
    }

    #[test]
    fn hash_canonical_json_is_stable_hash_of_the_value() {
        let value = serde_json::json!({"b": [1, 2.5], "a": "é"});
        let text = canonical_json(&value).unwrap();
        assert_eq!(hash_canonical_json(&text), stable_hash(&value).unwrap());
    }
}
