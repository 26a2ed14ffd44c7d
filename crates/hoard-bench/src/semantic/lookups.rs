//! The whole `SemanticCache::lookup` at one size: the stored set in an in-memory hoard cache
//! with the default configuration and the verifier, held-out questions asked through the
//! model, then stored questions asked again after a greeting with each stage timed alone.

use super::data::StoredSet;
use super::timing::percentiles;
use super::vectors::Vectors;
use anyhow::Context as _;
use hoard_semantic::embed::bert::BertEmbedder;
use hoard_semantic::index::{ExactIndex, VectorIndex};
use hoard_semantic::verify::cross::CrossEncoder;
use hoard_semantic::{Embedder, Query, SemanticCache, SemanticConfig, Store};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// Stored questions asked again to time a lookup that reaches the verifier.
pub(super) const REPEATS: usize = 100;

/// What the run at one size is given.
pub(super) struct LookupBench<'a> {
    /// Texts not asked through the model are answered from here.
    pub(super) vectors: &'a Arc<Vectors>,
    /// The model, for timing the embedding stage alone.
    pub(super) model: &'a BertEmbedder,
    pub(super) verifier: &'a CrossEncoder,
    pub(super) stored: &'a StoredSet,
    /// The held-out questions asked through the whole lookup.
    pub(super) asked: &'a [String],
    /// Nearest neighbours searched in the search stage.
    pub(super) k: usize,
}

/// The whole lookups of held-out questions.
pub(super) struct Lookups {
    /// p50 and p95 in milliseconds.
    pub(super) p50: f64,
    pub(super) p95: f64,
    /// How many were hits.
    pub(super) hits: usize,
    /// Stored questions asked again, by stage.
    pub(super) stages: Stages,
}

/// Lookups that reach the verifier, and each of their stages alone (p50s in milliseconds).
pub(super) struct Stages {
    pub(super) embed_p50: f64,
    pub(super) search_p50: f64,
    pub(super) verify_p50: f64,
    pub(super) whole_p50: f64,
    pub(super) whole_p95: f64,
    /// How many of the repeats were hits, out of `repeats`.
    pub(super) hits: usize,
    pub(super) repeats: usize,
}

impl LookupBench<'_> {
    /// Stores the first `n` questions of the stored set and times lookups over them;
    /// `exact` holds the same `n` vectors, for the search stage alone.
    pub(super) async fn run(&self, n: usize, exact: &ExactIndex) -> anyhow::Result<Lookups> {
        let stored = &self.stored.texts[..n];
        let real = self.stored.real;
        let cache = hoard::Cache::builder()
            .memory_bytes(16 << 30)
            .build()
            .context("building the hoard cache")?;
        self.vectors.set_precomputed(true);
        let mut extra = HashMap::new();
        for (text, vector) in stored.iter().zip(&self.stored.vectors).skip(real) {
            extra.insert(text.clone(), vector.clone());
        }
        self.vectors.set_extra(extra);
        let embedder: Arc<dyn Embedder> = self.vectors.clone();
        let semantic = SemanticCache::new(cache, embedder, SemanticConfig::default())?
            .with_verifier(Arc::new(self.verifier.clone()));
        let items: Vec<(String, serde_json::Value)> = stored
            .iter()
            .enumerate()
            .map(|(i, q)| (q.clone(), serde_json::json!({ "answer": i })))
            .collect();
        for chunk in items.chunks(10_000) {
            semantic
                .store_many("bench", chunk, &Store::default())
                .await?;
        }
        anyhow::ensure!(semantic.len("bench") == n, "the cache lost entries");
        // From here on every query text goes through the model.
        self.vectors.set_precomputed(false);
        let mut samples = Vec::with_capacity(self.asked.len());
        let mut hits = 0usize;
        for text in self.asked {
            let started = Instant::now();
            let hit = semantic.lookup("bench", &Query::new(text.as_str())).await?;
            samples.push(started.elapsed());
            hits += usize::from(hit.is_some());
        }
        let stages = self
            .stages(&semantic, &stored[..real.min(n)], exact)
            .await?;
        self.vectors.set_precomputed(true);
        self.vectors.clear_extra();
        let (p50, p95) = percentiles(&mut samples);
        Ok(Lookups {
            p50,
            p95,
            hits,
            stages,
        })
    }

    /// Repeats of stored questions after a greeting: each clears the threshold with other
    /// words, so the verifier's model runs; each stage is timed alone too.
    async fn stages(
        &self,
        semantic: &SemanticCache,
        real_stored: &[String],
        exact: &ExactIndex,
    ) -> anyhow::Result<Stages> {
        let repeats: Vec<(String, String)> = real_stored
            .iter()
            .take(REPEATS)
            .map(|q| (q.clone(), format!("Hi, {q}")))
            .collect();
        let (mut whole, mut embed, mut search, mut verify) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut repeat_hits = 0usize;
        for (stored_q, asked) in &repeats {
            let started = Instant::now();
            let hit = semantic
                .lookup("bench", &Query::new(asked.as_str()))
                .await?;
            whole.push(started.elapsed());
            repeat_hits += usize::from(hit.is_some());
            let started = Instant::now();
            let vector = self
                .model
                .embed_blocking(std::slice::from_ref(asked))?
                .pop()
                .context("no vector")?;
            embed.push(started.elapsed());
            let started = Instant::now();
            std::hint::black_box(exact.search(&vector, self.k));
            search.push(started.elapsed());
            let started = Instant::now();
            std::hint::black_box(
                self.verifier
                    .verify_blocking(&[(stored_q.clone(), asked.clone())])?,
            );
            verify.push(started.elapsed());
        }
        let (whole_p50, whole_p95) = percentiles(&mut whole);
        Ok(Stages {
            embed_p50: percentiles(&mut embed).0,
            search_p50: percentiles(&mut search).0,
            verify_p50: percentiles(&mut verify).0,
            whole_p50,
            whole_p95,
            hits: repeat_hits,
            repeats: repeats.len(),
        })
    }
}
