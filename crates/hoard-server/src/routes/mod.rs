//! The handlers, one module per group of routes. A route module uses the shared pieces
//! (`extract`, `auth`, `error`, `state`) and, where one group reads another's data, that
//! group's constants (datasets join results); never the router or the OpenAPI document.

pub(crate) mod batch;
pub(crate) mod cache;
pub(crate) mod dataset_file;
pub(crate) mod datasets;
pub(crate) mod health;
pub(crate) mod metrics;
pub(crate) mod models;
pub(crate) mod results;
pub(crate) mod semantic;
pub(crate) mod stats;
pub(crate) mod ui;

/// A stored value answered as JSON text: its MessagePack bytes written out as JSON
/// directly (`hoard::codec::to_json`), with no `serde_json::Value` built per request.
pub(crate) struct JsonText(axum::body::Bytes);

impl JsonText {
    /// The value stored as `bytes`; a value that is not JSON-shaped is the same error a
    /// typed read gives.
    pub(crate) fn of(bytes: &[u8]) -> Result<JsonText, hoard::Error> {
        hoard::codec::to_json(bytes).map(|json| JsonText(json.into()))
    }

    /// A value already rendered (`hoard::Cache::get_json_l1`).
    pub(crate) fn rendered(json: axum::body::Bytes) -> JsonText {
        JsonText(json)
    }
}

impl axum::response::IntoResponse for JsonText {
    fn into_response(self) -> axum::response::Response {
        let json = axum::http::HeaderValue::from_static("application/json");
        ([(axum::http::header::CONTENT_TYPE, json)], self.0).into_response()
    }
}
