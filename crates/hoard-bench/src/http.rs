//! `hoard serve`'s results routes against the emotion-recognition backend's results cache
//! (FastAPI + uvicorn + redis-py, fixtures/fastapi_results.py), both on the same local
//! redis-server, and against the ceiling: a bare axum route on the same runtime answering
//! the same bytes from a constant. All loaded by the same wrk, alternately.
//!
//! Needs `wrk` (Debian package) and `pip install fastapi uvicorn redis`.

use crate::report::{Comparison, Measure};
use crate::Options;
use hoard::{Cache, RedisConfig};
use hoard_server::AppState;
use hoard_testkit::{ChildGuard, RedisServer};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const MODEL: &str = "wav2vec2";
const HASHES: usize = 1000;

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn payload(i: usize) -> serde_json::Value {
    serde_json::json!({
        "probabilities": {"neutral": 0.1, "happy": 0.6, "sad": 0.1, "angry": 0.2},
        "label": "happy",
        "model": MODEL,
        "file": i,
    })
}

/// One wrk run: requests per second, p50 and p99 latency in microseconds.
struct Load {
    rps: f64,
    p50_us: f64,
    p99_us: f64,
}

fn wrk(url: &str, script: &Path, seconds: u64) -> anyhow::Result<Load> {
    let out = Command::new("wrk")
        .args(["-t2", "-c32", &format!("-d{seconds}s"), "--latency", "-s"])
        .arg(script)
        .arg(url)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    anyhow::ensure!(out.status.success(), "wrk failed: {text}");
    anyhow::ensure!(!text.contains("Non-2xx"), "errors under load: {text}");
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no Requests/sec in {text}"))?;
    let latency = |pct: &str| -> anyhow::Result<f64> {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(pct))
            .ok_or_else(|| anyhow::anyhow!("no {pct} latency in {text}"))?;
        let value = line.split_whitespace().nth(1).unwrap_or("");
        let (number, unit) = value.split_at(
            value
                .find(|c: char| c.is_ascii_alphabetic())
                .unwrap_or(value.len()),
        );
        let number: f64 = number.parse()?;
        Ok(match unit {
            "us" => number,
            "ms" => number * 1000.0,
            "s" => number * 1_000_000.0,
            other => anyhow::bail!("unknown latency unit {other:?}"),
        })
    };
    Ok(Load {
        rps,
        p50_us: latency("50%")?,
        p99_us: latency("99%")?,
    })
}

