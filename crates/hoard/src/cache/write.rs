//! Writes: L2 first, then L1, under the keys' stripe locks.

use super::backing::{self, Backed};
use super::options::check_ttl;
use super::{Cache, L2Down, SetOptions};
use crate::codec;
use crate::entry::Entry;
use crate::error::{Error, Result};
use crate::key::full_key;
use crate::stats::Event;
use crate::store::TagRow;
use bytes::Bytes;
use serde::Serialize;
use std::collections::HashSet;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

impl Cache {
    /// Stores a typed value with the default TTL.
    pub async fn set<T: Serialize + ?Sized>(
        &self,
        namespace: &str,
        key: &str,
        value: &T,
    ) -> Result<()> {
        self.set_with(namespace, key, value, SetOptions::new())
            .await
    }

    /// Stores a typed value with options (TTL, compute time).
    pub async fn set_with<T: Serialize + ?Sized>(
        &self,
        namespace: &str,
        key: &str,
        value: &T,
        options: SetOptions,
    ) -> Result<()> {
        let bytes = codec::encode(value)?;
        self.set_raw(namespace, key, bytes, options).await
    }

    /// Stores raw bytes.
    pub async fn set_raw(
        &self,
        namespace: &str,
        key: &str,
        value: impl Into<Bytes>,
        options: SetOptions,
    ) -> Result<()> {
        let full = full_key(namespace, key)?;
        let entry = self.entry_for(value.into(), &options)?;
        self.write_entries(namespace, vec![(full, entry)], &options, L2Down::Fail)
            .await
    }

    /// Stores many typed values in one namespace with the same options; on the disk tier
    /// they land in one atomic batch.
    pub async fn mset<T: Serialize>(
        &self,
        namespace: &str,
        items: &[(impl AsRef<str>, T)],
        options: SetOptions,
    ) -> Result<()> {
        let mut encoded = Vec::with_capacity(items.len());
        for (key, value) in items {
            encoded.push((key.as_ref(), codec::encode(value)?));
        }
        self.mset_raw(namespace, encoded, options).await
    }

    /// Stores many raw values (bytes as [`codec::encode`] writes them) in one namespace
    /// with the same options; on the disk tier they land in one atomic batch.
    pub async fn mset_raw(
        &self,
        namespace: &str,
        items: impl IntoIterator<Item = (impl AsRef<str>, Bytes)>,
        options: SetOptions,
    ) -> Result<()> {
        let mut entries = Vec::new();
        for (key, value) in items {
            let full = full_key(namespace, key.as_ref())?;
            entries.push((full, self.entry_for(value, &options)?));
        }
        self.write_entries(namespace, entries, &options, L2Down::Fail)
            .await
    }

    pub(crate) fn entry_for(&self, value: Bytes, options: &SetOptions) -> Result<Entry> {
        let ttl = options.ttl.unwrap_or(self.inner.default_ttl);
        check_ttl(ttl)?;
        let mut entry = Entry::new_at(value, ttl, self.inner.clock.now_ms());
        if let Some(took) = options.compute_time {
            entry.compute_ms = u32::try_from(took.as_millis()).unwrap_or(u32::MAX);
        }
        Ok(entry)
    }

