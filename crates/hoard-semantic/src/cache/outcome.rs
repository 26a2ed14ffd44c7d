//! What the cache answers: a hit, why a lookup missed, what feedback changed.

use crate::guard::Verdict;

/// A hit.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Hit {
    /// The entry's id.
    pub id: u64,
    /// Cosine similarity of the two queries.
    pub similarity: f32,
    /// The stored query that matched.
    pub matched_query: String,
    /// The stored answer.
    pub value: serde_json::Value,
}

/// A candidate that cleared the threshold but failed a check, or the best one below it:
/// why a lookup missed (for evaluation and debugging).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NearMiss {
    /// Its similarity.
    pub similarity: f32,
    /// Its query.
    pub matched_query: String,
    /// The check that refused it (`Pass` when only the threshold did).
    pub verdict: Verdict,
}

/// Everything a lookup found.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Outcome {
    /// The answer, if any.
    pub hit: Option<Hit>,
    /// The best candidate that was refused, if any.
    pub near_miss: Option<NearMiss>,
}

/// What [`SemanticCache::feedback`](super::SemanticCache::feedback) did.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct FeedbackOutcome {
    /// The lowest similarity the entry is now served at, when feedback raised it above
    /// the threshold.
    pub min_similarity: Option<f32>,
    /// Hits of this entry judged right so far.
    pub confirmed: u32,
    /// Hits of this entry judged wrong so far.
    pub refuted: u32,
}
