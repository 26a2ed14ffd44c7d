//! [`Interner`]: strings to dense `u32` ids and back (the image-tagging service's
//! `TagIDCache`: tag names to integer ids).
//!
//! A catalogue that stores every image's tags as strings keeps one copy of `"long_hair"`
//! per image that has it; storing `u32` ids keeps 4 bytes per tag and one copy of each
//! name. The interner is the table between the two.
//!
//! # Concurrency
//! Reads never take a lock: names map to ids through a lock-free hash map (papaya), and ids
//! map to names through append-only chunks whose slots are written once. Inserting a new
//! string takes a writer mutex, so two threads interning the same new string get one id.
//! Ids are never reused or changed for the life of the interner, and are dense: the n-th
//! distinct string gets id n - 1.
//!
//! # Persistence
//! [`Interner::persist`] writes the mapping to a file (ids are positions, so the file is
//! the names in id order) and [`Interner::load`] reads it back with the same ids. The file
//! is versioned and checksummed; a truncated or altered file is refused with
//! [`InternerError::CorruptFile`], never half-loaded.
//!
//! # Example
//! ```
//! let tags = hoard_snapshot::Interner::new();
//! let ids = tags.ids_from_string("long_hair smile long_hair")?;
//! assert_eq!(ids, [0, 1, 0]);
//! assert_eq!(tags.get_id("smile"), Some(1));
//! assert_eq!(tags.get_name(1), Some("smile"));
//! assert_eq!(tags.string_from_ids(&[1, 0])?, "smile long_hair");
//! # Ok::<(), hoard_snapshot::InternerError>(())
//! ```

mod file;

pub use crate::error::InternerError;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// `Result` with [`InternerError`].
type Result<T, E = InternerError> = std::result::Result<T, E>;

/// Slots in the first chunk; chunk `b` holds `FIRST_CHUNK << b` slots, so 27 chunks cover
/// every `u32` and no chunk is ever reallocated (readers may hold references into it).
const FIRST_CHUNK: u64 = 64;
const CHUNKS: usize = 27;

type Chunk = Box<[OnceLock<Arc<str>>]>;

/// A thread-safe, append-only, bidirectional map between strings and dense `u32` ids.
///
/// Lookups in both directions are lock-free; see the [module documentation](self).
pub struct Interner {
    /// Name to id. The key shares its allocation with the chunk slot.
    ids: papaya::HashMap<Arc<str>, u32>,
    /// Id to name: chunk `b` holds ids `FIRST_CHUNK * (2^b - 1) ..`.
    chunks: [OnceLock<Chunk>; CHUNKS],
    /// Ids below this are fully published (slot written, map entry inserted).
    len: AtomicU32,
    /// Serializes inserts, so one string never gets two ids.
    write: Mutex<()>,
}

impl Default for Interner {
    fn default() -> Self {
        Interner::new()
    }
}

impl std::fmt::Debug for Interner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interner")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

/// Which chunk and which slot in it hold `id`.
fn locate(id: u32) -> Option<(usize, usize)> {
    let x = u64::from(id) / FIRST_CHUNK + 1;
    let chunk = (63 - x.leading_zeros()) as usize;
    let start = FIRST_CHUNK * ((1u64 << chunk) - 1);
    let slot = usize::try_from(u64::from(id) - start).ok()?;
    (chunk < CHUNKS).then_some((chunk, slot))
}

impl Interner {
    /// An empty interner.
    pub fn new() -> Interner {
        Interner {
            ids: papaya::HashMap::new(),
            chunks: std::array::from_fn(|_| OnceLock::new()),
            len: AtomicU32::new(0),
            write: Mutex::new(()),
        }
    }

    /// An interner holding `names` with ids 0, 1, ... in order (repeats keep their first id).
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Interner> {
        let interner = Interner::new();
        for name in names {
            interner.intern(name)?;
        }
        Ok(interner)
    }

