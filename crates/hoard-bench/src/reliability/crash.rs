//! kill -9 under writers: every PUT the server answered 2xx must be there, with its value,
//! after a SIGKILL at a random moment and a restart on the same data dir.

use super::client::{Client, Outcome, Tally};
use super::server::{free_port, Hoard, Workdir};
use super::{thousands, Ctx, Row};
use rand::Rng;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WRITERS: usize = 4;
const READERS: usize = 8;

/// The value written to key `n` of writer `w` in run `run`, known to the checker.
fn value(run: usize, w: usize, n: u64) -> serde_json::Value {
    serde_json::json!({
        "run": run,
        "writer": w,
        "n": n,
        "payload": format!("{:016x}", (n ^ ((w as u64) << 48) ^ ((run as u64) << 56)).wrapping_mul(0x9e37_79b9_7f4a_7c15)).repeat(8),
    })
}

struct RunResult {
    acked: u64,
    lost: u64,
    wrong: u64,
    unreadable: Tally,
    killed_at: f64,
    in_flight_failures: u64,
}

pub async fn run(ctx: &Ctx, name: &str) -> anyhow::Result<(Vec<Row>, Vec<String>)> {
    let args = &ctx.args;
    let mut runs = Vec::new();
    for run in 0..args.kill_runs {
        runs.push(one_run(ctx, run).await?);
    }
    let acked: u64 = runs.iter().map(|r| r.acked).sum();
    let lost: u64 = runs.iter().map(|r| r.lost).sum();
    let wrong: u64 = runs.iter().map(|r| r.wrong).sum();
    let mut unreadable = Tally::default();
    for r in &runs {
        unreadable.merge(&r.unreadable);
    }
    let per_run: Vec<String> = runs
        .iter()
        .map(|r| {
            format!(
                "killed at {:.1} s: {} acknowledged, {} lost, {} wrong",
                r.killed_at,
                thousands(r.acked),
                r.lost,
                r.wrong
            )
        })
        .collect();
    let unreadable_text = if unreadable.total() == 0 {
        String::new()
    } else {
        format!(
            "; {} keys could not be read back ({})",
            unreadable.total(),
            unreadable.describe()
        )
    };
    let in_flight: u64 = runs.iter().map(|r| r.in_flight_failures).sum();
    let rows = vec![Row::new(
        name,
        &format!(
            "{} runs: {WRITERS} writers PUT distinct keys with known values (embedded tier), SIGKILL at a random moment {}-{} s in, restart on the same data dir, GET every key whose PUT was answered 2xx: lost (404) and wrong (another value)",
            args.kill_runs, args.kill_after_min_secs, args.kill_after_max_secs
        ),
        format!(
            "{} lost, {} wrong of {} acknowledged writes{unreadable_text} ({}); {} PUTs in flight at the kill got no answer and are not counted",
            lost,
            wrong,
            thousands(acked),
            per_run.join("; "),
            in_flight
        ),
        "0 lost, 0 wrong",
        lost == 0 && wrong == 0 && unreadable.total() == 0,
    )];
    Ok((rows, Vec::new()))
}

async fn one_run(ctx: &Ctx, run: usize) -> anyhow::Result<RunResult> {
    let args = &ctx.args;
    let workdir = Workdir::new("256MiB", "")?;
    let port = free_port()?;
    let mut hoard = Hoard::start(&ctx.bin, &workdir, port, &[]).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (stop, addr) = (stop.clone(), hoard.addr);
            tokio::spawn(async move {
                let mut client = Client::new(addr, Duration::from_secs(10));
                let mut acked = Vec::new();
                let mut failures = 0u64;
                let mut n = 0u64;
                while !stop.load(Relaxed) {
                    let body = value(run, w, n).to_string();
                    let outcome = client
                        .put_json(&format!("/v1/cache/crash/w{w}-{n}"), body.as_bytes())
                        .await;
                    if outcome.is_success() {
                        acked.push(n);
                    } else {
                        failures += 1;
                        // Past the kill nothing answers; do not spin on refused connects.
                        if stop.load(Relaxed) {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    n += 1;
                }
                (acked, failures)
            })
        })
        .collect();
    let wait = rand::rng().random_range(args.kill_after_min_secs..=args.kill_after_max_secs);
    let began = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(wait)).await;
    hoard.kill9();
    let killed_at = began.elapsed().as_secs_f64();
    stop.store(true, Relaxed);
    let mut acked_keys: Vec<(usize, u64)> = Vec::new();
    let mut in_flight_failures = 0;
    for (w, writer) in writers.into_iter().enumerate() {
        let (acked, failures) = writer.await?;
        acked_keys.extend(acked.into_iter().map(|n| (w, n)));
        in_flight_failures += failures;
    }
    drop(hoard);
    // The same data dir and config; a new port (the old one may linger in TIME_WAIT).
    let hoard = Hoard::start(&ctx.bin, &workdir, free_port()?, &[]).await?;
    let acked = acked_keys.len() as u64;
    let keys = Arc::new(acked_keys);
    let readers: Vec<_> = (0..READERS)
        .map(|r| {
            let (keys, addr) = (keys.clone(), hoard.addr);
            tokio::spawn(async move {
                let mut client = Client::new(addr, Duration::from_secs(10));
                let (mut lost, mut wrong) = (0u64, 0u64);
                let mut unreadable = Tally::default();
                for &(w, n) in keys.iter().skip(r).step_by(READERS) {
                    let outcome = client.get(&format!("/v1/cache/crash/w{w}-{n}")).await;
                    match &outcome {
                        Outcome::Answered(response) if response.status == 200 => {
                            let got: Option<serde_json::Value> =
                                serde_json::from_slice(&response.body).ok();
                            if got.as_ref() != Some(&value(run, w, n)) {
                                wrong += 1;
                            }
                        }
                        Outcome::Answered(response) if response.status == 404 => lost += 1,
                        other => unreadable.add(other),
                    }
                }
                (lost, wrong, unreadable)
            })
        })
        .collect();
    let mut result = RunResult {
        acked,
        lost: 0,
        wrong: 0,
        unreadable: Tally::default(),
        killed_at,
        in_flight_failures,
    };
    for reader in readers {
        let (lost, wrong, unreadable) = reader.await?;
        result.lost += lost;
        result.wrong += wrong;
        result.unreadable.merge(&unreadable);
    }
    Ok(result)
}
