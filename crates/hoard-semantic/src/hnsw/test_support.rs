//! What the index's tests share: a sparser graph, building an HNSW and an exact index over
//! the same vectors, and recall at the sizes a build can afford.

use super::{recall_at, HnswIndex, HnswParams};
use crate::index::{ExactIndex, VectorIndex};

/// A sparser graph for the correctness tests: quicker in debug builds, and fewer links
/// make tombstones a harder obstacle for searches.
pub(super) const SMALL: HnswParams = HnswParams {
    m: 8,
    ef_construction: 64,
    ef_search: 64,
    seed: 7,
    compact_ratio: 0.3,
};

/// An HNSW index with `params` and an exact index, both holding `vectors` (ids 0, 1, ...).
pub(super) fn build(vectors: &[Vec<f32>], params: HnswParams) -> (HnswIndex, ExactIndex) {
    let dim = vectors.first().map_or(0, Vec::len);
    let mut hnsw = HnswIndex::with_params(dim, params);
    let mut exact = ExactIndex::new(dim);
    for (id, v) in vectors.iter().enumerate() {
        hnsw.insert(id as u64, v);
        exact.insert(id as u64, v);
    }
    (hnsw, exact)
}

/// Sizes for the recall tests: the semantic cache's scale (20,000 entries of 384
/// dimensions, all-MiniLM-L6-v2's) in release builds, smaller in debug builds, where
/// unoptimised dot products make a 20k build take many minutes (3,000 x 64 already takes
/// 15 s of CPU there).
/// Returns (vectors, dimension, queries).
pub(super) fn recall_sizes() -> (usize, usize, usize) {
    if cfg!(debug_assertions) {
        (2_000, 32, 200)
    } else {
        (20_000, 384, 500)
    }
}

/// Recall@1 and recall@10 of `hnsw` against `exact` over `queries`, printed under `name`.
pub(super) fn report(
    name: &str,
    hnsw: &HnswIndex,
    exact: &ExactIndex,
    queries: &[Vec<f32>],
) -> (f64, f64) {
    let r1 = recall_at(hnsw, exact, queries, 1);
    let r10 = recall_at(hnsw, exact, queries, 10);
    println!(
        "{name}: n={} dim={} queries={} recall@1={r1:.4} recall@10={r10:.4}",
        hnsw.len(),
        hnsw.dim(),
        queries.len()
    );
    (r1, r10)
}
