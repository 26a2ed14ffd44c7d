//! The semantic cache: entries found by the meaning of their query.
//!
//! A lookup embeds the query, searches the partition (namespace + filters) for the nearest
//! stored queries, and returns the first candidate that clears the similarity threshold,
//! shares the conversation context, and passes the [guards](crate::guard). Entries live in
//! the hoard cache (namespace `semantic`, key `{ns}:e:{id}`, tagged `semantic:{ns}`), so the
//! disk tier or Redis keeps them across restarts and shares them between instances; each
//! instance keeps the vectors of the namespaces it serves in memory and reloads a
//! namespace when its version key (`{ns}:version`, rewritten on every change) moves.
//!
//! An entry's id is a hash of its question, filters and context, so storing the same
//! question again replaces the answer (in every instance) instead of adding a twin.
//! Feedback that a hit was wrong raises that entry's own bar above the similarity it was
//! served at (`{ns}:f:{id}`, read on every reload, so every instance applies it).

use crate::embed::Embedder;
use crate::guard::{Guards, Signature, Verdict};
use crate::index::{dot, ExactIndex, IndexKind, VectorIndex};
use crate::verify::Verifier;
use crate::SemanticError;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The verifier's default bar: on the dev split of `verifier/make_eval.py`, the lowest bar at
/// which every kind of generated trap stays under 1.5% wrong hits at the default threshold
/// (a margin under the 2% budget for questions unlike QQP's).
pub const DEFAULT_VERIFIER_THRESHOLD: f32 = 0.95;

/// The hoard cache namespace of semantic entries.
pub const STORAGE_NAMESPACE: &str = "semantic";

/// How the cache decides.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SemanticConfig {
    /// Lowest cosine similarity, in [0, 1], for a hit (default 0.85).
    pub threshold: f32,
    /// Thresholds per namespace, overriding `threshold`.
    pub namespace_thresholds: BTreeMap<String, f32>,
    /// The wrong-hit checks that run after the search.
    pub guards: Guards,
    /// Lowest similarity, in [0, 1], between two conversation contexts for them to count
    /// as the same (default 0.9).
    pub context_threshold: f32,
    /// Lifetime of an entry stored without one (default 1 day).
    #[serde(with = "humantime_secs")]
    pub ttl: Duration,
    /// Whether a hit restarts the entry's lifetime (default no).
    pub extend_on_hit: bool,
    /// Most entries per partition; the least recently used goes first (default 100,000).
    pub capacity: usize,
    /// Exact search (default) or HNSW.
    pub index: IndexKind,
    /// Nearest neighbours checked per lookup: the nearest may fail a guard while the next
    /// one is a true paraphrase (default 4).
    pub candidates: usize,
    /// Whether the [verifier](crate::verify) judges candidates: unset (the default) runs
    /// it when the model is the local all-MiniLM-L6-v2 it was trained over, `true`
    /// requires it (any other model is an error), `false` turns it off.
    pub verifier: Option<bool>,
    /// Lowest probability, in [0, 1], the verifier must give a candidate for a hit
    /// (default 0.95).
    pub verifier_threshold: f32,
}

impl Default for SemanticConfig {
    fn default() -> SemanticConfig {
        SemanticConfig {
            threshold: 0.85,
            namespace_thresholds: BTreeMap::new(),
            guards: Guards::all(),
            context_threshold: 0.9,
            ttl: Duration::from_secs(24 * 3600),
            extend_on_hit: false,
            capacity: 100_000,
            index: IndexKind::Exact,
            candidates: 4,
            verifier: None,
            verifier_threshold: DEFAULT_VERIFIER_THRESHOLD,
        }
    }
}

mod humantime_secs {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hoard::ttl::format_duration(*d))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text: String = serde::Deserialize::deserialize(d)?;
        hoard::ttl::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

impl SemanticConfig {
    /// Checks every threshold is a similarity in [0, 1] and the sizes are usable.
    pub fn validate(&self) -> Result<(), SemanticError> {
        check_threshold(self.threshold)?;
        check_threshold(self.context_threshold)?;
        check_threshold(self.verifier_threshold)?;
        for threshold in self.namespace_thresholds.values() {
            check_threshold(*threshold)?;
        }
        if self.capacity == 0 || self.candidates == 0 {
            return Err(SemanticError::Config(
                "capacity and candidates must be at least 1".into(),
            ));
        }
        Ok(())
    }

