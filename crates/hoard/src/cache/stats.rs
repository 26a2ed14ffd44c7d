//! Stats: counts, what each tier holds, and the hit counts of adaptive TTLs.

use super::Cache;
use crate::error::Result;
use crate::stats::{NamespaceStats, Stats, TierStats};
use crate::store::Usage;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Arc;

impl Cache {
    /// Counts a hit on `full` for adaptive TTLs; returns the new count.
    pub(crate) fn count_hit(&self, full: &str) -> u64 {
        let counter = self
            .inner
            .hits
            .get_or_insert_with(full, || {
                Ok::<_, std::convert::Infallible>(Arc::new(AtomicU64::new(0)))
            })
            .unwrap_or_else(|never| match never {});
        counter.fetch_add(1, SeqCst) + 1
    }

    /// Hits counted on `full` so far.
    pub(crate) fn hit_count(&self, full: &str) -> u64 {
        self.inner.hits.get(full).map_or(0, |c| c.load(SeqCst))
    }

    /// Counts since the cache was built, and what each tier holds now. A tier that does not
    /// answer is reported with `available: false` rather than failing the call.
    pub async fn stats(&self) -> Result<Stats> {
        let inner = &*self.inner;
        let namespaces = inner.stats.snapshot();
        let mut totals = NamespaceStats::default();
        for counts in namespaces.values() {
            totals.accumulate(counts);
        }
        let l1 = inner.l1.usage_now();
        let mut tiers = vec![tier_stats("memory", l1, true)];
        let mut truth = l1;
        if let Some(l2) = &inner.l2 {
            match l2.usage().await {
                Ok(usage) => {
                    tiers.push(tier_stats(l2.name(), usage, true));
                    truth = usage;
                }
                Err(error) => {
                    self.warn_l2("", &error, "L2 did not report its usage");
                    tiers.push(tier_stats(l2.name(), Usage::default(), false));
                }
            }
        }
        Ok(Stats {
            totals,
            available: tiers.iter().all(|t| t.available),
            evictions: tiers.iter().map(|t| t.evictions).sum(),
            expirations: truth.expirations,
            used_memory: l1.bytes,
            memory_budget: inner.l1.capacity_bytes(),
            total_keys: truth.entries,
            namespaces,
            tiers,
            writers: self.writer_stats().await,
        })
    }
}

fn tier_stats(name: &str, usage: Usage, available: bool) -> TierStats {
    TierStats {
        available,
        name: name.to_owned(),
        entries: usage.entries,
        bytes: usage.bytes,
        evictions: usage.evictions,
        expirations: usage.expirations,
    }
}
