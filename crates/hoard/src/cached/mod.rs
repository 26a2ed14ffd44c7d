//! Runtime side of `#[hoard::cached]`: the global cache, [`CachedFn`], and the helpers the
//! macro expands to (`args.rs` the argument hash, `key.rs` and `key_text.rs` the keys,
//! `calls.rs` the lookups).

mod args;
mod calls;
mod key;
mod key_text;

use crate::cache::Cache;
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

/// One `#[cached]` function's entries: `{namespace}:{name}:{key}`, where `key` is
/// `v2:{hash of the arguments}` or the function's own `key = ...`.
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

    /// Removes every cached result of the function from `cache` (entries of every key
    /// format, `{name}:*`); returns how many went.
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
    pub use super::calls::{
        cached_async, cached_async_option, cached_async_result, cached_blocking,
        cached_blocking_option, cached_blocking_result, NotCached,
    };
    pub use super::key::{
        call_key, custom_key, json_args_key, json_key_arg, ArgsHasher, CallKey, Key, KeyArg,
    };
    pub use super::key_text::KeyText;
    use std::future::Future;

    /// Namespace of a function's entries when it names none.
    pub const DEFAULT_NAMESPACE: &str = "cached";

    /// Pins an async block's output type, so `?` inside it knows what to convert into.
    pub fn typed<R, F: Future<Output = R>>(future: F) -> F {
        future
    }
}
