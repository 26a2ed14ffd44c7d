//! How long the cache routes take to answer: a histogram every request of
//! `/v1/cache/...` and `/results/...` adds to, from which [`crate::history`] takes the
//! p50 and p99 of each sampling interval.
//!
//! Buckets are logarithmic with four steps per power of two (each at most a quarter wider
//! than its lower bound, so a reported figure is at most a fifth below the true one),
//! counted in striped atomics as the cache's stats are, so two workers answering at once
//! do not share a cache line. A quantile is reported as the lower bound of its bucket: a
//! figure the true latency is never below.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

/// Microseconds below this get a bucket each.
const LINEAR: u64 = 16;
/// Steps per power of two above that.
const STEPS: u64 = 4;
/// Enough for every `u64` of microseconds.
pub(crate) const BUCKETS: usize = (LINEAR + (64 - 4) * STEPS) as usize;
const STRIPES: usize = 4;

/// The bucket of a latency of `micros`.
fn bucket(micros: u64) -> usize {
    if micros < LINEAR {
        return micros as usize;
    }
    let power = 63 - u64::from(micros.leading_zeros()); // >= 4
    let step = (micros >> (power - 2)) & (STEPS - 1);
    (LINEAR + (power - 4) * STEPS + step) as usize
}

/// The smallest latency in bucket `index`, in microseconds.
fn lower_bound(index: usize) -> u64 {
    let index = index as u64;
    if index < LINEAR {
        return index;
    }
    let power = (index - LINEAR) / STEPS + 4;
    let step = (index - LINEAR) % STEPS;
    (1 << power) + (step << (power - 2))
}

#[repr(align(128))]
struct Stripe([AtomicU64; BUCKETS]);

/// The latencies of the cache routes since the server started.
pub(crate) struct Latencies {
    stripes: Box<[Stripe]>,
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies {
            stripes: (0..STRIPES)
                .map(|_| Stripe(std::array::from_fn(|_| AtomicU64::new(0))))
                .collect(),
        }
    }
}

impl std::fmt::Debug for Latencies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Latencies").finish_non_exhaustive()
    }
}

fn my_stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: usize = NEXT.fetch_add(1, Relaxed) % STRIPES;
    }
    STRIPE.with(|s| *s)
}

/// Whether a request to `path` is a cache route's, whose latency is counted.
pub(crate) fn is_cache_route(path: &str) -> bool {
    path.starts_with("/v1/cache/") || path.starts_with("/results/")
}

impl Latencies {
    /// Counts one answer that took `micros`.
    pub(crate) fn record(&self, micros: u64) {
        self.stripes[my_stripe()].0[bucket(micros)].fetch_add(1, Relaxed);
    }

    /// The count of every bucket so far.
    pub(crate) fn counts(&self) -> Vec<u64> {
        let mut sums = vec![0; BUCKETS];
        for stripe in self.stripes.iter() {
            for (sum, count) in sums.iter_mut().zip(&stripe.0) {
                *sum += count.load(Relaxed);
            }
        }
        sums
    }
}

/// The `q` quantile (0 < q <= 1) of the answers counted between `before` and `now` (two
/// readings of [`Latencies::counts`]), in microseconds; `None` when there were none.
pub(crate) fn quantile(before: &[u64], now: &[u64], q: f64) -> Option<u64> {
    let deltas: Vec<u64> = now
        .iter()
        .zip(before.iter().chain(std::iter::repeat(&0)))
        .map(|(n, b)| n.saturating_sub(*b))
        .collect();
    let total: u64 = deltas.iter().sum();
    if total == 0 {
        return None;
    }
    // The rank of the quantile, 1-based: the smallest bucket reaching it.
    let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0;
    for (index, count) in deltas.iter().enumerate() {
        seen += count;
        if seen >= rank {
            return Some(lower_bound(index));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_latency_falls_in_a_bucket_whose_bounds_hold_it() {
        let mut samples: Vec<u64> = (0..5000).collect();
        samples.extend([1 << 20, (1 << 20) + 1, 123_456_789, u64::MAX / 3, u64::MAX]);
        for micros in samples {
            let index = bucket(micros);
            assert!(index < BUCKETS, "{micros}");
            assert!(lower_bound(index) <= micros, "{micros} below its bucket");
            if index + 1 < BUCKETS {
                assert!(micros < lower_bound(index + 1), "{micros} past its bucket");
            }
        }
        // Above the linear range, a bucket spans at most a quarter of its lower bound.
        for index in LINEAR as usize..BUCKETS - 1 {
            let (low, high) = (lower_bound(index), lower_bound(index + 1));
            assert!((high - low) * 4 <= low, "bucket {index}: {low}..{high}");
        }
    }

    #[test]
    fn quantiles_come_from_the_interval_only() {
        let latencies = Latencies::default();
        for _ in 0..1000 {
            latencies.record(5_000);
        }
        let before = latencies.counts();
        for micros in 1..=100 {
            latencies.record(micros * 10);
        }
        let now = latencies.counts();
        // 100 answers of 10..=1000 us: the 50th is 500 us, the 99th 990 us, each reported
        // as its bucket's lower bound, within a fifth below.
        let p50 = quantile(&before, &now, 0.5).unwrap();
        let p99 = quantile(&before, &now, 0.99).unwrap();
        assert!((400..=500).contains(&p50), "{p50}");
        assert!((792..=990).contains(&p99), "{p99}");
        assert_eq!(quantile(&now, &now, 0.5), None);
    }
}
