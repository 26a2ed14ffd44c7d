//! What one instance holds in memory: per namespace and partition, a vector index of the
//! stored questions and what a lookup needs to judge a candidate without reading storage.
//! Storage stays the truth; this is rebuilt from it whenever the namespace's version moves.

use super::stored::{Judged, StoredEntry};
use crate::guard::Signature;
use crate::index::{ExactIndex, IndexKind, VectorIndex};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// What a lookup knows about one entry without reading its record.
pub(super) struct Meta {
    pub(super) query: String,
    pub(super) signature: Signature,
    pub(super) context_vector: Option<Vec<f32>>,
    pub(super) filters: BTreeMap<String, String>,
    pub(super) expires_ms: i64,
    pub(super) last_used_ms: AtomicI64,
    /// The similarity of the last hit this instance served from the entry (f32 bits;
    /// NaN when none), so feedback that names only the entry knows which neighbour it means.
    pub(super) last_hit_similarity: AtomicU32,
    /// The lowest similarity the entry is served at, raised by feedback (f32 bits; 0.0 when
    /// feedback has not raised it).
    pub(super) min_similarity: AtomicU32,
}

impl Meta {
    /// The lowest similarity the entry is served at (0.0 unless feedback raised it).
    pub(super) fn min_similarity(&self) -> f32 {
        f32::from_bits(self.min_similarity.load(Ordering::Relaxed))
    }

    /// The similarity of the last hit this instance served from the entry, if any.
    pub(super) fn last_hit_similarity(&self) -> Option<f32> {
        let bits = self.last_hit_similarity.load(Ordering::Relaxed);
        Some(f32::from_bits(bits)).filter(|s| !s.is_nan())
    }
}

/// The entries stored with one set of filters: a lookup searches exactly one.
pub(super) struct Partition {
    pub(super) index: Box<dyn VectorIndex>,
    pub(super) entries: HashMap<u64, Arc<Meta>>,
}

/// One namespace's partitions.
#[derive(Default)]
pub(super) struct Space {
    pub(super) partitions: HashMap<String, Partition>,
    /// The version key's value when this process last loaded the namespace.
    pub(super) synced: Option<String>,
}

/// Every namespace this instance serves, with the shape its indexes take.
pub(super) struct Spaces {
    spaces: RwLock<HashMap<String, Space>>,
    /// The embedder's id and dimension: entries made by another model are not held.
    model: String,
    dim: usize,
    kind: IndexKind,
    /// Most entries per partition.
    capacity: usize,
}

impl Spaces {
    /// Nothing held yet, for vectors of `model` (`dim` long) in `kind` indexes of at most
    /// `capacity` entries per partition.
    pub(super) fn new(model: &str, dim: usize, kind: IndexKind, capacity: usize) -> Spaces {
        Spaces {
            spaces: RwLock::new(HashMap::new()),
            model: model.to_owned(),
            dim,
            kind,
            capacity,
        }
    }

    pub(super) fn read(&self) -> RwLockReadGuard<'_, HashMap<String, Space>> {
        // A panic while holding the lock leaves plain data behind: keep serving it.
        self.spaces
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn write(&self) -> RwLockWriteGuard<'_, HashMap<String, Space>> {
        self.spaces
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Entries of `namespace` held.
    pub(super) fn len(&self, namespace: &str) -> usize {
        self.read().get(namespace).map_or(0, |space| {
            space.partitions.values().map(|p| p.entries.len()).sum()
        })
    }

    /// Every namespace held, with its number of entries.
    pub(super) fn sizes(&self) -> Vec<(String, usize)> {
        self.read()
            .iter()
            .map(|(name, space)| {
                let entries = space.partitions.values().map(|p| p.entries.len()).sum();
                (name.clone(), entries)
            })
            .collect()
    }

