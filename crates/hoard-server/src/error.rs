//! Every error a route answers, in one place: the codes clients see ([`ErrorCode`]), the
//! status each code is answered with, how the libraries' errors (hoard, hoard-datasets,
//! hoard-semantic) and a refused token map to a code, and the JSON body
//! `{"error": CODE, "message": TEXT}`.
//!
//! A 4xx says what was wrong with the request, so its message is specific. A 5xx is the
//! server's problem: its message is a fixed text for its code plus the request's id, and
//! the detail (which may name files, Redis addresses or a model's path) goes to the log
//! only, in the request's span, where the id finds it.

use crate::auth::AuthError;
use crate::request_id;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use hoard_datasets::{DatasetError, PathError};
use hoard_semantic::SemanticError;

/// The machine-readable `error` of an answer. Clients branch on these: they never change
/// once published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    // 400: the request is wrong; its message says how.
    /// The body is not the JSON the route takes.
    BadJson,
    /// The body could not be read (a broken chunked encoding, ...).
    BadBody,
    /// A path segment could not be read.
    BadPath,
    /// A query parameter is malformed, or a text field is empty.
    BadQuery,
    /// A required query parameter is missing.
    MissingParam,
    /// More keys, hashes or tags in one request than `server.max_batch`.
    BatchTooLarge,
    /// A key (or a tag, a results model or hash) breaks the key rules.
    InvalidKey,
    /// A namespace breaks the namespace rules.
    InvalidNamespace,
    /// A glob pattern that cannot be parsed.
    InvalidPattern,
    /// A TTL that does not parse or is out of range.
    InvalidTtl,
    /// A semantic similarity threshold outside [0, 1].
    InvalidThreshold,
    /// A semantic filter that is not `NAME:VALUE` or not a string, number or boolean.
    BadFilter,
    /// A dataset id that cannot name a dataset.
    BadDatasetId,
    /// A dataset file's `relpath` that is refused (absolute, `..`, outside the root).
    BadRelpath,
    /// A semantic cache setting a request asked for that cannot be used.
    BadRequest,
    // 401 and 403: who is asking.
    /// No bearer token, or one the server does not know.
    Unauthorized,
    /// A token whose scope is below the route's.
    InsufficientScope,
    /// A write through the generic routes to a namespace a library writes for itself.
    ReservedNamespace,
    // 404, 408, 413, 416.
    /// No such entry, result, file or route.
    NotFound,
    /// No dataset has this id.
    UnknownDataset,
    /// The body did not arrive within `server.body_read_timeout`.
    BodyTimeout,
    /// The body is larger than `server.max_body`.
    BodyTooLarge,
    /// A `Range` outside the file.
    BadRange,
    // 5xx: the server's problem; the message is generic, the detail is in the log.
    /// L2 (Redis) did not answer: nothing was acknowledged.
    Unavailable,
    /// `/ready`: L2 does not answer.
    NotReady,
    /// A dataset's folder cannot be read.
    DatasetUnreadable,
    /// The semantic cache's embedding model or service failed.
    EmbedderUnavailable,
    /// No semantic cache is configured.
    SemanticDisabled,
    /// Every connection slot holds a request in progress.
    TooManyConnections,
    /// A stored value cannot be read back as JSON.
    NotJson,
    /// The metrics text could not be written.
    Metrics,
    /// Anything else that went wrong on the server's side.
    Internal,
}

