//! Runtime side of `#[hoard::cached(semantic = true)]`: the process-wide semantic cache
//! and the helpers the macro expands to.
//!
//! A semantic cache needs an embedder, so unlike `hoard::global()` there is no default:
//! until [`set_global`] is called, functions that name no cache compute every call (and say
//! so once in the log). A cache that fails (an embedder down, Redis gone) does the same for
//! that call: a cache must never turn a working function into a failing one.

use crate::cache::{Query, SemanticCache, Store};
use std::sync::{Arc, OnceLock};

static GLOBAL: OnceLock<Arc<SemanticCache>> = OnceLock::new();

/// Makes `cache` the semantic cache of `#[cached(semantic = true)]` functions that name
/// none. Fails, handing it back, if one was already set.
pub fn set_global(cache: Arc<SemanticCache>) -> Result<(), Arc<SemanticCache>> {
    GLOBAL.set(cache)
}

/// The process-wide semantic cache, if [`set_global`] was called.
pub fn global() -> Option<&'static Arc<SemanticCache>> {
    GLOBAL.get()
}

impl AsRef<SemanticCache> for SemanticCache {
    fn as_ref(&self) -> &SemanticCache {
        self
    }
}

/// What `#[cached(semantic = true)]` expands to. Not public API: names and signatures may
/// change.
#[doc(hidden)]
pub mod __private {
    use super::*;
    use serde::{de::DeserializeOwned, Serialize};
    use std::future::Future;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    pub use hoard;

    /// Namespace of a function's entries when it names none.
    pub const DEFAULT_NAMESPACE: &str = "cached";

    /// The filter holding the function's name and the hash of its other arguments.
    pub const CALL_FILTER: &str = "fn";

    /// One call: where to look and what for.
    pub struct Call<'a> {
        cache: Option<&'a SemanticCache>,
        namespace: &'a str,
        query: Query,
        ttl: Option<Duration>,
    }

    /// Describes a call. `args_key` is `hoard`'s key of the arguments that must be equal
    /// for a hit (empty when they did not serialize: such a call is not cached).
    pub fn call<'a>(
        cache: Option<&'a SemanticCache>,
        namespace: &'a str,
        query: &str,
        args_key: String,
        filters: Vec<(&'static str, String)>,
        threshold: Option<f32>,
        ttl: Option<Duration>,
    ) -> Call<'a> {
        static UNSET: AtomicBool = AtomicBool::new(false);
        if cache.is_none() && !UNSET.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "#[cached(semantic = true)]: no semantic cache set (hoard_semantic::set_global); computing every call"
            );
        }
        let mut q = Query::new(query);
        q.threshold = threshold;
        for (name, value) in filters {
            q.filters.insert(name.to_owned(), value);
        }
        let cacheable = !args_key.is_empty();
        q.filters.insert(CALL_FILTER.to_owned(), args_key);
        Call {
            cache: cache.filter(|_| cacheable),
            namespace,
            query: q,
            ttl,
        }
    }

    /// Pins an async block's output type, so `?` inside it knows what to convert into.
    pub fn typed<R, F: Future<Output = R>>(future: F) -> F {
        future
    }

    /// The common path: look up, else compute and store what `keep` says is an answer.
    async fn run<R, F, Fut>(
        call: Call<'_>,
        compute: F,
        from_value: impl FnOnce(serde_json::Value) -> Option<R>,
        keep: impl FnOnce(&R) -> Option<serde_json::Value>,
    ) -> R
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = R>,
    {
        let Some(cache) = call.cache else {
            return compute().await;
        };
        let namespace = call.namespace;
        match cache.lookup(namespace, &call.query).await {
            Ok(Some(hit)) => match from_value(hit.value) {
                Some(value) => return value,
                None => tracing::warn!(
                    namespace,
                    id = hit.id,
                    "#[cached(semantic = true)]: a stored answer does not decode as the return type; computing"
                ),
            },
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(namespace, %error, "#[cached(semantic = true)]: lookup failed; computing without the cache");
                return compute().await;
            }
        }
        let value = compute().await;
        if let Some(json) = keep(&value) {
            let options = Store {
                ttl: call.ttl,
                filters: call.query.filters.clone(),
                context: None,
            };
            if let Err(error) = cache
                .store(namespace, &call.query.text, json, &options)
                .await
            {
                tracing::warn!(namespace, %error, "#[cached(semantic = true)]: cannot store the answer");
            }
        }
        value
    }

    fn to_json<T: Serialize>(value: &T) -> Option<serde_json::Value> {
        match serde_json::to_value(value) {
            Ok(json) => Some(json),
            Err(error) => {
                tracing::warn!(%error, "#[cached(semantic = true)]: the answer does not serialize; not storing it");
                None
            }
        }
    }

    fn from_json<T: DeserializeOwned>(json: serde_json::Value) -> Option<T> {
        serde_json::from_value(json).ok()
    }

    pub async fn cached_async<T, F, Fut>(call: Call<'_>, compute: F) -> T
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        run(call, compute, from_json, to_json).await
    }

    pub async fn cached_async_result<T, E, F, Fut>(call: Call<'_>, compute: F) -> Result<T, E>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        run(
            call,
            compute,
            |json| from_json(json).map(Ok),
            |value| value.as_ref().ok().and_then(to_json),
        )
        .await
    }

    pub async fn cached_async_option<T, F, Fut>(call: Call<'_>, compute: F) -> Option<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        run(
            call,
            compute,
            |json| from_json(json).map(Some),
            |value| value.as_ref().and_then(to_json),
        )
        .await
    }

    pub fn cached_blocking<T, F>(call: Call<'_>, compute: F) -> T
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> T,
    {
        hoard::block_on(cached_async(call, || async { compute() }))
    }

    pub fn cached_blocking_result<T, E, F>(call: Call<'_>, compute: F) -> Result<T, E>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Result<T, E>,
    {
        hoard::block_on(cached_async_result(call, || async { compute() }))
    }

    pub fn cached_blocking_option<T, F>(call: Call<'_>, compute: F) -> Option<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Option<T>,
    {
        hoard::block_on(cached_async_option(call, || async { compute() }))
    }
}
