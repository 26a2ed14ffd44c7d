//! Compute-through: a cold key under 1,000 concurrent tasks, the same key from 4 processes
//! on one Redis, and the hit path through `#[cached]` against a direct `get`.

use crate::report::{Comparison, Measure};
use crate::Options;
use hoard::{cached, Cache, ComputeOptions, RedisConfig};
use hoard_testkit::{ChildGuard, RedisServer};
use std::hint::black_box;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Environment variable that turns the benchmark binary into one of the 4 processes.
pub const CHILD: &str = "HOARD_BENCH_COMPUTE_CHILD";

/// A computation worth not repeating: a 20 ms call to a model server, say.
async fn expensive(seed: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(20)).await;
    black_box(seed.wrapping_mul(6364136223846793005))
}

pub fn run(options: &Options) -> anyhow::Result<(Vec<Comparison>, Vec<String>)> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut notes = Vec::new();
    let cold = runtime.block_on(cold_key(options, &mut notes))?;
    let hit = runtime.block_on(cached_hit_path(options))?;
    let processes = four_processes(&mut notes)?;
    Ok((vec![cold, processes, hit], notes))
}

/// Wall time for 1,000 tasks to all have the value of one cold key; computations counted.
async fn cold_key(options: &Options, notes: &mut Vec<String>) -> anyhow::Result<Comparison> {
    const TASKS: usize = 1000;
    let mut hoard_ns = Vec::new();
    let mut moka_ns = Vec::new();
    let mut naive_ns = Vec::new();
    let (mut hoard_runs, mut moka_runs, mut naive_runs) = (0, 0, 0);
    for round in 0..options.rounds {
        let key = format!("cold:{round}");
        // hoard: get_or_compute, single-flight.
        let cache = Cache::in_memory();
        let runs = Arc::new(AtomicUsize::new(0));
        let began = Instant::now();
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let (cache, runs, key) = (cache.clone(), runs.clone(), key.clone());
                tokio::spawn(async move {
                    cache
                        .get_or_compute("bench", &key, &ComputeOptions::new(), || async {
                            runs.fetch_add(1, SeqCst);
                            expensive(1).await
                        })
                        .await
                })
            })
            .collect();
        for task in tasks {
            black_box(task.await??);
        }
        hoard_ns.push(began.elapsed().as_nanos() as f64);
        hoard_runs = runs.load(SeqCst);

        // moka's own single-flight: future::Cache::get_with.
        let moka: moka::future::Cache<String, u64> = moka::future::Cache::new(1000);
        let runs = Arc::new(AtomicUsize::new(0));
        let began = Instant::now();
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let (moka, runs, key) = (moka.clone(), runs.clone(), key.clone());
                tokio::spawn(async move {
                    moka.get_with(key, async {
                        runs.fetch_add(1, SeqCst);
                        expensive(1).await
                    })
                    .await
                })
            })
            .collect();
        for task in tasks {
            black_box(task.await?);
        }
        moka_ns.push(began.elapsed().as_nanos() as f64);
        moka_runs = runs.load(SeqCst);

        // Cache-aside as the Python backends hoard replaces do it, without in-progress
        // tracking: get, compute on a miss, set.
        let cache = Cache::in_memory();
        let runs = Arc::new(AtomicUsize::new(0));
        let began = Instant::now();
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let (cache, runs, key) = (cache.clone(), runs.clone(), key.clone());
                tokio::spawn(async move {
                    if let Some(v) = cache.get::<u64>("bench", &key).await? {
                        return anyhow::Ok(v);
                    }
                    runs.fetch_add(1, SeqCst);
                    let v = expensive(1).await;
                    cache.set("bench", &key, &v).await?;
                    Ok(v)
                })
            })
            .collect();
        for task in tasks {
            black_box(task.await??);
        }
        naive_ns.push(began.elapsed().as_nanos() as f64);
        naive_runs = runs.load(SeqCst);
    }
    notes.push(format!(
        "Cold key, {TASKS} tasks: computations per round: hoard {hoard_runs}, moka get_with {moka_runs}, cache-aside without single-flight {naive_runs}."
    ));
    Ok(Comparison {
        title: format!("Cold key hit by {TASKS} concurrent tasks (20 ms async computation), wall time until all have the value"),
        hoard: Measure::new(&format!("hoard get_or_compute ({hoard_runs} computation)"), median(hoard_ns)),
        peers: vec![
            Measure::new(&format!("moka future::Cache::get_with ({moka_runs} computation)"), median(moka_ns)),
            Measure::new(&format!("get, compute on miss, set ({naive_runs} computations)"), median(naive_ns)),
        ],
    })
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

#[cached(cache = bench_cache(), name = "bench_hit")]
fn cached_square(x: u64, label: &str) -> u64 {
    let _ = label;
    x * x
}

fn bench_cache() -> &'static Cache {
    static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
    CACHE.get_or_init(Cache::in_memory)
}

#[cached(cache = bench_cache(), name = "bench_hit_async")]
async fn cached_square_async(x: u64, label: &str) -> u64 {
    let _ = label;
    x * x
}

