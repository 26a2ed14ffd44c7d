//! `hoard.Cache`: the Rust cache in a Python process.
//!
//! The cache opens on first use, not in the constructor, and again in a child process after
//! `fork()`: a gunicorn master that builds the cache at import (`--preload`) never holds
//! the disk folder its single worker needs, and no child reuses the parent's connections,
//! listener or disk threads (those stayed with the parent).

use crate::begin::{begin, begin_l1, decode, recompute, L1Step, Step};
use crate::bridge::{self, fork_generation};
use crate::compute::{compute_options, Ticket};
use crate::errors::{config_error, invalid_input, IntoPy};
use crate::front::Front;
use crate::json::json_to_py;
use crate::options::{opt_duration, size, strings};
use crate::serializer::Serializer;
use hoard::SetOptions;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3::IntoPyObjectExt;
use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

/// Where L2 lives.
#[derive(Clone)]
enum Tier {
    Memory,
    Disk(PathBuf),
    Redis(String),
    Cluster(Vec<String>),
    /// Everything from the server's configuration file.
    Config(Box<hoard_server::config::Config>),
}

/// How to open the cache (again, after a fork).
#[derive(Clone)]
struct Spec {
    tier: Tier,
    memory: u64,
    default_ttl: std::time::Duration,
    key_prefix: String,
    dependencies: bool,
}

impl Spec {
    fn open(&self) -> hoard::Result<hoard::Cache> {
        let builder = hoard::Cache::builder()
            .memory_bytes(self.memory)
            .default_ttl(self.default_ttl)
            .dependencies(self.dependencies);
        match &self.tier {
            Tier::Memory => builder.build(),
            Tier::Disk(path) => builder.disk(hoard::DiskConfig::new(path)).build(),
            Tier::Redis(url) => builder
                .redis(hoard::RedisConfig::standalone(url).key_prefix(&self.key_prefix))
                .build(),
            Tier::Cluster(nodes) => builder
                .redis(hoard::RedisConfig::cluster(nodes.clone()).key_prefix(&self.key_prefix))
                .build(),
            Tier::Config(config) => config.open_cache(),
        }
    }
}

/// The open cache and the fork generation it was opened in.
struct Opened {
    generation: u64,
    cache: hoard::Cache,
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

/// A tiered cache: memory in front of a disk folder (the default), Redis or Redis Cluster.
#[pyclass(name = "Cache", module = "hoard", frozen, subclass)]
pub struct PyCache {
    spec: Spec,
    /// The cache as first opened, read without a lock: every call asks for it.
    first: OnceLock<Opened>,
    /// The cache reopened after a fork made `first` the parent's.
    reopened: Mutex<Option<Opened>>,
    serializer: Arc<Serializer>,
    /// Decoded values of recent hits (MessagePack only: pickles are loaded every time).
    front: Arc<Front>,
    description: String,
}

impl PyCache {
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

    fn run<'py, F>(
        &self,
        py: Python<'py>,
        is_async: bool,
        future: F,
        convert: impl FnOnce(Python<'_>, F::Output) -> PyResult<Py<PyAny>> + Send + 'static,
    ) -> PyResult<Bound<'py, PyAny>>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        bridge::run(py, is_async, future, convert)
    }

