//! The object cache in front of the bytes: decoded values of recent hits, so a memory hit
//! does not decode MessagePack again.
//!
//! An object is reused only while L1 answers with the very bytes it was decoded from (same
//! allocation, which the front keeps alive, so the address cannot be reused by other
//! bytes): any write, delete, expiry or invalidation replaces L1's bytes and the front
//! entry simply stops matching. No event can be missed because none is listened to.
//! Callers get a copy of the containers (`value::fresh_copy`): mutating a returned dict
//! never changes what the next caller reads.

use crate::value::fresh_copy;
use bytes::Bytes;
use pyo3::prelude::*;
use std::collections::HashMap;
use std::sync::Mutex;

/// Values larger than this are decoded every time (their decode dwarfs the call anyway).
const MAX_VALUE: usize = 64 << 10;
/// Entries kept before the map starts over.
const MAX_ENTRIES: usize = 10_000;

/// Decoded objects by full key, with the bytes they came from.
#[derive(Default)]
pub struct Front {
    map: Mutex<HashMap<String, (Bytes, Py<PyAny>)>>,
}

impl Front {
    /// A fresh copy of the object decoded from exactly `bytes`, if there is one.
    pub fn get<'py>(
        &self,
        py: Python<'py>,
        full_key: &str,
        bytes: &Bytes,
    ) -> Option<PyResult<Bound<'py, PyAny>>> {
        let object = {
            let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
            let (kept, object) = map.get(full_key)?;
            let same = kept.as_ptr() == bytes.as_ptr() && kept.len() == bytes.len();
            same.then(|| object.clone_ref(py))?
        };
        // Copied outside the lock: allocating may run the garbage collector, whose
        // finalizers may call this cache again.
        Some(fresh_copy(object.bind(py)))
    }

    /// Remembers `object` (a copy of it, so the caller may keep and mutate the original)
    /// as decoded from `bytes`.
    pub fn put(&self, full_key: String, bytes: Bytes, object: &Bound<'_, PyAny>) -> PyResult<()> {
        if bytes.len() > MAX_VALUE {
            return Ok(());
        }
        let kept = fresh_copy(object)?.unbind();
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(full_key, (bytes, kept));
        Ok(())
    }
}
