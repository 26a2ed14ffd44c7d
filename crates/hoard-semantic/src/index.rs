//! Vector indexes: exact search over contiguous vectors (the default), and HNSW for larger
//! partitions. Both hold unit vectors and score by dot product (= cosine).
//!
//! An index knows ids and vectors only; which entry an id names, its expiry and its
//! partition live in [`crate::cache`].

/// Nearest-neighbour search over unit vectors.
pub trait VectorIndex: Send + Sync {
    /// Adds (or replaces) `id`.
    fn insert(&mut self, id: u64, vector: &[f32]);
    /// Removes `id`; whether it was there.
    fn remove(&mut self, id: u64) -> bool;
    /// The `k` best `(id, similarity)`, best first.
    fn search(&self, query: &[f32], k: usize) -> Vec<(u64, f32)>;
    /// How many vectors it holds.
    fn len(&self) -> usize;
    /// Whether it holds none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Which index a partition uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IndexKind {
    /// Every vector scored: exact, and fast enough to ~100k vectors per partition.
    #[default]
    Exact,
    /// Hierarchical navigable small world graph: approximate, for larger partitions.
    Hnsw,
}

/// Exact search: vectors stored back to back, scored in one pass.
#[derive(Debug, Clone)]
pub struct ExactIndex {
    dim: usize,
    ids: Vec<u64>,
    vectors: Vec<f32>,
    positions: std::collections::HashMap<u64, usize>,
}

impl ExactIndex {
    /// An empty index of `dim`-long vectors.
    pub fn new(dim: usize) -> ExactIndex {
        ExactIndex {
            dim,
            ids: Vec::new(),
            vectors: Vec::new(),
            positions: Default::default(),
        }
    }
}

impl VectorIndex for ExactIndex {
    fn insert(&mut self, id: u64, vector: &[f32]) {
        debug_assert_eq!(vector.len(), self.dim);
        if let Some(&at) = self.positions.get(&id) {
            self.vectors[at * self.dim..(at + 1) * self.dim].copy_from_slice(vector);
            return;
        }
        self.positions.insert(id, self.ids.len());
        self.ids.push(id);
        self.vectors.extend_from_slice(vector);
    }

    fn remove(&mut self, id: u64) -> bool {
        let Some(at) = self.positions.remove(&id) else {
            return false;
        };
        // Swap the last vector into the hole: removal stays O(dim).
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
        true
    }

    fn search(&self, query: &[f32], k: usize) -> Vec<(u64, f32)> {
        let mut best: Vec<(u64, f32)> = Vec::with_capacity(k + 1);
        for (i, vector) in self.vectors.chunks_exact(self.dim).enumerate() {
            let score = dot(query, vector);
            if best.len() < k || best.last().is_some_and(|(_, worst)| score > *worst) {
                let at = best.partition_point(|(_, s)| *s >= score);
                best.insert(at, (self.ids[i], score));
                best.truncate(k);
            }
        }
        best
    }

    fn len(&self) -> usize {
        self.ids.len()
    }
}

/// Dot product with eight independent sums, which the compiler turns into SIMD.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut sums = [0f32; 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for i in 0..8 {
            sums[i] += x[i] * y[i];
        }
    }
    sums.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(seed: u64, dim: usize) -> Vec<f32> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut v: Vec<f32> = (0..dim)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state % 2000) as f32 / 1000.0 - 1.0
            })
            .collect();
        crate::embed::normalize(&mut v);
        v
    }

    #[test]
    fn exact_search_finds_the_best_and_survives_removal() {
        let dim = 19; // not a multiple of 8: the tail of `dot` counts too
        let mut index = ExactIndex::new(dim);
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
}
