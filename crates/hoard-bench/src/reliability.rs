//! The reliability suite: the real `hoard serve` binary, as a child process, through five
//! failure scenarios (sustained writes against the memory budget, `kill -9` under
//! writers, a Redis outage, path traversal on the dataset file route, and idle plus
//! slow-header connections), each in a fresh data dir with its own config file. Every
//! row reports what was measured against a target; a missed target is a FAIL in the row,
//! not an error: the suite fails only when it cannot run at all.
//!
//! ```text
//! cargo build --release -p hoard-cli
//! cargo run --release -p hoard-bench -- --suites reliability --write RELIABILITY.md
//! ```

mod client;
mod conns;
mod crash;
mod outage;
mod server;
mod sustained;
mod traversal;

use crate::Options;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The section's title.
pub const TITLE: &str = "Reliability: `hoard serve` under failures";

/// Environment variable that turns the benchmark binary into a holder of idle
/// connections (the idle-connection scenario needs more descriptors than one process may
/// open).
pub const CHILD: &str = "HOARD_BENCH_RELIABILITY_CHILD";

/// Options of the `reliability` suite.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The `hoard` binary under test (`cargo build --release -p hoard-cli` makes it).
    #[arg(long, value_name = "PATH", default_value = "target/release/hoard")]
    pub hoard_bin: PathBuf,
    /// What the binary was built from (a commit, say), for the method line.
    #[arg(long, value_name = "TEXT")]
    pub hoard_rev: Option<String>,
    /// Sustained writes: seconds of load.
    #[arg(long, default_value_t = 60)]
    pub sustained_secs: u64,
    /// Sustained writes: concurrent writers.
    #[arg(long, default_value_t = 8)]
    pub sustained_writers: usize,
    /// Sustained writes: `[cache] memory` of the server.
    #[arg(long, default_value = "256MiB")]
    pub sustained_memory: String,
    /// Sustained writes: `[cache] disk_memory` of the server (the disk tier's block cache
    /// and unflushed writes), left out for binaries that do not know the key.
    #[arg(long, default_value = "64MiB")]
    pub sustained_disk_memory: String,
    /// kill -9: how many kill-and-restart runs.
    #[arg(long, default_value_t = 3)]
    pub kill_runs: usize,
    /// kill -9: the kill comes at a random moment between this many seconds of writes...
    #[arg(long, default_value_t = 2.0)]
    pub kill_after_min_secs: f64,
    /// ...and this many.
    #[arg(long, default_value_t = 5.0)]
    pub kill_after_max_secs: f64,
    /// Redis outage: seconds of load before Redis is killed.
    #[arg(long, default_value_t = 5.0)]
    pub outage_after_secs: f64,
    /// Redis outage: seconds Redis stays down.
    #[arg(long, default_value_t = 10.0)]
    pub outage_secs: f64,
    /// Redis outage: seconds of load after hoard is ready again.
    #[arg(long, default_value_t = 3.0)]
    pub outage_tail_secs: f64,
    /// Idle connections held open against the server.
    #[arg(long, default_value_t = 20_000)]
    pub idle_conns: usize,
    /// Slow-header clients (one header byte a second).
    #[arg(long, default_value_t = 500)]
    pub slow_clients: usize,
    /// Seconds the slow clients and idle connections are held.
    #[arg(long, default_value_t = 30)]
    pub slow_secs: u64,
    /// Which scenarios to run (all by default).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "sustained,crash,outage,traversal,conns"
    )]
    pub scenarios: Vec<Scenario>,
}

/// One scenario of the suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Sustained writes against the memory budget.
    Sustained,
    /// kill -9 under writers.
    Crash,
    /// A Redis outage.
    Outage,
    /// Path traversal on the dataset file route.
    Traversal,
    /// Idle connections and slow headers.
    Conns,
}

impl Scenario {
    const ALL: [Scenario; 5] = [
        Scenario::Sustained,
        Scenario::Crash,
        Scenario::Outage,
        Scenario::Traversal,
        Scenario::Conns,
    ];

    fn id(self) -> &'static str {
        match self {
            Scenario::Sustained => "sustained",
            Scenario::Crash => "crash",
            Scenario::Outage => "outage",
            Scenario::Traversal => "traversal",
            Scenario::Conns => "conns",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Scenario::Sustained => "Sustained writes",
            Scenario::Crash => "kill -9 under writers",
            Scenario::Outage => "Redis outage",
            Scenario::Traversal => "Path traversal",
            Scenario::Conns => "Idle connections and slow headers",
        }
    }
}

