//! The keys of `#[cached]` calls: [`call_key`] for the argument digest (format `v2`, see
//! `args.rs`), [`custom_key`] for `key = ...`, and the first format's [`json_key_arg`] and
//! [`json_args_key`], which the semantic expansion keeps for its filters.

use super::args::{self, EncodeError, Encoder};
use super::key_text::KeyText;
use crate::cache::Cache;
use crate::compute::ComputeOptions;
use crate::entry::Entry;
use serde::Serialize;

/// Arguments of a `#[cached]` function make its key, so they must be serializable.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be part of a #[cached] key",
    label = "this argument is hashed into the cache key, but does not implement serde::Serialize",
    note = "derive or implement serde::Serialize for it, leave it out with `skip(name)` (a connection, a client), or give the key yourself with `key = ...`"
)]
pub trait KeyArg {
    /// The argument as canonical JSON: the first format, which the semantic filters hash.
    fn key_json(&self) -> Result<String, String>;

    /// Appends the argument to a call's hash (format `v2`).
    fn hash_into(&self, hasher: &mut ArgsHasher);
}

impl<T: Serialize + ?Sized> KeyArg for T {
    fn key_json(&self) -> Result<String, String> {
        crate::key::canonical_json(self).map_err(|e| e.to_string())
    }

    fn hash_into(&self, hasher: &mut ArgsHasher) {
        hasher.push(self);
    }
}

/// The key of a call: the function's name and the hash of the arguments `args` feeds to
/// the [`ArgsHasher`] it is handed, one [`ArgsHasher::arg`] each (each checked, with its
/// own compile error, to be `Serialize`).
///
/// The key is not formatted here: a hit looks its entry up by the digest (see
/// [`CallKey`]), and only a miss writes `{name}:v2:{hash}`. A closure rather than a
/// hasher handed back and forth: the hasher's buffer stays where it is.
#[inline]
pub fn call_key<'n>(name: &'n str, args: impl FnOnce(&mut ArgsHasher)) -> CallKey<'n> {
    let mut hasher = ArgsHasher {
        encoder: args::call(),
        error: None,
    };
    args(&mut hasher);
    if let Some(error) = &hasher.error {
        // The stream takes any value, so only a user's impl fails (a `serialize_with`
        // that refuses, a poisoned lock): the call is computed, not cached.
        tracing::warn!(%name, %error, "#[cached]: arguments do not serialize; not caching this call");
        return CallKey { name, digest: None };
    }
    args::close(&mut hasher.encoder);
    CallKey {
        name,
        digest: Some(hasher.encoder.digest()),
    }
}

/// A `#[cached]` call's key before it is text: the function's name and its arguments'
/// digest, or no digest when an argument's `Serialize` impl failed (such a call is
/// computed without the cache).
#[derive(Clone, Copy, Debug)]
pub struct CallKey<'n> {
    name: &'n str,
    digest: Option<u128>,
}

impl CallKey<'_> {
    /// The key as text, `{name}:v2:{32 hex digits}`; empty (a key the cache refuses, so
    /// the call computes without it) when there is no digest.
    pub fn text(&self) -> KeyText {
        let mut key = KeyText::default();
        if let Some(digest) = self.digest {
            key.set_hashed(self.name, digest);
        }
        key
    }
}

/// How a call names its entry: by its argument digest, or by the text of `key = ...`.
#[derive(Clone, Copy, Debug)]
pub enum Key<'a> {
    /// The hash of the arguments.
    Call(CallKey<'a>),
    /// A key the function gives itself.
    Text(&'a KeyText),
}

impl Key<'_> {
    /// L1's entry for the call, looked up (and counted) as the cache's L1 read does; the
    /// digest form needs no key text. `None` for a miss or a call without a key.
    pub(super) fn l1_hit(
        self,
        cache: &Cache,
        namespace: &str,
        options: &ComputeOptions,
    ) -> Option<Entry> {
        match self {
            Key::Call(CallKey {
                name,
                digest: Some(digest),
            }) => cache.begin_call_l1(namespace, name, digest, options),
            Key::Call(CallKey { digest: None, .. }) => None,
            // A key the cache refuses: the full path decides (and says why).
            Key::Text(text) => cache
                .begin_compute_l1(namespace, text, options)
                .ok()
                .flatten(),
        }
    }

    /// The key as text, for the full path a miss takes.
    pub(super) fn text(self) -> KeyText {
        match self {
            Key::Call(call) => call.text(),
            Key::Text(text) => text.clone(),
        }
    }
}

/// The hash of one call's arguments, fed one argument at a time (see [`call_key`]).
pub struct ArgsHasher {
    encoder: Encoder,
    error: Option<EncodeError>,
}

impl ArgsHasher {
    /// Adds the next argument.
    #[inline]
    pub fn arg<T: KeyArg + ?Sized>(&mut self, arg: &T) {
        arg.hash_into(self);
    }

    #[inline]
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) {
        if self.error.is_none() {
            if let Err(error) = self.encoder.value(value) {
                self.error = Some(error);
            }
        }
    }
}

/// Makes `key` `{name}:{custom}`, for `key = ...`.
pub fn custom_key<K: std::fmt::Display + ?Sized>(key: &mut KeyText, name: &str, custom: &K) {
    key.set_custom(name, custom);
}

/// The first format of an argument: canonical JSON (for [`json_args_key`]).
pub fn json_key_arg<T: KeyArg + ?Sized>(arg: &T) -> Result<String, String> {
    arg.key_json()
}

/// `{name}:{hash}` in the first format: [`crate::stable_hash`] of the arguments as one
/// JSON array. `#[cached(semantic = true)]` files its entries under this (their filter
/// must not change while stored answers match by it); plain `#[cached]` keys are `v2`.
pub fn json_args_key(name: &str, args: &[Result<String, String>]) -> String {
    let mut json = String::with_capacity(
        2 + args
            .iter()
            .map(|a| a.as_ref().map_or(0, String::len) + 1)
            .sum::<usize>(),
    );
    json.push('[');
    for (i, arg) in args.iter().enumerate() {
        match arg {
            Ok(part) => {
                if i > 0 {
                    json.push(',');
                }
                json.push_str(part);
            }
            // Serializing plain arguments fails only for maps with non-string keys and
            // the like; such a call is computed without the cache (an empty key is
            // refused by validation, and the helpers then compute directly).
            Err(error) => {
                tracing::warn!(%name, %error, "#[cached]: arguments do not serialize; not caching this call");
                return String::new();
            }
        }
    }
    json.push(']');
    let hash = crate::key::hash_canonical(&json);
    let mut key = String::with_capacity(name.len() + 1 + hash.len());
    key.push_str(name);
    key.push(':');
    key.push_str(&hash);
    key
}
