//! Seed 000's dataset routes: configured datasets, their manifests and summaries (joined
//! with cached results on request), an admin reindex, and file streaming with Range.

use crate::routes::{Admin, ErrorBody, JsonBody, Params, Read, RESULTS};
use crate::{ApiError, AppState};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use hoard_datasets::{DatasetError, FileEntry, PathError};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

impl From<DatasetError> for ApiError {
    fn from(error: DatasetError) -> ApiError {
        let (status, code) = match &error {
            DatasetError::Unknown(_) => (StatusCode::NOT_FOUND, "unknown_dataset"),
            DatasetError::InvalidId { .. } => (StatusCode::BAD_REQUEST, "bad_dataset_id"),
            DatasetError::Io { .. } => (StatusCode::SERVICE_UNAVAILABLE, "dataset_unreadable"),
            DatasetError::Task { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        if status.is_server_error() {
            tracing::warn!(%error, "dataset request failed");
        }
        ApiError {
            status,
            code,
            message: error.to_string(),
        }
    }
}

impl From<PathError> for ApiError {
    fn from(error: PathError) -> ApiError {
        match error {
            PathError::NotFound(_) => ApiError::not_found(error.to_string()),
            PathError::Invalid { .. } | PathError::Outside(_) => {
                ApiError::bad_request("bad_relpath", error.to_string())
            }
        }
    }
}

fn param<'a>(params: &'a HashMap<String, String>, name: &str) -> Result<&'a str, ApiError> {
    params.get(name).map(String::as_str).ok_or_else(|| {
        ApiError::bad_request(
            "missing_param",
            format!("query parameter `{name}` is required"),
        )
    })
}

fn number(params: &HashMap<String, String>, name: &str) -> Result<Option<usize>, ApiError> {
    params
        .get(name)
        .map(|text| {
            text.parse().map_err(|_| {
                ApiError::bad_request(
                    "bad_query",
                    format!("`{name}` must be a whole number, not {text:?}"),
                )
            })
        })
        .transpose()
}

#[utoipa::path(get, path = "/datasets", tag = "datasets", security(("bearer" = ["read"])),
    responses((status = 200, description = "`{\"datasets\":[{id, path, version, total, total_bytes, total_duration, errors, built_at_ms}]}`"), (status = 503, body = ErrorBody), (status = 401, description = "No token or an unknown one, once read or write tokens are configured", body = ErrorBody), (status = 403, description = "The token's scope is below read", body = ErrorBody)))]
pub(crate) async fn list(_: Read, State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let datasets = state.datasets.list().await;
    Ok(Json(json!({ "datasets": datasets })))
}

#[utoipa::path(get, path = "/datasets/files", tag = "datasets", security(("bearer" = ["read"])),
    params(("id" = String, Query), ("results" = Option<String>, Query, description = "a model: join each entry's cached result as `result`"),
        ("offset" = Option<usize>, Query), ("limit" = Option<usize>, Query, description = "entries per page: 1000 by default, at most 10000")),
    responses((status = 200, description = "`{\"id\",\"version\",\"total\",\"offset\",\"limit\",\"next_offset\",\"files\":[entry]}` (`next_offset` null on the last page), entries in seed 000's schema"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 401, description = "No token or an unknown one, once read or write tokens are configured", body = ErrorBody), (status = 403, description = "The token's scope is below read", body = ErrorBody)))]
pub(crate) async fn files(
    _: Read,
    State(state): State<AppState>,
    Params(params): Params,
) -> Result<Response, ApiError> {
    let id = param(&params, "id")?;
    let offset = number(&params, "offset")?.unwrap_or(0);
    let limit = number(&params, "limit")?.unwrap_or(DEFAULT_PAGE);
    if limit > MAX_PAGE {
        return Err(ApiError::bad_request(
            "bad_query",
            format!("limit {limit} is past {MAX_PAGE} entries a page: page with offset="),
        ));
    }
    let model = params.get("results").map(String::as_str);
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

/// The body of `/datasets/files`; typed so that entries keep seed 000's field order.
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
    responses((status = 200, description = "Seed 000's summary: total, total_bytes, label_counts, meta_constants; plus id, version, total_duration, errors, metadata_errors, unmatched_rows, skipped"), (status = 404, body = ErrorBody), (status = 401, description = "No token or an unknown one, once read or write tokens are configured", body = ErrorBody), (status = 403, description = "The token's scope is below read", body = ErrorBody)))]
pub(crate) async fn summary(
    _: Read,
    State(state): State<AppState>,
    Params(params): Params,
) -> Result<Response, ApiError> {
    let id = param(&params, "id")?;
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

#[utoipa::path(get, path = "/datasets/file", tag = "datasets", security(("bearer" = ["read"])), params(("id" = String, Query), ("relpath" = String, Query)),
    responses((status = 200, description = "The file, with ETag and Accept-Ranges", content_type = "audio/*"), (status = 206, description = "The requested byte range"),
        (status = 304, description = "If-None-Match matched"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 416, description = "Range outside the file"), (status = 401, description = "No token or an unknown one, once read or write tokens are configured", body = ErrorBody), (status = 403, description = "The token's scope is below read", body = ErrorBody)))]
