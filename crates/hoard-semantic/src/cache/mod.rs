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
//!
//! One file per job of [`SemanticCache`]: `lookup` (search, checks, verifier), `writes`
//! (store, delete, clear, get-or-compute), `feedback`, and `sync` (reloading what other
//! instances changed); `memory` is what one instance holds, `stored` the layout of the
//! records in the hoard cache, `stats` what this instance counted, `config`, `query` and
//! `outcome` the types callers see.

mod config;
mod feedback;
mod lookup;
mod memory;
mod outcome;
mod query;
mod stats;
mod stored;
mod sync;
mod writes;

pub use config::{check_threshold, SemanticConfig, DEFAULT_VERIFIER_THRESHOLD};
pub use outcome::{FeedbackOutcome, Hit, NearMiss, Outcome};
pub use query::{split_messages, Message, Query, Store};
pub use stats::{NamespaceStats, Refusals, SemanticStats, MAX_TRACKED_NAMESPACES, REFUSING};
pub use stored::STORAGE_NAMESPACE;

use crate::embed::Embedder;
use crate::verify::Verifier;
use crate::SemanticError;
use memory::Spaces;
use std::sync::Arc;

/// The semantic cache.
pub struct SemanticCache {
    cache: hoard::Cache,
    embedder: Arc<dyn Embedder>,
    verifier: Option<Arc<dyn Verifier>>,
    config: SemanticConfig,
    spaces: Spaces,
    counts: stats::Counts,
}

impl SemanticCache {
    /// A semantic cache over `cache` using `embedder`.
    pub fn new(
        cache: hoard::Cache,
        embedder: Arc<dyn Embedder>,
        config: SemanticConfig,
    ) -> Result<SemanticCache, SemanticError> {
        config.validate()?;
        let spaces = Spaces::new(embedder.id(), embedder.dim(), config.index, config.capacity);
        Ok(SemanticCache {
            cache,
            embedder,
            verifier: None,
            config,
            spaces,
            counts: stats::Counts::default(),
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

    /// Entries of `namespace` this instance holds in memory.
    pub fn len(&self, namespace: &str) -> usize {
        self.spaces.len(namespace)
    }

    /// Milliseconds since the Unix epoch by the hoard cache's clock: entries' deadlines here
    /// and in the cache below are read off the same time.
    fn now_ms(&self) -> i64 {
        i64::try_from(self.cache.clock().now_ms()).unwrap_or(i64::MAX)
    }
}
