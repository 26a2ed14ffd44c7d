//! `GET /v1/stats`: the cache's counters in the shape a training dashboard's Python cache
//! stats had (`available`, `stats`, `config`, `message`), plus per-namespace and per-tier
//! counts, and on a server with a semantic cache its counts (`semantic`). The body is
//! built in `api.rs`, where its typed form lives.
//!
//! `GET /v1/stats/history`: the samples of those figures the server took over the last
//! hour (`history.rs`).

use crate::api::StatsResponse;
use crate::auth::Read;
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::extract::Params;
use crate::history::HistoryResponse;
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use serde_json::Value;

#[utoipa::path(get, path = "/v1/stats", tag = "operations", security(("bearer" = ["read"])), responses((status = 200, description = "available, stats, config, message (the Python cache managers' shape); plus namespaces and tiers, census (keys and bytes per namespace, by the last background count) once one has run, and semantic when the server has a semantic cache", body = StatsResponse), (status = 401, description = "No token or an unknown one, once read or write tokens are configured", body = ErrorBody), (status = 403, description = "The token's scope is below read", body = ErrorBody)))]
pub(crate) async fn stats(_: Read, State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let semantic = state.semantic.as_ref().map(|s| s.stats());
    Ok(Json(crate::api::stats_body_with(
        &state.cache.stats().await?,
        semantic,
        state.history.census().latest(),
    )))
}

#[utoipa::path(get, path = "/v1/stats/history", tag = "operations", security(("bearer" = ["read"])),
    params(("since" = Option<u64>, Query, description = "only samples taken after this time, in milliseconds since the Unix epoch (the at_ms of the last sample a client has)")),
    responses((status = 200, description = "The samples of the last hour, oldest first; counts are totals since the server started", body = HistoryResponse), (status = 400, description = "since is not a whole number of milliseconds", body = ErrorBody), (status = 401, description = "No token or an unknown one, once read or write tokens are configured", body = ErrorBody), (status = 403, description = "The token's scope is below read", body = ErrorBody)))]
pub(crate) async fn history(
    _: Read,
    State(state): State<AppState>,
    params: Params,
) -> Result<Json<HistoryResponse>, ApiError> {
    let since = params.whole_number("since")?.map(|ms| ms as u64);
    if since.is_some_and(|ms| ms > crate::extract::MAX_EXACT_INTEGER) {
        return Err(ApiError::new(
            ErrorCode::BadQuery,
            "`since` is past any time a sample can have (at most 2^53 - 1 milliseconds)",
        ));
    }
    Ok(Json(state.history.response(since)))
}
