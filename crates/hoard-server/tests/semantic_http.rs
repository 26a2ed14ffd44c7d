//! The semantic routes over a real socket with the real all-MiniLM-L6-v2 weights
//! (`$HOARD_MINILM_DIR`, fetched by scripts/test).

#![cfg(feature = "semantic-local")]
// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use hoard::Cache;
use hoard_server::AppState;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

const TOKEN: &str = "test-admin-token-0123456789";

async fn start() -> String {
    let dir = std::env::var("HOARD_MINILM_DIR")
        .expect("HOARD_MINILM_DIR is not set: scripts/test fetches all-MiniLM-L6-v2 and sets it");
    let spec = hoard_semantic::embed::EmbedderSpec {
        model: dir,
        ..Default::default()
    };
    let embedder = hoard_semantic::embed::from_spec(&spec, std::path::Path::new("/nonexistent"))
        .await
        .unwrap();
    let cache = Cache::in_memory();
    let semantic = hoard_semantic::SemanticCache::new(
        cache.clone(),
        embedder,
        hoard_semantic::SemanticConfig::default(),
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = AppState {
        datasets: Arc::new(hoard_datasets::Datasets::new(cache.clone(), []).unwrap()),
        semantic: Some(Arc::new(semantic)),
        cache,
        access: hoard_server::Access::admin(TOKEN),
        max_batch: 100,
        max_body: 64 * 1024,
        history: hoard_server::StatsHistory::new(std::time::Duration::from_secs(5)),
        models: std::sync::Arc::new(hoard_models::Layout::new(
            &Default::default(),
            std::path::Path::new("."),
        )),
    };
    tokio::spawn(hoard_server::serve(listener, state, std::future::pending()));
    base
}

async fn post(base: &str, path: &str, body: Value) -> (StatusCode, Value) {
    let response = Client::new()
        .post(format!("{base}{path}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_lookup_and_drop_by_meaning() {
    let base = start().await;
    let (status, stored) = post(
        &base,
        "/v1/semantic/support",
        json!({"query": "How do I cancel my subscription?", "value": {"answer": "Settings > Billing"}, "ttl": "1h"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    assert!(stored["id"].as_u64().is_some());

    let (status, hit) = post(
        &base,
        "/v1/semantic/support/lookup",
        json!({"query": "What's the way to cancel my subscription?"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(hit["hit"], true, "{hit}");
    assert_eq!(hit["value"], json!({"answer": "Settings > Billing"}));
    assert_eq!(hit["matched_query"], "How do I cancel my subscription?");
    assert!(hit["similarity"].as_f64().unwrap() > 0.85);

    let (_, trap) = post(
        &base,
        "/v1/semantic/support/lookup",
        json!({"query": "Don't cancel my subscription"}),
    )
    .await;
    assert_eq!(trap["hit"], false, "{trap}");
    assert_eq!(trap["value"], Value::Null);

    // Filters are partitions.
    post(
        &base,
        "/v1/semantic/support",
        json!({"query": "What is my balance?", "value": 10, "filters": {"user_id": 7}}),
    )
    .await;
    let (_, other) = post(
        &base,
        "/v1/semantic/support/lookup",
        json!({"query": "What is my balance?", "filters": {"user_id": 8}}),
    )
    .await;
    assert_eq!(other["hit"], false);
    let (_, own) = post(
        &base,
        "/v1/semantic/support/lookup",
        json!({"query": "What is my balance?", "filters": {"user_id": "7"}}),
    )
    .await;
    assert_eq!(own["value"], 10);

    for (body, code) in [
        (json!({"query": "x", "threshold": 1.5}), "invalid_threshold"),
        (json!({"query": "x", "threshold": -1}), "invalid_threshold"),
        (json!({"query": ""}), "bad_query"),
        (json!({"query": "x", "filters": {"a": [1]}}), "bad_filter"),
        (json!({"text": "x"}), "bad_json"),
    ] {
        let (status, error) = post(&base, "/v1/semantic/support/lookup", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(error["error"], code, "{body}: {error}");
    }
    let (status, _) = post(&base, "/v1/semantic/bad:ns/lookup", json!({"query": "x"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let client = Client::new();
    let unauthorized = client
        .delete(format!("{base}/v1/semantic/support"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), StatusCode::UNAUTHORIZED);
    let by_filter: Value = client
        .delete(format!("{base}/v1/semantic/support?filter=user_id:7"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_filter["deleted"], 1);
    let dropped: Value = client
        .delete(format!("{base}/v1/semantic/support"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(dropped["deleted"], 1);
    let (_, after) = post(
        &base,
        "/v1/semantic/support/lookup",
        json!({"query": "How do I cancel my subscription?"}),
    )
    .await;
    assert_eq!(after["hit"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feedback_on_a_wrong_hit_stops_it() {
    let base = start().await;
    let (_, stored) = post(
        &base,
        "/v1/semantic/files",
        json!({"query": "How do I upload a file to the shared drive?", "value": "drag it in"}),
    )
    .await;
    // A neighbour scored above the threshold the lookup asks for: served at first.
    let trap =
        json!({"query": "How do I download a file from the shared drive?", "threshold": 0.5});
    let (_, hit) = post(&base, "/v1/semantic/files/lookup", trap.clone()).await;
    assert_eq!(hit["hit"], true, "{hit}");
    assert_eq!(hit["id"], stored["id"], "the hit names its entry");

    let wrong = json!({"id": hit["id"], "correct": false, "similarity": hit["similarity"]});
    let (status, judged) = post(&base, "/v1/semantic/files/feedback", wrong).await;
    assert_eq!(status, StatusCode::OK, "{judged}");
    assert_eq!(judged["refuted"], 1);
    assert!(judged["min_similarity"].as_f64().unwrap() > hit["similarity"].as_f64().unwrap());

    let (_, again) = post(&base, "/v1/semantic/files/lookup", trap).await;
    assert_eq!(again["hit"], false, "{again}");
    assert_eq!(again["refused_by"], "feedback");
    let (_, itself) = post(
        &base,
        "/v1/semantic/files/lookup",
        json!({"query": "How do I upload a file to the shared drive?"}),
    )
    .await;
    assert_eq!(itself["hit"], true, "the question itself is still served");

    let (status, missing) = post(
        &base,
        "/v1/semantic/files/feedback",
        json!({"id": 1, "correct": false, "similarity": 0.9}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
    for body in [
        json!({"id": "x", "correct": false}),
        json!({"id": 1}),
        json!({"id": hit["id"], "correct": false, "similarity": 2.0}),
    ] {
        let (status, error) = post(&base, "/v1/semantic/files/feedback", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {error}");
    }
}

/// A chat stored and looked up as `messages` (as chat APIs send them): its last user
/// message is the question, the turns before it the context. The same chat is a hit; one
/// whose history is about something else is not; `messages` with `query` or `context`, or
/// without a user message, is a 400 that says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chats_are_stored_and_looked_up_as_messages() {
    let base = start().await;
    let chat = |thing: &str| {
        json!([
            {"role": "system", "content": "You are a support agent."},
            {"role": "user", "content": format!("I have a {thing} with you.")},
            {"role": "assistant", "content": "Sure, I can help with that."},
            {"role": "user", "content": "How do I cancel it?"},
        ])
    };
    let (status, stored) = post(
        &base,
        "/v1/semantic/chats",
        json!({"messages": chat("gym membership"), "value": {"answer": "Front desk"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    let (status, hit) = post(
        &base,
        "/v1/semantic/chats/lookup",
        json!({"messages": chat("gym membership")}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{hit}");
    assert_eq!(hit["hit"], true, "{hit}");
    assert_eq!(hit["matched_query"], "How do I cancel it?");
    assert_eq!(hit["value"], json!({"answer": "Front desk"}));
    let (_, other) = post(
        &base,
        "/v1/semantic/chats/lookup",
        json!({"messages": chat("car insurance policy")}),
    )
    .await;
    assert_eq!(other["hit"], false, "{other}");
    for (body, says) in [
        (json!({"messages": chat("x"), "query": "q"}), "not both"),
        (
            json!({"messages": chat("x"), "context": "c"}),
            "their own context",
        ),
        (
            json!({"messages": [{"role": "assistant", "content": "Hi"}]}),
            "no user message",
        ),
        (json!({}), "is required"),
    ] {
        let (status, error) = post(&base, "/v1/semantic/chats/lookup", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
        let message = error["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{message}");
    }
}
