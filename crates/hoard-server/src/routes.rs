//! The routes. Every handler answers JSON; every failure goes through [`ApiError`].

use crate::access::Scope;
use crate::{datasets, metrics, semantic, ApiError, AppState};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::time::Instant;
use tracing::Instrument;

/// The error body every route answers with.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A short code: `bad_json`, `invalid_key`, `unauthorized`, `not_found`, ...
    pub error: String,
    /// What went wrong.
    pub message: String,
}

/// The OpenAPI document, built from the route annotations: it cannot drift from the code.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "hoard", description = "One cache layer for AI/ML backends: cache entries, results, datasets, stats, invalidation."),
    paths(health, ready, cache_get, cache_put, cache_delete, cache_batch, delete_pattern, invalidate, stats, results_get, results_post, results_batch, metrics::metrics, openapi,
                datasets::list, datasets::files, datasets::summary, datasets::reindex, datasets::file,
        semantic::lookup, semantic::store, semantic::feedback, semantic::drop_namespace),
    components(schemas(ErrorBody, KeysBody, TagsBody, HashesBody, datasets::ReindexBody, semantic::LookupBody, semantic::StoreBody, semantic::FeedbackBody)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "`Authorization: Bearer TOKEN`. Each route names the scope it needs: read < \
                 write < admin, a scope implying those before it. Read and write routes are \
                 open to anyone while no read or write tokens are configured (`[server] \
                 read_tokens`, `write_tokens`); admin routes always need an admin token. \
                 401 without a token or with an unknown one, 403 when its scope is too low.",
            ))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses((status = 200, description = "This document, as this server is configured")))]
async fn openapi(State(state): State<AppState>) -> Json<Value> {
    Json(crate::openapi::document(
        state.access.guarded(),
        state.semantic.is_some(),
        state.max_batch,
    ))
}

/// Namespace of the emotion-recognition backend's inference results: `result:{model}:{h}`.
pub(crate) const RESULTS: &str = "result";

/// The API as an axum `Router`.
pub fn app(state: AppState) -> Router {
    let max_body = state.max_body;
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/v1/cache", axum::routing::delete(delete_pattern))
        .route("/v1/cache/{namespace}/batch", post(cache_batch))
        .route(
            "/v1/cache/{namespace}/{key}",
            get(cache_get).put(cache_put).delete(cache_delete),
        )
        // An empty key (`/v1/cache/ns/`) is a bad key, not a missing route.
        .route("/v1/cache/{namespace}/", axum::routing::any(empty_key))
        .route("/v1/invalidate", post(invalidate))
        .route("/v1/stats", get(stats))
        .route("/results/{model}/batch", post(results_batch))
        .route("/results/{model}/{h}", get(results_get).post(results_post))
        .route("/datasets", get(datasets::list))
        .route("/datasets/files", get(datasets::files))
        .route("/datasets/summary", get(datasets::summary))
        .route("/datasets/reindex", post(datasets::reindex))
        .route("/datasets/file", get(datasets::file))
        .route("/v1/semantic/{namespace}/lookup", post(semantic::lookup))
        .route(
            "/v1/semantic/{namespace}/feedback",
            post(semantic::feedback),
        )
        .route(
            "/v1/semantic/{namespace}",
            post(semantic::store).delete(semantic::drop_namespace),
        )
        .route("/metrics", get(metrics::metrics))
        .route("/openapi.json", get(openapi))
        .fallback(|| async { ApiError::not_found("no such route") })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn(request_id))
        .with_state(state)
}

/// Gives every request an id (`x-request-id`), a span, and one log line when done.
async fn request_id(request: Request, next: Next) -> Response {
    let id = format!("{:016x}", rand::random::<u64>());
    let span = tracing::info_span!("request", id = %id, method = %request.method(), path = %request.uri().path());
    let began = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            micros = began.elapsed().as_micros() as u64,
            "done"
        )
    });
    response
}

/// A JSON object as the body, with our errors: 413 past the size limit, 400 for anything
/// unparsable or not an object (serde would otherwise read a struct from an array too).
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = body_bytes(request, state).await?;
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::bad_request(
                "bad_json",
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
    ApiError::bad_request(
        "bad_json",
        format!("body is not the expected JSON: {error}"),
    )
}

