//! `hoard.Cache`: the Rust cache in a Python process.
//!
//! The cache opens on first use, not in the constructor, and again in a child process after
//! `fork()`: a gunicorn master that builds the cache at import (`--preload`) never holds
//! the disk folder its single worker needs, and no child reuses the parent's connections,
//! listener or disk threads (those stayed with the parent).
//!
//! The Python methods are grouped by job, one `#[pymethods]` block per file:
//! `constructor` (`Cache(...)`, `repr`, `default_ttl`), `reads` (`get`, `get_many`,
//! `exists`, `ttl`), `writes` (`set`, `set_many`, `delete`), `invalidation`
//! (`delete_pattern`, `clear_namespace`, `clear`, `invalidate` by tags), `maintenance`
//! (`flush`, `stats`), `warming` (`warm_with` and its stats), `backing` (`write_through`,
//! `write_behind`) and `get_or_compute`
//! (`_begin`). Each operation is one method;
//! `_awaitable=True` (what the `a` twins in `hoard/_cache.py` pass) returns an awaitable
//! instead of blocking, through the helpers in `calls`. `spec` is what a cache was asked
//! to open, kept to open it again after a fork.

mod backing;
mod calls;
mod constructor;
mod get_or_compute;
mod invalidation;
mod maintenance;
mod reads;
mod spec;
mod warming;
mod writes;

use crate::bridge::fork_generation;
use crate::errors::IntoPy;
use crate::front::Front;
use crate::serializer::Serializer;
use pyo3::prelude::*;
use spec::{Opened, Spec};
use std::borrow::Cow;
use std::sync::{Arc, Mutex, OnceLock};

/// A tiered cache: memory in front of a disk folder (the default), Redis or Redis Cluster.
#[pyclass(name = "Cache", module = "hoard", frozen, subclass)]
pub struct PyCache {
    spec: Spec,
    /// The cache as first opened, read without a lock: every call asks for it.
    first: OnceLock<Opened>,
    /// The cache reopened after a fork made `first` the parent's.
    reopened: Mutex<Option<Opened>>,
    /// What was registered on the cache (warmed namespaces, writers), made again on a
    /// cache reopened after a fork: a worker's writes must reach its writer too.
    registrations: Mutex<Vec<Registration>>,
    serializer: Arc<Serializer>,
    /// Decoded values of recent hits (MessagePack only: pickles are loaded every time).
    front: Arc<Front>,
    description: String,
}

impl Drop for PyCache {
    fn drop(&mut self) {
        // A cache opened before a fork is the parent's (see `PyCache::open`): forgotten.
        let generation = fork_generation();
        let reopened = self.reopened.get_mut().unwrap_or_else(|p| p.into_inner());
        for opened in [self.first.take(), reopened.take()].into_iter().flatten() {
            if opened.generation != generation {
                std::mem::forget(opened);
            }
        }
    }
}

/// Something registered on an open cache, replayed on the next one.
type Registration = Arc<dyn Fn(&hoard::Cache) -> hoard::Result<()> + Send + Sync>;

impl PyCache {
    /// Registers `what` on the open cache now and on every cache reopened after a fork.
    pub(crate) fn register(
        &self,
        what: impl Fn(&hoard::Cache) -> hoard::Result<()> + Send + Sync + 'static,
    ) -> PyResult<()> {
        what(&self.cache()?).py()?;
        self.registrations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::new(what));
        Ok(())
    }

    /// The open cache of this process, opening it if needed.
    pub fn cache(&self) -> PyResult<hoard::Cache> {
        self.cache_ref().map(Cow::into_owned)
    }

    /// Like [`PyCache::cache`], borrowed where it can be: the hit paths' form, which
    /// takes no lock and touches no reference count.
    pub fn cache_ref(&self) -> PyResult<Cow<'_, hoard::Cache>> {
        let generation = fork_generation();
        if let Some(first) = self.first.get() {
            if first.generation == generation {
                return Ok(Cow::Borrowed(&first.cache));
            }
        }
        self.open(generation).map(Cow::Owned)
    }

    /// Opens the cache for this fork generation, or finds it opened.
    fn open(&self, generation: u64) -> PyResult<hoard::Cache> {
        let mut reopened = self.reopened.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(open) = reopened.as_ref() {
            if open.generation == generation {
                return Ok(open.cache.clone());
            }
        }
        if let Some(stale) = reopened.take() {
            // Opened before a fork: its threads and connections are the parent's, and
            // dropping it would wait for threads that do not exist in this process.
            std::mem::forget(stale);
        }
        let cache = self.spec.open().py()?;
        // A reopened cache gets what its predecessor had (none on the first open).
        let registrations = self
            .registrations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for register in registrations {
            register(&cache).py()?;
        }
        let opened = Opened {
            generation,
            cache: cache.clone(),
        };
        // Only set under the lock, so no other opener races this one.
        if let Err(opened) = self.first.set(opened) {
            *reopened = Some(opened);
        }
        Ok(cache)
    }

    /// The serializer, shared with the conversions that run after a future finishes.
    pub fn serializer(&self) -> Arc<Serializer> {
        self.serializer.clone()
    }

    /// The object cache in front of this cache's bytes.
    pub fn front(&self) -> &Front {
        &self.front
    }

    /// The TTL of writes that name none.
    pub fn default_ttl_duration(&self) -> std::time::Duration {
        self.spec.default_ttl
    }
}
