//! [`Cache`]: L1 memory in front of an optional L2, with stats.
//!
//! One `impl Cache` per job, each in its own file:
//!
//! | file | what |
//! |---|---|
//! | `builder.rs` | [`CacheBuilder`]: opens the tiers |
//! | `options.rs` | [`SetOptions`] and the TTL rules of a write |
//! | `epochs.rs` | `WriteEpochs`: keeps L1 from holding anything older than L2 |
//! | `read.rs` | `get`, `mget` and the L1 fill from L2 |
//! | `write.rs` | `set`, `mset` and the write path |
//! | `remove.rs` | `delete`, `delete_pattern`, `clear_all` |
//! | `tags.rs` | tags, dependencies and their cascades |
//! | `generations.rs` | `clear_namespace` in O(1): namespace generations |
//! | `remote.rs` | listeners, and other processes' invalidations applied to L1 |
//! | `leases.rs` | `lock` and `lock_wait` |
//! | `stats.rs` | `stats` and the hit counts of adaptive TTLs |
//! | `browse.rs` | `scan_keys`: a namespace's keys a page at a time |
//! | `census.rs` | `census`: what each namespace holds, by a walk over the keys |
//! | `warm/` | `warm_with`: hot keys warm after a restart, refreshed ahead of expiry |
//! | `backing/` | `write_through`, `write_behind`: writes that reach the application's store |

mod backing;
mod browse;
mod builder;
mod census;
mod epochs;
mod generations;
mod leases;
mod options;
mod read;
mod remote;
mod remove;
mod stats;
mod tags;
mod warm;
mod write;

pub use backing::{BackingOp, BackingWrite, WriteBehindOptions, WriteMode, WriterStats};
pub use browse::{KeyInfo, KeyPage, MAX_SCAN_LIMIT};
pub use builder::CacheBuilder;
pub use census::{Census, NamespaceCensus};
pub use options::SetOptions;
pub use warm::{WarmOptions, WarmStats};

use crate::clock::Clock;
use crate::entry::now_ms;
use crate::error::{Error, Result};
use crate::events::Listeners;
use crate::flight::Flights;
use crate::glob;
use crate::lock::LocalLocks;
use crate::stats::StatsRegistry;
use crate::store::{DiskConfig, MemoryStore, Store};
use epochs::WriteEpochs;
use rand::rngs::StdRng;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Default L1 budget: 256 MiB.
pub const DEFAULT_MEMORY_BYTES: u64 = 256 * 1024 * 1024;
/// How long an L1 copy of a Redis entry may live without being re-read (see
/// [`CacheBuilder::l1_max_age`]).
pub const DEFAULT_L1_MAX_AGE_SHARED: Duration = Duration::from_secs(10);
/// TTL of entries set without one: 1 hour ([`crate::ttl::LONG`]).
pub const DEFAULT_TTL: Duration = crate::ttl::LONG;

/// What a write does when L2 is unavailable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum L2Down {
    /// Return the error and keep the value nowhere: the caller asked for the write.
    Fail,
    /// Keep the value in L1 only: a computed value, which its caller gets either way.
    KeepInL1,
}

/// A tiered cache: an in-memory L1 in front of an optional L2 (the embedded disk tier by
/// default), shared cheaply by cloning.
///
/// Keys live in namespaces: `cache.set("model", "metrics:abc-123", &m)` stores
/// `model:metrics:abc-123`. Every entry has a TTL (the default applies when none is given)
/// and no tier ever returns an expired entry.
///
/// # Consistency within a process
/// Writes go to L2 first, then L1, under a per-key (striped) lock. A read that fills L1
/// from L2 re-checks write epochs afterwards and drops what it filled if a write or clear
/// raced it. So once calls have returned, L1 holds either nothing or what L2 holds.
///
/// # Errors and degradation
/// Bad keys, namespaces, patterns and TTLs are refused with an error naming the problem.
/// An L2 read that fails (I/O error, Redis down or slow, corrupt entry) is logged, counted
/// in `errors`, and reads as a miss; a corrupt entry is also removed, so the application
/// degrades to L1 + compute instead of failing. A value a get-or-compute call computed
/// while L2 is *unavailable* ([`Error::Unavailable`]: Redis down, slow or behind an open
/// circuit breaker) is kept in L1 only and handed to its caller. Every write the caller
/// asked for ([`Cache::set`], [`Cache::mset`]...) that L2 does not confirm is returned as
/// an error, and L1 keeps nothing of it: an acknowledged write is one L2 holds, so it
/// cannot come back old once L2 returns. (A write that timed out may still have reached
/// L2: after the error the key holds the old value or the new one.) Deletes and clears
/// that cannot reach L2 are errors too: an invalidation is never dropped silently.
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    l1: MemoryStore,
    /// Where every deadline and age is read.
    pub(crate) clock: Clock,
    l2: Option<Arc<dyn Store>>,
    default_ttl: Duration,
    stats: StatsRegistry,
    epochs: WriteEpochs,
    /// When the last "L2 unavailable" warning was logged, so an outage logs once a second
    /// instead of once per call.
    last_warning_ms: AtomicU64,
    /// Computations in progress (single-flight).
    pub(crate) flights: Flights,
    /// Leases when L2 cannot hold them.
    local_locks: Arc<LocalLocks>,
    /// Random draws for early refresh; seedable so tests are deterministic.
    pub(crate) rng: Mutex<StdRng>,
    /// Hits per key for adaptive TTLs (this process's view; bounded).
    hits: quick_cache::sync::Cache<String, Arc<AtomicU64>>,
    /// Invalidation callbacks.
    listeners: Listeners,
    /// Whether L1 may take copies of L2 entries: always without a shared L2; with Redis only
    /// while the invalidation listener is subscribed (else another process's change could
    /// go unheard).
    l1_trusted: AtomicBool,
    /// Whether writes and deletes cascade to dependent entries.
    dependencies: bool,
    /// Namespace generations seen, with when they were read.
    generations: std::sync::RwLock<std::collections::HashMap<String, (u32, u64)>>,
    /// How long a cached generation is trusted without re-reading it.
    generation_max_age_ms: u64,
    /// The warmed namespaces, whose reads are counted per key (`warm/`).
    pub(crate) warming: warm::Registry,
    /// The namespaces with a writer to a backing store (`backing/`).
    backing: backing::Registry,
}

