//! The suite from start to end: load the model, the verifier and the questions, fill the
//! vector cache, measure every stored-set size, evaluate, and write the report.

use super::data::{model_dir, Questions, StoredSet};
use super::evaluation::{evaluate, hits_by_kind};
use super::lookups::LookupBench;
use super::report::{embed_note, method, Report};
use super::sizes::SizeBench;
use super::timing::loadavg;
use super::vectors::{vector_cache_file, Vectors};
use crate::Options;
use anyhow::Context as _;
use hoard_semantic::embed::bert::{BertEmbedder, BertOptions};
use hoard_semantic::hnsw::HnswParams;
use hoard_semantic::verify::cross::CrossEncoder;
use hoard_semantic::{Embedder, SemanticConfig};
use std::sync::Arc;

/// Runs the suite: the Markdown tables and the method paragraph.
pub fn run(options: &Options) -> anyhow::Result<(String, String)> {
    let load = loadavg();
    let config = SemanticConfig::default();
    let k = config.candidates;
    let dir = model_dir(options)?;
    let model = BertEmbedder::from_dir(&dir, BertOptions::default())
        .with_context(|| format!("loading the model in {}", dir.display()))?;
    let dim = model.dim();
    eprintln!("semantic: model {} from {}", model.id(), dir.display());
    let verifier = CrossEncoder::load(&dir)
        .with_context(|| format!("loading the verifier over {}", dir.display()))?;

    let questions = Questions::load(options)?;

    // Embeddings of every text the run needs (stored sets, held-out queries, evaluation).
    let cache_file = vector_cache_file(&dir, &model)?;
    let mut vectors = Vectors::open(model.clone(), cache_file.clone())?;
    let cached_before = vectors.cached();
    let real = questions.real_count(options);
    let needed = questions.texts_to_embed(real);
    eprintln!(
        "semantic: {} vectors cached in {}",
        cached_before,
        cache_file.display()
    );
    let (embedded, embed_time) = vectors.fill(&needed)?;
    let embed_note = embed_note(embedded, embed_time, cached_before);
    let vectors = Arc::new(vectors);
    let queries: Vec<&[f32]> = questions
        .held_out()
        .iter()
        .map(|t| vectors.get(t))
        .collect::<anyhow::Result<_>>()?;
    let embed_texts: Vec<String> = questions
        .held_out()
        .iter()
        .take(options.embed_queries)
        .cloned()
        .collect();

    let params = HnswParams::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let stored = StoredSet::build(&questions, &vectors, real, dim)?;
    let bench = SizeBench {
        dim,
        k,
        rounds: options.rounds,
        params,
        model: &model,
        queries: &queries,
        embed_texts: &embed_texts,
        lookups: LookupBench {
            vectors: &vectors,
            model: &model,
            verifier: &verifier,
            stored: &stored,
            asked: &embed_texts,
            k,
        },
        runtime: &runtime,
    };
    let mut sizes = options.semantic_entries.clone();
    sizes.sort_unstable();
    let results = sizes
        .iter()
        .map(|&n| bench.run(n))
        .collect::<anyhow::Result<Vec<_>>>()?;

    eprintln!("semantic: evaluation");
    let evaluation = runtime.block_on(evaluate(
        &vectors,
        &verifier,
        &config,
        &questions.eval_pairs,
        &questions.traps,
    ))?;
    let kinds = hits_by_kind(&questions.traps, &evaluation.traps, config.threshold);

    let report = Report {
        sizes: &results,
        evaluation: &evaluation,
        kinds: &kinds,
        config: &config,
        params,
        dim,
        queries: queries.len(),
        embedded_queries: embed_texts.len(),
        real,
        largest: questions.largest,
        synthetic_count: stored.synthetic_count(),
        verifier_id: hoard_semantic::Verifier::id(&verifier),
    };
    let method = method(&load, &embed_note, config.context_threshold);
    Ok((report.markdown(), method))
}
