//! The attribute's arguments: `name`, `namespace`, `ttl`, `key`, `skip(...)`, `cache`,
//! `cache_none`.

use proc_macro2::TokenStream;
use syn::{Expr, Ident, LitStr};

/// What `#[cached(...)]` was given.
#[derive(Default)]
pub struct Args {
    /// Entry-name of the function's cache (default `module_path::function`).
    pub name: Option<LitStr>,
    /// Namespace of the entries (default `cached`).
    pub namespace: Option<LitStr>,
    /// TTL as text, checked at compile time (default: the cache's default TTL).
    pub ttl: Option<LitStr>,
    /// Key expression (`Display`), instead of hashing the arguments.
    pub key: Option<Expr>,
    /// Arguments left out of the key.
    pub skip: Vec<Ident>,
    /// Expression giving the `Cache` (default `hoard::global()`).
    pub cache: Option<Expr>,
    /// Cache `None` results of `Option`-returning functions too.
    pub cache_none: bool,
}

pub fn parse(tokens: TokenStream) -> syn::Result<Args> {
    let mut args = Args::default();
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            args.name = Some(meta.value()?.parse()?);
        } else if meta.path.is_ident("namespace") {
            args.namespace = Some(meta.value()?.parse()?);
        } else if meta.path.is_ident("ttl") {
            args.ttl = Some(meta.value()?.parse()?);
        } else if meta.path.is_ident("key") {
            args.key = Some(meta.value()?.parse()?);
        } else if meta.path.is_ident("cache") {
            args.cache = Some(meta.value()?.parse()?);
        } else if meta.path.is_ident("cache_none") {
            args.cache_none = true;
        } else if meta.path.is_ident("skip") {
            meta.parse_nested_meta(|inner| {
                let ident =
                    inner.path.get_ident().cloned().ok_or_else(|| {
                        inner.error("skip takes argument names: skip(db, client)")
                    })?;
                args.skip.push(ident);
                Ok(())
            })?;
        } else {
            return Err(meta.error(
                "unknown #[cached] option; expected name, namespace, ttl, key, skip(...), cache or cache_none",
            ));
        }
        Ok(())
    });
    syn::parse::Parser::parse2(parser, tokens)?;
    Ok(args)
}
