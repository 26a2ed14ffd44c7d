//! Cache entries: one entry by namespace and key, a batch read, a namespace's keys a page
//! at a time, and the admin deletes (by pattern, everything, by tag).

use crate::auth::{Admin, Read, Write};
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::extract::{AnyJson, JsonBody, Params, SegmentPair, Segments};
use crate::routes::batch::{check_batch, lookup_batch};
use crate::routes::JsonText;
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

/// Whether `namespace` is one hoard's own libraries write for themselves (dataset
/// manifests, the semantic cache's entries and index: each library names its own). A
/// client writing there could make every instance serve a forged manifest or a forged
/// semantic answer, or remove what an admin-only route guards, so the generic routes only
/// read them.
fn reserved(namespace: &str) -> bool {
    hoard_datasets::RESERVED_NAMESPACES
        .iter()
        .chain(hoard_semantic::RESERVED_NAMESPACES)
        .any(|reserved| *reserved == namespace)
}

/// 403 `reserved_namespace` for a namespace hoard writes for itself.
fn writable(namespace: &str) -> Result<(), ApiError> {
    if reserved(namespace) {
        return Err(ApiError::new(
            ErrorCode::ReservedNamespace,
            format!("namespace {namespace:?} is written by hoard itself; use its own routes"),
        ));
    }
    Ok(())
}

#[utoipa::path(get, path = "/v1/cache/{namespace}/{key}", tag = "cache", security(("bearer" = ["read"])), params(("namespace" = String, Path), ("key" = String, Path)),
    responses((status = 200, description = "The stored JSON value itself"), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody), (status = 401, description = "No token or an unknown one, once read or write tokens are configured", body = ErrorBody), (status = 403, description = "The token's scope is below read", body = ErrorBody)))]
pub(crate) async fn cache_get(
    _: Read,
    State(cache): State<hoard::Cache>,
    segments: SegmentPair,
) -> Result<JsonText, ApiError> {
    let (namespace, key) = segments.get();
    match cache.get_raw(namespace, key).await? {
        Some(bytes) => Ok(JsonText::of(&bytes)?),
        None => Err(ApiError::not_found(format!("no entry {namespace}:{key}"))),
    }
}

#[utoipa::path(put, path = "/v1/cache/{namespace}/{key}", tag = "cache", security(("bearer" = ["write"])),
    params(("namespace" = String, Path), ("key" = String, Path), ("ttl" = Option<String>, Query, description = "e.g. 1h, 90s"), ("tags" = Option<String>, Query, description = "comma-separated"), ("compute" = Option<String>, Query, description = "how long the value took to compute, e.g. 850ms, 2s: each hit adds it to the namespace's compute_saved_ms")),
    request_body(content = Object, description = "Any JSON value"),
    responses((status = 200, description = "`{\"ok\":true}`"), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody), (status = 401, description = "No token or an unknown one, once read or write tokens are configured", body = ErrorBody), (status = 403, description = "The token's scope is below write", body = ErrorBody)))]
pub(crate) async fn cache_put(
    _: Write,
    State(state): State<AppState>,
    Segments((namespace, key)): Segments<(String, String)>,
    params: Params,
    AnyJson(value): AnyJson,
) -> Result<Json<Value>, ApiError> {
    writable(&namespace)?;
    let mut options = hoard::SetOptions::new();
    if let Some(ttl) = params.get("ttl") {
        options = options.ttl(hoard::ttl::parse_duration(ttl)?);
    }
    if let Some(tags) = params.get("tags") {
        options = options.tags(tags.split(',').filter(|t| !t.is_empty()).map(str::to_owned));
    }
    if let Some(took) = params.get("compute") {
        options = options.compute_time(hoard::ttl::parse_duration(took)?);
    }
    state
        .cache
        .set_with(&namespace, &key, &value, options)
        .await?;
    Ok(Json(json!({ "ok": true })))
}

#[utoipa::path(delete, path = "/v1/cache/{namespace}/{key}", tag = "cache", security(("bearer" = ["write"])), params(("namespace" = String, Path), ("key" = String, Path)),
    responses((status = 200, description = "`{\"deleted\":bool}`"), (status = 400, body = ErrorBody), (status = 401, description = "No token or an unknown one, once read or write tokens are configured", body = ErrorBody), (status = 403, description = "The token's scope is below write", body = ErrorBody)))]
pub(crate) async fn cache_delete(
    _: Write,
    State(state): State<AppState>,
    Segments((namespace, key)): Segments<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    writable(&namespace)?;
    let deleted = state.cache.delete(&namespace, &key).await?;
    Ok(Json(json!({ "deleted": deleted })))
}

/// Keys a `/v1/cache/{namespace}` page lists without `limit=`.
const DEFAULT_KEYS_PAGE: usize = 100;

