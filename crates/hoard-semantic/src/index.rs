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
        debug_assert_eq!(query.len(), self.dim);
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
        best.into_iter()
            .map(|(at, score)| (self.ids[at], score))
            .collect()
    }

    fn len(&self) -> usize {
        self.ids.len()
    }
}

/// The scan of [`ExactIndex::search`]: every stored vector scored against the query, the
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
        // A partial top-k: a short sorted list that a score enters only when it beats the
        // worst kept one, which after the first few vectors is almost never.
        let mut best: Vec<(usize, f32)> = Vec::with_capacity(self.k + 1);
        let mut worst = f32::NEG_INFINITY;
        for (at, vector) in self.vectors.chunks_exact(self.dim).enumerate() {
            let score = dot_with(simd, self.query, vector);
            if best.len() < self.k || score > worst {
                let slot = best.partition_point(|(_, s)| *s >= score);
                best.insert(slot, (at, score));
                best.truncate(self.k);
                if best.len() == self.k {
                    worst = best.last().map_or(f32::NEG_INFINITY, |(_, s)| *s);
                }
            }
        }
        best
    }
}

/// Dot product of two equally long slices (the shorter length counts if they differ).
///
/// Vectorized with the widest instructions the CPU has (AVX2 + FMA on recent x86-64,
/// NEON on ARM, detected once at run time), four independent sums so consecutive
/// multiply-adds do not wait on each other. Results may differ from the naive
/// left-to-right sum in the last bits (the order of additions differs).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    struct Dot<'a>(&'a [f32], &'a [f32]);
    impl pulp::WithSimd for Dot<'_> {
        type Output = f32;
        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, simd: S) -> f32 {
            dot_with(simd, self.0, self.1)
        }
    }
    pulp::Arch::new().dispatch(Dot(a, b))
}

/// [`dot`] inside a SIMD context, so that loops over many vectors inline it.
#[inline(always)]
fn dot_with<S: pulp::Simd>(simd: S, a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a_head, a_tail) = S::as_simd_f32s(&a[..n]);
    let (b_head, b_tail) = S::as_simd_f32s(&b[..n]);
    let zero = simd.splat_f32s(0.0);
    let mut sums = [zero; 4];
    let (a_quads, a_rest) = pulp::as_arrays::<4, _>(a_head);
    let (b_quads, b_rest) = pulp::as_arrays::<4, _>(b_head);
    for (x, y) in a_quads.iter().zip(b_quads) {
        sums[0] = simd.mul_add_e_f32s(x[0], y[0], sums[0]);
        sums[1] = simd.mul_add_e_f32s(x[1], y[1], sums[1]);
        sums[2] = simd.mul_add_e_f32s(x[2], y[2], sums[2]);
        sums[3] = simd.mul_add_e_f32s(x[3], y[3], sums[3]);
    }
    for (x, y) in a_rest.iter().zip(b_rest) {
        sums[0] = simd.mul_add_e_f32s(*x, *y, sums[0]);
    }
    let total = simd.add_f32s(
        simd.add_f32s(sums[0], sums[1]),
        simd.add_f32s(sums[2], sums[3]),
    );
    let tail: f32 = a_tail.iter().zip(b_tail).map(|(x, y)| x * y).sum();
    simd.reduce_sum_f32s(total) + tail
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

    #[test]
    fn simd_dot_equals_the_naive_sum() {
        // Lengths around every chunk size (SIMD width, four accumulators) and MiniLM's 384.
        for dim in (0..=70).chain([127, 128, 129, 383, 384, 385, 1024, 1031]) {
            for seed in 0..4 {
                let a = unit(seed * 1000 + dim as u64, dim.max(1));
                let b = unit(seed * 1000 + dim as u64 + 7, dim.max(1));
                let (a, b) = (&a[..dim], &b[..dim]);
                let naive: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
                let fast = dot(a, b);
                assert!((fast - naive).abs() <= 1e-5, "dim {dim}: {fast} vs {naive}");
            }
        }
        // Unequal lengths: the shorter one counts.
        assert!((dot(&[1.0, 2.0, 3.0], &[4.0, 5.0]) - 14.0).abs() < 1e-6);
    }

    #[test]
    fn exact_search_matches_a_full_sort() {
        let dim = 384;
        let mut index = ExactIndex::new(dim);
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
