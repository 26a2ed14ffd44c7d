//! [`Cache`]: L1 memory in front of an optional L2, with stats.

use crate::clock::Clock;
use crate::codec;
use crate::entry::{now_ms, Entry};
use crate::error::{Error, Result};
use crate::events::{Cause, Invalidation, ListenerId, Listeners, Origin};
use crate::flight::Flights;
use crate::glob::{self, Glob};
use crate::key::{full_key, validate_namespace, with_full_key, SEPARATOR};
use crate::lock::{LocalLocks, LockBackend, LockGuard};
use crate::stats::{Event, NamespaceStats, Stats, StatsRegistry, TierStats};
use crate::store::{DiskConfig, MemoryStore, RedisConfig, Store, Usage};
use crate::store::{Remote, TagRow};
use bytes::Bytes;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{de::DeserializeOwned, Serialize};
use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
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
/// TTL of entries set without one: 1 hour (seed 003's `LONG`).
pub const DEFAULT_TTL: Duration = crate::ttl::LONG;

/// What a write does when L2 is unavailable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum L2Down {
    /// Return the error and keep the value nowhere: the caller asked for the write.
    Fail,
    /// Keep the value in L1 only: a computed value, which its caller gets either way.
    KeepInL1,
}

/// Options of one write.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct SetOptions {
    ttl: Option<Duration>,
    compute_time: Option<Duration>,
    tags: Vec<String>,
    depends_on: Vec<String>,
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

/// The tag that marks "depends on `key`".
fn dependency_tag(full_key: &str) -> String {
    format!("{DEPENDENCY_TAG}{full_key}")
}

const DEPENDENCY_TAG: &str = "dep:";

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
}

/// Keeps L1 from holding anything older than L2 when calls race within this process.
///
/// - Writers of one key (`set`, `mset`, `delete`) hold that key's stripe lock across the
///   L2 write and the L1 update, so L1 ends with the value L2 ended with.
/// - A read that fills L1 from L2 notes the key's stripe epoch (bumped by every write) and
///   the clear epoch (bumped by pattern deletes and clears) before reading L2, and drops
///   what it filled if either moved: a write or clear landed after its read began.
/// - A writer notes the clear epoch before its L2 write and drops its L1 copy if a clear
///   ran meanwhile (the clear may have removed the L2 copy after the writer wrote it).
struct WriteEpochs {
    stripes: Vec<AtomicU64>,
    locks: Vec<tokio::sync::Mutex<()>>,
    clears: AtomicU64,
    hasher: RandomState,
}

/// A reader's or writer's view of the epochs before it touched L2.
#[derive(Clone, Copy, PartialEq, Eq)]
struct EpochMark {
    key: u64,
    clears: u64,
}

impl WriteEpochs {
    const STRIPES: usize = 256;

    fn new() -> WriteEpochs {
        WriteEpochs {
            stripes: (0..Self::STRIPES).map(|_| AtomicU64::new(0)).collect(),
            locks: (0..Self::STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
            clears: AtomicU64::new(0),
            hasher: RandomState::new(),
        }
    }

    fn slot(&self, key: &str) -> usize {
        self.hasher.hash_one(key) as usize % Self::STRIPES
    }

    fn mark(&self, key: &str) -> EpochMark {
        EpochMark {
            key: self.stripes[self.slot(key)].load(SeqCst),
            clears: self.clears.load(SeqCst),
        }
    }

    fn bump(&self, key: &str) {
        self.stripes[self.slot(key)].fetch_add(1, SeqCst);
    }

    fn cleared_since(&self, mark: EpochMark) -> bool {
        self.clears.load(SeqCst) != mark.clears
    }

    fn bump_clears(&self) {
        self.clears.fetch_add(1, SeqCst);
    }

    /// Locks the stripes of `keys`, in stripe order so two writers cannot deadlock.
    async fn lock<'k>(
        &self,
        keys: impl Iterator<Item = &'k str>,
    ) -> Vec<tokio::sync::MutexGuard<'_, ()>> {
        let mut slots: Vec<usize> = keys.map(|k| self.slot(k)).collect();
        slots.sort_unstable();
        slots.dedup();
        let mut guards = Vec::with_capacity(slots.len());
        for slot in slots {
            guards.push(self.locks[slot].lock().await);
        }
        guards
    }
}

/// Builds a [`Cache`].
#[derive(Clone)]
#[must_use]
pub struct CacheBuilder {
    memory_bytes: u64,
    default_ttl: Duration,
    l2: L2Choice,
    seed: Option<u64>,
    l1_max_age: Option<Option<Duration>>,
    dependencies: bool,
    clock: Clock,
}

#[derive(Clone)]
enum L2Choice {
    None,
    Disk(DiskConfig),
    Redis(RedisConfig),
    Store(Arc<dyn Store>),
}

impl Default for CacheBuilder {
    fn default() -> Self {
        CacheBuilder {
            memory_bytes: DEFAULT_MEMORY_BYTES,
            default_ttl: DEFAULT_TTL,
            l2: L2Choice::None,
            seed: None,
            l1_max_age: None,
            dependencies: false,
            clock: Clock::system(),
        }
    }
}

impl CacheBuilder {
    /// L1's budget in bytes (keys, values and a per-entry overhead).
    pub fn memory_bytes(mut self, bytes: u64) -> CacheBuilder {
        self.memory_bytes = bytes;
        self
    }

    /// TTL of entries written without one. Must be greater than zero.
    pub fn default_ttl(mut self, ttl: Duration) -> CacheBuilder {
        self.default_ttl = ttl;
        self
    }

    /// Uses the embedded disk tier as L2.
    pub fn disk(mut self, config: DiskConfig) -> CacheBuilder {
        self.l2 = L2Choice::Disk(config);
        self
    }

    /// Uses Redis (standalone or cluster) as L2.
    pub fn redis(mut self, config: RedisConfig) -> CacheBuilder {
        self.l2 = L2Choice::Redis(config);
        self
    }