impl Args {
    /// The flags that reproduce this run, for the section's command line.
    pub fn flags(&self) -> String {
        let mut out = format!(" --hoard-bin {}", self.hoard_bin.display());
        if let Some(rev) = &self.hoard_rev {
            out.push_str(&format!(" --hoard-rev {rev}"));
        }
        out.push_str(&format!(
            " --sustained-secs {} --sustained-writers {} --sustained-memory {} --sustained-disk-memory {} --kill-runs {} --kill-after-min-secs {} --kill-after-max-secs {} --outage-after-secs {} --outage-secs {} --outage-tail-secs {} --idle-conns {} --slow-clients {} --slow-secs {}",
            self.sustained_secs,
            self.sustained_writers,
            self.sustained_memory,
            self.sustained_disk_memory,
            self.kill_runs,
            self.kill_after_min_secs,
            self.kill_after_max_secs,
            self.outage_after_secs,
            self.outage_secs,
            self.outage_tail_secs,
            self.idle_conns,
            self.slow_clients,
            self.slow_secs
        ));
        if self.scenarios != Scenario::ALL {
            let ids: Vec<&str> = self.scenarios.iter().map(|s| s.id()).collect();
            out.push_str(&format!(" --scenarios {}", ids.join(",")));
        }
        out
    }
}

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    scenario: String,
    measured: String,
    result: String,
    target: String,
    /// `None`: reported, no target.
    pass: Option<bool>,
}

impl Row {
    fn new(scenario: &str, measured: &str, result: String, target: &str, pass: bool) -> Row {
        Row {
            scenario: scenario.into(),
            measured: measured.into(),
            result,
            target: target.into(),
            pass: Some(pass),
        }
    }

    fn reported(scenario: &str, measured: &str, result: String) -> Row {
        Row {
            scenario: scenario.into(),
            measured: measured.into(),
            result,
            target: "none (reported)".into(),
            pass: None,
        }
    }

    /// A scenario that stopped before it measured anything: the reason, as a FAIL.
    fn broken(scenario: &str, error: &anyhow::Error) -> Row {
        let text = format!("{error:#}");
        let first = text.lines().next().unwrap_or("").to_owned();
        Row::new(
            scenario,
            "whether the scenario ran",
            format!("did not complete: {first}"),
            "completes",
            false,
        )
    }
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | what was measured | result | target | pass/fail |\n|---|---|---|---|---|\n",
    );
    for row in rows {
        let verdict = match row.pass {
            Some(true) => "PASS",
            Some(false) => "**FAIL**",
            None => "-",
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {verdict} |\n",
            cell(&row.scenario),
            cell(&row.measured),
            cell(&row.result),
            cell(&row.target)
        ));
    }
    out.push('\n');
    out
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes as `123.4 MiB`.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}

/// What every scenario needs: the binary, where to find the suite's settings.
pub struct Ctx {
    /// The `hoard` binary.
    pub bin: PathBuf,
    /// The suite's options.
    pub args: Args,
}

