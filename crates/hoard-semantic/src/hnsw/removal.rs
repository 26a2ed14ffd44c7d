//! Removal: a removed node becomes a tombstone that still routes searches, and once
//! tombstones pass [`HnswParams::compact_ratio`](super::HnswParams::compact_ratio) of the
//! slots the graph is rebuilt from the live vectors.

use super::HnswIndex;

impl HnswIndex {
    /// Rebuilds the graph from the live vectors, dropping tombstones. Costs as much as
    /// inserting every live vector again; automatic after removals past
    /// [`HnswParams::compact_ratio`](super::HnswParams::compact_ratio), callable directly to choose the moment.
    pub fn compact(&mut self) {
        if self.tombstones == 0 {
            return;
        }
        let vectors = std::mem::take(&mut self.vectors);
        let ids = std::mem::take(&mut self.ids);
        let deleted = std::mem::take(&mut self.deleted);
        self.clear();
        let live = self.slots.len();
        self.slots.clear();
        self.vectors.reserve(live * self.dim);
        // Re-inserting in the original slot order keeps the rebuild deterministic. The
        // level generator simply continues: levels only need to be independent draws.
        // (Slots are sliced by hand: `chunks_exact` would panic on a zero dimension.)
        for (slot, (id, gone)) in ids.iter().zip(&deleted).enumerate() {
            if !gone {
                self.add(*id, &vectors[slot * self.dim..(slot + 1) * self.dim]);
            }
        }
    }

    /// Drops the graph and every slot; `slots` (the live ids) is left to the caller.
    fn clear(&mut self) {
        self.vectors.clear();
        self.ids.clear();
        self.deleted.clear();
        self.base_links.clear();
        self.upper_links.clear();
        self.entry = None;
        self.top_level = 0;
        self.tombstones = 0;
    }

    /// Marks the slot of `id` removed; whether it was live.
    pub(super) fn tombstone(&mut self, id: u64) -> bool {
        let Some(slot) = self.slots.remove(&id) else {
            return false;
        };
        self.deleted[slot as usize] = true;
        self.tombstones += 1;
        true
    }

