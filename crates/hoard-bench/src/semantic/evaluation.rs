//! The wrong-hit evaluation: every QQP pair and every trap pair scored through the guards
//! and the verifier, and the trap pairs' hits counted by kind.

use super::vectors::{Vectors, EMBED_CHUNK};
use hoard_semantic::eval::{self, Pair, Scored};
use hoard_semantic::verify::cross::CrossEncoder;
use hoard_semantic::{SemanticConfig, Verdict};

/// Thresholds of the evaluation tables.
pub(super) const THRESHOLDS: [f32; 6] = [0.70, 0.75, 0.80, 0.85, 0.90, 0.95];

/// The scored pairs, in the order of their files.
pub(super) struct Evaluation {
    pub(super) qqp: Vec<Scored>,
    pub(super) traps: Vec<Scored>,
}

/// Scores `qqp` and `traps` with `config`'s guards and the verifier at its threshold, from
/// the cached vectors.
pub(super) async fn evaluate(
    vectors: &Vectors,
    verifier: &CrossEncoder,
    config: &SemanticConfig,
    qqp: &[Pair],
    traps: &[Pair],
) -> anyhow::Result<Evaluation> {
    vectors.set_precomputed(true);
    let quiet = |_: usize, _: usize| {};
    let verification = eval::Verification {
        verifier,
        threshold: config.verifier_threshold,
        min_similarity: THRESHOLDS.iter().copied().fold(config.threshold, f32::min),
    };
    let qqp = eval::score(
        qqp,
        vectors,
        config.guards,
        config.context_threshold,
        Some(&verification),
        EMBED_CHUNK,
        &quiet,
    )
    .await?;
    let traps = eval::score(
        traps,
        vectors,
        config.guards,
        config.context_threshold,
        Some(&verification),
        EMBED_CHUNK,
        &quiet,
    )
    .await?;
    Ok(Evaluation { qqp, traps })
}

/// Hits of one kind of trap pair at the default threshold.
pub(super) struct KindHits {
    pub(super) kind: String,
    pub(super) pairs: usize,
    /// Hits on cosine similarity alone, and with every check.
    pub(super) cosine_only: usize,
    pub(super) guarded: usize,
}

/// Hits at `threshold` per kind of `traps` (scored as `scored`), kinds in name order.
pub(super) fn hits_by_kind(traps: &[Pair], scored: &[Scored], threshold: f32) -> Vec<KindHits> {
    let mut kinds: Vec<String> = traps.iter().filter_map(|p| p.kind.clone()).collect();
    kinds.sort();
    kinds.dedup();
    kinds
        .into_iter()
        .map(|kind| {
            let of_kind: Vec<Scored> = traps
                .iter()
                .zip(scored)
                .filter(|(p, _)| p.kind.as_deref() == Some(kind.as_str()))
                .map(|(_, s)| *s)
                .collect();
            let hits = |guarded: bool| {
                of_kind
                    .iter()
                    .filter(|s| {
                        s.similarity >= threshold && (!guarded || s.verdict == Verdict::Pass)
                    })
                    .count()
            };
            KindHits {
                pairs: of_kind.len(),
                cosine_only: hits(false),
                guarded: hits(true),
                kind,
            }
        })
        .collect()
}
