//! How L1 names an entry: the full key, hashed and compared as its namespace and key.

use crate::call_digest;
use compact_str::CompactString;

/// A key of L1, `{namespace}:{key}`, hashed and compared as its two parts (split at the
/// first `:`, which no namespace holds). A read looks a key up from the parts it was given
/// ([`Parts`]) without joining them, and a hit proves both parts equal those a write stored.
///
/// A key of up to 24 bytes is kept inside the map's node itself ([`CompactString`]), so a
/// hit on it reads no second allocation to compare the key: one cache miss fewer per read.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct L1Key {
    pub(super) full: CompactString,
    /// Where the namespace ends (the first `:`), found once rather than on every compare.
    /// 32 bits keep the key in 32 bytes; a full key is at most a few KiB (`MAX_KEY_LEN`).
    split: Option<u32>,
}

impl L1Key {
    pub(super) fn new(full: &str) -> L1Key {
        L1Key {
            full: CompactString::new(full),
            split: full.find(':').and_then(|at| u32::try_from(at).ok()),
        }
    }

    pub(super) fn parts(&self) -> Parts<'_> {
        match self.split {
            Some(at) => Parts {
                namespace: self.full.get(..at as usize),
                key: self.full.get(at as usize + 1..).unwrap_or(""),
            },
            None => Parts {
                namespace: None,
                key: &self.full,
            },
        }
    }
}

impl std::hash::Hash for L1Key {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.parts().hash(state);
    }
}

/// A key as its namespace and its key within the namespace: what a read looks L1 up with.
/// A key without `:` (only the store's own callers write one) has no namespace.
///
/// A key that ends in a `#[cached]` call's digest (see `call_digest.rs`) is hashed by its
/// name and digest instead of its text, as [`CallParts`] is, so a call finds its entry
/// without formatting the key; equality is still the text's.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Parts<'a> {
    pub(super) namespace: Option<&'a str>,
    pub(super) key: &'a str,
}

impl std::hash::Hash for Parts<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.namespace.hash(state);
        match call_digest::split(self.key) {
            Some((name, digest)) => hash_call(state, name, digest),
            None => self.key.hash(state),
        }
    }
}

/// The hash of a call's key from its name and digest, for [`Parts`] and [`CallParts`] alike.
fn hash_call<H: std::hash::Hasher>(state: &mut H, name: &str, digest: u128) {
    std::hash::Hash::hash(name, state);
    state.write_u128(digest);
}

/// A `#[cached]` call's key as its namespace, the function's name and the arguments'
/// digest: the key `{name}:v2:{hex digest}` in `namespace`, looked up without its text.
pub(super) struct CallParts<'a> {
    namespace: &'a str,
    name: &'a str,
    digest: u128,
    /// The digest's digits, written once per lookup for the compare.
    hex: [u8; 32],
}

impl<'a> CallParts<'a> {
    pub(super) fn new(namespace: &'a str, name: &'a str, digest: u128) -> CallParts<'a> {
        CallParts {
            namespace,
            name,
            digest,
            hex: call_digest::hex32(digest),
        }
    }
}

impl std::hash::Hash for CallParts<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        Some(self.namespace).hash(state);
        hash_call(state, self.name, self.digest);
    }
}

impl papaya::Equivalent<L1Key> for CallParts<'_> {
    fn equivalent(&self, stored: &L1Key) -> bool {
        let parts = stored.parts();
        parts.namespace == Some(self.namespace)
            && call_digest::is_call_key(parts.key, self.name, &self.hex)
    }
}

impl<'a> Parts<'a> {
    /// The parts of a full key, split as [`L1Key`] splits it.
    pub(super) fn of(full: &'a str) -> Parts<'a> {
        match full.split_once(':') {
            Some((namespace, key)) => Parts {
                namespace: Some(namespace),
                key,
            },
            None => Parts {
                namespace: None,
                key: full,
            },
        }
    }
}

impl papaya::Equivalent<L1Key> for Parts<'_> {
    fn equivalent(&self, stored: &L1Key) -> bool {
        stored.parts() == *self
    }
}
