//! A circuit breaker per Redis node, so a dead server is not hammered.
//!
//! Closed: calls go through. After `threshold` consecutive failures it opens: calls fail
//! at once for a cooldown. When the cooldown has passed, exactly one call is let through
//! as a probe (half-open); success closes the breaker, failure reopens it with the
//! cooldown doubled (up to a maximum).

use hoard_core::clock::Clock;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
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
            // One connection attempt a second does not hammer a dead server, and a server
            // that comes back is used again within a second of answering.
            max_cooldown: Duration::from_secs(1),
        }
    }
}

pub(crate) struct Breaker {
    config: BreakerConfig,
    /// How long a probe may take before another caller may probe instead (a probe whose
    /// future was dropped never reports back).
    probe_timeout_ms: u64,
    failures: AtomicU32,
    /// 0 when closed; otherwise when the next probe may go.
    open_until_ms: AtomicU64,
    cooldown_ms: AtomicU64,
    /// When the probe in flight started; 0 when none is.
    probing_since_ms: AtomicU64,
    clock: Clock,
}

impl Breaker {
    pub(crate) fn new(config: BreakerConfig, probe_timeout: Duration, clock: Clock) -> Breaker {
        Breaker {
            config,
            probe_timeout_ms: millis(probe_timeout),
            failures: AtomicU32::new(0),
            open_until_ms: AtomicU64::new(0),
            cooldown_ms: AtomicU64::new(millis(config.cooldown)),
            probing_since_ms: AtomicU64::new(0),
            clock,
        }
    }

    /// Whether a call may go to the server now.
    pub(crate) fn allow(&self) -> bool {
        let until = self.open_until_ms.load(SeqCst);
        if until == 0 {
            return true;
        }
        let now = self.clock.now_ms();
        if now < until {
            return false;
        }
        // Half-open: one probe at a time, and a new one if the last never reported back.
        let since = self.probing_since_ms.load(SeqCst);
        if since != 0 && now.saturating_sub(since) < self.probe_timeout_ms.saturating_mul(2) {
            return false;
        }
        self.probing_since_ms
            .compare_exchange(since, now, SeqCst, SeqCst)
            .is_ok()
    }

    pub(crate) fn succeeded(&self) {
        self.failures.store(0, SeqCst);
        if self.open_until_ms.swap(0, SeqCst) != 0 {
            self.cooldown_ms.store(millis(self.config.cooldown), SeqCst);
            tracing::info!("redis: circuit closed, server answers again");
        }
        self.probing_since_ms.store(0, SeqCst);
    }

    pub(crate) fn failed(&self) {
        if self.open_until_ms.load(SeqCst) != 0 {
            // Open: only the probe's failure counts (calls let through before the breaker
            // opened may still be failing; they must not push the cooldown out further).
            if self.probing_since_ms.swap(0, SeqCst) != 0 {
                self.reopen();
            }
            return;
        }
        let failures = self.failures.fetch_add(1, SeqCst) + 1;
        if failures >= self.config.threshold {
            tracing::warn!(failures, "redis: circuit opened");
            self.reopen();
        }
    }

    /// Opens for the current cooldown, and doubles the next one (up to the maximum).
    fn reopen(&self) {
        let cooldown = self.cooldown_ms.load(SeqCst);
        self.open_until_ms
            .store(self.clock.now_ms().saturating_add(cooldown), SeqCst);
        let next = cooldown
            .saturating_mul(2)
            .min(millis(self.config.max_cooldown));
        self.cooldown_ms.store(next, SeqCst);
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
    use hoard_core::clock::ManualClock;

    /// A breaker on a manual clock: the tests move time instead of sleeping through it.
    fn breaker() -> (Breaker, ManualClock) {
        let clock = ManualClock::new();
        let breaker = Breaker::new(
            BreakerConfig {
                threshold: 2,
                cooldown: Duration::from_millis(40),
                max_cooldown: Duration::from_millis(100),
            },
            Duration::from_millis(30),
            clock.clock(),
        );
        (breaker, clock)
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn opens_after_threshold_and_fails_fast() {
        let (b, _) = breaker();
        b.failed();
        assert!(b.allow() && !b.is_open(), "one failure is not enough");
        b.failed();
        assert!(b.is_open());
        assert!(!b.allow(), "open: calls fail at once");
    }

    #[test]
    fn one_probe_after_cooldown_then_closes_on_success() {
        let (b, clock) = breaker();
        b.failed();
        b.failed();
        clock.advance(ms(39));
        assert!(!b.allow(), "still cooling down");
        clock.advance(ms(1));
        assert!(b.allow(), "the probe goes through");
        assert!(!b.allow(), "only one probe at a time");
        b.succeeded();
        assert!(!b.is_open());
        assert!(b.allow() && b.allow());
    }

    #[test]
    fn failed_probe_reopens_with_longer_cooldown() {
        let (b, clock) = breaker();
        b.failed();
        b.failed();
        clock.advance(ms(40));
        assert!(b.allow());
        b.failed();
        // Cooldown doubled to 80 ms.
        clock.advance(ms(79));
        assert!(!b.allow());
        clock.advance(ms(1));
        assert!(b.allow());
    }

    #[test]
    fn a_probe_that_never_reports_back_is_replaced() {
        let (b, clock) = breaker();
        b.failed();
        b.failed();
        clock.advance(ms(40));
        assert!(b.allow(), "probe one (its caller then vanishes)");
        clock.advance(ms(59));
        assert!(!b.allow());
        clock.advance(ms(1));
        assert!(
            b.allow(),
            "after twice the call timeout another caller may probe"
        );
    }

    #[test]
    fn failures_in_flight_do_not_stretch_the_cooldown() {
        let (b, clock) = breaker();
        b.failed();
        b.failed();
        for _ in 0..50 {
            b.failed(); // calls let through before it opened, failing late
        }
        clock.advance(ms(40));
        assert!(
            b.allow(),
            "still the first 40 ms cooldown, not the 100 ms maximum"
        );
    }

    #[test]
    fn by_default_a_long_outage_is_probed_at_least_once_a_second() {
        // A server that comes back must be used again soon after it answers, however long
        // it was gone: after any number of failed probes the next comes within a second.
        let clock = ManualClock::new();
        let b = Breaker::new(BreakerConfig::default(), ms(30), clock.clock());
        for _ in 0..BreakerConfig::default().threshold {
            b.failed();
        }
        for probe in 0..20 {
            clock.advance(Duration::from_secs(1));
            assert!(
                b.allow(),
                "no probe within a second after {probe} failed probes"
            );
            b.failed();
        }
    }

    #[test]
    fn success_resets_the_failure_count() {
        let (b, _) = breaker();
        b.failed();
        b.succeeded();
        b.failed();
        assert!(!b.is_open(), "failures must be consecutive");
    }
}
