//! What `#[cached]` turns a function into.
//!
//! For `fn load(...) -> R` it emits three items:
//! - `load`: looks the result up in the cache, computing (and storing) it on a miss;
//! - `load_fresh`: the same, bypassing the lookup (a caller's `use_cache=false`): computes
//!   and stores the fresh value;
//! - `load_cache()`: a `hoard::CachedFn` handle, to clear the function's entries.

use crate::args::Args;
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::{FnArg, GenericArgument, Ident, ItemFn, Pat, PathArguments, ReturnType, Type};

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

pub fn expand(args: Args, function: ItemFn) -> syn::Result<TokenStream> {
    if args.semantic {
        return crate::semantic::expand(args, function);
    }
    let sig = &function.sig;
    let ReturnType::Type(_, ret) = &sig.output else {
        return Err(syn::Error::new_spanned(
            &sig.ident,
            "a #[cached] function must return the value to cache",
        ));
    };
    let key_args = key_arguments(&args, &function)?;
    let fn_name = &sig.ident;
    let name = cache_name(&args, fn_name);
    let namespace = namespace_or(&args, quote!(::hoard::__private::DEFAULT_NAMESPACE));
    let cache = match &args.cache {
        Some(expr) => quote!(&(#expr)),
        None => quote!(::hoard::global()),
    };
    let key = match &args.key {
        Some(expr) => quote!(::hoard::__private::custom_key(#name, &(#expr))),
        None => {
            // Each argument checked on its own, with the error pointing at it.
            let parts = key_args
                .iter()
                .map(|arg| quote_spanned!(arg.span()=> ::hoard::__private::key_arg(&#arg)));
            quote!(::hoard::__private::args_key(#name, &[ #(#parts),* ]))
        }
    };
    let ttl = args.ttl.as_ref().map(|ttl| {
        let constant = ttl_const(ttl);
        quote! {
            #constant
            let __hoard_options = __hoard_options.ttl(__HOARD_TTL);
        }
    });
    let is_async = sig.asyncness.is_some();
    let block = &function.block;
    let helper = match (mode_of(ret, args.cache_none), is_async) {
        (Mode::Plain, true) => quote!(cached_async),
        (Mode::Result, true) => quote!(cached_async_result),
        (Mode::Option, true) => quote!(cached_async_option),
        (Mode::Plain, false) => quote!(cached_blocking),
        (Mode::Result, false) => quote!(cached_blocking_result),
        (Mode::Option, false) => quote!(cached_blocking_option),
    };
    let compute = if is_async {
        quote!(move || ::hoard::__private::typed::<#ret, _>(async move #block))
    } else {
        quote!(move || -> #ret #block)
    };
    let wait = is_async.then(|| quote!(.await));
    let body = |bypass: bool| {
        quote! {{
            let __hoard_cache: &::hoard::Cache = #cache;
            let __hoard_key: ::std::string::String = #key;
            let __hoard_options = ::hoard::ComputeOptions::new().bypass(#bypass);
            #ttl
            ::hoard::__private::#helper(__hoard_cache, #namespace, &__hoard_key, &__hoard_options, #compute) #wait
        }}
    };

    let attrs = &function.attrs;
    let vis = &function.vis;
    let cached_body = body(false);
    let fresh_body = body(true);
    let mut fresh_sig = sig.clone();
    fresh_sig.ident = format_ident!("{}_fresh", fn_name);
    let handle = format_ident!("{}_cache", fn_name);
    let fresh_doc = format!(
        "Like [`{fn_name}`], but computes fresh (bypassing the cache) and stores the fresh value for later calls."
    );
    let handle_doc =
        format!("The cache of [`{fn_name}`]: its name, and a way to clear its entries.");
    Ok(quote! {
        #(#attrs)*
        #vis #sig #cached_body

        #[doc = #fresh_doc]
        #[allow(dead_code)]
        #vis #fresh_sig #fresh_body

        #[doc = #handle_doc]
        #[allow(dead_code)]
        #vis fn #handle() -> ::hoard::CachedFn {
            ::hoard::CachedFn::new(#namespace, #name)
        }
    })
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
