//! The OpenAPI document as this server answers it at `/openapi.json`: the route
//! annotations (collected in `ApiDoc`) plus what they cannot say.
//!
//! - The input rules the cache enforces, written once here next to their source:
//!   namespaces, keys, results' model and hash, tags, TTLs, glob patterns, batch sizes.
//! - The answers every route can give beyond its own: 400 for bad input, 413 for a body
//!   past the limit, 503 when L2 cannot be reached.
//! - This server's configuration: read and write routes need no token while no read or
//!   write tokens are configured, and the semantic routes are listed only when a semantic
//!   cache is.

use crate::api::StatsResponse;
use crate::error::ErrorBody;
use crate::extract::MAX_EXACT_INTEGER;
use crate::routes::{
    cache, dataset_file, datasets, health, metrics, models, results, semantic, stats, ui,
};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use hoard::key::{MAX_KEY_LEN, MAX_NAMESPACE_LEN};
use serde_json::{json, Map, Value};

/// The OpenAPI document, built from the route annotations: it cannot drift from the code.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "hoard", description = "One cache layer for AI/ML backends: cache entries, results, datasets, stats, invalidation."),
    paths(health::health, health::ready, cache::cache_get, cache::cache_put, cache::cache_delete, cache::cache_keys, cache::cache_batch, cache::delete_pattern, cache::invalidate, stats::stats, stats::history, models::models, ui::page, ui::script, ui::style,
        results::results_get, results::results_post, results::results_batch, metrics::metrics, openapi,
        datasets::list, datasets::files, datasets::summary, datasets::reindex, dataset_file::file,
        semantic::lookup, semantic::store, semantic::feedback, semantic::drop_namespace),
    components(schemas(ErrorBody, StatsResponse, crate::history::HistoryResponse, crate::history::Sample, cache::KeysBody, cache::TagsBody, results::HashesBody, datasets::ReindexBody, semantic::LookupBody, semantic::StoreBody, semantic::FeedbackBody)),
    modifiers(&BearerAuth)
)]
pub(crate) struct ApiDoc;

/// The `bearer` security scheme the routes' `security(...)` name.
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
pub(crate) async fn openapi(State(state): State<AppState>) -> Json<Value> {
    Json(document(
        state.access.guarded(),
        state.semantic.is_some(),
        state.max_batch,
    ))
}

/// Characters no key, namespace or tag may contain: controls and whitespace (as Rust's
/// `char::is_control` and `char::is_whitespace` define them), written for JSON Schema
/// regexes (ECMA-262, which Python's `re` reads the same way here).
const FORBIDDEN: &str = r"\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/// A TTL the server takes: `{number}{unit}` groups (`90s`, `2h5m`), at least 1 ms, at most
/// `hoard::ttl::MAX`. A regex cannot add the groups up, so this one describes a subset
/// whose sums stay under the maximum: units largest first, each once, with few digits.
const TTL_PATTERN: &str = "^(?=[0-9])([1-9][0-9]?w)?([1-9][0-9]{0,2}d)?([1-9][0-9]{0,3}h)?\
                           ([1-9][0-9]{0,4}m)?([1-9][0-9]{0,5}s)?([1-9][0-9]{0,8}ms)?$";

fn text(pattern: String, max_length: usize, description: &str) -> Value {
    json!({
        "type": "string",
        "minLength": 1,
        "maxLength": max_length,
        "pattern": pattern,
        "description": description,
    })
}

fn namespace_schema() -> Value {
    text(
        format!("^[^{FORBIDDEN}:]+$"),
        // The limit is in bytes; in characters it holds for ASCII names.
        MAX_NAMESPACE_LEN,
        "1 to 128 bytes, no whitespace, control characters or `:`",
    )
}

fn key_schema(max_length: usize) -> Value {
    text(
        format!("^[^{FORBIDDEN}]+$"),
        max_length,
        "1 to 1024 bytes (with a result's model and hash: together), no whitespace or control characters",
    )
}

fn tags_schema() -> Value {
    json!({
        "type": "string",
        "pattern": format!("^[^{FORBIDDEN}]*$"),
        "description": "comma-separated tags, each a valid key (empty parts are skipped)",
    })
}

