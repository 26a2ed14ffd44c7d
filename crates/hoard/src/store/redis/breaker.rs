//! A circuit breaker per Redis node, so a dead server is not hammered.
//!
//! Closed: calls go through. After `threshold` consecutive failures it opens: calls fail
//! at once for a cooldown. When the cooldown has passed, exactly one call is let through
//! as a probe (half-open); success closes the breaker, failure reopens it with the
//! cooldown doubled (up to a maximum).

use crate::entry::now_ms;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::SeqCst};
use std::time::Duration;

/// Breaker settings.
#[derive(Debug, Clone, Copy)]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker.
    pub threshold: u32,
    /// First cooldown; doubles on each failed probe.
    pub cooldown: Duration,
    /// Longest cooldown.
    pub max_cooldown: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            threshold: 3,
            cooldown: Duration::from_millis(500),
            max_cooldown: Duration::from_secs(10),
        }
    }
}

pub(crate) struct Breaker {
    config: BreakerConfig,
    failures: AtomicU32,
    /// 0 when closed; otherwise when the next probe may go.
    open_until_ms: AtomicU64,
    cooldown_ms: AtomicU64,
    probing: AtomicBool,
}

impl Breaker {
    pub(crate) fn new(config: BreakerConfig) -> Breaker {
        Breaker {
            config,
            failures: AtomicU32::new(0),
            open_until_ms: AtomicU64::new(0),
            cooldown_ms: AtomicU64::new(millis(config.cooldown)),
            probing: AtomicBool::new(false),
        }
    }

    /// Whether a call may go to the server now.
    pub(crate) fn allow(&self) -> bool {
        let until = self.open_until_ms.load(SeqCst);
        if until == 0 {
            return true;
        }
        if now_ms() < until {
            return false;
        }
        // Half-open: one probe at a time.
        !self.probing.swap(true, SeqCst)
    }

    pub(crate) fn succeeded(&self) {
        self.failures.store(0, SeqCst);
        if self.open_until_ms.swap(0, SeqCst) != 0 {
            self.cooldown_ms.store(millis(self.config.cooldown), SeqCst);
            tracing::info!("redis: circuit closed, server answers again");
        }
        self.probing.store(false, SeqCst);
    }

    pub(crate) fn failed(&self) {
        let failures = self.failures.fetch_add(1, SeqCst) + 1;
        let was_open = self.open_until_ms.load(SeqCst) != 0;
        if was_open || failures >= self.config.threshold {
            let cooldown = self.cooldown_ms.load(SeqCst);
            self.open_until_ms.store(now_ms() + cooldown, SeqCst);
            let next = (cooldown * 2).min(millis(self.config.max_cooldown));
            self.cooldown_ms.store(next, SeqCst);
            if !was_open {
                tracing::warn!(failures, cooldown_ms = cooldown, "redis: circuit opened");
            }
        }
        self.probing.store(false, SeqCst);
    }

    /// Whether the breaker is open or half-open (the server is considered down).
    pub(crate) fn is_open(&self) -> bool {
        self.open_until_ms.load(SeqCst) != 0
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(BreakerConfig {
            threshold: 2,
            cooldown: Duration::from_millis(40),
            max_cooldown: Duration::from_millis(100),
        })
    }

    #[test]
    fn opens_after_threshold_and_fails_fast() {
        let b = breaker();
        b.failed();
        assert!(b.allow() && !b.is_open(), "one failure is not enough");
        b.failed();
        assert!(b.is_open());
        assert!(!b.allow(), "open: calls fail at once");
    }

    #[test]
    fn one_probe_after_cooldown_then_closes_on_success() {
        let b = breaker();
        b.failed();
        b.failed();
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.allow(), "the probe goes through");
        assert!(!b.allow(), "only one probe at a time");
        b.succeeded();
        assert!(!b.is_open());
        assert!(b.allow() && b.allow());
    }

    #[test]
    fn failed_probe_reopens_with_longer_cooldown() {
        let b = breaker();
        b.failed();
        b.failed();
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.allow());
        b.failed();
        // Cooldown doubled to 80 ms: still closed to calls after 60 ms.
        std::thread::sleep(Duration::from_millis(60));
        assert!(!b.allow());
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.allow());
    }

    #[test]
    fn success_resets_the_failure_count() {
        let b = breaker();
        b.failed();
        b.succeeded();
        b.failed();
        assert!(!b.is_open(), "failures must be consecutive");
    }
}