#[utoipa::path(get, path = "/v1/cache/{namespace}", tag = "cache", security(("bearer" = ["read"])),
    params(("namespace" = String, Path), ("pattern" = Option<String>, Query, description = "glob over the key (Redis SCAN MATCH syntax); `*` by default"), ("cursor" = Option<String>, Query, description = "the `cursor` of the previous page; none for the first"), ("limit" = Option<usize>, Query, description = "keys per page: 100 by default, 1 to 1000")),
    responses((status = 200, description = "`{\"namespace\",\"keys\":[{\"key\",\"bytes\",\"ttl_ms\",\"compute_ms\",\"tags\",\"depends_on\"}],\"cursor\"}`: `tags` are the tags the entry was written with, `depends_on` the full keys it depends on; `cursor` is null once every key has been listed; a page may hold fewer keys than `limit`, even none, while more follow, and on Redis a few more (SCAN's COUNT is a hint). Listing reads the authoritative tier (SCAN on Redis, never KEYS) and counts no hits"), (status = 400, body = ErrorBody), (status = 401, description = "No token or an unknown one, once read or write tokens are configured", body = ErrorBody), (status = 403, description = "The token's scope is below read", body = ErrorBody)))]
pub(crate) async fn cache_keys(
    _: Read,
    State(cache): State<hoard::Cache>,
    Segments(namespace): Segments<String>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let limit = params.whole_number("limit")?.unwrap_or(DEFAULT_KEYS_PAGE);
    if !(1..=hoard::MAX_SCAN_LIMIT).contains(&limit) {
        return Err(ApiError::new(
            ErrorCode::BadQuery,
            format!(
                "limit {limit} is outside 1 to {} keys a page: page with cursor=",
                hoard::MAX_SCAN_LIMIT
            ),
        ));
    }
    let pattern = params.get("pattern").unwrap_or("*");
    let cursor = params.get("cursor").unwrap_or("");
    let page = cache.scan_keys(&namespace, pattern, cursor, limit).await?;
    let keys: Vec<Value> = page
        .keys
        .into_iter()
        .map(|info| {
            json!({
                "key": info.key,
                "bytes": info.bytes,
                "ttl_ms": u64::try_from(info.ttl.as_millis()).unwrap_or(u64::MAX),
                "compute_ms": info.compute_ms,
                "tags": info.tags,
                "depends_on": info.depends_on,
            })
        })
        .collect();
    Ok(Json(
        json!({ "namespace": namespace, "keys": keys, "cursor": page.cursor }),
    ))
}

/// `/v1/cache/{namespace}/`: a request for the empty key.
pub(crate) async fn empty_key() -> ApiError {
    ApiError::new(ErrorCode::InvalidKey, "invalid key \"\": key is empty")
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeysBody {
    keys: Vec<String>,
}

#[utoipa::path(post, path = "/v1/cache/{namespace}/batch", tag = "cache", security(("bearer" = ["read"])), params(("namespace" = String, Path)), request_body = KeysBody,
    responses((status = 200, description = "`{\"ok\":true,\"values\":{key: value or null}}`"), (status = 400, body = ErrorBody), (status = 401, description = "No token or an unknown one, once read or write tokens are configured", body = ErrorBody), (status = 403, description = "The token's scope is below read", body = ErrorBody)))]
pub(crate) async fn cache_batch(
    _: Read,
    State(state): State<AppState>,
    Segments(namespace): Segments<String>,
    JsonBody(body): JsonBody<KeysBody>,
) -> Result<JsonText, ApiError> {
    lookup_batch(&state, &namespace, "values", body.keys.clone(), body.keys).await
}

#[utoipa::path(delete, path = "/v1/cache", tag = "admin", params(("pattern" = Option<String>, Query, description = "glob; none: clear everything")),
    security(("bearer" = ["admin"])), responses((status = 200, description = "`{\"deleted\":N}`"), (status = 400, body = ErrorBody), (status = 401, description = "No token, or an unknown one", body = ErrorBody), (status = 403, description = "The token's scope is below admin", body = ErrorBody)))]
pub(crate) async fn delete_pattern(
    _: Admin,
    State(state): State<AppState>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let deleted = match params.get("pattern") {
        Some(pattern) => state.cache.delete_pattern(pattern).await?,
        None => state.cache.clear_all().await?,
    };
    Ok(Json(json!({ "deleted": deleted })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TagsBody {
    tags: Vec<String>,
}

#[utoipa::path(post, path = "/v1/invalidate", tag = "admin", request_body = TagsBody, security(("bearer" = ["admin"])),
    responses((status = 200, description = "`{\"deleted\":N}`"), (status = 400, body = ErrorBody), (status = 401, description = "No token, or an unknown one", body = ErrorBody), (status = 403, description = "The token's scope is below admin", body = ErrorBody)))]
pub(crate) async fn invalidate(
    _: Admin,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<TagsBody>,
) -> Result<Json<Value>, ApiError> {
    check_batch(body.tags.len(), &state)?;
    let deleted = state.cache.invalidate_tags(&body.tags).await?;
    Ok(Json(json!({ "deleted": deleted })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_libraries_own_namespaces_are_reserved_and_others_are_not() {
        assert!(reserved(hoard_datasets::NAMESPACE));
        assert!(reserved(hoard_semantic::cache::STORAGE_NAMESPACE));
        assert!(!reserved("model"));
        assert!(!reserved(crate::routes::results::RESULTS));
    }
}
