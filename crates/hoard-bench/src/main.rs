//! `hoard-bench`: hoard and its peers on the same workload, in one run, as ratios.
//!
//! ```text
//! cargo run --release -p hoard-bench -- --write BENCHMARKS.md
//! ```
//!
//! Each comparison runs its contenders alternately for several rounds and reports the
//! median time per operation; the ratio `hoard / peer` is what to read (lower is better),
//! since absolute times on shared machines drift from run to run.

mod alloc;
mod coherence;
mod compute;
mod core;
mod datasets;
mod http;
mod models;
mod python;
mod redis;
mod reliability;
mod report;
mod semantic;
mod snapshot;

use clap::Parser;
use std::path::PathBuf;

/// Counts live heap bytes for the snapshot suite's memory figures; idle otherwise.
#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

/// Command-line options.
#[derive(Debug, Clone, Parser)]
#[command(name = "hoard-bench", version, about)]
pub struct Options {
    /// Total get operations in each L1 round, split over the threads.
    #[arg(long, default_value_t = 1_000_000)]
    pub ops: usize,
    /// Threads issuing L1 gets.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Distinct keys in the L1 workload.
    #[arg(long, default_value_t = 100_000)]
    pub keys: usize,
    /// Zipf exponent of key popularity (1.0: a few keys are very hot).
    #[arg(long, default_value_t = 1.0)]
    pub zipf: f64,
    /// Bytes per value.
    #[arg(long, default_value_t = 256)]
    pub value_size: usize,
    /// Operations per disk round (sets, then gets).
    #[arg(long, default_value_t = 20_000)]
    pub disk_ops: usize,
    /// Operations per Redis round (get, set), each a round trip to a local redis-server.
    #[arg(long, default_value_t = 20_000)]
    pub redis_ops: usize,
    /// Keys per `mget` in the Redis comparison.
    #[arg(long, default_value_t = 100)]
    pub mget_keys: usize,
    /// WAV files in the generated dataset of the `datasets` suite.
    #[arg(long, default_value_t = 100_000)]
    pub dataset_files: usize,
    /// Folders they are spread over, each with its metadata CSV.
    #[arg(long, default_value_t = 100)]
    pub dataset_folders: usize,
    /// Repos in the generated Hugging Face hub cache of the `models` suite.
    #[arg(long, default_value_t = 1000)]
    pub hf_repos: usize,
    /// Images in the generated SQLite catalogue of the `snapshot` suite.
    #[arg(long, default_value_t = 100_000)]
    pub catalogue_images: usize,
    /// Distinct tags in it.
    #[arg(long, default_value_t = 5_000)]
    pub catalogue_tags: usize,
    /// Entries stored in the `semantic` suite's indexes, one measurement per size.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
    pub semantic_entries: Vec<usize>,
    /// Held-out questions searched (as vectors) per size in the `semantic` suite.
    #[arg(long, default_value_t = 1000)]
    pub semantic_queries: usize,
    /// Of those, how many are embedded one at a time for the embed + search latency.
    #[arg(long, default_value_t = 200)]
    pub embed_queries: usize,
    /// Stored questions embedded for real in the `semantic` suite (0: all of them); larger
    /// stored sets are filled with vectors made from these (embedding runs at tens of
    /// questions per second on a small CPU).
    #[arg(long, default_value_t = 0)]
    pub real_vectors: usize,
    /// QQP pairs in the `semantic` suite's evaluation (the first N of the file; 0: all).
    #[arg(long, default_value_t = 0)]
    pub qqp_pairs: usize,
    /// The QQP pairs file (`a`, `b`, `same` JSON lines, gzip).
    #[arg(long, default_value = "../shared/data/qqp_pairs.jsonl.gz")]
    pub qqp_file: PathBuf,
    /// Folder of all-MiniLM-L6-v2 (Hugging Face layout) for the `semantic` suite; default
    /// `$HOARD_MINILM_DIR`, then `~/.cache/hoard-test-models/all-MiniLM-L6-v2`
    /// (scripts/fetch-minilm.sh fills it).
    #[arg(long, value_name = "DIR")]
    pub minilm_dir: Option<PathBuf>,
    /// The Python of the `python` suite, with hoard and its peers installed; default
    /// `$HOARD_BENCH_PYTHON`, then `target/bench-venv/bin/python` (scripts/bench-python.sh
    /// makes that venv).
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
    /// Calls per round of each contender in the `python` suite's memory tables.
    #[arg(long, default_value_t = 200_000)]
    pub py_calls: usize,
    /// Gets per round of each contender in the `python` suite's Redis tables.
    #[arg(long, default_value_t = 3_000)]
    pub py_redis_ops: usize,
    /// Reported rounds of each contender in the `python` suite's stampede.
    #[arg(long, default_value_t = 3)]
    pub stampede_rounds: usize,
    /// Which suites to run.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "core,redis,compute,coherence,http"
    )]
    pub suites: Vec<Suite>,
    /// Rounds per contender; the median is reported.
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Options of the `reliability` suite.
    #[command(flatten)]
    pub reliability: reliability::Args,
    /// Replace this benchmark's section in FILE (BENCHMARKS.md) with the results.
    #[arg(long, value_name = "FILE")]
    pub write: Option<PathBuf>,
}

