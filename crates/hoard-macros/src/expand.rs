//! What `#[cached]` turns a function into.
//!
//! For `fn load(...) -> R` it emits three items:
//! - `load`: looks the result up in the cache, computing (and storing) it on a miss;
//! - `load_fresh`: the same, bypassing the lookup (a caller's `use_cache=false`): computes
//!   and stores the fresh value;
//! - `load_cache()`: a `hoard::CachedFn` handle, to clear the function's entries.

use crate::args::Args;
use crate::parts::{cache_name, key_arguments, mode_of, namespace_or, ttl_const, Mode};
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::{ItemFn, ReturnType};

pub fn expand(args: Args, function: ItemFn) -> syn::Result<TokenStream> {
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
    // Binds `__hoard_key`, the call's `hoard::__private::Key`.
    let key = match &args.key {
        Some(expr) => quote! {
            let mut __hoard_text = ::hoard::__private::KeyText::default();
            ::hoard::__private::custom_key(&mut __hoard_text, #name, &(#expr));
            let __hoard_key = ::hoard::__private::Key::Text(&__hoard_text);
        },
        None => {
            // Each argument hashed (and checked to be `Serialize`, with the error pointing
            // at it) straight into the call's digest: no text, no allocation.
            let parts = key_args
                .iter()
                .map(|arg| quote_spanned!(arg.span()=> __hoard_args.arg(&#arg);));
            quote! {
                let __hoard_key = ::hoard::__private::Key::Call(
                    ::hoard::__private::call_key(#name, |__hoard_args| { #(#parts)* }),
                );
            }
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
            #key
            let __hoard_options = ::hoard::ComputeOptions::new().bypass(#bypass);
            #ttl
            ::hoard::__private::#helper(__hoard_cache, #namespace, __hoard_key, &__hoard_options, #compute) #wait
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
