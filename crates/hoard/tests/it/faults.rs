//! A real L2 behind a switch: while it is "down", every call fails as an unreachable Redis
//! does (`Error::Unavailable`), without touching the store. Invalidation messages keep
//! flowing (the listener is the store's own), so what is tested is the cache's handling
//! of failed calls, not of a lost subscription (the Redis tests kill real servers for that).

use async_trait::async_trait;
use hoard::glob::Glob;
use hoard::store::{Generations, Invalidations, Leases, TagIndex, TagRow};
use hoard::{Entry, Error, Result, Store, Usage};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

pub struct Faulty {
    inner: Arc<dyn Store>,
    down: AtomicBool,
}

impl Faulty {
    pub fn new(inner: Arc<dyn Store>) -> Arc<Faulty> {
        Arc::new(Faulty {
            inner,
            down: AtomicBool::new(false),
        })
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, SeqCst);
    }

    pub fn is_down(&self) -> bool {
        self.down.load(SeqCst)
    }

    fn check(&self) -> Result<()> {
        if self.down.load(SeqCst) {
            Err(Error::Unavailable {
                tier: "faulty",
                reason: "injected failure".into(),
            })
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl Store for Faulty {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    async fn get(&self, key: &str) -> Result<Option<Entry>> {
        self.check()?;
        self.inner.get(key).await
    }
    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Entry>>> {
        self.check()?;
        self.inner.get_many(keys).await
    }
    async fn set(&self, key: &str, entry: Entry) -> Result<()> {
        self.check()?;
        self.inner.set(key, entry).await
    }
    async fn set_many(&self, entries: &[(String, Entry)]) -> Result<()> {
        self.check()?;
        self.inner.set_many(entries).await
    }
    async fn delete(&self, key: &str) -> Result<bool> {
        self.check()?;
        self.inner.delete(key).await
    }
    async fn delete_if_corrupt(&self, key: &str) -> Result<bool> {
        self.check()?;
        self.inner.delete_if_corrupt(key).await
    }
    async fn scan(
        &self,
        glob: &hoard::glob::Glob,
        cursor: &str,
        limit: usize,
    ) -> Result<hoard::ScanPage> {
        self.check()?;
        self.inner.scan(glob, cursor, limit).await
    }
    async fn touch(&self, key: &str, expires_at_ms: u64) -> Result<bool> {
        self.check()?;
        self.inner.touch(key, expires_at_ms).await
    }
    async fn ttl(&self, key: &str) -> Result<Option<Duration>> {
        self.check()?;
        self.inner.ttl(key).await
    }
    async fn delete_many(&self, keys: &[String]) -> Result<u64> {
        self.check()?;
        self.inner.delete_many(keys).await
    }
    async fn delete_matching(&self, glob: &Glob) -> Result<u64> {
        self.check()?;
        self.inner.delete_matching(glob).await
    }
    async fn delete_prefix(&self, prefix: &str) -> Result<u64> {
        self.check()?;
        self.inner.delete_prefix(prefix).await
    }
    async fn clear(&self) -> Result<u64> {
        self.check()?;
        self.inner.clear().await
    }
    async fn usage(&self) -> Result<Usage> {
        self.check()?;
        self.inner.usage().await
    }
    fn is_available(&self) -> bool {
        !self.down.load(SeqCst) && self.inner.is_available()
    }
    async fn ping(&self) -> Result<()> {
        self.check()?;
        self.inner.ping().await
    }
    fn as_tag_index(&self) -> Option<&dyn TagIndex> {
        self.inner.as_tag_index().map(|_| self as &dyn TagIndex)
    }
    fn as_generations(&self) -> Option<&dyn Generations> {
        self.inner
            .as_generations()
            .map(|_| self as &dyn Generations)
    }
    fn as_leases(self: Arc<Self>) -> Option<Arc<dyn Leases>> {
        let inner = self.inner.clone().as_leases()?;
        Some(Arc::new(FaultyLeases {
            switch: self,
            inner,
        }))
    }
    fn as_invalidations(self: Arc<Self>) -> Option<Arc<dyn Invalidations>> {
        // The store's own channel: messages keep flowing while calls fail.
        self.inner.clone().as_invalidations()
    }
    async fn flush(&self) -> Result<()> {
        self.check()?;
        self.inner.flush().await
    }
}

// The capabilities, behind the same switch (the cache asks for them only when the inner
// store has them).

impl Faulty {
    fn tags(&self) -> &dyn TagIndex {
        self.inner
            .as_tag_index()
            .expect("asked only when the inner store has tags")
    }
    fn generations(&self) -> &dyn Generations {
        self.inner
            .as_generations()
            .expect("asked only when the inner store has generations")
    }
}

#[async_trait]
impl TagIndex for Faulty {
    async fn add_tags(&self, rows: &[TagRow]) -> Result<()> {
        self.check()?;
        self.tags().add_tags(rows).await
    }
    async fn tagged(&self, tag: &str) -> Result<Vec<String>> {
        self.check()?;
        self.tags().tagged(tag).await
    }
    async fn untag(&self, tag: &str, keys: &[String]) -> Result<()> {
        self.check()?;
        self.tags().untag(tag, keys).await
    }
    async fn tag_index_len(&self) -> Result<u64> {
        self.check()?;
        self.tags().tag_index_len().await
    }
}

#[async_trait]
impl Generations for Faulty {
    async fn generation(&self, namespace: &str) -> Result<u32> {
        self.check()?;
        self.generations().generation(namespace).await
    }
    async fn bump_generation(&self, namespace: &str) -> Result<u32> {
        self.check()?;
        self.generations().bump_generation(namespace).await
    }
}

/// The inner store's leases behind the switch.
struct FaultyLeases {
    switch: Arc<Faulty>,
    inner: Arc<dyn Leases>,
}

#[async_trait]
impl Leases for FaultyLeases {
    async fn try_lock(&self, name: &str, token: &str, lease: Duration) -> Result<bool> {
        self.switch.check()?;
        self.inner.try_lock(name, token, lease).await
    }
    async fn renew_lock(&self, name: &str, token: &str, lease: Duration) -> Result<bool> {
        self.switch.check()?;
        self.inner.renew_lock(name, token, lease).await
    }
    async fn unlock(&self, name: &str, token: &str) -> Result<bool> {
        self.switch.check()?;
        self.inner.unlock(name, token).await
    }
}