    fn threshold_for(&self, namespace: &str) -> f32 {
        self.namespace_thresholds
            .get(namespace)
            .copied()
            .unwrap_or(self.threshold)
    }
}

/// A similarity threshold must be a number in [0, 1].
pub fn check_threshold(threshold: f32) -> Result<f32, SemanticError> {
    if threshold.is_finite() && (0.0..=1.0).contains(&threshold) {
        Ok(threshold)
    } else {
        Err(SemanticError::InvalidThreshold(threshold))
    }
}

/// What to look up.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// The question.
    pub text: String,
    /// Overrides the configured threshold for this lookup.
    pub threshold: Option<f32>,
    /// Attribute filters (`user_id`): a hard partition, only entries stored with exactly
    /// these filters are searched.
    pub filters: BTreeMap<String, String>,
    /// The conversation so far, for follow-up questions ("how old is he?").
    pub context: Option<String>,
}

impl Query {
    /// A query with no filters and no context.
    pub fn new(text: impl Into<String>) -> Query {
        Query {
            text: text.into(),
            ..Query::default()
        }
    }

    /// Adds a filter.
    pub fn filter(mut self, name: impl Into<String>, value: impl Into<String>) -> Query {
        self.filters.insert(name.into(), value.into());
        self
    }

    /// Sets the conversation context.
    pub fn context(mut self, context: impl Into<String>) -> Query {
        self.context = Some(context.into());
        self
    }

    /// Sets the threshold of this lookup.
    pub fn threshold(mut self, threshold: f32) -> Query {
        self.threshold = Some(threshold);
        self
    }
}

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

/// How to store.
#[derive(Debug, Clone, Default)]
pub struct Store {
    /// Lifetime; the configured `ttl` if none.
    pub ttl: Option<Duration>,
    /// Attribute filters: the partition the entry lives in.
    pub filters: BTreeMap<String, String>,
    /// The conversation the question was asked in.
    pub context: Option<String>,
}

/// What feedback has taught about one entry, stored beside it (`{ns}:f:{id}`).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Judged {
    /// The highest similarity at which this entry was served and judged wrong: it is served
    /// only to neighbours closer than this from now on.
    refuted_at: Option<f32>,
    /// Hits judged right and wrong so far.
    confirmed: u32,
    refuted: u32,
}

/// How far above a similarity judged wrong an entry's own bar goes: neighbours of the same
/// kind score a little differently, and one refutation should stop them too.
const FEEDBACK_MARGIN: f32 = 0.02;

/// What [`SemanticCache::feedback`] did.
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

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct StoredEntry {
    id: u64,
    query: String,
    context: Option<String>,
    filters: BTreeMap<String, String>,
    vector: Vec<f32>,
    context_vector: Option<Vec<f32>>,
    value: serde_json::Value,
    model: String,
    created_ms: i64,
    expires_ms: i64,
}

struct Meta {
    query: String,
    signature: Signature,
    context_vector: Option<Vec<f32>>,
    filters: BTreeMap<String, String>,
    expires_ms: i64,
    last_used_ms: std::sync::atomic::AtomicI64,
    /// The similarity of the last hit this instance served from the entry (f32 bits;
    /// NaN when none), so feedback that names only the entry knows which neighbour it means.
    last_hit_similarity: std::sync::atomic::AtomicU32,
    /// The lowest similarity the entry is served at, raised by feedback (f32 bits; 0.0 when
    /// feedback has not raised it).
    min_similarity: std::sync::atomic::AtomicU32,
}

