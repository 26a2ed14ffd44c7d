//! The route table: which handler answers which method and path, and the layers around
//! them all (body limit, request ids and tracing), composed around the whole table once.

use crate::conn::Api;
use crate::error::ApiError;
use crate::hit_path::HitPath;
use crate::request_id::{with_request_ids, WithRequestIds};
use crate::routes::{
    cache, dataset_file, datasets, health, metrics, models, results, semantic, stats, ui,
};
use crate::state::{AppState, Shared};
use axum::extract::DefaultBodyLimit;
use axum::routing::{any, delete, get, post};
use axum::Router;
use tower::Layer;

/// The API as an axum `Router`, for embedding it in an application of one's own (the server
/// itself serves [`service`]: the same, one service call shallower).
pub fn app(state: AppState) -> Router {
    Router::new().fallback_service(service(state))
}

/// What the server answers requests with: the routes inside the body limit and the request
/// ids. The layers wrap the whole table once: `Router::layer` would wrap each route in a
/// boxed service of its own, and every request would pay a boxed future and a boxed
/// service's clone per layer.
///
/// In front of the routes, [`HitPath`] answers reads of what L1 holds without routing.
pub(crate) fn service(state: AppState) -> WithRequestIds<impl Api> {
    let history = state.history.clone();
    let (cache, access) = (state.cache.clone(), state.access.clone());
    with_request_ids(HitPath::new(cache, access, routed(state)), history)
}

/// The routes inside the body limit: what [`service`] hands every request the hit path
/// does not answer.
pub(crate) fn routed(state: AppState) -> impl Api {
    let max_body = state.max_body;
    DefaultBodyLimit::max(max_body).layer(routes().with_state(Shared::new(state)))
}

fn routes() -> Router<Shared> {
    Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/v1/cache", delete(cache::delete_pattern))
        .route("/v1/cache/{namespace}", get(cache::cache_keys))
        .route("/v1/cache/{namespace}/batch", post(cache::cache_batch))
        .route(
            "/v1/cache/{namespace}/{key}",
            get(cache::cache_get)
                .put(cache::cache_put)
                .delete(cache::cache_delete),
        )
        // An empty key (`/v1/cache/ns/`) is a bad key, not a missing route.
        .route("/v1/cache/{namespace}/", any(cache::empty_key))
        .route("/v1/invalidate", post(cache::invalidate))
        .route("/v1/stats", get(stats::stats))
        .route("/v1/stats/history", get(stats::history))
        .route("/v1/models", get(models::models))
        .route("/results/{model}/batch", post(results::results_batch))
        .route(
            "/results/{model}/{h}",
            get(results::results_get).post(results::results_post),
        )
        .route("/datasets", get(datasets::list))
        .route("/datasets/files", get(datasets::files))
        .route("/datasets/summary", get(datasets::summary))
        .route("/datasets/reindex", post(datasets::reindex))
        .route("/datasets/file", get(dataset_file::file))
        .route("/v1/semantic/{namespace}/lookup", post(semantic::lookup))
        .route(
            "/v1/semantic/{namespace}/feedback",
            post(semantic::feedback),
        )
        .route(
            "/v1/semantic/{namespace}",
            post(semantic::store).delete(semantic::drop_namespace),
        )
        .route("/metrics", get(metrics::metrics))
        .route("/openapi.json", get(crate::openapi::openapi))
        .route("/ui", get(ui::page))
        .route("/ui/app.js", get(ui::script))
        .route("/ui/app.css", get(ui::style))
        .fallback(|| async { ApiError::not_found("no such route") })
}

#[cfg(test)]
mod tests;
