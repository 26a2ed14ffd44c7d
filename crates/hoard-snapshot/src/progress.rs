//! [`Progress`]: how far a load has come, reported by the loader, read by everyone else
//! and logged as it goes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// How far a load has come, for the loader to report and everyone else to read.
///
/// The loader gets one per load. It says how much there is ([`Progress::set_total`], 0 if
/// unknown) and how much is done ([`Progress::inc`], [`Progress::set_done`]); readers see
/// it through [`Snapshot::progress`](crate::Snapshot::progress). Each tenth of the total
/// (or, with no total, at most once a second) is logged at `info` with the snapshot's name.
#[derive(Clone, Debug)]
pub struct Progress {
    inner: Arc<ProgressState>,
}

#[derive(Debug)]
struct ProgressState {
    snapshot: Arc<str>,
    done: AtomicU64,
    total: AtomicU64,
    started: Instant,
    /// The last tenth logged, or with no total the last log time in milliseconds.
    logged: AtomicU64,
}

impl Progress {
    /// A progress of its own, logged under `name`: for running a loader outside a
    /// snapshot (tests, benchmarks). Snapshots make one per load.
    pub fn new(name: &str) -> Progress {
        Progress::named(Arc::from(name))
    }

    /// A progress logged under a snapshot's name, sharing its allocation.
    pub(crate) fn named(snapshot: Arc<str>) -> Progress {
        Progress {
            inner: Arc::new(ProgressState {
                snapshot,
                done: AtomicU64::new(0),
                total: AtomicU64::new(0),
                started: Instant::now(),
                logged: AtomicU64::new(0),
            }),
        }
    }

    /// Sets how many units the load has to do (rows, files, bytes: the loader's choice).
    pub fn set_total(&self, total: u64) {
        self.inner.total.store(total, Ordering::Relaxed);
    }

    /// Adds `n` done units.
    pub fn inc(&self, n: u64) {
        let done = self.inner.done.fetch_add(n, Ordering::Relaxed) + n;
        self.log(done);
    }

    /// Sets the done units.
    pub fn set_done(&self, done: u64) {
        self.inner.done.store(done, Ordering::Relaxed);
        self.log(done);
    }

    /// `(done, total)`; total 0 when the loader did not say.
    pub fn get(&self) -> (u64, u64) {
        (
            self.inner.done.load(Ordering::Relaxed),
            self.inner.total.load(Ordering::Relaxed),
        )
    }

    fn log(&self, done: u64) {
        let state = &*self.inner;
        let total = state.total.load(Ordering::Relaxed);
        let elapsed = state.started.elapsed();
        // u128: `done * 10` cannot overflow; None when the total is unknown (0).
        let tenth = (u128::from(done.min(total)) * 10).checked_div(u128::from(total));
        if let Some(tenth) = tenth {
            let tenth = tenth as u64;
            // fetch_max: of several threads crossing one tenth, one logs it.
            if tenth > state.logged.fetch_max(tenth, Ordering::Relaxed) {
                tracing::info!(snapshot = %state.snapshot, done, total, elapsed_ms = elapsed.as_millis() as u64, "snapshot loading");
            }
            return;
        }
        let now = elapsed.as_millis() as u64;
        let last = state.logged.load(Ordering::Relaxed);
        if now >= last + 1000
            && state
                .logged
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::info!(snapshot = %state.snapshot, done, elapsed_ms = now, "snapshot loading");
        }
    }
}