/// A results model or hash: key characters; the two together at most 1024 bytes (a
/// per-part length would refuse pairs the server takes).
fn result_part_schema() -> Value {
    json!({
        "type": "string",
        "minLength": 1,
        "pattern": format!("^[^{FORBIDDEN}]+$"),
        "description": "no whitespace or control characters; `{model}:{h}` at most 1024 bytes",
    })
}

fn ttl_schema() -> Value {
    json!({
        "type": "string",
        "pattern": TTL_PATTERN,
        "description": "a duration such as `90s`, `15m` or `2h5m` (units ms, s, m, h, d, w); \
                        at least 1ms, at most 3650d; a bare number is refused",
    })
}

fn glob_schema() -> Value {
    json!({
        "type": "string",
        "minLength": 1,
        // Brackets closed, no trailing backslash: the patterns the server parses.
        "pattern": r"^([^\[\\]|\\.|\[\^?\]?[^\]]*\])+$",
        "description": "a Redis glob over full keys (`{namespace}:{key}`): `*`, `?`, `[abc]`, \
                        `[^a-z]`, `\\` escapes; at most 1000 `*` runs",
    })
}

/// A file's path in a dataset as the text check reads it (`hoard_datasets::path`): relative,
/// `/`-separated, no `..`, no hidden names, no backslash or NUL. (A symlink leading out of
/// the root is refused too, which no pattern can say.)
fn relpath_schema() -> Value {
    const SEGMENT: &str = r"([^./\\\x00][^/\\\x00]*|\.)";
    json!({
        "type": "string",
        "pattern": format!("^{SEGMENT}(/+{SEGMENT}?)*$"),
        "description": "relative to the dataset root, `/`-separated; no `..`, hidden names, backslashes or NUL",
    })
}

/// The schema a parameter of this name gets, if the cache rules it.
fn parameter_schema(name: &str, location: &str) -> Option<Value> {
    Some(match (name, location) {
        ("namespace", "path") => namespace_schema(),
        ("key", "path") => key_schema(MAX_KEY_LEN),
        ("model" | "h", "path") => result_part_schema(),
        ("id" | "results", "query") => key_schema(MAX_KEY_LEN),
        ("relpath", "query") => relpath_schema(),
        ("limit", "query") => json!({ "type": "integer", "minimum": 0, "maximum": 10_000 }),
        ("offset" | "since", "query") => {
            json!({ "type": "integer", "minimum": 0, "maximum": MAX_EXACT_INTEGER })
        }
        ("ttl", "query") => ttl_schema(),
        ("compute", "query") => json!({
            "type": "string",
            "pattern": TTL_PATTERN,
            "description": "how long the value took to compute, a duration such as `850ms` or `2s`",
        }),
        ("tags", "query") => tags_schema(),
        ("pattern", "query") => glob_schema(),
        _ => return None,
    })
}

/// The document for a server with (or without) read/write tokens and a semantic cache.
pub fn document(guarded: bool, semantic: bool, max_batch: usize) -> Value {
    use utoipa::OpenApi;
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or(Value::Null);
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        if !semantic {
            paths.retain(|path, _| !path.starts_with("/v1/semantic"));
        }
        for item in paths.values_mut().filter_map(Value::as_object_mut) {
            for operation in item.values_mut().filter_map(Value::as_object_mut) {
                refine_operation(operation, guarded);
            }
        }
    }
    // A namespace's key listing pages by cursor, with its own page bounds, and its glob
    // is over the keys of one namespace.
    if let Some(operation) = doc.pointer_mut("/paths/~1v1~1cache~1{namespace}/get") {
        let limit = json!({ "type": "integer", "minimum": 1, "maximum": hoard::MAX_SCAN_LIMIT });
        set_parameter(operation, "limit", limit);
        let mut pattern = glob_schema();
        pattern["description"] = json!(
            "a Redis glob over the namespace's keys: `*`, `?`, `[abc]`, `[^a-z]`, `\\` escapes"
        );
        set_parameter(operation, "pattern", pattern);
    }
    // A cache entry is any JSON value, not only an object.
    if let Some(body) = doc.pointer_mut(
        "/paths/~1v1~1cache~1{namespace}~1{key}/put/requestBody/content/application~1json/schema",
    ) {
        *body = json!({ "description": "any JSON value" });
    }
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        let batch =
            |items: Value| json!({ "type": "array", "items": items, "maxItems": max_batch });
        set_property(schemas, "KeysBody", "keys", batch(key_schema(MAX_KEY_LEN)));
        set_property(schemas, "HashesBody", "hashes", batch(result_part_schema()));
        set_property(schemas, "TagsBody", "tags", batch(key_schema(MAX_KEY_LEN)));
        set_property(schemas, "StoreBody", "ttl", ttl_schema());
    }
    doc
}