impl ErrorCode {
    /// The code as clients see it in `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadJson => "bad_json",
            ErrorCode::BadBody => "bad_body",
            ErrorCode::BadPath => "bad_path",
            ErrorCode::BadQuery => "bad_query",
            ErrorCode::MissingParam => "missing_param",
            ErrorCode::BatchTooLarge => "batch_too_large",
            ErrorCode::InvalidKey => "invalid_key",
            ErrorCode::InvalidNamespace => "invalid_namespace",
            ErrorCode::InvalidPattern => "invalid_pattern",
            ErrorCode::InvalidTtl => "invalid_ttl",
            ErrorCode::InvalidThreshold => "invalid_threshold",
            ErrorCode::BadFilter => "bad_filter",
            ErrorCode::BadDatasetId => "bad_dataset_id",
            ErrorCode::BadRelpath => "bad_relpath",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::ReservedNamespace => "reserved_namespace",
            ErrorCode::NotFound => "not_found",
            ErrorCode::UnknownDataset => "unknown_dataset",
            ErrorCode::BodyTimeout => "body_timeout",
            ErrorCode::BodyTooLarge => "body_too_large",
            ErrorCode::BadRange => "bad_range",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::NotReady => "not_ready",
            ErrorCode::DatasetUnreadable => "dataset_unreadable",
            ErrorCode::EmbedderUnavailable => "embedder_unavailable",
            ErrorCode::SemanticDisabled => "semantic_disabled",
            ErrorCode::TooManyConnections => "too_many_connections",
            ErrorCode::NotJson => "not_json",
            ErrorCode::Metrics => "metrics",
            ErrorCode::Internal => "internal",
        }
    }

    /// The status this code is answered with.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::BadJson
            | ErrorCode::BadBody
            | ErrorCode::BadPath
            | ErrorCode::BadQuery
            | ErrorCode::MissingParam
            | ErrorCode::BatchTooLarge
            | ErrorCode::InvalidKey
            | ErrorCode::InvalidNamespace
            | ErrorCode::InvalidPattern
            | ErrorCode::InvalidTtl
            | ErrorCode::InvalidThreshold
            | ErrorCode::BadFilter
            | ErrorCode::BadDatasetId
            | ErrorCode::BadRelpath
            | ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::InsufficientScope | ErrorCode::ReservedNamespace => StatusCode::FORBIDDEN,
            ErrorCode::NotFound | ErrorCode::UnknownDataset => StatusCode::NOT_FOUND,
            ErrorCode::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorCode::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::BadRange => StatusCode::RANGE_NOT_SATISFIABLE,
            ErrorCode::Unavailable
            | ErrorCode::NotReady
            | ErrorCode::DatasetUnreadable
            | ErrorCode::EmbedderUnavailable
            | ErrorCode::SemanticDisabled
            | ErrorCode::TooManyConnections => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::NotJson | ErrorCode::Metrics | ErrorCode::Internal => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// What a 5xx of this code tells the client instead of the detail: what failed and
    /// what the client can do, nothing of the server's insides. `None` for 4xx codes,
    /// whose messages are the request's own.
    pub fn generic_message(self) -> Option<&'static str> {
        Some(match self {
            ErrorCode::Unavailable => {
                "L2 (Redis) did not answer: nothing was acknowledged; retry later"
            }
            ErrorCode::NotReady => "L2 unavailable",
            ErrorCode::DatasetUnreadable => "the dataset's folder cannot be read",
            ErrorCode::EmbedderUnavailable => "the semantic cache's embedding model failed",
            ErrorCode::SemanticDisabled => {
                "no semantic cache is configured: set [semantic] model in hoard.toml"
            }
            ErrorCode::TooManyConnections => {
                "the server has server.max_connections connections open; retry later"
            }
            ErrorCode::NotJson => "a stored value cannot be read back as JSON",
            ErrorCode::Metrics => "the metrics could not be written",
            ErrorCode::Internal => "the server failed to answer this request",
            ErrorCode::BadJson
            | ErrorCode::BadBody
            | ErrorCode::BadPath
            | ErrorCode::BadQuery
            | ErrorCode::MissingParam
            | ErrorCode::BatchTooLarge
            | ErrorCode::InvalidKey
            | ErrorCode::InvalidNamespace
            | ErrorCode::InvalidPattern
            | ErrorCode::InvalidTtl
            | ErrorCode::InvalidThreshold
            | ErrorCode::BadFilter
            | ErrorCode::BadDatasetId
            | ErrorCode::BadRelpath
            | ErrorCode::BadRequest
            | ErrorCode::Unauthorized
            | ErrorCode::InsufficientScope
            | ErrorCode::ReservedNamespace
            | ErrorCode::NotFound
            | ErrorCode::UnknownDataset
            | ErrorCode::BodyTimeout
            | ErrorCode::BodyTooLarge
            | ErrorCode::BadRange => return None,
        })
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error body every route answers with.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A short code: `bad_json`, `invalid_key`, `unauthorized`, `not_found`, ...
    pub error: String,
    /// What went wrong. For a 5xx: a generic text and the request's id (also in the
    /// `x-request-id` header); the detail is in the server's log under that id.
    pub message: String,
}

