//! The entries of L1: a map read without taking any lock, kept within a byte budget by
//! CLOCK rings that only writers touch.
//!
//! A read is a lookup in a lock-free map ([`papaya`]) and, on an entry's first read since
//! eviction last passed it, one store to its `visited` flag. It writes no line another core
//! reads unless that flag changes, which is why it beats a sharded-lock cache (quick_cache,
//! moka) once two cores read the same hot keys: their read locks bounce one cache line
//! between cores on every read.
//!
//! Writers serialize per ring: every change to a key's slot happens under the lock of the
//! ring the key hashes to, so a ring's byte count and its hand always agree with the map.
//! Each ring is a second-chance FIFO (CLOCK): its hand lists the ring's keys in insertion
//! order; to make room, an entry read since the hand last passed is passed again (its flag
//! cleared), and the first one not read goes. An overwrite keeps the key's place.

use super::key::{L1Key, Parts};
use crate::entry::Entry;
use bytes::Bytes;
use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

/// Bytes charged per entry on top of key and value: the map's node, the `Entry` struct, the
/// key's place in its ring. An estimate; it keeps many tiny entries from looking free.
pub(super) const ENTRY_OVERHEAD: u64 = 96;

/// Removing an entry at least this large frees its memory at once (see
/// [`Table::free_removed`]); smaller ones are freed with the removing thread's next batch.
const FREE_AT_ONCE_BYTES: u64 = 64 * 1024;

/// How many removed nodes the map's collector gathers per thread before it frees them
/// (seize's default batch size).
const RETIRE_BATCH: usize = 32;

/// An entry as L1 holds it: with the instant L1 stops serving it.
pub(super) struct Slot {
    pub(super) entry: Entry,
    /// The entry's own deadline, or the end of L1's maximum age if that comes first.
    pub(super) until_ms: u64,
    weight: u64,
    /// Which item of its ring's hand stands for this slot: an item whose number differs is
    /// left over from a removed entry of the same key.
    seq: u64,
    /// Read since the hand last passed it.
    visited: AtomicBool,
    /// The value as JSON text, once a reader has rendered it ([`Table::attach_json`]);
    /// charged to the ring from then on.
    json: OnceLock<Bytes>,
}

impl Slot {
    /// What the slot is charged: its entry's weight, and its JSON text once attached.
    fn weight(&self) -> u64 {
        self.weight + self.json.get().map_or(0, |json| json.len() as u64)
    }
}

/// An L1 hit as [`Table::get_rendered`] finds it: the entry, and its JSON text if a reader
/// attached it.
pub(crate) struct Rendered {
    pub(crate) entry: Entry,
    pub(crate) json: Option<Bytes>,
}

/// One ring: a share of the budget and the hand over the keys that hash to it.
#[derive(Default)]
struct Ring {
    /// Keys in the order the hand visits them, each with the `seq` of the slot it stood
    /// for when it was pushed. Items of removed slots stay until the hand or a compaction
    /// drops them.
    hand: VecDeque<(L1Key, u64)>,
    bytes: u64,
    entries: u64,
    next_seq: u64,
}

impl Ring {
    fn forget(&mut self, slot: &Slot) {
        self.bytes -= slot.weight();
        self.entries -= 1;
    }
}

/// What a write pushed out of L1 to stay within its budget.
#[derive(Default, Debug, PartialEq, Eq)]
pub(super) struct PushedOut {
    /// Entries still live when they went (evictions).
    pub(super) live: u64,
    /// Entries already past their deadline that no sweep had removed yet (expirations).
    pub(super) dead: u64,
}

type Map = papaya::HashMap<L1Key, Slot, foldhash::fast::RandomState>;

/// L1's entries: see the module documentation.
pub(super) struct Table {
    map: Map,
    rings: Box<[Mutex<Ring>]>,
    /// Picks a key's ring; independent of the map's own hashing.
    ring_hasher: foldhash::fast::RandomState,
    ring_bytes: u64,
    /// Shares the map's collector; replaced over and over to fill a batch, so removed
    /// values are freed now rather than when the thread's batch fills by itself.
    filler: papaya::HashMap<u8, ()>,
}