impl Cache {
    /// A builder with a 256 MiB L1, a 1 h default TTL and no L2.
    pub fn builder() -> CacheBuilder {
        CacheBuilder::default()
    }

    /// A memory-only cache with the default budget and TTL.
    pub fn in_memory() -> Cache {
        Cache::builder()
            .build()
            .expect("the default configuration is valid")
    }

    /// Memory in front of the disk tier in `dir`, with defaults: the embedded set-up.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Cache> {
        Cache::builder().disk(DiskConfig::new(dir)).build()
    }

    /// The TTL applied to writes that name none.
    pub fn default_ttl(&self) -> Duration {
        self.inner.default_ttl
    }

    /// Whether an L2 tier is configured.
    pub fn has_l2(&self) -> bool {
        self.inner.l2.is_some()
    }

    /// The clock this cache reads: the system's, or the one given to
    /// [`CacheBuilder::clock`]. Layers that keep deadlines of their own next to the cache's
    /// entries (the semantic cache's index) read it too, so a test's
    /// [`ManualClock`](crate::ManualClock) moves both.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    /// The shared state itself, for background work that holds it weakly.
    pub(crate) fn inner_arc(&self) -> &Arc<Inner> {
        &self.inner
    }

    /// The cache over `inner` (a background task's upgraded weak reference).
    pub(crate) fn from_inner(inner: Arc<Inner>) -> Cache {
        Cache { inner }
    }

    /// L2, if there is one.
    pub(crate) fn l2(&self) -> Option<&Arc<dyn Store>> {
        self.inner.l2.as_ref()
    }

    /// Whether L2 is reachable as far as the cache knows without asking: `false` while a
    /// Redis tier's circuit breaker is open. Always `true` without L2 or with the disk tier.
    pub fn l2_available(&self) -> bool {
        self.inner.l2.as_ref().is_none_or(|l2| l2.is_available())
    }

    /// Asks L2 whether it answers (PING on Redis); `Ok` without L2.
    pub async fn ping_l2(&self) -> Result<()> {
        match &self.inner.l2 {
            Some(l2) => l2.ping().await,
            None => Ok(()),
        }
    }

    /// Logs an L2 failure, at most once a second while L2 is unavailable.
    fn warn_l2(&self, key: &str, error: &Error, what: &str) {
        if matches!(error, Error::Unavailable { .. }) {
            let now = now_ms();
            let last = self.inner.last_warning_ms.load(SeqCst);
            if now.saturating_sub(last) < 1000
                || self
                    .inner
                    .last_warning_ms
                    .compare_exchange(last, now, SeqCst, SeqCst)
                    .is_err()
            {
                return;
            }
        }
        tracing::warn!(key, %error, "{what}");
    }

    /// Makes every acknowledged write durable (fsync on the disk tier), after saving the
    /// warmed namespaces' popularity ([`Cache::save_popularity`]).
    pub async fn flush(&self) -> Result<()> {
        if let Err(error) = self.save_popularity().await {
            tracing::warn!(%error, "warming: the popularity was not saved at flush");
        }
        match &self.inner.l2 {
            Some(l2) => l2.flush().await,
            None => Ok(()),
        }
    }
}

/// Escapes a namespace or key for use inside a [`Cache::delete_pattern`] glob.
pub fn escape_pattern(text: &str) -> String {
    glob::escape(text)
}
