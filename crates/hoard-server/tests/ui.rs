//! The dashboard in a real browser: headless Chromium (Debian's `chromium`, which
//! `scripts/test` installs) loads `/ui` from a server on a real socket, runs its script,
//! and the page it renders is read back (`--dump-dom`) and photographed (`--screenshot`).

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

mod support;
use support::Server;

/// What one headless Chromium run printed: the rendered DOM (or nothing, for a
/// screenshot) and the browser's log, where the page's console messages go.
struct Browsed {
    dom: String,
    log: String,
}

fn chromium() -> PathBuf {
    let path =
        PathBuf::from(std::env::var_os("HOARD_CHROMIUM").unwrap_or("/usr/bin/chromium".into()));
    assert!(
        path.exists(),
        "{} is missing: the dashboard test needs Debian's chromium (scripts/test installs it)",
        path.display()
    );
    path
}

/// Runs headless Chromium on `url` with `what` (`--dump-dom`, `--screenshot=...`), giving
/// the page's script a few seconds of its time (polls included) before it reads the page.
fn browse(url: &str, what: &str) -> Browsed {
    let profile = hoard_testkit::temp_dir();
    let out = Command::new(chromium())
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
            "--window-size=1280,1100",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(what)
        .arg(url)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "chromium failed: {log}");
    Browsed {
        dom: String::from_utf8_lossy(&out.stdout).into_owned(),
        log,
    }
}

/// The page's figures: `(name, value)` of every `data-figure` element with a value.
fn figures(dom: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = dom;
    while let Some(at) = rest.find("data-figure=\"") {
        rest = &rest[at + "data-figure=\"".len()..];
        let name = &rest[..rest.find('"').unwrap()];
        let tag_end = rest.find('>').unwrap();
        let tag = &rest[..tag_end];
        if let Some(v) = tag.find("data-value=\"") {
            let value = &tag[v + "data-value=\"".len()..];
            found.push((
                name.to_owned(),
                value[..value.find('"').unwrap()].to_owned(),
            ));
        }
    }
    found
}

/// Lines of the browser's log that the page wrote or caused: console messages (the
/// script writes none) and refused loads.
fn page_complaints(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Refused to") || l.contains("Uncaught"))
        .collect()
}

