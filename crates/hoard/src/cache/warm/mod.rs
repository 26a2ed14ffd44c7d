//! Cache warming: a namespace registered with [`Cache::warm_with`] and a loader (what a
//! miss would compute) starts warm and stays warm.
//!
//! - **Popularity survives restarts.** Reads of the namespace are counted per key (a
//!   bounded map; counts halve at every save so old favourites fade) and the hottest keys
//!   are saved in L2 every [`WarmOptions::record_every`] and at [`Cache::flush`], under a
//!   key no namespace can name (`:popular:{namespace}`), so the disk tier or Redis hands
//!   them to the next process.
//! - **Start-up warm.** At registration, the saved hottest keys are brought into L1: from
//!   L2 where they still are, from the loader where they expired; at most
//!   [`WarmOptions::keys`] of them and for at most [`WarmOptions::within`], logged when
//!   done and counted in [`Cache::warm_stats`].
//! - **Refresh-ahead.** Every [`WarmOptions::refresh_every`], the popular keys whose entry
//!   is about to expire (XFetch's draw says so, or less than three passes are left) are
//!   loaded again before they do, so a key read steadily never misses; one that is gone
//!   (expired, evicted, deleted) is loaded back.

mod popularity;

use super::{Cache, Inner, SetOptions};
use crate::codec;
use crate::entry::Entry;
use crate::error::{Error, Result};
use crate::key::validate_namespace;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use popularity::{Popularity, Saved};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

/// How long the saved popularity of a namespace is kept in L2.
const SAVED_FOR: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// How [`Cache::warm_with`] warms a namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct WarmOptions {
    keys: usize,
    within: Duration,
    refresh_every: Duration,
    record_every: Duration,
    ttl: Option<Duration>,
}

impl Default for WarmOptions {
    fn default() -> Self {
        WarmOptions {
            keys: 1000,
            within: Duration::from_secs(30),
            refresh_every: Duration::from_secs(1),
            record_every: Duration::from_secs(30),
            ttl: None,
        }
    }
}

impl WarmOptions {
    /// Warm the 1,000 hottest keys within 30 s at start, refresh every second, save the
    /// popularity every 30 s; loaded values get the cache's default TTL.
    pub fn new() -> WarmOptions {
        WarmOptions::default()
    }

    /// The most keys warmed at start and kept fresh (default 1,000).
    pub fn keys(mut self, keys: usize) -> WarmOptions {
        self.keys = keys.max(1);
        self
    }

    /// The longest the start-up warm may take (default 30 s); what is left stays cold.
    pub fn within(mut self, within: Duration) -> WarmOptions {
        self.within = within;
        self
    }

    /// How often the popular keys are checked for refresh-ahead (default 1 s).
    pub fn refresh_every(mut self, every: Duration) -> WarmOptions {
        self.refresh_every = every.max(Duration::from_millis(10));
        self
    }

    /// How often the popularity is saved in L2 (default 30 s; also at [`Cache::flush`]).
    pub fn record_every(mut self, every: Duration) -> WarmOptions {
        self.record_every = every.max(Duration::from_millis(10));
        self
    }

    /// The TTL of values the loader produces (default: the cache's default TTL).
    pub fn ttl(mut self, ttl: Duration) -> WarmOptions {
        self.ttl = Some(ttl);
        self
    }
}

/// What warming did for one namespace, since it was registered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WarmStats {
    /// Whether the start-up warm has finished.
    pub started: bool,
    /// Saved hot keys still in L2, brought into L1 at start.
    pub warmed_from_l2: u64,
    /// Saved hot keys the loader produced again at start (they had expired).
    pub loaded_at_start: u64,
    /// Saved hot keys the loader failed on at start.
    pub failed_at_start: u64,
    /// Saved hot keys left cold because the start-up warm ran out of time.
    pub skipped_at_start: u64,
    /// How long the start-up warm took, in milliseconds.
    pub start_ms: u64,
    /// Entries loaded again before they expired (or after they went), by refresh-ahead.
    pub refreshed_ahead: u64,
    /// Refresh-ahead loads that failed (the entry stays as it was).
    pub refresh_failures: u64,
    /// Keys whose reads are counted now.
    pub tracked_keys: u64,
    /// Times the popularity was saved in L2.
    pub saves: u64,
}

