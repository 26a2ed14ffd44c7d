//! Counters that stay on in production: striped atomics, no lock on the hot path.
//!
//! Each namespace owns a [`Counters`]: a few cache-line-padded stripes of atomics, and a
//! thread adds to "its" stripe, so two threads hitting the same namespace do not fight
//! over one cache line. Reading stats sums the stripes. The namespace table is swapped
//! copy-on-write (`ArcSwap`), so looking a namespace up takes no lock either; only the
//! first event in a new namespace takes the writer mutex.

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

const STRIPES: usize = 8;
/// Namespaces beyond this many share one row, so a caller that makes namespaces from user
/// input cannot grow the table without bound.
pub(crate) const MAX_TRACKED_NAMESPACES: usize = 1024;
/// The row that collects namespaces past [`MAX_TRACKED_NAMESPACES`].
pub const OTHER_NAMESPACES: &str = "(other)";

/// What a counter counts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Event {
    L1Hit = 0,
    L2Hit,
    Miss,
    Set,
    Delete,
    Error,
    /// Milliseconds of compute that hits saved: each hit adds its entry's compute time.
    SavedMs,
}
const EVENTS: usize = 7;

#[repr(align(128))]
#[derive(Default)]
struct Stripe([AtomicU64; EVENTS]);

/// Striped event counters of one namespace.
#[derive(Default)]
pub(crate) struct Counters {
    stripes: [Stripe; STRIPES],
}

fn my_stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: usize = NEXT.fetch_add(1, Relaxed) % STRIPES;
    }
    STRIPE.with(|s| *s)
}

impl Counters {
    pub(crate) fn add(&self, event: Event, n: u64) {
        self.stripes[my_stripe()].0[event as usize].fetch_add(n, Relaxed);
    }

    fn read(&self) -> [u64; EVENTS] {
        let mut sums = [0; EVENTS];
        for stripe in &self.stripes {
            for (sum, counter) in sums.iter_mut().zip(&stripe.0) {
                *sum += counter.load(Relaxed);
            }
        }
        sums
    }
}

/// Per-namespace counters, looked up without locks.
pub(crate) struct StatsRegistry {
    /// Tells registries apart in [`LAST`] (an address could be reused after a drop).
    id: u64,
    /// Hashed with foldhash (randomly seeded): every hit hashes its namespace here, and
    /// SipHash cost more than the rest of the count.
    namespaces: ArcSwap<HashMap<Box<str>, Arc<Counters>, foldhash::fast::RandomState>>,
    grow: Mutex<()>,
}

impl Default for StatsRegistry {
    fn default() -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        StatsRegistry {
            id: NEXT_ID.fetch_add(1, Relaxed),
            namespaces: ArcSwap::default(),
            grow: Mutex::new(()),
        }
    }
}

/// How many (registry, namespace) pairs a thread keeps the counters of.
const RECENT: usize = 8;

/// Counters a thread counted into lately, by registry and namespace.
struct Recent {
    registry: u64,
    namespace: String,
    counters: Arc<Counters>,
}

/// A thread's [`Recent`] pairs and which one a new pair replaces next.
struct RecentCounters {
    pairs: Vec<Recent>,
    next: usize,
}

thread_local! {
    /// A thread counting into a few namespaces over and over (the common hit loop, a
    /// server worker serving a handful of routes) finds their counters here, without the
    /// shared table's load and hash and without touching the counters' shared reference
    /// count; a replaced pair reuses its namespace buffer.
    static RECENT_COUNTERS: std::cell::RefCell<RecentCounters> = const {
        std::cell::RefCell::new(RecentCounters {
            pairs: Vec::new(),
            next: 0,
        })
    };
}

impl StatsRegistry {
    /// Counts `n` events of one kind in `namespace`.
    pub(crate) fn record(&self, namespace: &str, event: Event, n: u64) {
        self.with_counters(namespace, |counters| counters.add(event, n));
    }

    /// Counts `n` hits of one tier (`L1Hit` or `L2Hit`) in `namespace`, which saved
    /// `saved_ms` milliseconds of compute (the sum of their entries' compute times).
    pub(crate) fn record_hits(&self, namespace: &str, tier: Event, n: u64, saved_ms: u64) {
        self.with_counters(namespace, |counters| {
            counters.add(tier, n);
            if saved_ms > 0 {
                counters.add(Event::SavedMs, saved_ms);
            }
        });
    }

