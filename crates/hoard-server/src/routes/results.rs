//! The emotion-recognition backend's results cache: one inference result per model and
//! file hash, stored as `result:{model}:{h}`, read one at a time or in batches.

use crate::auth::{Read, Write};
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::extract::{JsonBody, SegmentPair, Segments};
use crate::routes::batch::lookup_batch;
use crate::routes::JsonText;
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// The namespace results live in: `result:{model}:{h}`.
pub(crate) const RESULTS: &str = "result";

/// The key of `model`'s result for file `h`: `{model}:{h}` (joined by hand: `format!` costs
/// several times as much on the hottest route).
pub(crate) fn result_key(model: &str, h: &str) -> String {
    let mut key = String::with_capacity(model.len() + 1 + h.len());
    key.push_str(model);
    key.push(':');
    key.push_str(h);
    key
}

#[utoipa::path(get, path = "/results/{model}/{h}", tag = "results", security(("bearer" = ["read"])), params(("model" = String, Path), ("h" = String, Path)),
    responses((status = 200, description = "The stored payload"), (status = 404, body = ErrorBody), (status = 401, description = "No token or an unknown one, once read or write tokens are configured", body = ErrorBody), (status = 403, description = "The token's scope is below read", body = ErrorBody)))]
pub(crate) async fn results_get(
    _: Read,
    // The cache alone: the hottest route clones one handle, not the whole state.
    State(cache): State<hoard::Cache>,
    segments: SegmentPair,
) -> Result<JsonText, ApiError> {
    let (model, h) = segments.get();
    match cache.get_raw(RESULTS, &result_key(model, h)).await? {
        Some(payload) => Ok(JsonText::of(&payload)?),
        None => Err(ApiError::not_found(format!(
            "no result for model {model} and file {h}"
        ))),
    }
}

#[utoipa::path(post, path = "/results/{model}/{h}", tag = "results", security(("bearer" = ["write"])), params(("model" = String, Path), ("h" = String, Path)), request_body(content = Object),
    responses((status = 200, description = "`{\"ok\":true}`"), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody), (status = 401, description = "No token or an unknown one, once read or write tokens are configured", body = ErrorBody), (status = 403, description = "The token's scope is below write", body = ErrorBody)))]
pub(crate) async fn results_post(
    _: Write,
    State(state): State<AppState>,
    Segments((model, h)): Segments<(String, String)>,
    // A result is an object (the backend's inference output), as the document says.
    JsonBody(payload): JsonBody<Map<String, Value>>,
) -> Result<Json<Value>, ApiError> {
    state
        .cache
        .set(RESULTS, &result_key(&model, &h), &payload)
        .await?;
    Ok(Json(json!({ "ok": true })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct HashesBody {
    hashes: Vec<String>,
}

#[utoipa::path(post, path = "/results/{model}/batch", tag = "results", security(("bearer" = ["read"])), params(("model" = String, Path)), request_body = HashesBody,
    responses((status = 200, description = "`{\"ok\":true,\"payloads\":{h: payload or null}}`"), (status = 400, body = ErrorBody), (status = 401, description = "No token or an unknown one, once read or write tokens are configured", body = ErrorBody), (status = 403, description = "The token's scope is below read", body = ErrorBody)))]
pub(crate) async fn results_batch(
    _: Read,
    State(state): State<AppState>,
    Segments(model): Segments<String>,
    JsonBody(body): JsonBody<HashesBody>,
) -> Result<JsonText, ApiError> {
    // The route's model is checked even for an empty batch; an empty hash names nothing.
    hoard::key::validate_key(&model)?;
    if body.hashes.iter().any(String::is_empty) {
        return Err(ApiError::new(ErrorCode::InvalidKey, "a hash is empty"));
    }
    let keys: Vec<String> = body.hashes.iter().map(|h| result_key(&model, h)).collect();
    lookup_batch(&state, RESULTS, "payloads", keys, body.hashes).await
}
