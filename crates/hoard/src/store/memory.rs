//! The in-memory tier: a byte-weighted quick_cache (S3-FIFO) whose entries carry their
//! own deadline.

use super::TagRow;
use super::{Generations, Store, TagIndex, Usage};
use crate::clock::Clock;
use crate::entry::Entry;
use crate::error::Result;
use crate::glob::Glob;
use async_trait::async_trait;
use compact_str::CompactString;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Bytes charged per entry on top of key and value: the cache's slot, the `Entry` struct
/// and the key's `String`. An estimate; it keeps many tiny entries from looking free.
const ENTRY_OVERHEAD: u64 = 96;

/// How often the background sweep looks for expired entries to give their memory back.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// No shard smaller than this (when the budget allows): an entry larger than its shard's
/// share of the budget is never admitted.
const MIN_SHARD_BYTES: u64 = 16 * 1024 * 1024;

/// A key of L1, `{namespace}:{key}`, hashed and compared as its two parts (split at the
/// first `:`, which no namespace holds). A read looks a key up from the parts it was given
/// ([`Parts`]) without joining them, and a hit proves both parts equal those a write stored.
///
/// A key of up to 24 bytes is kept inside the slot itself ([`CompactString`]), so a hit on
/// it reads no second allocation to compare the key: one cache miss fewer per read.
#[derive(Clone, PartialEq, Eq)]
struct L1Key {
    full: CompactString,
    /// Where the namespace ends (the first `:`), found once rather than on every compare.
    /// 32 bits keep the key in 32 bytes; a full key is at most a few KiB (`MAX_KEY_LEN`).
    split: Option<u32>,
}

impl L1Key {
    fn new(full: &str) -> L1Key {
        L1Key {
            full: CompactString::new(full),
            split: full.find(':').and_then(|at| u32::try_from(at).ok()),
        }
    }

    fn parts(&self) -> Parts<'_> {
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
#[derive(Hash, PartialEq, Eq)]
struct Parts<'a> {
    namespace: Option<&'a str>,
    key: &'a str,
}

