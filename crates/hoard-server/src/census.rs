//! What each namespace holds, counted in the background: [`CensusBoard`] runs
//! [`hoard::Cache::census`] now and then and keeps the last result, which `/v1/stats`
//! (`census`), `/metrics` (`hoard_namespace_keys`, `hoard_namespace_bytes`) and the
//! dashboard's namespace table show.
//!
//! A census reads every entry, so it runs at most every [`CENSUS_EVERY_SAMPLES`] sampling
//! intervals and never more often than ten times its own duration: a store that takes 2 s
//! to walk is walked every 20 s at most, a tenth of one core.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// A census runs every this many sampling intervals (every 30 s at the default 5 s).
pub(crate) const CENSUS_EVERY_SAMPLES: u32 = 6;

/// A census may take at most this share of the time between two: it waits ten times as
/// long as it took.
const QUIET_FACTOR: u32 = 10;

/// What one namespace holds, by the last census.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct CensusCounts {
    /// Live entries: unexpired, and written since the namespace was last cleared.
    pub keys: u64,
    /// Their values' bytes as stored (MessagePack, before compression), keys not counted.
    pub bytes: u64,
}

/// The last census: when it ran, and what each namespace held then.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct CensusReport {
    /// When the walk started, in milliseconds since the Unix epoch: the figures are as of
    /// then (writes during the walk may or may not be counted).
    pub at_ms: u64,
    /// How long the walk took, in milliseconds.
    pub took_ms: u64,
    /// Keys the walk looked at, dead ones and the tier's own bookkeeping included.
    pub scanned: u64,
    /// Per namespace with at least one live entry.
    pub namespaces: BTreeMap<String, CensusCounts>,
}

/// The last census taken, shared by the routes that show it.
#[derive(Debug, Default)]
pub struct CensusBoard {
    latest: Mutex<Option<CensusReport>>,
}

impl CensusBoard {
    /// The last census, `None` before the first has finished.
    pub fn latest(&self) -> Option<CensusReport> {
        self.latest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Takes one census of `cache` now and keeps it; returns how long it took.
    pub async fn take(&self, cache: &hoard::Cache) -> Result<Duration, hoard::Error> {
        let at_ms = hoard::entry::now_ms();
        let census = cache.census().await?;
        let report = CensusReport {
            at_ms,
            took_ms: u64::try_from(census.took.as_millis()).unwrap_or(u64::MAX),
            scanned: census.scanned,
            namespaces: census
                .namespaces
                .into_iter()
                .map(|(name, ns)| {
                    let counts = CensusCounts {
                        keys: ns.keys,
                        bytes: ns.bytes,
                    };
                    (name, counts)
                })
                .collect(),
        };
        *self.latest.lock().unwrap_or_else(PoisonError::into_inner) = Some(report);
        Ok(census.took)
    }

    /// Takes a census, waits at least `every` and ten times what it took, and again, until
    /// dropped. A failed census is logged, and the last good one stays.
    pub(crate) async fn run(&self, cache: hoard::Cache, every: Duration) {
        loop {
            let took = match self.take(&cache).await {
                Ok(took) => {
                    if took > Duration::from_secs(1) {
                        tracing::info!(?took, "counted every namespace's keys");
                    }
                    took
                }
                Err(error) => {
                    tracing::warn!(%error, "counting the namespaces' keys failed");
                    Duration::ZERO
                }
            };
            tokio::time::sleep(every.max(took * QUIET_FACTOR)).await;
        }
    }
}
