//! `#[hoard::cached]`: compute-through caching for functions and methods, sync or async.
//!
//! Use it through the `hoard` crate (`#[hoard::cached]`), which re-exports it and holds the
//! runtime support it expands to. The documentation with examples is on `hoard::cached`.

mod args;
mod expand;

use proc_macro::TokenStream;

/// Caches a function's results in a hoard `Cache` (compute-through, with single-flight).
///
/// Works on sync and async functions and methods. The key is `{name}:{hash of the
/// arguments}` in namespace `cached`; `self` is never part of it.
///
/// | option | meaning |
/// |---|---|
/// | `name = "user_profile"` | the cache's name (default `module_path::function`) |
/// | `namespace = "fn"` | namespace of the entries (default `cached`) |
/// | `ttl = "1h"` | TTL, checked at compile time (default: the cache's default TTL) |
/// | `key = expr` | a key of your own (`Display`) instead of hashing the arguments |
/// | `skip(db, client)` | arguments left out of the key (connections, clients) |
/// | `cache = expr` | the `Cache` to use (default `hoard::global()`); may use `self` |
/// | `cache_none` | for `Option` returns, cache `None` too |
///
/// `Result<T, E>` returns cache only `Ok`; `Option<T>` returns cache only `Some`. Next to
/// `f` the macro generates `f_fresh` (same signature: compute fresh, store, return: seed
/// 003's `use_cache=false`) and `f_cache()` (a `hoard::CachedFn` to clear `f`'s entries).
/// Arguments in the key must implement `serde::Serialize`; the compiler says so, pointing at
/// the argument, when one does not. Examples: the `hoard` README.
#[proc_macro_attribute]
pub fn cached(attr: TokenStream, item: TokenStream) -> TokenStream {
    let args = match args::parse(attr.into()) {
        Ok(args) => args,
        Err(error) => return error.into_compile_error().into(),
    };
    let function = syn::parse_macro_input!(item as syn::ItemFn);
    expand::expand(args, function)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
