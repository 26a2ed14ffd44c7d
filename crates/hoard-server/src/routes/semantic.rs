//! The semantic cache over HTTP: lookup by meaning, store, feedback on hits, and drop a
//! namespace.

use crate::auth::{Admin, Read, Write};
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::extract::{JsonBody, Params, Segments};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use hoard_semantic::{Query, SemanticCache, Store};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

fn semantic(state: &AppState) -> Result<&Arc<SemanticCache>, ApiError> {
    state.semantic.as_ref().ok_or_else(|| {
        ApiError::new(
            ErrorCode::SemanticDisabled,
            "no semantic cache is configured: set [semantic] model in hoard.toml",
        )
    })
}

/// Filter values may be strings, numbers or booleans; they are compared as text.
fn filters(raw: Option<Map<String, Value>>) -> Result<BTreeMap<String, String>, ApiError> {
    let mut out = BTreeMap::new();
    for (name, value) in raw.unwrap_or_default() {
        let text = match value {
            Value::String(text) => text,
            Value::Number(number) => number.to_string(),
            Value::Bool(flag) => flag.to_string(),
            other => {
                return Err(ApiError::new(
                    ErrorCode::BadFilter,
                    format!("filter {name:?} must be a string, number or boolean, not {other}"),
                ))
            }
        };
        out.insert(name, text);
    }
    Ok(out)
}

/// The question and its context: `query` (and `context`), or a chat's `messages` (its
/// last user message, and the turns before it), never both.
fn question(
    query: Option<String>,
    context: Option<String>,
    messages: Option<Vec<hoard_semantic::Message>>,
) -> Result<(String, Option<String>), ApiError> {
    match (query, messages) {
        (Some(query), None) => Ok((text("query", query)?, context)),
        (None, Some(messages)) if context.is_none() => {
            Ok(hoard_semantic::cache::split_messages(&messages)?)
        }
        (None, Some(_)) => Err(ApiError::new(
            ErrorCode::BadQuery,
            "`messages` carry their own context: send `context` only with `query`",
        )),
        (Some(_), Some(_)) => Err(ApiError::new(
            ErrorCode::BadQuery,
            "send `query` or `messages`, not both",
        )),
        (None, None) => Err(ApiError::new(
            ErrorCode::BadQuery,
            "`query` (a question) or `messages` (a chat, `[{\"role\", \"content\"}]`) is required",
        )),
    }
}

/// One turn of a chat in a request body.
#[derive(utoipa::ToSchema)]
#[schema(as = Message)]
#[allow(dead_code)] // a schema only: the body reads `hoard_semantic::Message`
pub(crate) struct MessageSchema {
    /// `user`, `assistant`, `system`...: the last `user` message is the question.
    role: String,
    /// What was said.
    content: String,
}

fn text(field: &str, value: String) -> Result<String, ApiError> {
    if value.trim().is_empty() {
        return Err(ApiError::new(
            ErrorCode::BadQuery,
            format!("`{field}` is empty"),
        ));
    }
    Ok(value)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LookupBody {
    /// The question (or `messages`).
    query: Option<String>,
    threshold: Option<f32>,
    #[schema(value_type = Option<Object>)]
    filters: Option<Map<String, Value>>,
    /// The conversation so far, with `query`.
    context: Option<String>,
    /// A chat instead of `query` and `context`: its last user message is the question.
    #[schema(value_type = Option<Vec<MessageSchema>>)]
    messages: Option<Vec<hoard_semantic::Message>>,
}

#[utoipa::path(post, path = "/v1/semantic/{namespace}/lookup", tag = "semantic", security(("bearer" = ["read"])), params(("namespace" = String, Path)), request_body = LookupBody,
    responses((status = 200, description = "`{\"hit\",\"id\",\"similarity\",\"matched_query\",\"value\"}` (`id` names the entry for feedback); on a miss also `refused_by` when a candidate cleared the threshold but failed a guard"),
        (status = 400, body = ErrorBody), (status = 503, body = ErrorBody), (status = 401, description = "No token or an unknown one, once read or write tokens are configured", body = ErrorBody), (status = 403, description = "The token's scope is below read", body = ErrorBody)))]
