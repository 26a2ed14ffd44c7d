//! Searching the graph: greedy descent through the upper layers, then a best-first search
//! of layer 0 that routes through tombstones but never returns them.

use super::scored::{sort_best_first, Scored};
use super::visited::Visited;
use super::HnswIndex;
use crate::index::dot;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

impl HnswIndex {
    /// The `k` live ids nearest `query`, best first: greedy descent through the upper
    /// layers, then a search of layer 0 `max(ef_search, k)` wide.
    pub(super) fn nearest(&self, query: &[f32], k: usize) -> Vec<(u64, f32)> {
        debug_assert_eq!(query.len(), self.dim);
        let Some(entry) = self.entry else {
            return Vec::new();
        };
        if k == 0 || self.slots.is_empty() {
            return Vec::new();
        }
        let mut nearest = Scored {
            score: dot(query, self.vector(entry)),
            slot: entry,
        };
        for layer in (1..=self.top_level).rev() {
            nearest = self.greedy(query, nearest, layer);
        }
        let mut visited = self.visited_pool.take();
        let found = self.search_layer(
            query,
            nearest,
            self.params.ef_search.max(k),
            0,
            true,
            &mut visited,
        );
        self.visited_pool.give_back(visited);
        found
            .into_iter()
            .take(k)
            .map(|s| (self.ids[s.slot as usize], s.score))
            .collect()
    }

    /// Greedy descent on one upper layer: move to the best neighbour until none is better
    /// (the paper's search with `ef = 1`, without the heaps).
    pub(super) fn greedy(&self, query: &[f32], mut best: Scored, layer: usize) -> Scored {
        loop {
            let mut moved = false;
            for &next in self.links(best.slot, layer) {
                let score = dot(query, self.vector(next));
                if score > best.score {
                    best = Scored { score, slot: next };
                    moved = true;
                }
            }
            if !moved {
                return best;
            }
        }
    }

    /// The paper's SEARCH-LAYER: best-first expansion from `entry`, keeping the `ef` best
    /// nodes seen. With `live_only`, tombstoned nodes are still expanded (they hold the
    /// graph together) but kept out of the result. Returns best first.
    pub(super) fn search_layer(
        &self,
        query: &[f32],
        entry: Scored,
        ef: usize,
        layer: usize,
        live_only: bool,
        visited: &mut Visited,
    ) -> Vec<Scored> {
        let filtering = live_only && self.tombstones > 0;
        visited.reset(self.ids.len());
        visited.insert(entry.slot);
        // Candidates to expand, best on top; results so far, worst on top so it can be
        // evicted in O(log ef).
        let mut candidates = BinaryHeap::with_capacity(ef * 2);
        let mut results: BinaryHeap<Reverse<Scored>> = BinaryHeap::with_capacity(ef + 1);
        candidates.push(entry);
        if !filtering || !self.deleted[entry.slot as usize] {
            results.push(Reverse(entry));
        }
        let mut worst = results.peek().map_or(f32::NEG_INFINITY, |r| r.0.score);
        while let Some(current) = candidates.pop() {
            // Nothing left can beat the worst result. While tombstones keep the result set
            // short, keep going until it is full (as hnswlib does), or a query near many
            // removed vectors would come back with fewer than k answers.
            if current.score < worst && (results.len() >= ef || !filtering) {
                break;
            }
            for &next in self.links(current.slot, layer) {
                if !visited.insert(next) {
                    continue;
                }
                let score = dot(query, self.vector(next));
                if results.len() < ef || score > worst {
                    let scored = Scored { score, slot: next };
                    candidates.push(scored);
                    if !filtering || !self.deleted[next as usize] {
                        results.push(Reverse(scored));
                        if results.len() > ef {
                            results.pop();
                        }
                        worst = results.peek().map_or(f32::NEG_INFINITY, |r| r.0.score);
                    }
                }
            }
        }
        let mut found: Vec<Scored> = results.into_iter().map(|r| r.0).collect();
        sort_best_first(&mut found);
        found
    }
}

#[cfg(test)]
mod tests {
    use super::super::synthetic::{clustered_unit_vectors, perturbed_queries, random_unit_vectors};
    use super::super::test_support::{build, recall_sizes, report};
    use super::super::{recall_at, HnswParams};
    use crate::index::VectorIndex;
    use std::time::Instant;

    #[test]
    fn recall_on_clustered_data_meets_the_recall_target() {
        let (n, dim, query_count) = recall_sizes();
        let data = clustered_unit_vectors(n, dim, 100, 1.0, 1, 2);
        let started = Instant::now();
        let (hnsw, exact) = build(&data, HnswParams::default());
        println!("built {n} x {dim} in {:?}", started.elapsed());
        // Fresh draws from the same distribution: not stored, so the nearest neighbour is
        // a genuine search, not a lookup of the query itself.
        let queries = clustered_unit_vectors(query_count, dim, 100, 1.0, 1, 3);
        let (r1, r10) = report("clustered", &hnsw, &exact, &queries);
        assert!(r1 >= 0.95, "recall@1 {r1}");
        assert!(r10 >= 0.90, "recall@10 {r10}");
    }

