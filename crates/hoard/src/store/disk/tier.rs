//! The disk tier as a hoard tier: [`Store`], [`TagIndex`] and [`Generations`] for
//! [`DiskStore`].

use super::{deadline_of, DiskStore, Inner};
use crate::entry::Entry;
use crate::error::Result;
use crate::glob::Glob;
use crate::store::{Generations, ScanPage, Store, TagIndex, TagRow, Usage, WriteQueue};
use async_trait::async_trait;
use fjall::PersistMode;
use std::sync::atomic::Ordering::Relaxed;

#[async_trait]
impl Store for DiskStore {
    fn name(&self) -> &'static str {
        "disk"
    }

    async fn get(&self, key: &str) -> Result<Option<Entry>> {
        self.inner.get(key)
    }

    async fn set(&self, key: &str, entry: Entry) -> Result<()> {
        self.inner.set_many(&[(key, &entry)])
    }

    async fn set_many(&self, entries: &[(String, Entry)]) -> Result<()> {
        let items: Vec<(&str, &Entry)> = entries.iter().map(|(k, e)| (k.as_str(), e)).collect();
        self.inner.set_many(&items)
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        self.inner.delete(key)
    }

    async fn delete_if_corrupt(&self, key: &str) -> Result<bool> {
        self.inner.delete_if_corrupt(key)
    }

    async fn delete_matching(&self, glob: &Glob) -> Result<u64> {
        let glob = glob.clone();
        self.off_worker(move |inner| {
            let iter = inner.entries.prefix(glob.literal_prefix());
            inner.remove_scanned(iter, |key| glob.matches_bytes(key))
        })
        .await
    }

    async fn scan(&self, glob: &Glob, cursor: &str, limit: usize) -> Result<ScanPage> {
        let glob = glob.clone();
        let cursor = cursor.to_owned();
        self.off_worker(move |inner| inner.scan(&glob, &cursor, limit))
            .await
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64> {
        let prefix = prefix.to_owned();
        self.off_worker(move |inner| {
            let iter = inner.entries.prefix(prefix.as_bytes());
            inner.remove_scanned(iter, |_| true)
        })
        .await
    }

    async fn clear(&self) -> Result<u64> {
        self.off_worker(|inner| {
            // Index first: a `set` that lands after this keeps its row, and the scan below
            // (a snapshot taken later) sees every entry whose row is gone.
            inner.expiry.clear().map_err(|e| inner.error(e))?;
            inner.tags.clear().map_err(|e| inner.error(e))?;
            inner.remove_scanned(inner.entries.iter(), |_| true)
        })
        .await
    }

    async fn usage(&self) -> Result<Usage> {
        Ok(Usage {
            entries: self.inner.stored.load(Relaxed),
            bytes: self
                .inner
                .db
                .disk_space()
                .map_err(|e| self.inner.error(e))?,
            evictions: 0,
            expirations: self.inner.expirations.load(Relaxed),
        })
    }

    async fn flush(&self) -> Result<()> {
        self.off_worker(|inner| {
            inner
                .db
                .persist(PersistMode::SyncAll)
                .map_err(|e| inner.error(e))
        })
        .await
    }

    fn as_tag_index(&self) -> Option<&dyn TagIndex> {
        Some(self)
    }

    fn as_generations(&self) -> Option<&dyn Generations> {
        Some(self)
    }

    fn as_write_queue(self: std::sync::Arc<Self>) -> Option<std::sync::Arc<dyn WriteQueue>> {
        Some(self)
    }
}

#[async_trait]
impl TagIndex for DiskStore {
    async fn add_tags(&self, rows: &[TagRow]) -> Result<()> {
        let mut batch = self.inner.batch();
        for row in rows {
            for tag in &row.tags {
                batch.insert(
                    &self.inner.tags,
                    Inner::tag_row(tag, &row.key),
                    row.expires_at_ms.to_be_bytes(),
                );
            }
        }
        batch.commit().map_err(|e| self.inner.error(e))
    }

    async fn tagged(&self, tag: &str) -> Result<Vec<String>> {
        let now = self.inner.clock.now_ms();
        let prefix = Inner::tag_row(tag, "");
        let mut keys = Vec::new();
        for item in self.inner.tags.prefix(&prefix) {
            let (row, until) = item.into_inner().map_err(|e| self.inner.error(e))?;
            if deadline_of(&until) > now {
                keys.push(String::from_utf8_lossy(&row[prefix.len()..]).into_owned());
            }
        }
        Ok(keys)
    }

    async fn untag(&self, tag: &str, keys: &[String]) -> Result<()> {
        let mut batch = self.inner.batch();
        for key in keys {
            batch.remove(&self.inner.tags, Inner::tag_row(tag, key));
        }
        batch.commit().map_err(|e| self.inner.error(e))
    }

    async fn tag_index_len(&self) -> Result<u64> {
        let mut n = 0;
        for item in self.inner.tags.iter() {
            item.key().map_err(|e| self.inner.error(e))?;
            n += 1;
        }
        Ok(n)
    }
}

#[async_trait]
impl Generations for DiskStore {
    async fn generation(&self, namespace: &str) -> Result<u32> {
        self.inner.generation(namespace)
    }

    async fn bump_generation(&self, namespace: &str) -> Result<u32> {
        let _guard = self
            .inner
            .meta_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let next = self.inner.generation(namespace)?.wrapping_add(1);
        let mut batch = self.inner.batch();
        batch.insert(
            &self.inner.meta,
            format!("generation:{namespace}"),
            next.to_be_bytes(),
        );
        batch.commit().map_err(|e| self.inner.error(e))?;
        Ok(next)
    }
}