pub(crate) async fn lookup(
    _: Read,
    State(state): State<AppState>,
    Segments(namespace): Segments<String>,
    JsonBody(body): JsonBody<LookupBody>,
) -> Result<Json<Value>, ApiError> {
    let semantic = semantic(&state)?;
    let (text, context) = question(body.query, body.context, body.messages)?;
    let query = Query {
        text,
        threshold: body.threshold,
        filters: filters(body.filters)?,
        context,
    };
    let outcome = semantic.lookup_detailed(&namespace, &query).await?;
    Ok(Json(match outcome.hit {
        Some(hit) => json!({
            "hit": true,
            "id": hit.id,
            "similarity": hit.similarity,
            "matched_query": hit.matched_query,
            "value": hit.value,
        }),
        None => {
            let refused = outcome
                .near_miss
                .filter(|near| near.verdict != hoard_semantic::Verdict::Pass);
            let mut body = json!({
                "hit": false,
                "id": Value::Null,
                "similarity": Value::Null,
                "matched_query": Value::Null,
                "value": Value::Null,
            });
            if let (Some(near), Value::Object(fields)) = (refused, &mut body) {
                fields.insert("refused_by".into(), json!(near.verdict));
            }
            body
        }
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoreBody {
    /// The question answered (or `messages`).
    query: Option<String>,
    #[schema(value_type = Object)]
    value: Value,
    ttl: Option<String>,
    #[schema(value_type = Option<Object>)]
    filters: Option<Map<String, Value>>,
    /// The conversation it was asked in, with `query`.
    context: Option<String>,
    /// The chat it was asked in instead of `query` and `context`: its last user message is
    /// the question.
    #[schema(value_type = Option<Vec<MessageSchema>>)]
    messages: Option<Vec<hoard_semantic::Message>>,
}

#[utoipa::path(post, path = "/v1/semantic/{namespace}", tag = "semantic", security(("bearer" = ["write"])), params(("namespace" = String, Path)), request_body = StoreBody,
    responses((status = 200, description = "`{\"ok\":true,\"id\":N}`"), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody), (status = 401, description = "No token or an unknown one, once read or write tokens are configured", body = ErrorBody), (status = 403, description = "The token's scope is below write", body = ErrorBody)))]
pub(crate) async fn store(
    _: Write,
    State(state): State<AppState>,
    Segments(namespace): Segments<String>,
    JsonBody(body): JsonBody<StoreBody>,
) -> Result<Json<Value>, ApiError> {
    let semantic = semantic(&state)?;
    let (question, context) = question(body.query, body.context, body.messages)?;
    let options = Store {
        ttl: body
            .ttl
            .map(|ttl| hoard::ttl::parse_duration(&ttl))
            .transpose()?,
        filters: filters(body.filters)?,
        context,
    };
    let id = semantic
        .store(&namespace, &question, body.value, &options)
        .await?;
    Ok(Json(json!({ "ok": true, "id": id })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FeedbackBody {
    /// The `id` a lookup returned with its hit.
    id: u64,
    /// Whether that hit was the right answer.
    correct: bool,
    /// The `similarity` the lookup returned; without it, that of the last hit this server
    /// served from the entry.
    similarity: Option<f32>,
}

#[utoipa::path(post, path = "/v1/semantic/{namespace}/feedback", tag = "semantic", security(("bearer" = ["write"])), params(("namespace" = String, Path)), request_body = FeedbackBody,
    responses((status = 200, description = "`{\"ok\":true,\"min_similarity\",\"confirmed\",\"refuted\"}`: judged wrong, the entry is served from then on only to queries more similar than `min_similarity`"),
        (status = 404, description = "No such entry (never stored, expired or deleted)", body = ErrorBody),
        (status = 400, body = ErrorBody), (status = 503, body = ErrorBody), (status = 401, description = "No token or an unknown one, once read or write tokens are configured", body = ErrorBody), (status = 403, description = "The token's scope is below write", body = ErrorBody)))]
pub(crate) async fn feedback(
    _: Write,
    State(state): State<AppState>,
    Segments(namespace): Segments<String>,
    JsonBody(body): JsonBody<FeedbackBody>,
) -> Result<Json<Value>, ApiError> {
    let semantic = semantic(&state)?;
    let judged = semantic
        .feedback(&namespace, body.id, body.correct, body.similarity)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!("no semantic entry {} in {namespace:?}", body.id))
        })?;
    Ok(Json(json!({
        "ok": true,
        "min_similarity": judged.min_similarity,
        "confirmed": judged.confirmed,
        "refuted": judged.refuted,
    })))
}

#[utoipa::path(delete, path = "/v1/semantic/{namespace}", tag = "admin", params(("namespace" = String, Path),
        ("id" = Option<u64>, Query, description = "delete one entry"), ("filter" = Option<String>, Query, description = "delete entries with these filters: `user_id:7,org:3`")),
    security(("bearer" = ["admin"])),
    responses((status = 200, description = "`{\"deleted\":N}`; without id or filter the whole namespace goes"), (status = 400, body = ErrorBody), (status = 401, description = "No token, or an unknown one", body = ErrorBody), (status = 403, description = "The token's scope is below admin", body = ErrorBody)))]
pub(crate) async fn drop_namespace(
    _: Admin,
    State(state): State<AppState>,
    Segments(namespace): Segments<String>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let semantic = semantic(&state)?;
    if let Some(id) = params.get("id") {
        let id: u64 = id.parse().map_err(|_| {
            ApiError::new(ErrorCode::BadQuery, format!("id {id:?} is not a number"))
        })?;
        let deleted = semantic.delete(&namespace, id).await?;
        return Ok(Json(json!({ "deleted": u64::from(deleted) })));
    }
    if let Some(spec) = params.get("filter") {
        let mut wanted = BTreeMap::new();
        for part in spec.split(',').filter(|p| !p.is_empty()) {
            let (name, value) = part.split_once(':').ok_or_else(|| {
                ApiError::new(
                    ErrorCode::BadFilter,
                    format!("filter {part:?} is not NAME:VALUE"),
                )
            })?;
            wanted.insert(name.to_owned(), value.to_owned());
        }
        if wanted.is_empty() {
            return Err(ApiError::new(ErrorCode::BadFilter, "the filter is empty"));
        }
        let deleted = semantic.delete_where(&namespace, &wanted).await?;
        return Ok(Json(json!({ "deleted": deleted })));
    }
    let deleted = semantic.clear(&namespace).await?;
    Ok(Json(json!({ "deleted": deleted })))
}