/// A loader as kept: the key in, the encoded value out.
type Loader =
    Arc<dyn Fn(String) -> BoxFuture<'static, std::result::Result<Bytes, String>> + Send + Sync>;

/// One warmed namespace.
struct Warmed {
    options: WarmOptions,
    loader: Loader,
    popularity: Popularity,
    stats: Mutex<WarmStats>,
    /// Set when the start-up warm has finished.
    started: tokio::sync::watch::Sender<bool>,
}

impl Warmed {
    fn stats(&self) -> std::sync::MutexGuard<'_, WarmStats> {
        self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The warmed namespaces of a cache; reads are counted only for them.
#[derive(Default)]
pub(crate) struct Registry {
    any: AtomicBool,
    namespaces: RwLock<HashMap<String, Arc<Warmed>>>,
}

impl Registry {
    /// Counts a read of `namespace:key` if the namespace is warmed: one relaxed load when
    /// no namespace is.
    pub(crate) fn note(&self, namespace: &str, key: &str) {
        if !self.any.load(Relaxed) {
            return;
        }
        let namespaces = self
            .namespaces
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(warmed) = namespaces.get(namespace) {
            warmed.popularity.note(key);
        }
    }

    fn get(&self, namespace: &str) -> Option<Arc<Warmed>> {
        self.namespaces
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(namespace)
            .cloned()
    }

    fn all(&self) -> Vec<(String, Arc<Warmed>)> {
        self.namespaces
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(ns, w)| (ns.clone(), w.clone()))
            .collect()
    }
}

/// The L2 key of a namespace's saved popularity: it starts with the separator, so no
/// namespace names it (namespaces are never empty) and no listing shows it.
fn saved_key(namespace: &str) -> String {
    format!(":popular:{namespace}")
}

impl Cache {
    /// Warms `namespace` with `loader`, which produces the value of a key as a miss would
    /// (see the module docs): the saved hottest keys are brought into L1 now, in the
    /// background, and the popular keys are refreshed ahead of their expiry from then on,
    /// while the cache lives. Reads of the namespace are counted per key from now on.
    /// A namespace is warmed once; registering it again is an error.
    pub fn warm_with<T, E, F, Fut>(
        &self,
        namespace: &str,
        options: WarmOptions,
        loader: F,
    ) -> Result<()>
    where
        T: Serialize,
        E: std::fmt::Display,
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<T, E>> + Send + 'static,
    {
        let loader = Arc::new(loader);
        self.warm_with_raw(namespace, options, move |key| {
            let future = loader(key);
            async move {
                let value = future.await.map_err(|e| e.to_string())?;
                codec::encode(&value).map_err(|e| e.to_string())
            }
        })
    }

    /// [`Cache::warm_with`] for a loader that produces the stored bytes itself (as
    /// [`Cache::set_raw`] takes them): the Python package's, which encodes with its own
    /// serializer.
    pub fn warm_with_raw<E, F, Fut>(
        &self,
        namespace: &str,
        options: WarmOptions,
        loader: F,
    ) -> Result<()>
    where
        E: std::fmt::Display,
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<Bytes, E>> + Send + 'static,
    {
        validate_namespace(namespace)?;
        let loader = Arc::new(loader);
        let loader: Loader = Arc::new(move |key| {
            let future = loader(key);
            Box::pin(async move { future.await.map_err(|e| e.to_string()) })
        });
        let warmed = Arc::new(Warmed {
            popularity: Popularity::new(options.keys.saturating_mul(4).max(1000)),
            options,
            loader,
            stats: Mutex::new(WarmStats::default()),
            started: tokio::sync::watch::channel(false).0,
        });
        {
            let registry = &self.inner().warming;
            let mut namespaces = registry
                .namespaces
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            if namespaces.contains_key(namespace) {
                return Err(Error::Config(format!(
                    "namespace {namespace:?} is warmed already"
                )));
            }
            namespaces.insert(namespace.to_owned(), warmed.clone());
            registry.any.store(true, Relaxed);
        }
        let cache = Arc::downgrade(self.inner_arc());
        let namespace = namespace.to_owned();
        crate::runtime::spawn(keep_warm(cache, namespace, warmed));
        Ok(())
    }

