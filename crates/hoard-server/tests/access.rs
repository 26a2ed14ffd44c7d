//! Token scopes over HTTP: `read` < `write` < `admin`. Without read or write tokens, reads
//! and writes are open and admin routes need the admin token (hoard's loopback default);
//! with them, every route but `/health`, `/ready` and `/openapi.json` needs a token of its
//! scope: 401 (with `WWW-Authenticate: Bearer`) without one or with an unknown one, 403 when
//! the scope is too low.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use hoard::Cache;
use hoard_server::{Access, AppState};
use reqwest::{header, Client, Method, StatusCode};
use serde_json::{json, Value};

const ADMIN: &str = "admin-token-0123456789";
const WRITE: &str = "write-token-0123456789";
const READ: &str = "read-token-01234567890";
const OTHER_READ: &str = "read-token-second-0123";

struct Server {
    base: String,
    client: Client,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start(access: Access) -> Server {
    let cache = Cache::in_memory();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = AppState {
        semantic: None,
        datasets: std::sync::Arc::new(hoard_datasets::Datasets::new(cache.clone(), []).unwrap()),
        cache,
        access,
        max_batch: 100,
        max_body: 64 * 1024,
        history: hoard_server::StatsHistory::new(std::time::Duration::from_secs(5)),
        models: std::sync::Arc::new(hoard_models::Layout::new(
            &Default::default(),
            std::path::Path::new("."),
        )),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(hoard_server::serve(listener, state, async {
        let _ = stopped.await;
    }));
    Server {
        base,
        client: Client::new(),
        _stop: stop,
    }
}

async fn guarded() -> Server {
    start(Access::new([ADMIN], [WRITE], [READ, OTHER_READ])).await
}

/// What a call answered: status, `WWW-Authenticate` (empty if none), JSON body.
struct Answer {
    status: StatusCode,
    challenge: String,
    body: Value,
}

impl Server {
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&str>,
        token: Option<&str>,
    ) -> Answer {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let challenge = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let text = response.text().await.unwrap();
        Answer {
            status,
            challenge,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        }
    }
}

fn assert_unauthorized(answer: &Answer, what: &str) {
    assert_eq!(
        answer.status,
        StatusCode::UNAUTHORIZED,
        "{what}: {}",
        answer.body
    );
    assert_eq!(answer.body["error"], json!("unauthorized"), "{what}");
    assert!(
        answer.challenge.starts_with("Bearer"),
        "{what}: {:?}",
        answer.challenge
    );
}

fn assert_forbidden(answer: &Answer, what: &str) {
    assert_eq!(
        answer.status,
        StatusCode::FORBIDDEN,
        "{what}: {}",
        answer.body
    );
    assert_eq!(answer.body["error"], json!("insufficient_scope"), "{what}");
    assert!(
        answer.challenge.contains("insufficient_scope"),
        "{what}: {:?}",
        answer.challenge
    );
}

#[tokio::test]
async fn a_read_token_reads_a_write_token_writes_an_admin_token_does_everything() {
    let s = guarded().await;
    let entry = "/v1/cache/model/k";
    let put = |token| s.call(Method::PUT, entry, Some(r#"{"v":1}"#), token);

    // No token, or a wrong one: 401 on reads and writes alike.
    assert_unauthorized(&put(None).await, "PUT without a token");
    assert_unauthorized(
        &s.call(Method::GET, entry, None, None).await,
        "GET without a token",
    );
    assert_unauthorized(
        &s.call(Method::GET, entry, None, Some("read-token-0123456789X"))
            .await,
        "GET with an unknown token",
    );
    // A read token reads but cannot write: 403, judged before the body (which is not even
    // JSON here).
    assert_forbidden(&put(Some(READ)).await, "PUT with a read token");
    assert_forbidden(
        &s.call(Method::PUT, entry, Some("not json"), Some(READ))
            .await,
        "PUT of a bad body with a read token",
    );
    assert_eq!(
        s.call(Method::GET, entry, None, Some(READ)).await.status,
        StatusCode::NOT_FOUND
    );

    // A write token writes and reads.
    assert_eq!(put(Some(WRITE)).await.status, StatusCode::OK);
    let got = s.call(Method::GET, entry, None, Some(WRITE)).await;
    assert_eq!((got.status, got.body), (StatusCode::OK, json!({"v": 1})));
    // Both read tokens read it.
    for token in [READ, OTHER_READ] {
        let got = s.call(Method::GET, entry, None, Some(token)).await;
        assert_eq!((got.status, got.body), (StatusCode::OK, json!({"v": 1})));
    }
    let batch = s
        .call(
            Method::POST,
            "/v1/cache/model/batch",
            Some(r#"{"keys":["k"]}"#),
            Some(READ),
        )
        .await;
    assert_eq!(batch.body["values"]["k"], json!({"v": 1}));
    assert_forbidden(
        &s.call(Method::DELETE, entry, None, Some(READ)).await,
        "DELETE with a read token",
    );

    // Results follow the same rule.
    let result = "/results/wav2vec2/f7fb16";
    let payload = Some(r#"{"probabilities":{"happy":0.9}}"#);
    assert_forbidden(
        &s.call(Method::POST, result, payload, Some(READ)).await,
        "results POST, read",
    );
    assert_eq!(
        s.call(Method::POST, result, payload, Some(WRITE))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        s.call(Method::GET, result, None, Some(READ)).await.status,
        StatusCode::OK
    );
    assert_unauthorized(
        &s.call(Method::GET, result, None, None).await,
        "results GET, no token",
    );

    // Admin routes: 403 for write and read tokens, done with the admin token.
    let pattern = "/v1/cache?pattern=model:*";
    assert_forbidden(
        &s.call(Method::DELETE, pattern, None, Some(WRITE)).await,
        "pattern delete, write",
    );
    assert_forbidden(
        &s.call(Method::DELETE, pattern, None, Some(READ)).await,
        "pattern delete, read",
    );
    assert_unauthorized(
        &s.call(Method::DELETE, pattern, None, None).await,
        "pattern delete, none",
    );
    let tags = Some(r#"{"tags":["x"]}"#);
    assert_forbidden(
        &s.call(Method::POST, "/v1/invalidate", tags, Some(WRITE))
            .await,
        "invalidate",
    );
    assert_eq!(
        s.call(Method::POST, "/v1/invalidate", tags, Some(ADMIN))
            .await
            .status,
        StatusCode::OK
    );
    // The admin token also reads and writes.
    assert_eq!(put(Some(ADMIN)).await.status, StatusCode::OK);
    assert_eq!(
        s.call(Method::GET, entry, None, Some(ADMIN)).await.status,
        StatusCode::OK
    );
    let deleted = s.call(Method::DELETE, pattern, None, Some(ADMIN)).await;
    assert_eq!(
        (deleted.status, deleted.body),
        (StatusCode::OK, json!({"deleted": 1}))
    );

    // Operations: health, readiness and the document stay open; stats and metrics read.
    for path in ["/health", "/ready", "/openapi.json"] {
        assert_eq!(
            s.call(Method::GET, path, None, None).await.status,
            StatusCode::OK,
            "{path}"
        );
    }
    for path in [
        "/v1/stats",
        "/v1/stats/history",
        "/v1/models",
        "/metrics",
        "/datasets",
    ] {
        assert_unauthorized(&s.call(Method::GET, path, None, None).await, path);
        assert_eq!(
            s.call(Method::GET, path, None, Some(READ)).await.status,
            StatusCode::OK,
            "{path}"
        );
    }
    // A semantic lookup is a read, a store a write: judged before the cache says it is off.
    let lookup = "/v1/semantic/faq/lookup";
    let query = Some(r#"{"query":"hi"}"#);
    assert_unauthorized(
        &s.call(Method::POST, lookup, query, None).await,
        "semantic lookup",
    );
    let off = s.call(Method::POST, lookup, query, Some(READ)).await;
    assert_eq!(off.body["error"], json!("semantic_disabled"));
    let store = Some(r#"{"query":"hi","value":1}"#);
    assert_forbidden(
        &s.call(Method::POST, "/v1/semantic/faq", store, Some(READ))
            .await,
        "semantic store",
    );
    let feedback = Some(r#"{"id":1,"correct":false}"#);
    assert_forbidden(
        &s.call(
            Method::POST,
            "/v1/semantic/faq/feedback",
            feedback,
            Some(READ),
        )
        .await,
        "semantic feedback",
    );
}

#[tokio::test]
async fn without_read_or_write_tokens_reads_and_writes_stay_open() {
    let s = start(Access::admin(ADMIN)).await;
    let entry = "/v1/cache/model/k";
    assert_eq!(
        s.call(Method::PUT, entry, Some("1"), None).await.status,
        StatusCode::OK
    );
    assert_eq!(s.call(Method::GET, entry, None, None).await.body, json!(1));
    // A token nobody configured changes nothing on an open route.
    assert_eq!(
        s.call(Method::GET, entry, None, Some("whatever"))
            .await
            .body,
        json!(1)
    );
    assert_eq!(
        s.call(Method::GET, "/metrics", None, None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        s.call(Method::GET, "/v1/stats", None, None).await.status,
        StatusCode::OK
    );
    // Admin routes need the admin token, as before.
    let pattern = "/v1/cache?pattern=model:*";
    assert_unauthorized(
        &s.call(Method::DELETE, pattern, None, None).await,
        "no token",
    );
    assert_unauthorized(
        &s.call(Method::DELETE, pattern, None, Some("whatever"))
            .await,
        "wrong",
    );
    assert_eq!(
        s.call(Method::DELETE, pattern, None, Some(ADMIN))
            .await
            .status,
        StatusCode::OK
    );
}

/// The OpenAPI document says which scope each route needs, and the server asks exactly
/// that: with tokens configured, no token is 401 on every route with a security
/// requirement (and on none without), and a read token is 403 exactly where the document
/// names a higher scope.
#[tokio::test]
async fn every_route_asks_for_the_scope_its_document_names() {
    let s = guarded().await;
    let doc = s.call(Method::GET, "/openapi.json", None, None).await.body;
    let scheme = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["scheme"], json!("bearer"));
    assert!(scheme["description"]
        .as_str()
        .unwrap()
        .contains("read_tokens"));
    let mut guarded_routes = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let concrete = path
                .replace("{namespace}", "ns")
                .replace("{key}", "k")
                .replace("{model}", "m")
                .replace("{h}", "h");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let what = format!("{method} {path}");
            let scope = operation["security"][0]["bearer"][0].as_str();
            let anonymous = s.call(method.clone(), &concrete, Some("{}"), None).await;
            let with_read = s
                .call(method.clone(), &concrete, Some("{}"), Some(READ))
                .await;
            match scope {
                None => {
                    assert_ne!(anonymous.status, StatusCode::UNAUTHORIZED, "{what}");
                    continue;
                }
                Some(scope) => {
                    guarded_routes += 1;
                    assert_unauthorized(&anonymous, &what);
                    let responses = &operation["responses"];
                    assert!(
                        responses["401"].is_object() && responses["403"].is_object(),
                        "{what}"
                    );
                    if scope == "read" {
                        assert!(
                            !matches!(
                                with_read.status,
                                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
                            ),
                            "{what}: {}",
                            with_read.body
                        );
                    } else {
                        assert!(scope == "write" || scope == "admin", "{what}: {scope}");
                        assert_forbidden(&with_read, &what);
                    }
                }
            }
        }
    }
    // Every route but /health, /ready and /openapi.json; the semantic routes are listed
    // only by a server with a semantic cache.
    assert!(
        guarded_routes >= 16,
        "{guarded_routes} guarded routes documented"
    );
}