async fn body_bytes<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            if timed_out(&rejection) {
                ApiError {
                    status: StatusCode::REQUEST_TIMEOUT,
                    code: "body_timeout",
                    message: "the request body did not arrive within server.body_read_timeout"
                        .into(),
                }
            } else if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError {
                    status: StatusCode::PAYLOAD_TOO_LARGE,
                    code: "body_too_large",
                    message: "request body is larger than server.max_body".into(),
                }
            } else {
                ApiError::bad_request("bad_body", rejection.body_text())
            }
        })
}

/// Whether a body rejection comes from the body's deadline (`conn::Deadline`).
fn timed_out(rejection: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(rejection);
    while let Some(error) = cause {
        if error.is::<crate::conn::BodyTimedOut>() {
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

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| Segments(value))
            .map_err(|rejection| ApiError::bad_request("bad_path", rejection.body_text()))
    }
}

/// Query parameters, with our errors.
pub(crate) struct Params(pub(crate) HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map(|Query(map)| Params(map))
            .map_err(|rejection| ApiError::bad_request("bad_query", rejection.body_text()))
    }
}

/// A guarded route's first extractor, one per scope: the token is checked before anything
/// else of the request (path, query, body) is read, so a caller without it gets 401 (or 403
/// for a token of too low a scope) whatever it sent.
macro_rules! scope_extractor {
    ($(#[$doc:meta])* $name:ident, $scope:expr) => {
        $(#[$doc])*
        pub(crate) struct $name;

        impl FromRequestParts<AppState> for $name {
            type Rejection = ApiError;

            async fn from_request_parts(
                parts: &mut axum::http::request::Parts,
                state: &AppState,
            ) -> Result<Self, ApiError> {
                state.access.check(&parts.headers, $scope).map(|()| $name)
            }
        }
    };
}

scope_extractor!(
    /// Reading routes: open unless read or write tokens are configured.
    Read,
    Scope::Read
);
scope_extractor!(
    /// Routes that change data: open unless read or write tokens are configured.
    Write,
    Scope::Write
);
scope_extractor!(
    /// Admin routes: always need an admin token.
    Admin,
    Scope::Admin
);

/// Namespaces hoard's own libraries write for themselves: dataset manifests and the
/// semantic cache's entries and index. A client writing there could make every instance
/// serve a forged manifest or a forged semantic answer, or remove what an admin-only
/// route guards, so the generic routes only read them.
const RESERVED_NAMESPACES: [&str; 2] = [
    hoard_datasets::NAMESPACE,
    hoard_semantic::cache::STORAGE_NAMESPACE,
];

fn writable(namespace: &str) -> Result<(), ApiError> {
    if RESERVED_NAMESPACES.contains(&namespace) {
        return Err(ApiError {
            status: StatusCode::FORBIDDEN,
            code: "reserved_namespace",
            message: format!(
                "namespace {namespace:?} is written by hoard itself; use its own routes"
            ),
        });
    }
    Ok(())
}

fn check_batch(len: usize, state: &AppState) -> Result<(), ApiError> {
    if len > state.max_batch {
        return Err(ApiError::bad_request(
            "batch_too_large",
            format!(
                "{len} items in one batch; server.max_batch is {}",
                state.max_batch
            ),
        ));
    }
    Ok(())
}

#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, description = "Alive: `{\"status\":\"ok\"}`")))]
async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

#[utoipa::path(get, path = "/ready", tag = "operations", responses((status = 200, description = "L2 answers"), (status = 503, description = "L2 unavailable", body = ErrorBody)))]
async fn ready(State(state): State<AppState>) -> Response {
    match state.cache.ping_l2().await {
        Ok(()) => Json(json!({ "ready": true })).into_response(),
        Err(error) => ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "not_ready",
            message: format!("L2 unavailable: {error}"),
        }
        .into_response(),
    }
}

#[utoipa::path(get, path = "/v1/cache/{namespace}/{key}", tag = "cache", security(("bearer" = ["read"])), params(("namespace" = String, Path), ("key" = String, Path)),
    responses((status = 200, description = "The stored JSON value itself"), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody), (status = 401, description = "No token or an unknown one, once read or write tokens are configured", body = ErrorBody), (status = 403, description = "The token's scope is below read", body = ErrorBody)))]
