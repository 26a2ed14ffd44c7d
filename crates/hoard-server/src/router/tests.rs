//! The hit path against the router: the same requests, generated, sent to two servers on
//! two caches of the same contents, one with the hit path in front of its routes and one
//! without, must get the same answers and leave the same counts.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use super::{routed, service};
use crate::auth::Access;
use crate::conn::Api;
use crate::history::StatsHistory;
use crate::hit_path::plain_read;
use crate::request_id::with_request_ids;
use crate::state::AppState;
use axum::body::Body;
use axum::http::{header, StatusCode};
use axum::response::Response;
use hoard::{Cache, SetOptions};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::time::Duration;
use tower::ServiceExt;

const READ_TOKEN: &str = "hit-path-read-token-0123";
const ADMIN_TOKEN: &str = "hit-path-admin-token-0123";

fn state(cache: Cache, guarded: bool) -> AppState {
    let read: &[&str] = if guarded { &[READ_TOKEN] } else { &[] };
    AppState::for_tests(
        cache,
        Access::new([ADMIN_TOKEN], [""; 0], read.iter().copied()),
    )
}

/// A cache holding results, entries with awkward but valid keys, and one value that is not
/// JSON-shaped (MessagePack's reserved byte), each namespace under both routes' names.
async fn filled() -> Cache {
    let cache = Cache::in_memory();
    let values = [
        json!({"label": "happy", "probabilities": {"happy": 0.9452706955539223, "sad": 0.05}}),
        json!([1, -2, 3.5e-300, 18446744073709551615u64, "é", null, true]),
        json!("a \"quoted\" string\n with a tab\t and \u{1F600}"),
        json!({"nested": {"deeper": [{"x": 0.1}, []]}}),
    ];
    for (i, value) in values.iter().enumerate() {
        cache
            .set("result", &format!("m:h{i}"), value)
            .await
            .unwrap();
        cache.set("asr", &format!("clip-{i}"), value).await.unwrap();
    }
    for key in ["a:b", "x.y~z", "batchx", "UPPER_lower-9"] {
        cache.set("asr", key, &json!({"key": key})).await.unwrap();
    }
    cache
        .set("result", "m:batch", &json!("a hash named batch"))
        .await
        .unwrap();
    cache
        .set("asr", "batch", &json!("a key named batch"))
        .await
        .unwrap();
    for (ns, key) in [("asr", "raw"), ("result", "m:raw")] {
        cache
            .set_raw(ns, key, vec![0xc1], SetOptions::default())
            .await
            .unwrap();
    }
    cache
}

/// A path made of the routes' prefixes and segments, stored or not, plain or odd.
fn path(rng: &mut StdRng) -> String {
    const PREFIXES: &[&str] = &["/results", "/v1/cache", "/v1", "/result", ""];
    const SEGMENTS: &[&str] = &[
        "m",
        "asr",
        "h0",
        "h1",
        "h3",
        "h9",
        "clip-0",
        "clip-2",
        "a:b",
        "x.y~z",
        "batch",
        "batchx",
        "raw",
        "UPPER_lower-9",
        "",
        "%6d",
        "h%30",
        "clip%2D1",
        "a%3Ab",
        "%ff",
        "é",
        "..",
        ".",
        "result",
        "_hoard",
        "m:h1",
    ];
    // Half of them a read route's shape, so that many are reads of stored keys.
    const READS: &[&str] = &["/results/m", "/v1/cache/asr", "/v1/cache/result"];
    let (mut path, segments) = if rng.random_bool(0.5) {
        (READS[rng.random_range(0..READS.len())].to_owned(), 1)
    } else {
        let prefix = PREFIXES[rng.random_range(0..PREFIXES.len())];
        (prefix.to_owned(), rng.random_range(0..=3))
    };
    for _ in 0..segments {
        path.push('/');
        path.push_str(SEGMENTS[rng.random_range(0..SEGMENTS.len())]);
    }
    if rng.random_bool(0.1) {
        path.push('/');
    }
    if path.is_empty() {
        path.push('/');
    }
    if rng.random_bool(0.1) {
        path.push_str("?pattern=*");
    }
    path
}

