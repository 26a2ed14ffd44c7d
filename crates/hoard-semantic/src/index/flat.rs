//! The f32 scan: every stored vector scored against the query. It is the reference
//! [`ExactIndex`](super::ExactIndex) returns the results of, and that index's storage of
//! ids and f32 vectors.

use super::dot::dot_with;
use super::topk::TopK;
use super::VectorIndex;
use std::collections::HashMap;

/// Exact search over f32 vectors stored back to back, every one scored on every search.
///
/// Reads `4 * dim` bytes per stored vector per search, which makes it memory-bound once
/// the vectors outgrow the CPU caches; [`ExactIndex`](super::ExactIndex) returns the same
/// results reading about a quarter of that.
#[derive(Debug, Clone)]
pub struct FlatIndex {
    dim: usize,
    ids: Vec<u64>,
    vectors: Vec<f32>,
    positions: HashMap<u64, usize>,
}

impl FlatIndex {
    /// An empty index of `dim`-long vectors.
    pub fn new(dim: usize) -> FlatIndex {
        FlatIndex {
            dim,
            ids: Vec::new(),
            vectors: Vec::new(),
            positions: HashMap::new(),
        }
    }

    /// Stores `vector` for `id` (replacing its old one) and returns its position, or
    /// `None` (nothing changed) when it is not `dim` long.
    pub(super) fn put(&mut self, id: u64, vector: &[f32]) -> Option<usize> {
        if vector.len() != self.dim {
            return None;
        }
        if let Some(&at) = self.positions.get(&id) {
            self.vectors[at * self.dim..(at + 1) * self.dim].copy_from_slice(vector);
            return Some(at);
        }
        let at = self.ids.len();
        self.positions.insert(id, at);
        self.ids.push(id);
        self.vectors.extend_from_slice(vector);
        Some(at)
    }

    /// Removes `id` and returns the position it had: the last vector moved into it (as
    /// `Vec::swap_remove` does, so removal stays O(dim)).
    pub(super) fn take(&mut self, id: u64) -> Option<usize> {
        let at = self.positions.remove(&id)?;
        let last = self.ids.len() - 1;
        if at != last {
            let moved = self.ids[last];
            self.ids[at] = moved;
            self.vectors
                .copy_within(last * self.dim..(last + 1) * self.dim, at * self.dim);
            self.positions.insert(moved, at);
        }
        self.ids.pop();
        self.vectors.truncate(last * self.dim);
        Some(at)
    }

    /// The vector at `position`.
    #[inline(always)]
    pub(super) fn vector(&self, position: usize) -> &[f32] {
        &self.vectors[position * self.dim..(position + 1) * self.dim]
    }

    /// Positions and scores, best first, turned into ids and scores.
    pub(super) fn named(&self, best: Vec<(usize, f32)>) -> Vec<(u64, f32)> {
        best.into_iter()
            .map(|(at, score)| (self.ids[at], score))
            .collect()
    }
}

impl VectorIndex for FlatIndex {
    /// Adds (or replaces) `id`; a vector that is not `dim` long is ignored.
    fn insert(&mut self, id: u64, vector: &[f32]) {
        self.put(id, vector);
    }

    fn remove(&mut self, id: u64) -> bool {
        self.take(id).is_some()
    }

    fn search(&self, query: &[f32], k: usize) -> Vec<(u64, f32)> {
        if k == 0 || self.dim == 0 || query.len() != self.dim {
            return Vec::new();
        }
        // One SIMD dispatch for the whole scan, so the dot product inlines into the loop.
        let best = pulp::Arch::new().dispatch(Scan {
            query,
            vectors: &self.vectors,
            dim: self.dim,
            k,
        });
        self.named(best)
    }

    fn len(&self) -> usize {
        self.ids.len()
    }

    fn dim(&self) -> usize {
        self.dim
    }
}

/// The scan of [`FlatIndex::search`]: every stored vector scored against the query, the
/// `k` best kept as `(position, score)`, best first.
struct Scan<'a> {
    query: &'a [f32],
    vectors: &'a [f32],
    dim: usize,
    k: usize,
}

impl pulp::WithSimd for Scan<'_> {
    type Output = Vec<(usize, f32)>;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) -> Self::Output {
        let mut best = TopK::new(self.k);
        for (at, vector) in self.vectors.chunks_exact(self.dim).enumerate() {
            best.push(at, dot_with(simd, self.query, vector));
        }
        best.into_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::test_vectors::unit;

    #[test]
    fn flat_search_finds_the_best_and_survives_removal() {
        let dim = 19; // not a multiple of 8: the tail of `dot` counts too
        let mut index = FlatIndex::new(dim);
        for id in 0..200 {
            index.insert(id, &unit(id, dim));
        }
        let found = index.search(&unit(42, dim), 3);
        assert_eq!(found[0].0, 42);
        assert!((found[0].1 - 1.0).abs() < 1e-5);
        assert!(found[0].1 >= found[1].1 && found[1].1 >= found[2].1);
        assert!(index.remove(42));
        assert!(!index.remove(42));
        assert_ne!(index.search(&unit(42, dim), 1)[0].0, 42);
        // The vector moved into 42's slot is still found as itself.
        assert_eq!(index.search(&unit(199, dim), 1)[0].0, 199);
        assert_eq!(index.len(), 199);
        index.insert(7, &unit(1007, dim));
        assert_eq!(index.search(&unit(1007, dim), 1)[0].0, 7, "insert replaces");
        assert_eq!(index.len(), 199);
    }

    #[test]
    fn flat_search_matches_a_full_sort() {
        let dim = 384;
        let mut index = FlatIndex::new(dim);
        let vectors: Vec<Vec<f32>> = (0..500).map(|id| unit(id, dim)).collect();
        for (id, v) in vectors.iter().enumerate() {
            index.insert(id as u64, v);
        }
        for q in 0..20u64 {
            let query = unit(10_000 + q, dim);
            let mut all: Vec<(u64, f32)> = vectors
                .iter()
                .enumerate()
                .map(|(id, v)| (id as u64, v.iter().zip(&query).map(|(x, y)| x * y).sum()))
                .collect();
            all.sort_by(|a, b| b.1.total_cmp(&a.1));
            let found = index.search(&query, 5);
            assert_eq!(found.len(), 5);
            for (got, want) in found.iter().zip(&all) {
                assert!((got.1 - want.1).abs() < 1e-5, "{got:?} vs {want:?}");
            }
            assert!(found.windows(2).all(|w| w[0].1 >= w[1].1));
        }
        assert!(index.search(&unit(1, dim), 0).is_empty());
        assert_eq!(index.search(&unit(1, dim), 1000).len(), 500);
    }
}
