//! Counting what each namespace holds: a walk over the authoritative tier, for the
//! dashboard's namespace table and the per-namespace gauges of `/metrics`.
//!
//! No tier keeps these figures on its own: Redis has no per-prefix count short of a scan,
//! and a counter kept beside the writes would drift with every expiry Redis does itself,
//! every namespace clear (old generations stay until their TTL) and every other process's
//! writes. A walk counts what a reader would find, so it is right by construction, at the
//! cost of reading every entry; callers run it now and then, not per request.

use super::browse::read_skipping_corrupt;
use super::Cache;
use crate::error::Result;
use crate::glob::Glob;
use crate::key::{validate_namespace, SEPARATOR};
use crate::store::Store;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// Keys read per page of the walk.
const PAGE: usize = 1000;

/// What one namespace holds, as [`Cache::census`] counted it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NamespaceCensus {
    /// Live entries: unexpired, and written since the namespace was last cleared.
    pub keys: u64,
    /// Their values' bytes (MessagePack as stored, before any compression; keys and the
    /// tiers' own overheads not counted), as [`crate::KeyInfo::bytes`] reports them.
    pub bytes: u64,
}

/// One walk over the authoritative tier: what each namespace holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Census {
    /// Per namespace, in name order; a namespace with no live entry is absent.
    pub namespaces: BTreeMap<String, NamespaceCensus>,
    /// Keys the walk looked at, dead ones and the tier's own bookkeeping included.
    pub scanned: u64,
    /// How long the walk took.
    pub took: Duration,
}

impl Census {
    /// Every namespace's figures added up.
    pub fn totals(&self) -> NamespaceCensus {
        self.namespaces
            .values()
            .fold(NamespaceCensus::default(), |sum, ns| NamespaceCensus {
                keys: sum.keys + ns.keys,
                bytes: sum.bytes + ns.bytes,
            })
    }
}

impl Cache {
    /// Counts the live entries of every namespace and their bytes, by a walk over the
    /// authoritative tier (L2 when there is one, SCAN on Redis, never KEYS) that reads
    /// each entry: expired entries, entries a namespace clear made unreadable and
    /// unreadable bytes are not counted, as a read would not find them. Entries written or
    /// removed while the walk runs may or may not be counted. It counts no hits or misses
    /// and takes time in proportion to what the tier holds: run it now and then (`hoard
    /// serve` does, in the background), not per request.
    pub async fn census(&self) -> Result<Census> {
        let started = Instant::now();
        let inner = &*self.inner;
        let store: &dyn Store = match &inner.l2 {
            Some(l2) => &**l2,
            None => &inner.l1,
        };
        let everything = Glob::new("*")?;
        let mut census = Census::default();
        let mut generations: HashMap<String, u32> = HashMap::new();
        let mut cursor = String::new();
        loop {
            let page = store.scan(&everything, &cursor, PAGE).await?;
            census.scanned += page.keys.len() as u64;
            // Entries only: a tier's bookkeeping (Redis's tag sets and generation counters
            // under `{prefix}:...`) has no namespace before its first separator.
            let keys: Vec<String> = page
                .keys
                .into_iter()
                .filter(|full| namespace_of(full).is_some())
                .collect();
            let entries = read_skipping_corrupt(store, &keys).await?;
            let now = inner.clock.now_ms();
            for (full, entry) in keys.iter().zip(entries) {
                let (Some(namespace), Some(entry)) = (namespace_of(full), entry) else {
                    continue;
                };
                if entry.is_expired_at(now) {
                    continue;
                }
                let generation = match generations.get(namespace) {
                    Some(generation) => *generation,
                    None => {
                        let generation = self.generation_of(namespace).await?;
                        generations.insert(namespace.to_owned(), generation);
                        generation
                    }
                };
                if entry.generation < generation {
                    continue;
                }
                let counted = census.namespaces.entry(namespace.to_owned()).or_default();
                counted.keys += 1;
                counted.bytes += entry.value.len() as u64;
            }
            match page.cursor {
                Some(next) => cursor = next,
                None => break,
            }
            // A long walk shares its thread with the requests being answered.
            tokio::task::yield_now().await;
        }
        census.took = started.elapsed();
        Ok(census)
    }
}

/// The namespace of a full key, if it has a valid one.
fn namespace_of(full: &str) -> Option<&str> {
    let (namespace, _) = full.split_once(SEPARATOR)?;
    validate_namespace(namespace).ok()?;
    Some(namespace)
}
