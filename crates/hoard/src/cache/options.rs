//! [`SetOptions`]: what one write asks for, and the rules its TTL follows.

use std::time::Duration;

/// Options of one write.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct SetOptions {
    pub(super) ttl: Option<Duration>,
    pub(super) compute_time: Option<Duration>,
    pub(super) tags: Vec<String>,
    pub(super) depends_on: Vec<String>,
}

impl SetOptions {
    /// Options with the cache's default TTL.
    pub fn new() -> SetOptions {
        SetOptions::default()
    }

    /// Expire the entry `ttl` after it is written.
    pub fn ttl(mut self, ttl: Duration) -> SetOptions {
        self.ttl = Some(ttl);
        self
    }

    /// Record how long the value took to compute (kept with the entry for early refresh).
    pub fn compute_time(mut self, took: Duration) -> SetOptions {
        self.compute_time = Some(took);
        self
    }

    /// Tags for [`Cache::invalidate_tags`], such as `model:abc-123` or `comparisons`. Tags
    /// follow the key rules (no whitespace, at most 1024 bytes); `dep:` is reserved.
    pub fn tags<I, S>(mut self, tags: I) -> SetOptions
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tags.extend(tags.into_iter().map(Into::into));
        self
    }

    /// Full keys (`namespace:key`) this entry was computed from: deleting or overwriting any
    /// of them removes this entry too. Needs [`CacheBuilder::dependencies`].
    pub fn depends_on<I, S>(mut self, keys: I) -> SetOptions
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.depends_on.extend(keys.into_iter().map(Into::into));
        self
    }
}

pub(super) use crate::ttl::check as check_ttl;