impl Table {
    /// A table of `rings` rings sharing `capacity_bytes` evenly.
    pub(super) fn new(capacity_bytes: u64, rings: u64) -> Table {
        let rings = rings.max(1);
        let collector = Arc::new(seize::Collector::new().batch_size(RETIRE_BATCH));
        Table {
            map: papaya::HashMap::builder()
                .hasher(foldhash::fast::RandomState::default())
                .shared_collector(Arc::clone(&collector))
                .build(),
            rings: (0..rings).map(|_| Mutex::default()).collect(),
            ring_hasher: foldhash::fast::RandomState::default(),
            ring_bytes: capacity_bytes / rings,
            filler: papaya::HashMap::builder()
                .shared_collector(collector)
                .build(),
        }
    }

    /// The weight of an entry at `key`: key and value bytes plus [`ENTRY_OVERHEAD`], and
    /// its tags' bytes (a list a batch shares is charged to each entry: an upper bound).
    pub(super) fn weight(key: &str, entry: &Entry) -> u64 {
        let tags: usize = entry.tags().iter().map(|t| t.len() + 24).sum();
        key.len() as u64 + entry.value.len() as u64 + ENTRY_OVERHEAD + tags as u64
    }

    fn ring_index(&self, parts: Parts<'_>) -> usize {
        // The remainder is below the ring count, which is a usize.
        (self.ring_hasher.hash_one(parts) % self.rings.len() as u64) as usize
    }