    /// How many distinct strings have ids.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Acquire) as usize
    }

    /// Whether no string has an id yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The id of `name`, giving it the next free id if it has none.
    ///
    /// Fails only with [`InternerError::Full`], once every `u32` is taken.
    pub fn intern(&self, name: &str) -> Result<u32> {
        if let Some(id) = self.get_id(name) {
            return Ok(id);
        }
        let _writer = self.write.lock().unwrap_or_else(|p| p.into_inner());
        // Another writer may have inserted it between our lookup and the lock.
        if let Some(id) = self.get_id(name) {
            return Ok(id);
        }
        let id = self.len.load(Ordering::Acquire);
        let (chunk, slot) = locate(id).ok_or(InternerError::Full)?;
        if id == u32::MAX {
            return Err(InternerError::Full);
        }
        let name: Arc<str> = Arc::from(name);
        let slots = self.chunks[chunk].get_or_init(|| {
            let size = (FIRST_CHUNK << chunk) as usize;
            (0..size).map(|_| OnceLock::new()).collect()
        });
        // The slot is written before the map entry, so whoever finds the id in the map
        // can read its name; `len` is published last.
        if let Some(cell) = slots.get(slot) {
            let _ = cell.set(name.clone());
        }
        self.ids.pin().insert(name, id);
        self.len.store(id + 1, Ordering::Release);
        Ok(id)
    }

    /// The id of `name`, if it has one. Lock-free.
    pub fn get_id(&self, name: &str) -> Option<u32> {
        self.ids.pin().get(name).copied()
    }

    /// The string with id `id`, if that id was given out. Lock-free.
    pub fn get_name(&self, id: u32) -> Option<&str> {
        if id >= self.len.load(Ordering::Acquire) {
            return None;
        }
        let (chunk, slot) = locate(id)?;
        self.chunks[chunk]
            .get()?
            .get(slot)?
            .get()
            .map(|name| &**name)
    }

    /// The ids of `names`, interning those without one.
    pub fn intern_all<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Result<Vec<u32>> {
        names.into_iter().map(|name| self.intern(name)).collect()
    }

    /// The ids of `names` without interning anything: `None` if any of them has no id
    /// (for a query, "no image can carry a tag nobody has").
    pub fn get_ids<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Option<Vec<u32>> {
        names.into_iter().map(|name| self.get_id(name)).collect()
    }

    /// The names of `ids`; [`InternerError::UnknownId`] for an id that was never given out.
    pub fn get_names(&self, ids: &[u32]) -> Result<Vec<&str>> {
        ids.iter()
            .map(|&id| self.get_name(id).ok_or(InternerError::UnknownId(id)))
            .collect()
    }

    /// The ids of the whitespace-separated names in `text`, interning new ones (the tag
    /// cache's `get_ids_from_string`). Repeats keep their place; empty text gives no ids.
    pub fn ids_from_string(&self, text: &str) -> Result<Vec<u32>> {
        self.intern_all(text.split_whitespace())
    }

    /// The names of `ids` joined by single spaces (the tag cache's `get_string_from_ids`).
    pub fn string_from_ids(&self, ids: &[u32]) -> Result<String> {
        Ok(self.get_names(ids)?.join(" "))
    }

    /// Every `(id, name)` in id order, as of the call.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &str)> + '_ {
        let len = self.len.load(Ordering::Acquire);
        (0..len).filter_map(move |id| self.get_name(id).map(|name| (id, name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_every_id_without_overlap() {
        assert_eq!(locate(0), Some((0, 0)));
        assert_eq!(locate(63), Some((0, 63)));
        assert_eq!(locate(64), Some((1, 0)));
        assert_eq!(locate(191), Some((1, 127)));
        assert_eq!(locate(192), Some((2, 0)));
        let (chunk, slot) = locate(u32::MAX).unwrap();
        assert!(chunk < CHUNKS && slot < (FIRST_CHUNK << chunk) as usize);
    }
}