    /// The longest an entry stays in L1 before it is re-read from L2. With Redis as L2 it
    /// bounds how stale a copy can get if an invalidation message is lost (default 10 s);
    /// `None` means only the entry's TTL. Without a shared L2 the default is `None`.
    pub fn l1_max_age(mut self, max_age: Option<Duration>) -> CacheBuilder {
        self.l1_max_age = Some(max_age);
        self
    }

    /// Turns on dependency tracking ([`SetOptions::depends_on`]): every write and delete then
    /// looks up the key's dependents (one more index lookup, a round trip on Redis). Turn it
    /// on in every process that writes keys others depend on. Off by default.
    pub fn dependencies(mut self, on: bool) -> CacheBuilder {
        self.dependencies = on;
        self
    }

    /// Reads the time from `clock` (a [`crate::ManualClock`]'s in tests): L1 and the disk or
    /// Redis tier this builder opens use it too. A store given to [`CacheBuilder::l2`]
    /// keeps its own (`DiskConfig::clock`, `RedisConfig::clock`).
    pub fn clock(mut self, clock: Clock) -> CacheBuilder {
        self.clock = clock;
        self
    }

    /// Seeds the random draws of early refresh, for reproducible tests.
    pub fn seed(mut self, seed: u64) -> CacheBuilder {
        self.seed = Some(seed);
        self
    }

    /// Uses any [`Store`] as L2.
    pub fn l2(mut self, store: Arc<dyn Store>) -> CacheBuilder {
        self.l2 = L2Choice::Store(store);
        self
    }