/// The hit path: `#[cached]` (hash the arguments, look up, decode) against a direct typed
/// `get` of a key built once.
async fn cached_hit_path(options: &Options) -> anyhow::Result<Comparison> {
    let n = 200_000;
    let label = "emotion-v2".to_string();
    // Warm: one computed entry.
    black_box(cached_square_async(12, &label).await);
    let key = hoard::__private::call_key("bench_hit_async", |args| {
        args.arg(&12u64);
        args.arg(&label);
    })
    .text();
    let cache = bench_cache();
    // The direct get reads an ordinary key of the same length: a text read of a call's own
    // key also parses its digest (L1 hashes such keys by it), which a plain key does not.
    let plain = format!(
        "bench_hit_async:{}",
        "p".repeat(key.len() - "bench_hit_async:".len())
    );
    cache.set("cached", &plain, &144u64).await?;
    let (mut macro_ns, mut get_ns, mut compute_ns) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..options.rounds {
        let began = Instant::now();
        for _ in 0..n {
            black_box(cached_square_async(12, &label).await);
        }
        macro_ns.push(began.elapsed().as_nanos() as f64 / n as f64);
        let began = Instant::now();
        for _ in 0..n {
            black_box(cache.get::<u64>("cached", &plain).await?);
        }
        get_ns.push(began.elapsed().as_nanos() as f64 / n as f64);
        let began = Instant::now();
        for _ in 0..n {
            black_box(
                cache
                    .get_or_compute("cached", &key, &ComputeOptions::new(), || async { 144u64 })
                    .await?,
            );
        }
        compute_ns.push(began.elapsed().as_nanos() as f64 / n as f64);
    }
    // The sync form, once, so it is exercised too.
    black_box(cached_square(12, &label));
    Ok(Comparison {
        title: format!("Hit path: {n} calls of a cached async fn(u64, &str) -> u64 (memory tier)"),
        hoard: Measure::new(
            "#[cached] call (hash 2 arguments, look up, decode)",
            median(macro_ns),
        ),
        peers: vec![
            Measure::new(
                "Cache::get::<u64> of a plain key of the same length, built once",
                median(get_ns),
            ),
            Measure::new(
                "Cache::get_or_compute with the key built once",
                median(compute_ns),
            ),
        ],
    })
}

/// 4 processes ask one Redis for the same cold key at once; computations counted in Redis.
fn four_processes(notes: &mut Vec<String>) -> anyhow::Result<Comparison> {
    anyhow::ensure!(
        hoard_testkit::redis_available(),
        "redis-server is not installed"
    );
    let server = RedisServer::start();
    let mut timings = Vec::new();
    for coordinate in [true, false] {
        let mut walls = Vec::new();
        let mut computations = String::new();
        for round in 0..3 {
            let key = format!("report:{coordinate}:{round}");
            let start_at = hoard::entry::now_ms() + 1000;
            let mut children: Vec<ChildGuard> = (0..4)
                .map(|_| {
                    let mut command = Command::new(std::env::current_exe().expect("own path"));
                    command
                        .env(
                            CHILD,
                            format!("{}|{key}|{start_at}|{coordinate}", server.url()),
                        )
                        .args(["--suites", "compute"]);
                    ChildGuard::spawn(command)
                })
                .collect();
            let mut slowest: f64 = 0.0;
            for child in &mut children {
                let line = child.read_line().unwrap_or_default();
                let ns: f64 = line
                    .strip_prefix("ns: ")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(f64::NAN);
                slowest = slowest.max(ns);
            }
            walls.push(slowest);
            computations = server.cli(&["get", &format!("computations:{key}")]);
        }
        notes.push(format!(
            "4 processes, coordinate={coordinate}: {computations} computation(s) of the key per round."
        ));
        timings.push((median(walls), computations));
    }
    let (hoard_ns, hoard_runs) = timings[0].clone();
    let (naive_ns, naive_runs) = timings[1].clone();
    Ok(Comparison {
        title: "Same cold key from 4 processes on one Redis (50 ms computation), wall time until the slowest has it".into(),
        hoard: Measure::new(&format!("hoard get_or_compute with a Redis lease ({hoard_runs} computation)"), hoard_ns),
        peers: vec![Measure::new(
            &format!("hoard get_or_compute, coordinate(false): per-process single-flight only ({naive_runs} computations)"),
            naive_ns,
        )],
    })
}

/// The child side of [`four_processes`]: `URL|KEY|START_AT_MS|COORDINATE`.
pub fn child(spec: &str) -> anyhow::Result<()> {
    let parts: Vec<&str> = spec.split('|').collect();
    anyhow::ensure!(parts.len() == 4, "bad child spec {spec:?}");
    let (url, key, start_at, coordinate) = (
        parts[0].to_owned(),
        parts[1].to_owned(),
        parts[2].parse::<u64>()?,
        parts[3] == "true",
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let cache = Cache::builder()
            .redis(RedisConfig::standalone(&url))
            .build()?;
        cache.ping_l2().await?;
        tokio::time::sleep(Duration::from_millis(
            start_at.saturating_sub(hoard::entry::now_ms()),
        ))
        .await;
        let began = Instant::now();
        let options = ComputeOptions::new().coordinate(coordinate);
        let counter = format!("computations:{key}");
        let _: u64 = cache
            .get_or_compute("bench", &key, &options, || async {
                let client = redis::Client::open(url.as_str()).expect("client");
                let mut connection = client
                    .get_multiplexed_async_connection()
                    .await
                    .expect("connect");
                let _: i64 = redis::cmd("INCR")
                    .arg(&counter)
                    .query_async(&mut connection)
                    .await
                    .expect("incr");
                tokio::time::sleep(Duration::from_millis(50)).await;
                7
            })
            .await?;
        println!("ns: {}", began.elapsed().as_nanos());
        anyhow::Ok(())
    })
}
