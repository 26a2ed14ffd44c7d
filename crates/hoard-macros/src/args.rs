//! The attribute's arguments: `name`, `namespace`, `ttl`, `key`, `skip(...)`, `cache`,
//! `cache_none`, and for semantic caching `semantic`, `threshold`, `filter(...)`.

use proc_macro2::TokenStream;
use syn::{Expr, Ident, Lit, LitBool, LitStr};

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
    /// Match calls by the meaning of their `query` argument (hoard-semantic).
    pub semantic: bool,
    /// Similarity threshold of semantic lookups, checked to be in [0, 1].
    pub threshold: Option<(f32, proc_macro2::Span)>,
    /// Arguments that become semantic filters (hard partitions), by name.
    pub filter: Vec<Ident>,
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
        } else if meta.path.is_ident("semantic") {
            // `semantic` alone or `semantic = true|false`.
            args.semantic = match meta.value() {
                Ok(value) => value.parse::<LitBool>()?.value,
                Err(_) => true,
            };
        } else if meta.path.is_ident("threshold") {
            let lit: Lit = meta.value()?.parse()?;
            let value = match &lit {
                Lit::Float(f) => f.base10_parse::<f32>()?,
                Lit::Int(i) => i.base10_parse::<f32>()?,
                other => {
                    return Err(syn::Error::new_spanned(
                        other,
                        "threshold takes a number in [0, 1]",
                    ))
                }
            };
            if !(0.0..=1.0).contains(&value) {
                return Err(syn::Error::new_spanned(
                    lit,
                    "threshold is a cosine similarity: a number in [0, 1]",
                ));
            }
            args.threshold = Some((value, lit.span()));
        } else if meta.path.is_ident("skip") || meta.path.is_ident("filter") {
            let filter = meta.path.is_ident("filter");
            meta.parse_nested_meta(|inner| {
                let ident = inner.path.get_ident().cloned().ok_or_else(|| {
                    inner.error(if filter {
                        "filter takes argument names: filter(user_id)"
                    } else {
                        "skip takes argument names: skip(db, client)"
                    })
                })?;
                if filter {
                    args.filter.push(ident);
                } else {
                    args.skip.push(ident);
                }
                Ok(())
            })?;
        } else {
            return Err(meta.error(
                "unknown #[cached] option; expected name, namespace, ttl, key, skip(...), cache, cache_none, semantic, threshold or filter(...)",
            ));
        }
        Ok(())
    });
    syn::parse::Parser::parse2(parser, tokens)?;
    let span = proc_macro2::Span::call_site();
    if args.semantic {
        if args.key.is_some() {
            return Err(syn::Error::new(
                span,
                "#[cached(semantic)] matches calls by their `query` argument; `key = ...` does not apply",
            ));
        }
        if args.cache_none {
            return Err(syn::Error::new(
                span,
                "#[cached(semantic)] does not take cache_none: a `None` answer is not stored",
            ));
        }
    } else if let Some((_, span)) = args.threshold {
        return Err(syn::Error::new(
            span,
            "threshold applies to #[cached(semantic = true)] only",
        ));
    } else if let Some(ident) = args.filter.first() {
        return Err(syn::Error::new_spanned(
            ident,
            "filter(...) applies to #[cached(semantic = true)] only",
        ));
    }
    Ok(args)
}