/// The interpreter of the `python` suite when neither `--python` nor `$HOARD_BENCH_PYTHON`
/// names one: the venv scripts/bench-python.sh makes.
pub const DEFAULT_PYTHON: &str = "target/bench-venv/bin/python";

impl Options {
    /// The `python` suite's interpreter: `--python`, else `$HOARD_BENCH_PYTHON`, else the
    /// default venv. Here rather than in `python` because the report's command line names
    /// it too, and `python` already depends on `report`.
    pub fn python_interpreter(&self) -> PathBuf {
        self.python
            .clone()
            .or_else(|| std::env::var_os("HOARD_BENCH_PYTHON").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_PYTHON))
    }
}

/// A group of comparisons with its own section in BENCHMARKS.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Suite {
    /// L1 against moka, the disk tier against fjall.
    Core,
    /// The Redis tier against raw redis-rs on the same local server.
    Redis,
    /// Compute-through: single-flight, cross-process leases, the `#[cached]` hit path.
    Compute,
    /// Coherence between processes: propagation delay, hit-path cost.
    Coherence,
    /// `hoard serve` against a FastAPI + redis-py results service (needs wrk and Python).
    Http,
    /// Dataset manifests against a Python + Redis scan (needs Python and redis-py).
    Datasets,
    /// `hoard models ls` against huggingface_hub's cache scan (needs huggingface_hub).
    Models,
    /// An image-tagging catalogue in a `Snapshot`: memory with interned tags against `String`
    /// tags, full reload time, query latency during a background reload.
    Snapshot,
    /// Semantic cache: lookup latency, HNSW recall, wrong hits on QQP and the trap pairs
    /// (needs the `semantic` feature and the MiniLM weights).
    Semantic,
    /// The `hoard` Python package against moka-py, cachebox, theine, cachetools, cashews,
    /// aiocache, redis-py and dogpile.cache (needs a venv with them, see `--python`, and
    /// redis-server; skipped with the reason otherwise).
    Python,
    /// The `hoard serve` binary under failures: sustained writes against its memory
    /// budget, kill -9 under writers, a Redis outage, path traversal, idle and slow-header
    /// connections (needs the binary, see `--hoard-bin`, and redis-server). Written to
    /// RELIABILITY.md.
    Reliability,
}

