//! `GET /v1/stats`: the cache's counters in the shape a training dashboard's Python cache
//! stats had (`available`, `stats`, `config`, `message`), plus per-namespace and per-tier
//! counts. The body is built in `api.rs`, where its typed form lives.

use crate::api::StatsResponse;
use crate::auth::Read;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use serde_json::Value;

#[utoipa::path(get, path = "/v1/stats", tag = "operations", security(("bearer" = ["read"])), responses((status = 200, description = "available, stats, config, message (the Python cache managers' shape); plus namespaces and tiers", body = StatsResponse), (status = 401, description = "No token or an unknown one, once read or write tokens are configured", body = ErrorBody), (status = 403, description = "The token's scope is below read", body = ErrorBody)))]
pub(crate) async fn stats(_: Read, State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(crate::api::stats_body(&state.cache.stats().await?)))
}
