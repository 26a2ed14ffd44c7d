//! How L1 names an entry: the full key, hashed and compared as its namespace and key.

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
#[derive(Clone, Copy, Hash, PartialEq, Eq)]
pub(super) struct Parts<'a> {
    pub(super) namespace: Option<&'a str>,
    pub(super) key: &'a str,
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