/// A request for `path` by a generated method, with a generated token (or none).
fn request(rng: &mut StdRng, path: &str) -> axum::http::Request<Body> {
    const METHODS: &[&str] = &["GET", "GET", "GET", "HEAD", "POST", "PUT"];
    const TOKENS: &[Option<&str>] = &[
        None,
        Some(READ_TOKEN),
        Some(ADMIN_TOKEN),
        Some("not-a-token"),
        Some(""),
    ];
    let mut builder = axum::http::Request::builder()
        .method(METHODS[rng.random_range(0..METHODS.len())])
        .uri(path);
    if let Some(token) = TOKENS[rng.random_range(0..TOKENS.len())] {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    builder.body(Body::empty()).unwrap()
}

/// What a client sees of an answer: status, content type, body (with the request id it
/// quotes, which differs by design, as `{id}`, and listed keys' remaining time removed),
/// and whether it carried a request id.
async fn seen(response: Response) -> (StatusCode, Option<String>, Value, bool) {
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned());
    let id = response
        .headers()
        .get("x-request-id")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    // A 5xx quotes its request's id: the one in the header, whichever path answered.
    let text = String::from_utf8_lossy(&bytes).replace(id.as_deref().unwrap_or("-"), "{id}");
    let mut body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if let Some(object) = body.as_object_mut() {
        object.remove("request_id");
    }
    scrub_ttls(&mut body);
    (status, content_type, body, id.is_some())
}

/// Drops the `ttl_ms` of listed keys: the two caches were filled a moment apart.
fn scrub_ttls(value: &mut Value) {
    match value {
        Value::Object(object) => {
            object.remove("ttl_ms");
            object.values_mut().for_each(scrub_ttls);
        }
        Value::Array(items) => items.iter_mut().for_each(scrub_ttls),
        _ => {}
    }
}

#[tokio::test]
async fn the_hit_path_answers_as_the_router_does() {
    for guarded in [false, true] {
        let (fast_cache, routed_cache) = (filled().await, filled().await);
        let with_hit_path = service(state(fast_cache.clone(), guarded));
        let without = with_request_ids(
            routed(state(routed_cache.clone(), guarded)),
            StatsHistory::new(Duration::from_secs(5)),
        );
        let mut rng = StdRng::seed_from_u64(0x6869_7470_6174_6800 + u64::from(guarded));
        let mut hits = 0;
        for _ in 0..5000 {
            let path = path(&mut rng);
            let seed = rng.random();
            let fast = with_hit_path
                .clone()
                .oneshot(request(&mut StdRng::seed_from_u64(seed), &path))
                .await
                .unwrap();
            let slow = without
                .clone()
                .oneshot(request(&mut StdRng::seed_from_u64(seed), &path))
                .await
                .unwrap();
            let (fast, slow) = (seen(fast).await, seen(slow).await);
            assert_eq!(fast, slow, "{path} (guarded: {guarded})");
            let plain = plain_read(path.split('?').next().unwrap_or_default()).is_some();
            hits += usize::from(plain && fast.0 == StatusCode::OK);
        }
        // The generated requests reached the hit path, not only the router.
        assert!(hits > 50, "only {hits} hits (guarded: {guarded})");
        let (fast, slow) = (
            fast_cache.stats().await.unwrap(),
            routed_cache.stats().await.unwrap(),
        );
        assert_eq!(fast.namespaces, slow.namespaces, "guarded: {guarded}");
    }
}

/// A rendered value is kept beside its entry, and an overwrite or delete never lets the
/// old text be served.
#[tokio::test]
async fn a_rendered_value_follows_its_entry() {
    let cache = Cache::in_memory();
    let api = service(state(cache.clone(), false));
    cache.set("asr", "k", &json!({"v": 1})).await.unwrap();
    for _ in 0..3 {
        assert_eq!(get(&api, "/v1/cache/asr/k").await.2, json!({"v": 1}));
    }
    cache.set("asr", "k", &json!({"v": 2})).await.unwrap();
    assert_eq!(get(&api, "/v1/cache/asr/k").await.2, json!({"v": 2}));
    cache.delete("asr", "k").await.unwrap();
    assert_eq!(get(&api, "/v1/cache/asr/k").await.0, StatusCode::NOT_FOUND);
    let stats = cache.stats().await.unwrap();
    assert_eq!(stats.namespaces["asr"].l1_hits, 4);
}

async fn get(api: &impl Api, path: &str) -> (StatusCode, Option<String>, Value, bool) {
    let request = axum::http::Request::get(path).body(Body::empty()).unwrap();
    seen(api.clone().oneshot(request).await.unwrap()).await
}
