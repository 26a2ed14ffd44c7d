//! Semantic cache: answers found by the meaning of their question, with few
//! wrong hits.
//!
//! - [`embed`]: embedders behind one trait: a local BERT-family model (feature `local`),
//!   OpenAI-compatible and Ollama HTTP services;
//! - [`index`]: exact search (int8 codes scanned, the best candidates rescored in f32,
//!   results equal to a full f32 scan), and [`hnsw`] for larger partitions;
//! - [`guard`]: checks after the search (numbers, dates, negation, entities, scope,
//!   references) that keep near-identical sentences with different answers apart;
//! - [`cache`]: [`SemanticCache`]: lookup, store, delete, get-or-compute, persisted in the
//!   hoard cache and shared by every instance on the same Redis;
//! - [`verify`]: the verifier, a cross-encoder that reads both questions together and
//!   judges the candidates above the threshold;
//! - [`SemanticCache::stats`]: lookups, hits, stores and the candidates each check refused,
//!   per namespace;
//! - [`eval`]: precision, recall and wrong-hit rate over labelled question pairs.

pub mod cache;
mod cached;
pub mod embed;
#[cfg(feature = "local")]
mod encoder;
mod error;
pub mod eval;
pub mod guard;
pub mod hnsw;
pub mod index;
pub mod verify;

pub use cache::{
    FeedbackOutcome, Hit, Message, Outcome, Query, Refusals, SemanticCache, SemanticConfig,
    SemanticStats, Store,
};
#[doc(hidden)]
pub use cached::__private;
pub use cached::{global, set_global};
pub use embed::Embedder;
pub use error::SemanticError;
pub use guard::{Guards, Verdict};
pub use verify::Verifier;

/// The cache namespaces the semantic cache writes for itself
/// ([`cache::STORAGE_NAMESPACE`]: entries and their index). A forged entry there
/// would be served as an answer, so a server lets clients read these namespaces but not
/// write them through its generic cache routes.
pub const RESERVED_NAMESPACES: &[&str] = &[cache::STORAGE_NAMESPACE];
