//! Coherence: how fast another process hears an invalidation, and what the machinery costs
//! on the L1 hit path.

use crate::report::{Comparison, Measure};
use crate::Options;
use hoard::{Cache, Cause, Origin, RedisConfig};
use hoard_testkit::{ChildGuard, RedisServer};
use std::hint::black_box;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Turns the benchmark binary into the listening process: `URL|N`.
pub const CHILD: &str = "HOARD_BENCH_COHERENCE_CHILD";
const WRITES: usize = 10_000;

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

pub fn run(options: &Options) -> anyhow::Result<(Vec<Comparison>, Vec<String>)> {
    anyhow::ensure!(
        hoard_testkit::redis_available(),
        "redis-server is not installed"
    );
    let server = RedisServer::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let notes = runtime.block_on(propagation(&server))?;
    let hit = runtime.block_on(hit_path(options, &server))?;
    Ok((vec![hit], notes))
}

/// Writes 10,000 keys here; the child process times when each invalidation reaches it.
async fn propagation(server: &RedisServer) -> anyhow::Result<Vec<String>> {
    let mut command = Command::new(std::env::current_exe()?);
    command
        .env(CHILD, format!("{}|{WRITES}", server.url()))
        .args(["--suites", "coherence"]);
    let mut child = ChildGuard::spawn(command);
    anyhow::ensure!(
        child.read_line().as_deref() == Some("ready"),
        "listener did not start"
    );
    let cache = Cache::builder()
        .redis(RedisConfig::standalone(server.url()))
        .build()?;
    anyhow::ensure!(
        cache.wait_coherent(Duration::from_secs(10)).await,
        "writer not subscribed"
    );
    let mut sent = Vec::with_capacity(WRITES);
    let began = Instant::now();
    for seq in 0..WRITES {
        let start = now_us();
        cache.set("prop", &format!("k{seq}"), &seq).await?;
        sent.push((start, now_us()));
        // A steady stream, not a burst (the timer rounds this up to about 1 ms).
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    let rate = WRITES as f64 / began.elapsed().as_secs_f64();
    let mut from_start = Vec::new();
    let mut from_ack = Vec::new();
    let mut heard = 0;
    while let Some(line) = child.read_line() {
        if line == "END" {
            break;
        }
        let mut parts = line.split(' ');
        let (Some(seq), Some(at)) = (parts.next(), parts.next()) else {
            continue;
        };
        let (Ok(seq), Ok(at)) = (seq.parse::<usize>(), at.parse::<u64>()) else {
            continue;
        };
        if let Some((start, ack)) = sent.get(seq) {
            heard += 1;
            from_start.push(at.saturating_sub(*start) as f64);
            from_ack.push(at as f64 - *ack as f64);
        }
    }
    let pct = |xs: &mut Vec<f64>, p: f64| {
        xs.sort_by(f64::total_cmp);
        xs.get(((xs.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(f64::NAN)
            / 1000.0
    };
    Ok(vec![
        format!(
            "Invalidation propagation, {WRITES} writes at {rate:.0}/s from one process, heard by another through Redis pub/sub ({heard} heard): \
             from the write's start p50 {:.2} ms, p99 {:.2} ms; from the write's acknowledgement p50 {:.2} ms, p99 {:.2} ms.",
            pct(&mut from_start, 0.5),
            pct(&mut from_start, 0.99),
            pct(&mut from_ack, 0.5),
            pct(&mut from_ack, 0.99),
        ),
        "The bound without any message (lost connection, dropped message): an L1 copy lives at most `l1_max_age` (default 10 s), and L1 is flushed when the listener loses Redis.".into(),
    ])
}

/// The listening child: prints `ready`, then `SEQ MICROS` for each remote overwrite heard.
pub fn child(spec: &str) -> anyhow::Result<()> {
    let (url, n) = spec
        .split_once('|')
        .ok_or_else(|| anyhow::anyhow!("bad spec {spec}"))?;
    let n: usize = n.parse()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let cache = Cache::builder()
            .redis(RedisConfig::standalone(url))
            .build()?;
        let heard: Arc<Mutex<Vec<(String, u64)>>> = Arc::new(Mutex::new(Vec::with_capacity(n)));
        let sink = heard.clone();
        cache.on_invalidate(move |event| {
            if event.origin == Origin::Remote && event.cause == Cause::Overwrite {
                let at = now_us();
                if let Ok(mut heard) = sink.lock() {
                    heard.extend(event.keys.iter().map(|k| (k.clone(), at)));
                }
            }
            Ok(())
        });
        anyhow::ensure!(
            cache.wait_coherent(Duration::from_secs(10)).await,
            "not subscribed"
        );
        println!("ready");
        let began = Instant::now();
        while heard.lock().map_or(0, |h| h.len()) < n && began.elapsed() < Duration::from_secs(60) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let heard = heard.lock().map(|h| h.clone()).unwrap_or_default();
        for (key, at) in heard {
            if let Some(seq) = key.strip_prefix("prop:k") {
                println!("{seq} {at}");
            }
        }
        println!("END");
        anyhow::Ok(())
    })
}

/// L1 hits on a Redis-backed cache (listener running, maximum age on entries) against a
/// memory-only cache.
async fn hit_path(options: &Options, server: &RedisServer) -> anyhow::Result<Comparison> {
    let n = 1_000_000;
    let coherent = Cache::builder()
        .redis(RedisConfig::standalone(server.url()))
        .build()?;
    anyhow::ensure!(
        coherent.wait_coherent(Duration::from_secs(10)).await,
        "not subscribed"
    );
    let plain = Cache::in_memory();
    let value = vec![7u8; options.value_size];
    for cache in [&coherent, &plain] {
        cache
            .set_raw("hot", "key", value.clone(), hoard::SetOptions::new())
            .await?;
        anyhow::ensure!(cache.get_raw("hot", "key").await?.is_some(), "hit");
    }
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for _ in 0..options.rounds {
        let began = Instant::now();
        for _ in 0..n {
            black_box(coherent.get_raw("hot", "key").await?);
        }
        with.push(began.elapsed().as_nanos() as f64 / n as f64);
        let began = Instant::now();
        for _ in 0..n {
            black_box(plain.get_raw("hot", "key").await?);
        }
        without.push(began.elapsed().as_nanos() as f64 / n as f64);
    }
    let median = |mut xs: Vec<f64>| {
        xs.sort_by(f64::total_cmp);
        xs[xs.len() / 2]
    };
    let hits = coherent.stats().await?.totals.l1_hits;
    anyhow::ensure!(
        hits as usize >= n,
        "the coherent cache served from L1 ({hits} L1 hits)"
    );
    Ok(Comparison {
        title: format!("L1 hit with coherence (Redis L2, listener, max age) vs without: {n} gets of one hot key, one thread"),
        hoard: Measure::new("Cache::get_raw, Redis-backed and coherent", median(with)),
        peers: vec![Measure::new("Cache::get_raw, memory only", median(without))],
    })
}