async fn cache_get(
    _: Read,
    State(state): State<AppState>,
    Segments((namespace, key)): Segments<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    match state.cache.get::<Value>(&namespace, &key).await? {
        Some(value) => Ok(Json(value)),
        None => Err(ApiError::not_found(format!("no entry {namespace}:{key}"))),
    }
}

#[utoipa::path(put, path = "/v1/cache/{namespace}/{key}", tag = "cache", security(("bearer" = ["write"])),
    params(("namespace" = String, Path), ("key" = String, Path), ("ttl" = Option<String>, Query, description = "e.g. 1h, 90s"), ("tags" = Option<String>, Query, description = "comma-separated")),
    request_body(content = Object, description = "Any JSON value"),
    responses((status = 200, description = "`{\"ok\":true}`"), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody), (status = 401, description = "No token or an unknown one, once read or write tokens are configured", body = ErrorBody), (status = 403, description = "The token's scope is below write", body = ErrorBody)))]
async fn cache_put(
    _: Write,
    State(state): State<AppState>,
    Segments((namespace, key)): Segments<(String, String)>,
    Params(params): Params,
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
    state
        .cache
        .set_with(&namespace, &key, &value, options)
        .await?;
    Ok(Json(json!({ "ok": true })))
}

#[utoipa::path(delete, path = "/v1/cache/{namespace}/{key}", tag = "cache", security(("bearer" = ["write"])), params(("namespace" = String, Path), ("key" = String, Path)),
    responses((status = 200, description = "`{\"deleted\":bool}`"), (status = 400, body = ErrorBody), (status = 401, description = "No token or an unknown one, once read or write tokens are configured", body = ErrorBody), (status = 403, description = "The token's scope is below write", body = ErrorBody)))]
async fn cache_delete(
    _: Write,
    State(state): State<AppState>,
    Segments((namespace, key)): Segments<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    writable(&namespace)?;
    let deleted = state.cache.delete(&namespace, &key).await?;
    Ok(Json(json!({ "deleted": deleted })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct KeysBody {
    keys: Vec<String>,
}

#[utoipa::path(post, path = "/v1/cache/{namespace}/batch", tag = "cache", security(("bearer" = ["read"])), params(("namespace" = String, Path)), request_body = KeysBody,
    responses((status = 200, description = "`{\"ok\":true,\"values\":{key: value or null}}`"), (status = 400, body = ErrorBody), (status = 401, description = "No token or an unknown one, once read or write tokens are configured", body = ErrorBody), (status = 403, description = "The token's scope is below read", body = ErrorBody)))]
async fn cache_batch(
    _: Read,
    State(state): State<AppState>,
    Segments(namespace): Segments<String>,
    JsonBody(body): JsonBody<KeysBody>,
) -> Result<Json<Value>, ApiError> {
    let values = lookup_batch(&state, &namespace, body.keys.clone(), body.keys).await?;
    Ok(Json(json!({ "ok": true, "values": values })))
}

/// One `mget` for a batch route: `{label: value or null}`, labels being the keys as the
/// client named them.
async fn lookup_batch(
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

#[utoipa::path(delete, path = "/v1/cache", tag = "admin", params(("pattern" = Option<String>, Query, description = "glob; none: clear everything")),
    security(("bearer" = ["admin"])), responses((status = 200, description = "`{\"deleted\":N}`"), (status = 400, body = ErrorBody), (status = 401, description = "No token, or an unknown one", body = ErrorBody), (status = 403, description = "The token's scope is below admin", body = ErrorBody)))]