    /// Runs `count` on the counters of `namespace`.
    fn with_counters(&self, namespace: &str, count: impl Fn(&Counters)) {
        // `try_with`: during a thread's teardown the cache is gone; count the slow way.
        let counted = RECENT_COUNTERS.try_with(|recent| {
            let Ok(mut recent) = recent.try_borrow_mut() else {
                return false;
            };
            let known = recent
                .pairs
                .iter()
                .find(|pair| pair.registry == self.id && pair.namespace == namespace);
            if let Some(pair) = known {
                count(&pair.counters);
                return true;
            }
            let counters = self.counters(namespace);
            count(&counters);
            let recent = &mut *recent;
            if recent.pairs.len() < RECENT {
                recent.pairs.push(Recent {
                    registry: self.id,
                    namespace: namespace.to_owned(),
                    counters,
                });
            } else {
                let pair = &mut recent.pairs[recent.next];
                recent.next = (recent.next + 1) % RECENT;
                pair.registry = self.id;
                pair.namespace.clear();
                pair.namespace.push_str(namespace);
                pair.counters = counters;
            }
            true
        });
        if counted != Ok(true) {
            count(&self.counters(namespace));
        }
    }

    /// The counters of `namespace` (of [`OTHER_NAMESPACES`] past the tracked number).
    fn counters(&self, namespace: &str) -> Arc<Counters> {
        if let Some(counters) = self.namespaces.load().get(namespace) {
            return counters.clone();
        }
        self.counters_slow(namespace)
    }

    #[cold]
    fn counters_slow(&self, namespace: &str) -> Arc<Counters> {
        // A poisoned mutex only means another thread panicked while inserting; the map it
        // guards is swapped atomically, so it is still consistent.
        let _guard = self.grow.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.namespaces.load_full();
        let name = if current.len() >= MAX_TRACKED_NAMESPACES {
            OTHER_NAMESPACES
        } else {
            namespace
        };
        if let Some(counters) = current.get(name) {
            return counters.clone();
        }
        let mut next = HashMap::clone(&current);
        let counters = Arc::new(Counters::default());
        next.insert(name.into(), counters.clone());
        self.namespaces.store(Arc::new(next));
        counters
    }

    /// Sums every namespace's counters.
    pub(crate) fn snapshot(&self) -> BTreeMap<String, NamespaceStats> {
        self.namespaces
            .load()
            .iter()
            .map(|(name, counters)| {
                (
                    name.to_string(),
                    NamespaceStats::from_counts(counters.read()),
                )
            })
            .collect()
    }
}

/// Counts for one namespace (or for the whole cache in [`Stats`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NamespaceStats {
    /// Reads answered from a tier (`l1_hits + l2_hits`).
    pub hits: u64,
    /// Reads answered by the in-memory L1.
    pub l1_hits: u64,
    /// Reads that missed L1 and were answered by L2.
    pub l2_hits: u64,
    /// Reads that found nothing.
    pub misses: u64,
    /// `hits / (hits + misses)`, 0 when nothing was read.
    pub hit_rate: f64,
    /// Entries written.
    pub sets: u64,
    /// Entries removed by `delete` that existed.
    pub deletes: u64,
    /// Failed operations (a tier error, a corrupt entry found and dropped).
    pub errors: u64,
    /// Milliseconds of compute the hits saved: each hit adds the time its entry's value
    /// took to compute (recorded by the compute paths and `#[cached]`, or given to a
    /// write; 0 for values set without one).
    #[serde(default)]
    pub compute_saved_ms: u64,
}

impl NamespaceStats {
    fn from_counts(c: [u64; EVENTS]) -> NamespaceStats {
        let mut stats = NamespaceStats {
            l1_hits: c[Event::L1Hit as usize],
            l2_hits: c[Event::L2Hit as usize],
            misses: c[Event::Miss as usize],
            sets: c[Event::Set as usize],
            deletes: c[Event::Delete as usize],
            errors: c[Event::Error as usize],
            compute_saved_ms: c[Event::SavedMs as usize],
            ..NamespaceStats::default()
        };
        stats.finish();
        stats
    }

    /// Adds `other`'s counts to these (folding namespaces into one row).
    pub fn accumulate(&mut self, other: &NamespaceStats) {
        self.l1_hits += other.l1_hits;
        self.l2_hits += other.l2_hits;
        self.misses += other.misses;
        self.sets += other.sets;
        self.deletes += other.deletes;
        self.errors += other.errors;
        self.compute_saved_ms += other.compute_saved_ms;
        self.finish();
    }

