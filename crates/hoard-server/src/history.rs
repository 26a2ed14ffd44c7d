//! The cache's figures over time: [`StatsHistory`] samples the stats every few seconds
//! into a ring holding the last hour, which `GET /v1/stats/history` serves, so a page (or
//! `curl`) can plot hit rates, operations per second, memory and keys without a
//! Prometheus of its own. With a semantic cache, its lookups and hits are sampled too.
//!
//! Counts in a sample are totals since the server started, as in `/v1/stats`: a rate is
//! the difference of two samples over the difference of their times, which stays right
//! when a sample is missed.

use crate::census::{CensusBoard, CENSUS_EVERY_SAMPLES};
use crate::latency::{quantile, Latencies};
use crate::model_stores::{ModelStoresBoard, SCAN_EVERY_SAMPLES};
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// How often `hoard serve` samples.
pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// How far back the ring reaches.
const SPAN: Duration = Duration::from_secs(60 * 60);

/// The most samples a ring holds, whatever the interval (a 10 ms interval would otherwise
/// ask for 360,000).
const MOST_SAMPLES: usize = 10_000;

/// The cache's figures at one instant.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Sample {
    /// When it was taken, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// Whether every tier answered.
    pub available: bool,
    /// Reads answered by the in-memory L1, since the server started.
    pub l1_hits: u64,
    /// Reads answered by L2.
    pub l2_hits: u64,
    /// Reads that found nothing.
    pub misses: u64,
    /// Entries written.
    pub sets: u64,
    /// Entries deleted.
    pub deletes: u64,
    /// Failed operations.
    pub errors: u64,
    /// Entries evicted for capacity, summed over tiers.
    pub evictions: u64,
    /// Expired entries reclaimed.
    pub expirations: u64,
    /// Milliseconds of compute the hits saved.
    pub compute_saved_ms: u64,
    /// Bytes held in memory by L1, now.
    pub used_memory_bytes: u64,
    /// L1's budget in bytes, which `used_memory_bytes` stays under.
    pub memory_budget_bytes: u64,
    /// Entries held by the tier that holds the truth, now.
    pub total_keys: u64,
    /// The median time the cache routes (`/v1/cache/...`, `/results/...`) took to answer
    /// since the sample before, in microseconds (the lower bound of its bucket: at most a
    /// fifth below the true figure);
    /// `null` when none was answered.
    pub p50_us: Option<u64>,
    /// The same, for the 99th percentile.
    pub p99_us: Option<u64>,
    /// Semantic lookups answered, since the server started; `null` without a semantic
    /// cache.
    pub semantic_lookups: Option<u64>,
    /// Semantic lookups that found an answer; `null` without a semantic cache.
    pub semantic_hits: Option<u64>,
}

impl Sample {
    fn of(
        stats: &hoard::Stats,
        semantic: Option<&hoard_semantic::cache::NamespaceStats>,
        at_ms: u64,
        latency: [Option<u64>; 2],
    ) -> Sample {
        let totals = &stats.totals;
        Sample {
            at_ms,
            available: stats.available,
            l1_hits: totals.l1_hits,
            l2_hits: totals.l2_hits,
            misses: totals.misses,
            sets: totals.sets,
            deletes: totals.deletes,
            errors: totals.errors,
            evictions: stats.evictions,
            expirations: stats.expirations,
            compute_saved_ms: totals.compute_saved_ms,
            used_memory_bytes: stats.used_memory,
            memory_budget_bytes: stats.memory_budget,
            total_keys: stats.total_keys,
            p50_us: latency[0],
            p99_us: latency[1],
            semantic_lookups: semantic.map(|s| s.lookups),
            semantic_hits: semantic.map(|s| s.hits),
        }
    }
}

/// The body of `GET /v1/stats/history`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HistoryResponse {
    /// Milliseconds between two samples.
    pub interval_ms: u64,
    /// The most samples kept (the last hour's worth); older ones are dropped.
    pub capacity: usize,
    /// Oldest first; only those taken after `since` when it was given.
    pub samples: Vec<Sample>,
}

/// A bounded ring of [`Sample`]s, one taken every `interval`.
#[derive(Debug)]
pub struct StatsHistory {
    interval: Duration,
    capacity: usize,
    samples: Mutex<VecDeque<Sample>>,
    latencies: Latencies,
    /// The latency counts at the last sample, which the next one's quantiles start from.
    counted: Mutex<Vec<u64>>,
    /// What each namespace holds, counted every few samples.
    census: CensusBoard,
    /// The model caches' sizes and budgets, scanned every few samples.
    model_stores: ModelStoresBoard,
}

