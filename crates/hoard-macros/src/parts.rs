//! The pieces both expansions (`expand`, and `semantic` for `semantic = true`) build from
//! the function and its options. They live here, below both, so that neither expansion
//! depends on the other.

use crate::args::Args;
use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use syn::{FnArg, GenericArgument, Ident, ItemFn, Pat, PathArguments, Type};

/// How the return type is cached.
pub(crate) enum Mode {
    /// Any `T`: cached as is.
    Plain,
    /// `Result<T, E>`: only `Ok` is cached.
    Result,
    /// `Option<T>`: only `Some` is cached (unless `cache_none`).
    Option,
}

pub(crate) fn mode_of(ty: &Type, cache_none: bool) -> Mode {
    let Type::Path(path) = ty else {
        return Mode::Plain;
    };
    let Some(last) = path.path.segments.last() else {
        return Mode::Plain;
    };
    let arity = match &last.arguments {
        PathArguments::AngleBracketed(args) => args
            .args
            .iter()
            .filter(|a| matches!(a, GenericArgument::Type(_)))
            .count(),
        _ => 0,
    };
    match (last.ident.to_string().as_str(), arity) {
        ("Result", 2) => Mode::Result,
        ("Option", 1) if !cache_none => Mode::Option,
        _ => Mode::Plain,
    }
}

/// The function's cache name: `name = "..."`, else `module_path::function`.
pub(crate) fn cache_name(args: &Args, fn_name: &Ident) -> TokenStream {
    match &args.name {
        Some(name) => name.to_token_stream(),
        None => {
            let text = fn_name.to_string();
            quote!(::core::concat!(::core::module_path!(), "::", #text))
        }
    }
}

/// `namespace = "..."`, else `default` (the core and semantic runtimes each have one).
pub(crate) fn namespace_or(args: &Args, default: TokenStream) -> TokenStream {
    match &args.namespace {
        Some(ns) => ns.to_token_stream(),
        None => default,
    }
}

/// `const __HOARD_TTL: Duration`, parsed at compile time: a bad TTL fails the build.
pub(crate) fn ttl_const(ttl: &syn::LitStr) -> TokenStream {
    quote! {
        const __HOARD_TTL: ::std::time::Duration = match ::hoard::ttl::parse_duration_const(#ttl) {
            ::std::result::Result::Ok(ttl) => ttl,
            ::std::result::Result::Err(_) => ::core::panic!(::core::concat!(
                "#[cached]: invalid ttl \"", #ttl, "\": write it like 90s, 15m, 2h5m or 1d"
            )),
        };
    }
}

/// The arguments that make the key: every named argument but `self` and the skipped ones.
pub(crate) fn key_arguments(args: &Args, function: &ItemFn) -> syn::Result<Vec<Ident>> {
    let mut names = Vec::new();
    for input in &function.sig.inputs {
        let FnArg::Typed(typed) = input else { continue };
        match &*typed.pat {
            Pat::Ident(ident) => names.push(ident.ident.clone()),
            other if args.key.is_none() => {
                return Err(syn::Error::new_spanned(
                    other,
                    "#[cached] hashes named arguments into the key; give this one a name, or set `key = ...`",
                ))
            }
            _ => {}
        }
    }
    for skipped in &args.skip {
        if !names.contains(skipped) {
            return Err(syn::Error::new_spanned(
                skipped,
                format!("skip({skipped}): the function has no argument named `{skipped}`"),
            ));
        }
    }
    Ok(names
        .into_iter()
        .filter(|n| !args.skip.contains(n))
        .collect())
}