    /// `get` as an awaitable (the blocking form borrows its arguments, in `get`).
    fn aget_impl<'py>(
        &self,
        py: Python<'py>,
        namespace: String,
        key: String,
        default: Py<PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let cache = self.cache()?;
        let serializer = self.serializer();
        let front = self.front.clone();
        self.run(
            py,
            true,
            async move {
                let found = cache.get_raw(&namespace, &key).await;
                (found, namespace, key)
            },
            move |py, (found, namespace, key)| {
                let Some(bytes) = found.py()? else {
                    return Ok(default);
                };
                Ok(decode(py, &serializer, &front, &namespace, &key, &bytes)?
                    .map_or(default, Bound::unbind))
            },
        )
    }

    fn get_many_impl<'py>(
        &self,
        py: Python<'py>,
        is_async: bool,
        namespace: String,
        keys: Vec<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let cache = self.cache()?;
        let serializer = self.serializer();
        self.run(
            py,
            is_async,
            async move {
                let found = cache.mget_raw(&namespace, &keys).await;
                (namespace, keys, found)
            },
            move |py, (namespace, keys, found)| {
                let out = PyDict::new(py);
                for (key, bytes) in keys.iter().zip(found.py()?) {
                    let value = match bytes {
                        Some(bytes) => {
                            serializer.loads(py, &bytes, &format!("{namespace}:{key}"))?
                        }
                        None => None,
                    };
                    out.set_item(key, value)?;
                }
                Ok(out.into_any().unbind())
            },
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn set_many_impl<'py>(
        &self,
        py: Python<'py>,
        is_async: bool,
        namespace: String,
        items: &Bound<'py, PyAny>,
        ttl: Option<&Bound<'py, PyAny>>,
        tags: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let cache = self.cache()?;
        let items = items
            .cast::<PyDict>()
            .map_err(|_| invalid_input("set_many takes a dict of key -> value"))?;
        let mut encoded = Vec::with_capacity(items.len());
        for (key, value) in items.iter() {
            let key: String = key
                .extract()
                .map_err(|_| invalid_input("set_many: keys must be str"))?;
            let bytes = self
                .serializer
                .dumps(&value, &format!("{namespace}:{key}"))?;
            encoded.push((key, bytes));
        }
        let options = self.set_options(ttl, tags, None)?;
        self.unit(py, is_async, async move {
            cache.mset_raw(&namespace, encoded, options).await
        })
    }

    /// Runs an operation that answers nothing (`None` in Python).
    fn unit<'py, F>(
        &self,
        py: Python<'py>,
        is_async: bool,
        future: F,
    ) -> PyResult<Bound<'py, PyAny>>
    where
        F: std::future::Future<Output = hoard::Result<()>> + Send + 'static,
    {
        self.run(py, is_async, future, |py, done| {
            done.py().map(|()| py.None())
        })
    }

    /// Write options from the keyword arguments.
    fn set_options(
        &self,
        ttl: Option<&Bound<'_, PyAny>>,
        tags: Option<&Bound<'_, PyAny>>,
        depends_on: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<SetOptions> {
        let mut options = SetOptions::new();
        if let Some(ttl) = opt_duration(ttl, "ttl")? {
            options = options.ttl(ttl);
        }
        let tags = strings(tags, "tags")?;
        if !tags.is_empty() {
            options = options.tags(tags);
        }
        let depends_on = strings(depends_on, "depends_on")?;
        if !depends_on.is_empty() {
            if !self.spec.dependencies {
                return Err(invalid_input(
                    "depends_on needs dependency tracking: open the cache with dependencies=True",
                ));
            }
            options = options.depends_on(depends_on);
        }
        Ok(options)
    }

    /// Runs an operation whose answer converts by itself.
    fn simple<'py, F, T>(
        &self,
        py: Python<'py>,
        is_async: bool,
        future: F,
    ) -> PyResult<Bound<'py, PyAny>>
    where
        F: std::future::Future<Output = hoard::Result<T>> + Send + 'static,
        T: for<'a> IntoPyObject<'a> + Send + 'static,
    {
        self.run(py, is_async, future, |py, out| out.py()?.into_py_any(py))
    }

    fn begin_impl<'py>(
        &self,
        py: Python<'py>,
        is_async: bool,
        namespace: String,
        key: String,
        options: hoard::ComputeOptions,
    ) -> PyResult<Bound<'py, PyAny>> {
        let cache = self.cache()?;
        let serializer = self.serializer();
        let front = self.front.clone();
        let full = format!("{namespace}:{key}");
        // A memory hit is answered here, with no future to run.
        let unreadable =
            match begin_l1(py, &cache, &serializer, &front, &namespace, &key, &options)? {
                L1Step::Found(value) => {
                    let found = (true, value).into_pyobject(py)?.into_any();
                    return match is_async {
                        true => bridge::ready(py, Ok(found.unbind())),
                        false => Ok(found),
                    };
                }
                L1Step::Unreadable => true,
                L1Step::Absent => false,
            };
        self.run(
            py,
            is_async,
            async move {
                let step = if unreadable {
                    recompute(&cache, &serializer, &front, &namespace, &key, &options).await
                } else {
                    begin(&cache, &serializer, &front, &namespace, &key, &options).await
                };
                (step, serializer, full)
            },
            move |py, (step, serializer, full)| match step? {
                Step::Found(value) => Ok((true, value).into_pyobject(py)?.into_any().unbind()),
                Step::Compute(ticket) => {
                    let ticket = Ticket::new(ticket, serializer, full);
                    Ok((false, ticket).into_pyobject(py)?.into_any().unbind())
                }
            },
        )
    }
}

