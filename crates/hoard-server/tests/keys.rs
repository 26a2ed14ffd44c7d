//! A namespace's keys listed a page at a time (`GET /v1/cache/{namespace}`), read from
//! outside through a real socket: embedded and on Redis, where a second server lists what
//! the first wrote, tags included; what a delete removes leaves the listing; bad input is a 400 that says
//! why; a guarded server lists only for a reader.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use hoard_testkit::RedisServer;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeMap;

mod support;
use support::{embedded, embedded_cache, on_redis, start_guarded, Server, TOKEN};

/// Every key `pattern` lists in `namespace`, by pages of `limit`: key -> its listing.
async fn list(s: &Server, namespace: &str, pattern: &str, limit: usize) -> BTreeMap<String, Value> {
    let mut keys = BTreeMap::new();
    let mut cursor = String::new();
    for _ in 0..1000 {
        let path = format!(
            "/v1/cache/{namespace}?pattern={}&limit={limit}&cursor={}",
            urlencode(pattern),
            urlencode(&cursor)
        );
        let (status, page) = s.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["namespace"], namespace);
        for key in page["keys"].as_array().unwrap() {
            let name = key["key"].as_str().unwrap().to_owned();
            assert!(
                keys.insert(name, key.clone()).is_none(),
                "a key listed twice: {key}"
            );
        }
        match &page["cursor"] {
            Value::Null => return keys,
            Value::String(next) => cursor = next.clone(),
            other => panic!("cursor {other}"),
        }
    }
    panic!("the listing never ended");
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn put(s: &Server, namespace: &str, key: &str, body: &str, ttl: &str) {
    let path = format!("/v1/cache/{namespace}/{key}?ttl={ttl}");
    let (status, answer) = s.call(Method::PUT, &path, Some(body), None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

/// 120 keys in two families, a neighbour namespace and a deleted key: the pages list the
/// live keys exactly once each, with their TTL; a pattern narrows them.
async fn lists_what_was_written(writer: &Server, reader: &Server) {
    for i in 0..100 {
        put(
            writer,
            "clips",
            &format!("clip-{i:03}"),
            &format!("{{\"score\":{i}}}"),
            "1h",
        )
        .await;
    }
    for i in 0..20 {
        put(writer, "clips", &format!("wav:{i}"), "[1,2,3]", "10m").await;
    }
    put(writer, "clipsx", "clip-000", "1", "1h").await;
    let (status, _) = writer
        .call(Method::DELETE, "/v1/cache/clips/clip-050", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);

    let all = list(reader, "clips", "*", 17).await;
    assert_eq!(all.len(), 119);
    assert!(!all.contains_key("clip-050"));
    let ttl = all["wav:3"]["ttl_ms"].as_u64().unwrap();
    assert!(ttl > 9 * 60 * 1000 && ttl <= 10 * 60 * 1000, "{ttl}");
    let (bytes, ttl) = (&all["clip-007"]["bytes"], &all["clip-007"]["ttl_ms"]);
    let (bytes, ttl) = (bytes.as_u64().unwrap(), ttl.as_u64().unwrap());
    assert!(bytes > 0 && ttl > 59 * 60 * 1000, "{bytes} {ttl}");
    let wavs = list(reader, "clips", "wav:*", 1000).await;
    let wanted: Vec<String> = {
        let mut w: Vec<String> = (0..20).map(|i| format!("wav:{i}")).collect();
        w.sort();
        w
    };
    assert_eq!(wavs.keys().cloned().collect::<Vec<_>>(), wanted);
    assert!(list(reader, "clips", "nothing*", 100).await.is_empty());

    // The admin deletes a pattern: the listing no longer has it.
    let (status, answer) = writer
        .call(
            Method::DELETE,
            "/v1/cache?pattern=clips:wav:*",
            None,
            Some(TOKEN),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["deleted"], 20);
    assert_eq!(list(reader, "clips", "*", 100).await.len(), 99);

    // Tags come with each listed key, as the writer gave them (read from the stored entry).
    let path = "/v1/cache/labelled/img-1?tags=model:v2,speaker-7";
    let (status, answer) = writer.call(Method::PUT, path, Some("[1]"), None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    put(writer, "labelled", "img-2", "[2]", "1h").await;
    let tags: Vec<(String, Value, Value)> = list(reader, "labelled", "img-*", 100)
        .await
        .into_iter()
        .map(|(name, k)| (name, k["tags"].clone(), k["depends_on"].clone()))
        .collect();
    assert_eq!(
        tags,
        [
            ("img-1".into(), json!(["model:v2", "speaker-7"]), json!([])),
            ("img-2".into(), json!([]), json!([])),
        ]
    );
}

#[tokio::test]
async fn an_embedded_server_lists_its_keys() {
    let s = embedded().await;
    lists_what_was_written(&s, &s).await;
}

#[tokio::test]
async fn a_second_server_on_redis_lists_what_the_first_wrote() {
    let redis = RedisServer::start();
    let (writer, reader) = (on_redis(&redis).await, on_redis(&redis).await);
    lists_what_was_written(&writer, &reader).await;
    let (status, answer) = reader.get("/v1/cache/clips?cursor=not-a-cursor").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["error"], "bad_query", "{answer}");
}

/// Each bad input is refused with its code; none is a 500.
#[tokio::test]
async fn bad_listings_are_refused_with_a_reason() {
    let s = embedded().await;
    for (path, code) in [
        ("/v1/cache/clips?limit=0", "bad_query"),
        ("/v1/cache/clips?limit=1001", "bad_query"),
        ("/v1/cache/clips?limit=ten", "bad_query"),
        ("/v1/cache/clips?limit=-1", "bad_query"),
        ("/v1/cache/clips?pattern=clip-%5B", "invalid_pattern"),
        ("/v1/cache/clips?pattern=", "invalid_pattern"),
        ("/v1/cache/bad%20ns", "invalid_namespace"),
    ] {
        let (status, answer) = s.get(path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {answer}");
        assert_eq!(answer["error"], code, "{path}: {answer}");
    }
}

/// With a read token configured, listing keys is a read like any other: refused without
/// the token, answered with it.
#[tokio::test]
async fn a_guarded_server_lists_keys_only_for_a_reader() {
    let (cache, dir) = embedded_cache();
    cache.set("clips", "clip-1", &1).await.unwrap();
    let s = start_guarded(cache, dir, "reader-token-0123456789").await;
    let (status, _) = s.get("/v1/cache/clips").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, page) = s
        .call(
            Method::GET,
            "/v1/cache/clips",
            None,
            Some("reader-token-0123456789"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["keys"][0]["key"], "clip-1");
}