async fn delete_pattern(
    _: Admin,
    State(state): State<AppState>,
    Params(params): Params,
) -> Result<Json<Value>, ApiError> {
    let deleted = match params.get("pattern") {
        Some(pattern) => state.cache.delete_pattern(pattern).await?,
        None => state.cache.clear_all().await?,
    };
    Ok(Json(json!({ "deleted": deleted })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TagsBody {
    tags: Vec<String>,
}

#[utoipa::path(post, path = "/v1/invalidate", tag = "admin", request_body = TagsBody, security(("bearer" = ["admin"])),
    responses((status = 200, description = "`{\"deleted\":N}`"), (status = 400, body = ErrorBody), (status = 401, description = "No token, or an unknown one", body = ErrorBody), (status = 403, description = "The token's scope is below admin", body = ErrorBody)))]
async fn invalidate(
    _: Admin,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<TagsBody>,
) -> Result<Json<Value>, ApiError> {
    check_batch(body.tags.len(), &state)?;
    let deleted = state.cache.invalidate_tags(&body.tags).await?;
    Ok(Json(json!({ "deleted": deleted })))
}

#[utoipa::path(get, path = "/v1/stats", tag = "operations", security(("bearer" = ["read"])), responses((status = 200, description = "`StatsResponse` (api.rs): available, stats, config, message, the Python cache managers' shape; plus namespaces and tiers"), (status = 401, description = "No token or an unknown one, once read or write tokens are configured", body = ErrorBody), (status = 403, description = "The token's scope is below read", body = ErrorBody)))]
async fn stats(_: Read, State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(crate::api::stats_body(&state.cache.stats().await?)))
}

#[utoipa::path(get, path = "/results/{model}/{h}", tag = "results", security(("bearer" = ["read"])), params(("model" = String, Path), ("h" = String, Path)),
    responses((status = 200, description = "The stored payload"), (status = 404, body = ErrorBody), (status = 401, description = "No token or an unknown one, once read or write tokens are configured", body = ErrorBody), (status = 403, description = "The token's scope is below read", body = ErrorBody)))]
async fn results_get(
    _: Read,
    State(state): State<AppState>,
    Segments((model, h)): Segments<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    match state
        .cache
        .get::<Value>(RESULTS, &format!("{model}:{h}"))
        .await?
    {
        Some(payload) => Ok(Json(payload)),
        None => Err(ApiError::not_found(format!(
            "no result for model {model} and file {h}"
        ))),
    }
}

#[utoipa::path(post, path = "/results/{model}/{h}", tag = "results", security(("bearer" = ["write"])), params(("model" = String, Path), ("h" = String, Path)), request_body(content = Object),
    responses((status = 200, description = "`{\"ok\":true}`"), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody), (status = 401, description = "No token or an unknown one, once read or write tokens are configured", body = ErrorBody), (status = 403, description = "The token's scope is below write", body = ErrorBody)))]
async fn results_post(
    _: Write,
    State(state): State<AppState>,
    Segments((model, h)): Segments<(String, String)>,
    // A result is an object (a model's inference output), as the document says.
    JsonBody(payload): JsonBody<Map<String, Value>>,
) -> Result<Json<Value>, ApiError> {
    state
        .cache
        .set(RESULTS, &format!("{model}:{h}"), &payload)
        .await?;
    Ok(Json(json!({ "ok": true })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct HashesBody {
    hashes: Vec<String>,
}

#[utoipa::path(post, path = "/results/{model}/batch", tag = "results", security(("bearer" = ["read"])), params(("model" = String, Path)), request_body = HashesBody,
    responses((status = 200, description = "`{\"ok\":true,\"payloads\":{h: payload or null}}`"), (status = 400, body = ErrorBody), (status = 401, description = "No token or an unknown one, once read or write tokens are configured", body = ErrorBody), (status = 403, description = "The token's scope is below read", body = ErrorBody)))]
async fn results_batch(
    _: Read,
    State(state): State<AppState>,
    Segments(model): Segments<String>,
    JsonBody(body): JsonBody<HashesBody>,
) -> Result<Json<Value>, ApiError> {
    // The route's model is checked even for an empty batch; an empty hash names nothing.
    hoard::key::validate_key(&model)?;
    if body.hashes.iter().any(String::is_empty) {
        return Err(ApiError::bad_request("invalid_key", "a hash is empty"));
    }
    let keys: Vec<String> = body.hashes.iter().map(|h| format!("{model}:{h}")).collect();
    let payloads = lookup_batch(&state, RESULTS, keys, body.hashes).await?;
    Ok(Json(json!({ "ok": true, "payloads": payloads })))
}

/// Prometheus text format: counters and gauges named `hoard_*`.
/// `/v1/cache/{namespace}/`: a request for the empty key.
async fn empty_key() -> ApiError {
    ApiError::bad_request("invalid_key", "invalid key \"\": key is empty")
}