impl StatsHistory {
    /// A ring sampled every `interval` (at least 10 ms), holding the last hour of samples
    /// (at most 10,000).
    pub fn new(interval: Duration) -> Arc<StatsHistory> {
        let interval = interval.max(Duration::from_millis(10));
        let per_span = SPAN.as_millis() / interval.as_millis();
        let capacity = usize::try_from(per_span)
            .unwrap_or(MOST_SAMPLES)
            .clamp(2, MOST_SAMPLES);
        Arc::new(StatsHistory {
            interval,
            capacity,
            samples: Mutex::new(VecDeque::with_capacity(capacity)),
            latencies: Latencies::default(),
            counted: Mutex::new(Vec::new()),
            census: CensusBoard::default(),
            model_stores: ModelStoresBoard::default(),
        })
    }

    /// The last census of the namespaces, taken every [`CENSUS_EVERY_SAMPLES`] intervals
    /// while [`StatsHistory::run`] runs.
    pub fn census(&self) -> &CensusBoard {
        &self.census
    }

    /// The last scan of the model caches, taken every [`SCAN_EVERY_SAMPLES`] intervals
    /// while [`StatsHistory::run`] runs.
    pub fn model_stores(&self) -> &ModelStoresBoard {
        &self.model_stores
    }

    /// The cache routes' latencies, which the request layer records.
    pub(crate) fn latencies(&self) -> &Latencies {
        &self.latencies
    }

    /// Takes one sample of `cache`'s stats now, dropping the oldest past the capacity.
    pub async fn sample(&self, cache: &hoard::Cache) -> Result<(), hoard::Error> {
        self.sample_with(cache, None).await
    }

    /// [`StatsHistory::sample`], with the semantic cache's totals when there is one.
    pub async fn sample_with(
        &self,
        cache: &hoard::Cache,
        semantic: Option<&hoard_semantic::SemanticCache>,
    ) -> Result<(), hoard::Error> {
        let stats = cache.stats().await?;
        let semantic = semantic.map(|s| s.stats().totals);
        let now = self.latencies.counts();
        let latency = {
            let mut counted = self.counted.lock().unwrap_or_else(PoisonError::into_inner);
            let before = std::mem::replace(&mut *counted, now.clone());
            [0.5, 0.99].map(|q| quantile(&before, &now, q))
        };
        let sample = Sample::of(&stats, semantic.as_ref(), hoard::entry::now_ms(), latency);
        let mut samples = self.lock();
        if samples.len() == self.capacity {
            samples.pop_front();
        }
        samples.push_back(sample);
        Ok(())
    }

    /// Samples every interval, and counts the namespaces and scans the model caches of
    /// `models` every few, until dropped (the server aborts it when it stops). A failed
    /// sample is logged and skipped; the next one tries again.
    pub(crate) async fn run(
        self: Arc<Self>,
        cache: hoard::Cache,
        semantic: Option<Arc<hoard_semantic::SemanticCache>>,
        models: Arc<hoard_models::Layout>,
    ) {
        let sampling = async {
            let mut ticks = tokio::time::interval(self.interval);
            // A stalled runtime takes the next sample late, not a burst of them.
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if let Err(error) = self.sample_with(&cache, semantic.as_deref()).await {
                    tracing::warn!(%error, "sampling the stats for /v1/stats/history failed");
                }
            }
        };
        let counting = self
            .census
            .run(cache.clone(), self.interval * CENSUS_EVERY_SAMPLES);
        let scanning = self
            .model_stores
            .run(models, self.interval * SCAN_EVERY_SAMPLES);
        tokio::join!(sampling, counting, scanning);
    }

    /// The samples taken after `since_ms` (all of them for `None`), oldest first.
    pub fn response(&self, since_ms: Option<u64>) -> HistoryResponse {
        let samples = self
            .lock()
            .iter()
            .filter(|s| since_ms.is_none_or(|since| s.at_ms > since))
            .cloned()
            .collect();
        HistoryResponse {
            interval_ms: u64::try_from(self.interval.as_millis()).unwrap_or(u64::MAX),
            capacity: self.capacity,
            samples,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Sample>> {
        // Nothing panics while holding it; a poisoned ring is still a valid ring.
        self.samples.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_holds_the_last_hour_within_its_bounds() {
        assert_eq!(StatsHistory::new(Duration::from_secs(5)).capacity, 720);
        assert_eq!(StatsHistory::new(Duration::ZERO).capacity, MOST_SAMPLES);
        assert_eq!(StatsHistory::new(Duration::from_secs(7200)).capacity, 2);
    }

    #[tokio::test]
    async fn old_samples_give_way_and_since_returns_only_newer_ones() {
        let cache = hoard::Cache::in_memory();
        let history = StatsHistory::new(Duration::from_secs(1800));
        assert_eq!(history.capacity, 2);
        for n in 1..=3u64 {
            cache.set("ns", &format!("k{n}"), &n).await.unwrap();
            history.sample(&cache).await.unwrap();
        }
        let all = history.response(None).samples;
        // The first sample (one set) was dropped for the third.
        assert_eq!(all.iter().map(|s| s.sets).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(all[1].total_keys, 3);
        let newer = history.response(Some(all[0].at_ms)).samples;
        assert!(newer.iter().all(|s| s.at_ms > all[0].at_ms));
        assert!(history.response(Some(u64::MAX)).samples.is_empty());
    }
}
