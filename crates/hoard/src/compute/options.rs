//! [`ComputeOptions`]: how a get-or-compute call behaves, and the adaptive TTL it may apply.

use std::time::Duration;

/// How [`Cache::get_or_compute`] behaves. The default: the cache's default TTL, single-flight
/// in-process, a lease across processes when L2 is Redis, no early refresh, fixed TTLs.
#[derive(Debug, Clone)]
#[must_use]
pub struct ComputeOptions {
    pub(super) ttl: Option<Duration>,
    pub(super) bypass: bool,
    pub(super) early_refresh: Option<f64>,
    pub(super) adaptive_ttl: Option<AdaptiveTtl>,
    pub(super) cache_errors: Option<Duration>,
    pub(super) share_errors: bool,
    pub(super) coordinate: bool,
    pub(super) lease: Duration,
    pub(super) wait: Duration,
    pub(super) tags: Vec<String>,
}

impl Default for ComputeOptions {
    fn default() -> Self {
        ComputeOptions {
            ttl: None,
            bypass: false,
            early_refresh: None,
            adaptive_ttl: None,
            cache_errors: None,
            share_errors: true,
            coordinate: true,
            lease: Duration::from_secs(30),
            wait: Duration::from_secs(60),
            tags: Vec::new(),
        }
    }
}

/// A popularity-adaptive TTL, as a video-insight service keeps popular answers longer: an entry hit `n` times lives
/// `(n * multiplier + 1) * ttl`, never longer than `max`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaptiveTtl {
    /// Growth per hit, as a fraction of the base TTL (0.1: each hit adds a tenth of the base TTL).
    pub multiplier: f64,
    /// The longest TTL an entry can reach.
    pub max: Duration,
}

impl ComputeOptions {
    /// The defaults.
    pub fn new() -> ComputeOptions {
        ComputeOptions::default()
    }

    /// Whether an L1 hit with these options is the whole answer: no early refresh to
    /// consider, no adaptive TTL to extend, not bypassed.
    pub(crate) fn hit_needs_nothing_more(&self) -> bool {
        !self.bypass && self.early_refresh.is_none() && self.adaptive_ttl.is_none()
    }

    /// TTL of computed values (default: the cache's default TTL).
    pub fn ttl(mut self, ttl: Duration) -> ComputeOptions {
        self.ttl = Some(ttl);
        self
    }

    /// A caller's `use_cache=false` when `true`: skip the lookup, compute fresh, and store
    /// the fresh value for everyone else.
    pub fn bypass(mut self, bypass: bool) -> ComputeOptions {
        self.bypass = bypass;
        self
    }

    /// XFetch early refresh (Vattani et al., VLDB 2015): a hit recomputes early with
    /// probability rising as expiry nears, scaled by how long the value took to compute and
    /// by `beta` (1.0 is the paper's default; larger refreshes earlier). Only one caller
    /// refreshes; the others keep getting the current value meanwhile.
    pub fn early_refresh(mut self, beta: f64) -> ComputeOptions {
        self.early_refresh = Some(beta.max(0.0));
        self
    }

    /// Popularity-adaptive TTL (off by default).
    pub fn adaptive_ttl(mut self, adaptive: AdaptiveTtl) -> ComputeOptions {
        self.adaptive_ttl = Some(adaptive);
        self
    }

    /// Remember a failed computation's message for `ttl`: callers within it get
    /// [`ComputeError::Cached`] without computing. Off by default (errors are not cached).
    pub fn cache_errors(mut self, ttl: Duration) -> ComputeOptions {
        self.cache_errors = Some(ttl);
        self
    }

    /// Whether callers waiting on a computation that fails get its error (`true`, the
    /// default) or retry, one of them computing again (`false`; then each caller gets an
    /// error of its own, which `#[cached]` needs to return `E` by value).
    pub fn share_errors(mut self, share: bool) -> ComputeOptions {
        self.share_errors = share;
        self
    }

    /// Whether to take a lease in L2 so one *process* computes (default `true`; only
    /// Redis holds leases, the embedded tiers coordinate within the process).
    pub fn coordinate(mut self, coordinate: bool) -> ComputeOptions {
        self.coordinate = coordinate;
        self
    }

    /// The cross-process lease: renewed while the holder computes, so it only runs out when
    /// the holder dies (default 30 s).
    pub fn lease(mut self, lease: Duration) -> ComputeOptions {
        self.lease = lease.max(Duration::from_millis(30));
        self
    }

    /// How long to wait for another process's value before computing anyway (default 60 s).
    pub fn wait(mut self, wait: Duration) -> ComputeOptions {
        self.wait = wait;
        self
    }

    /// Tags the computed entries carry, for [`Cache::invalidate_tags`] (none by default).
    pub fn tags<I, S>(mut self, tags: I) -> ComputeOptions
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tags = tags.into_iter().map(Into::into).collect();
        self
    }
}

/// `(hits * multiplier + 1) * base`, capped at `max`.
pub(super) fn adaptive_ttl(base: Duration, adaptive: AdaptiveTtl, hits: u64) -> Duration {
    let factor = (hits as f64).mul_add(adaptive.multiplier.max(0.0), 1.0);
    let grown = base.as_secs_f64() * factor;
    // Never past the longest TTL a tier takes, whatever cap was asked for.
    let cap = adaptive.max.max(base).min(crate::ttl::MAX);
    if !grown.is_finite() || grown >= cap.as_secs_f64() {
        return cap;
    }
    Duration::from_secs_f64(grown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adaptive_ttl_grows_a_tenth_of_the_base_per_hit_and_stops_at_the_cap() {
        let a = AdaptiveTtl {
            multiplier: 0.1,
            max: Duration::from_secs(7200),
        };
        let base = Duration::from_secs(3600);
        assert_eq!(adaptive_ttl(base, a, 0), base);
        assert_eq!(adaptive_ttl(base, a, 5), Duration::from_secs(5400));
        assert_eq!(adaptive_ttl(base, a, 10), Duration::from_secs(7200));
        assert_eq!(adaptive_ttl(base, a, 1_000_000), Duration::from_secs(7200));
    }
}