async fn wait_for_samples(s: &Server, at_least: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, history) = s.get("/v1/stats/history").await;
        if history["samples"].as_array().unwrap().len() >= at_least {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{history}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// After a known sequence of requests, the page shows the figures `/v1/stats` gives, a
/// row per namespace, charts, and the model stores `/v1/models` lists; it loads nothing from another origin (its policy says
/// so, and the browser reports nothing refused) and logs nothing. A screenshot is saved
/// to `target/tmp/dashboard.png`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_what_the_stats_say() {
    let (cache, dir) = support::embedded_cache();
    // One model in the model caches, for the page's model table.
    let stores = hoard_testkit::temp_dir();
    hoard_testkit::stores::hf_revision(
        &stores.path().join("huggingface/hub"),
        "models--acme--tagger",
        "0123456789abcdef0123456789abcdef01234567",
        &["main"],
        &[hoard_testkit::stores::HfFile {
            name: "model.safetensors",
            content: &[7; 4096],
            lfs: true,
        }],
    );
    let models = format!(
        "[models]\nroot = {:?}\n",
        stores.path().display().to_string()
    );
    // One dataset, for the page's dataset card and its label bars.
    let data = stores.path().join("audio");
    support::write_wav(&data.join("Actor_01/a.wav"), 8000);
    support::write_wav(&data.join("Actor_01/b.wav"), 4000);
    support::write_wav(&data.join("Actor_01/c.wav"), 2000);
    std::fs::write(
        data.join("Actor_01/actor_metadata.csv"),
        "filename,emotion\na.wav,happy\nb.wav,sad\nc.wav,happy\n",
    )
    .unwrap();
    let dataset = hoard_datasets::DatasetConfig {
        id: "speech".into(),
        path: data,
        options: hoard_datasets::BuildOptions::default(),
    };
    let sampling = Some(Duration::from_millis(100));
    let s = support::launch(cache, dir, vec![dataset], sampling, &models).await;
    for key in ["clip-1", "clip-2", "clip-3"] {
        let path = format!("/v1/cache/asr/{key}?compute=250ms");
        assert_eq!(
            s.call(Method::PUT, &path, Some("{}"), None).await.0,
            StatusCode::OK
        );
    }
    s.call(
        Method::PUT,
        "/v1/cache/tags/img-9",
        Some(r#"["cat"]"#),
        None,
    )
    .await;
    for path in [
        "/v1/cache/asr/clip-1",
        "/v1/cache/asr/clip-1",
        "/v1/cache/asr/nothing",
    ] {
        s.get(path).await;
    }
    s.call(Method::DELETE, "/v1/cache/asr/clip-3", None, None)
        .await;
    wait_for_samples(&s, 3).await;

    let page = s.client.get(format!("{}/ui", s.base)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        policy.contains("default-src 'none'") && policy.contains("connect-src 'self'"),
        "{policy}"
    );

    let browsed = browse(&format!("{}/ui", s.base), "--dump-dom");
    let (_, stats) = s.get("/v1/stats").await;
    let shown = figures(&browsed.dom);
    assert!(shown.len() >= 11, "{}", browsed.dom);
    for (name, value) in &shown {
        let expected = match &stats["stats"][name] {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        assert_eq!(value, &expected, "figure {name}: page against {stats}");
    }
    assert!(
        browsed.dom.contains(r#"data-state="live""#),
        "{}",
        browsed.dom
    );
    for namespace in ["asr", "tags"] {
        assert!(
            browsed
                .dom
                .contains(&format!(r#"data-namespace="{namespace}""#)),
            "{namespace}"
        );
    }
    assert!(
        browsed.dom.contains("<polyline"),
        "no chart was drawn: {}",
        browsed.dom
    );
    // No semantic cache on this server: the page says so, and draws no semantic table.
    assert!(stats.get("semantic").is_none(), "{stats}");
    assert!(
        browsed
            .dom
            .contains(r#"<p id="semantic-off" class="muted">not enabled"#),
        "{}",
        browsed.dom
    );
    assert!(
        browsed.dom.contains(r#"<table id="semantic" hidden"#),
        "{}",
        browsed.dom
    );
    let (_, models) = s.get("/v1/models").await;
    let hf = &models["stores"][0];
    assert_eq!(hf["store"], "huggingface", "{models}");
    let store_row = format!(r#"data-store="huggingface" data-bytes="{}""#, hf["bytes"]);
    assert!(
        browsed.dom.contains(&store_row),
        "{store_row} in {}",
        browsed.dom
    );
    assert!(
        browsed.dom.contains(r#"data-model="acme/tagger""#),
        "{}",
        browsed.dom
    );
    let (_, summary) = s.get("/datasets/summary?id=speech").await;
    let card = r#"data-dataset="speech""#;
    assert!(browsed.dom.contains(card), "{card} in {}", browsed.dom);
    let total = format!(r#"data-total="{}""#, summary["total"]);
    assert!(browsed.dom.contains(&total), "{total} in {}", browsed.dom);
    let labels = summary["label_counts"].as_object().unwrap();
    assert!(!labels.is_empty(), "{summary}");
    for (label, n) in labels {
        let bar = format!(r#"data-label="{label}" data-count="{n}""#);
        assert!(browsed.dom.contains(&bar), "{bar} in {}", browsed.dom);
    }
    assert_eq!(
        page_complaints(&browsed.log),
        Vec::<&str>::new(),
        "{}",
        browsed.log
    );

    // The key browser, opened on a namespace and one of its keys by the address: the live
    // keys listed (not the deleted one), the value shown as the entry's JSON.
    let opened = browse(
        &format!("{}/ui#keys=asr&pattern=clip-*&view=clip-2", s.base),
        "--dump-dom",
    );
    for key in ["clip-1", "clip-2"] {
        let listed = format!(r#"data-key="{key}""#);
        assert!(opened.dom.contains(&listed), "{listed} in {}", opened.dom);
    }
    assert!(
        !opened.dom.contains(r#"data-key="clip-3""#),
        "{}",
        opened.dom
    );
    assert!(
        opened
            .dom
            .contains(r#"<pre id="key-value" data-key="clip-2">clip-2"#),
        "{}",
        opened.dom
    );
    assert_eq!(
        page_complaints(&opened.log),
        Vec::<&str>::new(),
        "{}",
        opened.log
    );

    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    let _ = std::fs::remove_file(&shot);
    browse(
        &format!("{}/ui", s.base),
        &format!("--screenshot={}", shot.display()),
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
}

/// On a server that needs a read token, the page shows no figures and asks for one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_a_guarded_server_shows_nothing_and_asks_for_one() {
    let (cache, dir) = support::embedded_cache();
    let s = support::start_guarded(cache, dir, "a-read-token-0123456789").await;
    let browsed = browse(&format!("{}/ui", s.base), "--dump-dom");
    assert!(
        browsed.dom.contains(r#"data-state="unauthorized""#),
        "{}",
        browsed.dom
    );
    assert!(figures(&browsed.dom).is_empty(), "{}", browsed.dom);
    assert!(
        !browsed
            .dom
            .contains(r#"<form id="token-form" class="token" hidden"#),
        "{}",
        browsed.dom
    );
}

/// The opening tag that starts with `start` in `dom` (up to its `>`), if any.
fn tag<'a>(dom: &'a str, start: &str) -> Option<&'a str> {
    let at = dom.find(start)?;
    let rest = &dom[at..];
    Some(&rest[..rest.find('>')?])
}

/// The value of attribute `name` in `tag`.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let marker = format!(" {name}=\"");
    let at = tag.find(&marker)? + marker.len();
    let rest = &tag[at..];
    Some(rest[..rest.find('"')?].to_owned())
}

/// The last point of line `line` of chart `id`, as the page left it on the chart: its time
/// and value.
fn chart_latest(dom: &str, id: &str, line: usize) -> Option<(u64, f64)> {
    let svg = tag(dom, &format!("<svg id=\"{id}\""))?;
    let at = attribute(svg, &format!("data-at{line}"))?.parse().unwrap();
    let value = attribute(svg, &format!("data-latest{line}"))?
        .parse()
        .unwrap();
    Some((at, value))
}

/// The sample taken at `at_ms` and the one before it.
fn samples_at(history: &Value, at_ms: u64) -> (&Value, &Value) {
    let samples = history["samples"].as_array().unwrap();
    let i = samples
        .iter()
        .position(|s| s["at_ms"] == at_ms)
        .unwrap_or_else(|| panic!("no sample at {at_ms} in {history}"));
    assert!(i > 0, "a rate needs the sample before {at_ms}");
    (&samples[i - 1], &samples[i])
}

fn delta(a: &Value, b: &Value, field: &str) -> f64 {
    (b[field].as_u64().unwrap() - a[field].as_u64().unwrap()) as f64
}

/// With a semantic cache, the page shows its namespaces with the figures `/v1/stats` gives
/// (entries, lookups, hits, misses, stores, and the candidates each guard refused), and its
/// hit rate on the hit-rate chart, the last point equal to what the history says. A
/// screenshot is saved to `target/tmp/dashboard-semantic.png`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_semantic_cache() {
    let (cache, dir) = support::embedded_cache();
    let s = support::launch_semantic(cache, dir, Some(Duration::from_millis(100))).await;
    for (namespace, query) in [
        ("faq", "Cancel my subscription"),
        ("faq", "cheap flights to Paris on May 3"),
        ("shop", "where is my order"),
    ] {
        let body = serde_json::json!({ "query": query, "value": query.len() }).to_string();
        let path = format!("/v1/semantic/{namespace}");
        let (status, answer) = s.call(Method::POST, &path, Some(&body), None).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    for (namespace, query, refused_by) in [
        ("faq", "Cancel my subscription", None),
        ("faq", "Don't cancel my subscription", Some("negation")),
        ("faq", "cheap flights to Paris on May 4", Some("numbers")),
        ("faq", "What is the boiling point of water?", None),
        ("shop", "where is my order", None),
    ] {
        let body = serde_json::json!({ "query": query }).to_string();
        let path = format!("/v1/semantic/{namespace}/lookup");
        let (status, answer) = s.call(Method::POST, &path, Some(&body), None).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(
            answer["refused_by"].as_str(),
            refused_by,
            "{query}: {answer}"
        );
    }
    // The history holds the lookups, and a sample after them for the page's last rate.
    let (_, stats) = s.get("/v1/stats").await;
    let lookups = stats["semantic"]["totals"]["lookups"].clone();
    assert_eq!(lookups, 5, "{stats}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, history) = s.get("/v1/stats/history").await;
        let samples = history["samples"].as_array().unwrap();
        let n = samples.len();
        if n >= 3 && samples[n - 2]["semantic_lookups"] == lookups {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{history}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let browsed = browse(&format!("{}/ui", s.base), "--dump-dom");
    let (_, stats) = s.get("/v1/stats").await;
    let semantic = &stats["semantic"];
    let namespaces = semantic["namespaces"].as_object().unwrap();
    assert_eq!(
        namespaces.keys().collect::<Vec<_>>(),
        ["faq", "shop"],
        "{stats}"
    );
    assert_eq!(namespaces["faq"]["refusals"]["negation"], 1, "{stats}");
    assert_eq!(namespaces["faq"]["refusals"]["numbers"], 1, "{stats}");
    for (name, ns) in namespaces {
        let start = format!("<tr data-semantic=\"{name}\"");
        let row_start = browsed.dom.find(&start).unwrap_or_else(|| {
            panic!("no row for {name} in {}", browsed.dom);
        });
        let row = &browsed.dom[row_start..];
        let row = &row[..row.find("</tr>").unwrap()];
        let opening = tag(row, &start).unwrap();
        for field in ["entries", "lookups", "hits", "misses", "stores"] {
            assert_eq!(
                attribute(opening, &format!("data-{field}")),
                Some(ns[field].to_string()),
                "{name} {field}: {row} against {ns}"
            );
        }
        let refusals = ns["refusals"].as_object().unwrap();
        assert_eq!(refusals.len(), 8, "{ns}");
        for (guard, n) in refusals {
            let cell = format!(r#"data-refused="{guard}" data-count="{n}""#);
            assert!(row.contains(&cell), "{cell} in {row}");
        }
    }
    assert!(
        tag(&browsed.dom, "<p id=\"semantic-off\"")
            .unwrap()
            .contains("hidden"),
        "{}",
        browsed.dom
    );
    // The semantic hit rate is the hit-rate chart's second line.
    let (_, history) = s.get("/v1/stats/history").await;
    let (at, shown) = chart_latest(&browsed.dom, "chart-hit-rate", 1)
        .unwrap_or_else(|| panic!("no semantic line: {}", browsed.dom));
    let (a, b) = samples_at(&history, at);
    let expected = delta(a, b, "semantic_hits") / delta(a, b, "semantic_lookups");
    assert!(
        (shown - expected).abs() < 1e-9,
        "{shown} against {expected}"
    );
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-semantic.png");
    let _ = std::fs::remove_file(&shot);
    browse(
        &format!("{}/ui", s.base),
        &format!("--screenshot={}", shot.display()),
    );
    assert!(std::fs::read(&shot).unwrap().starts_with(b"\x89PNG"));
    for (name, value) in figures(&browsed.dom) {
        let expected = match &stats["stats"][&name] {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        assert_eq!(value, expected, "figure {name}: page against {stats}");
    }
    assert_eq!(
        page_complaints(&browsed.log),
        Vec::<&str>::new(),
        "{}",
        browsed.log
    );
}

/// The charts the page draws from the history end on the figures the history holds: memory
/// against the L1 budget, keys, operations, and evictions and expirations per second, on a
/// cache small enough to evict and with a sweep quick enough to see entries expire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_charts_end_on_what_the_history_says() {
    const BUDGET: u64 = 64 * 1024;
    let dir = hoard_testkit::temp_dir();
    let disk = hoard::DiskConfig::new(dir.path()).sweep_interval(Some(Duration::from_millis(50)));
    let cache = hoard::Cache::builder()
        .memory_bytes(BUDGET)
        .disk(disk)
        .build()
        .unwrap();
    let s = support::start_sampling(cache, dir, Duration::from_millis(100)).await;
    // About 200 KiB of short-lived entries: three times L1's budget.
    let value = Value::String("x".repeat(1000)).to_string();
    for i in 0..200 {
        let path = format!("/v1/cache/blobs/b{i}?ttl=1s");
        let (status, body) = s.call(Method::PUT, &path, Some(&value), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // Until the history has seen evictions and expirations, and a sample after that.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (_, history) = s.get("/v1/stats/history").await;
        let samples = history["samples"].as_array().unwrap();
        let n = samples.len();
        let seen = |field: &str| n >= 3 && samples[n - 2][field].as_u64() > Some(0);
        if seen("evictions") && seen("expirations") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{history}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let browsed = browse(&format!("{}/ui", s.base), "--dump-dom");
    let (_, history) = s.get("/v1/stats/history").await;
    let (_, stats) = s.get("/v1/stats").await;
    assert_eq!(stats["stats"]["memory_budget_bytes"], BUDGET, "{stats}");
    let latest = |id: &str, line: usize| {
        chart_latest(&browsed.dom, id, line)
            .unwrap_or_else(|| panic!("no line {line} in {id}: {}", browsed.dom))
    };
    let close = |shown: f64, expected: f64, what: &str| {
        assert!(
            (shown - expected).abs() <= 1e-9 * expected.abs().max(1.0),
            "{what}: the page shows {shown}, the history says {expected}"
        );
    };
    // Figures at one sample.
    for (id, line, field) in [
        ("chart-memory", 0, "used_memory_bytes"),
        ("chart-memory", 1, "memory_budget_bytes"),
        ("chart-keys", 0, "total_keys"),
    ] {
        let (at, shown) = latest(id, line);
        let (_, sample) = samples_at(&history, at);
        close(shown, sample[field].as_u64().unwrap() as f64, field);
    }
    let (_, budget) = latest("chart-memory", 1);
    close(budget, BUDGET as f64, "the budget line");
    // Rates between two samples.
    let seconds = |a: &Value, b: &Value| delta(a, b, "at_ms") / 1000.0;
    for (line, field) in [(0, "evictions"), (1, "expirations")] {
        let (at, shown) = latest("chart-removals", line);
        let (a, b) = samples_at(&history, at);
        close(shown, delta(a, b, field) / seconds(a, b), field);
    }
    let (at, shown) = latest("chart-ops", 0);
    let (a, b) = samples_at(&history, at);
    let ops = ["l1_hits", "l2_hits", "misses", "sets", "deletes"]
        .iter()
        .map(|f| delta(a, b, f))
        .sum::<f64>();
    close(shown, ops / seconds(a, b), "operations");
    for id in ["chart-memory", "chart-removals"] {
        let svg = &browsed.dom[browsed.dom.find(&format!("<svg id=\"{id}\"")).unwrap()..];
        let svg = &svg[..svg.find("</svg>").unwrap()];
        assert!(svg.contains("<polyline"), "{id} drew no line: {svg}");
    }
    assert!(
        browsed.dom.contains(r#"class="budget""#),
        "no budget line: {}",
        browsed.dom
    );
    let shown = figures(&browsed.dom);
    assert!(
        shown.contains(&("memory_budget_bytes".into(), BUDGET.to_string())),
        "{shown:?}"
    );
    assert_eq!(
        page_complaints(&browsed.log),
        Vec::<&str>::new(),
        "{}",
        browsed.log
    );
}
