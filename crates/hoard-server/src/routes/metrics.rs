//! `GET /metrics`: the Prometheus scrape, the text written by `crate::metrics`.

use crate::auth::Read;
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::metrics::{render, Extras};
use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

#[utoipa::path(get, path = "/metrics", tag = "operations", security(("bearer" = ["read"])), responses((status = 200, description = "OpenMetrics text, metrics named hoard_* (hoard_semantic_* with a semantic cache, refusals labelled by guard; hoard_namespace_keys and hoard_namespace_bytes once the namespaces have been counted; hoard_models_bytes, hoard_models_budget_bytes and hoard_models_over_budget by store once the model caches have been scanned); namespaces past the 100 busiest share namespace=\"(other)\"", content_type = "application/openmetrics-text"), (status = 401, description = "No token or an unknown one, once read or write tokens are configured", body = ErrorBody), (status = 403, description = "The token's scope is below read", body = ErrorBody)))]
pub(crate) async fn metrics(_: Read, State(state): State<AppState>) -> Result<Response, ApiError> {
    let stats = state.cache.stats().await?;
    let semantic = state.semantic.as_ref().map(|s| s.stats());
    let census = state.history.census().latest();
    let model_stores = state.history.model_stores().latest();
    let extras = Extras {
        semantic: semantic.as_ref(),
        census: census.as_ref(),
        model_stores: model_stores.as_ref(),
    };
    let text = render(&stats, extras).map_err(|error| {
        ApiError::new(
            ErrorCode::Metrics,
            format!("could not write the metrics: {error}"),
        )
    })?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