    /// The ids of every entry of `namespace` held.
    pub(super) fn ids(&self, namespace: &str) -> Vec<u64> {
        self.read()
            .get(namespace)
            .map(|space| {
                space
                    .partitions
                    .values()
                    .flat_map(|p| p.entries.keys().copied())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The ids of the entries of `namespace` whose filters include all of `filters`.
    pub(super) fn matching(&self, namespace: &str, filters: &BTreeMap<String, String>) -> Vec<u64> {
        self.read()
            .get(namespace)
            .map(|space| {
                space
                    .partitions
                    .values()
                    .flat_map(|p| p.entries.iter())
                    .filter(|(_, meta)| filters.iter().all(|(k, v)| meta.filters.get(k) == Some(v)))
                    .map(|(id, _)| *id)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// What is held about entry `id`.
    pub(super) fn meta(&self, namespace: &str, id: u64) -> Option<Arc<Meta>> {
        let spaces = self.read();
        let space = spaces.get(namespace)?;
        space
            .partitions
            .values()
            .find_map(|p| p.entries.get(&id).cloned())
    }

    /// Adds an entry; returns the ids evicted to stay within capacity.
    pub(super) fn remember(&self, namespace: &str, entry: &StoredEntry) -> Vec<u64> {
        if entry.model != self.model || entry.vector.len() != self.dim {
            // Made by another model: its vector means nothing next to ours.
            return Vec::new();
        }
        let mut spaces = self.write();
        let space = spaces.entry(namespace.to_owned()).or_default();
        let (kind, dim) = (self.kind, self.dim);
        let partition = space
            .partitions
            .entry(partition_key(&entry.filters))
            .or_insert_with(|| Partition {
                index: new_index(kind, dim),
                entries: HashMap::new(),
            });
        let mut evicted = Vec::new();
        while partition.entries.len() >= self.capacity && !partition.entries.contains_key(&entry.id)
        {
            let oldest = partition
                .entries
                .iter()
                .min_by_key(|(_, m)| m.last_used_ms.load(Ordering::Relaxed))
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
                last_used_ms: AtomicI64::new(entry.created_ms),
                last_hit_similarity: AtomicU32::new(f32::NAN.to_bits()),
                min_similarity: AtomicU32::new(min_similarity.to_bits()),
            }),
        );
        evicted
    }

    /// Drops entry `id`, wherever it is held.
    pub(super) fn forget(&self, namespace: &str, id: u64) {
        let mut spaces = self.write();
        if let Some(space) = spaces.get_mut(namespace) {
            for partition in space.partitions.values_mut() {
                if partition.entries.remove(&id).is_some() {
                    partition.index.remove(id);
                }
            }
        }
    }

    /// Drops the whole of `namespace`.
    pub(super) fn drop_namespace(&self, namespace: &str) {
        self.write().remove(namespace);
    }

    /// Moves entry `id`'s deadline to `expires_ms`, its lifetime restarted at `now_ms`.
    pub(super) fn extend(&self, namespace: &str, id: u64, expires_ms: i64, now_ms: i64) {
        let mut spaces = self.write();
        let Some(space) = spaces.get_mut(namespace) else {
            return;
        };
        for partition in space.partitions.values_mut() {
            let Some(meta) = partition.entries.get_mut(&id) else {
                continue;
            };
            if let Some(meta) = Arc::get_mut(meta) {
                meta.expires_ms = expires_ms;
            } else {
                // A lookup still holds this one: replace it, keeping what feedback taught.
                let updated = Meta {
                    query: meta.query.clone(),
                    signature: meta.signature.clone(),
                    context_vector: meta.context_vector.clone(),
                    filters: meta.filters.clone(),
                    expires_ms,
                    last_used_ms: AtomicI64::new(now_ms),
                    last_hit_similarity: AtomicU32::new(
                        meta.last_hit_similarity.load(Ordering::Relaxed),
                    ),
                    min_similarity: AtomicU32::new(meta.min_similarity.load(Ordering::Relaxed)),
                };
                *meta = Arc::new(updated);
            }
        }
    }

    /// Raises entry `id`'s own bar to what `judged` says.
    pub(super) fn apply_judgement(&self, namespace: &str, id: u64, judged: &Judged) {
        let Some(bar) = judged.bar() else {
            return;
        };
        if let Some(meta) = self.meta(namespace, id) {
            meta.min_similarity
                .fetch_max(bar.to_bits(), Ordering::Relaxed);
        }
    }

    /// The version `namespace` was loaded at: `None` when it was never loaded, `Some(None)`
    /// when it was loaded while storage held no version.
    pub(super) fn synced(&self, namespace: &str) -> Option<Option<String>> {
        self.read().get(namespace).map(|space| space.synced.clone())
    }

    /// Records that `namespace` is loaded at `version`.
    pub(super) fn mark_synced(&self, namespace: &str, version: Option<String>) {
        self.write().entry(namespace.to_owned()).or_default().synced = version;
    }

    /// Records this instance's own change of `namespace` to `version`, when it is loaded:
    /// its own writes need no reload.
    pub(super) fn note_own_version(&self, namespace: &str, version: String) {
        if let Some(space) = self.write().get_mut(namespace) {
            space.synced = Some(version);
        }
    }
}

fn new_index(kind: IndexKind, dim: usize) -> Box<dyn VectorIndex> {
    match kind {
        IndexKind::Exact => Box::new(ExactIndex::new(dim)),
        IndexKind::Hnsw => Box::new(crate::hnsw::HnswIndex::new(dim)),
    }
}

/// `user_id=7&org=3`: filters in key order, so equal filters name one partition.
pub(super) fn partition_key(filters: &BTreeMap<String, String>) -> String {
    filters
        .iter()
        .map(|(k, v)| format!("{}={}", k.len(), k) + &format!("{}={v}", v.len()))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

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
