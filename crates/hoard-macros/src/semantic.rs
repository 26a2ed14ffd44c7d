//! What `#[cached(semantic = true)]` turns a function into: a lookup by the meaning of its
//! `query` argument in a `hoard_semantic::SemanticCache`, computing and storing on a miss.
//!
//! The expansion builds a call description (`hoard_semantic::__private::call`) from the
//! arguments, then hands it and the body, as a closure, to a helper chosen by the return
//! type (`T`, `Result<T, E>`, `Option<T>`) and by whether the function is async.

use crate::args::Args;
use crate::parts::{cache_name, key_arguments, mode_of, namespace_or, ttl_const, Mode};
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::{ItemFn, ReturnType};

pub fn expand(args: Args, function: ItemFn) -> syn::Result<TokenStream> {
    let sig = &function.sig;
    let ReturnType::Type(_, ret) = &sig.output else {
        return Err(syn::Error::new_spanned(
            &sig.ident,
            "a #[cached] function must return the value to cache",
        ));
    };
    let named = key_arguments(&args, &function)?;
    let Some(query) = named.iter().find(|n| *n == "query").cloned() else {
        return Err(syn::Error::new_spanned(
            &sig.ident,
            "#[cached(semantic = true)] matches calls by the meaning of an argument named `query` (any `AsRef<str>`); this function has none",
        ));
    };
    for filter in &args.filter {
        if *filter == "query" || !named.contains(filter) {
            return Err(syn::Error::new_spanned(
                filter,
                format!("filter({filter}): the function has no other argument named `{filter}`"),
            ));
        }
    }
    // Everything else the caller passes must match exactly: hashed into one filter.
    let exact: Vec<_> = named
        .iter()
        .filter(|n| **n != query && !args.filter.contains(n))
        .collect();

    let name = cache_name(&args, &sig.ident);
    let namespace = namespace_or(
        &args,
        quote!(::hoard_semantic::__private::DEFAULT_NAMESPACE),
    );
    // Bound with `let` first: a temporary the expression makes (an `Arc` returned by
    // value) then lives to the end of the function.
    let cache = match &args.cache {
        Some(expr) => quote! {
            let __hoard_semantic_cache = &(#expr);
            let __hoard_semantic_cache = ::core::option::Option::Some(
                ::core::convert::AsRef::<::hoard_semantic::SemanticCache>::as_ref(__hoard_semantic_cache),
            );
        },
        None => quote! {
            let __hoard_semantic_cache = ::hoard_semantic::global().map(|c| &**c);
        },
    };
    let parts = exact.iter().map(|arg| {
        quote_spanned!(arg.span()=> ::hoard_semantic::__private::hoard::__private::json_key_arg(&#arg))
    });
    let filters = args.filter.iter().map(|f| {
        let text = f.to_string();
        quote_spanned!(f.span()=> (#text, ::std::string::ToString::to_string(&#f)))
    });
    let threshold = match args.threshold {
        Some((value, _)) => quote!(::core::option::Option::Some(#value)),
        None => quote!(::core::option::Option::None),
    };
    let (ttl_item, ttl) = match &args.ttl {
        Some(ttl) => (
            ttl_const(ttl),
            quote!(::core::option::Option::Some(__HOARD_TTL)),
        ),
        None => (quote!(), quote!(::core::option::Option::None)),
    };
    let is_async = sig.asyncness.is_some();
    let helper = match (mode_of(ret, false), is_async) {
        (Mode::Plain, true) => quote!(cached_async),
        (Mode::Result, true) => quote!(cached_async_result),
        (Mode::Option, true) => quote!(cached_async_option),
        (Mode::Plain, false) => quote!(cached_blocking),
        (Mode::Result, false) => quote!(cached_blocking_result),
        (Mode::Option, false) => quote!(cached_blocking_option),
    };
    let block = &function.block;
    let compute = if is_async {
        quote!(move || ::hoard_semantic::__private::typed::<#ret, _>(async move #block))
    } else {
        quote!(move || -> #ret #block)
    };
    let wait = is_async.then(|| quote!(.await));
    let attrs = &function.attrs;
    let vis = &function.vis;
    Ok(quote! {
        #(#attrs)*
        #vis #sig {
            #ttl_item
            #cache
            let __hoard_call = ::hoard_semantic::__private::call(
                __hoard_semantic_cache,
                #namespace,
                ::core::convert::AsRef::<str>::as_ref(&#query),
                ::hoard_semantic::__private::hoard::__private::json_args_key(#name, &[ #(#parts),* ]),
                ::std::vec![ #(#filters),* ],
                #threshold,
                #ttl,
            );
            ::hoard_semantic::__private::#helper(__hoard_call, #compute) #wait
        }
    })
}