impl Meta {
    fn min_similarity(&self) -> f32 {
        f32::from_bits(
            self.min_similarity
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    }
}

struct Partition {
    index: Box<dyn VectorIndex>,
    entries: HashMap<u64, Arc<Meta>>,
}

#[derive(Default)]
struct Space {
    partitions: HashMap<String, Partition>,
    /// The version key's value when this process last loaded the namespace.
    synced: Option<String>,
}

/// The semantic cache.
pub struct SemanticCache {
    cache: hoard::Cache,
    embedder: Arc<dyn Embedder>,
    verifier: Option<Arc<dyn Verifier>>,
    config: SemanticConfig,
    spaces: RwLock<HashMap<String, Space>>,
}

impl SemanticCache {
    /// A semantic cache over `cache` using `embedder`.
    pub fn new(
        cache: hoard::Cache,
        embedder: Arc<dyn Embedder>,
        config: SemanticConfig,
    ) -> Result<SemanticCache, SemanticError> {
        config.validate()?;
        Ok(SemanticCache {
            cache,
            embedder,
            verifier: None,
            config,
            spaces: RwLock::new(HashMap::new()),
        })
    }

    /// The embedder `spec` names, the verifier `config.verifier` asks for (see
    /// [`verify::for_spec`](crate::verify::for_spec)), and the cache over them.
    pub async fn open(
        cache: hoard::Cache,
        spec: &crate::embed::EmbedderSpec,
        hub: &std::path::Path,
        config: SemanticConfig,
    ) -> Result<SemanticCache, SemanticError> {
        // The verifier first: a setting that cannot work fails before any service is asked.
        let verifier = crate::verify::for_spec(spec, hub, config.verifier).await?;
        let embedder = crate::embed::from_spec(spec, hub).await?;
        let mut semantic = SemanticCache::new(cache, embedder, config)?;
        semantic.verifier = verifier;
        Ok(semantic)
    }

    /// Has `verifier` judge every candidate that clears the threshold and the guards.
    pub fn with_verifier(mut self, verifier: Arc<dyn Verifier>) -> SemanticCache {
        self.verifier = Some(verifier);
        self
    }

    /// The verifier, if any.
    pub fn verifier(&self) -> Option<&Arc<dyn Verifier>> {
        self.verifier.as_ref()
    }

    /// The configuration.
    pub fn config(&self) -> &SemanticConfig {
        &self.config
    }