    fn lock(&self, index: usize) -> MutexGuard<'_, Ring> {
        self.rings[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The entry at `key` (a [`Parts`] or a [`super::key::CallParts`]) if it is still live
    /// at `now()` (read after the lookup, so a deadline is never checked against an instant
    /// before the read).
    pub(super) fn get<Q>(&self, key: &Q, now: impl FnOnce() -> u64) -> Option<Entry>
    where
        Q: std::hash::Hash + papaya::Equivalent<L1Key> + ?Sized,
    {
        self.read(key, now, |slot| slot.entry.clone())
    }

    /// Like [`Table::get`], with the entry's JSON text if a reader attached it.
    pub(super) fn get_rendered(
        &self,
        key: &Parts<'_>,
        now: impl FnOnce() -> u64,
    ) -> Option<Rendered> {
        self.read(key, now, |slot| Rendered {
            entry: slot.entry.clone(),
            json: slot.json.get().cloned(),
        })
    }

    /// What `take` makes of the live slot at `key`, marking it read: every read's path.
    fn read<Q, T>(
        &self,
        key: &Q,
        now: impl FnOnce() -> u64,
        take: impl FnOnce(&Slot) -> T,
    ) -> Option<T>
    where
        Q: std::hash::Hash + papaya::Equivalent<L1Key> + ?Sized,
    {
        let guard = self.map.guard();
        let slot = self.map.get(key, &guard)?;
        // Stored only when unset: a hot entry's flag stays a line every core can share.
        if !slot.visited.load(Relaxed) {
            slot.visited.store(true, Relaxed);
        }
        (slot.until_ms > now()).then(|| take(slot))
    }

    /// Keeps `json`, the JSON text of the value `rendered_from`, beside the entry at `key`
    /// and charges it to the entry's ring, evicting what the ring must lose to make room.
    /// Nothing happens if the entry has changed since (another value, or none), already
    /// has its text, or would no longer fit in a ring alone.
    pub(super) fn attach_json(
        &self,
        key: &Parts<'_>,
        rendered_from: &Bytes,
        json: Bytes,
        now: u64,
    ) -> PushedOut {
        let mut pushed_out = PushedOut::default();
        // Under the ring's lock no writer can replace the slot, and `forget` (which reads
        // the text's length) runs under it too.
        let mut ring = self.lock(self.ring_index(*key));
        let guard = self.map.guard();
        let Some(slot) = self.map.get(key, &guard) else {
            return pushed_out;
        };
        // The same allocation, held alive by `rendered_from`: the same bytes.
        let value = &slot.entry.value;
        let same = value.as_ptr() == rendered_from.as_ptr() && value.len() == rendered_from.len();
        let added = json.len() as u64;
        if !same || slot.json.get().is_some() || slot.weight() + added > self.ring_bytes {
            return pushed_out;
        }
        if slot.json.set(json).is_ok() {
            ring.bytes += added;
            let freed = self.make_room(&mut ring, slot.seq, now, &mut pushed_out, &guard);
            drop((ring, guard));
            self.free_if_large(freed);
        }
        pushed_out
    }

    /// Stores `entry` at `key` until `until_ms`, evicting what its ring must lose to make
    /// room. An entry larger than a ring's share is refused, and the key's old value goes
    /// too (it must not be served in place of the newer one); it counts as evicted.
    pub(super) fn insert(&self, key: L1Key, entry: Entry, until_ms: u64, now: u64) -> PushedOut {
        let weight = Table::weight(&key.full, &entry);
        let mut pushed_out = PushedOut::default();
        let mut ring = self.lock(self.ring_index(key.parts()));
        let guard = self.map.guard();
        let mut freed = 0;
        if weight > self.ring_bytes {
            if let Some(old) = self.map.remove(&key.parts(), &guard) {
                ring.forget(old);
                freed = old.weight();
            }
            pushed_out.live += 1;
        } else {
            let (seq, visited) = match self.map.get(&key.parts(), &guard) {
                Some(old) => {
                    ring.forget(old);
                    freed = old.weight();
                    (old.seq, old.visited.load(Relaxed))
                }
                None => {
                    let seq = ring.next_seq;
                    ring.next_seq += 1;
                    ring.hand.push_back((key.clone(), seq));
                    (seq, false)
                }
            };
            ring.bytes += weight;
            ring.entries += 1;
            let slot = Slot {
                entry,
                until_ms,
                weight,
                seq,
                visited: AtomicBool::new(visited),
                json: OnceLock::new(),
            };
            self.map.insert(key, slot, &guard);
            freed = freed.max(self.make_room(&mut ring, seq, now, &mut pushed_out, &guard));
        }
        self.compact_if_sparse(&mut ring, &guard);
        drop((ring, guard));
        self.free_if_large(freed);
        pushed_out
    }

    /// Evicts from `ring` until it is within its share, never the slot `kept` just written.
    /// Returns the weight of the largest entry evicted.
    fn make_room(
        &self,
        ring: &mut Ring,
        kept: u64,
        now: u64,
        pushed_out: &mut PushedOut,
        guard: &impl papaya::Guard,
    ) -> u64 {
        let mut largest = 0;
        while ring.bytes > self.ring_bytes {
            // Every live entry has an item in the hand and the kept one fits alone, so the
            // hand cannot run dry here; stop rather than spin if it ever did.
            let Some((key, seq)) = ring.hand.pop_front() else {
                break;
            };
            let Some(slot) = self.map.get(&key.parts(), guard).filter(|s| s.seq == seq) else {
                continue; // left over from a removed entry
            };
            if seq == kept || slot.visited.swap(false, Relaxed) {
                ring.hand.push_back((key, seq));
                continue;
            }
            ring.forget(slot);
            largest = largest.max(slot.weight());
            if slot.until_ms <= now {
                pushed_out.dead += 1;
            } else {
                pushed_out.live += 1;
            }
            self.map.remove(&key.parts(), guard);
        }
        largest
    }

    /// Drops the hand's leftover items once they outnumber the ring's live entries.
    fn compact_if_sparse(&self, ring: &mut Ring, guard: &impl papaya::Guard) {
        if ring.hand.len() as u64 > 2 * ring.entries + 64 {
            let map = &self.map;
            ring.hand.retain(|(key, seq)| {
                map.get(&key.parts(), guard)
                    .is_some_and(|slot| slot.seq == *seq)
            });
        }
    }

    /// Removes the entry at `parts`; returns its deadline if there was one.
    pub(super) fn remove(&self, parts: &Parts<'_>) -> Option<u64> {
        let mut ring = self.lock(self.ring_index(*parts));
        let guard = self.map.guard();
        let slot = self.map.remove(parts, &guard)?;
        ring.forget(slot);
        let (until_ms, weight) = (slot.until_ms, slot.weight());
        self.compact_if_sparse(&mut ring, &guard);
        drop((ring, guard));
        self.free_if_large(weight);
        Some(until_ms)
    }

    /// Removes every entry `keep` (given the full key and the deadline) refuses, calling
    /// `removed` with the deadline of each. Writes that race with it are kept: an entry
    /// is removed only if `keep` still refuses it under its ring's lock.
    pub(super) fn retain(&self, keep: impl Fn(&str, u64) -> bool, mut removed: impl FnMut(u64)) {
        // First find them without any lock, then remove them ring by ring.
        let mut doomed: Vec<Vec<(L1Key, u64)>> =
            (0..self.rings.len()).map(|_| Vec::new()).collect();
        {
            let guard = self.map.guard();
            for (key, slot) in self.map.iter(&guard) {
                if !keep(&key.full, slot.until_ms) {
                    doomed[self.ring_index(key.parts())].push((key.clone(), slot.seq));
                }
            }
        }
        let mut any = false;
        for (index, keys) in doomed.into_iter().enumerate() {
            if keys.is_empty() {
                continue;
            }
            let mut ring = self.lock(index);
            let guard = self.map.guard();
            for (key, seq) in keys {
                let still_refused =
                    |k: &L1Key, s: &Slot| s.seq == seq && !keep(&k.full, s.until_ms);
                if let Ok(Some((_, slot))) = self.map.remove_if(&key.parts(), still_refused, &guard)
                {
                    ring.forget(slot);
                    removed(slot.until_ms);
                    any = true;
                }
            }
            self.compact_if_sparse(&mut ring, &guard);
        }
        if any {
            self.free_removed();
        }
    }

    /// The full keys `keep` (given the full key and the deadline) picks, in no order.
    pub(super) fn keys_where(&self, keep: impl Fn(&str, u64) -> bool) -> Vec<String> {
        let guard = self.map.guard();
        self.map
            .iter(&guard)
            .filter(|(key, slot)| keep(&key.full, slot.until_ms))
            .map(|(key, _)| key.full.to_string())
            .collect()
    }

    /// How many entries L1 holds.
    pub(super) fn len(&self) -> u64 {
        (0..self.rings.len()).map(|i| self.lock(i).entries).sum()
    }

    /// The weight of everything L1 holds.
    pub(super) fn bytes(&self) -> u64 {
        (0..self.rings.len()).map(|i| self.lock(i).bytes).sum()
    }

    fn free_if_large(&self, removed_weight: u64) {
        if removed_weight >= FREE_AT_ONCE_BYTES {
            self.free_removed();
        }
    }

    /// Frees what this thread has removed, as soon as no read that may still see it is
    /// running.
    ///
    /// The map frees removed nodes by epoch, in per-thread batches of [`RETIRE_BATCH`]: a
    /// thread that rarely removes (the sweeper) could otherwise hold up to 31 removed values
    /// indefinitely, which for multi-megabyte values breaks "expired entries give their
    /// memory back". Replacing a filler entry that many times fills the batch, so the
    /// collector retires it now, the real removals with it.
    pub(super) fn free_removed(&self) {
        let filler = self.filler.pin();
        for _ in 0..RETIRE_BATCH {
            filler.insert(0, ());
        }
    }
}
