//! The time hoard reads: the system clock, or a manual one that a test moves by hand.
//!
//! Entry deadlines, sweeps, L1's maximum age, how old a cached namespace generation is,
//! early refresh, circuit breakers and the cluster map's age all read a [`Clock`], so a
//! test can expire an entry, open and close a breaker or age a copy without sleeping:
//!
//! ```
//! use hoard_core::{Entry, ManualClock};
//! use std::time::Duration;
//!
//! let clock = ManualClock::new();
//! let entry = Entry::new_at(b"probabilities".to_vec(), Duration::from_secs(60), clock.now_ms());
//! clock.advance(Duration::from_secs(61));
//! assert!(entry.is_expired_at(clock.clock().now_ms()));
//! ```
//!
//! A cache reads the clock given to `hoard::CacheBuilder::clock`, and so do the disk and
//! Redis tiers it opens.
//!
//! What a clock does not move: Redis's own TTLs (the server keeps real time; hoard checks
//! each entry's deadline by its clock as well, so an entry past it reads as absent either
//! way), leases (renewed by real timers), and timeouts of calls.

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, as the system tells them.
pub(crate) fn system_now_ms() -> u64 {
    // Seconds and milliseconds apart: `as_millis` divides a u128, which every L1 hit paid.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| {
            d.as_secs()
                .saturating_mul(1000)
                .saturating_add(u64::from(d.subsec_millis()))
        })
        .unwrap_or(0)
}

/// Where the cache and its tiers read the time: the system clock (the default) or a
/// [`ManualClock`]. Cheap to clone.
#[derive(Clone, Default)]
pub struct Clock {
    /// `None`: the system clock. Otherwise the manual clock's current time.
    manual: Option<Arc<AtomicU64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock::default()
    }

    /// Milliseconds since the Unix epoch.
    #[inline]
    pub fn now_ms(&self) -> u64 {
        match &self.manual {
            None => system_now_ms(),
            Some(now) => now.load(SeqCst),
        }
    }

    /// Whether this is a [`ManualClock`]'s.
    pub fn is_manual(&self) -> bool {
        self.manual.is_some()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.manual {
            None => f.write_str("Clock::system"),
            Some(now) => write!(f, "Clock::manual({} ms)", now.load(SeqCst)),
        }
    }
}

/// A clock that moves only when told to, for tests. It starts at the system's time, so
/// entries it dates are valid on a Redis that keeps real time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<AtomicU64>,
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

impl ManualClock {
    /// A clock standing at the system's current time.
    pub fn new() -> ManualClock {
        ManualClock {
            now: Arc::new(AtomicU64::new(system_now_ms())),
        }
    }

    /// The [`Clock`] to hand to the builder and to the tiers' configurations.
    pub fn clock(&self) -> Clock {
        Clock {
            manual: Some(self.now.clone()),
        }
    }

    /// Moves the time forward by `by`.
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        let _ = self
            .now
            .fetch_update(SeqCst, SeqCst, |now| Some(now.saturating_add(ms)));
    }

    /// Milliseconds since the Unix epoch, as this clock tells them.
    pub fn now_ms(&self) -> u64 {
        self.now.load(SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_advanced_and_every_handle_sees_it() {
        let manual = ManualClock::new();
        let (a, b) = (manual.clock(), manual.clock());
        let start = a.now_ms();
        assert_eq!(b.now_ms(), start);
        manual.advance(Duration::from_millis(1500));
        assert_eq!((a.now_ms(), b.now_ms()), (start + 1500, start + 1500));
        manual.advance(Duration::MAX);
        assert_eq!(a.now_ms(), u64::MAX, "saturates, never wraps");
        assert!(a.is_manual() && !Clock::system().is_manual());
    }

    #[test]
    fn the_system_clock_reads_the_system_time() {
        let before = system_now_ms();
        let read = Clock::system().now_ms();
        assert!(read >= before && read <= system_now_ms());
    }
}
