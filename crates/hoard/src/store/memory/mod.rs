//! The in-memory tier: entries in process memory, read without locks, bounded in bytes,
//! each with its own deadline.

mod key;
mod table;

use super::TagRow;
use super::{Generations, ScanPage, Store, TagIndex, Usage};
use crate::clock::Clock;
use crate::entry::Entry;
use crate::error::Result;
use crate::glob::Glob;
use async_trait::async_trait;
use bytes::Bytes;
use key::{CallParts, L1Key, Parts};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Weak};
use std::time::Duration;
pub(crate) use table::Rendered;
use table::Table;

/// How often the background sweep looks for expired entries to give their memory back.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// No ring smaller than this (when the budget allows): an entry larger than its ring's
/// share of the budget is never admitted.
const MIN_RING_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Default)]
struct Removals {
    evictions: AtomicU64,
    expirations: AtomicU64,
    /// No entry expires before this instant (ms): the sweep has nothing to do until then.
    next_deadline_ms: AtomicU64,
}

/// The entries and their counters, shared with the sweeper thread.
struct Shared {
    entries: Table,
    removals: Removals,
    max_age: Option<Duration>,
    capacity_bytes: u64,
    clock: Clock,
}

impl Shared {
    /// Drops every expired entry, counting them; returns how many went.
    fn sweep(&self, now: u64) -> u64 {
        let next = AtomicU64::new(u64::MAX);
        let mut expired = 0;
        self.entries.retain(
            |_, until_ms| {
                let live = until_ms > now;
                if live {
                    next.fetch_min(until_ms, Relaxed);
                }
                live
            },
            |_| expired += 1,
        );
        // A set that raced with the pass lowered the deadline meanwhile: keep the lower one.
        self.removals
            .next_deadline_ms
            .fetch_min(next.load(Relaxed), Relaxed);
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
/// A read takes no lock, allocates nothing and never awaits; it checks the entry's
/// deadline itself. Capacity counts key and value bytes plus a fixed per-entry overhead;
/// when full, a second-chance FIFO (CLOCK) chooses what to evict: entries read since the
/// hand last passed survive a pass, one-off entries leave first. Expired entries give
/// their memory back within a second: a background thread sweeps them out when one is due.
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
        let rings = (capacity_bytes / MIN_RING_BYTES).clamp(1, 4 * cores as u64);
        let shared = Arc::new(Shared {
            entries: Table::new(capacity_bytes, rings),
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
        self.get_in(&Parts::of(key))
    }

    /// The live entry at `namespace:key`, looked up without joining the two: the read
    /// path's L1 lookup. A hit means a write stored exactly these two parts.
    pub fn get_parts(&self, namespace: &str, key: &str) -> Option<Entry> {
        self.get_in(&Parts {
            namespace: Some(namespace),
            key,
        })
    }

    /// Like [`MemoryStore::get_parts`], with the value's JSON text if a reader attached it
    /// ([`MemoryStore::attach_json`]).
    pub(crate) fn get_parts_rendered(&self, namespace: &str, key: &str) -> Option<Rendered> {
        let parts = Parts {
            namespace: Some(namespace),
            key,
        };
        self.shared
            .entries
            .get_rendered(&parts, || self.shared.clock.now_ms())
    }

    /// Keeps `json`, the JSON text of `rendered_from` (the value a read of `namespace:key`
    /// returned), beside that entry, charged to the byte budget like the entry itself: later
    /// reads find it rendered. Nothing happens if the entry has changed since.
    pub(crate) fn attach_json(
        &self,
        namespace: &str,
        key: &str,
        rendered_from: &Bytes,
        json: Bytes,
    ) {
        let shared = &*self.shared;
        let parts = Parts {
            namespace: Some(namespace),
            key,
        };
        let pushed_out =
            shared
                .entries
                .attach_json(&parts, rendered_from, json, shared.clock.now_ms());
        shared
            .removals
            .evictions
            .fetch_add(pushed_out.live, Relaxed);
        shared
            .removals
            .expirations
            .fetch_add(pushed_out.dead, Relaxed);
    }

    /// The live entry of a `#[cached]` call: the key `{name}:v2:{hex digest}` in
    /// `namespace`, looked up by its digest without formatting the key (see
    /// `call_digest.rs`). The same entry a text lookup of that key finds.
    pub(crate) fn get_call(&self, namespace: &str, name: &str, digest: u128) -> Option<Entry> {
        self.get_in(&CallParts::new(namespace, name, digest))
    }

    fn get_in<Q>(&self, key: &Q) -> Option<Entry>
    where
        Q: std::hash::Hash + papaya::Equivalent<L1Key>,
    {
        // An expired entry is not removed here: a writer may have replaced it since our
        // read. The sweep drops it.
        self.shared.entries.get(key, || self.shared.clock.now_ms())
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
        shared
            .removals
            .next_deadline_ms
            .fetch_min(until_ms, Relaxed);
        let pushed_out = shared.entries.insert(L1Key::new(key), entry, until_ms, now);
        let removals = &shared.removals;
        removals.evictions.fetch_add(pushed_out.live, Relaxed);
        removals.expirations.fetch_add(pushed_out.dead, Relaxed);
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
            .is_some_and(|until_ms| until_ms > self.shared.clock.now_ms())
    }

    /// Removes every key `selected` picks; returns how many live entries went.
    fn remove_where(&self, selected: impl Fn(&str) -> bool) -> u64 {
        let now = self.shared.clock.now_ms();
        let mut removed = 0;
        self.shared.entries.retain(
            |key, _| !selected(key),
            |until_ms| removed += u64::from(until_ms > now),
        );
        removed
    }

    /// Removes every key matching `glob`.
    pub fn delete_matching_now(&self, glob: &Glob) -> u64 {
        self.remove_where(|key| glob.matches(key))
    }

    /// A page of the live keys matching `glob`, in key order, after `cursor` (the last key
    /// of the previous page; `""` first). L1 is a hash table: each page looks at every
    /// entry, which the memory budget bounds.
    pub fn scan_now(&self, glob: &Glob, cursor: &str, limit: usize) -> ScanPage {
        let now = self.shared.clock.now_ms();
        let mut keys = self
            .shared
            .entries
            .keys_where(|key, until_ms| until_ms > now && key > cursor && glob.matches(key));
        keys.sort_unstable();
        let more = keys.len() > limit;
        keys.truncate(limit);
        let cursor = if more { keys.last().cloned() } else { None };
        ScanPage { keys, cursor }
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

    /// The byte budget it was made with (keys, values and a per-entry overhead).
    pub fn capacity_bytes(&self) -> u64 {
        self.shared.capacity_bytes
    }

    /// Entries, weighted bytes, evictions and expirations, after sweeping what expired.
    pub fn usage_now(&self) -> Usage {
        let shared = &*self.shared;
        shared.sweep_if_due(shared.clock.now_ms());
        Usage {
            entries: shared.entries.len(),
            bytes: shared.entries.bytes(),
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

    async fn scan(&self, glob: &Glob, cursor: &str, limit: usize) -> Result<ScanPage> {
        Ok(self.scan_now(glob, cursor, limit))
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
mod tests;
