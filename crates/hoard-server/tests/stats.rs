//! What the stats say over time and what the cache saved, read from outside: through
//! `/v1/stats`, `/v1/stats/history` and `/metrics` of a server on a real socket, embedded
//! and on Redis (where a second server reads what the first wrote); and the model caches
//! the server reports (`/v1/models`).

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use hoard_testkit::RedisServer;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

mod support;
use support::{embedded, on_redis, on_redis_sampling, start_configured, start_sampling, Server};

/// The value of the `hoard_compute_saved_seconds_total` series of `namespace`.
async fn saved_seconds_metric(s: &Server, namespace: &str) -> f64 {
    let text = s
        .client
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = format!("hoard_compute_saved_seconds_total{{namespace=\"{namespace}\"}} ");
    let line = text
        .lines()
        .find(|l| l.starts_with(&series))
        .unwrap_or_else(|| panic!("no {series} in {text}"));
    line[series.len()..].trim().parse().unwrap()
}

async fn saved_ms(s: &Server, namespace: &str) -> (Value, Value) {
    let (status, stats) = s.get("/v1/stats").await;
    assert_eq!(status, StatusCode::OK);
    (
        stats["namespaces"][namespace]["compute_saved_ms"].clone(),
        stats["stats"]["compute_saved_ms"].clone(),
    )
}

