//! How often each key of a warmed namespace is read: a bounded map of counters, halved
//! now and then so that yesterday's favourites fade, and the list of the hottest saved in
//! L2 so the next process starts from it.

use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// Reads per key of one namespace, at most `capacity` keys (quick_cache keeps the often
/// read and lets the rest go).
pub(super) struct Popularity {
    counts: quick_cache::sync::Cache<String, Arc<AtomicU64>>,
}

/// The hottest keys of a namespace as saved in L2: key and reads, hottest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Saved {
    pub(super) keys: Vec<(String, u64)>,
}

impl Popularity {
    pub(super) fn new(capacity: usize) -> Popularity {
        Popularity {
            counts: quick_cache::sync::Cache::new(capacity.max(16)),
        }
    }

    /// Counts one read of `key`.
    pub(super) fn note(&self, key: &str) {
        if let Some(count) = self.counts.get(key) {
            count.fetch_add(1, Relaxed);
            return;
        }
        let count = self
            .counts
            .get_or_insert_with(key, || {
                Ok::<_, std::convert::Infallible>(Arc::new(AtomicU64::new(0)))
            })
            .unwrap_or_else(|never| match never {});
        count.fetch_add(1, Relaxed);
    }

    /// Counts `reads` for `key` at once (a saved list taken over at start).
    pub(super) fn add(&self, key: &str, reads: u64) {
        self.note(key);
        if let Some(count) = self.counts.get(key) {
            count.fetch_add(reads.saturating_sub(1), Relaxed);
        }
    }

    /// The `n` most read keys with their counts, most read first (ties by key).
    pub(super) fn top(&self, n: usize) -> Vec<(String, u64)> {
        let mut all: Vec<(String, u64)> = self
            .counts
            .iter()
            .map(|(key, count)| (key, count.load(Relaxed)))
            .filter(|(_, count)| *count > 0)
            .collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        all.truncate(n);
        all
    }

    /// Halves every count: what stopped being read falls behind what still is.
    pub(super) fn decay(&self) {
        for (_, count) in self.counts.iter() {
            let _ = count.fetch_update(Relaxed, Relaxed, |c| Some(c / 2));
        }
    }

    /// Keys tracked now.
    pub(super) fn len(&self) -> usize {
        self.counts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_read_come_first_and_fade_when_no_longer_read() {
        let p = Popularity::new(100);
        for _ in 0..10 {
            p.note("hot");
        }
        for _ in 0..3 {
            p.note("warm");
        }
        p.note("cold");
        assert_eq!(p.top(2), [("hot".to_owned(), 10), ("warm".to_owned(), 3)]);
        p.decay();
        for _ in 0..8 {
            p.note("warm");
        }
        assert_eq!(p.top(1), [("warm".to_owned(), 9)]);
        p.add("taken-over", 40);
        assert_eq!(p.top(1), [("taken-over".to_owned(), 40)]);
        assert_eq!(p.len(), 4);
    }
}
