//! hoard's Python package (`hoard`, built from crates/hoard-py) against its Python peers,
//! in one run: the `@cached` hit path, a direct memory `get`, a Redis-backed `get` (sync
//! and asyncio) on one local redis-server, and a cold-key stampede from 4 processes.
//!
//! The timing happens in Python (python/bench_py.py, one part per subprocess, one JSON
//! document each on stdout), so every contender pays the same interpreter costs; this side
//! starts redis-server, checks the environment, takes medians and writes the section.
//!
//! Needs a Python with hoard and the peers installed (scripts/bench-python.sh makes one);
//! without it, or without redis-server, the suite is skipped with the reason.

use crate::report::{Comparison, Measure};
use crate::Options;
use hoard_testkit::RedisServer;
use serde::Deserialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// The section's title.
pub const TITLE: &str = "Python: the `hoard` package against its Python peers";

/// Processes and callers per process in the stampede.
const PROCESSES: usize = 4;
const CALLERS: usize = 16;

/// Peers whose engine is Rust (the decorator target names the fastest of them).
const RUST_BACKED: [&str; 2] = ["moka-py", "cachebox"];

/// What `bench_py.py versions` prints.
#[derive(Debug, Deserialize)]
struct Versions {
    python: String,
    implementation: String,
    executable: String,
    versions: std::collections::BTreeMap<String, String>,
    missing: Vec<String>,
}

/// One contender's ns/op, one sample per round.
#[derive(Debug, Deserialize)]
struct Samples {
    name: String,
    samples: Vec<f64>,
}

/// One workload as the script reports it.
#[derive(Debug, Deserialize)]
struct RawComparison {
    title: String,
    hoard: Samples,
    peers: Vec<Samples>,
}

/// What a timing part prints.
#[derive(Debug, Deserialize)]
struct Timed {
    comparisons: Vec<RawComparison>,
    notes: Vec<String>,
}

/// One stampede round of one contender.
#[derive(Debug, Deserialize)]
struct StampedeRound {
    computations: u64,
    wall_ms: f64,
    callers: usize,
    errors: Vec<String>,
}

/// One stampede contender.
#[derive(Debug, Deserialize)]
struct StampedeContender {
    name: String,
    how: String,
    rounds: Vec<StampedeRound>,
}

/// What the stampede part prints.
#[derive(Debug, Deserialize)]
struct Stampede {
    contenders: Vec<StampedeContender>,
    callers: usize,
    compute_ms: f64,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join("bench_py.py")
}

