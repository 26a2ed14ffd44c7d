//! Timing primitives of the suite: percentiles, searches alone, embedding plus search, and
//! the machine's load, which latencies follow on a shared machine.

use anyhow::Context as _;
use hoard_semantic::embed::bert::BertEmbedder;
use hoard_semantic::index::VectorIndex;
use std::time::{Duration, Instant};

/// The 1, 5 and 15 minute load averages: the machine is shared, and latencies follow it.
pub(super) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// p50 and p95 of `samples`, in milliseconds.
pub(super) fn percentiles(samples: &mut [Duration]) -> (f64, f64) {
    samples.sort();
    let at = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples.get(i).map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
    };
    (at(0.50), at(0.95))
}

/// p50 and p95 of searching `index` for the `k` nearest of each query.
pub(super) fn time_searches(index: &dyn VectorIndex, queries: &[&[f32]], k: usize) -> (f64, f64) {
    // A few untimed searches first: page faults and cold caches are not the steady state.
    for q in queries.iter().take(20) {
        std::hint::black_box(index.search(q, k));
    }
    let mut samples: Vec<Duration> = queries
        .iter()
        .map(|q| {
            let started = Instant::now();
            std::hint::black_box(index.search(q, k));
            started.elapsed()
        })
        .collect();
    percentiles(&mut samples)
}

/// p50 and p95 of embedding each text with `model`, one at a time, then searching `index`.
pub(super) fn time_embed_and_search(
    model: &BertEmbedder,
    index: &dyn VectorIndex,
    texts: &[String],
    k: usize,
) -> anyhow::Result<(f64, f64)> {
    let mut samples = Vec::with_capacity(texts.len());
    for text in texts {
        let started = Instant::now();
        let vector = model
            .embed_blocking(std::slice::from_ref(text))?
            .pop()
            .context("no vector")?;
        std::hint::black_box(index.search(&vector, k));
        samples.push(started.elapsed());
    }
    Ok(percentiles(&mut samples))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_nearest_rank_and_nan_when_empty() {
        let mut samples: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        assert_eq!(percentiles(&mut samples), (51.0, 95.0));
        let (p50, p95) = percentiles(&mut []);
        assert!(p50.is_nan() && p95.is_nan());
    }
}