    /// Rebuilds once tombstones pass the configured share of the slots.
    pub(super) fn maybe_compact(&mut self) {
        if self.slots.is_empty() {
            // Nothing live: dropping everything is both the cheapest and the exact answer.
            self.clear();
            return;
        }
        if self.tombstones as f64 > self.params.compact_ratio * self.ids.len() as f64 {
            self.compact();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::synthetic::{clustered_unit_vectors, perturbed_queries, random_unit_vectors};
    use super::super::test_support::{build, SMALL};
    use super::super::{recall_at, HnswIndex, HnswParams};
    use crate::index::{ExactIndex, VectorIndex};

    #[test]
    fn deleted_ids_are_never_returned_and_compaction_keeps_results_right() {
        let dim = 32;
        let data = clustered_unit_vectors(2_000, dim, 20, 1.0, 21, 22);
        let params = HnswParams {
            compact_ratio: 2.0, // compact by hand below, to test both states
            ..SMALL
        };
        let (mut hnsw, mut exact) = build(&data, params);
        // Remove every third id: many tombstones, all still in the graph.
        for id in (0..data.len() as u64).step_by(3) {
            assert!(hnsw.remove(id));
            assert!(!hnsw.remove(id), "second removal finds nothing");
            exact.remove(id);
        }
        assert_eq!(hnsw.len(), exact.len());
        assert_eq!(hnsw.tombstones(), 667);
        let queries = perturbed_queries(&data, 300, 0.3, 23);
        let check = |hnsw: &HnswIndex| {
            for q in &queries {
                let found = hnsw.search(q, 10);
                assert_eq!(found.len(), 10, "tombstones do not shorten results");
                assert!(
                    found.iter().all(|(id, _)| id % 3 != 0),
                    "removed id returned"
                );
                assert!(found.windows(2).all(|w| w[0].1 >= w[1].1), "best first");
            }
        };
        check(&hnsw);
        // The removed vectors themselves are the hardest queries: their exact position
        // is a tombstone, right next to the entry the search lands on.
        for id in (0..data.len()).step_by(3) {
            let found = hnsw.search(&data[id], 5);
            assert!(found.iter().all(|(f, _)| f % 3 != 0));
        }
        let before = recall_at(&hnsw, &exact, &queries, 1);
        hnsw.compact();
        assert_eq!(hnsw.tombstones(), 0);
        assert_eq!(
            hnsw.ids.len(),
            hnsw.len(),
            "compaction drops the dead slots"
        );
        assert_eq!(hnsw.vectors.len(), hnsw.len() * dim);
        check(&hnsw);
        let after = recall_at(&hnsw, &exact, &queries, 1);
        println!("recall@1 with tombstones {before:.4}, after compaction {after:.4}");
        assert!(before >= 0.95 && after >= 0.95);
        // Every live vector is still found as itself after the rebuild.
        for id in (0..data.len() as u64).filter(|id| id % 3 != 0).step_by(7) {
            assert_eq!(hnsw.search(&data[id as usize], 1)[0].0, id);
        }
    }

    #[test]
    fn churn_compacts_automatically_and_stays_accurate() {
        let dim = 32;
        let data = clustered_unit_vectors(3_000, dim, 30, 1.0, 31, 32);
        let mut hnsw = HnswIndex::with_params(dim, SMALL);
        let mut exact = ExactIndex::new(dim);
        // A sliding window of 1,000 live entries over 3,000 inserts: 2,000 removals.
        let mut max_slots = 0;
        for (id, v) in data.iter().enumerate() {
            hnsw.insert(id as u64, v);
            exact.insert(id as u64, v);
            if id >= 1_000 {
                let old = (id - 1_000) as u64;
                assert!(hnsw.remove(old));
                exact.remove(old);
            }
            max_slots = max_slots.max(hnsw.ids.len());
            assert!(hnsw.tombstones() as f64 <= 0.3 * hnsw.ids.len() as f64 + 1.0);
        }
        assert_eq!(hnsw.len(), 1_000);
        // Slots stay within 1/(1 - 0.3) of the live count, plus the one being added.
        assert!(max_slots <= 1_430, "slots grew to {max_slots}");
        let queries = perturbed_queries(&data[2_000..], 300, 0.3, 33);
        let r1 = recall_at(&hnsw, &exact, &queries, 1);
        println!("after churn: recall@1={r1:.4} slots={}", hnsw.ids.len());
        assert!(r1 >= 0.95);
        for q in &queries {
            assert!(hnsw.search(q, 10).iter().all(|(id, _)| *id >= 2_000));
        }
    }

    #[test]
    fn reinsert_replaces_the_vector() {
        let dim = 16;
        let data = random_unit_vectors(300, dim, 41);
        let (mut hnsw, _) = build(&data, HnswParams::default());
        let moved = random_unit_vectors(1, dim, 42).remove(0);
        hnsw.insert(7, &moved);
        assert_eq!(hnsw.len(), 300, "same id: no growth");
        let found = hnsw.search(&moved, 1);
        assert_eq!(found[0].0, 7);
        assert!((found[0].1 - 1.0).abs() < 1e-5);
        // The old vector of 7 no longer matches 7.
        let old = hnsw.search(&data[7], 3);
        assert!(old.iter().all(|(id, score)| *id != 7 || *score < 0.99));
        // Only one entry for 7, whatever the query.
        let all = hnsw.search(&moved, 300);
        assert_eq!(all.iter().filter(|(id, _)| *id == 7).count(), 1);
        // Replacing repeatedly never piles up tombstones past the compaction ratio.
        for round in 0..500 {
            hnsw.insert(3, &data[round % 300]);
        }
        assert_eq!(hnsw.len(), 300);
        assert!(hnsw.ids.len() <= 300 + 130);
    }

    #[test]
    fn empty_index_and_edge_cases() {
        let dim = 8;
        let mut hnsw = HnswIndex::new(dim);
        let q = random_unit_vectors(1, dim, 51).remove(0);
        assert!(hnsw.is_empty());
        assert!(hnsw.search(&q, 5).is_empty());
        assert!(!hnsw.remove(1));
        hnsw.insert(1, &q);
        assert_eq!(hnsw.search(&q, 0), vec![]);
        assert_eq!(hnsw.search(&q, 5).len(), 1);
        assert!(hnsw.remove(1));
        assert!(hnsw.is_empty());
        assert!(hnsw.search(&q, 5).is_empty(), "only a tombstone left");
        assert_eq!(
            hnsw.ids.len(),
            0,
            "removing the last entry frees everything"
        );
        hnsw.insert(2, &q);
        assert_eq!(hnsw.search(&q, 1)[0].0, 2);
        // A zero dimension is useless but must not panic, compaction included.
        let mut flat = HnswIndex::new(0);
        for id in 0..10 {
            flat.insert(id, &[]);
        }
        for id in 0..5 {
            assert!(flat.remove(id));
        }
        assert_eq!(flat.search(&[], 20).len(), 5);
    }
}
