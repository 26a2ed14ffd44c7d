//! `GET /datasets/file`: one file of a dataset, streamed, with an `ETag`, `If-None-Match`,
//! and a single `Range` (RFC 9110). tower-http's `ServeFile` is not used: it opens files by
//! path (this route serves the handle the root check opened, so a link swapped in between
//! cannot lead outside the root), has no `ETag`, and answers several ranges with 416 where
//! this route sends the whole file.

use crate::auth::Read;
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::extract::Params;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

#[utoipa::path(get, path = "/datasets/file", tag = "datasets", security(("bearer" = ["read"])), params(("id" = String, Query), ("relpath" = String, Query)),
    responses((status = 200, description = "The file, with ETag and Accept-Ranges", content_type = "audio/*"), (status = 206, description = "The requested byte range"),
        (status = 304, description = "If-None-Match matched"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 416, description = "Range outside the file"), (status = 401, description = "No token or an unknown one, once read or write tokens are configured", body = ErrorBody), (status = 403, description = "The token's scope is below read", body = ErrorBody)))]
pub(crate) async fn file(
    _: Read,
    State(state): State<AppState>,
    params: Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = params.required("id")?.to_owned();
    let relpath = params.required("relpath")?.to_owned();
    let datasets = state.datasets.clone();
    let (file, path) = tokio::task::spawn_blocking(move || -> Result<_, ApiError> {
        let root = datasets.root(&id)?;
        Ok(hoard_datasets::path::open(&root, &relpath)?)
    })
    .await
    .map_err(ApiError::internal)??;
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
    let metadata = file.metadata().await.map_err(ApiError::internal)?;
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
            Range::Unsatisfiable => {
                let mut response =
                    ApiError::new(ErrorCode::BadRange, format!("the file has {len} bytes"))
                        .into_response();
                if let Ok(value) = HeaderValue::from_str(&format!("bytes */{len}")) {
                    response.headers_mut().insert(header::CONTENT_RANGE, value);
                }
                return Ok(response);
            }
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
            .map_err(ApiError::internal)?;
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
    response.body(body).map_err(ApiError::internal)
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