/// An error answered to the client: a code (which fixes the status) and what went wrong.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    code: ErrorCode,
    /// For a 4xx, the client's message; for a 5xx, the detail, which only the log gets.
    message: String,
}

impl ApiError {
    /// An error of `code`. For a 5xx code, `message` is the detail for the log: the client
    /// gets the code's generic message instead.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
        }
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::NotFound, message)
    }

    /// 500 `internal`, for failures the client cannot fix; `detail` goes to the log.
    pub fn internal(detail: impl std::fmt::Display) -> ApiError {
        ApiError::new(ErrorCode::Internal, detail.to_string())
    }

    /// The code clients see.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The status answered.
    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    /// What went wrong, in full (for a 5xx: the detail the client does not see).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Writes a 5xx's detail to the log with the request's id (the one its body quotes).
    fn log_detail(&self) {
        let status = self.status();
        if !status.is_server_error() {
            return;
        }
        let id = request_id::current();
        let id = id.as_deref().unwrap_or("none");
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(code = %self.code, request = %id, detail = %self.message, "request failed")
        } else {
            tracing::warn!(code = %self.code, request = %id, detail = %self.message, "request failed")
        }
    }

    /// The body clients get: the message for a 4xx; for a 5xx, the code's generic
    /// message and the request's id (none outside a request: the connection layer's
    /// answers come before any request is read).
    pub(crate) fn public_body(&self) -> ErrorBody {
        let message = match (self.code.generic_message(), request_id::current()) {
            (None, _) => self.message.clone(),
            (Some(generic), Some(id)) => format!("{generic}; request id {id}"),
            (Some(generic), None) => generic.to_owned(),
        };
        ErrorBody {
            error: self.code.as_str().to_owned(),
            message,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // RFC 6750: a 401 says which scheme to use, a 403 for a token's scope says so.
        let challenge = match self.code {
            ErrorCode::Unauthorized => Some(r#"Bearer realm="hoard""#),
            ErrorCode::InsufficientScope => {
                Some(r#"Bearer realm="hoard", error="insufficient_scope""#)
            }
            _ => None,
        };
        self.log_detail();
        let mut response = (self.status(), Json(self.public_body())).into_response();
        if let Some(challenge) = challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

impl From<hoard::Error> for ApiError {
    fn from(error: hoard::Error) -> ApiError {
        use hoard::Error as E;
        let code = match &error {
            E::InvalidKey { .. } => ErrorCode::InvalidKey,
            E::InvalidNamespace { .. } => ErrorCode::InvalidNamespace,
            E::InvalidPattern { .. } => ErrorCode::InvalidPattern,
            E::InvalidDuration { .. } => ErrorCode::InvalidTtl,
            E::InvalidCursor { .. } => ErrorCode::BadQuery,
            E::Unavailable { .. } => ErrorCode::Unavailable,
            E::Decode(_) => ErrorCode::NotJson,
            _ => ErrorCode::Internal,
        };
        ApiError::new(code, error.to_string())
    }
}

impl From<DatasetError> for ApiError {
    fn from(error: DatasetError) -> ApiError {
        let code = match &error {
            DatasetError::Unknown { .. } => ErrorCode::UnknownDataset,
            DatasetError::InvalidId { .. } => ErrorCode::BadDatasetId,
            DatasetError::Io { .. } => ErrorCode::DatasetUnreadable,
            // `Task`, and whatever hoard-datasets adds later (the enum is non-exhaustive):
            // nothing the client can fix.
            _ => ErrorCode::Internal,
        };
        ApiError::new(code, error.to_string())
    }
}

impl From<PathError> for ApiError {
    fn from(error: PathError) -> ApiError {
        let code = match &error {
            PathError::NotFound(_) => ErrorCode::NotFound,
            PathError::Invalid { .. } | PathError::Outside(_) => ErrorCode::BadRelpath,
            // A reason hoard-datasets adds later: not known to be the client's fault.
            _ => ErrorCode::Internal,
        };
        ApiError::new(code, error.to_string())
    }
}

impl From<SemanticError> for ApiError {
    fn from(error: SemanticError) -> ApiError {
        let error = match error {
            // The cache's own errors (bad namespace, Redis down) keep their codes.
            SemanticError::Storage(inner) => return ApiError::from(inner),
            other => other,
        };
        let code = match &error {
            SemanticError::InvalidThreshold(_) => ErrorCode::InvalidThreshold,
            SemanticError::Config(_) => ErrorCode::BadRequest,
            SemanticError::Http { .. } | SemanticError::Embed(_) | SemanticError::Model { .. } => {
                ErrorCode::EmbedderUnavailable
            }
            _ => ErrorCode::Internal,
        };
        ApiError::new(code, error.to_string())
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> ApiError {
        let code = match &error {
            AuthError::Missing { .. } | AuthError::Unknown { .. } => ErrorCode::Unauthorized,
            AuthError::InsufficientScope { .. } => ErrorCode::InsufficientScope,
        };
        ApiError::new(code, error.to_string())
    }
}

/// A refused token is answered as every other error: the scope extractors reject with
/// [`AuthError`], which knows nothing of HTTP.
impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code, for the checks below.
    const ALL: [ErrorCode; 32] = [
        ErrorCode::BadJson,
        ErrorCode::BadBody,
        ErrorCode::BadPath,
        ErrorCode::BadQuery,
        ErrorCode::MissingParam,
        ErrorCode::BatchTooLarge,
        ErrorCode::InvalidKey,
        ErrorCode::InvalidNamespace,
        ErrorCode::InvalidPattern,
        ErrorCode::InvalidTtl,
        ErrorCode::InvalidThreshold,
        ErrorCode::BadFilter,
        ErrorCode::BadDatasetId,
        ErrorCode::BadRelpath,
        ErrorCode::BadRequest,
        ErrorCode::Unauthorized,
        ErrorCode::InsufficientScope,
        ErrorCode::ReservedNamespace,
        ErrorCode::NotFound,
        ErrorCode::UnknownDataset,
        ErrorCode::BodyTimeout,
        ErrorCode::BodyTooLarge,
        ErrorCode::BadRange,
        ErrorCode::Unavailable,
        ErrorCode::NotReady,
        ErrorCode::DatasetUnreadable,
        ErrorCode::EmbedderUnavailable,
        ErrorCode::SemanticDisabled,
        ErrorCode::TooManyConnections,
        ErrorCode::NotJson,
        ErrorCode::Metrics,
        ErrorCode::Internal,
    ];

    #[test]
    fn every_server_error_and_only_those_has_a_generic_message() {
        for code in ALL {
            assert_eq!(
                code.generic_message().is_some(),
                code.status().is_server_error(),
                "{code}"
            );
        }
    }

    #[test]
    fn codes_are_distinct_snake_case_names() {
        let names: std::collections::HashSet<&str> = ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), ALL.len());
        for name in names {
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{name}"
            );
        }
    }

    /// A log sink the test reads back.
    #[derive(Clone, Default)]
    struct Log(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Log {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("log lock").extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_server_error_answers_its_generic_message_and_logs_the_detail() {
        let log = Log::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer({
                let log = log.clone();
                move || log.clone()
            })
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let error = ApiError::from(hoard::Error::Redis("ERR secret at 10.0.0.5:6379".into()));
        assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let response =
            crate::request_id::scope(0x00c0_ffee_00c0_ffee, async { error.into_response() }).await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("a body");
        let body: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
        assert_eq!(
            body,
            serde_json::json!({
                "error": "internal",
                "message": "the server failed to answer this request; request id 00c0ffee00c0ffee",
            })
        );
        let logged = String::from_utf8(log.0.lock().expect("log lock").clone()).expect("utf-8");
        assert!(logged.contains("ERR secret at 10.0.0.5:6379"), "{logged}");
        assert!(logged.contains("request=00c0ffee00c0ffee"), "{logged}");
        let client = ApiError::new(ErrorCode::InvalidKey, "invalid key \"a b\"");
        assert_eq!(client.public_body().message, "invalid key \"a b\"");
    }
}
