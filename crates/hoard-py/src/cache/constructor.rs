//! Making a `hoard.Cache`: `Cache(...)` from arguments or from the server's `hoard.toml`,
//! and what `repr` and `default_ttl` say about it. Nothing is opened here (see `PyCache::open`).

use super::spec::{describe, Spec, Tier};
use super::PyCache;
use crate::errors::config_error;
use crate::options::{opt_duration, size};
use crate::serializer::Serializer;
use pyo3::prelude::*;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

impl PyCache {
    /// The cache `hoard.toml` describes (the server's file; `HOARD_*` variables override it).
    fn from_config_file(
        path: &std::path::Path,
        dependencies: bool,
        serializer: &str,
        secret: Option<&[u8]>,
    ) -> PyResult<PyCache> {
        let env = |name: &str| std::env::var(name).ok();
        // Only `[cache]` is read: whatever the server's sections hold does not matter here.
        let config = hoard_config::Config::load(Some(path), &env, &Default::default())
            .and_then(|config| config.cache())
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
                memory: config.memory.as_u64(),
                default_ttl: config.default_ttl,
                key_prefix: config.key_prefix.clone(),
                dependencies,
                tier: Tier::Config(Box::new(config)),
            },
            first: OnceLock::new(),
            reopened: Mutex::new(None),
            registrations: Mutex::default(),
            serializer: Arc::new(Serializer::new(serializer, secret)?),
            front: Arc::default(),
            description: format!("from {}", path.display()),
        })
    }
}

#[pymethods]
impl PyCache {
    #[new]
    #[pyo3(signature = (path = Some(PathBuf::from(".hoard")), *, memory = None, default_ttl = None, redis = None, redis_cluster = None, redis_sentinel = None, sentinel_master = "mymaster".to_owned(), key_prefix = "hoard:".to_owned(), dependencies = false, serializer = "msgpack", secret = None, config = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        path: Option<PathBuf>,
        memory: Option<&Bound<'_, PyAny>>,
        default_ttl: Option<&Bound<'_, PyAny>>,
        redis: Option<String>,
        redis_cluster: Option<Vec<String>>,
        redis_sentinel: Option<Vec<String>>,
        sentinel_master: String,
        key_prefix: String,
        dependencies: bool,
        serializer: &str,
        secret: Option<Vec<u8>>,
        config: Option<PathBuf>,
    ) -> PyResult<PyCache> {
        if let Some(config) = config {
            return PyCache::from_config_file(&config, dependencies, serializer, secret.as_deref());
        }
        let given = [
            redis.is_some(),
            redis_cluster.is_some(),
            redis_sentinel.is_some(),
        ];
        if given.iter().filter(|on| **on).count() > 1 {
            return Err(config_error(
                "give one of redis, redis_cluster and redis_sentinel",
            ));
        }
        let tier = match (redis, redis_cluster, redis_sentinel) {
            (Some(url), _, _) => Tier::Redis(url),
            (_, Some(nodes), _) if nodes.is_empty() => {
                return Err(config_error("redis_cluster needs at least one node"))
            }
            (_, Some(nodes), _) => Tier::Cluster(nodes),
            (_, _, Some(sentinels)) if sentinels.is_empty() => {
                return Err(config_error("redis_sentinel needs at least one sentinel"))
            }
            (_, _, Some(sentinels)) => Tier::Sentinel(sentinels, sentinel_master),
            (None, None, None) => match path {
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
        let description = describe(&tier);
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
            registrations: Mutex::default(),
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
}