pub(crate) async fn file(
    _: Read,
    State(state): State<AppState>,
    Params(params): Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = param(&params, "id")?.to_owned();
    let relpath = param(&params, "relpath")?.to_owned();
    let datasets = state.datasets.clone();
    let (file, path) = tokio::task::spawn_blocking(move || -> Result<_, ApiError> {
        let root = datasets.root(&id)?;
        Ok(hoard_datasets::path::open(&root, &relpath)?)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
    // Only dataset files are served: audio and metadata tables, nothing else under the
    // root. The name checked is the opened file's real name, not a link's.
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let content_type = match hoard_datasets::Format::from_name(&name) {
        Some(format) => format.mime(),
        None if name.ends_with("_metadata.csv") => "text/csv",
        None if name.ends_with(".tsv") => "text/tab-separated-values",
        None => {
            return Err(ApiError::not_found(format!(
                "{name:?} is not an audio or metadata file"
            )))
        }
    };
    stream(tokio::fs::File::from_std(file), content_type, &headers).await
}

async fn stream(
    mut file: tokio::fs::File,
    content_type: &'static str,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let metadata = file
        .metadata()
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let len = metadata.len();
    let modified = metadata
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let etag = format!("\"{len:x}-{modified:x}\"");
    let header_text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if header_text(header::IF_NONE_MATCH)
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    // If-Range with another validator means the client's partial copy is stale: send all.
    let range_applies = header_text(header::IF_RANGE).is_none_or(|tag| tag == etag);
    let range = match header_text(header::RANGE).filter(|_| range_applies) {
        Some(text) => match parse_range(text, len) {
            Range::Whole => None,
            Range::Part(start, end) => Some((start, end)),
            Range::Unsatisfiable => return Ok((
                StatusCode::RANGE_NOT_SATISFIABLE,
                [(header::CONTENT_RANGE, format!("bytes */{len}"))],
                Json(json!({"error": "bad_range", "message": format!("the file has {len} bytes")})),
            )
                .into_response()),
        },
        None => None,
    };
    let (status, start, count) = match range {
        Some((start, end)) => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
        None => (StatusCode::OK, 0, len),
    };
    if start > 0 {
        file.seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
    }
    let body = Body::from_stream(chunks(file.take(count)));
    let mut response = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_LENGTH, count)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::ETAG, etag);
    if status == StatusCode::PARTIAL_CONTENT {
        response = response.header(
            header::CONTENT_RANGE,
            format!("bytes {start}-{}/{len}", start + count - 1),
        );
    }
    response
        .body(body)
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// The file as a stream of 64 KiB chunks.
fn chunks(
    reader: tokio::io::Take<tokio::fs::File>,
) -> impl futures_util::Stream<Item = std::io::Result<Vec<u8>>> {
    futures_util::stream::unfold(Some(reader), |reader| async move {
        let mut reader = reader?;
        let mut buffer = vec![0u8; 64 * 1024];
        match reader.read(&mut buffer).await {
            Ok(0) => None,
            Ok(n) => {
                buffer.truncate(n);
                Some((Ok(buffer), Some(reader)))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}

#[derive(Debug, PartialEq, Eq)]
enum Range {
    /// No usable range (malformed or several): send the whole file, as RFC 9110 allows.
    Whole,
    /// Inclusive byte positions.
    Part(u64, u64),
    /// A well-formed range outside the file: 416.
    Unsatisfiable,
}

/// Parses a single `bytes=` range against a file of `len` bytes.
fn parse_range(text: &str, len: u64) -> Range {
    let Some(spec) = text.trim().strip_prefix("bytes=") else {
        return Range::Whole;
    };
    if spec.contains(',') {
        return Range::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Range::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    match (first.parse::<u64>(), last.parse::<u64>()) {
        // `bytes=-N`: the last N bytes.
        (Err(_), Ok(suffix)) if first.is_empty() => {
            if suffix == 0 || len == 0 {
                Range::Unsatisfiable
            } else {
                Range::Part(len.saturating_sub(suffix), len - 1)
            }
        }
        (Ok(start), Err(_)) if last.is_empty() => {
            if start >= len {
                Range::Unsatisfiable
            } else {
                Range::Part(start, len - 1)
            }
        }
        (Ok(start), Ok(end)) if start <= end => {
            if start >= len {
                Range::Unsatisfiable
            } else {
                Range::Part(start, end.min(len - 1))
            }
        }
        _ => Range::Whole,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_like_rfc_9110() {
        assert_eq!(parse_range("bytes=0-99", 1000), Range::Part(0, 99));
        assert_eq!(parse_range("bytes=900-", 1000), Range::Part(900, 999));
        assert_eq!(parse_range("bytes=-100", 1000), Range::Part(900, 999));
        assert_eq!(parse_range("bytes=-5000", 1000), Range::Part(0, 999));
        assert_eq!(parse_range("bytes=990-5000", 1000), Range::Part(990, 999));
        assert_eq!(parse_range("bytes=1000-", 1000), Range::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 1000), Range::Unsatisfiable);
        assert_eq!(parse_range("bytes=5-1", 1000), Range::Whole);
        assert_eq!(parse_range("bytes=0-1,5-6", 1000), Range::Whole);
        assert_eq!(parse_range("items=0-1", 1000), Range::Whole);
        assert_eq!(parse_range("bytes=x-y", 1000), Range::Whole);
    }
}
