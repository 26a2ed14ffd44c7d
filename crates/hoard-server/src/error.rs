//! One error type for every route, answered as `{"error": CODE, "message": TEXT}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// An error answered to the client.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Short machine-readable code (`bad_request`, `not_found`, ...).
    pub code: &'static str,
    /// What went wrong, for a person.
    pub message: String,
}

impl ApiError {
    /// 400 with `code`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code,
            message: message.into(),
        }
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: message.into(),
        }
    }

    /// 500, for failures the client cannot fix.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: message.into(),
        }
    }

    /// 401.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthorized",
            message: message.into(),
        }
    }
}

impl From<hoard::Error> for ApiError {
    fn from(error: hoard::Error) -> ApiError {
        use hoard::Error as E;
        let (status, code) = match &error {
            E::InvalidKey { .. } => (StatusCode::BAD_REQUEST, "invalid_key"),
            E::InvalidNamespace { .. } => (StatusCode::BAD_REQUEST, "invalid_namespace"),
            E::InvalidPattern { .. } => (StatusCode::BAD_REQUEST, "invalid_pattern"),
            E::InvalidDuration { .. } => (StatusCode::BAD_REQUEST, "invalid_ttl"),
            E::Unavailable { .. } => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            E::Decode(_) => (StatusCode::INTERNAL_SERVER_ERROR, "not_json"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        if status.is_server_error() {
            tracing::warn!(%error, "request failed");
        }
        ApiError {
            status,
            code,
            message: error.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // RFC 6750: a 401 says which scheme to use, a 403 for a token's scope says so.
        let challenge = match (self.status, self.code) {
            (StatusCode::UNAUTHORIZED, _) => Some(r#"Bearer realm="hoard""#),
            (StatusCode::FORBIDDEN, "insufficient_scope") => {
                Some(r#"Bearer realm="hoard", error="insufficient_scope""#)
            }
            _ => None,
        };
        let body = serde_json::json!({ "error": self.code, "message": self.message });
        let mut response = (self.status, Json(body)).into_response();
        if let Some(challenge) = challenge {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static(challenge),
            );
        }
        response
    }
}
