//! The emotion-recognition backend's dataset routes: configured datasets, their manifests
//! (paged, joined with cached results on request) and summaries, and an admin reindex.
//! Streaming a dataset's files is `dataset_file`.

use crate::api::DatasetsResponse;
use crate::auth::{Admin, Read};
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::extract::{JsonBody, Params};
use crate::routes::results::RESULTS;
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use hoard_datasets::FileEntry;
use serde::Deserialize;
use serde_json::{json, Value};

#[utoipa::path(get, path = "/datasets", tag = "datasets", security(("bearer" = ["read"])),
    responses((status = 200, description = "`{\"datasets\":[{id, path, version, total, total_bytes, total_duration, errors, built_at_ms}]}`"), (status = 503, body = ErrorBody), (status = 401, description = "No token or an unknown one, once read or write tokens are configured", body = ErrorBody), (status = 403, description = "The token's scope is below read", body = ErrorBody)))]
pub(crate) async fn list(
    _: Read,
    State(state): State<AppState>,
) -> Result<Json<DatasetsResponse>, ApiError> {
    let datasets = state.datasets.list().await;
    Ok(Json(DatasetsResponse { datasets }))
}

#[utoipa::path(get, path = "/datasets/files", tag = "datasets", security(("bearer" = ["read"])),
    params(("id" = String, Query), ("results" = Option<String>, Query, description = "a model: join each entry's cached result as `result`"),
        ("offset" = Option<usize>, Query), ("limit" = Option<usize>, Query, description = "entries per page: 1000 by default, at most 10000")),
    responses((status = 200, description = "`{\"id\",\"version\",\"total\",\"offset\",\"limit\",\"next_offset\",\"files\":[entry]}` (`next_offset` null on the last page), entries in the emotion-recognition backend's manifest schema"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 401, description = "No token or an unknown one, once read or write tokens are configured", body = ErrorBody), (status = 403, description = "The token's scope is below read", body = ErrorBody)))]
pub(crate) async fn files(
    _: Read,
    State(state): State<AppState>,
    params: Params,
) -> Result<Response, ApiError> {
    let id = params.required("id")?;
    let offset = params.whole_number("offset")?.unwrap_or(0);
    let limit = params.whole_number("limit")?.unwrap_or(DEFAULT_PAGE);
    if limit > MAX_PAGE {
        return Err(ApiError::new(
            ErrorCode::BadQuery,
            format!("limit {limit} is past {MAX_PAGE} entries a page: page with offset="),
        ));
    }
    let model = params.get("results");
    if let Some(model) = model {
        hoard::key::validate_key(model)?;
    }
    let manifest = state.datasets.manifest(id).await?;
    let page: Vec<&FileEntry> = manifest
        .entries
        .iter()
        .skip(offset)
        .take(limit)
        .map(|e| &**e)
        .collect();
    let mut results: Vec<Option<Value>> = Vec::new();
    if let Some(model) = model {
        // One mget per thousand entries: results live under `result:{model}:{h}`. An entry
        // with a content hash also finds a result stored under that hash, which follows the
        // file across renames and moves.
        let keys: Vec<String> = page.iter().map(|e| format!("{model}:{}", e.h)).collect();
        for chunk in keys.chunks(1000) {
            results.extend(state.cache.mget::<Value>(RESULTS, chunk).await?);
        }
        let by_content: Vec<(usize, String)> = page
            .iter()
            .enumerate()
            .filter(|(i, _)| results[*i].is_none())
            .filter_map(|(i, e)| Some((i, format!("{model}:{}", e.content_hash.as_ref()?))))
            .collect();
        for chunk in by_content.chunks(1000) {
            let keys: Vec<String> = chunk.iter().map(|(_, key)| key.clone()).collect();
            let found = state.cache.mget::<Value>(RESULTS, &keys).await?;
            for ((i, _), value) in chunk.iter().zip(found) {
                results[*i] = value;
            }
        }
    }
    let files: Vec<FileWithResult<'_>> = page
        .into_iter()
        .enumerate()
        .map(|(i, entry)| FileWithResult {
            entry,
            // `null` for a file without a cached result; absent when no model was asked.
            result: model.map(|_| results.get(i).cloned().flatten().unwrap_or(Value::Null)),
        })
        .collect();
    let total = manifest.entries.len();
    let end = offset.saturating_add(files.len());
    Ok(Json(FilesPage {
        id,
        version: &manifest.version,
        total,
        offset,
        limit,
        next_offset: (end < total).then_some(end),
        files,
    })
    .into_response())
}

/// Entries in a `/datasets/files` answer without `limit=`.
const DEFAULT_PAGE: usize = 1000;
/// The most entries one answer holds.
const MAX_PAGE: usize = 10_000;

/// The body of `/datasets/files`; typed so that entries keep the backend's field order.
#[derive(serde::Serialize)]
struct FilesPage<'a> {
    id: &'a str,
    version: &'a str,
    total: usize,
    offset: usize,
    limit: usize,
    /// Where the next page starts; `null` on the last one.
    next_offset: Option<usize>,
    files: Vec<FileWithResult<'a>>,
}

#[derive(serde::Serialize)]
struct FileWithResult<'a> {
    #[serde(flatten)]
    entry: &'a FileEntry,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<Value>,
}

#[utoipa::path(get, path = "/datasets/summary", tag = "datasets", security(("bearer" = ["read"])), params(("id" = String, Query)),
    responses((status = 200, description = "The emotion-recognition backend's summary: total, total_bytes, label_counts, meta_constants; plus id, version, total_duration, errors, metadata_errors, unmatched_rows, skipped"), (status = 404, body = ErrorBody), (status = 401, description = "No token or an unknown one, once read or write tokens are configured", body = ErrorBody), (status = 403, description = "The token's scope is below read", body = ErrorBody)))]
pub(crate) async fn summary(
    _: Read,
    State(state): State<AppState>,
    params: Params,
) -> Result<Response, ApiError> {
    let id = params.required("id")?;
    let manifest = state.datasets.manifest(id).await?;
    Ok(Json(SummaryBody {
        id,
        version: &manifest.version,
        summary: &manifest.summary,
    })
    .into_response())
}

#[derive(serde::Serialize)]
struct SummaryBody<'a> {
    id: &'a str,
    version: &'a str,
    #[serde(flatten)]
    summary: &'a hoard_datasets::Summary,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReindexBody {
    id: String,
}

#[utoipa::path(post, path = "/datasets/reindex", tag = "admin", request_body = ReindexBody, security(("bearer" = ["admin"])),
    responses((status = 200, description = "`{\"id\",\"version\",\"files\",\"probed\",\"reused\",\"hashed\",\"elapsed\"}` (elapsed in ms)"), (status = 404, body = ErrorBody), (status = 401, description = "No token, or an unknown one", body = ErrorBody), (status = 403, description = "The token's scope is below admin", body = ErrorBody)))]
pub(crate) async fn reindex(
    _: Admin,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ReindexBody>,
) -> Result<Json<Value>, ApiError> {
    let (manifest, report) = state.datasets.reindex(&body.id).await?;
    let mut out = serde_json::to_value(&report).unwrap_or_else(|_| json!({}));
    if let Value::Object(fields) = &mut out {
        fields.insert("id".into(), json!(body.id));
        fields.insert("version".into(), json!(manifest.version));
    }
    Ok(Json(out))
}
