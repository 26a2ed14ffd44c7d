//! What the batch routes share: the `server.max_batch` bound and one `mget` answered as
//! `{label: value or null}`.

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use serde_json::{Map, Value};

/// 400 `batch_too_large` for more than `server.max_batch` items.
pub(crate) fn check_batch(len: usize, state: &AppState) -> Result<(), ApiError> {
    if len > state.max_batch {
        return Err(ApiError::new(
            ErrorCode::BatchTooLarge,
            format!(
                "{len} items in one batch; server.max_batch is {}",
                state.max_batch
            ),
        ));
    }
    Ok(())
}

/// One `mget` for a batch route: `{label: value or null}`, labels being the keys as the
/// client named them.
pub(crate) async fn lookup_batch(
    state: &AppState,
    namespace: &str,
    keys: Vec<String>,
    labels: Vec<String>,
) -> Result<Map<String, Value>, ApiError> {
    check_batch(keys.len(), state)?;
    // Checked here too: an empty batch never reaches the cache's own check.
    hoard::key::validate_namespace(namespace)?;
    let found = state.cache.mget::<Value>(namespace, &keys).await?;
    Ok(labels
        .into_iter()
        .zip(found)
        .map(|(label, value)| (label, value.unwrap_or(Value::Null)))
        .collect())
}