pub fn run(options: &Options) -> anyhow::Result<(Vec<Comparison>, Vec<String>)> {
    anyhow::ensure!(
        Command::new("wrk").arg("--version").output().is_ok(),
        "wrk is not installed (apt-get install wrk)"
    );
    let python_ok = Command::new("python3")
        .args(["-c", "import fastapi, uvicorn, redis"])
        .status()
        .is_ok_and(|s| s.success());
    anyhow::ensure!(
        python_ok,
        "the FastAPI results service needs fastapi, uvicorn and redis-py (pip install fastapi uvicorn redis)"
    );
    let redis = RedisServer::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;

    // The same payloads in both stores: hoard's entries, and the FastAPI service's JSON strings.
    let hoard_port = free_port()?;
    let cache = runtime.block_on(async {
        let cache = Cache::builder()
            .redis(RedisConfig::standalone(redis.url()))
            .build()?;
        for i in 0..HASHES {
            cache
                .set("result", &format!("{MODEL}:h{i}"), &payload(i))
                .await?;
        }
        anyhow::Ok(cache)
    })?;
    for i in 0..HASHES {
        redis.cli(&[
            "set",
            &format!("result:{MODEL}:h{i}"),
            &payload(i).to_string(),
        ]);
    }
    let listener = runtime.block_on(tokio::net::TcpListener::bind(("127.0.0.1", hoard_port)))?;
    let state = AppState {
        semantic: None,
        datasets: std::sync::Arc::new(hoard_datasets::Datasets::new(cache.clone(), [])?),
        cache,
        access: hoard_server::Access::admin("bench-token-0123456789"),
        max_batch: 1000,
        max_body: 16 << 20,
        history: hoard_server::StatsHistory::new(std::time::Duration::from_secs(5)),
        models: std::sync::Arc::new(hoard_models::Layout::new(
            &Default::default(),
            std::path::Path::new("."),
        )),
    };
    runtime.spawn(hoard_server::serve(listener, state, std::future::pending()));

    // The ceiling: what axum and hyper cost with nothing behind them, the same bodies hoard
    // answers held in constants.
    let ceiling_port = free_port()?;
    let one = bytes::Bytes::from(payload(0).to_string());
    let batch_answer = {
        let hashes: Vec<String> = (0..100).map(|i| format!("h{}", i * 7 % HASHES)).collect();
        let payloads: serde_json::Map<String, serde_json::Value> = hashes
            .iter()
            .map(|h| (h.clone(), payload(h[1..].parse().unwrap_or(0))))
            .collect();
        bytes::Bytes::from(serde_json::json!({"ok": true, "payloads": payloads}).to_string())
    };
    let fixed = |body: bytes::Bytes| {
        move || {
            let body = body.clone();
            async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    body,
                )
            }
        }
    };
    let ceiling = axum::Router::new()
        .route(
            "/results/{model}/batch",
            axum::routing::post(fixed(batch_answer)),
        )
        .route("/results/{model}/{h}", axum::routing::get(fixed(one)));
    let ceiling_listener =
        runtime.block_on(tokio::net::TcpListener::bind(("127.0.0.1", ceiling_port)))?;
    runtime.spawn(async move { axum::serve(ceiling_listener, ceiling).await });

    let fastapi_port = free_port()?;
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut uvicorn = Command::new("python3");
    uvicorn
        .args(["-m", "uvicorn", "fastapi_results:app", "--app-dir"])
        .arg(&fixtures)
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &fastapi_port.to_string(),
            "--workers",
            "2",
            "--log-level",
            "warning",
        ])
        .env("REDIS_URL", redis.url());
    let _uvicorn = ChildGuard::spawn(uvicorn);
    let up = hoard_testkit::wait_until(Duration::from_secs(30), || {
        std::net::TcpStream::connect(("127.0.0.1", fastapi_port)).is_ok()
    });
    anyhow::ensure!(up, "uvicorn did not start");

    let scripts = tempfile::tempdir()?;
    let get_script = scripts.path().join("get.lua");
    std::fs::write(
        &get_script,
        format!("request = function() return wrk.format('GET', '/results/{MODEL}/h' .. math.random(0, {})) end\n", HASHES - 1),
    )?;
    let batch_body = serde_json::json!({"hashes": (0..100).map(|i| format!("h{}", i * 7 % HASHES)).collect::<Vec<_>>()});
    let batch_script = scripts.path().join("batch.lua");
    std::fs::write(
        &batch_script,
        format!(
            "wrk.method = 'POST'\nwrk.headers['Content-Type'] = 'application/json'\nwrk.body = '{}'\n",
            batch_body
        ),
    )?;

    let seconds = 8;
    let mut notes = Vec::new();
    let mut comparisons = Vec::new();
    for (label, path, script) in [
        (
            "GET /results/{model}/{h} (hits, random among 1,000)",
            "/results/x".to_owned(),
            &get_script,
        ),
        (
            "POST /results/{model}/batch of 100 hashes",
            format!("/results/{MODEL}/batch"),
            &batch_script,
        ),
    ] {
        let url = |port: u16| format!("http://127.0.0.1:{port}{path}");
        let (mut ours, mut theirs, mut bare) = (Vec::new(), Vec::new(), Vec::new());
        // Warm all three, then alternate.
        for port in [hoard_port, fastapi_port, ceiling_port] {
            wrk(&url(port), script, 2)?;
        }
        for _ in 0..options.rounds.clamp(1, 3) {
            ours.push(wrk(&url(hoard_port), script, seconds)?);
            theirs.push(wrk(&url(fastapi_port), script, seconds)?);
            bare.push(wrk(&url(ceiling_port), script, seconds)?);
        }
        let best = |runs: &[Load]| -> (f64, f64, f64) {
            // The median run by throughput.
            let mut sorted: Vec<&Load> = runs.iter().collect();
            sorted.sort_by(|a, b| a.rps.total_cmp(&b.rps));
            let m = sorted[sorted.len() / 2];
            (m.rps, m.p50_us, m.p99_us)
        };
        let (h_rps, h_p50, h_p99) = best(&ours);
        let (f_rps, f_p50, f_p99) = best(&theirs);
        let (c_rps, c_p50, c_p99) = best(&bare);
        notes.push(format!(
            "{label}: hoard {h_rps:.0} req/s (p50 {:.2} ms, p99 {:.2} ms); FastAPI + uvicorn (2 workers) + redis-py {f_rps:.0} req/s (p50 {:.2} ms, p99 {:.2} ms): {:.1}x the requests per second; the fixed-body axum route {c_rps:.0} req/s (p50 {:.2} ms, p99 {:.2} ms): hoard reaches {:.2}x of that ceiling.",
            h_p50 / 1000.0,
            h_p99 / 1000.0,
            f_p50 / 1000.0,
            f_p99 / 1000.0,
            h_rps / f_rps,
            c_p50 / 1000.0,
            c_p99 / 1000.0,
            h_rps / c_rps
        ));
        // A p99 on two cores shared with wrk moves from round to round: every round's, so a
        // difference can be read against that spread.
        let p99s = |runs: &[Load]| -> String {
            let ms: Vec<String> = runs
                .iter()
                .map(|r| format!("{:.2}", r.p99_us / 1000.0))
                .collect();
            ms.join(", ")
        };
        notes.push(format!(
            "{label}, p99 of each round in ms: hoard {}; the fixed-body axum route {}.",
            p99s(&ours),
            p99s(&bare)
        ));
        comparisons.push(Comparison {
            title: format!("{label}, wrk -t2 -c32 -d{seconds}s, same redis-server (time per request = 1 / throughput)"),
            hoard: Measure::new("hoard serve (axum, Redis L2 + L1)", 1e9 / h_rps),
            peers: vec![
                Measure::new("FastAPI + uvicorn --workers 2 + redis-py (asyncio)", 1e9 / f_rps),
                Measure::new("bare axum route answering the same bytes from a constant (the ceiling)", 1e9 / c_rps),
            ],
        });
    }
    notes.push("The machine has 2 cores shared by wrk, the server under test and redis-server; the ratio is what carries over.".into());
    Ok((comparisons, notes))
}