/// Replaces the schema of `operation`'s parameter `name`.
fn set_parameter(operation: &mut Value, name: &str, schema: Value) {
    let parameters = operation
        .get_mut("parameters")
        .and_then(Value::as_array_mut);
    for parameter in parameters.into_iter().flatten() {
        if parameter.get("name").and_then(Value::as_str) == Some(name) {
            parameter["schema"] = schema.clone();
        }
    }
}

fn set_property(schemas: &mut Map<String, Value>, schema: &str, property: &str, value: Value) {
    if let Some(slot) = schemas
        .get_mut(schema)
        .and_then(|s| s.get_mut("properties"))
        .and_then(|p| p.get_mut(property))
    {
        *slot = value;
    }
}

fn refine_operation(operation: &mut Map<String, Value>, guarded: bool) {
    let admin = operation
        .get("tags")
        .and_then(Value::as_array)
        .is_some_and(|tags| tags.iter().any(|t| t == "admin"));
    if !guarded && !admin {
        // Open to anyone on this server: no token needed, none refused.
        operation.remove("security");
        if let Some(responses) = operation
            .get_mut("responses")
            .and_then(Value::as_object_mut)
        {
            responses.remove("401");
            responses.remove("403");
        }
    }
    let mut takes_input = operation.contains_key("requestBody");
    if let Some(parameters) = operation
        .get_mut("parameters")
        .and_then(Value::as_array_mut)
    {
        for parameter in parameters.iter_mut().filter_map(Value::as_object_mut) {
            takes_input = true;
            let name = parameter.get("name").and_then(Value::as_str).unwrap_or("");
            let location = parameter.get("in").and_then(Value::as_str).unwrap_or("");
            if let Some(schema) = parameter_schema(name, location) {
                parameter.insert("schema".into(), schema);
            }
        }
    }
    let takes_body = operation.contains_key("requestBody");
    let path_is_operations = operation
        .get("tags")
        .and_then(Value::as_array)
        .is_some_and(|tags| tags.iter().any(|t| t == "operations"));
    let error = |description: &str| {
        json!({
            "description": description,
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } } }
        })
    };
    let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    if takes_input {
        responses.entry("400").or_insert_with(|| {
            error("The input breaks a rule its schema states; `error` names which")
        });
    }
    if takes_body {
        responses
            .entry("413")
            .or_insert_with(|| error("The body is larger than `server.max_body`"));
    }
    if !path_is_operations {
        responses
            .entry("503")
            .or_insert_with(|| error("L2 (Redis) did not answer: nothing was acknowledged (a write that timed out may still have landed)"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operations(doc: &Value) -> Vec<(String, String, Value)> {
        let mut out = Vec::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for (method, operation) in item.as_object().into_iter().flatten() {
                out.push((path.clone(), method.clone(), operation.clone()));
            }
        }
        out
    }

    #[test]
    fn an_open_server_documents_its_read_and_write_routes_as_open() {
        let doc = document(false, false, 1000);
        for (path, method, operation) in operations(&doc) {
            let admin = operation["tags"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t == "admin"));
            assert_eq!(
                operation.get("security").is_some(),
                admin,
                "{method} {path}"
            );
        }
        assert!(doc["paths"].get("/v1/semantic/{namespace}").is_none());
        let guarded = document(true, true, 1000);
        assert!(guarded["paths"]["/v1/cache/{namespace}/{key}"]["get"]["security"].is_array());
        assert!(guarded["paths"].get("/v1/semantic/{namespace}").is_some());
    }

    #[test]
    fn every_route_that_takes_input_documents_400_and_every_cache_route_503() {
        let doc = document(true, true, 1000);
        for (path, method, operation) in operations(&doc) {
            let responses = &operation["responses"];
            if operation.get("parameters").is_some() || operation.get("requestBody").is_some() {
                assert!(responses.get("400").is_some(), "{method} {path}");
            }
            if !path.starts_with("/health") && !path.starts_with("/openapi") {
                let ops = operation["tags"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|t| t == "operations"));
                assert!(ops || responses.get("503").is_some(), "{method} {path}");
            }
        }
        let key = &doc["paths"]["/v1/cache/{namespace}/{key}"]["get"]["parameters"];
        assert!(key
            .as_array()
            .is_some_and(|p| p.iter().all(|p| p["schema"].get("pattern").is_some())));
    }

    fn regex(schema: &Value) -> regex::Regex {
        regex::Regex::new(schema["pattern"].as_str().unwrap()).unwrap()
    }

    #[test]
    fn key_and_namespace_patterns_state_exactly_the_characters_the_cache_takes() {
        let (key, namespace) = (regex(&key_schema(MAX_KEY_LEN)), regex(&namespace_schema()));
        for c in (0..0x3100u32)
            .chain(0xfe00..0x10000)
            .filter_map(char::from_u32)
        {
            let text = format!("a{c}b");
            assert_eq!(
                key.is_match(&text),
                hoard::key::validate_key(&text).is_ok(),
                "key with U+{:04X}",
                c as u32
            );
            assert_eq!(
                namespace.is_match(&text),
                hoard::key::validate_namespace(&text).is_ok(),
                "namespace with U+{:04X}",
                c as u32
            );
        }
        assert!(!key.is_match("") && !namespace.is_match(""));
    }

    #[test]
    fn the_relpath_pattern_refuses_exactly_the_texts_the_dataset_check_refuses() {
        let dir = hoard_testkit::temp_dir();
        let root = dir.path().canonicalize().unwrap();
        let re = regex(&relpath_schema());
        // Every text of up to four characters over the characters the rules are about.
        let alphabet = ['a', '.', '/', '\\', '\0', 'é'];
        let mut texts = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..4 {
            last = last
                .iter()
                .flat_map(|t| alphabet.iter().map(move |c| format!("{t}{c}")))
                .collect();
            texts.extend(last.iter().cloned());
        }
        for text in texts {
            // Only the text rules decide: the root is empty, so a text they pass is a miss.
            let refused = matches!(
                hoard_datasets::path::resolve(&root, &text),
                Err(hoard_datasets::PathError::Invalid { .. })
            );
            assert_eq!(re.is_match(&text), !refused, "{text:?}");
        }
    }

    #[test]
    fn the_ttl_pattern_describes_only_ttls_the_cache_takes() {
        // The regex crate has no lookahead; the one in the pattern only refuses "".
        let pattern = TTL_PATTERN.replace("(?=[0-9])", "");
        let re = regex::Regex::new(&pattern).unwrap();
        for ttl in [
            "90s",
            "2h5m",
            "1w",
            "99w999d9999h99999m999999s999999999ms",
            "1ms",
        ] {
            assert!(re.is_match(ttl), "{ttl}");
            let parsed = hoard::ttl::parse_duration(ttl).unwrap();
            assert!(
                parsed <= hoard::ttl::MAX && !parsed.is_zero(),
                "{ttl}: {parsed:?}"
            );
        }
        for refused in ["90", "0s", "1.5h", "-1s", "100w", "1m1h"] {
            assert!(!re.is_match(refused), "{refused}");
        }
    }

    /// The schema at `schema`, following a `$ref` into `doc`'s components, and the one
    /// alternative utoipa wraps a field's `$ref` in to give it a description and default
    /// (or to make it optional: `null` or the `$ref`).
    fn resolved<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
        if let Some(reference) = schema["$ref"].as_str() {
            let pointer = reference.trim_start_matches('#');
            let target = doc
                .pointer(pointer)
                .unwrap_or_else(|| panic!("{reference} is not in the document"));
            return resolved(doc, target);
        }
        // An optional field is `null` or its schema: a field that is sent is the latter.
        let alternatives = schema["oneOf"].as_array().or(schema["allOf"].as_array());
        let not_null: Vec<&Value> = alternatives
            .into_iter()
            .flatten()
            .filter(|s| s["type"] != "null")
            .collect();
        match not_null[..] {
            [only] => resolved(doc, only),
            _ => schema,
        }
    }

    /// Checks that `body` has exactly the properties `schema` declares, each of the declared
    /// JSON type, down through objects, maps and arrays; `at` says where, for the message.
    fn conforms(doc: &Value, schema: &Value, body: &Value, at: &str) {
        let schema = resolved(doc, schema);
        let kind = match body {
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_f64() => "number",
            Value::Number(_) => "integer",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
            Value::Null => "null",
        };
        // One type, or several (`["string", "null"]`: an optional value).
        let declared: Vec<&str> = match &schema["type"] {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => vec!["object"],
        };
        assert!(
            declared
                .iter()
                .any(|d| *d == kind || (*d == "number" && kind == "integer")),
            "{at}: declared {declared:?}, sent {kind}"
        );
        match body {
            Value::Object(fields) => {
                if let Some(properties) = schema["properties"].as_object() {
                    // Every property sent is declared; every required one is sent.
                    for name in fields.keys() {
                        assert!(
                            properties.contains_key(name),
                            "{at}: {name} is not declared"
                        );
                    }
                    let required = schema["required"].as_array().cloned().unwrap_or_default();
                    for name in required.iter().filter_map(Value::as_str) {
                        assert!(
                            fields.contains_key(name),
                            "{at}: required {name} is not sent"
                        );
                    }
                    for (name, value) in fields {
                        conforms(doc, &properties[name], value, &format!("{at}.{name}"));
                    }
                } else {
                    let values = &schema["additionalProperties"];
                    assert!(
                        values.is_object(),
                        "{at}: neither properties nor a map: {schema}"
                    );
                    for (name, value) in fields {
                        conforms(doc, values, value, &format!("{at}[{name}]"));
                    }
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    conforms(doc, &schema["items"], item, &format!("{at}[{i}]"));
                }
            }
            _ => {}
        }
    }

    #[test]
    fn the_stats_route_documents_the_body_it_sends() {
        let stats = crate::api::tests::sample_stats();
        let body = crate::api::stats_body(&stats);
        let doc = document(true, false, 1000);
        let schema = &doc
            .pointer("/paths/~1v1~1stats/get/responses/200/content/application~1json/schema")
            .expect("a 200 body schema for GET /v1/stats");
        assert_eq!(schema["$ref"], "#/components/schemas/StatsResponse");
        conforms(&doc, schema, &body, "stats");
        // Every property is sent by a server with a semantic cache, once it has counted.
        let mut semantic = hoard_semantic::SemanticStats::default();
        semantic.namespaces.insert("faq".into(), Default::default());
        let census = crate::census::CensusReport {
            at_ms: 1_700_000_000_000,
            took_ms: 3,
            scanned: 12,
            namespaces: [(
                "asr".to_owned(),
                crate::census::CensusCounts { keys: 2, bytes: 90 },
            )]
            .into(),
        };
        // ... and has a namespace with a writer.
        let mut stats = stats;
        stats.writers.insert(
            "orders".into(),
            hoard::WriterStats {
                mode: hoard::WriteMode::Behind,
                written: 3,
                pending: 1,
                failures: 2,
                consecutive_failures: 1,
                last_error: Some("database is down".into()),
                ..Default::default()
            },
        );
        let body = crate::api::stats_body_with(&stats, Some(semantic), Some(census));
        let declared = resolved(&doc, schema)["properties"].as_object().unwrap();
        let mut names: Vec<&String> = declared.keys().collect();
        names.sort();
        let sent: Vec<&String> = body.as_object().unwrap().keys().collect();
        assert_eq!(names, sent);
        assert!(body["semantic"]["namespaces"]["faq"]["refusals"]["verifier"].is_u64());
        assert_eq!(body["writers"]["orders"]["mode"], "behind");
        conforms(&doc, schema, &body, "stats");
    }
}