    /// Opens the tiers.
    pub fn build(self) -> Result<Cache> {
        check_ttl(self.default_ttl)?;
        let l2: Option<Arc<dyn Store>> = match self.l2 {
            L2Choice::None => None,
            L2Choice::Disk(config) => Some(Arc::new(config.clock(self.clock.clone()).open()?)),
            L2Choice::Redis(config) => Some(Arc::new(config.clock(self.clock.clone()).open()?)),
            L2Choice::Store(store) => Some(store),
        };
        if self.dependencies && l2.as_ref().is_some_and(|l2| !l2.supports_tags()) {
            return Err(Error::Config(
                "dependency tracking needs an L2 that indexes tags (memory, disk or Redis)".into(),
            ));
        }
        let shared = l2.as_ref().is_some_and(|l2| l2.supports_locks());
        let max_age = self
            .l1_max_age
            .unwrap_or(shared.then_some(DEFAULT_L1_MAX_AGE_SHARED));
        let cache = Cache {
            inner: Arc::new(Inner {
                l1: MemoryStore::with_clock(self.memory_bytes, max_age, self.clock.clone()),
                clock: self.clock,
                l2,
                default_ttl: self.default_ttl,
                stats: StatsRegistry::default(),
                epochs: WriteEpochs::new(),
                last_warning_ms: AtomicU64::new(0),
                flights: Flights::default(),
                local_locks: Arc::new(LocalLocks::default()),
                rng: Mutex::new(match self.seed {
                    Some(seed) => StdRng::seed_from_u64(seed),
                    None => StdRng::from_os_rng(),
                }),
                hits: quick_cache::sync::Cache::new(100_000),
                listeners: Listeners::default(),
                l1_trusted: AtomicBool::new(true),
                dependencies: self.dependencies,
                generations: std::sync::RwLock::new(std::collections::HashMap::new()),
                // With a shared L2, re-read generations at least every 30 s even without an L1
                // maximum age: a lost message must not leave this process on an old one.
                generation_max_age_ms: match (shared, max_age) {
                    (true, age) => millis(
                        age.unwrap_or(Duration::from_secs(30))
                            .min(Duration::from_secs(30)),
                    ),
                    (false, _) => u64::MAX,
                },
            }),
        };
        cache.start_listening();
        Ok(cache)
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Tags follow the key rules.
fn validate_tag(tag: &str) -> Result<()> {
    crate::key::validate_key(tag).map_err(|error| match error {
        Error::InvalidKey { key, reason } => Error::InvalidKey {
            key: format!("tag {key}"),
            reason,
        },
        other => other,
    })
}

fn check_ttl(ttl: Duration) -> Result<()> {
    // Deadlines are kept in whole milliseconds: a shorter TTL would expire as it is written.
    if ttl < Duration::from_millis(1) {
        return Err(Error::InvalidDuration {
            input: crate::ttl::format_duration(ttl),
            reason: "a TTL must be at least 1ms".into(),
        });
    }
    if ttl > crate::ttl::MAX {
        return Err(Error::InvalidDuration {
            input: crate::ttl::format_duration(ttl),
            reason: format!(
                "a TTL may be at most {} ({} days)",
                crate::ttl::format_duration(crate::ttl::MAX),
                crate::ttl::MAX.as_secs() / 86_400
            ),
        });
    }
    Ok(())
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

    // ----- reads -------------------------------------------------------------------------

    /// Reads a typed value. A value stored as another type is a [`Error::Decode`].
    pub async fn get<T: DeserializeOwned>(&self, namespace: &str, key: &str) -> Result<Option<T>> {
        match self.get_entry(namespace, key).await? {
            Some(entry) => codec::decode(&entry.value).map(Some),
            None => Ok(None),
        }
    }

    /// Reads the raw bytes of a value.
    pub async fn get_raw(&self, namespace: &str, key: &str) -> Result<Option<Bytes>> {
        Ok(self.get_entry(namespace, key).await?.map(|e| e.value))
    }

    /// Reads an entry with its expiry and compute time.
    pub async fn get_entry(&self, namespace: &str, key: &str) -> Result<Option<Entry>> {
        self.lookup(namespace, key, true).await
    }

    /// Like [`Cache::get_entry`] without counting a hit or miss: for second looks inside
    /// one logical read (compute-through re-checks), which must not count twice.
    pub(crate) async fn peek_entry(&self, namespace: &str, key: &str) -> Result<Option<Entry>> {
        self.lookup(namespace, key, false).await
    }

    /// The entry at `namespace:key` if the memory tier (L1) holds it, found without
    /// awaiting anything: the fast path of every read, for callers that would rather not
    /// enter async code for a hit. A hit counts as an L1 hit. `None` means L1 does not
    /// hold the key and counts nothing: go on with [`Cache::get_entry`] (or
    /// [`Cache::begin_compute`]), which reads L2 and counts the read.
    pub fn get_entry_l1(&self, namespace: &str, key: &str) -> Result<Option<Entry>> {
        let inner = &*self.inner;
        let found = with_full_key(namespace, key, |full| inner.l1.get_now(full))?;
        if found.is_some() {
            inner.stats.record(namespace, Event::L1Hit, 1);
        }
        Ok(found)
    }

    async fn lookup(&self, namespace: &str, key: &str, record: bool) -> Result<Option<Entry>> {
        let inner = &*self.inner;
        let l1_hit = with_full_key(namespace, key, |full| inner.l1.get_now(full))?;
        if let Some(entry) = l1_hit {
            if record {
                inner.stats.record(namespace, Event::L1Hit, 1);
            }
            return Ok(Some(entry));
        }
        let found = match &inner.l2 {
            Some(l2) => {
                let full = full_key(namespace, key)?;
                let mark = inner.epochs.mark(&full);
                let (generation, fill) = self.generation_for_read(namespace).await;
                let found = self.l2_read(namespace, &full, l2.get(&full).await).await;
                let found = self.current(namespace, generation, found);
                if let (Some(entry), true) = (&found, fill) {
                    self.fill_l1(&full, entry.clone(), mark);
                }
                found
            }
            None => None,
        };
        if record {
            let event = if found.is_some() {
                Event::L2Hit
            } else {
                Event::Miss
            };
            inner.stats.record(namespace, event, 1);
        }
        Ok(found)
    }

    /// Turns an L2 read result into a value or a miss, counting and cleaning up failures.
    async fn l2_read(
        &self,
        namespace: &str,
        full: &str,
        read: Result<Option<Entry>>,
    ) -> Option<Entry> {
        match read {
            Ok(found) => found,
            Err(error) => {
                self.l2_failed(namespace, full, error).await;
                None
            }
        }
    }

    async fn l2_failed(&self, namespace: &str, full: &str, error: Error) {
        let inner = &*self.inner;
        inner.stats.record(namespace, Event::Error, 1);
        self.warn_l2(full, &error, "L2 read failed; answering as a miss");
        let (Error::Corrupt(_), Some(l2)) = (&error, &inner.l2) else {
            return;
        };
        // Remove the corrupt entry like any write: under the key's lock, and only if it is
        // still corrupt (a valid value written meanwhile stays).
        let _lock = inner.epochs.lock(std::iter::once(full)).await;
        match l2.delete_if_corrupt(full).await {
            Ok(true) => {
                inner.epochs.bump(full);
                inner.l1.delete_now(full);
            }
            Ok(false) => {}
            Err(error) => tracing::warn!(key = full, %error, "could not remove corrupt entry"),
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

    /// Copies an L2 entry into L1, unless a write to the key raced the read.
    fn fill_l1(&self, full: &str, entry: Entry, before_read: EpochMark) {
        let inner = &*self.inner;
        if !inner.l1_trusted.load(SeqCst) {
            // Not hearing other processes' invalidations now: a copy could go stale unseen.
            return;
        }
        inner.l1.set_now(full, entry);
        if inner.epochs.mark(full) != before_read {
            // A writer finished its L2 write after our read began: what we copied may be
            // older than L2 now. Dropping it costs one miss; keeping it could serve stale.
            inner.l1.delete_now(full);
        }
    }

    /// Whether a live entry exists (does not count as a read in stats).
    pub async fn exists(&self, namespace: &str, key: &str) -> Result<bool> {
        Ok(self.ttl(namespace, key).await?.is_some())
    }

    /// Time left before the entry expires; `None` if it is absent.
    pub async fn ttl(&self, namespace: &str, key: &str) -> Result<Option<Duration>> {
        Ok(self
            .peek_entry(namespace, key)
            .await?
            .and_then(|entry| entry.remaining_at(self.inner.clock.now_ms())))
    }

    /// Reads many typed values of one namespace; `None` where a key is missing.
    pub async fn mget<T: DeserializeOwned>(
        &self,
        namespace: &str,
        keys: &[impl AsRef<str>],
    ) -> Result<Vec<Option<T>>> {
        self.mget_entries(namespace, keys)
            .await?
            .into_iter()
            .map(|found| found.map(|e| codec::decode(&e.value)).transpose())
            .collect()
    }

    /// Reads many raw values of one namespace; `None` where a key is missing.
    pub async fn mget_raw(
        &self,
        namespace: &str,
        keys: &[impl AsRef<str>],
    ) -> Result<Vec<Option<Bytes>>> {
        Ok(self
            .mget_entries(namespace, keys)
            .await?
            .into_iter()
            .map(|found| found.map(|e| e.value))
            .collect())
    }

    /// Reads many entries: L1 first, then one `get_many` on L2 for what L1 lacked.
    pub async fn mget_entries(
        &self,
        namespace: &str,
        keys: &[impl AsRef<str>],
    ) -> Result<Vec<Option<Entry>>> {
        let inner = &*self.inner;
        let full_keys: Vec<String> = keys
            .iter()
            .map(|k| full_key(namespace, k.as_ref()))
            .collect::<Result<_>>()?;
        let mut found: Vec<Option<Entry>> = full_keys.iter().map(|k| inner.l1.get_now(k)).collect();
        let l1_hits = found.iter().filter(|f| f.is_some()).count() as u64;
        let mut l2_hits = 0;
        if let Some(l2) = &inner.l2 {
            let missing: Vec<usize> = (0..found.len()).filter(|&i| found[i].is_none()).collect();
            if !missing.is_empty() {
                let missing_keys: Vec<&str> =
                    missing.iter().map(|&i| full_keys[i].as_str()).collect();
                let marks: Vec<EpochMark> =
                    missing_keys.iter().map(|k| inner.epochs.mark(k)).collect();
                let (generation, fill) = self.generation_for_read(namespace).await;
                match l2.get_many(&missing_keys).await {
                    Ok(entries) => {
                        for ((&i, entry), mark) in missing.iter().zip(entries).zip(marks) {
                            if let Some(entry) = self.current(namespace, generation, entry) {
                                if fill {
                                    self.fill_l1(&full_keys[i], entry.clone(), mark);
                                }
                                found[i] = Some(entry);
                                l2_hits += 1;
                            }
                        }
                    }
                    Err(Error::Corrupt(_)) => {
                        // One bad entry spoils a batch read; read one by one to find it.
                        for (&i, mark) in missing.iter().zip(marks) {
                            let entry = self
                                .l2_read(namespace, &full_keys[i], l2.get(&full_keys[i]).await)
                                .await;
                            if let Some(entry) = self.current(namespace, generation, entry) {
                                if fill {
                                    self.fill_l1(&full_keys[i], entry.clone(), mark);
                                }
                                found[i] = Some(entry);
                                l2_hits += 1;
                            }
                        }
                    }
                    Err(error) => self.l2_failed(namespace, missing_keys[0], error).await,
                }
            }
        }
        let misses = found.len() as u64 - l1_hits - l2_hits;
        inner.stats.record(namespace, Event::L1Hit, l1_hits);
        inner.stats.record(namespace, Event::L2Hit, l2_hits);
        inner.stats.record(namespace, Event::Miss, misses);
        Ok(found)
    }

    // ----- writes ------------------------------------------------------------------------

    /// Stores a typed value with the default TTL.
    pub async fn set<T: Serialize + ?Sized>(
        &self,
        namespace: &str,
        key: &str,
        value: &T,
    ) -> Result<()> {
        self.set_with(namespace, key, value, SetOptions::new())
            .await
    }

    /// Stores a typed value with options (TTL, compute time).
    pub async fn set_with<T: Serialize + ?Sized>(
        &self,
        namespace: &str,
        key: &str,
        value: &T,
        options: SetOptions,
    ) -> Result<()> {
        let bytes = codec::encode(value)?;
        self.set_raw(namespace, key, bytes, options).await
    }

    /// Stores raw bytes.
    pub async fn set_raw(
        &self,
        namespace: &str,
        key: &str,
        value: impl Into<Bytes>,
        options: SetOptions,
    ) -> Result<()> {
        let full = full_key(namespace, key)?;
        let entry = self.entry_for(value.into(), &options)?;
        self.write_entries(namespace, vec![(full, entry)], &options, L2Down::Fail)
            .await
    }

    /// Stores many typed values in one namespace with the same options; on the disk tier
    /// they land in one atomic batch.
    pub async fn mset<T: Serialize>(
        &self,
        namespace: &str,
        items: &[(impl AsRef<str>, T)],
        options: SetOptions,
    ) -> Result<()> {
        let mut encoded = Vec::with_capacity(items.len());
        for (key, value) in items {
            encoded.push((key.as_ref(), codec::encode(value)?));
        }
        self.mset_raw(namespace, encoded, options).await
    }

    /// Stores many raw values (bytes as [`codec::encode`] writes them) in one namespace
    /// with the same options; on the disk tier they land in one atomic batch.
    pub async fn mset_raw(
        &self,
        namespace: &str,
        items: impl IntoIterator<Item = (impl AsRef<str>, Bytes)>,
        options: SetOptions,
    ) -> Result<()> {
        let mut entries = Vec::new();
        for (key, value) in items {
            let full = full_key(namespace, key.as_ref())?;
            entries.push((full, self.entry_for(value, &options)?));
        }
        self.write_entries(namespace, entries, &options, L2Down::Fail)
            .await
    }

    pub(crate) fn entry_for(&self, value: Bytes, options: &SetOptions) -> Result<Entry> {
        let ttl = options.ttl.unwrap_or(self.inner.default_ttl);
        check_ttl(ttl)?;
        let mut entry = Entry::new_at(value, ttl, self.inner.clock.now_ms());
        if let Some(took) = options.compute_time {
            entry.compute_ms = u32::try_from(took.as_millis()).unwrap_or(u32::MAX);
        }
        Ok(entry)
    }

    pub(crate) async fn write_entries(
        &self,
        namespace: &str,
        mut entries: Vec<(String, Entry)>,
        options: &SetOptions,
        l2_down: L2Down,
    ) -> Result<()> {
        let inner = &*self.inner;
        let tags = self.tags_for(options)?;
        // A key given twice: the later value wins, as if written one after the other.
        // (Within one storage batch the engine's choice would be unspecified.)
        if entries.len() > 1 {
            let mut seen = HashSet::with_capacity(entries.len());
            let mut deduped: Vec<(String, Entry)> = entries
                .into_iter()
                .rev()
                .filter(|(k, _)| seen.insert(k.clone()))
                .collect();
            deduped.reverse();
            entries = deduped;
        }
        // Marked before the generation is read: a clear that lands between the read and the
        // write is then seen below, and the copy kept out of L1.
        let before = inner.epochs.mark("");
        let generation = self.generation_of(namespace).await;
        let keys: Vec<String> = entries.iter().map(|(k, _)| k.clone()).collect();
        let mut tagged = Ok(());
        {
            let _locks = inner.epochs.lock(keys.iter().map(String::as_str)).await;
            // Generation unknown (its counter's node is down): write as generation 0. If the
            // namespace was cleared before, readers that know better see nothing (a miss, not
            // a stale value); this process keeps no L1 copy of what it cannot place.
            let (generation, placed) = match generation {
                Ok(generation) => (generation, true),
                Err(error) => {
                    inner.stats.record(namespace, Event::Error, 1);
                    self.warn_l2(
                        &keys[0],
                        &error,
                        "namespace generation unknown; writing as generation 0",
                    );
                    (0, false)
                }
            };
            for (_, entry) in &mut entries {
                entry.generation = generation;
            }
            if let Some(l2) = &inner.l2 {
                if let Err(error) = l2.set_many(&entries).await {
                    inner.stats.record(namespace, Event::Error, 1);
                    if l2_down == L2Down::KeepInL1 && matches!(error, Error::Unavailable { .. }) {
                        // Degraded: L2 is down or slow. Keep serving this computed value
                        // from L1 (this process's view); the error is counted and logged.
                        // When L2 answers again, L1 is flushed (see `listen`).
                        self.warn_l2(
                            &keys[0],
                            &error,
                            "L2 unavailable; computed value kept in L1 only",
                        );
                        let count = entries.len() as u64;
                        for (full, entry) in entries {
                            inner.epochs.bump(&full);
                            inner.l1.set_now(&full, entry);
                        }
                        inner.stats.record(namespace, Event::Set, count);
                        return Ok(());
                    }
                    // L2 may hold the old or the new value now (a timeout may have landed):
                    // keep neither in L1, and tell the caller nothing was stored.
                    for full in &keys {
                        inner.epochs.bump(full);
                        inner.l1.delete_now(full);
                    }
                    return Err(error);
                }
            }
            let trusted = placed && inner.l1_trusted.load(SeqCst);
            let count = entries.len() as u64;
            let mut rows = Vec::new();
            for (full, entry) in entries {
                inner.epochs.bump(&full);
                if !tags.is_empty() {
                    rows.push(TagRow {
                        key: full.clone(),
                        tags: tags.clone(),
                        expires_at_ms: entry.expires_at_ms,
                    });
                }
                if trusted {
                    inner.l1.set_now(&full, entry);
                } else {
                    inner.l1.delete_now(&full);
                }
                // A clear that ran during our L2 write may have removed the value there;
                // check after writing L1 (not before) so a clear landing in between is seen.
                if inner.epochs.cleared_since(before) {
                    inner.l1.delete_now(&full);
                }
            }
            inner.stats.record(namespace, Event::Set, count);
            if !rows.is_empty() {
                tagged = self.tag_index().add_tags(&rows).await;
            }
        }
        // Outside the key locks: dependents may share a lock stripe with these keys. Runs
        // even if indexing the tags failed: the write itself landed.
        self.cascade(keys).await?;
        tagged
    }

    /// The validated tags of a write, dependency tags included.
    fn tags_for(&self, options: &SetOptions) -> Result<Vec<String>> {
        if (!options.tags.is_empty() || !options.depends_on.is_empty())
            && !self.tag_index().supports_tags()
        {
            return Err(Error::Unsupported("tags on this L2 store"));
        }
        let mut tags = Vec::with_capacity(options.tags.len() + options.depends_on.len());
        for tag in &options.tags {
            validate_tag(tag)?;
            tags.push(tag.clone());
        }
        if !options.depends_on.is_empty() && !self.inner.dependencies {
            return Err(Error::Config(
                "depends_on needs dependency tracking: build the cache with .dependencies(true)"
                    .into(),
            ));
        }
        for dependency in &options.depends_on {
            let (namespace, key) =
                dependency
                    .split_once(SEPARATOR)
                    .ok_or_else(|| Error::InvalidKey {
                        key: crate::error::clip(dependency),
                        reason: "a dependency is a full key: namespace:key",
                    })?;
            full_key(namespace, key)?;
            tags.push(dependency_tag(dependency));
        }
        Ok(tags)
    }

    /// Where tags are indexed: in L2 when there is one (so every process sees them), else
    /// in L1.
    fn tag_index(&self) -> &dyn Store {
        match &self.inner.l2 {
            Some(l2) => l2.as_ref(),
            None => &self.inner.l1,
        }
    }

    /// Removes the entries that depend on `changed` keys, and theirs in turn. Each key is
    /// visited once, so a cycle of dependencies ends.
    async fn cascade(&self, changed: Vec<String>) -> Result<u64> {
        if !self.inner.dependencies {
            return Ok(0);
        }
        let mut visited: HashSet<String> = changed.iter().cloned().collect();
        let mut frontier = changed;
        let mut removed = 0;
        while let Some(key) = frontier.pop() {
            let tag = dependency_tag(&key);
            let dependents = self.tag_index().tagged(&tag).await?;
            if dependents.is_empty() {
                continue;
            }
            let fresh: Vec<String> = dependents
                .iter()
                .filter(|d| visited.insert((*d).clone()))
                .cloned()
                .collect();
            // Un-index first: a dependent rewritten meanwhile re-indexes itself after this.
            self.tag_index().untag(&tag, &dependents).await?;
            removed += self.remove_keys(&fresh, Cause::Dependency(key)).await?;
            frontier.extend(fresh);
        }
        Ok(removed)
    }

    /// Removes full keys from every tier and tells the listeners; returns how many existed.
    async fn remove_keys(&self, keys: &[String], cause: Cause) -> Result<u64> {
        if keys.is_empty() {
            return Ok(0);
        }
        let inner = &*self.inner;
        let removed = {
            let _locks = inner.epochs.lock(keys.iter().map(String::as_str)).await;
            let from_l2 = match &inner.l2 {
                Some(l2) => Some(l2.delete_many(keys).await),
                None => None,
            };
            let mut from_l1 = 0;
            for key in keys {
                inner.epochs.bump(key);
                from_l1 += u64::from(inner.l1.delete_now(key));
            }
            from_l2.transpose()?.unwrap_or(from_l1)
        };
        self.emit(cause, keys.to_vec(), removed);
        Ok(removed)
    }

    /// Runs the invalidation callbacks on this thread (also for snapshots attached to
    /// this cache).
    pub(crate) fn emit(&self, cause: Cause, keys: Vec<String>, count: u64) {
        let listeners = &self.inner.listeners;
        if listeners.is_empty() {
            return;
        }
        listeners.emit(&Invalidation {
            cause,
            keys,
            count,
            origin: Origin::Local,
        });
    }

    /// Removes every entry carrying any of `tags`, in every tier; returns how many went.
    ///
    /// The tag index lives in L2 (Redis: one sorted set per tag, trimmed of expired entries
    /// as it is written and expiring with its last entry; disk: swept with expired
    /// entries), so every process sharing it sees the same tags.
    pub async fn invalidate_tags<S: AsRef<str>>(&self, tags: &[S]) -> Result<u64> {
        for tag in tags {
            validate_tag(tag.as_ref())?;
        }
        let mut removed = 0;
        for tag in tags {
            let tag = tag.as_ref();
            let keys = self.tag_index().tagged(tag).await?;
            // Un-index first: an entry re-tagged meanwhile keeps its new index row.
            self.tag_index().untag(tag, &keys).await?;
            removed += self.remove_keys(&keys, Cause::Tag(tag.to_owned())).await?;
            self.cascade(keys).await?;
        }
        Ok(removed)
    }

    /// The full keys (`namespace:key`) of the live entries carrying `tag`, in no order:
    /// how a caller enumerates what it stored under a tag (the semantic cache reloads a
    /// namespace this way).
    pub async fn tagged(&self, tag: &str) -> Result<Vec<String>> {
        validate_tag(tag)?;
        self.tag_index().tagged(tag).await
    }

    /// Entries in the tag index (live and not yet reclaimed), summed over tags.
    pub async fn tag_index_len(&self) -> Result<u64> {
        self.tag_index().tag_index_len().await
    }

    /// Calls `callback` on every invalidation: deletes, pattern and namespace clears, tag
    /// and dependency invalidations, here or (with Redis) in other processes, and swaps of
    /// [`Snapshot`](crate::Snapshot)s attached to this cache ([`Cause::Snapshot`],
    /// [`Cause::SnapshotUpdate`]). A callback
    /// that fails or panics is logged and the others still run.
    pub fn on_invalidate<F>(&self, callback: F) -> ListenerId
    where
        F: Fn(&Invalidation) -> std::result::Result<(), crate::events::CallbackError>
            + Send
            + Sync
            + 'static,
    {
        self.inner.listeners.add(Arc::new(callback))
    }

    /// Removes a callback; false if it was not registered.
    pub fn remove_listener(&self, id: ListenerId) -> bool {
        self.inner.listeners.remove(id)
    }

    /// Whether L1 is coherent with a shared L2: always without Redis; with Redis, while the
    /// invalidation listener is subscribed.
    pub fn is_coherent(&self) -> bool {
        self.inner.l1_trusted.load(SeqCst)
    }

    /// Waits up to `within` for [`Cache::is_coherent`]; returns whether it became so.
    pub async fn wait_coherent(&self, within: Duration) -> bool {
        let began = std::time::Instant::now();
        while !self.is_coherent() {
            if began.elapsed() >= within {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }

    /// Subscribes to other processes' invalidations when L2 is shared.
    fn start_listening(&self) {
        let Some(l2) = &self.inner.l2 else { return };
        let weak = Arc::downgrade(&self.inner);
        // Until subscribed, L1 must not take copies it could not hear about.
        self.inner.l1_trusted.store(false, SeqCst);
        let listening = l2.clone().listen(Arc::new(move |remote| {
            if let Some(inner) = weak.upgrade() {
                Cache { inner }.apply_remote(remote);
            }
        }));
        if !listening {
            self.inner.l1_trusted.store(true, SeqCst);
        }
    }

    /// Applies another process's invalidation (or a change in our view of them) to L1.
    fn apply_remote(&self, remote: Remote) {
        let inner = &*self.inner;
        let (cause, keys) = match remote {
            Remote::Overwritten(keys) | Remote::Deleted(keys) if keys.is_empty() => return,
            Remote::Overwritten(keys) => {
                Self::drop_l1_keys(inner, &keys);
                (Cause::Overwrite, keys)
            }
            Remote::Deleted(keys) => {
                Self::drop_l1_keys(inner, &keys);
                (Cause::Delete, keys)
            }
            Remote::Pattern(pattern) => {
                inner.epochs.bump_clears();
                match Glob::new(&pattern) {
                    Ok(glob) => {
                        inner.l1.delete_matching_now(&glob);
                    }
                    Err(_) => {
                        inner.l1.clear_now();
                    }
                }
                (Cause::Pattern(pattern), Vec::new())
            }
            Remote::Prefix(prefix) => {
                inner.epochs.bump_clears();
                inner.l1.delete_prefix_now(&prefix);
                let namespace = prefix.strip_suffix(SEPARATOR).unwrap_or(&prefix).to_owned();
                (Cause::Namespace(namespace), Vec::new())
            }
            Remote::All => {
                inner.epochs.bump_clears();
                inner.l1.clear_now();
                (Cause::All, Vec::new())
            }
            Remote::Generation(namespace, generation) => {
                let _ = self.note_generation(&namespace, generation);
                inner.epochs.bump_clears();
                inner
                    .l1
                    .delete_prefix_now(&format!("{namespace}{SEPARATOR}"));
                (Cause::Namespace(namespace), Vec::new())
            }
            Remote::Connected => {
                // Whatever was missed while not subscribed is gone from L1 with this flush,
                // and generations are re-read.
                inner
                    .generations
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .clear();
                inner.epochs.bump_clears();
                inner.l1.clear_now();
                inner.l1_trusted.store(true, SeqCst);
                return;
            }
            Remote::Lost => {
                inner.l1_trusted.store(false, SeqCst);
                inner.epochs.bump_clears();
                inner.l1.clear_now();
                return;
            }
        };
        if !inner.listeners.is_empty() {
            // Not on the listener's thread: a slow or blocking callback must not stall it.
            inner.listeners.emit_in_background(Invalidation {
                cause,
                keys,
                count: 0,
                origin: Origin::Remote,
            });
        }
    }

    fn drop_l1_keys(inner: &Inner, keys: &[String]) {
        for key in keys {
            inner.epochs.bump(key);
            inner.l1.delete_now(key);
        }
    }

    /// Removes one entry; true if it existed. Dependents go too (with dependency tracking).
    pub async fn delete(&self, namespace: &str, key: &str) -> Result<bool> {
        let inner = &*self.inner;
        let full = full_key(namespace, key)?;
        // After a namespace clear, L2 may still hold an entry of an older generation: it does
        // not count as existing. Only then is it worth a look before deleting.
        let cleared_before = self.generation_of(namespace).await.map_or(true, |g| g > 0);
        let live_before = if cleared_before {
            self.peek_entry(namespace, key).await?.is_some()
        } else {
            true
        };
        let existed = {
            let _lock = inner.epochs.lock(std::iter::once(full.as_str())).await;
            let in_l2 = match &inner.l2 {
                Some(l2) => match l2.delete(&full).await {
                    Ok(existed) => existed,
                    Err(error) => {
                        inner.stats.record(namespace, Event::Error, 1);
                        inner.epochs.bump(&full);
                        inner.l1.delete_now(&full);
                        return Err(error);
                    }
                },
                None => false,
            };
            inner.epochs.bump(&full);
            let in_l1 = inner.l1.delete_now(&full);
            (in_l2 || in_l1) && live_before
        };
        if existed {
            inner.stats.record(namespace, Event::Delete, 1);
            self.emit(Cause::Delete, vec![full.clone()], 1);
        }
        self.cascade(vec![full]).await?;
        Ok(existed)
    }

    /// Removes every entry whose full key (`{namespace}:{key}`) matches a glob such as
    /// `model:metrics:*` (Redis `SCAN MATCH` syntax); returns how many went. The count
    /// includes entries a [`Cache::clear_namespace`] had already made unreadable but that
    /// were still waiting for their TTL.
    pub async fn delete_pattern(&self, pattern: &str) -> Result<u64> {
        let glob = Glob::new(pattern)?;
        let inner = &*self.inner;
        let from_l2 = match &inner.l2 {
            Some(l2) => Some(l2.delete_matching(&glob).await),
            None => None,
        };
        // Purge L1 even when L2 failed part-way: what L2 lost, L1 must not keep serving.
        inner.epochs.bump_clears();
        let from_l1 = inner.l1.delete_matching_now(&glob);
        let removed = from_l2.transpose().map(|n| n.unwrap_or(from_l1))?;
        self.emit(Cause::Pattern(pattern.to_owned()), Vec::new(), removed);
        Ok(removed)
    }

    /// Removes every entry of a namespace, in O(1): the namespace moves to a new generation
    /// (a counter in L2) and entries written under older generations read as absent from
    /// then on, in every process; they are reclaimed when their TTL runs out. This
    /// process's L1 drops its copies at once, other processes' when they hear of it.
    ///
    /// `delete_pattern("{namespace}:*")` removes them physically instead (and counts them).
    pub async fn clear_namespace(&self, namespace: &str) -> Result<()> {
        validate_namespace(namespace)?;
        let inner = &*self.inner;
        let prefix = format!("{namespace}{SEPARATOR}");
        let bumped = match self.tag_index().bump_generation(namespace).await {
            Ok(generation) => Ok(Some(generation)),
            // A custom store without generations: remove the entries one by one instead.
            Err(Error::Unsupported(_)) => match &inner.l2 {
                Some(l2) => l2.delete_prefix(&prefix).await.map(|_| None),
                None => Ok(None),
            },
            Err(error) => Err(error),
        };
        // Purge L1 even when L2 failed: what L2 may have cleared, L1 must not keep serving.
        if let Ok(Some(generation)) = &bumped {
            self.note_generation(namespace, *generation);
        }
        inner.epochs.bump_clears();
        inner.l1.delete_prefix_now(&prefix);
        bumped?;
        self.emit(Cause::Namespace(namespace.to_owned()), Vec::new(), 0);
        Ok(())
    }

    /// The current generation of `namespace`: cached, re-read from L2 once the cached copy
    /// is older than L1's maximum age (a lost message cannot leave it stale for longer).
    async fn generation_of(&self, namespace: &str) -> Result<u32> {
        let inner = &*self.inner;
        let now = inner.clock.now_ms();
        let cached = inner
            .generations
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(namespace)
            .copied();
        if let Some((generation, read_at)) = cached {
            if now.saturating_sub(read_at) < inner.generation_max_age_ms {
                return Ok(generation);
            }
        }
        match self.tag_index().generation(namespace).await {
            Ok(generation) => Ok(self.note_generation(namespace, generation)),
            // Unknown: better a miss (or an L1-only write) than an entry a clear removed.
            Err(error) => match cached {
                Some((generation, _)) => {
                    self.warn_l2(
                        namespace,
                        &error,
                        "namespace generation not re-read; using the last seen",
                    );
                    Ok(generation)
                }
                None => Err(error),
            },
        }
    }

    /// The generation to read `namespace` at, and whether L1 may keep what is read. When the
    /// generation cannot be read (the node holding its counter is down), entries are served
    /// as they are (a clear may be missed, which is logged and counted) but not copied into
    /// L1: availability of the other nodes' data wins over a clear that cannot be checked.
    async fn generation_for_read(&self, namespace: &str) -> (u32, bool) {
        match self.generation_of(namespace).await {
            Ok(generation) => (generation, true),
            Err(error) => {
                self.inner.stats.record(namespace, Event::Error, 1);
                self.warn_l2(
                    namespace,
                    &error,
                    "namespace generation unknown; reading without the check",
                );
                (0, false)
            }
        }
    }

    /// Records a generation seen for `namespace` (never going back: messages and reads may
    /// arrive out of order) and returns the one now in force.
    fn note_generation(&self, namespace: &str, generation: u32) -> u32 {
        let mut generations = self
            .inner
            .generations
            .write()
            .unwrap_or_else(|p| p.into_inner());
        // Bounded like the stats table: a caller making namespaces from input cannot grow it.
        if generations.len() >= crate::stats::MAX_TRACKED_NAMESPACES
            && !generations.contains_key(namespace)
        {
            generations.clear();
        }
        let known = generations.get(namespace).map_or(0, |(g, _)| *g);
        let current = known.max(generation);
        generations.insert(namespace.to_owned(), (current, self.inner.clock.now_ms()));
        current
    }

    /// An L2 entry if it belongs to the namespace's current generation (a newer one means our
    /// cached generation is behind: it is updated).
    fn current(&self, namespace: &str, generation: u32, entry: Option<Entry>) -> Option<Entry> {
        let entry = entry?;
        if entry.generation < generation {
            return None;
        }
        if entry.generation > generation {
            let _ = self.note_generation(namespace, entry.generation);
        }
        Some(entry)
    }

    /// Removes everything; returns how many entries went.
    pub async fn clear_all(&self) -> Result<u64> {
        let inner = &*self.inner;
        let from_l2 = match &inner.l2 {
            Some(l2) => Some(l2.clear().await),
            None => None,
        };
        // Purge L1 even when L2 failed part-way: what L2 lost, L1 must not keep serving.
        inner.epochs.bump_clears();
        let from_l1 = inner.l1.clear_now();
        let removed = from_l2.transpose().map(|n| n.unwrap_or(from_l1))?;
        self.emit(Cause::All, Vec::new(), removed);
        Ok(removed)
    }

    /// Makes every acknowledged write durable (fsync on the disk tier).
    pub async fn flush(&self) -> Result<()> {
        match &self.inner.l2 {
            Some(l2) => l2.flush().await,
            None => Ok(()),
        }
    }

    /// Moves the expiry of a live entry to `expires_at_ms` in every tier; false if absent.
    pub(crate) async fn extend(
        &self,
        namespace: &str,
        key: &str,
        expires_at_ms: u64,
    ) -> Result<bool> {
        let inner = &*self.inner;
        let full = full_key(namespace, key)?;
        let _lock = inner.epochs.lock(std::iter::once(full.as_str())).await;
        let extended = match &inner.l2 {
            Some(l2) => l2.touch(&full, expires_at_ms).await?,
            None => false,
        };
        inner.epochs.bump(&full);
        let in_l1 = inner.l1.touch_now(&full, expires_at_ms);
        Ok(extended || in_l1)
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    /// Counts a hit on `full` for adaptive TTLs; returns the new count.
    pub(crate) fn count_hit(&self, full: &str) -> u64 {
        let counter = self
            .inner
            .hits
            .get_or_insert_with(full, || {
                Ok::<_, std::convert::Infallible>(Arc::new(AtomicU64::new(0)))
            })
            .unwrap_or_else(|never| match never {});
        counter.fetch_add(1, SeqCst) + 1
    }

    /// Hits counted on `full` so far.
    pub(crate) fn hit_count(&self, full: &str) -> u64 {
        self.inner.hits.get(full).map_or(0, |c| c.load(SeqCst))
    }

    /// Where leases live: L2 if it can hold them (Redis), else this process.
    pub(crate) fn lock_backend(&self) -> Option<LockBackend> {
        Some(match &self.inner.l2 {
            Some(l2) if l2.supports_locks() => LockBackend::Store(l2.clone()),
            _ => LockBackend::Local(self.inner.local_locks.clone()),
        })
    }

    /// Takes the lease `name` for `lease` if nobody holds it; `None` if somebody does.
    ///
    /// On Redis the lease is seen by every process sharing it; otherwise by this process
    /// only. The guard renews the lease while it lives. See [`crate::lock`] for what a
    /// lease does and does not guarantee.
    pub async fn lock(&self, name: &str, lease: Duration) -> Result<Option<LockGuard>> {
        crate::key::validate_key(name)?;
        let Some(backend) = self.lock_backend() else {
            return Ok(None);
        };
        LockGuard::try_acquire(backend, name, lease).await
    }

    /// Like [`Cache::lock`], retrying until the lease is free or `wait` has passed.
    pub async fn lock_wait(
        &self,
        name: &str,
        lease: Duration,
        wait: Duration,
    ) -> Result<Option<LockGuard>> {
        let began = std::time::Instant::now();
        let mut pause = Duration::from_millis(5);
        loop {
            if let Some(guard) = self.lock(name, lease).await? {
                return Ok(Some(guard));
            }
            if began.elapsed() >= wait {
                return Ok(None);
            }
            tokio::time::sleep(pause.min(wait.saturating_sub(began.elapsed()))).await;
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }

    // ----- stats -------------------------------------------------------------------------

    /// Counts since the cache was built, and what each tier holds now. A tier that does not
    /// answer is reported with `available: false` rather than failing the call.
    pub async fn stats(&self) -> Result<Stats> {
        let inner = &*self.inner;
        let namespaces = inner.stats.snapshot();
        let mut totals = NamespaceStats::default();
        for counts in namespaces.values() {
            totals.accumulate(counts);
        }
        let l1 = inner.l1.usage_now();
        let mut tiers = vec![tier_stats("memory", l1, true)];
        let mut truth = l1;
        if let Some(l2) = &inner.l2 {
            match l2.usage().await {
                Ok(usage) => {
                    tiers.push(tier_stats(l2.name(), usage, true));
                    truth = usage;
                }
                Err(error) => {
                    self.warn_l2("", &error, "L2 did not report its usage");
                    tiers.push(tier_stats(l2.name(), Usage::default(), false));
                }
            }
        }
        Ok(Stats {
            totals,
            available: tiers.iter().all(|t| t.available),
            evictions: tiers.iter().map(|t| t.evictions).sum(),
            expirations: truth.expirations,
            used_memory: l1.bytes,
            total_keys: truth.entries,
            namespaces,
            tiers,
        })
    }
}

fn tier_stats(name: &str, usage: Usage, available: bool) -> TierStats {
    TierStats {
        available,
        name: name.to_owned(),
        entries: usage.entries,
        bytes: usage.bytes,
        evictions: usage.evictions,
        expirations: usage.expirations,
    }
}

/// Escapes a namespace or key for use inside a [`Cache::delete_pattern`] glob.
pub fn escape_pattern(text: &str) -> String {
    glob::escape(text)
}
