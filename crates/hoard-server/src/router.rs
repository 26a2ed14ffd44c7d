//! The route table: which handler answers which method and path, and the layers around
//! them all (body limit, request ids and tracing).

use crate::error::ApiError;
use crate::request_id::with_request_ids;
use crate::routes::{
    cache, dataset_file, datasets, health, metrics, models, results, semantic, stats, ui,
};
use crate::state::{AppState, Shared};
use axum::extract::DefaultBodyLimit;
use axum::routing::{any, delete, get, post};
use axum::Router;

/// The API as an axum `Router`.
pub fn app(state: AppState) -> Router {
    let max_body = state.max_body;
    let routes = Router::new()
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
        .layer(DefaultBodyLimit::max(max_body));
    let history = state.history.clone();
    with_request_ids(routes, history).with_state(Shared::new(state))
}
