//! Redis outage: `hoard serve --redis URL` under writers and readers while a durable
//! redis-server (`--appendonly yes --appendfsync always`) is killed for a while and
//! restarted. What failed meanwhile, how long hoard took to be ready again, and whether
//! any key reads older than its last acknowledged write, through the same server and
//! through a fresh one.
//!
//! The writers stop when the restart begins, so the last write of every key is one made
//! before or during the outage: a write acknowledged during the outage that Redis never
//! got shows up as a stale read afterwards. The readers go on through the recovery and a
//! little after it.

use super::client::{Client, Outcome, Tally};
use super::server::{free_port, Hoard, Workdir};
use super::{thousands, Ctx, Row};
use hoard_testkit::RedisServer;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KEYS: usize = 2000;
const WRITERS: usize = 4;
const READERS: usize = 4;
/// Client timeout: hoard bounds each Redis call by 250 ms, so an answer comes well before.
const TIMEOUT: Duration = Duration::from_secs(2);
/// How often Redis's PING and hoard's `/ready` are polled around the outage.
const POLL: Duration = Duration::from_millis(20);

fn target(key: usize) -> String {
    format!("/v1/cache/outage/k{key}")
}

fn body(key: usize, version: u64) -> String {
    serde_json::json!({ "key": key, "version": version }).to_string()
}

/// What a writer knows about one key.
#[derive(Debug, Default, Clone)]
struct KeyState {
    /// The last version answered 2xx (writes to a key are sequential, by one writer).
    acked: u64,
    /// Versions written after `acked` that were not answered 2xx, with how they ended: a
    /// refused write may still have landed (a Redis call that timed out inside hoard).
    after_ack: Vec<(u64, String)>,
    /// Versions whose request got no answer at all (timeout, transport error): they may
    /// land later, even after a newer acknowledged write.
    unanswered: Vec<u64>,
}

/// One call: when it started and ended (ms since the load began), a write or a read, how
/// it ended, and for a read answered 200 the version it read.
struct Event {
    start_ms: u64,
    end_ms: u64,
    write: bool,
    key: usize,
    outcome: String,
    success: bool,
    version: Option<u64>,
}

/// The version in a stored value.
fn version_of(outcome: &Outcome) -> Option<u64> {
    match outcome {
        Outcome::Answered(r) if r.status == 200 => {
            serde_json::from_slice::<serde_json::Value>(&r.body)
                .ok()
                .and_then(|v| v.get("version").and_then(serde_json::Value::as_u64))
        }
        _ => None,
    }
}

/// How one read compares with what the key's writer knows.
#[derive(Debug, PartialEq, Eq)]
enum Judged {
    Fresh,
    Stale,
    RefusedLanded,
    UnansweredLanded,
}

/// `read`: the version read, `None` for a 404.
fn judge(state: &KeyState, read: Option<u64>) -> Judged {
    match read {
        Some(v) if v == state.acked => Judged::Fresh,
        Some(v) if state.unanswered.contains(&v) => Judged::UnansweredLanded,
        Some(v) if state.after_ack.iter().any(|(a, _)| *a == v) => Judged::RefusedLanded,
        _ => Judged::Stale,
    }
}

/// How a final read of one key compares with what its writer knows.
#[derive(Debug, Default)]
struct Verdicts {
    fresh: u64,
    stale: u64,
    /// Read a write answered with an error (it landed anyway).
    refused_landed: u64,
    /// Read a write that got no answer.
    unanswered_landed: u64,
    unreadable: Tally,
    /// A few stale keys, for the notes.
    examples: Vec<String>,
}

