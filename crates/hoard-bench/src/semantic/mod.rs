//! The `semantic` suite: lookup latency of the semantic cache (LLM answers cached by
//! meaning) at 10,000 and 100,000 entries (search alone, embedding plus search, the whole
//! `SemanticCache::lookup`), the exact index's int8 scan against the f32 scan (latency,
//! recall), HNSW recall@1 against exact search, and the wrong-hit
//! evaluation on Quora question pairs and on the trap fixture, all with the real
//! all-MiniLM-L6-v2 weights.
//!
//! Stored vectors are real embeddings of the unique QQP questions. Embedding them all takes
//! minutes on two cores, so they are kept in a file under `~/.cache/hoard-bench` (keyed by
//! the model's name and weights size): reruns read them back in seconds.
//!
//! One file per job: `data` (the questions and the stored set), `vectors` (the vector
//! cache), `timing`, `sizes`, `quantized` and `lookups` (the runs at each size), `evaluation` (wrong
//! hits), `report` (the Markdown), and `run`, which puts them in order.
//!
//! Needs the `semantic` feature (the local encoder); without it the suite says how to build it.

/// The section title in BENCHMARKS.md.
pub const TITLE: &str = "Semantic cache: lookup latency, HNSW recall, wrong hits";

/// Runs the suite: the Markdown tables and the method paragraph.
#[cfg(not(feature = "semantic"))]
pub fn run(_options: &crate::Options) -> anyhow::Result<(String, String)> {
    anyhow::bail!(
        "the semantic suite runs the MiniLM model locally, which this build leaves out: \
         rebuild with the `semantic` feature, e.g. \
         `cargo run --release -p hoard-bench --features semantic -- --suites semantic`"
    )
}

#[cfg(feature = "semantic")]
mod data;
#[cfg(feature = "semantic")]
mod evaluation;
#[cfg(feature = "semantic")]
mod lookups;
#[cfg(feature = "semantic")]
mod quantized;
#[cfg(feature = "semantic")]
mod report;
#[cfg(feature = "semantic")]
mod run;
#[cfg(feature = "semantic")]
mod sizes;
#[cfg(feature = "semantic")]
mod timing;
#[cfg(feature = "semantic")]
mod vectors;

#[cfg(feature = "semantic")]
pub use run::run;
