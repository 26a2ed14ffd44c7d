//! The write-epoch protocol that keeps L1 consistent with L2 inside one process.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

/// Keeps L1 from holding anything older than L2 when calls race within this process.
///
/// - Writers of one key (`set`, `mset`, `delete`) hold that key's stripe lock across the
///   L2 write and the L1 update, so L1 ends with the value L2 ended with.
/// - A read that fills L1 from L2 notes the key's stripe epoch (bumped by every write) and
///   the clear epoch (bumped by pattern deletes and clears) before reading L2, and drops
///   what it filled if either moved: a write or clear landed after its read began.
/// - A writer notes the clear epoch before its L2 write and drops its L1 copy if a clear
///   ran meanwhile (the clear may have removed the L2 copy after the writer wrote it).
pub(super) struct WriteEpochs {
    stripes: Vec<AtomicU64>,
    locks: Vec<tokio::sync::Mutex<()>>,
    clears: AtomicU64,
    hasher: RandomState,
}

/// A reader's or writer's view of the epochs before it touched L2.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct EpochMark {
    key: u64,
    clears: u64,
}

impl WriteEpochs {
    const STRIPES: usize = 256;

    pub(super) fn new() -> WriteEpochs {
        WriteEpochs {
            stripes: (0..Self::STRIPES).map(|_| AtomicU64::new(0)).collect(),
            locks: (0..Self::STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
            clears: AtomicU64::new(0),
            hasher: RandomState::new(),
        }
    }

    pub(super) fn slot(&self, key: &str) -> usize {
        self.hasher.hash_one(key) as usize % Self::STRIPES
    }

    pub(super) fn mark(&self, key: &str) -> EpochMark {
        EpochMark {
            key: self.stripes[self.slot(key)].load(SeqCst),
            clears: self.clears.load(SeqCst),
        }
    }

    pub(super) fn bump(&self, key: &str) {
        self.stripes[self.slot(key)].fetch_add(1, SeqCst);
    }

    pub(super) fn cleared_since(&self, mark: EpochMark) -> bool {
        self.clears.load(SeqCst) != mark.clears
    }

    pub(super) fn bump_clears(&self) {
        self.clears.fetch_add(1, SeqCst);
    }

    /// Locks the stripes of `keys`, in stripe order so two writers cannot deadlock.
    pub(super) async fn lock<'k>(
        &self,
        keys: impl Iterator<Item = &'k str>,
    ) -> Vec<tokio::sync::MutexGuard<'_, ()>> {
        let mut slots: Vec<usize> = keys.map(|k| self.slot(k)).collect();
        slots.sort_unstable();
        slots.dedup();
        let mut guards = Vec::with_capacity(slots.len());
        for slot in slots {
            guards.push(self.locks[slot].lock().await);
        }
        guards
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Two keys that land in different stripes (the hasher is random per instance).
    fn two_stripes(epochs: &WriteEpochs) -> (String, String) {
        let first = "model:a".to_owned();
        let other = (0..)
            .map(|i| format!("model:b{i}"))
            .find(|k| epochs.slot(k) != epochs.slot(&first))
            .expect("256 stripes: another key lands elsewhere");
        (first, other)
    }

    #[test]
    fn a_write_moves_its_key_s_mark_and_no_other_stripe_s() {
        let epochs = WriteEpochs::new();
        let (key, other) = two_stripes(&epochs);
        let (before, before_other) = (epochs.mark(&key), epochs.mark(&other));
        assert!(
            epochs.mark(&key) == before,
            "a mark is stable while nothing writes"
        );
        epochs.bump(&key);
        assert!(epochs.mark(&key) != before);
        assert!(epochs.mark(&other) == before_other);
        assert!(!epochs.cleared_since(before));
    }

    #[test]
    fn a_clear_moves_every_mark() {
        let epochs = WriteEpochs::new();
        let (key, other) = two_stripes(&epochs);
        let (before, before_other) = (epochs.mark(&key), epochs.mark(&other));
        epochs.bump_clears();
        assert!(epochs.cleared_since(before));
        assert!(epochs.mark(&key) != before);
        assert!(epochs.mark(&other) != before_other);
    }

    #[tokio::test]
    async fn a_held_stripe_excludes_other_writers_of_it() {
        let epochs = WriteEpochs::new();
        let (key, other) = two_stripes(&epochs);
        // The same key twice takes its stripe once (a second take would deadlock).
        let guards = epochs.lock([key.as_str(), key.as_str()].into_iter()).await;
        assert_eq!(guards.len(), 1);
        assert!(epochs.locks[epochs.slot(&key)].try_lock().is_err());
        assert!(epochs.locks[epochs.slot(&other)].try_lock().is_ok());
        drop(guards);
        assert!(epochs.locks[epochs.slot(&key)].try_lock().is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writers_taking_stripes_in_opposite_orders_do_not_deadlock() {
        let epochs = Arc::new(WriteEpochs::new());
        let (a, b) = two_stripes(&epochs);
        let mut tasks = Vec::new();
        for round in 0..200 {
            let (epochs, a, b) = (epochs.clone(), a.clone(), b.clone());
            tasks.push(tokio::spawn(async move {
                let keys = if round % 2 == 0 { [a, b] } else { [b, a] };
                let _guards = epochs.lock(keys.iter().map(String::as_str)).await;
                tokio::task::yield_now().await;
            }));
        }
        for task in tasks {
            task.await.expect("a writer finished");
        }
    }
}
