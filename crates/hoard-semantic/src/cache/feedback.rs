//! Feedback on served hits: a hit judged wrong raises its entry's own bar, in storage so
//! that every instance and every restart applies it.

use super::config::check_threshold;
use super::outcome::FeedbackOutcome;
use super::stored::{
    check_namespace, entry_key, judged_key, tag, Judged, StoredEntry, STORAGE_NAMESPACE,
};
use super::SemanticCache;
use crate::SemanticError;
use std::time::Duration;

impl SemanticCache {
    /// Tells the cache whether a hit it served from entry `id` was right.
    ///
    /// Judged wrong, the entry is from then on served only to queries closer to it than
    /// the hit was (by a margin of 0.02 in similarity), in every instance and across
    /// restarts; other entries are untouched. Judged right, the entry's count of confirmed
    /// hits grows and nothing else changes: one good answer does not loosen the threshold.
    ///
    /// `similarity` is the one the lookup returned; without it, the similarity of the last
    /// hit this instance served from the entry is used (an error if it served none).
    /// `Ok(None)` when no such entry is stored.
    pub async fn feedback(
        &self,
        namespace: &str,
        id: u64,
        correct: bool,
        similarity: Option<f32>,
    ) -> Result<Option<FeedbackOutcome>, SemanticError> {
        check_namespace(namespace)?;
        if let Some(similarity) = similarity {
            check_threshold(similarity)?;
        }
        let Some(entry) = self
            .cache
            .get::<StoredEntry>(STORAGE_NAMESPACE, &entry_key(namespace, id))
            .await?
        else {
            return Ok(None);
        };
        let now = self.now_ms();
        if entry.expires_ms <= now {
            return Ok(None);
        }
        self.sync(namespace).await?;
        let served_at = similarity.or_else(|| {
            self.spaces
                .meta(namespace, id)
                .and_then(|meta| meta.last_hit_similarity())
        });
        let key = judged_key(namespace, id);
        let mut judged: Judged = self
            .cache
            .get(STORAGE_NAMESPACE, &key)
            .await?
            .unwrap_or_default();
        if correct {
            judged.confirmed = judged.confirmed.saturating_add(1);
        } else {
            let Some(served_at) = served_at else {
                return Err(SemanticError::Config(format!(
                    "no hit of entry {id} was served here: send the similarity the lookup returned"
                )));
            };
            judged.refuted = judged.refuted.saturating_add(1);
            judged.refuted_at = Some(judged.refuted_at.map_or(served_at, |s| s.max(served_at)));
        }
        // The judgement lives exactly as long as the entry it is about.
        let ttl = Duration::from_millis(u64::try_from(entry.expires_ms - now).unwrap_or(0));
        self.cache
            .set_with(
                STORAGE_NAMESPACE,
                &key,
                &judged,
                hoard::SetOptions::new().ttl(ttl).tags([tag(namespace)]),
            )
            .await?;
        self.spaces.apply_judgement(namespace, id, &judged);
        self.bump(namespace).await?;
        Ok(Some(FeedbackOutcome {
            min_similarity: judged.bar(),
            confirmed: judged.confirmed,
            refuted: judged.refuted,
        }))
    }
}