    /// The embedder.
    pub fn embedder(&self) -> &Arc<dyn Embedder> {
        &self.embedder
    }

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
        let now = self.now_ms();
        let partition_key = partition_key(&query.filters);
        let mut outcome = Outcome::default();
        let mut expired = Vec::new();
        let passed = {
            let spaces = self.read();
            let Some(partition) = spaces
                .get(namespace)
                .and_then(|space| space.partitions.get(&partition_key))
            else {
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
                let same_context = match (&context_vector, &meta.context_vector) {
                    (None, None) => true,
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
                if outcome.near_miss.is_none() {
                    outcome.near_miss = Some(refuse(verdict));
                }
            }
            passed
        };
        for id in expired {
            self.forget(namespace, id);
        }
        let passed = self.verified(&query.text, passed, &mut outcome).await?;
        // Best first; one gone from storage (expired, deleted or cleared elsewhere) is
        // dropped here too, and the next one is tried.
        for (id, similarity, meta) in passed {
            match self
                .cache
                .get::<StoredEntry>(STORAGE_NAMESPACE, &entry_key(namespace, id))
                .await?
            {
                Some(entry) if entry.expires_ms > now => {
                    let relaxed = std::sync::atomic::Ordering::Relaxed;
                    meta.last_used_ms.store(now, relaxed);
                    meta.last_hit_similarity
                        .store(similarity.to_bits(), relaxed);
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
                _ => self.forget(namespace, id),
            }
        }
        Ok(outcome)
    }

    /// The candidates the verifier accepts, best first. The best one is judged alone (it
    /// is the hit almost always), the others together only when it is refused; with no
    /// verifier, all of them.
    async fn verified(
        &self,
        asked: &str,
        passed: Vec<(u64, f32, Arc<Meta>)>,
        outcome: &mut Outcome,
    ) -> Result<Vec<(u64, f32, Arc<Meta>)>, SemanticError> {
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
                } else if outcome.near_miss.is_none() {
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

    /// Stores `value` as the answer to `query`; returns the entry's id.
    pub async fn store(
        &self,
        namespace: &str,
        query: &str,
        value: serde_json::Value,
        options: &Store,
    ) -> Result<u64, SemanticError> {
        let mut ids = self
            .store_many(namespace, &[(query.to_owned(), value)], options)
            .await?;
        ids.pop()
            .ok_or_else(|| SemanticError::Embed("no vector returned".into()))
    }

    /// Stores many answers at once (one embedding batch); returns their ids in order.
    pub async fn store_many(
        &self,
        namespace: &str,
        items: &[(String, serde_json::Value)],
        options: &Store,
    ) -> Result<Vec<u64>, SemanticError> {
        check_namespace(namespace)?;
        self.sync(namespace).await?;
        let texts: Vec<String> = items.iter().map(|(q, _)| q.clone()).collect();
        let vectors = self.embedder.embed(&texts).await?;
        let context_vector = match &options.context {
            Some(context) => self
                .embedder
                .embed(std::slice::from_ref(context))
                .await?
                .pop(),
            None => None,
        };
        let ttl = options.ttl.unwrap_or(self.config.ttl);
        let now = self.now_ms();
        let expires_ms = now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
        let mut ids = Vec::with_capacity(items.len());
        for ((query, value), vector) in items.iter().zip(vectors) {
            let entry = StoredEntry {
                id: entry_id(query, &options.filters, options.context.as_deref())?,
                query: query.clone(),
                context: options.context.clone(),
                filters: options.filters.clone(),
                vector,
                context_vector: context_vector.clone(),
                value: value.clone(),
                model: self.embedder.id().to_owned(),
                created_ms: now,
                expires_ms,
            };
            self.cache
                .set_with(
                    STORAGE_NAMESPACE,
                    &entry_key(namespace, entry.id),
                    &entry,
                    hoard::SetOptions::new().ttl(ttl).tags([tag(namespace)]),
                )
                .await?;
            ids.push(entry.id);
            let evicted = self.remember(namespace, &entry);
            for id in evicted {
                self.cache
                    .delete(STORAGE_NAMESPACE, &entry_key(namespace, id))
                    .await?;
            }
        }
        self.bump(namespace).await?;
        Ok(ids)
    }

    /// Deletes one entry; whether it existed.
    pub async fn delete(&self, namespace: &str, id: u64) -> Result<bool, SemanticError> {
        check_namespace(namespace)?;
        let existed = self
            .cache
            .delete(STORAGE_NAMESPACE, &entry_key(namespace, id))
            .await?;
        self.forget(namespace, id);
        self.bump(namespace).await?;
        Ok(existed)
    }

    /// Deletes every entry whose filters include all of `filters`; how many.
    pub async fn delete_where(
        &self,
        namespace: &str,
        filters: &BTreeMap<String, String>,
    ) -> Result<usize, SemanticError> {
        check_namespace(namespace)?;
        self.sync(namespace).await?;
        let ids: Vec<u64> = {
            let spaces = self.read();
            spaces
                .get(namespace)
                .map(|space| {
                    space
                        .partitions
                        .values()
                        .flat_map(|p| p.entries.iter())
                        .filter(|(_, meta)| {
                            filters.iter().all(|(k, v)| meta.filters.get(k) == Some(v))
                        })
                        .map(|(id, _)| *id)
                        .collect()
                })
                .unwrap_or_default()
        };
        for id in &ids {
            self.cache
                .delete(STORAGE_NAMESPACE, &entry_key(namespace, *id))
                .await?;
            self.forget(namespace, *id);
        }
        self.bump(namespace).await?;
        Ok(ids.len())
    }

    /// Drops a whole namespace, in storage and in every instance's memory.
    pub async fn clear(&self, namespace: &str) -> Result<u64, SemanticError> {
        check_namespace(namespace)?;
        let removed = self.cache.invalidate_tags(&[tag(namespace)]).await?;
        self.write().remove(namespace);
        self.bump(namespace).await?;
        Ok(removed)
    }

    /// The stored answer for `query`, or `compute`'s, stored for next time.
    pub async fn get_or_compute<F, Fut>(
        &self,
        namespace: &str,
        query: &Query,
        compute: F,
    ) -> Result<serde_json::Value, SemanticError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = serde_json::Value>,
    {
        if let Some(hit) = self.lookup(namespace, query).await? {
            return Ok(hit.value);
        }
        let value = compute().await;
        let options = Store {
            ttl: None,
            filters: query.filters.clone(),
            context: query.context.clone(),
        };
        self.store(namespace, &query.text, value.clone(), &options)
            .await?;
        Ok(value)
    }

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
            self.meta(namespace, id).and_then(|meta| {
                let bits = meta
                    .last_hit_similarity
                    .load(std::sync::atomic::Ordering::Relaxed);
                Some(f32::from_bits(bits)).filter(|s| !s.is_nan())
            })
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
        let ttl = Duration::from_millis(u64::try_from(entry.expires_ms - now).unwrap_or(0));
        self.cache
            .set_with(
                STORAGE_NAMESPACE,
                &key,
                &judged,
                hoard::SetOptions::new().ttl(ttl).tags([tag(namespace)]),
            )
            .await?;
        self.apply_judgement(namespace, id, &judged);
        self.bump(namespace).await?;
        Ok(Some(FeedbackOutcome {
            min_similarity: judged.refuted_at.map(|s| (s + FEEDBACK_MARGIN).min(1.0)),
            confirmed: judged.confirmed,
            refuted: judged.refuted,
        }))
    }

    fn meta(&self, namespace: &str, id: u64) -> Option<Arc<Meta>> {
        let spaces = self.read();
        let space = spaces.get(namespace)?;
        space
            .partitions
            .values()
            .find_map(|p| p.entries.get(&id).cloned())
    }

    /// Raises entry `id`'s own bar to what `judged` says, in this instance's memory.
    fn apply_judgement(&self, namespace: &str, id: u64, judged: &Judged) {
        let Some(refuted_at) = judged.refuted_at else {
            return;
        };
        if let Some(meta) = self.meta(namespace, id) {
            let bar = (refuted_at + FEEDBACK_MARGIN).min(1.0);
            meta.min_similarity
                .fetch_max(bar.to_bits(), std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Entries of `namespace` this instance holds in memory.
    pub fn len(&self, namespace: &str) -> usize {
        self.read().get(namespace).map_or(0, |space| {
            space.partitions.values().map(|p| p.entries.len()).sum()
        })
    }

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

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Space>> {
        // A panic while holding the lock leaves plain data behind: keep serving it.
        self.spaces
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Space>> {
        self.spaces
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds an entry to memory; returns the ids evicted to stay within capacity.
    fn remember(&self, namespace: &str, entry: &StoredEntry) -> Vec<u64> {
        if entry.model != self.embedder.id() || entry.vector.len() != self.embedder.dim() {
            // Made by another model: its vector means nothing next to ours.
            return Vec::new();
        }
        let mut spaces = self.write();
        let space = spaces.entry(namespace.to_owned()).or_default();
        let dim = self.embedder.dim();
        let kind = self.config.index;
        let partition = space
            .partitions
            .entry(partition_key(&entry.filters))
            .or_insert_with(|| Partition {
                index: new_index(kind, dim),
                entries: HashMap::new(),
            });
        let mut evicted = Vec::new();
        while partition.entries.len() >= self.config.capacity
            && !partition.entries.contains_key(&entry.id)
        {
            let oldest = partition
                .entries
                .iter()
                .min_by_key(|(_, m)| m.last_used_ms.load(std::sync::atomic::Ordering::Relaxed))
                .map(|(id, _)| *id);
            let Some(oldest) = oldest else { break };
            partition.entries.remove(&oldest);
            partition.index.remove(oldest);
            evicted.push(oldest);
        }
        partition.index.insert(entry.id, &entry.vector);
        // A new answer to the same question keeps what feedback taught about its neighbours.
        let min_similarity = partition
            .entries
            .get(&entry.id)
            .map_or(0.0, |old| old.min_similarity());
        partition.entries.insert(
            entry.id,
            Arc::new(Meta {
                query: entry.query.clone(),
                signature: Signature::of(&entry.query),
                context_vector: entry.context_vector.clone(),
                filters: entry.filters.clone(),
                expires_ms: entry.expires_ms,
                last_used_ms: std::sync::atomic::AtomicI64::new(entry.created_ms),
                last_hit_similarity: std::sync::atomic::AtomicU32::new(f32::NAN.to_bits()),
                min_similarity: std::sync::atomic::AtomicU32::new(min_similarity.to_bits()),
            }),
        );
        evicted
    }

    /// Milliseconds since the Unix epoch by the hoard cache's clock: entries' deadlines here
    /// and in the cache below are read off the same time.
    fn now_ms(&self) -> i64 {
        i64::try_from(self.cache.clock().now_ms()).unwrap_or(i64::MAX)
    }

    fn forget(&self, namespace: &str, id: u64) {
        let mut spaces = self.write();
        if let Some(space) = spaces.get_mut(namespace) {
            for partition in space.partitions.values_mut() {
                if partition.entries.remove(&id).is_some() {
                    partition.index.remove(id);
                }
            }
        }
    }

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
        let mut spaces = self.write();
        if let Some(space) = spaces.get_mut(namespace) {
            for partition in space.partitions.values_mut() {
                if let Some(meta) = partition.entries.get_mut(&entry.id) {
                    if let Some(meta) = Arc::get_mut(meta) {
                        meta.expires_ms = entry.expires_ms;
                    } else {
                        let relaxed = std::sync::atomic::Ordering::Relaxed;
                        let updated = Meta {
                            query: meta.query.clone(),
                            signature: meta.signature.clone(),
                            context_vector: meta.context_vector.clone(),
                            filters: meta.filters.clone(),
                            expires_ms: entry.expires_ms,
                            last_used_ms: std::sync::atomic::AtomicI64::new(now),
                            last_hit_similarity: std::sync::atomic::AtomicU32::new(
                                meta.last_hit_similarity.load(relaxed),
                            ),
                            min_similarity: std::sync::atomic::AtomicU32::new(
                                meta.min_similarity.load(relaxed),
                            ),
                        };
                        *meta = Arc::new(updated);
                    }
                }
            }
        }
    }

    /// Marks the namespace changed, so other instances reload it.
    async fn bump(&self, namespace: &str) -> Result<(), SemanticError> {
        let version = format!("{:016x}", rand::random::<u64>());
        self.cache
            .set_with(
                STORAGE_NAMESPACE,
                &version_key(namespace),
                &version,
                hoard::SetOptions::new().ttl(Duration::from_secs(365 * 24 * 3600)),
            )
            .await?;
        if let Some(space) = self.write().get_mut(namespace) {
            space.synced = Some(version);
        }
        Ok(())
    }

    /// Reloads `namespace` from storage if another instance (or a previous run) changed it.
    async fn sync(&self, namespace: &str) -> Result<(), SemanticError> {
        let stored: Option<String> = self
            .cache
            .get(STORAGE_NAMESPACE, &version_key(namespace))
            .await?;
        let known = self.read().get(namespace).map(|space| space.synced.clone());
        let current = match (&stored, known) {
            (Some(stored), Some(Some(known))) if *stored == known => return Ok(()),
            // Nothing stored and nothing was when this namespace was loaded: nothing to see.
            // (A version that was there and is gone means the storage was cleared under us:
            // reload, which forgets what is no longer stored.)
            (None, Some(None)) => return Ok(()),
            _ => stored,
        };
        let prefix = format!("{STORAGE_NAMESPACE}:{namespace}:e:");
        let keys = self.cache.tagged(&tag(namespace)).await?;
        let live: Vec<u64> = keys
            .iter()
            .filter_map(|key| key.strip_prefix(&prefix)?.parse().ok())
            .collect();
        let have: Vec<u64> = self
            .read()
            .get(namespace)
            .map(|space| {
                space
                    .partitions
                    .values()
                    .flat_map(|p| p.entries.keys().copied())
                    .collect()
            })
            .unwrap_or_default();
        let live_set: std::collections::HashSet<u64> = live.iter().copied().collect();
        for id in have.iter().filter(|id| !live_set.contains(id)) {
            self.forget(namespace, *id);
        }
        let have_set: std::collections::HashSet<u64> = have.into_iter().collect();
        let missing: Vec<String> = live
            .iter()
            .filter(|id| !have_set.contains(id))
            .map(|id| entry_key(namespace, *id))
            .collect();
        for chunk in missing.chunks(500) {
            let entries = self
                .cache
                .mget::<StoredEntry>(STORAGE_NAMESPACE, chunk)
                .await?;
            for entry in entries.into_iter().flatten() {
                self.remember(namespace, &entry);
            }
        }
        let judged_prefix = format!("{STORAGE_NAMESPACE}:{namespace}:f:");
        let judged_ids: Vec<u64> = keys
            .iter()
            .filter_map(|key| key.strip_prefix(&judged_prefix)?.parse().ok())
            .collect();
        for chunk in judged_ids.chunks(500) {
            let keys: Vec<String> = chunk.iter().map(|id| judged_key(namespace, *id)).collect();
            let rows = self.cache.mget::<Judged>(STORAGE_NAMESPACE, &keys).await?;
            for (id, judged) in chunk.iter().zip(rows) {
                if let Some(judged) = judged {
                    self.apply_judgement(namespace, *id, &judged);
                }
            }
        }
        self.write().entry(namespace.to_owned()).or_default().synced = current;
        Ok(())
    }
}

fn new_index(kind: IndexKind, dim: usize) -> Box<dyn VectorIndex> {
    match kind {
        IndexKind::Exact => Box::new(ExactIndex::new(dim)),
        IndexKind::Hnsw => Box::new(crate::hnsw::HnswIndex::new(dim)),
    }
}

fn check_namespace(namespace: &str) -> Result<(), SemanticError> {
    hoard::key::validate_namespace(namespace)?;
    Ok(())
}

/// `user_id=7&org=3`: filters in key order, so equal filters name one partition.
fn partition_key(filters: &BTreeMap<String, String>) -> String {
    filters
        .iter()
        .map(|(k, v)| format!("{}={}", k.len(), k) + &format!("{}={v}", v.len()))
        .collect::<Vec<_>>()
        .join("&")
}

fn entry_key(namespace: &str, id: u64) -> String {
    format!("{namespace}:e:{id}")
}

fn judged_key(namespace: &str, id: u64) -> String {
    format!("{namespace}:f:{id}")
}

/// The id of the entry for `query` asked with `filters` in `context`: the same question
/// stored again gets the same id, so it replaces the answer. 53 bits, exact in JSON numbers.
fn entry_id(
    query: &str,
    filters: &BTreeMap<String, String>,
    context: Option<&str>,
) -> Result<u64, SemanticError> {
    let hash = hoard::stable_hash(&("semantic.entry.v1", query, filters, context))?;
    let first = hash.get(..16).unwrap_or(&hash);
    let bits = u64::from_str_radix(first, 16)
        .map_err(|e| SemanticError::Embed(format!("entry id from hash {hash:?}: {e}")))?;
    Ok(bits >> 11)
}

fn version_key(namespace: &str) -> String {
    format!("{namespace}:version")
}

fn tag(namespace: &str) -> String {
    format!("semantic:{namespace}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_must_be_similarities() {
        for good in [0.0, 0.5, 1.0] {
            assert!(check_threshold(good).is_ok());
        }
        for bad in [-0.1, 1.01, f32::NAN, f32::INFINITY, 85.0] {
            assert!(check_threshold(bad).is_err(), "{bad}");
        }
        let mut config = SemanticConfig::default();
        config.namespace_thresholds.insert("faq".into(), 2.0);
        assert!(config.validate().is_err());
    }

    #[test]
    fn partition_keys_cannot_collide_through_separators() {
        let a: BTreeMap<String, String> = [("a".to_owned(), "1&b=2".to_owned())].into();
        let b: BTreeMap<String, String> = [
            ("a".to_owned(), "1".to_owned()),
            ("b".to_owned(), "2".to_owned()),
        ]
        .into();
        assert_ne!(partition_key(&a), partition_key(&b));
        assert_eq!(partition_key(&BTreeMap::new()), "");
    }
}