pub async fn run(ctx: &Ctx, name: &str) -> anyhow::Result<(Vec<Row>, Vec<String>)> {
    let args = &ctx.args;
    let mut redis = std::panic::catch_unwind(|| {
        RedisServer::start_with(&["--appendonly", "yes", "--appendfsync", "always"])
    })
    .map_err(|_| anyhow::anyhow!("redis-server did not start"))?;
    let redis_port = redis.port();
    let workdir = Workdir::new("256MiB", "")?;
    let hoard = Hoard::start(&ctx.bin, &workdir, free_port()?, &["--redis", &redis.url()]).await?;
    let addr = hoard.addr;

    // Every key starts at version 0, acknowledged.
    let states: Arc<Vec<Mutex<KeyState>>> =
        Arc::new((0..KEYS).map(|_| Mutex::new(KeyState::default())).collect());
    let fill: Vec<_> = (0..8)
        .map(|i| {
            tokio::spawn(async move {
                let mut client = Client::new(addr, TIMEOUT);
                for key in (i..KEYS).step_by(8) {
                    let outcome = client.put_json(&target(key), body(key, 0).as_bytes()).await;
                    anyhow::ensure!(
                        outcome.is_success(),
                        "prefilling key {key}: {}",
                        outcome.label()
                    );
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for task in fill {
        task.await??;
    }

    let stop_writers = Arc::new(AtomicBool::new(false));
    let stop_readers = Arc::new(AtomicBool::new(false));
    let began = Instant::now();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (stop, states) = (stop_writers.clone(), states.clone());
            tokio::spawn(async move {
                let mut client = Client::new(addr, TIMEOUT);
                let mut events = Vec::new();
                let mut version = 0u64;
                while !stop.load(Relaxed) {
                    version += 1;
                    for key in (w..KEYS).step_by(WRITERS) {
                        if stop.load(Relaxed) {
                            break;
                        }
                        let start_ms = began.elapsed().as_millis() as u64;
                        let outcome = client
                            .put_json(&target(key), body(key, version).as_bytes())
                            .await;
                        let success = outcome.is_success();
                        if let Ok(mut state) = states[key].lock() {
                            if success {
                                state.acked = version;
                                state.after_ack.clear();
                            } else {
                                state.after_ack.push((version, outcome.label()));
                                if outcome.status().is_none() {
                                    state.unanswered.push(version);
                                }
                            }
                        }
                        events.push(Event {
                            start_ms,
                            end_ms: began.elapsed().as_millis() as u64,
                            write: true,
                            key,
                            outcome: outcome.label(),
                            success,
                            version: None,
                        });
                    }
                }
                events
            })
        })
        .collect();
    let readers: Vec<_> = (0..READERS)
        .map(|r| {
            let stop = stop_readers.clone();
            tokio::spawn(async move {
                let mut client = Client::new(addr, TIMEOUT);
                let mut events = Vec::new();
                let mut rng = rand::rngs::StdRng::seed_from_u64(r as u64);
                while !stop.load(Relaxed) {
                    let key = rng.random_range(0..KEYS);
                    let start_ms = began.elapsed().as_millis() as u64;
                    let outcome = client.get(&target(key)).await;
                    events.push(Event {
                        start_ms,
                        end_ms: began.elapsed().as_millis() as u64,
                        write: false,
                        key,
                        success: outcome.is_success(),
                        version: version_of(&outcome),
                        outcome: outcome.label(),
                    });
                }
                events
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_secs_f64(args.outage_after_secs)).await;
    tokio::task::block_in_place(|| redis.kill());
    // Redis is gone (killed and reaped) from here on.
    let killed_ms = began.elapsed().as_millis() as u64;
    // From the kill on: PING Redis and GET /ready every 20 ms.
    let poller = tokio::spawn(async move {
        let mut ready_client = Client::new(addr, TIMEOUT);
        let mut ready_during_outage = Tally::default();
        let mut redis_up_ms = None;
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            let ticked = Instant::now();
            if redis_up_ms.is_none() && ping(redis_port).await {
                redis_up_ms = Some(began.elapsed().as_millis() as u64);
            }
            let ready = ready_client.get("/ready").await;
            if let Some(up) = redis_up_ms {
                if ready.status() == Some(200) {
                    return (
                        Some(up),
                        Some(began.elapsed().as_millis() as u64),
                        ready_during_outage,
                    );
                }
            } else {
                ready_during_outage.add(&ready);
            }
            tokio::time::sleep(POLL.saturating_sub(ticked.elapsed())).await;
        }
        (redis_up_ms, None, ready_during_outage)
    });
    tokio::time::sleep(Duration::from_secs_f64(args.outage_secs)).await;
    // The writers stop first: every key's last write is one of the outage or before it.
    stop_writers.store(true, Relaxed);
    let mut events = Vec::new();
    for task in writers {
        events.extend(task.await?);
    }
    let restart_ms = began.elapsed().as_millis() as u64;
    let restarted = tokio::task::block_in_place(|| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| redis.restart()))
    });
    let (redis_up_ms, ready_ms, ready_during_outage) = poller.await?;
    tokio::time::sleep(Duration::from_secs_f64(args.outage_tail_secs)).await;
    stop_readers.store(true, Relaxed);
    for task in readers {
        events.extend(task.await?);
    }
    anyhow::ensure!(
        restarted.is_ok(),
        "redis-server did not come back after the outage"
    );

    // The outage: from the kill to Redis answering PING again.
    let outage_end = redis_up_ms.unwrap_or(u64::MAX);
    let (mut writes, mut reads) = (Tally::default(), Tally::default());
    let mut acked_in_outage = 0u64;
    for event in events
        .iter()
        .filter(|e| e.start_ms >= killed_ms && e.end_ms < outage_end)
    {
        let tally = if event.write { &mut writes } else { &mut reads };
        *tally.0.entry(event.outcome.clone()).or_default() += 1;
        if event.write && event.success {
            acked_in_outage += 1;
        }
    }
    let states: Vec<KeyState> = states
        .iter()
        .map(|s| s.lock().map(|s| s.clone()).unwrap_or_default())
        .collect();
    // Reads through the same server that started once it was ready again.
    let mut tail_reads = 0u64;
    let mut tail_stale = 0u64;
    let mut tail_examples = Vec::new();
    for event in events
        .iter()
        .filter(|e| !e.write && ready_ms.is_some_and(|r| e.start_ms >= r))
    {
        tail_reads += 1;
        let read = match event.outcome.as_str() {
            "200" => event.version,
            "404" => None,
            // Anything else is not an answer about the key.
            _ => continue,
        };
        if judge(&states[event.key], read) == Judged::Stale {
            tail_stale += 1;
            if tail_examples.len() < 3 {
                tail_examples.push(format!(
                    "k{} read {} at {:.2} s, version {} acknowledged",
                    event.key,
                    read.map_or("nothing (404)".into(), |v| format!("version {v}")),
                    event.start_ms as f64 / 1000.0,
                    states[event.key].acked
                ));
            }
        }
    }
    let ambiguous = states
        .iter()
        .filter(|s| !s.after_ack.is_empty() || !s.unanswered.is_empty())
        .count();

    let same = check(addr, &states).await;
    drop(hoard);
    let fresh_dir = Workdir::new("256MiB", "")?;
    let fresh = Hoard::start(
        &ctx.bin,
        &fresh_dir,
        free_port()?,
        &["--redis", &redis.url()],
    )
    .await?;
    let other = check(fresh.addr, &states).await;
    drop(fresh);
    drop(redis);

    let outage_secs = (outage_end.min(restart_ms + 60_000) - killed_ms) as f64 / 1000.0;
    let mut rows = vec![Row::reported(
        name,
        &format!(
            "{WRITERS} writers overwrite {} keys with increasing versions, {READERS} readers read them, through `hoard serve --redis`; Redis (`--appendonly yes --appendfsync always`) SIGKILLed after {} s and restarted {} s later (the writers stop then, the readers {} s after `/ready`): calls made during the outage (started once Redis was dead, ended before it answered PING again), by status",
            thousands(KEYS as u64),
            args.outage_after_secs,
            args.outage_secs,
            args.outage_tail_secs
        ),
        format!(
            "over {outage_secs:.1} s: writes {}; reads {}; **{} writes acknowledged during the outage**; `/ready` meanwhile: {}",
            writes.describe(),
            reads.describe(),
            thousands(acked_in_outage),
            ready_during_outage.describe()
        ),
    )];
    let recovery = match (redis_up_ms, ready_ms) {
        (Some(up), Some(ready)) => Some((ready.saturating_sub(up)) as f64 / 1000.0),
        _ => None,
    };
    rows.push(Row::new(
        name,
        "seconds from Redis answering PING again to `/ready` answering 200 (both polled every 20 ms)",
        match (recovery, redis_up_ms) {
            (Some(s), Some(up)) => format!(
                "{s:.2} s (Redis answered {:.2} s after its restart began)",
                (up.saturating_sub(restart_ms)) as f64 / 1000.0
            ),
            (None, Some(_)) => "`/ready` never answered 200 within 120 s of the kill".into(),
            _ => "Redis never answered PING".into(),
        },
        "at most 2 s",
        recovery.is_some_and(|s| s <= 2.0),
    ));
    let mut notes = Vec::new();
    rows.push(Row::new(
        name,
        "reads through the same `hoard serve` that started after `/ready` answered 200: stale reads (as below)",
        format!(
            "**{} stale** of {} reads{}",
            thousands(tail_stale),
            thousands(tail_reads),
            if tail_examples.is_empty() {
                String::new()
            } else {
                format!(", such as {}", tail_examples.join("; "))
            }
        ),
        "0 stale reads",
        tail_stale == 0 && tail_reads > 0,
    ));
    for (label, verdicts) in [
        ("the same `hoard serve` (its L1 included)", &same),
        ("a fresh `hoard serve` on the same Redis", &other),
    ] {
        let unreadable = if verdicts.unreadable.total() == 0 {
            String::new()
        } else {
            format!(
                "; {} keys unreadable ({})",
                verdicts.unreadable.total(),
                verdicts.unreadable.describe()
            )
        };
        rows.push(Row::new(
            name,
            &format!(
                "after recovery, every key read through {label}: stale reads (a value other than the last acknowledged version, or none), with keys that read a write answered with an error or not answered counted apart"
            ),
            format!(
                "**{} stale** of {} keys, {} fresh; {} read a refused write that landed anyway, {} an unanswered write{unreadable} (the last writes of {} keys, after their last acknowledged one, were refused or unanswered: those keys could read either)",
                thousands(verdicts.stale),
                thousands(KEYS as u64),
                thousands(verdicts.fresh),
                verdicts.refused_landed,
                verdicts.unanswered_landed,
                thousands(ambiguous as u64)
            ),
            "0 stale reads",
            verdicts.stale == 0 && verdicts.unreadable.total() == 0,
        ));
        if !verdicts.examples.is_empty() {
            notes.push(format!(
                "Redis outage, stale reads through {label}, first few: {}.",
                verdicts.examples.join("; ")
            ));
        }
    }
    Ok((rows, notes))
}

/// Whether Redis on `port` answers `PING` with `+PONG` (not `-LOADING`).
async fn ping(port: u16) -> bool {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        stream.write_all(b"PING\r\n").await?;
        let mut reply = [0u8; 64];
        let n = stream.read(&mut reply).await?;
        std::io::Result::Ok(n > 0 && reply[0] == b'+')
    };
    matches!(
        tokio::time::timeout(Duration::from_millis(200), attempt).await,
        Ok(Ok(true))
    )
}

/// Reads every key through the server at `addr` and judges it against `states`.
async fn check(addr: std::net::SocketAddr, states: &[KeyState]) -> Verdicts {
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            tokio::spawn(async move {
                let mut client = Client::new(addr, TIMEOUT);
                let mut got = HashMap::new();
                for key in (i..KEYS).step_by(8) {
                    got.insert(key, client.get(&target(key)).await);
                }
                got
            })
        })
        .collect();
    let mut verdicts = Verdicts::default();
    for task in tasks {
        let Ok(got) = task.await else {
            verdicts
                .unreadable
                .add(&Outcome::Transport("reader task failed".into()));
            continue;
        };
        for (key, outcome) in got {
            let state = &states[key];
            let version = match outcome.status() {
                Some(200) => version_of(&outcome),
                Some(404) => None,
                _ => {
                    verdicts.unreadable.add(&outcome);
                    continue;
                }
            };
            match judge(state, version) {
                Judged::Fresh => verdicts.fresh += 1,
                Judged::UnansweredLanded => verdicts.unanswered_landed += 1,
                Judged::RefusedLanded => verdicts.refused_landed += 1,
                Judged::Stale => {
                    verdicts.stale += 1;
                    if verdicts.examples.len() < 5 {
                        verdicts.examples.push(format!(
                            "k{key} read {} after version {} was acknowledged",
                            version.map_or("nothing (404)".into(), |v| format!("version {v}")),
                            state.acked
                        ));
                    }
                }
            }
        }
    }
    verdicts
}
