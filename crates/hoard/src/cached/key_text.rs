//! [`KeyText`]: a `#[cached]` call's key, on the stack when it fits.
//!
//! Every call of a cached function builds its key, hit or miss; a `String` would be an
//! allocation and a free per call. The key is built in place instead, and lives on the
//! heap only when the function's name is unusually long.

use crate::call_digest::{hex32, MARKER};
use arrayvec::ArrayString;
use std::fmt::{self, Write as _};

/// Bytes a key holds without allocating: a cache name of up to 92 bytes with its hash.
const INLINE: usize = 128;

/// A key of a `#[cached]` call, as text (it dereferences to `&str`).
///
/// The expansion declares an empty one and has it filled in place ([`super::key::call_key`],
/// [`super::key::custom_key`]): returned by value, its buffer would be copied on the way out.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct KeyText(Repr);

#[derive(Clone, PartialEq, Eq)]
enum Repr {
    Inline(ArrayString<INLINE>),
    Heap(String),
}

impl Default for Repr {
    fn default() -> Repr {
        Repr::Inline(ArrayString::new())
    }
}

impl KeyText {
    /// Makes this `{name}:v2:{32 hex digits of digest}`.
    pub(crate) fn set_hashed(&mut self, name: &str, digest: u128) {
        let hex = hex32(digest);
        // Hex digits are ASCII: this cannot fail.
        let hex = std::str::from_utf8(&hex).unwrap_or_default();
        self.set(&[name, MARKER, hex]);
    }

    /// Makes this `{name}:{key}`: a key given with `key = ...`.
    pub(crate) fn set_custom<K: fmt::Display + ?Sized>(&mut self, name: &str, key: &K) {
        if let Repr::Inline(inline) = &mut self.0 {
            inline.clear();
            // An ArrayString refuses (fmt::Error) what does not fit: then the heap.
            if write!(inline, "{name}:{key}").is_ok() {
                return;
            }
        }
        self.0 = Repr::Heap(format!("{name}:{key}"));
    }

    /// Makes this the parts joined, on the heap only if they do not fit inline.
    fn set(&mut self, parts: &[&str]) {
        if let Repr::Inline(inline) = &mut self.0 {
            inline.clear();
            if parts.iter().all(|part| inline.try_push_str(part).is_ok()) {
                return;
            }
        }
        self.0 = Repr::Heap(parts.concat());
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline(key) => key,
            Repr::Heap(key) => key,
        }
    }
}

impl std::ops::Deref for KeyText {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for KeyText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self)
    }
}

impl fmt::Debug for KeyText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hashed(name: &str, digest: u128) -> KeyText {
        let mut key = KeyText::default();
        key.set_hashed(name, digest);
        key
    }

    #[test]
    fn hashed_keys_are_name_version_and_big_endian_hex() {
        let key = hashed("f", 0x0123_4567_89ab_cdef_0011_2233_4455_6677);
        assert_eq!(&*key, "f:v2:0123456789abcdef0011223344556677");
        assert!(matches!(key.0, Repr::Inline(_)));
    }

    #[test]
    fn long_names_go_to_the_heap_with_the_same_text() {
        let name = "n".repeat(INLINE);
        let key = hashed(&name, 1);
        assert_eq!(&*key, format!("{name}:v2:{:032x}", 1));
        assert!(matches!(key.0, Repr::Heap(_)));
        let fits = "n".repeat(INLINE - 36);
        assert!(matches!(hashed(&fits, 1).0, Repr::Inline(_)));
        assert_eq!(hashed(&fits, 1).len(), INLINE);
        // Refilled with a short key, a key that went to the heap stays right.
        let mut key = hashed(&name, 1);
        key.set_hashed("f", 2);
        assert_eq!(&*key, format!("f:v2:{:032x}", 2));
    }

    #[test]
    fn custom_keys_of_any_length_keep_their_text() {
        let mut key = KeyText::default();
        key.set_custom("report", "model:abc");
        assert_eq!(&*key, "report:model:abc");
        let long = "k".repeat(3 * INLINE);
        key.set_custom("report", &long);
        assert_eq!(&*key, format!("report:{long}"));
        assert!(matches!(key.0, Repr::Heap(_)));
    }
}
