//! Recall@k: how much of the exact answer an approximate index finds, the measure its
//! tests and the benchmarks hold it to.

use crate::index::VectorIndex;

/// Recall@k of `index` against `exact`, an exact index holding the same vectors
/// ([`ExactIndex`](crate::index::ExactIndex) or [`FlatIndex`](crate::index::FlatIndex)): the share of the exact
/// top `k` that `index` also returns, averaged over `queries`. A returned vector that ties
/// the exact k-th score counts as found, so equal scores never lower recall.
/// With `k = 1` this is the share of queries whose best match is found. Queries on which
/// `exact` returns nothing are skipped; with no such queries left the result is 1.0.
pub fn recall_at(
    index: &dyn VectorIndex,
    exact: &dyn VectorIndex,
    queries: &[Vec<f32>],
    k: usize,
) -> f64 {
    let mut total = 0.0;
    let mut counted = 0usize;
    for query in queries {
        let truth = exact.search(query, k);
        let Some(&(_, kth)) = truth.last() else {
            continue;
        };
        let found = index.search(query, k);
        let hits = found
            .iter()
            .filter(|(id, score)| *score >= kth || truth.iter().any(|(t, _)| t == id))
            .count();
        total += hits as f64 / truth.len() as f64;
        counted += 1;
    }
    if counted == 0 {
        1.0
    } else {
        total / counted as f64
    }
}
