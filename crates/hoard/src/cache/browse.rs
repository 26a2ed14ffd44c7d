//! Listing a namespace's keys a page at a time, for people looking at the cache: the
//! dashboard's key browser and `GET /v1/cache/{namespace}`.

use super::Cache;
use crate::entry::Entry;
use crate::error::{Error, Result};
use crate::glob::{self, Glob};
use crate::key::{validate_namespace, SEPARATOR};
use crate::store::Store;
use std::time::Duration;

/// The most keys one page lists; larger limits are taken as this.
pub const MAX_SCAN_LIMIT: usize = 1000;

/// One key of a [`KeyPage`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// The key, without its namespace.
    pub key: String,
    /// The stored value's size in bytes (MessagePack, before any compression).
    pub bytes: u64,
    /// Time left before it expires.
    pub ttl: Duration,
    /// How long producing its value took, in milliseconds (0 when unknown).
    pub compute_ms: u32,
    /// The tags it was written with ([`crate::SetOptions::tags`]).
    pub tags: Vec<String>,
    /// The full keys (`namespace:key`) it depends on ([`crate::SetOptions::depends_on`]).
    pub depends_on: Vec<String>,
}

/// One page of [`Cache::scan_keys`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPage {
    /// The live keys of this page.
    pub keys: Vec<KeyInfo>,
    /// Pass it back for the next page; `None` once every key has been seen.
    pub cursor: Option<String>,
}

impl Cache {
    /// Lists the live keys of `namespace` matching `pattern` (a glob over the key, Redis
    /// `SCAN MATCH` syntax: `*` for all, `clip-*`), one page at a time: pass `""` as the
    /// first `cursor`, then each page's [`KeyPage::cursor`] until it is `None`. A page holds
    /// up to `limit` keys (at most [`MAX_SCAN_LIMIT`]), on Redis a few more when SCAN gives
    /// them (its COUNT is a hint), and may hold fewer, even none, while more follow. It reads the authoritative tier (L2 when there is one, by SCAN on
    /// Redis, never KEYS) and counts no hits or misses. Keys written while a scan runs may
    /// or may not be listed; a key listed once is not listed again unless the set of Redis
    /// masters changed between pages.
    pub async fn scan_keys(
        &self,
        namespace: &str,
        pattern: &str,
        cursor: &str,
        limit: usize,
    ) -> Result<KeyPage> {
        validate_namespace(namespace)?;
        if pattern.is_empty() {
            // It would match only the empty key, which no entry has: surely a mistake.
            return Err(Error::InvalidPattern {
                pattern: String::new(),
                reason: "pattern is empty; `*` lists every key",
            });
        }
        let glob = Glob::new(&format!("{}{SEPARATOR}{pattern}", glob::escape(namespace)))?;
        let limit = limit.clamp(1, MAX_SCAN_LIMIT);
        let inner = &*self.inner;
        let store: &dyn Store = match &inner.l2 {
            Some(l2) => &**l2,
            None => &inner.l1,
        };
        let page = store.scan(&glob, cursor, limit).await?;
        let generation = self.generation_of(namespace).await?;
        let entries = read_skipping_corrupt(store, &page.keys).await?;
        let now = inner.clock.now_ms();
        let prefix_len = namespace.len() + SEPARATOR.len_utf8();
        let keys = page
            .keys
            .iter()
            .zip(entries)
            .filter_map(|(full, entry)| {
                let entry = entry.filter(|e| e.generation >= generation)?;
                let (tags, depends_on) = super::tags::split_dependencies(entry.tags());
                Some(KeyInfo {
                    key: full.get(prefix_len..)?.to_owned(),
                    bytes: entry.value.len() as u64,
                    ttl: entry.remaining_at(now)?,
                    compute_ms: entry.compute_ms,
                    tags,
                    depends_on,
                })
            })
            .collect();
        Ok(KeyPage {
            keys,
            cursor: page.cursor,
        })
    }
}

/// The entries at `keys`; one that cannot be read (corrupt) is left out rather than
/// failing the page, as a read of it would answer absent.
pub(super) async fn read_skipping_corrupt(
    store: &dyn Store,
    keys: &[String],
) -> Result<Vec<Option<Entry>>> {
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    match store.get_many(&refs).await {
        Err(Error::Corrupt(_)) => {
            let mut entries = Vec::with_capacity(keys.len());
            for key in &refs {
                entries.push(match store.get(key).await {
                    Err(Error::Corrupt(_)) => None,
                    read => read?,
                });
            }
            Ok(entries)
        }
        read => read,
    }
}