/// Runs one part of the script and parses its JSON; its progress and errors go to our
/// stderr as they come.
fn part<T: serde::de::DeserializeOwned>(python: &Path, args: &[String]) -> anyhow::Result<T> {
    let what = args.first().map_or("", String::as_str);
    let out = Command::new(python)
        .arg(script())
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| anyhow::anyhow!("running {}: {e}", python.display()))?;
    anyhow::ensure!(
        out.status.success(),
        "bench_py.py {what} failed ({}); its error is above",
        out.status
    );
    serde_json::from_slice(&out.stdout).map_err(|e| {
        anyhow::anyhow!(
            "bench_py.py {what} printed {:?}: {e}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

fn comparison(raw: RawComparison) -> Comparison {
    let measure = |s: &Samples| Measure::new(&s.name, median(&s.samples));
    Comparison {
        title: raw.title,
        hoard: measure(&raw.hoard),
        peers: raw.peers.iter().map(measure).collect(),
    }
}

/// The 1-minute load average.
fn load() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Why the suite cannot run here, if it cannot.
fn missing(python: &Path) -> anyhow::Result<Result<Versions, String>> {
    if !hoard_testkit::redis_available() {
        return Ok(Err(
            "redis-server is not installed (apt-get install redis-server redis-tools)".into(),
        ));
    }
    let runs = Command::new(python)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !runs {
        return Ok(Err(format!(
            "no Python at {} (scripts/bench-python.sh makes that venv with hoard and its peers; or pass --python PATH)",
            python.display()
        )));
    }
    let versions: Versions = part(python, &["versions".into()])?;
    if !versions.missing.is_empty() {
        return Ok(Err(format!(
            "{} lacks {} (scripts/bench-python.sh installs them)",
            python.display(),
            versions.missing.join(", ")
        )));
    }
    Ok(Ok(versions))
}

/// Runs the suite: `None` (after saying why on stderr) when it cannot run here, else the
/// section's table and method paragraph.
pub fn run(options: &Options) -> anyhow::Result<Option<(String, String)>> {
    let python = options.python_interpreter();
    let versions = match missing(&python)? {
        Ok(versions) => versions,
        Err(reason) => {
            eprintln!("python suite skipped: {reason}");
            return Ok(None);
        }
    };
    let load_before = load();
    let began = Instant::now();
    let server = RedisServer::start();
    let url = format!("{}/0", server.url().trim_end_matches('/'));
    let rounds = options.rounds.to_string();
    let calls = options.py_calls.to_string();

    let mut comparisons = Vec::new();
    let mut notes = Vec::new();
    for args in [
        vec!["hits", "--calls", &calls, "--rounds", &rounds],
        vec!["get", "--calls", &calls, "--rounds", &rounds],
    ] {
        let timed: Timed = part(
            &python,
            &args.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )?;
        comparisons.extend(timed.comparisons.into_iter().map(comparison));
        notes.extend(timed.notes);
    }
    // Round trips are noisier than memory hits: twice the rounds, each shorter.
    let redis_rounds = (options.rounds * 2).to_string();
    let timed: Timed = part(
        &python,
        &[
            "redis".into(),
            "--url".into(),
            url.clone(),
            "--ops".into(),
            options.py_redis_ops.to_string(),
            "--rounds".into(),
            redis_rounds.clone(),
        ],
    )?;
    comparisons.extend(timed.comparisons.into_iter().map(comparison));
    notes.extend(timed.notes);
    let stampede: Stampede = part(
        &python,
        &[
            "stampede".into(),
            "--url".into(),
            url,
            "--processes".into(),
            PROCESSES.to_string(),
            "--threads".into(),
            CALLERS.to_string(),
            "--rounds".into(),
            options.stampede_rounds.to_string(),
        ],
    )?;
    let load_after = load();

    let mut table = crate::report::table(&comparisons);
    table.push_str(&stampede_table(&stampede));
    notes.extend(targets(&comparisons));
    notes.extend(stampede_notes(&stampede));
    for note in notes {
        let _ = writeln!(table, "- {note}");
    }

    let packages: Vec<String> = versions
        .versions
        .iter()
        .map(|(name, version)| format!("{name} {version}"))
        .collect();
    let load_text = match (load_before, load_after) {
        (Some(b), Some(a)) => {
            format!("load average (1 min) {b:.2} when the suite began, {a:.2} when it ended")
        }
        _ => "load average unknown".into(),
    };
    let method = format!(
        "Machine: {}, {load_text}; the suite took {:.0} s. {} {} ({}); {}. \
         scripts/bench-python.sh makes such a venv (pip installs the peers, and hoard from \
         ./crates/hoard-py or the wheel `HOARD_WHEEL` names) and runs this command. \
         The timing runs in Python (crates/hoard-bench/python/bench_py.py), all contenders of a \
         table in one interpreter, their order rotating from round to round; each row is the \
         median of {} rounds ({} for the Redis tables), time per call including the Python loop \
         that makes it. Ratio = hoard's time / the peer's (lower is better). One redis-server \
         (`--save '' --appendonly no`) on a free loopback port serves the Redis tables and the \
         stampede.",
        crate::report::machine(),
        began.elapsed().as_secs_f64(),
        versions.implementation,
        versions.python,
        versions.executable,
        packages.join(", "),
        options.rounds,
        redis_rounds,
    );
    Ok(Some((table, method)))
}

fn stampede_table(s: &Stampede) -> String {
    let mut out = format!(
        "#### Stampede: one cold key, {PROCESSES} processes x {CALLERS} callers started together ({} callers), the function sleeps {:.0} ms and counts its runs with a Redis INCR\n\n",
        s.callers, s.compute_ms
    );
    out.push_str("| contender | callers in each process | computations, each round | wall time until every caller had the value (median) | errors |\n|---|---|---:|---:|---:|\n");
    for c in &s.contenders {
        let counts: Vec<String> = c
            .rounds
            .iter()
            .map(|r| r.computations.to_string())
            .collect();
        let walls: Vec<f64> = c.rounds.iter().map(|r| r.wall_ms).collect();
        let errors: usize = c
            .rounds
            .iter()
            .map(|r| r.errors.len() + s.callers.saturating_sub(r.callers))
            .sum();
        let how = if c.how == "threads" {
            format!("{CALLERS} threads")
        } else {
            format!("{CALLERS} asyncio tasks on one loop")
        };
        let _ = writeln!(
            out,
            "| {} | {how} | **{}** | {:.0} ms | {errors} |",
            c.name,
            counts.join(", "),
            median(&walls)
        );
    }
    out.push('\n');
    out
}

/// Whether the two targets are met, from the measured ratios.
fn targets(comparisons: &[Comparison]) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(hits) = comparisons
        .iter()
        .find(|c| c.title.starts_with("Decorator hit path"))
    {
        let rust: Vec<&Measure> = hits
            .peers
            .iter()
            .filter(|p| RUST_BACKED.iter().any(|r| p.name.starts_with(r)))
            .collect();
        let moka = rust.iter().find(|p| p.name.starts_with("moka-py"));
        let fastest = rust
            .iter()
            .min_by(|a, b| a.ns_per_op.total_cmp(&b.ns_per_op));
        if let (Some(moka), Some(fastest)) = (moka, fastest) {
            let verdict = |ratio: f64| if ratio <= 1.0 { "met" } else { "not met" };
            let (to_moka, to_fastest) = (
                hits.hoard.ns_per_op / moka.ns_per_op,
                hits.hoard.ns_per_op / fastest.ns_per_op,
            );
            notes.push(format!(
                "Target \"decorator hit within 1.0x of moka-py's\": {} (hoard {:.0} ns against moka-py {:.0} ns, {to_moka:.2}x); \"no slower than the fastest Rust-backed Python cache\": {} (that is {} at {:.0} ns, {to_fastest:.2}x).",
                verdict(to_moka),
                hits.hoard.ns_per_op,
                moka.ns_per_op,
                verdict(to_fastest),
                fastest.name.split(" `").next().unwrap_or(&fastest.name),
                fastest.ns_per_op,
            ));
        }
    }
    let redis: Vec<&Comparison> = comparisons
        .iter()
        .filter(|c| c.title.starts_with("Redis-backed get"))
        .collect();
    if !redis.is_empty() {
        let ratios: Vec<String> = redis
            .iter()
            .flat_map(|c| {
                c.peers.iter().map(move |p| {
                    format!(
                        "{} {:.2}x",
                        p.name.split(" `").next().unwrap_or(&p.name),
                        c.hoard.ns_per_op / p.ns_per_op
                    )
                })
            })
            .collect();
        let all = redis
            .iter()
            .all(|c| c.peers.iter().all(|p| c.hoard.ns_per_op < p.ns_per_op));
        notes.push(format!(
            "Target \"Redis-backed get faster than every pure-Python peer on the same Redis\": {} (hoard / peer: {}).",
            if all { "met" } else { "not met" },
            ratios.join(", ")
        ));
    }
    notes
}

fn stampede_notes(s: &Stampede) -> Vec<String> {
    let mut notes = vec![format!(
        "Stampede: every process imports and sets up every contender first and says it is ready; then, contender by contender (the order rotating each round, a first unreported round warming connections up), each gets the same start time, a fresh key and a fresh counter key. A computation is one INCR of the counter; the wall time runs from the start to the last of the {} callers returning, each caller checking it got the right dict.",
        s.callers
    )];
    let aiocache: Vec<String> = s
        .contenders
        .iter()
        .filter(|c| c.name.starts_with("aiocache"))
        .flat_map(|c| c.rounds.iter().map(|r| r.computations.to_string()))
        .collect();
    notes.push(format!(
        "aiocache's `cached_stampede` coordinates only within a process, and not always there: `RedLock` takes a lock key in Redis (SET NX), but a caller that finds it taken waits on an `asyncio.Event` that the holder registers, after its own SET NX returns, in a class-level dict of its process. A caller in another process never finds the key in that dict (`KeyError`, caught) and computes at once; so does one in the holder's process whose failed SET NX is handled before the holder has registered the event. Hence anywhere from 1 + {} x {CALLERS} = {} to {} computations (here {}).",
        PROCESSES - 1,
        1 + (PROCESSES - 1) * CALLERS,
        PROCESSES * CALLERS,
        aiocache.join(", ")
    ));
    notes.push("dogpile.cache (with `thread_local_lock=False`, as it asks for a distributed lock): every caller that misses takes the Redis lock in turn to re-check the value, polling for it every `lock_sleep` (dogpile's default 0.1 s), hence its wall time.".into());
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn targets_follow_the_ratios() {
        let hits = Comparison {
            title: "Decorator hit path: x".into(),
            hoard: Measure::new("hoard", 2000.0),
            peers: vec![
                Measure::new("moka-py `x`", 1000.0),
                Measure::new("cachebox `y`", 800.0),
                Measure::new("cachetools `z`", 500.0),
            ],
        };
        let redis = Comparison {
            title: "Redis-backed get, sync".into(),
            hoard: Measure::new("hoard", 50.0),
            peers: vec![Measure::new("redis-py `get`", 100.0)],
        };
        let notes = targets(&[hits, redis]);
        assert!(
            notes[0].contains(": not met (hoard 2000 ns against moka-py 1000 ns, 2.00x)"),
            "{notes:?}"
        );
        assert!(
            notes[0].contains(": not met (that is cachebox at 800 ns, 2.50x)"),
            "{notes:?}"
        );
        assert!(
            notes[1].contains(": met (hoard / peer: redis-py 0.50x)"),
            "{notes:?}"
        );
    }

    #[test]
    fn a_missing_interpreter_is_a_reason_to_skip() {
        if !hoard_testkit::redis_available() {
            return;
        }
        let reason = missing(Path::new("/nonexistent/bin/python"))
            .expect("no error")
            .expect_err("skipped");
        assert!(
            reason.contains("no Python at /nonexistent/bin/python"),
            "{reason}"
        );
    }
}
