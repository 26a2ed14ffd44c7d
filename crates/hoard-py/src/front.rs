//! The object cache in front of the bytes: decoded values of recent hits, so a memory hit
//! does not decode MessagePack again.
//!
//! An object is found by the address and length of the bytes L1 answered with, and reused
//! only for those very bytes. The front keeps the bytes it decoded alive, so while an
//! object is remembered no other bytes can occupy that address: the same address and
//! length are the same (immutable) bytes, and the same bytes decode to the same value
//! whatever key they sit at. Any write, delete, expiry or invalidation replaces L1's bytes
//! and the remembered object simply stops being asked for. No event can be missed because
//! none is listened to, and a lookup hashes two integers instead of the key.
//! Callers get a copy of the containers (`value::fresh_copy`): mutating a returned dict
//! never changes what the next caller reads.

use crate::value::fresh_copy;
use bytes::Bytes;
use pyo3::prelude::*;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Mutex;

/// Values larger than this are decoded every time (their decode dwarfs the call anyway).
const MAX_VALUE: usize = 64 << 10;
/// Estimated memory of remembered objects (and the bytes they keep alive) before the front
/// starts over: it must not hold on to much memory that L1 has already let go.
const MAX_WEIGHT: usize = 32 << 20;
/// Decoded Python objects take several times their MessagePack (a small int is 1 byte
/// there, 28 as a Python object, plus its slot in a list): the weight of an entry is this
/// many times its bytes, plus [`ENTRY_WEIGHT`].
const OBJECT_FACTOR: usize = 8;
/// The fixed cost of an entry: its map slot, the `Bytes` header, the object's header.
const ENTRY_WEIGHT: usize = 256;

fn weight(bytes: &Bytes) -> usize {
    bytes.len() * OBJECT_FACTOR + ENTRY_WEIGHT
}
/// Objects remembered before the front starts over.
const MAX_ENTRIES: usize = 10_000;

/// Where bytes live: their address and length.
type Identity = (usize, usize);

/// Decoded objects by the identity of the bytes they came from.
#[derive(Default)]
pub struct Front {
    inner: Mutex<Remembered>,
}

#[derive(Default)]
struct Remembered {
    map: HashMap<Identity, (Bytes, Py<PyAny>), BuildHasherDefault<IdentityHasher>>,
    /// The estimated memory of the entries (see [`weight`]).
    weight: usize,
}

fn identity(bytes: &Bytes) -> Identity {
    (bytes.as_ptr() as usize, bytes.len())
}

impl Front {
    /// A fresh copy of the object decoded from exactly `bytes`, if there is one.
    pub fn get<'py>(&self, py: Python<'py>, bytes: &Bytes) -> Option<PyResult<Bound<'py, PyAny>>> {
        let object = {
            let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            let (_, object) = inner.map.get(&identity(bytes))?;
            object.clone_ref(py)
        };
        // Copied outside the lock: allocating may run the garbage collector, whose
        // finalizers may call this cache again.
        Some(fresh_copy(object.bind(py)))
    }

    /// Remembers `object` (a copy of it, so the caller may keep and mutate the original)
    /// as decoded from `bytes`.
    pub fn put(&self, bytes: &Bytes, object: &Bound<'_, PyAny>) -> PyResult<()> {
        if bytes.len() > MAX_VALUE {
            return Ok(());
        }
        let kept = fresh_copy(object)?.unbind();
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.map.len() >= MAX_ENTRIES || inner.weight + weight(bytes) > MAX_WEIGHT {
            // The old objects are dropped outside the lock: a finalizer may call this cache.
            let old = std::mem::take(&mut inner.map);
            inner.weight = 0;
            drop(inner);
            drop(old);
            inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        }
        inner.weight += weight(bytes);
        if let Some((previous, _)) = inner.map.insert(identity(bytes), (bytes.clone(), kept)) {
            inner.weight -= weight(&previous);
        }
        Ok(())
    }
}

/// Hashes an [`Identity`]: addresses are already spread out, so one multiply mixes enough.
#[derive(Default)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}
