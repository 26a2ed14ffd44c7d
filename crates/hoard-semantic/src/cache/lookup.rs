//! Lookups: embed the question, search its partition, judge the nearest candidates
//! (threshold, context, feedback, guards, then the verifier), and read the winner's answer.

use super::config::check_threshold;
use super::memory::{partition_key, Meta};
use super::outcome::{Hit, NearMiss, Outcome};
use super::query::Query;
use super::stored::{check_namespace, entry_key, tag, StoredEntry, STORAGE_NAMESPACE};
use super::SemanticCache;
use crate::guard::{leans_on_context, Signature, Verdict};
use crate::index::dot;
use crate::SemanticError;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// A candidate that passed every check before the verifier: its id, its similarity to the
/// query, and what memory holds about it.
type Candidate = (u64, f32, Arc<Meta>);

impl SemanticCache {
    /// The answer stored for a question that means the same as `query`, if any.
    pub async fn lookup(
        &self,
        namespace: &str,
        query: &Query,
    ) -> Result<Option<Hit>, SemanticError> {
        Ok(self.lookup_detailed(namespace, query).await?.hit)
    }

    /// [`SemanticCache::lookup`], also saying why a miss missed.
    pub async fn lookup_detailed(
        &self,
        namespace: &str,
        query: &Query,
    ) -> Result<Outcome, SemanticError> {
        check_namespace(namespace)?;
        let threshold = match query.threshold {
            Some(threshold) => check_threshold(threshold)?,
            None => self.config.threshold_for(namespace),
        };
        self.sync(namespace).await?;
        let (vector, context_vector) = self
            .embed_query(&query.text, query.context.as_deref())
            .await?;
        let signature = Signature::of(&query.text);
        let asked_leans = leans_on_context(&query.text);
        let now = self.now_ms();
        let partition_key = partition_key(&query.filters);
        let mut outcome = Outcome::default();
        // The checks that turned candidates down, counted once the lookup is answered.
        let mut refused = Vec::new();
        let mut expired = Vec::new();
        let passed = {
            let spaces = self.spaces.read();
            let Some(partition) = spaces
                .get(namespace)
                .and_then(|space| space.partitions.get(&partition_key))
            else {
                self.counts.lookup(namespace, false, &refused);
                return Ok(outcome);
            };
            let mut passed = Vec::new();
            for (id, similarity) in partition.index.search(&vector, self.config.candidates) {
                let Some(meta) = partition.entries.get(&id) else {
                    continue;
                };
                if meta.expires_ms <= now {
                    expired.push(id);
                    continue;
                }
                let refuse = |verdict| NearMiss {
                    similarity,
                    matched_query: meta.query.clone(),
                    verdict,
                };
                if similarity < threshold {
                    if outcome.near_miss.is_none() {
                        outcome.near_miss = Some(refuse(Verdict::Pass));
                    }
                    break;
                }
                // Conversations are compared only when a question leans on the turns
                // before it: a standalone question means the same in any conversation,
                // and turns it does not lean on must not keep it from a hit.
                let same_context = match (&context_vector, &meta.context_vector) {
                    (None, None) => true,
                    _ if !asked_leans && !leans_on_context(&meta.query) => true,
                    (Some(a), Some(b)) => dot(a, b) >= self.config.context_threshold,
                    _ => false,
                };
                let verdict = if similarity < meta.min_similarity() {
                    Verdict::Feedback
                } else if same_context || !self.config.guards.references {
                    signature.agree(&meta.signature, self.config.guards, same_context)
                } else {
                    Verdict::References
                };
                if verdict == Verdict::Pass {
                    passed.push((id, similarity, meta.clone()));
                    continue;
                }
                refused.push(verdict);
                if outcome.near_miss.is_none() {
                    outcome.near_miss = Some(refuse(verdict));
                }
            }
            // Equally close candidates: the one asked in the same conversation first (a
            // standalone question stored under two conversations finds its own).
            let in_context = |meta: &Arc<Meta>| match (&context_vector, &meta.context_vector) {
                (None, None) => true,
                (Some(a), Some(b)) => dot(a, b) >= self.config.context_threshold,
                _ => false,
            };
            passed.sort_by(|a, b| {
                b.1.total_cmp(&a.1)
                    .then_with(|| in_context(&b.2).cmp(&in_context(&a.2)))
            });
            passed
        };
        for id in expired {
            self.spaces.forget(namespace, id);
        }
        let passed = self
            .verified(&query.text, passed, &mut outcome, &mut refused)
            .await?;
        // Best first; one gone from storage (expired, deleted or cleared elsewhere) is
        // dropped here too, and the next one is tried.
        for (id, similarity, meta) in passed {
            match self
                .cache
                .get::<StoredEntry>(STORAGE_NAMESPACE, &entry_key(namespace, id))
                .await?
            {
                Some(entry) if entry.expires_ms > now => {
                    meta.last_used_ms.store(now, Ordering::Relaxed);
                    meta.last_hit_similarity
                        .store(similarity.to_bits(), Ordering::Relaxed);
                    if self.config.extend_on_hit {
                        self.extend(namespace, entry.clone()).await;
                    }
                    outcome.hit = Some(Hit {
                        id,
                        similarity,
                        matched_query: meta.query.clone(),
                        value: entry.value,
                    });
                    break;
                }
                _ => self.spaces.forget(namespace, id),
            }
        }
        self.counts
            .lookup(namespace, outcome.hit.is_some(), &refused);
        Ok(outcome)
    }

