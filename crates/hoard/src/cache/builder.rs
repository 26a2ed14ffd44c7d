//! [`CacheBuilder`]: the tiers a [`Cache`] runs on, opened once.

use super::epochs::WriteEpochs;
use super::options::check_ttl;
use super::{Cache, Inner, DEFAULT_L1_MAX_AGE_SHARED, DEFAULT_MEMORY_BYTES, DEFAULT_TTL};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::events::Listeners;
use crate::flight::Flights;
use crate::lock::LocalLocks;
use crate::stats::StatsRegistry;
#[cfg(feature = "redis")]
use crate::store::RedisConfig;
use crate::store::{DiskConfig, MemoryStore, Store};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    #[cfg(feature = "redis")]
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

    /// Uses Redis (standalone or cluster) as L2 (feature `redis`, on by default).
    #[cfg(feature = "redis")]
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
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use hoard::{Cache, ManualClock, SetOptions};
    /// use std::time::Duration;
    ///
    /// let clock = ManualClock::new();
    /// let cache = Cache::builder().clock(clock.clock()).build()?;
    /// cache.set_with("ns", "k", &1, SetOptions::new().ttl(Duration::from_secs(60))).await?;
    /// clock.advance(Duration::from_secs(61));
    /// assert_eq!(cache.get::<i32>("ns", "k").await?, None);
    /// # Ok::<(), hoard::Error>(()) }).unwrap();
    /// ```
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
            #[cfg(feature = "redis")]
            L2Choice::Redis(config) => Some(Arc::new(config.clock(self.clock.clone()).open()?)),
            L2Choice::Store(store) => Some(store),
        };
        if self.dependencies && l2.as_ref().is_some_and(|l2| l2.as_tag_index().is_none()) {
            return Err(Error::Config(
                "dependency tracking needs an L2 that indexes tags (memory, disk or Redis)".into(),
            ));
        }
        // Shared with other processes: their changes are heard on the tier's invalidation
        // channel, and L1 copies get a maximum age in case a message is lost.
        let shared = l2
            .as_ref()
            .is_some_and(|l2| l2.clone().as_invalidations().is_some());
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
                warming: super::warm::Registry::default(),
                backing: super::backing::Registry::default(),
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
