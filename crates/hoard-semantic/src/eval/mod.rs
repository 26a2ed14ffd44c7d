//! Evaluation over labelled question pairs: for each pair, the first question is the stored
//! one and the second the lookup; a hit on a pair labelled `same: false` is a wrong hit.
//!
//! For each threshold the report gives precision (hits that were right), recall (true
//! pairs served), wrong-hit rate (different pairs served) and hit rate, for the cosine
//! threshold alone and with the guards, plus the best recall reachable with at most 1% and
//! 5% wrong hits.

pub mod conversations;

use crate::embed::Embedder;
use crate::guard::{leans_on_context, Guards, Signature, Verdict};
use crate::index::dot;
use crate::SemanticError;
use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

/// One labelled pair.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pair {
    /// The stored question.
    pub a: String,
    /// The asked question.
    pub b: String,
    /// Whether one answer serves both.
    pub same: bool,
    /// What kind of pair (`paraphrase`, `negation`, `number`, ...), for per-kind figures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The conversation `a` was asked in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_a: Option<String>,
    /// The conversation `b` is asked in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_b: Option<String>,
}

/// Reads JSON Lines of pairs (gzip-compressed if the name ends in `.gz`). A malformed
/// line is an error naming its line number.
pub fn read_pairs(path: &Path) -> Result<Vec<Pair>, SemanticError> {
    read_jsonl(path)
}

/// Reads JSON Lines of `T` (gzip-compressed if the name ends in `.gz`); blank lines are
/// skipped, and a malformed line is an error naming its line number.
fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>, SemanticError> {
    let file = std::fs::File::open(path).map_err(|e| SemanticError::Pairs {
        path: path.display().to_string(),
        line: 0,
        reason: e.to_string(),
    })?;
    let reader: Box<dyn BufRead> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(std::io::BufReader::new(flate2::read::GzDecoder::new(file)))
    } else {
        Box::new(std::io::BufReader::new(file))
    };
    let mut rows = Vec::new();
    for (number, line) in reader.lines().enumerate() {
        let fail = |reason: String| SemanticError::Pairs {
            path: path.display().to_string(),
            line: number + 1,
            reason,
        };
        let line = line.map_err(|e| fail(e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        rows.push(serde_json::from_str(&line).map_err(|e| fail(e.to_string()))?);
    }
    Ok(rows)
}

/// A pair after embedding: its similarity and what the checks say.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// Cosine similarity of `a` and `b`.
    pub similarity: f32,
    /// The checks' verdict (contexts included): a guard's, or [`Verdict::Verifier`] when
    /// the guards passed and the verifier refused.
    pub verdict: Verdict,
    /// The verifier's probability that one answer serves both, for pairs the guards passed
    /// at or above the lowest threshold asked about (`None` otherwise, or without a
    /// verifier).
    pub verifier: Option<f32>,
    /// The label.
    pub same: bool,
}

/// The verifier an evaluation runs, with its bar and the lowest similarity worth asking
/// it about (pairs below every threshold reported are never hits anyway).
pub struct Verification<'a> {
    /// The verifier.
    pub verifier: &'a dyn crate::Verifier,
    /// Lowest probability that passes.
    pub threshold: f32,
    /// Pairs less similar than this are not verified.
    pub min_similarity: f32,
}

