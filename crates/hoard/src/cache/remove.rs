//! Deletes and clears, in every tier, with the listeners told.

use super::{BackingOp, Cache};
use crate::error::Result;
use crate::events::Cause;
use crate::glob::Glob;
use crate::key::{full_key, SEPARATOR};
use crate::stats::Event;

impl Cache {
    /// Removes one entry; true if it existed. Dependents go too (with dependency tracking).
    pub async fn delete(&self, namespace: &str, key: &str) -> Result<bool> {
        let inner = &*self.inner;
        let full = full_key(namespace, key)?;
        // After a namespace clear, L2 may still hold an entry of an older generation: it does
        // not count as existing. Only then is it worth a look before deleting.
        let cleared_before = self.generation_of(namespace).await.map_or(true, |g| g > 0);
        let live_before = if cleared_before {
            self.peek_entry(namespace, key).await?.is_some()
        } else {
            true
        };
        let existed = {
            let _lock = inner.epochs.lock(std::iter::once(full.as_str())).await;
            let backed = self
                .write_to_backing(namespace, [(full.as_str(), BackingOp::Delete)])
                .await?;
            let in_l2 = match &inner.l2 {
                Some(l2) => match l2.delete(&full).await {
                    Ok(existed) => existed,
                    Err(error) => {
                        inner.stats.record(namespace, Event::Error, 1);
                        inner.epochs.bump(&full);
                        inner.l1.delete_now(&full);
                        self.unqueue(namespace, backed).await;
                        return Err(error);
                    }
                },
                None => false,
            };
            inner.epochs.bump(&full);
            let in_l1 = inner.l1.delete_now(&full);
            (in_l2 || in_l1) && live_before
        };
        if existed {
            inner.stats.record(namespace, Event::Delete, 1);
            self.emit(Cause::Delete, vec![full.clone()], 1);
        }
        self.cascade(vec![full]).await?;
        Ok(existed)
    }

    /// Removes every entry whose full key (`{namespace}:{key}`) matches a glob such as
    /// `model:metrics:*` (Redis `SCAN MATCH` syntax); returns how many went, and counts
    /// them as deletes of the namespace the pattern names (of `(other)` when it spans
    /// namespaces). The count
    /// includes entries a [`Cache::clear_namespace`] had already made unreadable but that
    /// were still waiting for their TTL.
    pub async fn delete_pattern(&self, pattern: &str) -> Result<u64> {
        let glob = Glob::new(pattern)?;
        let inner = &*self.inner;
        let from_l2 = match &inner.l2 {
            Some(l2) => Some(l2.delete_matching(&glob).await),
            None => None,
        };
        // Purge L1 even when L2 failed part-way: what L2 lost, L1 must not keep serving.
        inner.epochs.bump_clears();
        let from_l1 = inner.l1.delete_matching_now(&glob);
        let removed = from_l2.transpose().map(|n| n.unwrap_or(from_l1))?;
        if removed > 0 {
            inner
                .stats
                .record(&namespace_of_pattern(&glob), Event::Delete, removed);
        }
        self.emit(Cause::Pattern(pattern.to_owned()), Vec::new(), removed);
        Ok(removed)
    }

    /// Removes everything; returns how many entries went, counted as deletes of `(other)`.
    pub async fn clear_all(&self) -> Result<u64> {
        let inner = &*self.inner;
        let from_l2 = match &inner.l2 {
            Some(l2) => Some(l2.clear().await),
            None => None,
        };
        // Purge L1 even when L2 failed part-way: what L2 lost, L1 must not keep serving.
        inner.epochs.bump_clears();
        let from_l1 = inner.l1.clear_now();
        let removed = from_l2.transpose().map(|n| n.unwrap_or(from_l1))?;
        // Which namespaces they were in is not known: counted with the rest.
        if removed > 0 {
            inner
                .stats
                .record(crate::stats::OTHER_NAMESPACES, Event::Delete, removed);
        }
        self.emit(Cause::All, Vec::new(), removed);
        Ok(removed)
    }
}

/// The namespace a pattern's deletes are counted in: the one its literal start names
/// (`asr` for `asr:clip-*`), or [`crate::stats::OTHER_NAMESPACES`] for a pattern that
/// spans namespaces (`*:clip-*`).
fn namespace_of_pattern(glob: &Glob) -> String {
    let prefix = glob.literal_prefix();
    match prefix.iter().position(|&b| b == SEPARATOR as u8) {
        Some(end) => match std::str::from_utf8(&prefix[..end]) {
            Ok(namespace) if crate::key::validate_namespace(namespace).is_ok() => {
                namespace.to_owned()
            }
            _ => crate::stats::OTHER_NAMESPACES.to_owned(),
        },
        None => crate::stats::OTHER_NAMESPACES.to_owned(),
    }
}