/// Checks that the binary runs; returns its `--version` line.
fn check_binary(bin: &Path) -> anyhow::Result<String> {
    anyhow::ensure!(
        bin.is_file(),
        "the hoard binary {} does not exist: build it with `cargo build --release -p hoard-cli` (or pass --hoard-bin PATH)",
        bin.display()
    );
    let output = Command::new(bin)
        .arg("--version")
        .output()
        .map_err(|e| anyhow::anyhow!("the hoard binary {} does not run: {e}", bin.display()))?;
    anyhow::ensure!(
        output.status.success(),
        "`{} --version` failed: {}",
        bin.display(),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

/// The command that reproduces this run, with `--target-dir` when the bench binary is not
/// in the workspace's `target/`.
fn exact_command(options: &Options) -> String {
    let target_dir = std::env::current_exe().ok().and_then(|exe| {
        // {target}/release/hoard-bench
        let dir = exe.parent()?.parent()?.to_path_buf();
        let default = std::env::current_dir().ok()?.join("target");
        (dir != default).then_some(dir)
    });
    let target = target_dir.map_or(String::new(), |d| format!(" --target-dir {}", d.display()));
    let write = options
        .write
        .as_ref()
        .map_or(String::new(), |p| format!(" --write {}", p.display()));
    format!(
        "cargo build --release -p hoard-cli{target} && cargo run --release -p hoard-bench{target} -- --suites reliability{}{write}",
        options.reliability.flags()
    )
}

/// Runs every scenario; returns the table and the method paragraph.
pub fn run(options: &Options) -> anyhow::Result<(String, String)> {
    let args = options.reliability.clone();
    let version = check_binary(&args.hoard_bin)?;
    anyhow::ensure!(
        !args.scenarios.contains(&Scenario::Outage) || hoard_testkit::redis_available(),
        "redis-server and redis-cli must be on the PATH for the Redis outage scenario (apt-get install redis-server)"
    );
    anyhow::ensure!(
        args.sustained_secs > 0 && args.sustained_writers > 0,
        "--sustained-secs and --sustained-writers must be positive"
    );
    anyhow::ensure!(
        args.kill_runs > 0 && args.kill_after_min_secs <= args.kill_after_max_secs,
        "--kill-runs must be positive and --kill-after-min-secs at most --kill-after-max-secs"
    );
    hoard_config::parse_size(&args.sustained_memory)
        .map_err(|e| anyhow::anyhow!("--sustained-memory: {e}"))?;
    hoard_config::parse_size(&args.sustained_disk_memory)
        .map_err(|e| anyhow::anyhow!("--sustained-disk-memory: {e}"))?;
    // Descriptors: the idle-connection scenario's children and the server inherit this.
    let (soft, hard) = conns::raise_nofile_limit();
    let ctx = Ctx {
        bin: std::fs::canonicalize(&args.hoard_bin)?,
        args,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let began = Instant::now();
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for scenario in Scenario::ALL {
        if !ctx.args.scenarios.contains(&scenario) {
            continue;
        }
        let name = scenario.name();
        eprintln!("reliability: {name}...");
        let started = Instant::now();
        let result = runtime.block_on(async {
            match scenario {
                Scenario::Sustained => sustained::run(&ctx, name).await,
                Scenario::Crash => crash::run(&ctx, name).await,
                Scenario::Outage => outage::run(&ctx, name).await,
                Scenario::Traversal => traversal::run(&ctx, name).await,
                Scenario::Conns => conns::run(&ctx, name).await,
            }
        });
        match result {
            Ok((mut scenario_rows, mut scenario_notes)) => {
                rows.append(&mut scenario_rows);
                notes.append(&mut scenario_notes);
            }
            Err(error) => {
                eprintln!("reliability: {name} did not complete: {error:#}");
                rows.push(Row::broken(name, &error));
            }
        }
        eprintln!(
            "reliability: {name} took {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    let mut text = table(&rows);
    for note in notes {
        text.push_str(&format!("- {note}\n"));
    }
    text.push('\n');
    let rev = ctx
        .args
        .hoard_rev
        .as_ref()
        .map_or(String::new(), |r| format!(", built from {r}"));
    let method = format!(
        "Machine: {}, load average {} at the end of the run; the suite took {:.0} s. Binary under test: `{}` ({version}{rev}), started as a child process per scenario, each in a fresh temporary folder with its own `hoard.toml`; the load comes from this process over loopback (a small HTTP/1.1 client, one kept-alive connection per writer or reader). File-descriptor limit of this process and the servers it starts: {} (hard {}). Exact command: `{}`.",
        crate::report::machine(),
        load_average(),
        began.elapsed().as_secs_f64(),
        ctx.bin.display(),
        thousands(soft),
        thousands(hard),
        exact_command(options),
    );
    Ok((text, method))
}

/// The idle-connection holder (see [`CHILD`]).
pub fn child(spec: &str) -> anyhow::Result<()> {
    conns::idle_child(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_rows_print() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(mib(3 << 19), "1.5 MiB");
        let text = table(&[
            Row::new("a", "m|x", "r".into(), "t", true),
            Row::new("b", "m", "r".into(), "t", false),
            Row::reported("c", "m", "r".into()),
        ]);
        assert!(text.contains("| a | m\\|x | r | t | PASS |"), "{text}");
        assert!(text.contains("| **FAIL** |"), "{text}");
        assert!(text.contains("| none (reported) | - |"), "{text}");
    }
}
