//! What every handler shares: the cache, the tokens, the limits, the datasets and the
//! semantic cache.

use crate::auth::Access;
use axum::extract::FromRef;
use std::sync::Arc;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The cache behind the API.
    pub cache: hoard::Cache,
    /// The bearer tokens accepted, by scope (`read`, `write`, `admin`).
    pub access: Access,
    /// Most keys or hashes in one batch request.
    pub max_batch: usize,
    /// Largest request body in bytes.
    pub max_body: usize,
    /// The configured datasets (`[datasets.ID]`), manifests cached in `cache`.
    pub datasets: Arc<hoard_datasets::Datasets>,
    /// The semantic cache, when `[semantic]` names a model.
    pub semantic: Option<Arc<hoard_semantic::SemanticCache>>,
    /// The stats over time, sampled while the server runs (`GET /v1/stats/history`).
    pub history: Arc<crate::StatsHistory>,
    /// Where the model caches of `[models]` are (`GET /v1/models`).
    pub models: Arc<hoard_models::Layout>,
}

#[cfg(test)]
impl AppState {
    /// A state on `cache` with `access`, no datasets and no semantic cache, for the crate's
    /// own tests.
    pub(crate) fn for_tests(cache: hoard::Cache, access: Access) -> AppState {
        AppState {
            semantic: None,
            datasets: Arc::new(
                hoard_datasets::Datasets::new(cache.clone(), []).expect("no datasets to check"),
            ),
            cache,
            access,
            max_batch: 100,
            max_body: 1 << 16,
            history: crate::StatsHistory::new(std::time::Duration::from_secs(5)),
            models: Arc::new(hoard_models::Layout::new(
                &Default::default(),
                std::path::Path::new("."),
            )),
        }
    }
}

/// The router's state: the [`AppState`] behind one reference count. axum clones a route's
/// handler, state included, for every request it answers; shared, that clone is one
/// counter bump instead of one per handle in the state.
#[derive(Clone)]
pub(crate) struct Shared(Arc<AppState>);

impl Shared {
    pub(crate) fn new(state: AppState) -> Shared {
        Shared(Arc::new(state))
    }
}

/// Handlers that need several parts of the state take it whole.
impl FromRef<Shared> for AppState {
    fn from_ref(shared: &Shared) -> AppState {
        AppState::clone(&shared.0)
    }
}

/// The cache alone, for handlers that need nothing else (the hottest routes).
impl FromRef<Shared> for hoard::Cache {
    fn from_ref(shared: &Shared) -> hoard::Cache {
        shared.0.cache.clone()
    }
}

/// The scope extractors borrow the tokens from the state.
impl AsRef<Access> for Shared {
    fn as_ref(&self) -> &Access {
        &self.0.access
    }
}