impl<'a> Parts<'a> {
    /// The parts of a full key, split as [`L1Key`] splits it.
    fn of(full: &'a str) -> Parts<'a> {
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

impl quick_cache::Equivalent<L1Key> for Parts<'_> {
    fn equivalent(&self, stored: &L1Key) -> bool {
        stored.parts() == *self
    }
}

/// An entry as L1 holds it: with the instant L1 stops serving it.
#[derive(Clone)]
struct Slot {
    entry: Entry,
    /// The entry's own deadline, or the end of L1's maximum age if that comes first.
    until_ms: u64,
}

/// Weighs a slot by its key and value bytes plus [`ENTRY_OVERHEAD`].
#[derive(Clone)]
struct ByBytes;

impl quick_cache::Weighter<L1Key, Slot> for ByBytes {
    fn weight(&self, key: &L1Key, slot: &Slot) -> u64 {
        key.full.len() as u64 + slot.entry.value.len() as u64 + ENTRY_OVERHEAD
    }
}

/// Collects what an insert pushed out, so it is counted (and dropped) after the shard's
/// lock is released.
#[derive(Clone)]
struct Collect;

impl quick_cache::Lifecycle<L1Key, Slot> for Collect {
    type RequestState = Vec<(L1Key, Slot)>;

    fn begin_request(&self) -> Self::RequestState {
        Vec::new()
    }

    fn on_evict(&self, pushed_out: &mut Self::RequestState, key: L1Key, slot: Slot) {
        pushed_out.push((key, slot));
    }
}

type Entries = quick_cache::sync::Cache<L1Key, Slot, ByBytes, foldhash::fast::RandomState, Collect>;

#[derive(Default)]
struct Removals {
    evictions: AtomicU64,
    expirations: AtomicU64,
    /// No entry expires before this instant (ms): the sweep has nothing to do until then.
    next_deadline_ms: AtomicU64,
}

/// The entries and their counters, shared with the sweeper thread.
struct Shared {
    entries: Entries,
    removals: Removals,
    max_age: Option<Duration>,
    capacity_bytes: u64,
    clock: Clock,
}

impl Shared {
    /// Drops every expired entry, counting them; returns how many went.
    fn sweep(&self, now: u64) -> u64 {
        let expired = AtomicU64::new(0);
        let next = AtomicU64::new(u64::MAX);
        self.entries.retain(|_, slot| {
            if slot.until_ms <= now {
                expired.fetch_add(1, Relaxed);
                false
            } else {
                next.fetch_min(slot.until_ms, Relaxed);
                true
            }
        });
        // A set that raced with the pass lowered the deadline meanwhile: keep the lower one.
        self.removals
            .next_deadline_ms
            .fetch_min(next.load(Relaxed), Relaxed);
        let expired = expired.into_inner();
        self.removals.expirations.fetch_add(expired, Relaxed);
        expired
    }

    /// Sweeps if some entry may have expired by `now`.
    fn sweep_if_due(&self, now: u64) {
        let next = &self.removals.next_deadline_ms;
        if next.load(Relaxed) <= now {
            // Raised first: a deadline stored during the pass lowers it again.
            next.store(u64::MAX, Relaxed);
            self.sweep(now);
        }
    }
}

/// L1: entries in process memory, bounded by a byte budget.
///
/// A read takes one shard's read lock, allocates nothing and never awaits; it checks the
/// entry's deadline itself. Capacity counts key and value bytes plus a fixed per-entry
/// overhead; when full, S3-FIFO chooses what to evict (entries read since they came in
/// survive a pass, one-off entries leave first). Expired entries give their memory back
/// within a second: a background thread sweeps them out when one is due.
pub struct MemoryStore {
    shared: Arc<Shared>,
    /// Dropped with the store, which stops the sweeper.
    _stop_sweeper: mpsc::Sender<()>,
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
        MemoryStore::with_clock(capacity_bytes, max_age, Clock::system())
    }

    /// Like [`MemoryStore::with_max_age`], reading the time from `clock`.
    pub fn with_clock(capacity_bytes: u64, max_age: Option<Duration>, clock: Clock) -> MemoryStore {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let shards = (capacity_bytes / MIN_SHARD_BYTES).clamp(1, 4 * cores as u64);
        let options = quick_cache::OptionsBuilder::new()
            .shards(shards as usize)
            .estimated_items_capacity(
                usize::try_from(capacity_bytes / 1024)
                    .unwrap_or(usize::MAX)
                    .max(16),
            )
            .weight_capacity(capacity_bytes)
            .build();
        let entries = match options {
            Ok(options) => Entries::with_options(
                options,
                ByBytes,
                foldhash::fast::RandomState::default(),
                Collect,
            ),
            // Only reachable with options this function never builds.
            Err(error) => unreachable!("L1 options: {error}"),
        };
        let shared = Arc::new(Shared {
            entries,
            removals: Removals {
                next_deadline_ms: AtomicU64::new(u64::MAX),
                ..Removals::default()
            },
            max_age,
            capacity_bytes,
            clock,
        });
        let (stop, stopped) = mpsc::channel();
        spawn_sweeper(Arc::downgrade(&shared), stopped);
        MemoryStore {
            shared,
            _stop_sweeper: stop,
            tags: std::sync::Mutex::new(HashMap::new()),
            generations: std::sync::Mutex::new(HashMap::new()),
            tag_rows: AtomicU64::new(0),
            tag_rows_after_sweep: AtomicU64::new(0),
        }
    }

    /// The live entry at `key`. Synchronous: this is the cache's hot path.
    pub fn get_now(&self, key: &str) -> Option<Entry> {
        self.get_in(Parts::of(key))
    }

    /// The live entry at `namespace:key`, looked up without joining the two: the read
    /// path's L1 lookup. A hit means a write stored exactly these two parts.
    pub fn get_parts(&self, namespace: &str, key: &str) -> Option<Entry> {
        self.get_in(Parts {
            namespace: Some(namespace),
            key,
        })
    }

    fn get_in(&self, parts: Parts<'_>) -> Option<Entry> {
        let slot = self.shared.entries.get(&parts)?;
        // Do not remove an expired entry here: a writer may have replaced it since our
        // read. The sweep drops it.
        (slot.until_ms > self.shared.clock.now_ms()).then_some(slot.entry)
    }

    /// Stores an entry (already-expired entries are not stored).
    pub fn set_now(&self, key: &str, entry: Entry) {
        let shared = &*self.shared;
        let now = shared.clock.now_ms();
        if entry.is_expired_at(now) || shared.capacity_bytes == 0 {
            shared.entries.remove(&Parts::of(key));
            return;
        }
        let until_ms = match shared.max_age {
            Some(max) => entry
                .expires_at_ms
                .min(now.saturating_add(u64::try_from(max.as_millis()).unwrap_or(u64::MAX))),
            None => entry.expires_at_ms,
        };
        let stored = (entry.value.as_ptr(), entry.value.len());
        shared
            .removals
            .next_deadline_ms
            .fetch_min(until_ms, Relaxed);
        let pushed_out = shared
            .entries
            .insert_with_lifecycle(L1Key::new(key), Slot { entry, until_ms });
        for (old_key, old) in &pushed_out {
            let is_new = (old.entry.value.as_ptr(), old.entry.value.len()) == stored;
            if old_key.full == key && !is_new {
                // The value this one replaced.
                continue;
            }
            // Pushed out by the budget (the new value itself when it is larger than its
            // shard): an eviction, unless it was dead already and the sweep had not come.
            let counter = if old.until_ms <= now {
                &shared.removals.expirations
            } else {
                &shared.removals.evictions
            };
            counter.fetch_add(1, Relaxed);
        }
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
        self.shared
            .entries
            .remove(&Parts::of(key))
            .is_some_and(|(_, slot)| slot.until_ms > self.shared.clock.now_ms())
    }

    /// Removes every key `selected` picks; returns how many live entries went.
    fn remove_where(&self, selected: impl Fn(&str) -> bool) -> u64 {
        let now = self.shared.clock.now_ms();
        let removed = AtomicU64::new(0);
        self.shared.entries.retain(|key, slot| {
            if !selected(&key.full) {
                return true;
            }
            removed.fetch_add(u64::from(slot.until_ms > now), Relaxed);
            false
        });
        removed.into_inner()
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

    /// Entries, weighted bytes, evictions and expirations, after sweeping what expired.
    pub fn usage_now(&self) -> Usage {
        let shared = &*self.shared;
        shared.sweep_if_due(shared.clock.now_ms());
        Usage {
            entries: shared.entries.len() as u64,
            bytes: shared.entries.weight(),
            evictions: shared.removals.evictions.load(Relaxed),
            expirations: shared.removals.expirations.load(Relaxed),
        }
    }
}

/// Sweeps expired entries out of `shared` every [`SWEEP_EVERY`] until the store is dropped.
fn spawn_sweeper(shared: Weak<Shared>, stopped: mpsc::Receiver<()>) {
    let spawned = std::thread::Builder::new()
        .name("hoard-memory-sweep".into())
        .spawn(move || loop {
            match stopped.recv_timeout(SWEEP_EVERY) {
                Err(RecvTimeoutError::Timeout) => {}
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
            }
            let Some(shared) = shared.upgrade() else {
                return;
            };
            shared.sweep_if_due(shared.clock.now_ms());
        });
    if let Err(error) = spawned {
        // Reads still check every deadline; expired entries then leave as the budget
        // pushes them out, or at the next stats call.
        tracing::warn!(%error, "memory tier: no sweeper thread; expired entries leave when evicted");
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

    fn as_tag_index(&self) -> Option<&dyn TagIndex> {
        Some(self)
    }

    fn as_generations(&self) -> Option<&dyn Generations> {
        Some(self)
    }
}

#[async_trait]
impl TagIndex for MemoryStore {
    async fn add_tags(&self, rows: &[TagRow]) -> Result<()> {
        let now = self.shared.clock.now_ms();
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
        let now = self.shared.clock.now_ms();
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
            let now = self.shared.clock.now_ms();
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
}

#[async_trait]
impl Generations for MemoryStore {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn entry(bytes: usize, ttl: Duration) -> Entry {
        Entry::new(vec![7u8; bytes], ttl)
    }

    #[test]
    fn keys_are_found_by_their_parts_and_never_by_another_split() {
        let store = MemoryStore::new(1 << 20);
        let ttl = Duration::from_secs(60);
        store.set_now("ns:k:x", Entry::new(vec![1], ttl));
        store.set_now("plain", Entry::new(vec![2], ttl));
        store.set_now(":plain", Entry::new(vec![3], ttl));
        let value = |found: Option<Entry>| found.map(|e| e.value[0]);
        assert_eq!(value(store.get_parts("ns", "k:x")), Some(1));
        assert_eq!(value(store.get_now("ns:k:x")), Some(1));
        assert_eq!(value(store.get_parts("ns:k", "x")), None);
        assert_eq!(value(store.get_parts("ns", "k")), None);
        // Without a `:` a key has no namespace; with a leading one, an empty namespace.
        assert_eq!(value(store.get_now("plain")), Some(2));
        assert_eq!(value(store.get_now(":plain")), Some(3));
        assert_eq!(value(store.get_parts("", "plain")), Some(3));
        assert!(store.delete_now(":plain"));
        assert_eq!(value(store.get_now("plain")), Some(2));
        assert_eq!(store.usage_now().entries, 2);
    }

    #[test]
    fn keys_kept_inline_and_keys_kept_apart_are_found_alike() {
        // 24 bytes fit inside the slot; 25 and more live in their own allocation. Keys on
        // both sides of that line, sharing prefixes, must each find only their own entry.
        let store = MemoryStore::new(1 << 20);
        let ttl = Duration::from_secs(60);
        let keys: Vec<String> = [1, 22, 23, 24, 25, 40, 1000]
            .iter()
            .map(|&len| format!("ns:{}", "k".repeat(len)))
            .collect();
        for (i, key) in keys.iter().enumerate() {
            store.set_now(key, Entry::new(vec![i as u8], ttl));
        }
        for (i, key) in keys.iter().enumerate() {
            let (namespace, rest) = key.split_once(':').unwrap();
            assert_eq!(
                store.get_parts(namespace, rest).map(|e| e.value[0]),
                Some(i as u8),
                "{key}"
            );
            assert_eq!(
                store.get_now(key).map(|e| e.value[0]),
                Some(i as u8),
                "{key}"
            );
        }
        assert_eq!(store.get_parts("ns", &"k".repeat(26)), None);
        let weights: u64 = keys
            .iter()
            .map(|k| k.len() as u64 + 1 + ENTRY_OVERHEAD)
            .sum();
        assert_eq!(store.usage_now().bytes, weights);
    }

    #[test]
    fn a_replaced_value_is_not_an_eviction() {
        let store = MemoryStore::new(1 << 20);
        for i in 0..10u8 {
            store.set_now("k", Entry::new(vec![i; 100], Duration::from_secs(60)));
        }
        assert_eq!(store.get_now("k").unwrap().value.as_ref(), &[9u8; 100][..]);
        let usage = store.usage_now();
        assert_eq!((usage.entries, usage.evictions), (1, 0));
    }

    #[test]
    fn a_value_too_large_for_the_budget_is_refused_and_the_old_one_goes() {
        let store = MemoryStore::new(4096);
        store.set_now("k", entry(100, Duration::from_secs(60)));
        store.set_now("k", entry(10_000, Duration::from_secs(60)));
        assert_eq!(store.get_now("k"), None, "the old value must not be served");
        let usage = store.usage_now();
        assert_eq!((usage.entries, usage.evictions), (0, 1));
    }

    #[test]
    fn a_zero_budget_holds_nothing() {
        let store = MemoryStore::new(0);
        store.set_now("k", entry(1, Duration::from_secs(60)));
        assert_eq!(store.get_now("k"), None);
        assert_eq!(store.usage_now().evictions, 0);
    }

    #[test]
    fn max_age_ends_an_entry_before_its_deadline() {
        let store = MemoryStore::with_max_age(1 << 20, Some(Duration::from_millis(30)));
        store.set_now("k", entry(10, Duration::from_secs(3600)));
        assert!(store.get_now("k").is_some());
        let started = Instant::now();
        while store.get_now("k").is_some() {
            assert!(started.elapsed() < Duration::from_secs(5), "still served");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(started.elapsed() >= Duration::from_millis(20));
    }

    #[test]
    fn the_sweeper_gives_expired_memory_back_without_being_asked() {
        let store = MemoryStore::new(1 << 20);
        for i in 0..100 {
            store.set_now(&format!("short{i}"), entry(100, Duration::from_millis(20)));
        }
        store.set_now("long", entry(100, Duration::from_secs(3600)));
        // Watch the entries directly: `usage_now` would sweep by itself.
        let started = Instant::now();
        while store.shared.entries.len() > 1 {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{} entries still held",
                store.shared.entries.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(store.get_now("long").is_some());
        let usage = store.usage_now();
        assert_eq!((usage.entries, usage.expirations), (1, 100));
        assert_eq!(usage.bytes, 4 + 100 + ENTRY_OVERHEAD);
    }

    #[test]
    fn dropping_the_store_stops_its_sweeper() {
        let store = MemoryStore::new(1 << 20);
        let shared = Arc::downgrade(&store.shared);
        drop(store);
        assert!(
            shared.upgrade().is_none(),
            "the sweeper keeps no strong reference"
        );
    }
}
