//! The exact index (int8 scan, f32 rescoring) against the f32 scan it replaced: the
//! latency of both in the same run, alternating, and how well the int8 candidates alone
//! find the f32 answer, before the exact index's proof (or second scan) makes it certain.

use super::timing::percentiles;
use hoard_semantic::index::{ExactIndex, FlatIndex, VectorIndex};
use std::time::{Duration, Instant};

/// What the comparison at one size measured.
pub(super) struct Quantized {
    /// p50 and p95 of a search, in milliseconds: the f32 scan and the exact index.
    pub(super) flat: (f64, f64),
    pub(super) int8: (f64, f64),
    /// How many times each was timed over the queries.
    pub(super) rounds: usize,
    /// One row per `k` of the recall columns.
    pub(super) recall: Vec<QuantRecall>,
}

/// Recall against the f32 scan at one `k`.
pub(super) struct QuantRecall {
    pub(super) k: usize,
    /// The top k of the rescored int8 candidates alone (an int8 index without the proof).
    pub(super) first_pass: f64,
    /// What the exact index returns.
    pub(super) found: f64,
    /// The share of queries answered exactly as the f32 scan does: same ids, order and
    /// score bits.
    pub(super) identical: f64,
    /// The share of searches the int8 bounds proved without a second scan, and the f32
    /// vectors read per search on average.
    pub(super) proved: f64,
    pub(super) rescored: f64,
}

/// Times `flat` and `exact` (holding the same vectors) on `queries`, `rounds` times each,
/// alternating which goes first, and measures recall at 1, `k` and 10.
pub(super) fn compare(
    flat: &FlatIndex,
    exact: &ExactIndex,
    queries: &[&[f32]],
    k: usize,
    rounds: usize,
) -> Quantized {
    let contenders: [&dyn VectorIndex; 2] = [flat, exact];
    for index in contenders {
        for q in queries.iter().take(20) {
            std::hint::black_box(index.search(q, k));
        }
    }
    let mut samples: [Vec<Duration>; 2] = Default::default();
    for round in 0..rounds.max(1) {
        for turn in 0..2 {
            let which = (round + turn) % 2;
            for q in queries {
                let started = Instant::now();
                std::hint::black_box(contenders[which].search(q, k));
                samples[which].push(started.elapsed());
            }
        }
    }
    let [mut flat_samples, mut int8_samples] = samples;

    let mut ks = vec![1, k, 10];
    ks.sort_unstable();
    ks.dedup();
    let recall = ks
        .into_iter()
        .map(|kk| {
            let (mut first_pass, mut found, mut identical) = (0.0, 0.0, 0usize);
            let (mut proved, mut rescored) = (0usize, 0usize);
            for q in queries {
                let truth = flat.search(q, kk);
                let trace = exact.search_traced(q, kk);
                first_pass += recall(&truth, &trace.first_pass);
                found += recall(&truth, &trace.found);
                identical += usize::from(bits(&truth) == bits(&trace.found));
                proved += usize::from(trace.proved);
                rescored += trace.rescored;
            }
            let count = queries.len().max(1) as f64;
            QuantRecall {
                k: kk,
                first_pass: first_pass / count,
                found: found / count,
                identical: identical as f64 / count,
                proved: proved as f64 / count,
                rescored: rescored as f64 / count,
            }
        })
        .collect();
    Quantized {
        flat: percentiles(&mut flat_samples),
        int8: percentiles(&mut int8_samples),
        rounds: rounds.max(1),
        recall,
    }
}

/// The share of `truth` (the f32 top k) that `found` holds; a score tying the k-th counts
/// as found, as in `hoard_semantic::hnsw::recall_at`.
fn recall(truth: &[(u64, f32)], found: &[(u64, f32)]) -> f64 {
    let Some(&(_, kth)) = truth.last() else {
        return 1.0;
    };
    let hits = found
        .iter()
        .filter(|(id, score)| *score >= kth || truth.iter().any(|(t, _)| t == id))
        .count();
    hits as f64 / truth.len() as f64
}

/// Ids and score bits, so equality is bit for bit.
fn bits(found: &[(u64, f32)]) -> Vec<(u64, u32)> {
    found.iter().map(|(id, s)| (*id, s.to_bits())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recall_counts_ties_and_misses() {
        let truth = [(1, 0.9), (2, 0.8)];
        assert_eq!(recall(&truth, &[(1, 0.9), (2, 0.8)]), 1.0);
        assert_eq!(recall(&truth, &[(1, 0.9), (3, 0.8)]), 1.0, "a tie counts");
        assert_eq!(recall(&truth, &[(1, 0.9), (3, 0.7)]), 0.5);
        assert_eq!(recall(&[], &[(1, 0.9)]), 1.0);
    }
}
