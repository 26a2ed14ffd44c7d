//! Liveness and readiness: `/health` answers while the process runs, `/ready` while L2
//! answers too.

use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, description = "Alive: `{\"status\":\"ok\"}`")))]
pub(crate) async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

#[utoipa::path(get, path = "/ready", tag = "operations", responses((status = 200, description = "L2 answers"), (status = 503, description = "L2 unavailable", body = ErrorBody)))]
pub(crate) async fn ready(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    match state.cache.ping_l2().await {
        Ok(()) => Ok(Json(json!({ "ready": true }))),
        Err(error) => Err(ApiError::new(
            ErrorCode::NotReady,
            format!("L2 unavailable: {error}"),
        )),
    }
}
