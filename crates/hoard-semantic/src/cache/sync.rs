//! Keeping instances in step: every change rewrites the namespace's version key, and an
//! instance that finds the version moved reloads the namespace from storage.

use super::stored::{
    entry_key, judged_key, tag, version_key, Judged, StoredEntry, STORAGE_NAMESPACE,
};
use super::SemanticCache;
use crate::SemanticError;
use std::collections::HashSet;
use std::time::Duration;

/// Records read from storage per request while reloading.
const RELOAD_BATCH: usize = 500;

impl SemanticCache {
    /// Marks the namespace changed, so other instances reload it.
    pub(super) async fn bump(&self, namespace: &str) -> Result<(), SemanticError> {
        let version = format!("{:016x}", rand::random::<u64>());
        self.cache
            .set_with(
                STORAGE_NAMESPACE,
                &version_key(namespace),
                &version,
                hoard::SetOptions::new().ttl(Duration::from_secs(365 * 24 * 3600)),
            )
            .await?;
        self.spaces.note_own_version(namespace, version);
        Ok(())
    }

    /// Reloads `namespace` from storage if another instance (or a previous run) changed it.
    pub(super) async fn sync(&self, namespace: &str) -> Result<(), SemanticError> {
        let stored: Option<String> = self
            .cache
            .get(STORAGE_NAMESPACE, &version_key(namespace))
            .await?;
        let known = self.spaces.synced(namespace);
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
        let have = self.spaces.ids(namespace);
        let live_set: HashSet<u64> = live.iter().copied().collect();
        for id in have.iter().filter(|id| !live_set.contains(id)) {
            self.spaces.forget(namespace, *id);
        }
        let have_set: HashSet<u64> = have.into_iter().collect();
        let missing: Vec<String> = live
            .iter()
            .filter(|id| !have_set.contains(id))
            .map(|id| entry_key(namespace, *id))
            .collect();
        for chunk in missing.chunks(RELOAD_BATCH) {
            let entries = self
                .cache
                .mget::<StoredEntry>(STORAGE_NAMESPACE, chunk)
                .await?;
            for entry in entries.into_iter().flatten() {
                self.spaces.remember(namespace, &entry);
            }
        }
        let judged_prefix = format!("{STORAGE_NAMESPACE}:{namespace}:f:");
        let judged_ids: Vec<u64> = keys
            .iter()
            .filter_map(|key| key.strip_prefix(&judged_prefix)?.parse().ok())
            .collect();
        for chunk in judged_ids.chunks(RELOAD_BATCH) {
            let keys: Vec<String> = chunk.iter().map(|id| judged_key(namespace, *id)).collect();
            let rows = self.cache.mget::<Judged>(STORAGE_NAMESPACE, &keys).await?;
            for (id, judged) in chunk.iter().zip(rows) {
                if let Some(judged) = judged {
                    self.spaces.apply_judgement(namespace, *id, &judged);
                }
            }
        }
        self.spaces.mark_synced(namespace, current);
        Ok(())
    }
}
