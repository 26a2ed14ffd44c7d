//! The extractors routes read requests with: axum's, with every rejection turned into
//! hoard's JSON error (`bad_json`, `bad_path`, `bad_query`, 408 for a body too slow, 413
//! for one too large) instead of axum's plain-text answers.

use crate::conn::BodyTimedOut;
use crate::error::{ApiError, ErrorCode};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::HashMap;

/// The largest whole number every JSON reader keeps exactly (2^53 - 1): the bound of
/// offsets and times given in a query.
pub(crate) const MAX_EXACT_INTEGER: u64 = 9_007_199_254_740_991;

/// A JSON object as the body, with our errors: 413 past the size limit, 400 for anything
/// unparsable or not an object (serde would otherwise read a struct from an array too).
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = body_bytes(request, state).await?;
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::new(
                ErrorCode::BadJson,
                "body is not the expected JSON: a JSON object is expected",
            ));
        }
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(bad_json)
    }
}

/// Any JSON value as the body (a cache entry is one), with [`JsonBody`]'s errors.
pub(crate) struct AnyJson(pub(crate) Value);

impl<S: Send + Sync> FromRequest<S> for AnyJson {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = body_bytes(request, state).await?;
        serde_json::from_slice(&bytes)
            .map(AnyJson)
            .map_err(bad_json)
    }
}

fn bad_json(error: serde_json::Error) -> ApiError {
    ApiError::new(
        ErrorCode::BadJson,
        format!("body is not the expected JSON: {error}"),
    )
}

async fn body_bytes<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            if timed_out(&rejection) {
                ApiError::new(
                    ErrorCode::BodyTimeout,
                    "the request body did not arrive within server.body_read_timeout",
                )
            } else if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    ErrorCode::BodyTooLarge,
                    "request body is larger than server.max_body",
                )
            } else {
                ApiError::new(ErrorCode::BadBody, rejection.body_text())
            }
        })
}

/// Whether a body rejection comes from the body's deadline (`conn::Deadline`).
fn timed_out(rejection: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(rejection);
    while let Some(error) = cause {
        if error.is::<BodyTimedOut>() {
            return true;
        }
        cause = error.source();
    }
    false
}

/// Path segments, with our errors.
pub(crate) struct Segments<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Segments<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| Segments(value))
            .map_err(|rejection| ApiError::new(ErrorCode::BadPath, rejection.body_text()))
    }
}

/// The two segments of a `/{a}/{b}` route, percent-decoded and borrowed from the matched
/// route rather than copied into a `String` each: the extractor of the hot read routes.
/// The same `bad_path` error as [`Segments`] for a segment that is not UTF-8.
pub(crate) struct SegmentPair(RawPathParams);

impl SegmentPair {
    /// The first and the second segment.
    pub(crate) fn get(&self) -> (&str, &str) {
        let mut values = self.0.iter().map(|(_, value)| value);
        let first = values.next().unwrap_or_default();
        (first, values.next().unwrap_or_default())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for SegmentPair {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        RawPathParams::from_request_parts(parts, state)
            .await
            .map(SegmentPair)
            .map_err(|rejection| ApiError::new(ErrorCode::BadPath, rejection.body_text()))
    }
}

/// Query parameters, with our errors.
pub(crate) struct Params(pub(crate) HashMap<String, String>);

impl Params {
    /// The parameter `name`, if given.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The parameter `name`; 400 `missing_param` without it.
    pub(crate) fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name).ok_or_else(|| {
            ApiError::new(
                ErrorCode::MissingParam,
                format!("query parameter `{name}` is required"),
            )
        })
    }

    /// The parameter `name` as a whole number, if given; 400 `bad_query` for another text.
    /// (The document bounds such numbers by [`MAX_EXACT_INTEGER`].)
    pub(crate) fn whole_number(&self, name: &str) -> Result<Option<usize>, ApiError> {
        self.get(name)
            .map(|text| {
                text.parse().map_err(|_| {
                    ApiError::new(
                        ErrorCode::BadQuery,
                        format!("`{name}` must be a whole number, not {text:?}"),
                    )
                })
            })
            .transpose()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map(|Query(map)| Params(map))
            .map_err(|rejection| ApiError::new(ErrorCode::BadQuery, rejection.body_text()))
    }
}
