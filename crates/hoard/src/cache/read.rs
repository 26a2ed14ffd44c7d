//! Reads: L1 first, then L2, with the L1 fill guarded by write epochs.

use super::epochs::EpochMark;
use super::generations::ReadAt;
use super::Cache;
use crate::codec;
use crate::entry::Entry;
use crate::error::{Error, Result};
use crate::key::{full_key, validate};
use crate::stats::Event;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

impl Cache {
    /// Reads a typed value. A value stored as another type is a [`Error::Decode`].
    pub async fn get<T: DeserializeOwned>(&self, namespace: &str, key: &str) -> Result<Option<T>> {
        match self.get_entry(namespace, key).await? {
            Some(entry) => codec::decode(&entry.value).map(Some),
            None => Ok(None),
        }
    }

    /// Reads the raw bytes of a value.
    pub async fn get_raw(&self, namespace: &str, key: &str) -> Result<Option<Bytes>> {
        Ok(self.lookup(namespace, key, true).await?.map(|e| e.value))
    }

    /// Reads an entry with its expiry and compute time.
    pub async fn get_entry(&self, namespace: &str, key: &str) -> Result<Option<Entry>> {
        self.lookup(namespace, key, true).await
    }

    /// Like [`Cache::get_entry`] without counting a hit or miss: for second looks inside
    /// one logical read (compute-through re-checks), which must not count twice.
    pub(crate) async fn peek_entry(&self, namespace: &str, key: &str) -> Result<Option<Entry>> {
        self.lookup(namespace, key, false).await
    }

    /// L1, then (on a miss) L2; counted when `record`. An L1 hit returns on the first
    /// poll, before any of the L2 read's state is touched.
    async fn lookup(&self, namespace: &str, key: &str, record: bool) -> Result<Option<Entry>> {
        match self.l1_hit(namespace, key, record) {
            Some(entry) => Ok(Some(entry)),
            None => self.past_l1(namespace, key, record).await,
        }
    }

    /// The entry at `namespace:key` if the memory tier (L1) holds it, found without
    /// awaiting anything: the fast path of every read, for callers that would rather not
    /// enter async code for a hit. A hit counts as an L1 hit. `None` means L1 does not
    /// hold the key and counts nothing: go on with [`Cache::get_entry`] (or
    /// [`Cache::begin_compute`]), which reads L2 and counts the read.
    pub fn get_entry_l1(&self, namespace: &str, key: &str) -> Result<Option<Entry>> {
        match self.l1_hit(namespace, key, true) {
            Some(entry) => Ok(Some(entry)),
            None => validate(namespace, key).map(|()| None),
        }
    }

    /// The value at `namespace:key` as JSON text if the memory tier (L1) holds it, counted
    /// as an L1 hit; `None` means L1 does not hold it and counts nothing, as with
    /// [`Cache::get_entry_l1`] (go on with [`Cache::get_raw`] and [`codec::to_json`]).
    ///
    /// The text is rendered from the stored MessagePack on the entry's first such read and
    /// kept beside it in L1, charged to L1's byte budget like the entry: later reads answer
    /// it without rendering, until the entry is overwritten, removed or evicted. An HTTP
    /// server answering reads with the stored value wants this.
    pub fn get_json_l1(&self, namespace: &str, key: &str) -> Result<Option<Bytes>> {
        let inner = &*self.inner;
        let Some(found) = inner.l1.get_parts_rendered(namespace, key) else {
            return validate(namespace, key).map(|()| None);
        };
        let saved = u64::from(found.entry.compute_ms);
        inner.stats.record_hits(namespace, Event::L1Hit, 1, saved);
        inner.warming.note(namespace, key);
        if let Some(json) = found.json {
            return Ok(Some(json));
        }
        let json = Bytes::from(codec::to_json(&found.entry.value)?);
        inner
            .l1
            .attach_json(namespace, key, &found.entry.value, json.clone());
        Ok(Some(json))
    }

    /// L1's live entry of a `#[cached]` call (the key `{name}:v2:{hex digest}`), found by
    /// its digest without formatting the key; counted as an L1 hit. `None` for a miss,
    /// which the caller then takes the full path for, key text and all.
    pub(crate) fn call_hit_l1(&self, namespace: &str, name: &str, digest: u128) -> Option<Entry> {
        let inner = &*self.inner;
        let entry = inner.l1.get_call(namespace, name, digest)?;
        let saved = u64::from(entry.compute_ms);
        inner.stats.record_hits(namespace, Event::L1Hit, 1, saved);
        Some(entry)
    }

