//! Runtime side of `#[hoard::cached]`: the global cache, [`CachedFn`], and the helpers the
//! macro expands to.

use crate::cache::Cache;
use crate::compute::{ComputeError, ComputeOptions};
use crate::error::Result;
use crate::runtime::block_on;
use std::borrow::Cow;
use std::sync::OnceLock;

static GLOBAL: OnceLock<Cache> = OnceLock::new();

/// The process-wide cache `#[cached]` functions use when they name none.
///
/// Set it once at start-up with [`set_global`]; if nothing was set when it is first used,
/// it is a memory-only cache with the default budget and TTL.
pub fn global() -> &'static Cache {
    GLOBAL.get_or_init(Cache::in_memory)
}

/// Makes `cache` the process-wide cache. Fails (handing the cache back) if the global cache
/// was already set or already used.
pub fn set_global(cache: Cache) -> std::result::Result<(), Cache> {
    GLOBAL.set(cache)
}

/// One `#[cached]` function's entries: `{namespace}:{name}:{key}`.
///
/// The macro generates `fn {function}_cache() -> CachedFn`; [`CachedFn::new`] finds a
/// function's entries by name, as a Python `clear_cache("user_profile")` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedFn {
    namespace: Cow<'static, str>,
    name: Cow<'static, str>,
}

impl CachedFn {
    /// The function named `name` whose entries live in `namespace` (`cached` by default in
    /// the macro).
    pub fn new(
        namespace: impl Into<Cow<'static, str>>,
        name: impl Into<Cow<'static, str>>,
    ) -> CachedFn {
        CachedFn {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// The function's cache name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace of its entries.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Removes every cached result of the function from `cache`; returns how many went.
    pub async fn clear(&self, cache: &Cache) -> Result<u64> {
        let pattern = format!(
            "{}:{}:*",
            crate::glob::escape(&self.namespace),
            crate::glob::escape(&self.name)
        );
        cache.delete_pattern(&pattern).await
    }

    /// [`CachedFn::clear`] from synchronous code.
    pub fn clear_blocking(&self, cache: &Cache) -> Result<u64> {
        block_on(self.clear(cache))
    }
}

/// What `#[cached]` expands to. Not public API: names and signatures may change.
#[doc(hidden)]
pub mod __private {
    use super::*;
    use serde::{de::DeserializeOwned, Serialize};
    use std::future::Future;

    pub const DEFAULT_NAMESPACE: &str = "cached";

    /// Arguments of a `#[cached]` function make its key, so they must be serializable.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` cannot be part of a #[cached] key",
        label = "this argument is hashed into the cache key, but does not implement serde::Serialize",
        note = "derive or implement serde::Serialize for it, leave it out with `skip(name)` (a connection, a client), or give the key yourself with `key = ...`"
    )]
    pub trait KeyArg {
        /// The argument as canonical JSON, the form its hash is taken of.
        fn key_json(&self) -> std::result::Result<String, String>;
    }

    impl<T: Serialize + ?Sized> KeyArg for T {
        fn key_json(&self) -> std::result::Result<String, String> {
            crate::key::canonical_json(self).map_err(|e| e.to_string())
        }
    }

    pub fn key_arg<T: KeyArg + ?Sized>(arg: &T) -> std::result::Result<String, String> {
        arg.key_json()
    }

    /// `{name}:{hash}`, the hash being [`crate::stable_hash`] of the arguments as one array.
    pub fn args_key(name: &str, args: &[std::result::Result<String, String>]) -> String {
        let mut json = String::with_capacity(
            2 + args
                .iter()
                .map(|a| a.as_ref().map_or(0, String::len) + 1)
                .sum::<usize>(),
        );
        json.push('[');
        for (i, arg) in args.iter().enumerate() {
            match arg {
                Ok(part) => {
                    if i > 0 {
                        json.push(',');
                    }
                    json.push_str(part);
                }
                // Serializing plain arguments fails only for maps with non-string keys and
                // the like; such a call is computed without the cache (an empty key is
                // refused by validation, and the helpers then compute directly).
                Err(error) => {
                    tracing::warn!(%name, %error, "#[cached]: arguments do not serialize; not caching this call");
                    return String::new();
                }
            }
        }
        json.push(']');
        let hash = crate::key::hash_canonical(&json);
        let mut key = String::with_capacity(name.len() + 1 + hash.len());
        key.push_str(name);
        key.push(':');
        key.push_str(&hash);
        key
    }

