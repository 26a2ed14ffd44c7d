//! The in-memory tier: a byte-weighted moka cache with per-entry expiry.

use super::TagRow;
use super::{Store, Usage};
use crate::entry::{now_ms, Entry};
use crate::error::Result;
use crate::glob::Glob;
use async_trait::async_trait;
use moka::notification::RemovalCause;
use moka::Expiry;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bytes charged per entry on top of key and value: moka's node, the `Entry` struct and
/// the key's `String`. An estimate; it keeps many tiny entries from looking free.
const ENTRY_OVERHEAD: u64 = 96;

/// Expires each entry at its own deadline, or after `max_age` if that comes first.
struct EntryExpiry {
    max_age: Option<Duration>,
}

impl EntryExpiry {
    fn life(&self, entry: &Entry) -> Duration {
        let left = Duration::from_millis(entry.expires_at_ms.saturating_sub(now_ms()));
        self.max_age.map_or(left, |max| left.min(max))
    }
}

impl Expiry<String, Entry> for EntryExpiry {
    fn expire_after_create(&self, _key: &String, entry: &Entry, _now: Instant) -> Option<Duration> {
        Some(self.life(entry))
    }

    fn expire_after_update(
        &self,
        _key: &String,
        entry: &Entry,
        _now: Instant,
        _current: Option<Duration>,
    ) -> Option<Duration> {
        Some(self.life(entry))
    }
}

#[derive(Default)]
struct Removals {
    evictions: AtomicU64,
    expirations: AtomicU64,
}

/// L1: entries in process memory, bounded by a byte budget.
///
/// Reads are lock-free and never await. Capacity counts key and value bytes plus a fixed
/// per-entry overhead; when full, moka's TinyLFU policy chooses what to evict.
pub struct MemoryStore {
    cache: moka::sync::Cache<String, Entry>,
    removals: Arc<Removals>,
    /// tag -> key -> deadline; used when the memory tier is the only tier.
    tags: std::sync::Mutex<HashMap<String, HashMap<String, u64>>>,
    /// Namespace generations, when the memory tier is the only tier.
    generations: std::sync::Mutex<HashMap<String, u32>>,
    /// Tag rows held (counted as added, recounted at each sweep) and after the last sweep,
    /// to pace the sweep of expired ones.
    tag_rows: AtomicU64,
    tag_rows_after_sweep: AtomicU64,
}

impl MemoryStore {
    /// A store holding at most `capacity_bytes` of keys and values.
    pub fn new(capacity_bytes: u64) -> MemoryStore {
        MemoryStore::with_max_age(capacity_bytes, None)
    }

    /// Like [`MemoryStore::new`], keeping no entry longer than `max_age` even if its TTL
    /// is longer (an L1 in front of a shared L2 re-reads it then).
    pub fn with_max_age(capacity_bytes: u64, max_age: Option<Duration>) -> MemoryStore {
        let removals = Arc::new(Removals::default());
        let listener_removals = removals.clone();
        let cache = moka::sync::Cache::builder()
            .max_capacity(capacity_bytes)
            .weigher(|key: &String, entry: &Entry| {
                let weight = key.len() as u64 + entry.value.len() as u64 + ENTRY_OVERHEAD;
                u32::try_from(weight).unwrap_or(u32::MAX)
            })
            .expire_after(EntryExpiry { max_age })
            .eviction_listener(move |_key, _entry, cause| match cause {
                RemovalCause::Size => {
                    listener_removals.evictions.fetch_add(1, Relaxed);
                }
                RemovalCause::Expired => {
                    listener_removals.expirations.fetch_add(1, Relaxed);
                }
                RemovalCause::Explicit | RemovalCause::Replaced => {}
            })
            .build();
        MemoryStore {
            cache,
            removals,
            tags: std::sync::Mutex::new(HashMap::new()),
            generations: std::sync::Mutex::new(HashMap::new()),
            tag_rows: AtomicU64::new(0),
            tag_rows_after_sweep: AtomicU64::new(0),
        }
    }

    /// The live entry at `key`. Synchronous: this is the cache's hot path.
    pub fn get_now(&self, key: &str) -> Option<Entry> {
        let entry = self.cache.get(key)?;
        // moka expires on its own clock; this check makes the invariant ours. Do not
        // remove the entry here: a writer may have replaced it since our read, and moka
        // drops the expired one on its own.
        (!entry.is_expired_at(now_ms())).then_some(entry)
    }

    /// Stores an entry (already-expired entries are not stored).
    pub fn set_now(&self, key: &str, entry: Entry) {
        if entry.is_expired_at(now_ms()) {
            self.cache.invalidate(key);
            return;
        }
        self.cache.insert(key.to_owned(), entry);
    }

    /// Moves a live entry's expiry; false if there is none.
    pub fn touch_now(&self, key: &str, expires_at_ms: u64) -> bool {
        match self.get_now(key) {
            Some(mut entry) => {
                entry.expires_at_ms = expires_at_ms;
                self.set_now(key, entry);
                true
            }
            None => false,
        }
    }