impl PyCache {
    /// The cache `hoard.toml` describes (the server's file; `HOARD_*` variables override it).
    fn from_config_file(
        path: &std::path::Path,
        dependencies: bool,
        serializer: &str,
        secret: Option<&[u8]>,
    ) -> PyResult<PyCache> {
        let env = |name: &str| std::env::var(name).ok();
        let config = hoard_server::config::Config::load(
            Some(path),
            &env,
            &hoard_server::config::Overrides::default(),
        )
        .map_err(|e| config_error(e.to_string()))?;
        if dependencies {
            // The server's file opens its own cache, without dependency tracking.
            return Err(config_error(
                "dependencies=True cannot be combined with a config file yet: pass the \
                 [cache] settings as arguments instead",
            ));
        }
        Ok(PyCache {
            spec: Spec {
                memory: config.memory_bytes(),
                default_ttl: config.default_ttl(),
                key_prefix: config.cache.key_prefix.clone(),
                dependencies,
                tier: Tier::Config(Box::new(config)),
            },
            first: OnceLock::new(),
            reopened: Mutex::new(None),
            serializer: Arc::new(Serializer::new(serializer, secret)?),
            front: Arc::default(),
            description: format!("from {}", path.display()),
        })
    }
}

#[pymethods]
impl PyCache {
    #[new]
    #[pyo3(signature = (path = Some(PathBuf::from(".hoard")), *, memory = None, default_ttl = None, redis = None, redis_cluster = None, key_prefix = "hoard:".to_owned(), dependencies = false, serializer = "msgpack", secret = None, config = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        path: Option<PathBuf>,
        memory: Option<&Bound<'_, PyAny>>,
        default_ttl: Option<&Bound<'_, PyAny>>,
        redis: Option<String>,
        redis_cluster: Option<Vec<String>>,
        key_prefix: String,
        dependencies: bool,
        serializer: &str,
        secret: Option<Vec<u8>>,
        config: Option<PathBuf>,
    ) -> PyResult<PyCache> {
        if let Some(config) = config {
            return PyCache::from_config_file(&config, dependencies, serializer, secret.as_deref());
        }
        let tier = match (redis, redis_cluster) {
            (Some(_), Some(_)) => {
                return Err(config_error("give redis or redis_cluster, not both"))
            }
            (Some(url), None) => Tier::Redis(url),
            (None, Some(nodes)) if nodes.is_empty() => {
                return Err(config_error("redis_cluster needs at least one node"))
            }
            (None, Some(nodes)) => Tier::Cluster(nodes),
            (None, None) => match path {
                Some(path) => {
                    // Created now so a folder that cannot be made fails here, not on first use.
                    std::fs::create_dir_all(&path).map_err(|e| {
                        config_error(format!("cache folder {}: {e}", path.display()))
                    })?;
                    Tier::Disk(path)
                }
                None => Tier::Memory,
            },
        };
        let memory = match memory {
            Some(m) if !m.is_none() => size(m, "memory")?,
            _ => 256 << 20,
        };
        let default_ttl = opt_duration(default_ttl, "default_ttl")?.unwrap_or(hoard::ttl::LONG);
        let description = match &tier {
            Tier::Disk(path) => format!("memory + disk {}", path.display()),
            Tier::Redis(url) => format!("memory + redis {}", redact(url)),
            Tier::Cluster(nodes) => format!("memory + redis cluster ({} seeds)", nodes.len()),
            Tier::Memory | Tier::Config(_) => "memory".to_owned(),
        };
        let spec = Spec {
            tier,
            memory,
            default_ttl,
            key_prefix,
            dependencies,
        };
        Ok(PyCache {
            spec,
            first: OnceLock::new(),
            reopened: Mutex::new(None),
            serializer: Arc::new(Serializer::new(serializer, secret.as_deref())?),
            front: Arc::default(),
            description,
        })
    }

    fn __repr__(&self) -> String {
        format!("hoard.Cache({})", self.description)
    }

    /// The TTL of writes that name none, in seconds.
    #[getter]
    fn default_ttl(&self) -> f64 {
        self.spec.default_ttl.as_secs_f64()
    }

    // Each operation below is one method; `_awaitable=True` (what the `a` twins in
    // `hoard/_cache.py` pass) returns an awaitable instead of blocking.

    #[pyo3(signature = (namespace, key, default = None, *, _awaitable = false))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        namespace: &str,
        key: &str,
        default: Option<Bound<'py, PyAny>>,
        _awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let default = default.unwrap_or_else(|| py.None().into_bound(py));
        let cache = self.cache_ref()?;
        // A memory hit needs no future (and keeps the GIL: it is cheaper than handing it
        // over); anything else may touch a disk or the network.
        if let Some(entry) = cache.get_entry_l1(namespace, key).py()? {
            let value = decode(
                py,
                &self.serializer,
                &self.front,
                namespace,
                key,
                &entry.value,
            )?
            .unwrap_or(default);
            return match _awaitable {
                true => bridge::ready(py, Ok(value.unbind())),
                false => Ok(value),
            };
        }
        if _awaitable {
            return self.aget_impl(py, namespace.to_owned(), key.to_owned(), default.unbind());
        }
        // Blocking: the future borrows the arguments, so it allocates nothing for them.
        let Some(bytes) = bridge::wait(py, cache.get_raw(namespace, key))?.py()? else {
            return Ok(default);
        };
        Ok(decode(py, &self.serializer, &self.front, namespace, key, &bytes)?.unwrap_or(default))
    }

    #[pyo3(signature = (namespace, key, value, *, ttl = None, tags = None, depends_on = None, _awaitable = false))]
    #[allow(clippy::too_many_arguments)]
    fn set<'py>(
        &self,
        py: Python<'py>,
        namespace: String,
        key: String,
        value: &Bound<'py, PyAny>,
        ttl: Option<&Bound<'py, PyAny>>,
        tags: Option<&Bound<'py, PyAny>>,
        depends_on: Option<&Bound<'py, PyAny>>,
        _awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let cache = self.cache()?;
        let bytes = self
            .serializer
            .dumps(value, &format!("{namespace}:{key}"))?;
        let options = self.set_options(ttl, tags, depends_on)?;
        self.unit(py, _awaitable, async move {
            cache.set_raw(&namespace, &key, bytes, options).await
        })
    }

    #[pyo3(signature = (namespace, keys, *, _awaitable = false))]
    fn get_many<'py>(
        &self,
        py: Python<'py>,
        namespace: String,
        keys: Vec<String>,
        _awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.get_many_impl(py, _awaitable, namespace, keys)
    }

    #[pyo3(signature = (namespace, items, *, ttl = None, tags = None, _awaitable = false))]
    fn set_many<'py>(
        &self,
        py: Python<'py>,
        namespace: String,
        items: &Bound<'py, PyAny>,
        ttl: Option<&Bound<'py, PyAny>>,
        tags: Option<&Bound<'py, PyAny>>,
        _awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.set_many_impl(py, _awaitable, namespace, items, ttl, tags)
    }

    #[pyo3(signature = (namespace, key, *, _awaitable = false))]
    fn delete<'py>(
        &self,
        py: Python<'py>,
        namespace: String,
        key: String,
        _awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let cache = self.cache()?;
        self.simple(py, _awaitable, async move {
            cache.delete(&namespace, &key).await
        })
    }

    #[pyo3(signature = (namespace, key, *, _awaitable = false))]
    fn exists<'py>(
        &self,
        py: Python<'py>,
        namespace: String,
        key: String,
        _awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let cache = self.cache()?;
        self.simple(py, _awaitable, async move {
            cache.exists(&namespace, &key).await
        })
    }

    /// Seconds left, or `None` without an entry.
    #[pyo3(signature = (namespace, key, *, _awaitable = false))]
    fn ttl<'py>(
        &self,
        py: Python<'py>,
        namespace: String,
        key: String,
        _awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let cache = self.cache()?;
        self.simple(py, _awaitable, async move {
            let left = cache.ttl(&namespace, &key).await?;
            Ok(left.map(|d| d.as_secs_f64()))
        })
    }

    #[pyo3(signature = (pattern, *, _awaitable = false))]
    fn delete_pattern<'py>(
        &self,
        py: Python<'py>,
        pattern: String,
        _awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let cache = self.cache()?;
        self.simple(py, _awaitable, async move {
            cache.delete_pattern(&pattern).await
        })
    }

    #[pyo3(signature = (namespace, *, _awaitable = false))]
    fn clear_namespace<'py>(
        &self,
        py: Python<'py>,
        namespace: String,
        _awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let cache = self.cache()?;
        self.unit(py, _awaitable, async move {
            cache.clear_namespace(&namespace).await
        })
    }

    #[pyo3(signature = (*, _awaitable = false))]
    fn clear<'py>(&self, py: Python<'py>, _awaitable: bool) -> PyResult<Bound<'py, PyAny>> {
        let cache = self.cache()?;
        self.simple(py, _awaitable, async move { cache.clear_all().await })
    }

    #[pyo3(signature = (*, tags, _awaitable = false))]
    fn invalidate<'py>(
        &self,
        py: Python<'py>,
        tags: &Bound<'py, PyAny>,
        _awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let cache = self.cache()?;
        let tags = strings(Some(tags), "tags")?;
        self.simple(
            py,
            _awaitable,
            async move { cache.invalidate_tags(&tags).await },
        )
    }

    #[pyo3(signature = (*, _awaitable = false))]
    fn flush<'py>(&self, py: Python<'py>, _awaitable: bool) -> PyResult<Bound<'py, PyAny>> {
        let cache = self.cache()?;
        self.unit(py, _awaitable, async move { cache.flush().await })
    }

    /// The `GET /v1/stats` body of `hoard serve`, as a dict.
    #[pyo3(signature = (*, _awaitable = false))]
    fn stats<'py>(&self, py: Python<'py>, _awaitable: bool) -> PyResult<Bound<'py, PyAny>> {
        let cache = self.cache()?;
        self.run(
            py,
            _awaitable,
            async move { cache.stats().await },
            |py, stats| json_to_py(py, &hoard_server::stats_body(&stats.py()?)).map(Bound::unbind),
        )
    }

    /// The first step of `get_or_compute`: `(True, value)` for a stored value, or
    /// `(False, ticket)` when this caller computes. Raises the error of the computation it
    /// waited on, if that failed.
    #[pyo3(signature = (namespace, key, *, ttl = None, tags = None, early_refresh = None, adaptive_ttl = None, adaptive_max = None, use_cache = true, _awaitable = false))]
    #[allow(clippy::too_many_arguments)]
    fn _begin<'py>(
        &self,
        py: Python<'py>,
        namespace: String,
        key: String,
        ttl: Option<&Bound<'py, PyAny>>,
        tags: Option<&Bound<'py, PyAny>>,
        early_refresh: Option<f64>,
        adaptive_ttl: Option<f64>,
        adaptive_max: Option<&Bound<'py, PyAny>>,
        use_cache: bool,
        _awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = compute_options(
            ttl,
            tags,
            early_refresh,
            adaptive_ttl,
            adaptive_max,
            use_cache,
            self.spec.default_ttl,
        )?;
        self.begin_impl(py, _awaitable, namespace, key, options)
    }
}

/// A Redis URL without its password, for `repr`.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}