    /// L1's live entry at `namespace:key`, counted as an L1 hit when `record`. The parts are
    /// not validated here: L1 holds only keys a validated write stored, and it compares
    /// both parts, so a hit proves them valid; a miss is validated by the caller's next
    /// step.
    fn l1_hit(&self, namespace: &str, key: &str, record: bool) -> Option<Entry> {
        let inner = &*self.inner;
        let entry = inner.l1.get_parts(namespace, key)?;
        if record {
            let saved = u64::from(entry.compute_ms);
            inner.stats.record_hits(namespace, Event::L1Hit, 1, saved);
            inner.warming.note(namespace, key);
        }
        Some(entry)
    }

    /// A read L1 could not answer: the parts validated, then L2 (if any), counted as an L2
    /// hit or a miss when `record`.
    async fn past_l1(&self, namespace: &str, key: &str, record: bool) -> Result<Option<Entry>> {
        let inner = &*self.inner;
        let full = full_key(namespace, key)?;
        let found = match &inner.l2 {
            Some(l2) => {
                let mark = inner.epochs.mark(&full);
                let at = self.generation_for_read(namespace).await;
                let found = self.l2_read(namespace, &full, l2.get(&full).await).await;
                self.accept_l2(namespace, &full, at, mark, found)
            }
            None => None,
        };
        if record {
            match &found {
                Some(entry) => {
                    let saved = u64::from(entry.compute_ms);
                    inner.stats.record_hits(namespace, Event::L2Hit, 1, saved);
                }
                None => inner.stats.record(namespace, Event::Miss, 1),
            }
            inner.warming.note(namespace, key);
        }
        Ok(found)
    }

    /// Turns an L2 read result into a value or a miss, counting and cleaning up failures.
    pub(super) async fn l2_read(
        &self,
        namespace: &str,
        full: &str,
        read: Result<Option<Entry>>,
    ) -> Option<Entry> {
        match read {
            Ok(found) => found,
            Err(error) => {
                self.l2_failed(namespace, full, error).await;
                None
            }
        }
    }

    pub(super) async fn l2_failed(&self, namespace: &str, full: &str, error: Error) {
        let inner = &*self.inner;
        inner.stats.record(namespace, Event::Error, 1);
        self.warn_l2(full, &error, "L2 read failed; answering as a miss");
        let (Error::Corrupt(_), Some(l2)) = (&error, &inner.l2) else {
            return;
        };
        // Remove the corrupt entry like any write: under the key's lock, and only if it is
        // still corrupt (a valid value written meanwhile stays).
        let _lock = inner.epochs.lock(std::iter::once(full)).await;
        match l2.delete_if_corrupt(full).await {
            Ok(true) => {
                inner.epochs.bump(full);
                inner.l1.delete_now(full);
            }
            Ok(false) => {}
            Err(error) => tracing::warn!(key = full, %error, "could not remove corrupt entry"),
        }
    }

    /// What a read does with the entry L2 returned for `full`: dropped if it belongs to an
    /// older generation of the namespace, else returned, and copied into L1 when `at` allows
    /// it and no write raced the read (`before_read`).
    fn accept_l2(
        &self,
        namespace: &str,
        full: &str,
        at: ReadAt,
        before_read: EpochMark,
        entry: Option<Entry>,
    ) -> Option<Entry> {
        let entry = self.current(namespace, at.generation, entry)?;
        if at.fill_l1 {
            self.fill_l1(full, entry.clone(), before_read);
        }
        Some(entry)
    }

    /// Copies an L2 entry into L1, unless a write to the key raced the read.
    fn fill_l1(&self, full: &str, entry: Entry, before_read: EpochMark) {
        let inner = &*self.inner;
        if !inner.l1_trusted.load(SeqCst) {
            // Not hearing other processes' invalidations now: a copy could go stale unseen.
            return;
        }
        inner.l1.set_now(full, entry);
        if inner.epochs.mark(full) != before_read {
            // A writer finished its L2 write after our read began: what we copied may be
            // older than L2 now. Dropping it costs one miss; keeping it could serve stale.
            inner.l1.delete_now(full);
        }
    }

