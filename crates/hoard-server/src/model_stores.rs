//! The model caches' sizes against their budgets, scanned in the background:
//! [`ModelStoresBoard`] walks the `[models]` stores now and then on a blocking thread and
//! keeps the result, which `/metrics` exports (`hoard_models_bytes{store}`,
//! `hoard_models_budget_bytes{store}`, `hoard_models_over_budget{store}`), so a scrape
//! never waits for a walk of hundreds of gigabytes of weights.

use hoard_models::budget::{self, BudgetCheck};
use hoard_models::Layout;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A scan runs every this many sampling intervals (every minute at the default 5 s).
pub(crate) const SCAN_EVERY_SAMPLES: u32 = 12;

/// A scan waits at least ten times as long as it took before the next.
const QUIET_FACTOR: u32 = 10;

/// What the last scan found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelStoresReport {
    /// When it was taken, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// Bytes per store (every store, in table order), each file counted once.
    pub stores: Vec<(hoard_models::Store, u64)>,
    /// Every configured budget against what its stores held.
    pub budgets: Vec<BudgetCheck>,
}

/// The last scan of the model caches, shared by the routes that show it.
#[derive(Debug, Default)]
pub struct ModelStoresBoard {
    latest: Mutex<Option<ModelStoresReport>>,
}

impl ModelStoresBoard {
    /// The last scan, `None` before the first has finished.
    pub fn latest(&self) -> Option<ModelStoresReport> {
        self.latest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Scans `layout`'s stores now (on a blocking thread) and keeps the result; returns how
    /// long it took.
    pub async fn take(&self, layout: Arc<Layout>) -> Duration {
        let started = Instant::now();
        let scanned = tokio::task::spawn_blocking(move || {
            let inventory = hoard_models::scan::inventory(&layout);
            ModelStoresReport {
                at_ms: hoard::entry::now_ms(),
                stores: inventory
                    .store_usage()
                    .into_iter()
                    .map(|usage| (usage.store, usage.bytes))
                    .collect(),
                budgets: budget::check(&layout, &inventory),
            }
        })
        .await;
        match scanned {
            Ok(report) => {
                *self.latest.lock().unwrap_or_else(PoisonError::into_inner) = Some(report);
            }
            Err(error) => tracing::warn!(%error, "scanning the model caches stopped"),
        }
        started.elapsed()
    }

    /// Scans, waits at least `every` and ten times what the scan took, and again, until
    /// dropped.
    pub(crate) async fn run(&self, layout: Arc<Layout>, every: Duration) {
        loop {
            let took = self.take(layout.clone()).await;
            tokio::time::sleep(every.max(took * QUIET_FACTOR)).await;
        }
    }
}