/// Embeds every distinct text once (in batches of `batch`) and scores every pair; with a
/// verifier, then verifies the pairs that could be hits.
pub async fn score(
    pairs: &[Pair],
    embedder: &dyn Embedder,
    guards: Guards,
    context_threshold: f32,
    verification: Option<&Verification<'_>>,
    batch: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Vec<Scored>, SemanticError> {
    let mut texts: Vec<String> = Vec::new();
    let mut slot: HashMap<&str, usize> = HashMap::new();
    for pair in pairs {
        for text in [
            Some(&pair.a),
            Some(&pair.b),
            pair.context_a.as_ref(),
            pair.context_b.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            if !slot.contains_key(text.as_str()) {
                slot.insert(text.as_str(), texts.len());
                texts.push(text.clone());
            }
        }
    }
    let mut vectors: Vec<Vec<f32>> = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(batch.max(1)) {
        vectors.extend(embedder.embed(chunk).await?);
        progress(vectors.len(), texts.len());
    }
    let vector = |text: &str| slot.get(text).and_then(|&i| vectors.get(i));
    let mut scored = Vec::with_capacity(pairs.len());
    for pair in pairs {
        let (Some(a), Some(b)) = (vector(&pair.a), vector(&pair.b)) else {
            return Err(SemanticError::Embed("a text was not embedded".into()));
        };
        // As in the cache: conversations count only for a question that leans on them.
        let standalone = !leans_on_context(&pair.a) && !leans_on_context(&pair.b);
        let same_context = match (&pair.context_a, &pair.context_b) {
            (None, None) => true,
            _ if standalone => true,
            (Some(x), Some(y)) => match (vector(x), vector(y)) {
                (Some(x), Some(y)) => dot(x, y) >= context_threshold,
                _ => false,
            },
            _ => false,
        };
        let verdict = Signature::of(&pair.a).agree(&Signature::of(&pair.b), guards, same_context);
        // Without the reference guard, a different context still refuses: it is part of
        // what is matched, as in the cache.
        let verdict = if verdict == Verdict::Pass && !same_context {
            Verdict::References
        } else {
            verdict
        };
        scored.push(Scored {
            similarity: dot(a, b),
            verdict,
            verifier: None,
            same: pair.same,
        });
    }
    if let Some(verification) = verification {
        verify(pairs, &mut scored, verification, batch, progress).await?;
    }
    Ok(scored)
}

/// Runs the verifier on the pairs the guards passed above `min_similarity`.
async fn verify(
    pairs: &[Pair],
    scored: &mut [Scored],
    verification: &Verification<'_>,
    batch: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<(), SemanticError> {
    let asked: Vec<usize> = (0..scored.len())
        .filter(|&i| {
            scored[i].verdict == Verdict::Pass
                && scored[i].similarity >= verification.min_similarity
        })
        .collect();
    let mut done = 0;
    for chunk in asked.chunks(batch.max(1)) {
        let texts: Vec<(String, String)> = chunk
            .iter()
            .map(|&i| (pairs[i].a.clone(), pairs[i].b.clone()))
            .collect();
        let probabilities = verification.verifier.verify(&texts).await?;
        for (&i, p) in chunk.iter().zip(probabilities) {
            scored[i].verifier = Some(p);
            if p < verification.threshold {
                scored[i].verdict = Verdict::Verifier;
            }
        }
        done += chunk.len();
        progress(done, asked.len());
    }
    Ok(())
}

/// Figures at one threshold.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Row {
    /// The similarity threshold.
    pub threshold: f32,
    /// Right hits / hits.
    pub precision: f64,
    /// Right hits / pairs labelled same.
    pub recall: f64,
    /// Wrong hits / pairs labelled different.
    pub wrong_hit_rate: f64,
    /// Hits / pairs.
    pub hit_rate: f64,
}

/// The figures at `threshold`, with the guards (`guarded`) or the threshold alone.
pub fn row(scored: &[Scored], threshold: f32, guarded: bool) -> Row {
    let (mut hits, mut right, mut wrong, mut same, mut different) = (0u64, 0u64, 0u64, 0u64, 0u64);
    for s in scored {
        if s.same {
            same += 1;
        } else {
            different += 1;
        }
        let hit = s.similarity >= threshold && (!guarded || s.verdict == Verdict::Pass);
        if hit {
            hits += 1;
            if s.same {
                right += 1;
            } else {
                wrong += 1;
            }
        }
    }
    let ratio = |n: u64, d: u64| if d == 0 { 0.0 } else { n as f64 / d as f64 };
    Row {
        threshold,
        precision: ratio(right, hits),
        recall: ratio(right, same),
        wrong_hit_rate: ratio(wrong, different),
        hit_rate: ratio(hits, scored.len() as u64),
    }
}

/// The highest recall over thresholds 0.50, 0.51, ..., 1.00 whose wrong-hit rate is at
/// most `budget`, and the row that reaches it.
pub fn best_recall(scored: &[Scored], budget: f64, guarded: bool) -> Option<Row> {
    (50..=100)
        .map(|t| row(scored, t as f32 / 100.0, guarded))
        .filter(|r| r.wrong_hit_rate <= budget)
        .max_by(|a, b| a.recall.total_cmp(&b.recall))
}

/// Why guarded pairs above `threshold` were refused, by verdict: what each check costs
/// (on `same` pairs) and saves (on different pairs).
pub fn refusals(scored: &[Scored], threshold: f32) -> Vec<(Verdict, u64, u64)> {
    let mut counts: Vec<(Verdict, u64, u64)> = Vec::new();
    for s in scored
        .iter()
        .filter(|s| s.similarity >= threshold && s.verdict != Verdict::Pass)
    {
        let at = match counts.iter().position(|(v, _, _)| *v == s.verdict) {
            Some(at) => at,
            None => {
                counts.push((s.verdict, 0, 0));
                counts.len() - 1
            }
        };
        if s.same {
            counts[at].1 += 1;
        } else {
            counts[at].2 += 1;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(similarity: f32, verdict: Verdict, same: bool) -> Scored {
        Scored {
            similarity,
            verdict,
            verifier: None,
            same,
        }
    }

    #[test]
    fn rows_count_right_and_wrong_hits() {
        let scored = [
            s(0.95, Verdict::Pass, true),
            s(0.90, Verdict::Pass, false),
            s(0.92, Verdict::Negation, false),
            s(0.70, Verdict::Pass, true),
        ];
        let plain = row(&scored, 0.85, false);
        assert_eq!((plain.recall, plain.wrong_hit_rate), (0.5, 1.0));
        assert!((plain.precision - 1.0 / 3.0).abs() < 1e-9);
        let guarded = row(&scored, 0.85, true);
        assert_eq!(
            (guarded.recall, guarded.wrong_hit_rate, guarded.precision),
            (0.5, 0.5, 0.5)
        );
        assert_eq!(guarded.hit_rate, 0.5);
        let best = best_recall(&scored, 0.0, true).unwrap();
        assert!(best.threshold > 0.90 && best.recall == 0.5);
        assert_eq!(refusals(&scored, 0.85), [(Verdict::Negation, 0, 1)]);
    }
}
