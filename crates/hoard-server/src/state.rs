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
}

/// The scope extractors read the tokens from the state (a shared handle: cheap to clone).
impl FromRef<AppState> for Access {
    fn from_ref(state: &AppState) -> Access {
        state.access.clone()
    }
}