    pub(crate) async fn write_entries(
        &self,
        namespace: &str,
        mut entries: Vec<(String, Entry)>,
        options: &SetOptions,
        l2_down: L2Down,
    ) -> Result<()> {
        let inner = &*self.inner;
        let tags = self.tags_for(options)?;
        // A key given twice: the later value wins, as if written one after the other.
        // (Within one storage batch the engine's choice would be unspecified.)
        if entries.len() > 1 {
            let mut seen = HashSet::with_capacity(entries.len());
            let mut deduped: Vec<(String, Entry)> = entries
                .into_iter()
                .rev()
                .filter(|(k, _)| seen.insert(k.clone()))
                .collect();
            deduped.reverse();
            entries = deduped;
        }
        // Marked before the generation is read: a clear that lands between the read and the
        // write is then seen below, and the copy kept out of L1.
        let before = inner.epochs.mark("");
        let generation = self.generation_of(namespace).await;
        let keys: Vec<String> = entries.iter().map(|(k, _)| k.clone()).collect();
        let mut tagged = Ok(());
        {
            let _locks = inner.epochs.lock(keys.iter().map(String::as_str)).await;
            // Generation unknown (its counter's node is down): write as generation 0. If the
            // namespace was cleared before, readers that know better see nothing (a miss, not
            // a stale value); this process keeps no L1 copy of what it cannot place.
            let (generation, placed) = match generation {
                Ok(generation) => (generation, true),
                Err(error) => {
                    inner.stats.record(namespace, Event::Error, 1);
                    self.warn_l2(
                        &keys[0],
                        &error,
                        "namespace generation unknown; writing as generation 0",
                    );
                    (0, false)
                }
            };
            // One shared list for the batch: L1 keeps it without a copy per entry.
            let entry_tags = (!tags.is_empty()).then(|| Arc::<[String]>::from(tags.as_slice()));
            for (_, entry) in &mut entries {
                entry.generation = generation;
                entry.tags.clone_from(&entry_tags);
            }
            // A write the caller asked for reaches the namespace's backing store first (a
            // computed value came from it).
            let backed = match l2_down {
                L2Down::Fail => {
                    self.write_to_backing(namespace, backing::sets(&entries))
                        .await?
                }
                L2Down::KeepInL1 => Backed::Done,
            };
            if let Some(l2) = &inner.l2 {
                if let Err(error) = l2.set_many(&entries).await {
                    inner.stats.record(namespace, Event::Error, 1);
                    if l2_down == L2Down::KeepInL1 && matches!(error, Error::Unavailable { .. }) {
                        // Degraded: L2 is down or slow. Keep serving this computed value
                        // from L1 (this process's view); the error is counted and logged.
                        // When L2 answers again, L1 is flushed (see `listen`).
                        self.warn_l2(
                            &keys[0],
                            &error,
                            "L2 unavailable; computed value kept in L1 only",
                        );
                        let count = entries.len() as u64;
                        for (full, entry) in entries {
                            inner.epochs.bump(&full);
                            inner.l1.set_now(&full, entry);
                        }
                        inner.stats.record(namespace, Event::Set, count);
                        return Ok(());
                    }
                    // L2 may hold the old or the new value now (a timeout may have landed):
                    // keep neither in L1, and tell the caller nothing was stored.
                    for full in &keys {
                        inner.epochs.bump(full);
                        inner.l1.delete_now(full);
                    }
                    self.unqueue(namespace, backed).await;
                    return Err(error);
                }
            }
            let trusted = placed && inner.l1_trusted.load(SeqCst);
            let count = entries.len() as u64;
            let mut rows = Vec::new();
            for (full, entry) in entries {
                inner.epochs.bump(&full);
                if !tags.is_empty() {
                    rows.push(TagRow {
                        key: full.clone(),
                        tags: tags.clone(),
                        expires_at_ms: entry.expires_at_ms,
                    });
                }
                if trusted {
                    inner.l1.set_now(&full, entry);
                } else {
                    inner.l1.delete_now(&full);
                }
                // A clear that ran during our L2 write may have removed the value there;
                // check after writing L1 (not before) so a clear landing in between is seen.
                if inner.epochs.cleared_since(before) {
                    inner.l1.delete_now(&full);
                }
            }
            inner.stats.record(namespace, Event::Set, count);
            if !rows.is_empty() {
                tagged = match self.tag_index() {
                    Ok(index) => index.add_tags(&rows).await,
                    Err(error) => Err(error),
                };
            }
        }
        // Outside the key locks: dependents may share a lock stripe with these keys. Runs
        // even if indexing the tags failed: the write itself landed.
        self.cascade(keys).await?;
        tagged
    }

    /// Moves the expiry of a live entry to `expires_at_ms` in every tier; false if absent.
    pub(crate) async fn extend(
        &self,
        namespace: &str,
        key: &str,
        expires_at_ms: u64,
    ) -> Result<bool> {
        let inner = &*self.inner;
        let full = full_key(namespace, key)?;
        let _lock = inner.epochs.lock(std::iter::once(full.as_str())).await;
        let extended = match &inner.l2 {
            Some(l2) => l2.touch(&full, expires_at_ms).await?,
            None => false,
        };
        inner.epochs.bump(&full);
        let in_l1 = inner.l1.touch_now(&full, expires_at_ms);
        Ok(extended || in_l1)
    }
}