    fn finish(&mut self) {
        self.hits = self.l1_hits + self.l2_hits;
        let reads = self.hits + self.misses;
        self.hit_rate = if reads == 0 {
            0.0
        } else {
            self.hits as f64 / reads as f64
        };
    }
}

/// What one tier holds and has dropped on its own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierStats {
    /// `memory`, `disk` or `redis`.
    pub name: String,
    /// Entries held. Exact on every tier; on the disk tier it includes entries that expired
    /// since its last sweep (every ten seconds by default).
    pub entries: u64,
    /// Bytes used: weighted bytes in memory, space on disk for the disk tier.
    pub bytes: u64,
    /// Entries pushed out to stay within the capacity.
    pub evictions: u64,
    /// Expired entries the tier reclaimed (by its sweep or its own expiry).
    pub expirations: u64,
    /// Whether the tier answered; when it did not, the counts above are zero.
    pub available: bool,
}

/// A point-in-time view of the whole cache.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Totals over every namespace.
    #[serde(flatten)]
    pub totals: NamespaceStats,
    /// Whether every tier answered (the `available` flag of a training dashboard's cache-stats endpoint).
    pub available: bool,
    /// Evictions summed over tiers.
    pub evictions: u64,
    /// Expirations reclaimed by the tier that holds the truth (L2, or L1 without L2).
    pub expirations: u64,
    /// Bytes used in memory by L1.
    pub used_memory: u64,
    /// L1's budget in bytes ([`CacheBuilder::memory_bytes`](crate::CacheBuilder::memory_bytes)),
    /// what `used_memory` stays under.
    #[serde(default)]
    pub memory_budget: u64,
    /// Entries held by the tier that holds the truth (L2, or L1 without L2, or L1 while L2
    /// does not answer).
    pub total_keys: u64,
    /// Per-namespace counts.
    pub namespaces: BTreeMap<String, NamespaceStats>,
    /// L1 first, then L2 if there is one.
    pub tiers: Vec<TierStats>,
    /// What the writers of write-through and write-behind namespaces did, by namespace
    /// ([`Cache::write_through`](crate::Cache::write_through)); empty without any.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub writers: BTreeMap<String, crate::WriterStats>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_many_threads_add_up() {
        let registry = Arc::new(StatsRegistry::default());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let registry = registry.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000 {
                        let ns = if i % 2 == 0 { "a" } else { "b" };
                        registry.record(ns, Event::L1Hit, 1);
                        if t == 0 {
                            registry.record(ns, Event::Miss, 1);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let snap = registry.snapshot();
        assert_eq!(snap["a"].l1_hits, 20_000);
        assert_eq!(snap["b"].hits, 20_000);
        assert_eq!(snap["a"].misses, 5_000);
        assert!((snap["a"].hit_rate - 0.8).abs() < 1e-9);
    }

    #[test]
    fn a_thread_switching_between_more_namespaces_and_registries_than_it_keeps_counts_exactly() {
        // More pairs than a thread keeps, so pairs are replaced over and over; two registries
        // with the same namespaces, which must never count into each other.
        let (first, second) = (StatsRegistry::default(), StatsRegistry::default());
        let names: Vec<String> = (0..RECENT + 3).map(|i| format!("ns{i}")).collect();
        for round in 0..100 {
            for name in &names {
                first.record(name, Event::L1Hit, 1);
                if round % 2 == 0 {
                    second.record(name, Event::Set, 2);
                }
            }
        }
        let (a, b) = (first.snapshot(), second.snapshot());
        for name in &names {
            assert_eq!((a[name].l1_hits, a[name].sets), (100, 0), "{name}");
            assert_eq!((b[name].l1_hits, b[name].sets), (0, 100), "{name}");
        }
    }

    #[test]
    fn namespace_table_is_bounded() {
        let registry = StatsRegistry::default();
        for i in 0..MAX_TRACKED_NAMESPACES + 10 {
            registry.record(&format!("ns{i}"), Event::Set, 1);
        }
        let snap = registry.snapshot();
        assert_eq!(snap.len(), MAX_TRACKED_NAMESPACES + 1);
        assert_eq!(snap[OTHER_NAMESPACES].sets, 10);
    }
}