    /// Removes `key`; true if a live entry was there.
    pub fn delete_now(&self, key: &str) -> bool {
        self.cache
            .remove(key)
            .is_some_and(|e| !e.is_expired_at(now_ms()))
    }

    /// Removes every key `selected` picks; returns how many live entries went.
    fn remove_where(&self, selected: impl Fn(&str) -> bool) -> u64 {
        let now = now_ms();
        let mut removed = 0;
        for (key, entry) in &self.cache {
            if selected(&key) {
                self.cache.invalidate(key.as_str());
                removed += u64::from(!entry.is_expired_at(now));
            }
        }
        removed
    }

    /// Removes every key matching `glob`.
    pub fn delete_matching_now(&self, glob: &Glob) -> u64 {
        self.remove_where(|key| glob.matches(key))
    }

    /// Removes every key starting with `prefix`.
    pub fn delete_prefix_now(&self, prefix: &str) -> u64 {
        self.remove_where(|key| key.starts_with(prefix))
    }

    /// Removes everything (tags included).
    pub fn clear_now(&self) -> u64 {
        self.tags.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.remove_where(|_| true)
    }

    /// Entries, weighted bytes, evictions and expirations, after moka's pending upkeep.
    pub fn usage_now(&self) -> Usage {
        self.cache.run_pending_tasks();
        Usage {
            entries: self.cache.entry_count(),
            bytes: self.cache.weighted_size(),
            evictions: self.removals.evictions.load(Relaxed),
            expirations: self.removals.expirations.load(Relaxed),
        }
    }
}

#[async_trait]
impl Store for MemoryStore {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn get(&self, key: &str) -> Result<Option<Entry>> {
        Ok(self.get_now(key))
    }

    async fn set(&self, key: &str, entry: Entry) -> Result<()> {
        self.set_now(key, entry);
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        Ok(self.delete_now(key))
    }

    async fn touch(&self, key: &str, expires_at_ms: u64) -> Result<bool> {
        Ok(self.touch_now(key, expires_at_ms))
    }

    async fn delete_matching(&self, glob: &Glob) -> Result<u64> {
        Ok(self.delete_matching_now(glob))
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64> {
        Ok(self.delete_prefix_now(prefix))
    }

    async fn clear(&self) -> Result<u64> {
        Ok(self.clear_now())
    }

    async fn usage(&self) -> Result<Usage> {
        Ok(self.usage_now())
    }

    fn supports_tags(&self) -> bool {
        true
    }

    async fn add_tags(&self, rows: &[TagRow]) -> Result<()> {
        let now = now_ms();
        let mut tags = self.tags.lock().unwrap_or_else(|p| p.into_inner());
        for row in rows {
            for tag in &row.tags {
                tags.entry(tag.clone())
                    .or_default()
                    .insert(row.key.clone(), row.expires_at_ms);
            }
        }
        // Amortized: when the index has doubled since the last sweep (and holds 256 rows or
        // more), drop expired members of every tag and tags left empty, so neither one big tag
        // nor many small ones grow past twice what is live.
        let added: u64 = rows.iter().map(|r| r.tags.len() as u64).sum();
        let total = self.tag_rows.fetch_add(added, Relaxed) + added;
        if total >= 256 && total >= 2 * self.tag_rows_after_sweep.load(Relaxed) {
            tags.retain(|_, members| {
                members.retain(|_, until| *until > now);
                !members.is_empty()
            });
            let left = tags.values().map(|m| m.len() as u64).sum();
            self.tag_rows.store(left, Relaxed);
            self.tag_rows_after_sweep.store(left.max(128), Relaxed);
        }
        Ok(())
    }

    async fn tagged(&self, tag: &str) -> Result<Vec<String>> {
        let now = now_ms();
        let tags = self.tags.lock().unwrap_or_else(|p| p.into_inner());
        Ok(tags
            .get(tag)
            .map(|members| {
                members
                    .iter()
                    .filter(|(_, until)| **until > now)
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn untag(&self, tag: &str, keys: &[String]) -> Result<()> {
        let mut tags = self.tags.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(members) = tags.get_mut(tag) {
            for key in keys {
                members.remove(key);
            }
            let now = now_ms();
            members.retain(|_, until| *until > now);
            if members.is_empty() {
                tags.remove(tag);
            }
        }
        Ok(())
    }

    async fn tag_index_len(&self) -> Result<u64> {
        let tags = self.tags.lock().unwrap_or_else(|p| p.into_inner());
        Ok(tags.values().map(|m| m.len() as u64).sum())
    }

    async fn generation(&self, namespace: &str) -> Result<u32> {
        let generations = self.generations.lock().unwrap_or_else(|p| p.into_inner());
        Ok(generations.get(namespace).copied().unwrap_or(0))
    }

    async fn bump_generation(&self, namespace: &str) -> Result<u32> {
        let mut generations = self.generations.lock().unwrap_or_else(|p| p.into_inner());
        let generation = generations.entry(namespace.to_owned()).or_insert(0);
        *generation = generation.wrapping_add(1);
        Ok(*generation)
    }
}