/// Each hit adds the compute time its entry was written with: single reads and batch
/// reads alike, in the namespace's row, the totals and `/metrics`; a value written without
/// one adds nothing; a compute time that is not a duration is refused and writes nothing.
async fn hits_count_the_compute_they_saved(s: &Server) {
    let put = |path: &'static str, body: &'static str| async move {
        s.call(Method::PUT, path, Some(body), None).await
    };
    assert_eq!(
        put("/v1/cache/asr/clip-1?compute=250ms", r#"{"text":"hello"}"#).await,
        (StatusCode::OK, json!({"ok": true}))
    );
    for (path, body) in [
        ("/v1/cache/asr/clip-2?compute=1500ms", r#"{"text":"bye"}"#),
        ("/v1/cache/asr/clip-3", r#"{"text":"free"}"#),
    ] {
        assert_eq!(put(path, body).await.0, StatusCode::OK, "{path}");
    }
    for path in [
        "/v1/cache/asr/clip-1",
        "/v1/cache/asr/clip-1",
        "/v1/cache/asr/clip-3",
    ] {
        assert_eq!(s.get(path).await.0, StatusCode::OK, "{path}");
    }
    assert_eq!(saved_ms(s, "asr").await, (json!(500), json!(500)));
    let (status, batch) = s
        .call(
            Method::POST,
            "/v1/cache/asr/batch",
            Some(r#"{"keys":["clip-1","clip-2","missing"]}"#),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{batch}");
    assert_eq!(saved_ms(s, "asr").await, (json!(2250), json!(2250)));
    assert_eq!(saved_seconds_metric(s, "asr").await, 2.25);

    let (status, error) = put("/v1/cache/asr/clip-4?compute=soon", "1").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(s.get("/v1/cache/asr/clip-4").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_hits_count_the_compute_they_saved() {
    hits_count_the_compute_they_saved(&embedded().await).await;
}

/// On Redis, and read by a second server that has nothing in memory: its hits come from
/// L2 and still carry the compute time the first server wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_hits_count_the_compute_they_saved_on_every_instance() {
    let redis = RedisServer::start();
    let first = on_redis(&redis).await;
    hits_count_the_compute_they_saved(&first).await;
    let second = on_redis(&redis).await;
    assert_eq!(second.get("/v1/cache/asr/clip-2").await.0, StatusCode::OK);
    let (status, stats) = second.get("/v1/stats").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stats["namespaces"]["asr"]["l2_hits"], json!(1), "{stats}");
    assert_eq!(
        stats["namespaces"]["asr"]["compute_saved_ms"],
        json!(1500),
        "{stats}"
    );
}

/// A second server on the same Redis counts what the first wrote, in `/v1/stats`
/// (`census`) and `/metrics`, deletes and pattern deletes included: namespaces this
/// server never touched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_counts_what_each_namespace_holds() {
    let redis = RedisServer::start();
    let writer = on_redis(&redis).await;
    let put = |ns: &'static str, key: String, body: &'static str| {
        let writer = &writer;
        async move {
            let path = format!("/v1/cache/{ns}/{key}");
            let (status, answer) = writer.call(Method::PUT, &path, Some(body), None).await;
            assert_eq!(status, StatusCode::OK, "{answer}");
        }
    };
    for i in 0..40 {
        put("frames", format!("f-{i}"), "[1,2,3]").await;
    }
    for i in 0..10 {
        put("labels", format!("l-{i}"), "\"happy\"").await;
    }
    put("gone", "x".into(), "1").await;
    writer
        .call(Method::DELETE, "/v1/cache/frames/f-0", None, None)
        .await;
    writer
        .call(
            Method::DELETE,
            "/v1/cache?pattern=gone:*",
            None,
            Some(support::TOKEN),
        )
        .await;
    let (status, answer) = writer
        .call(
            Method::DELETE,
            "/v1/cache?pattern=labels:l-1*",
            None,
            Some(support::TOKEN),
        )
        .await;
    assert_eq!(
        (status, answer["deleted"].clone()),
        (StatusCode::OK, json!(1))
    );

    let reader = on_redis_sampling(&redis, Duration::from_millis(50)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let census = loop {
        let (_, stats) = reader.get("/v1/stats").await;
        if stats["census"].is_object() {
            break stats["census"].clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "no census: {stats}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // `[1,2,3]` is 4 bytes of MessagePack, `"happy"` 6.
    assert_eq!(
        census["namespaces"],
        json!({"frames": {"keys": 39, "bytes": 156}, "labels": {"keys": 9, "bytes": 54}}),
        "{census}"
    );
    assert!(census["scanned"].as_u64().unwrap() >= 48, "{census}");
    let text = metrics_text(&reader).await;
    for line in [
        r#"hoard_namespace_keys{namespace="frames"} 39"#,
        r#"hoard_namespace_bytes{namespace="labels"} 54"#,
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in {text}");
    }
}

/// Polls the history until a sample satisfies `done`, for at most ten seconds.
async fn sample_where(s: &Server, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, history) = s.get("/v1/stats/history").await;
        assert_eq!(status, StatusCode::OK, "{history}");
        if let Some(sample) = history["samples"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| done(x))
        {
            return sample.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no such sample in {history}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The server samples its stats into the history while it runs: a sample taken after a
/// known sequence of requests has the counts `/v1/stats` gives; samples come oldest first,
/// `since` returns only later ones, and a `since` that is not a number is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_samples_the_stats_while_the_server_runs() {
    let (cache, dir) = support::embedded_cache();
    let s = start_sampling(cache, dir, Duration::from_millis(50)).await;
    for key in ["a", "b", "c"] {
        s.call(Method::PUT, &format!("/v1/cache/ns/{key}"), Some("1"), None)
            .await;
    }
    s.get("/v1/cache/ns/a").await;
    s.get("/v1/cache/ns/nothing").await;
    s.call(Method::DELETE, "/v1/cache/ns/b", None, None).await;
    let sample = sample_where(&s, |x| x["deletes"] == json!(1)).await;
    let (_, stats) = s.get("/v1/stats").await;
    let totals = &stats["stats"];
    for field in [
        "l1_hits",
        "l2_hits",
        "misses",
        "sets",
        "deletes",
        "errors",
        "total_keys",
    ] {
        assert_eq!(
            sample[field], totals[field],
            "{field}: {sample} against {stats}"
        );
    }
    assert_eq!(sample["used_memory_bytes"], totals["used_memory_bytes"]);
    // The budget is `[cache] memory`, 256 MiB unless set.
    assert_eq!(sample["memory_budget_bytes"], json!(256u64 << 20));
    assert_eq!(totals["memory_budget_bytes"], json!(256u64 << 20));
    // No semantic cache on this server.
    assert_eq!(sample["semantic_lookups"], Value::Null);
    assert!(stats.get("semantic").is_none(), "{stats}");
    assert_eq!(
        (sample["sets"].clone(), sample["misses"].clone()),
        (json!(3), json!(1))
    );

    let (_, history) = s.get("/v1/stats/history").await;
    assert_eq!(history["interval_ms"], json!(50));
    let times: Vec<u64> = history["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["at_ms"].as_u64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
    let last = *times.last().unwrap();
    let (_, later) = s.get(&format!("/v1/stats/history?since={last}")).await;
    assert!(later["samples"]
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["at_ms"].as_u64().unwrap() > last));

    for bad in [
        "abc",
        "-1",
        "1.5",
        "",
        "9007199254740992",
        "18446744073709551616",
    ] {
        let (status, error) = s.get(&format!("/v1/stats/history?since={bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "since={bad}: {error}");
        assert_eq!(error["error"], json!("bad_query"), "since={bad}");
    }
}

/// `/v1/models` lists what the `[models]` stores hold, sized from the files written here:
/// a Hugging Face repo (its blobs counted once, however many snapshot links point at
/// them) and an Ollama model; each store with its folder, and the totals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_caches_are_listed_with_their_sizes() {
    let stores = hoard_testkit::temp_dir();
    let root = stores.path().join("models");
    let weights = vec![7u8; 3000];
    let config = br#"{"arch":"vit"}"#;
    let file = |name, content, lfs| hoard_testkit::stores::HfFile { name, content, lfs };
    hoard_testkit::stores::hf_revision(
        &root.join("huggingface/hub"),
        "models--acme--tagger",
        "0123456789abcdef0123456789abcdef01234567",
        &["main"],
        &[
            file("model.safetensors", &weights, true),
            file("config.json", config, false),
        ],
    );
    let layer = vec![1u8; 500];
    hoard_testkit::stores::ollama_model(&root.join("ollama/models"), "tiny", "latest", &[&layer]);
    let (cache, dir) = support::embedded_cache();
    let more = format!("[models]\nroot = {:?}\n", root.display().to_string());
    let s = start_configured(cache, dir, &more).await;

    let (status, body) = s.get("/v1/models").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let store = |name: &str| {
        body["stores"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["store"] == json!(name))
            .unwrap_or_else(|| panic!("no {name} in {body}"))
            .clone()
    };
    let hf = store("huggingface");
    assert_eq!(hf["bytes"], json!(weights.len() + config.len()), "{body}");
    assert_eq!(hf["items"], json!(1));
    assert_eq!(
        hf["folder"],
        json!(root.join("huggingface").display().to_string())
    );
    let ollama = store("ollama");
    assert_eq!(ollama["items"], json!(1), "{body}");
    let stored: u64 = body["stores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(body["totals"]["bytes"], json!(stored));
    assert_eq!(body["totals"]["items"], json!(2));
    let ids: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"acme/tagger"), "{ids:?}");
}

/// `/metrics` carries the model caches' sizes and budgets from the background scan: a
/// store over its budget reads 1 until what it holds shrinks, which the next scan sees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_cache_budgets_are_gauges_the_background_scan_keeps() {
    let stores = hoard_testkit::temp_dir();
    let root = stores.path().join("models");
    let repo = hoard_testkit::stores::hf_revision(
        &root.join("huggingface/hub"),
        "models--acme--tagger",
        "0123456789abcdef0123456789abcdef01234567",
        &["main"],
        &[hoard_testkit::stores::HfFile {
            name: "model.safetensors",
            content: &[7u8; 3000],
            lfs: true,
        }],
    );
    let checkpoints = root.join("torch/hub/checkpoints");
    std::fs::create_dir_all(&checkpoints).unwrap();
    std::fs::write(checkpoints.join("vad.pt"), [3u8; 700]).unwrap();
    let (cache, dir) = support::embedded_cache();
    let more = format!(
        "[models]\nroot = {:?}\nmax_size = \"1GiB\"\n[models.store_max_size]\nhuggingface = 2000\n",
        root.display().to_string()
    );
    let s = support::launch(
        cache,
        dir,
        Vec::new(),
        Some(Duration::from_millis(50)),
        &more,
    )
    .await;
    let gauges_read = |want: &'static [&'static str]| {
        let s = &s;
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            loop {
                let text = metrics_text(s).await;
                if want.iter().all(|line| text.lines().any(|l| l == *line)) {
                    return text;
                }
                assert!(tokio::time::Instant::now() < deadline, "{want:?} in {text}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    gauges_read(&[
        r#"hoard_models_bytes{store="huggingface"} 3000"#,
        r#"hoard_models_bytes{store="torch"} 700"#,
        r#"hoard_models_bytes{store="ollama"} 0"#,
        r#"hoard_models_budget_bytes{store="huggingface"} 2000"#,
        r#"hoard_models_budget_bytes{store="all"} 1073741824"#,
        r#"hoard_models_over_budget{store="huggingface"} 1"#,
        r#"hoard_models_over_budget{store="all"} 0"#,
    ])
    .await;
    // The model goes; the next scan says so.
    std::fs::remove_dir_all(&repo).unwrap();
    gauges_read(&[
        r#"hoard_models_bytes{store="huggingface"} 0"#,
        r#"hoard_models_over_budget{store="huggingface"} 0"#,
    ])
    .await;
}

/// The history's p50 and p99 of the cache routes are the server's own times: never above
/// what the client measured for the whole round trip, the median not above the 99th
/// percentile, and `null` for an interval with no cache request (reads of the history
/// itself are not counted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_reports_cache_route_latencies_no_client_could_beat() {
    let (cache, dir) = support::embedded_cache();
    let s = start_sampling(cache, dir, Duration::from_millis(300)).await;
    s.call(Method::PUT, "/v1/cache/ns/k", Some("1"), None).await;
    let (_, before) = s.get("/v1/stats/history").await;
    let since = before["samples"]
        .as_array()
        .unwrap()
        .last()
        .map_or(0, |x| x["at_ms"].as_u64().unwrap());
    let mut slowest = Duration::ZERO;
    for _ in 0..40 {
        let started = std::time::Instant::now();
        assert_eq!(s.get("/v1/cache/ns/k").await.0, StatusCode::OK);
        slowest = slowest.max(started.elapsed());
    }
    let sample = sample_where(&s, |x| {
        x["at_ms"].as_u64().unwrap() > since && !x["p50_us"].is_null()
    })
    .await;
    let (p50, p99) = (
        sample["p50_us"].as_u64().unwrap(),
        sample["p99_us"].as_u64().unwrap(),
    );
    let slowest = u64::try_from(slowest.as_micros()).unwrap();
    assert!(
        p50 <= p99 && p99 <= slowest,
        "p50 {p50} p99 {p99} client {slowest} us"
    );
    // Once the requests stop, an interval comes with none: its quantiles are null (were
    // they counted since the start, none would ever be).
    let at = sample["at_ms"].as_u64().unwrap();
    let idle = sample_where(&s, |x| {
        x["at_ms"].as_u64().unwrap() > at && x["p50_us"].is_null()
    })
    .await;
    assert!(idle["p99_us"].is_null(), "{idle}");
}

/// The text of `/metrics`.
async fn metrics_text(s: &Server) -> String {
    let response = s
        .client
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

/// A server with a semantic cache counts its lookups, hits, stores and refusals by guard in
/// `/v1/stats` (`semantic`) and `/metrics` (`hoard_semantic_*`); a lookup it refuses as bad
/// input counts nothing. Without one, neither says anything of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_semantic_cache_counts_its_refusals_in_stats_and_metrics() {
    let (cache, dir) = support::embedded_cache();
    let s = support::launch_semantic(cache, dir, None).await;
    let store = json!({"query": "Cancel my subscription", "value": 1}).to_string();
    let (status, body) = s
        .call(Method::POST, "/v1/semantic/faq", Some(&store), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for (query, refused_by) in [
        ("Cancel my subscription", None),
        ("Don't cancel my subscription", Some("negation")),
        ("Don't cancel my subscription", Some("negation")),
    ] {
        let lookup = json!({ "query": query }).to_string();
        let (status, body) = s
            .call(Method::POST, "/v1/semantic/faq/lookup", Some(&lookup), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["refused_by"].as_str(), refused_by, "{body}");
    }
    // Refused before any search: a bad threshold, an empty query, a bad namespace.
    for (path, body) in [
        ("/v1/semantic/faq/lookup", r#"{"query":"x","threshold":2}"#),
        ("/v1/semantic/faq/lookup", r#"{"query":"  "}"#),
        ("/v1/semantic/a%20b/lookup", r#"{"query":"x"}"#),
    ] {
        let (status, answer) = s.call(Method::POST, path, Some(body), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {answer}");
    }
    let (_, stats) = s.get("/v1/stats").await;
    let faq = &stats["semantic"]["namespaces"]["faq"];
    assert_eq!(
        [
            &faq["entries"],
            &faq["lookups"],
            &faq["hits"],
            &faq["misses"],
            &faq["stores"]
        ],
        [1, 3, 1, 2, 1],
        "{stats}"
    );
    assert_eq!(faq["refusals"]["negation"], 2, "{stats}");
    assert_eq!(stats["semantic"]["totals"]["lookups"], 3, "{stats}");
    assert_eq!(
        stats["semantic"]["namespaces"].as_object().unwrap().len(),
        1
    );
    let text = metrics_text(&s).await;
    for line in [
        r#"hoard_semantic_lookups_total{namespace="faq"} 3"#,
        r#"hoard_semantic_hits_total{namespace="faq"} 1"#,
        r#"hoard_semantic_stores_total{namespace="faq"} 1"#,
        r#"hoard_semantic_entries{namespace="faq"} 1"#,
        r#"hoard_semantic_refusals_total{namespace="faq",guard="negation"} 2"#,
        r#"hoard_semantic_refusals_total{namespace="faq",guard="numbers"} 0"#,
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in {text}");
    }

    let plain = embedded().await;
    let (_, stats) = plain.get("/v1/stats").await;
    assert!(stats.get("semantic").is_none(), "{stats}");
    assert!(!metrics_text(&plain).await.contains("hoard_semantic"));
}

/// A write-behind namespace whose writer keeps failing shows up in `/v1/stats` (`writers`)
/// and `/metrics` (`hoard_writer_*`): the write is acknowledged and served, queued, and
/// counted as pending until the backing store takes it, which it then has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_writer_shows_in_stats_and_metrics_until_it_recovers() {
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::sync::{Arc, Mutex};
    let (cache, dir) = support::embedded_cache();
    let down = Arc::new(AtomicBool::new(true));
    let store: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    let writer = {
        let (down, store) = (down.clone(), store.clone());
        move |batch: Vec<hoard::BackingWrite>| {
            let result = if down.load(SeqCst) {
                Err("connection refused by the orders database")
            } else {
                let mut store = store.lock().unwrap();
                for write in batch {
                    store.push((write.key.clone(), write.value().unwrap().unwrap()));
                }
                Ok(())
            };
            std::future::ready(result)
        }
    };
    let options =
        hoard::WriteBehindOptions::new().retry(Duration::from_millis(5), Duration::from_millis(20));
    cache.write_behind("orders", options, writer).unwrap();
    let s = support::start(cache, dir).await;
    let (status, _) = s
        .call(
            Method::PUT,
            "/v1/cache/orders/o-1",
            Some(r#"{"total": 12.5}"#),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, value) = s.get("/v1/cache/orders/o-1").await;
    assert_eq!(value, json!({"total": 12.5}));

    let failing = sample_writers(&s, |w| w["consecutive_failures"].as_u64() >= Some(2)).await;
    assert_eq!(failing["mode"], "behind");
    assert_eq!(failing["pending"], 1);
    assert_eq!(failing["written"], 0);
    assert_eq!(
        failing["last_error"],
        "connection refused by the orders database"
    );
    let text = metrics_text(&s).await;
    assert!(
        text.contains(r#"hoard_writer_pending{namespace="orders",mode="behind"} 1"#),
        "{text}"
    );
    let failures = metric_value(
        &text,
        r#"hoard_writer_failures_total{namespace="orders",mode="behind"}"#,
    );
    assert!(failures >= 2.0, "{text}");

    down.store(false, SeqCst);
    let recovered = sample_writers(&s, |w| w["pending"] == 0 && w["written"] == 1).await;
    assert_eq!(recovered["consecutive_failures"], 0);
    assert_eq!(
        *store.lock().unwrap(),
        [("o-1".to_owned(), json!({"total": 12.5}))]
    );
    let text = metrics_text(&s).await;
    assert!(
        text.contains(r#"hoard_writer_pending{namespace="orders",mode="behind"} 0"#),
        "{text}"
    );
    assert!(
        text.contains(r#"hoard_writer_written_total{namespace="orders",mode="behind"} 1"#),
        "{text}"
    );
}

/// `/v1/stats`'s `writers.orders`, once `done` says so (polled, at most 20 s).
async fn sample_writers(s: &Server, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, stats) = s.get("/v1/stats").await;
        let writer = &stats["writers"]["orders"];
        if done(writer) {
            return writer.clone();
        }
        assert!(std::time::Instant::now() < deadline, "never came: {stats}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The value of the series `series` (name and labels) in a scrape.
fn metric_value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in {text}"))
}