    /// `{name}:{key}` for `key = ...`.
    pub fn custom_key<K: std::fmt::Display + ?Sized>(name: &str, key: &K) -> String {
        format!("{name}:{key}")
    }

    /// Pins an async block's output type, so `?` inside it knows what to convert into.
    pub fn typed<R, F: Future<Output = R>>(future: F) -> F {
        future
    }

    fn fallback(key: &str, error: &crate::Error) {
        tracing::warn!(key, %error, "#[cached]: cache unusable for this call; computing without it");
    }

    pub async fn cached_async<T, F, Fut>(
        cache: &Cache,
        namespace: &str,
        key: &str,
        options: &ComputeOptions,
        compute: F,
    ) -> T
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let mut compute = Some(compute);
        let result = cache
            .get_or_compute(namespace, key, options, || {
                (compute
                    .take()
                    .expect("get_or_compute computes at most once"))()
            })
            .await;
        match (result, compute) {
            (Ok(value), _) => value,
            (Err(error), Some(compute)) => {
                fallback(key, &error);
                compute().await
            }
            (Err(error), None) => unreachable!("get_or_compute returned {error} after computing"),
        }
    }

    pub async fn cached_async_result<T, E, F, Fut>(
        cache: &Cache,
        namespace: &str,
        key: &str,
        options: &ComputeOptions,
        compute: F,
    ) -> std::result::Result<T, E>
    where
        T: Serialize + DeserializeOwned,
        E: std::fmt::Display + Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
    {
        // Each caller gets its own `E` back: waiters on a failed computation retry.
        let options = options.clone().share_errors(false);
        let mut compute = Some(compute);
        let result = cache
            .try_get_or_compute(namespace, key, &options, || {
                (compute
                    .take()
                    .expect("try_get_or_compute computes at most once"))()
            })
            .await;
        match (result, compute) {
            (Ok(value), _) => Ok(value),
            (Err(ComputeError::Compute(error)), _) => Err(std::sync::Arc::try_unwrap(error)
                .unwrap_or_else(|_| unreachable!("unshared errors have one owner"))),
            (Err(ComputeError::Cache(error)), Some(compute)) => {
                fallback(key, &error);
                compute().await
            }
            (Err(error), _) => unreachable!("unexpected compute outcome: {error}"),
        }
    }

    /// `None` as an error, so it is not stored.
    pub struct NotCached;

    impl std::fmt::Display for NotCached {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("None (not cached)")
        }
    }

    pub async fn cached_async_option<T, F, Fut>(
        cache: &Cache,
        namespace: &str,
        key: &str,
        options: &ComputeOptions,
        compute: F,
    ) -> Option<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let result = cached_async_result(cache, namespace, key, options, || async {
            compute().await.ok_or(NotCached)
        })
        .await;
        result.ok()
    }

    pub fn cached_blocking<T, F>(
        cache: &Cache,
        namespace: &str,
        key: &str,
        options: &ComputeOptions,
        compute: F,
    ) -> T
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> T,
    {
        block_on(cached_async(cache, namespace, key, options, || async {
            compute()
        }))
    }

    pub fn cached_blocking_result<T, E, F>(
        cache: &Cache,
        namespace: &str,
        key: &str,
        options: &ComputeOptions,
        compute: F,
    ) -> std::result::Result<T, E>
    where
        T: Serialize + DeserializeOwned,
        E: std::fmt::Display + Send + Sync + 'static,
        F: FnOnce() -> std::result::Result<T, E>,
    {
        block_on(cached_async_result(
            cache,
            namespace,
            key,
            options,
            || async { compute() },
        ))
    }

    pub fn cached_blocking_option<T, F>(
        cache: &Cache,
        namespace: &str,
        key: &str,
        options: &ComputeOptions,
        compute: F,
    ) -> Option<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Option<T>,
    {
        block_on(cached_async_option(
            cache,
            namespace,
            key,
            options,
            || async { compute() },
        ))
    }
}
