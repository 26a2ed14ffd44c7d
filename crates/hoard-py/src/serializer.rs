//! How values become bytes: hoard's MessagePack (the default, shared with the server and
//! Rust), or signed pickle for Python objects JSON cannot hold.
//!
//! Pickle runs code while it loads, so a pickle read from a shared Redis is remote code
//! execution for anyone who can write to that Redis. Pickled values are therefore signed:
//! `MAGIC ++ tag ++ pickle`, the tag a BLAKE3 keyed hash (a MAC) of the entry's full key
//! and the pickle, keyed from the secret. The key is part of what is signed, so a signed
//! value copied to another key does not verify either. Anything that does not verify reads
//! as a miss and is never unpickled. The whole is stored as a MessagePack `bin`, so every
//! entry stays valid MessagePack for the other readers.

use crate::errors::config_error;
use crate::value;
use bytes::Bytes;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyBytes;
use subtle::ConstantTimeEq;

const MAGIC: &[u8] = b"hoard-pickle-v1\0";
const TAG: usize = 32;

/// The way a cache stores values.
pub enum Serializer {
    /// JSON-compatible values and bytes as MessagePack.
    MsgPack,
    /// Any picklable value, signed with a key derived from the secret.
    Pickle {
        /// The MAC key.
        key: [u8; 32],
    },
}

impl Serializer {
    /// From the constructor's `serializer` and `secret` arguments.
    pub fn new(name: &str, secret: Option<&[u8]>) -> PyResult<Serializer> {
        match (name, secret) {
            ("msgpack" | "json", None) => Ok(Serializer::MsgPack),
            ("msgpack" | "json", Some(_)) => Err(config_error(
                "a secret is only used with serializer=\"pickle\"",
            )),
            ("pickle", Some(secret)) if secret.len() >= 16 => Ok(Serializer::Pickle {
                key: blake3::derive_key("hoard 2026 pickle signing key v1", secret),
            }),
            ("pickle", Some(_)) => Err(config_error(
                "the pickle secret must be at least 16 bytes (use secrets.token_bytes(32))",
            )),
            ("pickle", None) => Err(config_error(
                "serializer=\"pickle\" needs a secret: unsigned pickles from a shared store let \
                 anyone who can write to it run code in this process",
            )),
            (other, _) => Err(config_error(format!(
                "unknown serializer {other:?}: expected \"msgpack\" or \"pickle\""
            ))),
        }
    }

    /// The bytes to store for `value` at `full_key`.
    pub fn dumps(&self, value: &Bound<'_, PyAny>, full_key: &str) -> PyResult<Bytes> {
        match self {
            Serializer::MsgPack => value::encode(value).map(Bytes::from),
            Serializer::Pickle { key } => {
                let py = value.py();
                let pickled = pickle(py)?
                    .call_method1("dumps", (value, 5))?
                    .cast_into::<PyBytes>()?;
                let payload = pickled.as_bytes();
                let mut signed = Vec::with_capacity(MAGIC.len() + TAG + payload.len());
                signed.extend_from_slice(MAGIC);
                signed.extend_from_slice(&mac(key, full_key, payload));
                signed.extend_from_slice(payload);
                let mut out = Vec::with_capacity(signed.len() + 5);
                let _ = rmp::encode::write_bin(&mut out, &signed);
                Ok(Bytes::from(out))
            }
        }
    }

    /// The value stored as `bytes` at `full_key`; `None` for what must read as a miss (an
    /// unsigned or tampered pickle).
    pub fn loads<'py>(
        &self,
        py: Python<'py>,
        bytes: &[u8],
        full_key: &str,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        match self {
            Serializer::MsgPack => value::decode(py, bytes).map(Some),
            Serializer::Pickle { key } => {
                let Some(payload) = verified(key, bytes, full_key) else {
                    return Ok(None);
                };
                let loaded = pickle(py)?.call_method1("loads", (PyBytes::new(py, payload),))?;
                Ok(Some(loaded))
            }
        }
    }
}

fn mac(key: &[u8; 32], full_key: &str, payload: &[u8]) -> [u8; TAG] {
    let mut hasher = blake3::Hasher::new_keyed(key);
    hasher.update(&(full_key.len() as u64).to_le_bytes());
    hasher.update(full_key.as_bytes());
    hasher.update(payload);
    *hasher.finalize().as_bytes()
}

/// The pickle inside a signed value, if its tag verifies.
fn verified<'b>(key: &[u8; 32], bytes: &'b [u8], full_key: &str) -> Option<&'b [u8]> {
    let signed = msgpack_bin(bytes)?;
    let rest = signed.strip_prefix(MAGIC)?;
    if rest.len() < TAG {
        return None;
    }
    let (tag, payload) = rest.split_at(TAG);
    bool::from(mac(key, full_key, payload).ct_eq(tag)).then_some(payload)
}

/// The contents of a MessagePack `bin` that is the whole of `bytes`.
fn msgpack_bin(bytes: &[u8]) -> Option<&[u8]> {
    let (&marker, rest) = bytes.split_first()?;
    let (len, rest) = match marker {
        0xc4 => (usize::from(*rest.first()?), rest.get(1..)?),
        0xc5 => (
            usize::from(u16::from_be_bytes(rest.get(..2)?.try_into().ok()?)),
            rest.get(2..)?,
        ),
        0xc6 => (
            u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize,
            rest.get(4..)?,
        ),
        _ => return None,
    };
    (rest.len() == len).then_some(rest)
}

fn pickle(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    static PICKLE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    PICKLE
        .get_or_try_init(py, || py.import("pickle").map(Bound::unbind))
        .map(|m| m.bind(py))
}
