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
