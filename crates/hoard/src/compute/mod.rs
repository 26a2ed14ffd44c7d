//! Compute-through caching: [`Cache::get_or_compute`] and its fallible and blocking forms.
//!
//! A miss computes once and stores. Within a process, concurrent callers of a cold key
//! share one computation (single-flight, see `flight.rs`). Across processes sharing a
//! Redis, the one in-process leader also takes a lease (see [`crate::lock`]) so that one
//! process computes while the others wait for its value. Early refresh (XFetch) and
//! popularity-adaptive TTLs are options.

mod options;
mod ticket;

use options::adaptive_ttl;
pub use options::{AdaptiveTtl, ComputeOptions};
pub use ticket::{Begun, ComputeTicket};

use crate::cache::Cache;
use crate::codec;
use crate::entry::Entry;
use crate::error::Error;
use crate::flight::{Leader, Outcome, Role};
use crate::key::full_key;
use crate::lock::{LockBackend, LockGuard};
use crate::runtime::block_on;
use rand::Rng;
use serde::{de::DeserializeOwned, Serialize};
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why a fallible computation produced no value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ComputeError<E> {
    /// The computation failed. Shared (`Arc`) because every caller that waited on it gets
    /// the same error.
    #[error("computation failed: {0}")]
    Compute(Arc<E>),
    /// A computation failed recently and its message is cached
    /// ([`ComputeOptions::cache_errors`]).
    #[error("computation failed recently (cached error): {0}")]
    Cached(String),
    /// The cache refused the call (bad key) or could not store the value.
    #[error(transparent)]
    Cache(#[from] Error),
}

impl<E> ComputeError<E> {
    /// The computation's own error, if that is what this is and no one else holds it.
    pub fn into_compute_error(self) -> Option<E> {
        match self {
            ComputeError::Compute(shared) => Arc::try_unwrap(shared).ok(),
            _ => None,
        }
    }
}

/// The sibling key where a cached error of `key` lives.
fn error_key(key: &str) -> String {
    format!("{key}#error")
}

impl Cache {
    /// The value at `key`, computing and storing it on a miss.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use hoard::{Cache, ComputeOptions};
    /// let cache = Cache::in_memory();
    /// let score: f64 = cache
    ///     .get_or_compute("model", "metrics:abc-123", &ComputeOptions::new(), || async { 0.95 })
    ///     .await?;
    /// assert_eq!(score, 0.95);
    /// # Ok::<(), hoard::Error>(()) }).unwrap();
    /// ```
    pub async fn get_or_compute<T, F, Fut>(
        &self,
        namespace: &str,
        key: &str,
        options: &ComputeOptions,
        compute: F,
    ) -> Result<T, Error>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let result = self
            .try_get_or_compute::<T, Infallible, _, _>(namespace, key, options, || async {
                Ok(compute().await)
            })
            .await;
        match result {
            Ok(value) => Ok(value),
            Err(ComputeError::Cache(error)) => Err(error),
            Err(ComputeError::Compute(never)) => match *never {},
            Err(ComputeError::Cached(message)) => Err(Error::Decode(message.into())),
        }
    }

    /// Like [`Cache::get_or_compute`] for computations that can fail: only `Ok` values are
    /// stored; errors reach every caller that waited on the computation and are not cached
    /// (unless [`ComputeOptions::cache_errors`] says so).
    pub async fn try_get_or_compute<T, E, F, Fut>(
        &self,
        namespace: &str,
        key: &str,
        options: &ComputeOptions,
        compute: F,
    ) -> Result<T, ComputeError<E>>
    where
        T: Serialize + DeserializeOwned,
        E: std::fmt::Display + Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let begun = self.begin_compute(namespace, key, options).await?;
        self.compute_from(namespace, key, options, begun, compute)
            .await
    }

    /// The rest of [`Cache::try_get_or_compute`] once its first step is known: for callers
    /// that looked in memory themselves (`#[cached]`'s helpers) and start from the entry
    /// they found but could not decode, without counting a second lookup.
    pub(crate) async fn compute_from<T, E, F, Fut>(
        &self,
        namespace: &str,
        key: &str,
        options: &ComputeOptions,
        mut begun: Begun,
        compute: F,
    ) -> Result<T, ComputeError<E>>
    where
        T: Serialize + DeserializeOwned,
        E: std::fmt::Display + Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        // Set once a stored value failed to decode: the next one that fails is an error.
        let mut undecodable = false;
        loop {
            begun = match begun {
                Begun::Value(entry) => match codec::decode::<T>(&entry.value) {
                    Ok(value) => return Ok(value),
                    Err(error) if undecodable => return Err(ComputeError::Cache(error)),
                    Err(error) => {
                        // Stored by an older version of the code (another type): compute
                        // afresh and overwrite it, as for a miss.
                        tracing::warn!(namespace, key, %error, "cached value does not decode; recomputing");
                        undecodable = true;
                        self.begin_recompute(namespace, key, options).await?
                    }
                },
                Begun::Failed(shared) => match shared.downcast::<E>() {
                    Ok(error) => return Err(ComputeError::Compute(error)),
                    // Another call site failed with another error type: compute ourselves.
                    Err(_) => self.fly(namespace, key, options, !options.bypass).await?,
                },
                Begun::CachedError(message) => return Err(ComputeError::Cached(message)),
                Begun::Compute(ticket) => {
                    return match compute().await {
                        Ok(value) => {
                            // The value is computed: whatever happens to storing it, the
                            // caller gets it.
                            match codec::encode(&value) {
                                Ok(bytes) => drop(ticket.store(bytes).await),
                                Err(error) => {
                                    tracing::warn!(namespace, key, %error, "computed value cannot be stored");
                                }
                            }
                            Ok(value)
                        }
                        Err(error) => {
                            let shared = Arc::new(error);
                            ticket.fail(shared.clone()).await;
                            Err(ComputeError::Compute(shared))
                        }
                    };
                }
            };
        }
    }

    /// Looks `key` up and, on a miss, joins the computation of it: the first step of
    /// [`Cache::try_get_or_compute`], for callers that compute outside Rust futures
    /// (see [`Begun`]).
    pub async fn begin_compute(
        &self,
        namespace: &str,
        key: &str,
        options: &ComputeOptions,
    ) -> Result<Begun, Error> {
        if !options.bypass {
            // The lookup validates the key; a hit needs no owned full key.
            if let Some(entry) = self.get_entry(namespace, key).await? {
                let refresh = options
                    .early_refresh
                    .is_some_and(|beta| self.refresh_early(&entry, beta));
                if !refresh {
                    self.note_hit(namespace, key, &entry, options).await;
                    return Ok(Begun::Value(entry));
                }
                // XFetch chose this caller to refresh, unless someone already is.
                let full = full_key(namespace, key)?;
                return match self.inner().flights.join(&full) {
                    Role::Leader(leader) => {
                        Box::pin(self.prepare_lead(namespace, key, full, options, leader, false))
                            .await
                    }
                    Role::Waiter(_) => Ok(Begun::Value(entry)),
                };
            }
            if options.cache_errors.is_some() {
                if let Some(message) = self.get::<String>(namespace, &error_key(key)).await? {
                    return Ok(Begun::CachedError(message));
                }
            }
        }
        // The miss path's future (flights, leases, Redis calls) is large: boxed, it is
        // allocated only on a miss instead of being carried, and moved, by every hit.
        Box::pin(self.fly(namespace, key, options, !options.bypass)).await
    }

    /// The hit [`Cache::begin_compute`] would answer, found without awaiting anything:
    /// `Some(entry)` when L1 holds the key and a hit with these options needs nothing
    /// more (no early refresh, no adaptive TTL to extend, not bypassed). A hit counts as
    /// an L1 hit. `None` counts nothing: call `begin_compute`, which decides the rest.
    pub fn begin_compute_l1(
        &self,
        namespace: &str,
        key: &str,
        options: &ComputeOptions,
    ) -> Result<Option<Entry>, Error> {
        if !options.hit_needs_nothing_more() {
            return Ok(None);
        }
        self.get_entry_l1(namespace, key)
    }

    /// [`Cache::begin_compute_l1`] for a `#[cached]` call, by its name and argument digest
    /// (see [`Cache::call_hit_l1`]): no key text is made for a hit.
    pub(crate) fn begin_call_l1(
        &self,
        namespace: &str,
        name: &str,
        digest: u128,
        options: &ComputeOptions,
    ) -> Option<Entry> {
        if !options.hit_needs_nothing_more() {
            return None;
        }
        self.call_hit_l1(namespace, name, digest)
    }

    /// Joins the computation of a key whose stored value the caller cannot use (written
    /// by another version of the code, or in another format): the stored value is not
    /// looked at again, the computing caller overwrites it, and callers that join meanwhile
    /// get its value. Single-flight holds within the process; across processes there is no
    /// lease (waiting for another process would only find the unusable value again).
    pub async fn begin_recompute(
        &self,
        namespace: &str,
        key: &str,
        options: &ComputeOptions,
    ) -> Result<Begun, Error> {
        let options = options.clone().coordinate(false);
        self.fly(namespace, key, &options, false).await
    }

    /// Leads or waits on the flight for a key whose stored value is missing or unusable.
    async fn fly(
        &self,
        namespace: &str,
        key: &str,
        options: &ComputeOptions,
        recheck: bool,
    ) -> Result<Begun, Error> {
        let full = full_key(namespace, key)?;
        loop {
            match self.inner().flights.join(&full) {
                Role::Leader(leader) => {
                    return self
                        .prepare_lead(namespace, key, full, options, leader, recheck)
                        .await;
                }
                Role::Waiter(waiter) => match waiter.outcome().await {
                    Outcome::Value(entry) => return Ok(Begun::Value(entry)),
                    Outcome::Failed(shared) => return Ok(Begun::Failed(shared)),
                    Outcome::Abandoned => {}
                },
            }
            // The leader is gone. Its value may have landed before it went; else loop and
            // one of the waiters leads.
            if !options.bypass {
                if let Some(entry) = self.peek_entry(namespace, key).await? {
                    return Ok(Begun::Value(entry));
                }
            }
        }
    }

    /// Becomes the computing caller: takes the cross-process lease if there is one and
    /// re-checks the cache; hands back a ticket, or the value that landed meanwhile.
    async fn prepare_lead(
        &self,
        namespace: &str,
        key: &str,
        full: String,
        options: &ComputeOptions,
        leader: Leader,
        recheck: bool,
    ) -> Result<Begun, Error> {
        let mut lease = None;
        if options.coordinate && !options.bypass {
            if let Some(backend) = self.distributed_locks() {
                match self
                    .lease_or_value(namespace, key, &full, options, backend)
                    .await?
                {
                    LeaseOrValue::Value(entry) => {
                        leader.finish(Outcome::Value(entry.clone()));
                        return Ok(Begun::Value(entry));
                    }
                    LeaseOrValue::Lease(guard) => lease = guard,
                }
            }
        }
        // The value may have landed while we queued for the flight or the lease.
        if recheck {
            if let Some(entry) = self.peek_entry(namespace, key).await? {
                release(lease).await;
                leader.finish(Outcome::Value(entry.clone()));
                return Ok(Begun::Value(entry));
            }
        }
        Ok(Begun::Compute(Box::new(ComputeTicket {
            cache: self.clone(),
            namespace: namespace.to_owned(),
            key: key.to_owned(),
            full,
            options: options.clone(),
            leader,
            lease,
            started: Instant::now(),
        })))
    }

    /// Takes the cross-process lease for `full`, or waits for the process holding it to
    /// store the value. Gives up waiting after `options.wait` (then computes without the
    /// lease), and computes without it when L2 cannot be reached (degraded).
    async fn lease_or_value(
        &self,
        namespace: &str,
        key: &str,
        full: &str,
        options: &ComputeOptions,
        backend: LockBackend,
    ) -> Result<LeaseOrValue, Error> {
        let name = format!("compute:{full}");
        let began = Instant::now();
        let mut pause = Duration::from_millis(5);
        loop {
            match LockGuard::try_acquire(backend.clone(), &name, options.lease).await {
                Ok(Some(guard)) => return Ok(LeaseOrValue::Lease(Some(guard))),
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(key = full, %error, "no lease (L2 unreachable): computing without one");
                    return Ok(LeaseOrValue::Lease(None));
                }
            }
            // Another process holds the lease and computes; its value lands in L2.
            if let Some(entry) = self.peek_entry(namespace, key).await? {
                return Ok(LeaseOrValue::Value(entry));
            }
            if began.elapsed() >= options.wait {
                tracing::warn!(
                    key = full,
                    "waited too long for another process: computing here"
                );
                return Ok(LeaseOrValue::Lease(None));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    /// XFetch: refresh now if `now - delta * beta * ln(random) >= expiry`.
    pub(crate) fn refresh_early(&self, entry: &Entry, beta: f64) -> bool {
        if entry.compute_ms == 0 || beta == 0.0 {
            return false;
        }
        let draw: f64 = self.random_unit();
        let delta = f64::from(entry.compute_ms);
        let head_start = -delta * beta * draw.ln();
        self.inner().clock.now_ms() as f64 + head_start >= entry.expires_at_ms as f64
    }

    /// The TTL a computed value gets: the option's (or the default), grown by popularity.
    fn ttl_for(&self, full: &str, options: &ComputeOptions) -> Duration {
        let base = options.ttl.unwrap_or_else(|| self.default_ttl());
        match options.adaptive_ttl {
            Some(adaptive) => adaptive_ttl(base, adaptive, self.hit_count(full)),
            None => base,
        }
    }

    /// Counts a hit and, with adaptive TTLs, pushes the entry's expiry out to match.
    async fn note_hit(&self, namespace: &str, key: &str, entry: &Entry, options: &ComputeOptions) {
        let Some(adaptive) = options.adaptive_ttl else {
            return;
        };
        let Ok(full) = full_key(namespace, key) else {
            return;
        };
        let hits = self.count_hit(&full);
        let base = options.ttl.unwrap_or_else(|| self.default_ttl());
        let ttl = adaptive_ttl(base, adaptive, hits);
        let target = self
            .inner()
            .clock
            .now_ms()
            .saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX));
        // Skip writes that would move the deadline by less than 1%: a hot key would
        // otherwise write on every hit.
        let slack = (u64::try_from(base.as_millis()).unwrap_or(u64::MAX) / 100).max(1);
        if target > entry.expires_at_ms.saturating_add(slack) {
            if let Err(error) = self.extend(namespace, key, target).await {
                tracing::debug!(key = full, %error, "could not extend an adaptive TTL");
            }
        }
    }

    /// Where leases live when they must be seen by other processes: L2, if it holds them.
    fn distributed_locks(&self) -> Option<LockBackend> {
        self.lock_backend().filter(LockBackend::is_distributed)
    }

    /// Runs a compute-through call from synchronous code: the computation runs on the
    /// calling thread; cache I/O runs on a small background runtime hoard keeps for this.
    pub fn get_or_compute_blocking<T, F>(
        &self,
        namespace: &str,
        key: &str,
        options: &ComputeOptions,
        compute: F,
    ) -> Result<T, Error>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> T,
    {
        block_on(self.get_or_compute(namespace, key, options, || async { compute() }))
    }

    /// The blocking form of [`Cache::try_get_or_compute`].
    pub fn try_get_or_compute_blocking<T, E, F>(
        &self,
        namespace: &str,
        key: &str,
        options: &ComputeOptions,
        compute: F,
    ) -> Result<T, ComputeError<E>>
    where
        T: Serialize + DeserializeOwned,
        E: std::fmt::Display + Send + Sync + 'static,
        F: FnOnce() -> Result<T, E>,
    {
        block_on(self.try_get_or_compute(namespace, key, options, || async { compute() }))
    }
}

enum LeaseOrValue {
    Lease(Option<LockGuard>),
    Value(Entry),
}

async fn release(lease: Option<LockGuard>) {
    if let Some(guard) = lease {
        if let Err(error) = guard.release().await {
            tracing::debug!(%error, "lease release failed; it will expire");
        }
    }
}

impl Cache {
    /// A uniform draw in (0, 1] from the cache's random source (seedable for tests).
    fn random_unit(&self) -> f64 {
        let mut rng = self.inner().rng.lock().unwrap_or_else(|p| p.into_inner());
        1.0 - rng.random::<f64>()
    }
}