    /// Whether a live entry exists (does not count as a read in stats).
    pub async fn exists(&self, namespace: &str, key: &str) -> Result<bool> {
        Ok(self.ttl(namespace, key).await?.is_some())
    }

    /// Time left before the entry expires; `None` if it is absent.
    pub async fn ttl(&self, namespace: &str, key: &str) -> Result<Option<Duration>> {
        Ok(self
            .peek_entry(namespace, key)
            .await?
            .and_then(|entry| entry.remaining_at(self.inner.clock.now_ms())))
    }

    /// Reads many typed values of one namespace; `None` where a key is missing.
    pub async fn mget<T: DeserializeOwned>(
        &self,
        namespace: &str,
        keys: &[impl AsRef<str>],
    ) -> Result<Vec<Option<T>>> {
        self.mget_entries(namespace, keys)
            .await?
            .into_iter()
            .map(|found| found.map(|e| codec::decode(&e.value)).transpose())
            .collect()
    }

    /// Reads many raw values of one namespace; `None` where a key is missing.
    pub async fn mget_raw(
        &self,
        namespace: &str,
        keys: &[impl AsRef<str>],
    ) -> Result<Vec<Option<Bytes>>> {
        Ok(self
            .mget_entries(namespace, keys)
            .await?
            .into_iter()
            .map(|found| found.map(|e| e.value))
            .collect())
    }

    /// Reads many entries: L1 first, then one `get_many` on L2 for what L1 lacked.
    pub async fn mget_entries(
        &self,
        namespace: &str,
        keys: &[impl AsRef<str>],
    ) -> Result<Vec<Option<Entry>>> {
        let inner = &*self.inner;
        let full_keys: Vec<String> = keys
            .iter()
            .map(|k| full_key(namespace, k.as_ref()))
            .collect::<Result<_>>()?;
        let mut found: Vec<Option<Entry>> = full_keys.iter().map(|k| inner.l1.get_now(k)).collect();
        let l1_hits = found.iter().filter(|f| f.is_some()).count() as u64;
        let l1_saved = saved_ms(found.iter());
        let (mut l2_hits, mut l2_saved) = (0, 0);
        if let Some(l2) = &inner.l2 {
            let missing: Vec<usize> = (0..found.len()).filter(|&i| found[i].is_none()).collect();
            if !missing.is_empty() {
                let missing_keys: Vec<&str> =
                    missing.iter().map(|&i| full_keys[i].as_str()).collect();
                let marks: Vec<EpochMark> =
                    missing_keys.iter().map(|k| inner.epochs.mark(k)).collect();
                let at = self.generation_for_read(namespace).await;
                let read = match l2.get_many(&missing_keys).await {
                    Ok(entries) => entries,
                    Err(Error::Corrupt(_)) => {
                        // One bad entry spoils a batch read; read one by one to find it.
                        let mut entries = Vec::with_capacity(missing_keys.len());
                        for full in &missing_keys {
                            entries.push(self.l2_read(namespace, full, l2.get(full).await).await);
                        }
                        entries
                    }
                    Err(error) => {
                        self.l2_failed(namespace, missing_keys[0], error).await;
                        Vec::new()
                    }
                };
                for ((&i, entry), mark) in missing.iter().zip(read).zip(marks) {
                    found[i] = self.accept_l2(namespace, &full_keys[i], at, mark, entry);
                    l2_hits += u64::from(found[i].is_some());
                    l2_saved += saved_ms(std::iter::once(&found[i]));
                }
            }
        }
        let misses = found.len() as u64 - l1_hits - l2_hits;
        for key in keys {
            inner.warming.note(namespace, key.as_ref());
        }
        inner
            .stats
            .record_hits(namespace, Event::L1Hit, l1_hits, l1_saved);
        inner
            .stats
            .record_hits(namespace, Event::L2Hit, l2_hits, l2_saved);
        inner.stats.record(namespace, Event::Miss, misses);
        Ok(found)
    }
}

/// The compute time, in milliseconds, that the hits among `found` saved.
fn saved_ms<'a>(found: impl Iterator<Item = &'a Option<Entry>>) -> u64 {
    found
        .flatten()
        .map(|entry| u64::from(entry.compute_ms))
        .sum()
}