    #[test]
    fn recall_on_random_data_meets_the_recall_target() {
        let (n, dim, query_count) = recall_sizes();
        let data = random_unit_vectors(n, dim, 11);
        let (hnsw, exact) = build(&data, HnswParams::default());
        // Paraphrase-like queries near stored vectors: what a semantic cache sees on a hit.
        // Only recall@1 is meaningful here: past the stored original, the other nine of the
        // exact top 10 are as unrelated to the query as any random pair.
        let near = perturbed_queries(&data, query_count, 0.6, 12);
        let (r1, _) = report("random, near queries", &hnsw, &exact, &near);
        assert!(r1 >= 0.95, "recall@1 {r1}");
        // Queries unrelated to anything stored: every stored vector is nearly orthogonal
        // to them, so the "nearest" barely beats the 100th. The worst case for any
        // approximate index, far from what embeddings look like; measured, loosely bounded.
        // Chance would be 1 / n: anything far above it shows the graph works.
        let far = random_unit_vectors(200, dim, 13);
        let (r1, _) = report("random, random queries", &hnsw, &exact, &far);
        assert!(r1 >= 0.2, "recall@1 {r1}");
        // A wider search buys the recall back, at a cost in latency.
        let mut wide = hnsw;
        wide.set_ef_search(512);
        let (r1, _) = report("random, random queries, ef_search 512", &wide, &exact, &far);
        assert!(r1 >= 0.8, "recall@1 {r1}");
    }

    #[test]
    fn k_larger_than_len_returns_everything_once() {
        let dim = 24;
        let data = random_unit_vectors(150, dim, 61);
        let (mut hnsw, exact) = build(&data, HnswParams::default());
        let q = random_unit_vectors(1, dim, 62).remove(0);
        let found = hnsw.search(&q, 1_000);
        assert_eq!(found.len(), 150);
        let mut ids: Vec<u64> = found.iter().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 150, "no duplicates");
        assert_eq!(found, exact.search(&q, 1_000), "small graphs are exact");
        for id in 0..10 {
            hnsw.remove(id);
        }
        assert_eq!(hnsw.search(&q, 1_000).len(), 140);
    }

    /// Latency and build-time report at benchmark sizes; run with
    /// `cargo test --release -- --ignored --nocapture latency_report`.
    #[test]
    #[ignore = "benchmark-sized: minutes of build time; run in release"]
    fn latency_report() {
        let dim = 384;
        for n in [10_000, 100_000] {
            for (name, data, queries) in [
                (
                    "clustered",
                    clustered_unit_vectors(n, dim, 1_000, 1.0, 81, 82),
                    clustered_unit_vectors(500, dim, 1_000, 1.0, 81, 83),
                ),
                (
                    "random",
                    random_unit_vectors(n, dim, 84),
                    random_unit_vectors(500, dim, 85),
                ),
            ] {
                let started = Instant::now();
                let (hnsw, exact) = build(&data, HnswParams::default());
                let build_time = started.elapsed();
                let mut times: Vec<f64> = queries
                    .iter()
                    .map(|q| {
                        let t = Instant::now();
                        std::hint::black_box(hnsw.search(q, 1));
                        t.elapsed().as_secs_f64() * 1e6
                    })
                    .collect();
                times.sort_by(f64::total_cmp);
                let mut exact_times: Vec<f64> = queries
                    .iter()
                    .map(|q| {
                        let t = Instant::now();
                        std::hint::black_box(exact.search(q, 1));
                        t.elapsed().as_secs_f64() * 1e6
                    })
                    .collect();
                exact_times.sort_by(f64::total_cmp);
                let near = perturbed_queries(&data, 500, 0.6, 86);
                let r1 = recall_at(&hnsw, &exact, &queries, 1);
                let r10 = recall_at(&hnsw, &exact, &queries, 10);
                let r1_near = recall_at(&hnsw, &exact, &near, 1);
                println!(
                    "{name} n={n} dim={dim}: build {:.1}s ({:.2}s per 10k), \
                     hnsw p50 {:.0}us p95 {:.0}us, exact p50 {:.0}us, \
                     recall@1 {r1:.4} @10 {r10:.4}, near-query recall@1 {r1_near:.4}",
                    build_time.as_secs_f64(),
                    build_time.as_secs_f64() / (n as f64 / 10_000.0),
                    times[times.len() / 2],
                    times[times.len() * 95 / 100],
                    exact_times[exact_times.len() / 2],
                );
            }
        }
    }
}
