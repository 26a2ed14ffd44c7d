//! The measurements at one stored-set size: the three indexes built (the exact index, the
//! f32 scan it replaced, HNSW), searches alone, embedding plus search, the whole lookup,
//! the int8 comparison, and the HNSW recall sweep over `ef_search`.

use super::lookups::{LookupBench, Lookups};
use super::quantized::{compare, Quantized};
use super::timing::{loadavg, time_embed_and_search, time_searches};
use hoard_semantic::embed::bert::BertEmbedder;
use hoard_semantic::hnsw::{recall_at, HnswIndex, HnswParams};
use hoard_semantic::index::{ExactIndex, FlatIndex, VectorIndex};
use std::time::{Duration, Instant};

/// ef_search values of the HNSW sweep.
pub(super) const EF_SWEEP: [usize; 5] = [16, 32, 64, 128, 256];

/// What every size is measured with.
pub(super) struct SizeBench<'a> {
    pub(super) dim: usize,
    /// Nearest neighbours per search (the default `candidates`).
    pub(super) k: usize,
    /// Rounds of the int8 comparison, each contender once per round.
    pub(super) rounds: usize,
    pub(super) params: HnswParams,
    pub(super) model: &'a BertEmbedder,
    /// Held-out question vectors, searched alone.
    pub(super) queries: &'a [&'a [f32]],
    /// Held-out questions embedded one at a time (also asked through the whole lookup).
    pub(super) embed_texts: &'a [String],
    pub(super) lookups: LookupBench<'a>,
    pub(super) runtime: &'a tokio::runtime::Runtime,
}

/// Everything measured at one size.
pub(super) struct SizeResult {
    /// Stored entries.
    pub(super) n: usize,
    /// The load average when this size began.
    pub(super) load: String,
    pub(super) exact_build: Duration,
    pub(super) flat_build: Duration,
    pub(super) hnsw_build: Duration,
    /// p50 and p95 in milliseconds of searches alone, then of embedding plus search.
    pub(super) exact_search: (f64, f64),
    pub(super) flat_search: (f64, f64),
    pub(super) hnsw_search: (f64, f64),
    pub(super) exact_embed: (f64, f64),
    pub(super) flat_embed: (f64, f64),
    pub(super) hnsw_embed: (f64, f64),
    /// The exact index against the f32 scan, alternating, with recall.
    pub(super) quantized: Quantized,
    /// The whole `SemanticCache::lookup`.
    pub(super) lookups: Lookups,
    /// One row per `ef_search` of [`EF_SWEEP`].
    pub(super) recall: Vec<RecallRow>,
}

/// HNSW recall and latency at one `ef_search`.
pub(super) struct RecallRow {
    pub(super) ef: usize,
    /// Recall@1 and recall@k against the exact index.
    pub(super) r1: f64,
    pub(super) rk: f64,
    /// p50 and p95 of a search, in milliseconds.
    pub(super) p50: f64,
    pub(super) p95: f64,
}

impl SizeBench<'_> {
    /// Measures the first `n` stored vectors.
    pub(super) fn run(&self, n: usize) -> anyhow::Result<SizeResult> {
        eprintln!("semantic: {n} entries");
        let load = loadavg();
        let (dim, k) = (self.dim, self.k);
        let stored_vectors = &self.lookups.stored.vectors[..n];
        let started = Instant::now();
        let mut exact = ExactIndex::new(dim);
        for (id, vector) in stored_vectors.iter().enumerate() {
            exact.insert(id as u64, vector);
        }
        let exact_build = started.elapsed();
        let started = Instant::now();
        let mut flat = FlatIndex::new(dim);
        for (id, vector) in stored_vectors.iter().enumerate() {
            flat.insert(id as u64, vector);
        }
        let flat_build = started.elapsed();
        let started = Instant::now();
        let mut hnsw = HnswIndex::with_params(dim, self.params);
        for (id, vector) in stored_vectors.iter().enumerate() {
            hnsw.insert(id as u64, vector);
        }
        let hnsw_build = started.elapsed();
        eprintln!(
            "  built: exact {:.2} s, f32 scan {:.2} s, HNSW {:.1} s",
            exact_build.as_secs_f64(),
            flat_build.as_secs_f64(),
            hnsw_build.as_secs_f64()
        );

        let exact_search = time_searches(&exact, self.queries, k);
        let flat_search = time_searches(&flat, self.queries, k);
        let hnsw_search = time_searches(&hnsw, self.queries, k);
        let exact_embed = time_embed_and_search(self.model, &exact, self.embed_texts, k)?;
        let flat_embed = time_embed_and_search(self.model, &flat, self.embed_texts, k)?;
        let hnsw_embed = time_embed_and_search(self.model, &hnsw, self.embed_texts, k)?;
        let quantized = compare(&flat, &exact, self.queries, k, self.rounds);
        eprintln!(
            "  int8 exact vs f32 scan: p50 {:.3} vs {:.3} ms, recall@1 first pass {:.4}",
            quantized.int8.0,
            quantized.flat.0,
            quantized.recall.first().map_or(f64::NAN, |r| r.first_pass)
        );

        // The whole lookup, default configuration (exact index): embedding, partition
        // search, candidate checks, the entry read from the hoard cache.
        let lookups = self.runtime.block_on(self.lookups.run(n, &exact))?;
        eprintln!(
            "  whole lookups: {} hits out of {}",
            lookups.hits,
            self.embed_texts.len()
        );

        let recall = self.recall_sweep(&mut hnsw, &flat);
        Ok(SizeResult {
            n,
            load,
            exact_build,
            flat_build,
            hnsw_build,
            exact_search,
            flat_search,
            hnsw_search,
            exact_embed,
            flat_embed,
            hnsw_embed,
            quantized,
            lookups,
            recall,
        })
    }

    /// Recall (against the f32 scan) and latency of `hnsw` at every `ef_search` of
    /// [`EF_SWEEP`]; leaves it at the default again.
    fn recall_sweep(&self, hnsw: &mut HnswIndex, exact: &FlatIndex) -> Vec<RecallRow> {
        let owned: Vec<Vec<f32>> = self.queries.iter().map(|q| q.to_vec()).collect();
        let mut rows = Vec::with_capacity(EF_SWEEP.len());
        for ef in EF_SWEEP {
            hnsw.set_ef_search(ef);
            let r1 = recall_at(hnsw, exact, &owned, 1);
            let rk = recall_at(hnsw, exact, &owned, self.k);
            let (p50, p95) = time_searches(hnsw, self.queries, self.k);
            rows.push(RecallRow {
                ef,
                r1,
                rk,
                p50,
                p95,
            });
        }
        hnsw.set_ef_search(self.params.ef_search);
        rows
    }
}
