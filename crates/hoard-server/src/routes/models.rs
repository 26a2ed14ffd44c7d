//! `GET /v1/models`: the model caches on this machine, as `hoard models ls` and
//! `hoard models size` list them: every item with its store, size and last use, and each
//! store's folder, bytes and item count, with the totals.

use crate::auth::Read;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

#[utoipa::path(get, path = "/v1/models", tag = "operations", security(("bearer" = ["read"])),
    responses((status = 200, description = "`{stores: [{store, folder, bytes, items}], totals: {bytes, items}, items: [...], orphans: [...], problems: [...]}`: the `[models]` stores as `hoard models ls` and `size` see them"), (status = 401, description = "No token or an unknown one, once read or write tokens are configured", body = ErrorBody), (status = 403, description = "The token's scope is below read", body = ErrorBody)))]
pub(crate) async fn models(
    _: Read,
    State(state): State<AppState>,
) -> Result<Json<Value>, ApiError> {
    let layout = state.models.clone();
    // A walk of every store's folders: off the async workers.
    let body = tokio::task::spawn_blocking(move || inventory_body(&layout))
        .await
        .map_err(|error| ApiError::internal(format!("the model scan stopped: {error}")))?;
    Ok(Json(body))
}

fn inventory_body(layout: &hoard_models::Layout) -> Value {
    let inventory = hoard_models::scan::inventory(layout);
    let folders: std::collections::BTreeMap<String, std::path::PathBuf> =
        layout.folders().into_iter().collect();
    let usage = inventory.store_usage();
    let stores: Vec<Value> = usage
        .iter()
        .map(|usage| {
            json!({
                "store": usage.store,
                "folder": folders.get(usage.store.name()),
                "bytes": usage.bytes,
                "items": usage.items,
            })
        })
        .collect();
    json!({
        "stores": stores,
        "totals": {
            "bytes": usage.iter().map(|u| u.bytes).sum::<u64>(),
            "items": usage.iter().map(|u| u.items).sum::<usize>(),
        },
        "items": inventory.items,
        "orphans": inventory.orphans,
        "problems": inventory.problems,
    })
}
