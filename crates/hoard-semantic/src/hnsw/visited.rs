//! The visited set of a search, and the pool that lends one to each running search, so a
//! lookup costs no allocation and no O(n) reset.

use std::sync::{Mutex, PoisonError};

/// At most this many visited bitmaps are kept for reuse: one per concurrently running
/// search is enough, more would only hold memory.
const MAX_POOLED_VISITED: usize = 64;

/// Slots seen by one search. A bitmap is 1 bit per slot; remembering which words were
/// touched lets the next search clear only those instead of the whole map.
#[derive(Debug, Default)]
pub(super) struct Visited {
    words: Vec<u64>,
    touched: Vec<usize>,
}

impl Visited {
    /// Empties the set and makes room for `slots` slots.
    pub(super) fn reset(&mut self, slots: usize) {
        for &word in &self.touched {
            self.words[word] = 0;
        }
        self.touched.clear();
        let needed = slots.div_ceil(64);
        if self.words.len() < needed {
            self.words.resize(needed, 0);
        }
    }

    /// Marks `slot`; whether it was unmarked.
    pub(super) fn insert(&mut self, slot: u32) -> bool {
        let (word, bit) = (slot as usize / 64, slot % 64);
        let mask = 1u64 << bit;
        let value = &mut self.words[word];
        if *value & mask != 0 {
            return false;
        }
        if *value == 0 {
            self.touched.push(word);
        }
        *value |= mask;
        true
    }
}

/// Reusable visited sets; a `Mutex` because searches take `&self` and the index is `Sync`.
#[derive(Debug, Default)]
pub(super) struct VisitedPool(Mutex<Vec<Visited>>);

impl Clone for VisitedPool {
    /// Scratch space only: a clone grows its own.
    fn clone(&self) -> VisitedPool {
        VisitedPool::default()
    }
}

impl VisitedPool {
    /// A visited set for one search: a pooled one, or a new one when none is free.
    pub(super) fn take(&self) -> Visited {
        // A poisoned pool only means a search panicked; the bitmaps in it are reset before
        // every use, so they are still good.
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_default()
    }

    /// Hands a visited set back for the next search.
    pub(super) fn give_back(&self, visited: Visited) {
        let mut pool = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if pool.len() < MAX_POOLED_VISITED {
            pool.push(visited);
        }
    }
}