    /// Waits up to `within` for the start-up warm of `namespace` to finish; returns whether
    /// it has (`false` too for a namespace not warmed).
    pub async fn warm_started(&self, namespace: &str, within: Duration) -> bool {
        let Some(warmed) = self.inner().warming.get(namespace) else {
            return false;
        };
        let mut started = warmed.started.subscribe();
        tokio::time::timeout(within, started.wait_for(|done| *done))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// What warming did, per warmed namespace.
    pub fn warm_stats(&self) -> BTreeMap<String, WarmStats> {
        self.inner()
            .warming
            .all()
            .into_iter()
            .map(|(ns, warmed)| {
                let mut stats = warmed.stats().clone();
                stats.tracked_keys = warmed.popularity.len() as u64;
                (ns, stats)
            })
            .collect()
    }

    /// Saves the hottest keys of every warmed namespace in L2 now (done every
    /// [`WarmOptions::record_every`] and by [`Cache::flush`]); nothing to do without L2.
    pub async fn save_popularity(&self) -> Result<()> {
        for (namespace, warmed) in self.inner().warming.all() {
            self.save_one(&namespace, &warmed).await?;
        }
        Ok(())
    }

    /// One refresh-ahead pass over `namespace` now (the background runs one every
    /// [`WarmOptions::refresh_every`]); returns how many entries it loaded again.
    pub async fn refresh_ahead_now(&self, namespace: &str) -> Result<u64> {
        let warmed = self
            .inner()
            .warming
            .get(namespace)
            .ok_or_else(|| Error::Config(format!("namespace {namespace:?} is not warmed")))?;
        Ok(self.refresh_pass(namespace, &warmed).await)
    }

    async fn save_one(&self, namespace: &str, warmed: &Warmed) -> Result<()> {
        let Some(l2) = self.l2() else {
            return Ok(());
        };
        let saved = Saved {
            keys: warmed.popularity.top(warmed.options.keys),
        };
        let entry = Entry::new_at(
            codec::encode(&saved)?,
            SAVED_FOR,
            self.inner().clock.now_ms(),
        );
        l2.set(&saved_key(namespace), entry).await?;
        warmed.stats().saves += 1;
        Ok(())
    }

    /// The saved hottest keys of `namespace`, hottest first; none without L2 or a list.
    async fn saved(&self, namespace: &str) -> Vec<(String, u64)> {
        let Some(l2) = self.l2() else {
            return Vec::new();
        };
        let read = match l2.get(&saved_key(namespace)).await {
            Ok(Some(entry)) => codec::decode::<Saved>(&entry.value),
            Ok(None) => return Vec::new(),
            Err(error) => Err(error),
        };
        match read {
            Ok(saved) => saved.keys,
            Err(error) => {
                tracing::warn!(namespace, %error, "warming: the saved popularity could not be read");
                Vec::new()
            }
        }
    }

    /// Brings the saved hottest keys into L1: from L2 where they are, from the loader
    /// where they are not, within the options' count and time.
    async fn warm_at_start(&self, namespace: &str, warmed: &Warmed) {
        let began = Instant::now();
        let options = &warmed.options;
        let mut hot = self.saved(namespace).await;
        hot.truncate(options.keys);
        // A shared L2 fills L1 only once this process hears other processes' changes.
        self.wait_coherent(options.within.min(Duration::from_secs(10)))
            .await;
        let (mut from_l2, mut loaded, mut failed, mut skipped) = (0, 0, 0, 0);
        for (i, (key, reads)) in hot.iter().enumerate() {
            if began.elapsed() >= options.within {
                skipped = (hot.len() - i) as u64;
                break;
            }
            warmed.popularity.add(key, *reads);
            match self.peek_entry(namespace, key).await {
                Ok(Some(_)) => from_l2 += 1,
                Ok(None) => match self.load(namespace, key, warmed).await {
                    Ok(()) => loaded += 1,
                    Err(_) => failed += 1,
                },
                // A key the saved list should not have held (not one a write accepts).
                Err(_) => failed += 1,
            }
        }
        let took = began.elapsed();
        {
            let mut stats = warmed.stats();
            stats.warmed_from_l2 += from_l2;
            stats.loaded_at_start += loaded;
            stats.failed_at_start += failed;
            stats.skipped_at_start += skipped;
            stats.start_ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
            stats.started = true;
        }
        if !hot.is_empty() {
            tracing::info!(
                namespace,
                from_l2,
                loaded,
                failed,
                skipped,
                ?took,
                "warmed the keys that were hottest before the restart"
            );
        }
        warmed.started.send_replace(true);
    }

    /// Loads `key` with the namespace's loader and stores it, its compute time recorded.
    async fn load(
        &self,
        namespace: &str,
        key: &str,
        warmed: &Warmed,
    ) -> std::result::Result<(), String> {
        let began = Instant::now();
        let value = (warmed.loader)(key.to_owned()).await;
        let took = began.elapsed();
        let value = value.inspect_err(|error| {
            tracing::warn!(namespace, key, %error, "warming: the loader failed");
        })?;
        let mut options = SetOptions::new().compute_time(took);
        if let Some(ttl) = warmed.options.ttl {
            options = options.ttl(ttl);
        }
        self.set_raw(namespace, key, value, options)
            .await
            .map_err(|error| {
                tracing::warn!(namespace, key, %error, "warming: a loaded value was not stored");
                error.to_string()
            })
    }

    /// One refresh-ahead pass: the popular keys due for it loaded again; returns how many.
    async fn refresh_pass(&self, namespace: &str, warmed: &Warmed) -> u64 {
        let margin = warmed.options.refresh_every * 3;
        let margin_ms = u64::try_from(margin.as_millis()).unwrap_or(u64::MAX);
        let mut refreshed = 0;
        for (key, _) in warmed.popularity.top(warmed.options.keys) {
            let due = match self.peek_entry(namespace, &key).await {
                Ok(Some(entry)) => {
                    let now = self.inner().clock.now_ms();
                    entry.expires_at_ms.saturating_sub(now) <= margin_ms
                        || self.refresh_early(&entry, 1.0)
                }
                // Expired, evicted or deleted: a popular key is loaded back.
                Ok(None) => true,
                Err(_) => false,
            };
            if !due {
                continue;
            }
            match self.load(namespace, &key, warmed).await {
                Ok(()) => {
                    refreshed += 1;
                    warmed.stats().refreshed_ahead += 1;
                }
                Err(_) => warmed.stats().refresh_failures += 1,
            }
        }
        refreshed
    }
}

/// The background life of one warmed namespace: the start-up warm, then refresh-ahead
/// passes and popularity saves until the cache is dropped.
async fn keep_warm(cache: Weak<Inner>, namespace: String, warmed: Arc<Warmed>) {
    let Some(inner) = cache.upgrade() else { return };
    Cache::from_inner(inner)
        .warm_at_start(&namespace, &warmed)
        .await;
    let mut saved_at = Instant::now();
    loop {
        tokio::time::sleep(warmed.options.refresh_every).await;
        let Some(inner) = cache.upgrade() else { return };
        let cache_now = Cache::from_inner(inner);
        cache_now.refresh_pass(&namespace, &warmed).await;
        if saved_at.elapsed() >= warmed.options.record_every {
            saved_at = Instant::now();
            if let Err(error) = cache_now.save_one(&namespace, &warmed).await {
                tracing::warn!(namespace, %error, "warming: the popularity was not saved");
            }
            warmed.popularity.decay();
        }
    }
}
