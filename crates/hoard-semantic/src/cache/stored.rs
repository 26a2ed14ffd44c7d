//! How semantic entries are laid out in the hoard cache: the records, their keys and tags,
//! and entry ids. Every instance on the same storage reads what the others wrote, so
//! these shapes and names are a format: changing them orphans stored entries.

use crate::SemanticError;
use std::collections::BTreeMap;

/// The hoard cache namespace of semantic entries.
pub const STORAGE_NAMESPACE: &str = "semantic";

/// How far above a similarity judged wrong an entry's own bar goes: neighbours of the same
/// kind score a little differently, and one refutation should stop them too.
const FEEDBACK_MARGIN: f32 = 0.02;

/// One stored question and its answer (`{ns}:e:{id}`), with everything a reloading
/// instance needs to search it without embedding it again.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct StoredEntry {
    pub(super) id: u64,
    pub(super) query: String,
    pub(super) context: Option<String>,
    pub(super) filters: BTreeMap<String, String>,
    pub(super) vector: Vec<f32>,
    pub(super) context_vector: Option<Vec<f32>>,
    pub(super) value: serde_json::Value,
    /// The embedder that made `vector`: another model's vectors are not comparable.
    pub(super) model: String,
    pub(super) created_ms: i64,
    pub(super) expires_ms: i64,
}

/// What feedback has taught about one entry, stored beside it (`{ns}:f:{id}`).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) struct Judged {
    /// The highest similarity at which this entry was served and judged wrong: it is served
    /// only to neighbours closer than this from now on.
    pub(super) refuted_at: Option<f32>,
    /// Hits judged right and wrong so far.
    pub(super) confirmed: u32,
    pub(super) refuted: u32,
}

impl Judged {
    /// The lowest similarity the entry is served at from now on, when a hit of it was
    /// judged wrong.
    pub(super) fn bar(&self) -> Option<f32> {
        self.refuted_at.map(|s| (s + FEEDBACK_MARGIN).min(1.0))
    }
}

/// Refuses a namespace name the hoard cache would not accept in a key.
pub(super) fn check_namespace(namespace: &str) -> Result<(), SemanticError> {
    hoard::key::validate_namespace(namespace)?;
    Ok(())
}

/// The key of entry `id`'s record.
pub(super) fn entry_key(namespace: &str, id: u64) -> String {
    format!("{namespace}:e:{id}")
}

/// The key of what feedback taught about entry `id`.
pub(super) fn judged_key(namespace: &str, id: u64) -> String {
    format!("{namespace}:f:{id}")
}

/// The key rewritten on every change of `namespace`, so other instances know to reload.
pub(super) fn version_key(namespace: &str) -> String {
    format!("{namespace}:version")
}

/// The tag on every record of `namespace`: listing or clearing the namespace goes by it.
pub(super) fn tag(namespace: &str) -> String {
    format!("semantic:{namespace}")
}

/// The id of the entry for `query` asked with `filters` in `context`: the same question
/// stored again gets the same id, so it replaces the answer. 53 bits, exact in JSON numbers.
pub(super) fn entry_id(
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