    /// The candidates the verifier accepts, best first. The best one is judged alone (it
    /// is the hit almost always), the others together only when it is refused; with no
    /// verifier, all of them.
    async fn verified(
        &self,
        asked: &str,
        passed: Vec<Candidate>,
        outcome: &mut Outcome,
        refused: &mut Vec<Verdict>,
    ) -> Result<Vec<Candidate>, SemanticError> {
        let Some(verifier) = &self.verifier else {
            return Ok(passed);
        };
        let mut kept = Vec::new();
        let mut rest = passed.into_iter();
        let mut next: Vec<_> = rest.by_ref().take(1).collect();
        while !next.is_empty() {
            let pairs: Vec<(String, String)> = next
                .iter()
                .map(|(_, _, meta)| (meta.query.clone(), asked.to_owned()))
                .collect();
            let scores = verifier.verify(&pairs).await?;
            for ((id, similarity, meta), score) in next.into_iter().zip(scores) {
                if score >= self.config.verifier_threshold {
                    kept.push((id, similarity, meta));
                    continue;
                }
                refused.push(Verdict::Verifier);
                if outcome.near_miss.is_none() {
                    outcome.near_miss = Some(NearMiss {
                        similarity,
                        matched_query: meta.query.clone(),
                        verdict: Verdict::Verifier,
                    });
                }
            }
            if !kept.is_empty() {
                // The rest stay unjudged, so they are not served: when the accepted one
                // has just left storage, this lookup misses.
                break;
            }
            next = rest.by_ref().collect();
        }
        Ok(kept)
    }

    /// The vectors of a question and of the conversation it was asked in, in one batch.
    async fn embed_query(
        &self,
        text: &str,
        context: Option<&str>,
    ) -> Result<(Vec<f32>, Option<Vec<f32>>), SemanticError> {
        let mut texts = vec![text.to_owned()];
        if let Some(context) = context {
            texts.push(context.to_owned());
        }
        let mut vectors = self.embedder.embed(&texts).await?.into_iter();
        let vector = vectors
            .next()
            .ok_or_else(|| SemanticError::Embed("no vector returned".into()))?;
        Ok((vector, vectors.next()))
    }

    /// Restarts the lifetime of a hit entry (`extend_on_hit`), in storage then in memory.
    /// A failure only costs the extension: the hit is still served.
    async fn extend(&self, namespace: &str, mut entry: StoredEntry) {
        let ttl =
            Duration::from_millis(u64::try_from(entry.expires_ms - entry.created_ms).unwrap_or(0));
        let now = self.now_ms();
        entry.expires_ms = now.saturating_add(entry.expires_ms - entry.created_ms);
        entry.created_ms = now;
        let options = hoard::SetOptions::new().ttl(ttl).tags([tag(namespace)]);
        if let Err(error) = self
            .cache
            .set_with(
                STORAGE_NAMESPACE,
                &entry_key(namespace, entry.id),
                &entry,
                options,
            )
            .await
        {
            tracing::warn!(%error, "could not extend a semantic entry");
            return;
        }
        self.spaces
            .extend(namespace, entry.id, entry.expires_ms, now);
    }
}
