//! `#[hoard::cached]`: compute-through caching for functions and methods, sync or async.
//!
//! Use it through the `hoard` crate (`#[hoard::cached]`), which re-exports it and holds the
//! runtime support it expands to. The documentation with examples is on `hoard::cached`.

mod args;
mod expand;
mod parts;
mod semantic;

use proc_macro::TokenStream;

/// Caches a function's results in a hoard `Cache` (compute-through, with single-flight).
///
/// Works on sync and async functions and methods. The key is `{name}:v2:{hash}` in
/// namespace `cached`: `hash` is 32 hex digits of the XXH3-128 of the arguments (all but
/// `self` and the `skip`ped ones), fed to the hash as serde serializes them, with no text
/// in between. The same arguments give the same key in every process, on every platform
/// and in every release (the byte stream is fixed and pinned by tests; `v2` names its
/// format, so keys of another format simply miss). Integers key by value (`1u8` and `1u64`
/// agree), floats by their bits (`-0.0` apart from `0.0`, one NaN), maps by content
/// whatever their order (a `HashMap`), struct fields and enum variants by name; a
/// `HashSet` is a sequence to serde, so pass a `BTreeSet` or a sorted `Vec` instead. The
/// hash is fast, not cryptographic: where an attacker picks the arguments and another
/// caller's result is at stake, give the key with `key = ...`, built with
/// `hoard::stable_hash` (BLAKE3).
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
/// | `semantic = true` | match calls by the meaning of their `query` argument (below) |
/// | `threshold = 0.85` | semantic only: the similarity a hit needs, in [0, 1] |
/// | `filter(user_id)` | semantic only: arguments that partition entries exactly |
///
/// `Result<T, E>` returns cache only `Ok`; `Option<T>` returns cache only `Some`. Next to
/// `f` the macro generates `f_fresh` (same signature: compute fresh, store, return, as a
/// Python caller's `use_cache=false` does) and `f_cache()` (a `hoard::CachedFn` to clear
/// `f`'s entries).
/// Arguments in the key must implement `serde::Serialize`; the compiler says so, pointing at
/// the argument, when one does not. Examples: the `hoard` README.
///
/// With `semantic = true` (a Python `@cache(semantic=True)`) the function needs an
/// argument named `query` (`&str`, `String`, anything `AsRef<str>`); a call is answered
/// from the `hoard_semantic` cache when an earlier call asked something with the same
/// meaning, after the wrong-hit guards. The other arguments (minus `skip`ped ones) must be
/// equal for a hit: they are hashed into a filter, as `filter(...)` arguments are compared
/// by their `Display` text. `cache = expr` then names a `SemanticCache` (default
/// `hoard_semantic::global()`, set with `hoard_semantic::set_global`); with none set, or if
/// the cache fails, the function computes as if uncached. Answers are stored as JSON, so the
/// value (`T`, `Ok(T)`, `Some(T)`) must be `Serialize + DeserializeOwned`; errors and
/// `None` are not stored. Needs `hoard-semantic` as a dependency of the calling crate.
#[proc_macro_attribute]
pub fn cached(attr: TokenStream, item: TokenStream) -> TokenStream {
    let args = match args::parse(attr.into()) {
        Ok(args) => args,
        Err(error) => return error.into_compile_error().into(),
    };
    let function = syn::parse_macro_input!(item as syn::ItemFn);
    let expanded = if args.semantic {
        semantic::expand(args, function)
    } else {
        expand::expand(args, function)
    };
    expanded
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
