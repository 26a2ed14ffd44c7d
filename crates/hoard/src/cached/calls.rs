//! The helpers a `#[cached]` function's body calls, one per return shape (`T`,
//! `Result<T, E>`, `Option<T>`) and per kind (async, blocking).
//!
//! Each first asks memory alone (the L1 lookup every read starts with, deadline checked
//! and counted as an L1 hit; by the call's argument digest, so a hit formats no key text)
//! and decodes what it finds, with no future entered and, for blocking functions, no
//! runtime: that is the whole of a common hit. Anything else (a miss, a bypass, a value of
//! another type) takes the full compute-through path, whose future is boxed so that hits
//! do not carry its size.

use super::key::Key;
use crate::cache::Cache;
use crate::codec;
use crate::compute::{Begun, ComputeError, ComputeOptions};
use crate::entry::Entry;
use crate::runtime::block_on;
use serde::{de::DeserializeOwned, Serialize};
use std::convert::Infallible;
use std::future::Future;

/// `Ok(value)` when memory answers the call; else where the full path starts: from the
/// entry memory holds but this type cannot read, or (`None`) from the lookup.
#[inline]
fn from_memory<T: DeserializeOwned>(
    cache: &Cache,
    namespace: &str,
    key: Key<'_>,
    options: &ComputeOptions,
) -> Result<T, Option<Entry>> {
    match key.l1_hit(cache, namespace, options) {
        Some(entry) => codec::decode(&entry.value).map_err(|_| Some(entry)),
        None => Err(None),
    }
}

fn fallback(key: &str, error: &crate::Error) {
    tracing::warn!(key, %error, "#[cached]: cache unusable for this call; computing without it");
}

/// Compute-through from `first` (or from the lookup); each caller gets its own `E` back
/// (waiters on a failed computation retry), and a cache that fails before computing is
/// passed by.
async fn compute_through<T, E, F, Fut>(
    cache: &Cache,
    namespace: &str,
    key: &str,
    options: &ComputeOptions,
    first: Option<Entry>,
    compute: F,
) -> Result<T, E>
where
    T: Serialize + DeserializeOwned,
    E: std::fmt::Display + Send + Sync + 'static,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let options = options.clone().share_errors(false);
    let mut compute = Some(compute);
    let result = async {
        let begun = match first {
            Some(entry) => Begun::Value(entry),
            None => cache.begin_compute(namespace, key, &options).await?,
        };
        cache
            .compute_from(namespace, key, &options, begun, || {
                (compute
                    .take()
                    .expect("compute-through computes at most once"))()
            })
            .await
    }
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

/// `compute_through` for a computation that cannot fail.
async fn plain_through<T, F, Fut>(
    cache: &Cache,
    namespace: &str,
    key: &str,
    options: &ComputeOptions,
    first: Option<Entry>,
    compute: F,
) -> T
where
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> Fut,
    Fut: Future<Output = T>,
{
    let result =
        compute_through::<T, Infallible, _, _>(cache, namespace, key, options, first, || async {
            Ok(compute().await)
        })
        .await;
    match result {
        Ok(value) => value,
        Err(never) => match never {},
    }
}

/// `None` as an error, so it is not stored.
pub struct NotCached;

impl std::fmt::Display for NotCached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("None (not cached)")
    }
}

/// `compute_through` for a computation whose `None` is not stored.
async fn option_through<T, F, Fut>(
    cache: &Cache,
    namespace: &str,
    key: &str,
    options: &ComputeOptions,
    first: Option<Entry>,
    compute: F,
) -> Option<T>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    compute_through(cache, namespace, key, options, first, || async {
        compute().await.ok_or(NotCached)
    })
    .await
    .ok()
}

/// An async function returning `T`.
pub async fn cached_async<T, F, Fut>(
    cache: &Cache,
    namespace: &str,
    key: Key<'_>,
    options: &ComputeOptions,
    compute: F,
) -> T
where
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> Fut,
    Fut: Future<Output = T>,
{
    match from_memory(cache, namespace, key, options) {
        Ok(value) => value,
        Err(first) => {
            // The key text is made inside the boxed future: a hit carries neither.
            Box::pin(async move {
                let key = key.text();
                plain_through(cache, namespace, &key, options, first, compute).await
            })
            .await
        }
    }
}

/// An async function returning `Result<T, E>`: only `Ok` is stored.
pub async fn cached_async_result<T, E, F, Fut>(
    cache: &Cache,
    namespace: &str,
    key: Key<'_>,
    options: &ComputeOptions,
    compute: F,
) -> Result<T, E>
where
    T: Serialize + DeserializeOwned,
    E: std::fmt::Display + Send + Sync + 'static,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    match from_memory(cache, namespace, key, options) {
        Ok(value) => Ok(value),
        Err(first) => {
            // The key text is made inside the boxed future: a hit carries neither.
            Box::pin(async move {
                let key = key.text();
                compute_through(cache, namespace, &key, options, first, compute).await
            })
            .await
        }
    }
}

/// An async function returning `Option<T>`: only `Some` is stored.
pub async fn cached_async_option<T, F, Fut>(
    cache: &Cache,
    namespace: &str,
    key: Key<'_>,
    options: &ComputeOptions,
    compute: F,
) -> Option<T>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    match from_memory(cache, namespace, key, options) {
        Ok(value) => Some(value),
        Err(first) => {
            // The key text is made inside the boxed future: a hit carries neither.
            Box::pin(async move {
                let key = key.text();
                option_through(cache, namespace, &key, options, first, compute).await
            })
            .await
        }
    }
}

/// A blocking function returning `T`: a hit never enters the runtime.
pub fn cached_blocking<T, F>(
    cache: &Cache,
    namespace: &str,
    key: Key<'_>,
    options: &ComputeOptions,
    compute: F,
) -> T
where
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> T,
{
    match from_memory(cache, namespace, key, options) {
        Ok(value) => value,
        Err(first) => block_on(plain_through(
            cache,
            namespace,
            &key.text(),
            options,
            first,
            || async { compute() },
        )),
    }
}

/// A blocking function returning `Result<T, E>`.
pub fn cached_blocking_result<T, E, F>(
    cache: &Cache,
    namespace: &str,
    key: Key<'_>,
    options: &ComputeOptions,
    compute: F,
) -> Result<T, E>
where
    T: Serialize + DeserializeOwned,
    E: std::fmt::Display + Send + Sync + 'static,
    F: FnOnce() -> Result<T, E>,
{
    match from_memory(cache, namespace, key, options) {
        Ok(value) => Ok(value),
        Err(first) => block_on(compute_through(
            cache,
            namespace,
            &key.text(),
            options,
            first,
            || async { compute() },
        )),
    }
}

/// A blocking function returning `Option<T>`.
pub fn cached_blocking_option<T, F>(
    cache: &Cache,
    namespace: &str,
    key: Key<'_>,
    options: &ComputeOptions,
    compute: F,
) -> Option<T>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> Option<T>,
{
    match from_memory(cache, namespace, key, options) {
        Ok(value) => Some(value),
        Err(first) => block_on(option_through(
            cache,
            namespace,
            &key.text(),
            options,
            first,
            || async { compute() },
        )),
    }
}
