//! The keys of `#[cached]` calls: [`call_key`] for the argument hash (format `v2`, see
//! `args.rs`), [`custom_key`] for `key = ...`, and the first format's [`json_key_arg`] and
//! [`json_args_key`], which the semantic expansion keeps for its filters.

use super::args::{self, EncodeError, Encoder};
use super::key_text::KeyText;
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

/// Makes `key` the key of a call: `{name}:v2:{hash}`, the hash taken of the arguments
/// `args` feeds to the [`ArgsHasher`] it is handed, one [`ArgsHasher::arg`] each (each
/// checked, with its own compile error, to be `Serialize`). The empty key (computed
/// without the cache) if an argument's `Serialize` impl failed.
///
/// A closure rather than a hasher handed back and forth, and the key filled in place: the
/// hasher's buffer and the key's stay where they are instead of being copied on each move.
#[inline]
pub fn call_key(key: &mut KeyText, name: &str, args: impl FnOnce(&mut ArgsHasher)) {
    let mut hasher = ArgsHasher {
        encoder: args::call(),
        error: None,
    };
    args(&mut hasher);
    hasher.finish(key, name);
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

    #[inline]
    fn finish(&mut self, key: &mut KeyText, name: &str) {
        if let Some(error) = &self.error {
            // The stream takes any value, so only a user's impl fails (a `serialize_with`
            // that refuses, a poisoned lock): the call is computed, not cached.
            tracing::warn!(%name, %error, "#[cached]: arguments do not serialize; not caching this call");
            *key = KeyText::default();
            return;
        }
        args::close(&mut self.encoder);
        key.set_hashed(name, self.encoder.digest());
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
