//! `hoard-bench`: hoard and its peers on the same workload, in one run, as ratios.
//!
//! ```text
//! cargo run --release -p hoard-bench -- --write BENCHMARKS.md
//! ```
//!
//! Each comparison runs its contenders alternately for several rounds and reports the
//! median time per operation; the ratio `hoard / peer` is what to read (lower is better),
//! since absolute times on shared machines drift from run to run.

mod core;
mod report;

use clap::Parser;
use std::path::PathBuf;

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
    /// Rounds per contender; the median is reported.
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Replace this benchmark's section in FILE (BENCHMARKS.md) with the results.
    #[arg(long, value_name = "FILE")]
    pub write: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    anyhow::ensure!(
        options.threads > 0 && options.rounds > 0,
        "--threads and --rounds must be at least 1"
    );
    anyhow::ensure!(
        options.keys > 0 && options.ops >= options.threads,
        "--keys and --ops must be positive"
    );
    let rows = core::run(&options)?;
    let table = report::table(&rows);
    println!("{table}");
    if let Some(path) = &options.write {
        let section = report::section(&options, &table);
        report::write_section(path, "core", &section)?;
        eprintln!("wrote the core section of {}", path.display());
    }
    Ok(())
}