fn main() -> anyhow::Result<()> {
    if let Ok(spec) = std::env::var(compute::CHILD) {
        return compute::child(&spec);
    }
    if let Ok(spec) = std::env::var(coherence::CHILD) {
        return coherence::child(&spec);
    }
    if let Ok(spec) = std::env::var(reliability::CHILD) {
        return reliability::child(&spec);
    }
    let options = Options::parse();
    anyhow::ensure!(
        options.threads > 0 && options.rounds > 0,
        "--threads and --rounds must be at least 1"
    );
    anyhow::ensure!(
        options.keys > 0 && options.ops >= options.threads,
        "--keys and --ops must be positive"
    );
    anyhow::ensure!(
        options.redis_ops > 0 && options.mget_keys > 0,
        "--redis-ops and --mget-keys must be positive"
    );
    anyhow::ensure!(options.hf_repos > 0, "--hf-repos must be positive");
    anyhow::ensure!(
        options.py_calls > 0 && options.py_redis_ops > 0 && options.stampede_rounds > 0,
        "--py-calls, --py-redis-ops and --stampede-rounds must be positive"
    );
    anyhow::ensure!(
        options.semantic_queries > 0 && options.semantic_entries.iter().all(|&n| n > 0),
        "--semantic-queries and --semantic-entries must be positive"
    );
    for suite in &options.suites {
        // Suites either return comparisons (one table per workload, the common method
        // line) or, like `datasets`, their own table and method line.
        let (name, title, comparisons, notes) = match suite {
            Suite::Core => (
                "core",
                "Core: L1 and disk tier",
                core::run(&options)?,
                Vec::new(),
            ),
            Suite::Redis => ("redis", "Redis tier", redis::run(&options)?, Vec::new()),
            Suite::Compute => {
                let (comparisons, notes) = compute::run(&options)?;
                ("compute", "Compute-through", comparisons, notes)
            }
            Suite::Coherence => {
                let (comparisons, notes) = coherence::run(&options)?;
                (
                    "coherence",
                    "Coherence across processes",
                    comparisons,
                    notes,
                )
            }
            Suite::Http => {
                let (comparisons, notes) = http::run(&options)?;
                (
                    "http",
                    "HTTP: results routes against FastAPI + redis-py",
                    comparisons,
                    notes,
                )
            }
            Suite::Datasets => {
                let (table, method) = datasets::run(&options)?;
                let title = "Datasets: manifests against a Python + Redis scan";
                write_own_section(&options, "datasets", title, &table, &method)?;
                continue;
            }
            Suite::Snapshot => {
                let (table, method) = snapshot::run(&options)?;
                let title = "Snapshot: an image-tagging catalogue in memory, interned and reloaded";
                write_own_section(&options, "snapshot", title, &table, &method)?;
                continue;
            }
            Suite::Semantic => {
                let (table, method) = semantic::run(&options)?;
                write_own_section(&options, "semantic", semantic::TITLE, &table, &method)?;
                continue;
            }
            Suite::Python => {
                // Skipped (with the reason on stderr) when the venv or redis-server is missing.
                if let Some((table, method)) = python::run(&options)? {
                    write_own_section(&options, "python", python::TITLE, &table, &method)?;
                }
                continue;
            }
            Suite::Reliability => {
                let (table, method) = reliability::run(&options)?;
                write_own_section(&options, "reliability", reliability::TITLE, &table, &method)?;
                continue;
            }
            Suite::Models => {
                let (comparisons, notes) = models::run(&options)?;
                (
                    "models",
                    "Models: `hoard models ls` against huggingface_hub's cache scan",
                    comparisons,
                    notes,
                )
            }
        };
        let mut table = report::table(&comparisons);
        for note in notes {
            table.push_str(&format!("- {note}\n"));
        }
        if !table.ends_with("\n\n") {
            table.push('\n');
        }
        println!("{table}");
        if let Some(path) = &options.write {
            report::write_section(path, name, &report::section(&options, title, &table))?;
            eprintln!("wrote the {name} section of {}", path.display());
        }
    }
    Ok(())
}

/// Prints a suite that makes its own table and method line (not comparisons), and writes
/// it as section `name` of `--write`'s file.
fn write_own_section(
    options: &Options,
    name: &str,
    title: &str,
    table: &str,
    method: &str,
) -> anyhow::Result<()> {
    println!("{table}");
    if let Some(path) = &options.write {
        let body = report::section_with(options, title, method, table);
        report::write_section(path, name, &body)?;
        eprintln!("wrote the {name} section of {}", path.display());
    }
    Ok(())
}
