//! The embedded disk tier, on fjall (a pure-Rust LSM tree).
//!
//! Two keyspaces:
//! - `entries`: full key -> [`Entry`] in format 1 (see [`crate::entry`]).
//! - `expiry`: `expires_at_ms` (8 bytes, big endian) ++ full key -> empty. Sorted by
//!   deadline, so the sweeper finds what has expired by reading only that, never the
//!   whole store. A `set` writes both in one atomic batch; an overwrite leaves its old
//!   index row behind, and the sweeper drops such rows when their time comes after
//!   checking the entry's own deadline.
//!
//! Entries are counted exactly ([`Inner::stored`]): every change to `entries` happens
//! under the key's lock after reading whether the key was there, so the counter moves by
//! what each write really added or removed. A clean close writes the count to `meta`; an
//! open takes it (and deletes it, durably, before any write) or, after a crash, counts by
//! one scan.
//!
//! Why fjall: pure Rust (no C toolchain, no RocksDB build), crash-safe journal, range scans
//! for prefix and pattern deletes, atomic batches across keyspaces, and background
//! compaction, so reclaimed space is given back without our help.

mod config;
mod queue;
mod tier;

pub use config::{DiskConfig, Durability, DEFAULT_DISK_MEMORY_BYTES};

use crate::clock::Clock;
use crate::entry::Entry;
use crate::error::{Error, Result};
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use std::hash::{BuildHasher, RandomState};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// fjall holds up to one active and four sealed memtables per keyspace before it stalls
/// writers, so a keyspace's memtables take at most five times their size.
fn keyspace_options(memtable_bytes: u64) -> impl FnOnce() -> KeyspaceCreateOptions {
    move || KeyspaceCreateOptions::default().max_memtable_size(memtable_bytes)
}

/// Writers of the same key take the same lock, so the sweeper cannot delete a value that a
/// concurrent `set` has just written (it re-checks the deadline under the lock).
const KEY_LOCKS: usize = 64;

/// The `meta` row holding the entry count of a cleanly closed store (8 bytes, big endian).
/// Present only between a clean close and the next open, so a store that crashed has none
/// and is counted again.
const STORED_KEY: &str = "count:entries";

/// How often the sweep also passes over the whole tag index.
const TAG_SWEEP_EVERY_MS: u64 = 60_000;

/// How many rows a scan page may read per key it was asked for before it returns what it
/// has, with a cursor to go on.
const SCAN_ROWS_PER_KEY: usize = 100;

struct Inner {
    path: PathBuf,
    db: Database,
    entries: Keyspace,
    expiry: Keyspace,
    /// `tag \0 key` -> deadline (8 bytes, big endian).
    tags: Keyspace,
    /// `generation:{namespace}` -> u32, big endian; [`STORED_KEY`] -> u64 while closed;
    /// `queue:{queue}` -> the next sequence of a write queue (u64, big endian).
    meta: Keyspace,
    /// Write-behind's queues (see `queue.rs`).
    queue: Keyspace,
    /// The next sequence of each write queue used since open; held while enqueueing.
    queue_next: Mutex<std::collections::HashMap<String, u64>>,
    /// Rows in `entries`, expired ones not yet swept included.
    stored: AtomicU64,
    /// When the tag index was last swept (ms): a full pass, so not on every sweep.
    tags_swept_at_ms: AtomicU64,
    /// Serializes generation bumps (read-modify-write).
    meta_lock: Mutex<()>,
    durability: Durability,
    compress_above: usize,
    expirations: AtomicU64,
    key_locks: Vec<Mutex<()>>,
    lock_hasher: RandomState,
    clock: Clock,
}

/// L2 on local disk: survives restarts, reclaims expired entries in the background.
///
/// Calls do blocking file I/O directly (reads mostly hit fjall's block cache; writes
/// append to a journal), which is cheaper than a thread hop per operation. Dropping the
/// store stops the sweeper and flushes the journal.
pub struct DiskStore {
    inner: Arc<Inner>,
    sweeper: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
}

impl DiskStore {
    /// Opens (or creates) the store described by `config`.
    pub fn open(config: DiskConfig) -> Result<DiskStore> {
        let path = config.path.clone();
        let disk_error = |source: fjall::Error| Error::Disk {
            path: path.clone(),
            source: source.into(),
        };
        std::fs::create_dir_all(&path).map_err(|e| disk_error(fjall::Error::from(e)))?;
        // The budget: a quarter for the block cache; memtables (five per keyspace at most)
        // of an eighth for the entries and a sixty-fourth for each index (1 MiB at least,
        // fjall's minimum) use the rest.
        let budget = config.memory_bytes;
        let small = (budget / 64).max(1024 * 1024);
        let db = Database::builder(&path)
            .manual_journal_persist(config.durability == Durability::Relaxed)
            .cache_size(budget / 4)
            .open()
            .map_err(|source| match source {
                fjall::Error::Locked => Error::DiskInUse { path: path.clone() },
                source => disk_error(source),
            })?;
        let entries = db
            .keyspace("entries", keyspace_options(budget / 8))
            .map_err(disk_error)?;
        let expiry = db
            .keyspace("expiry", keyspace_options(small))
            .map_err(disk_error)?;
        let tags = db
            .keyspace("tags", keyspace_options(small))
            .map_err(disk_error)?;
        let meta = db
            .keyspace("meta", keyspace_options(small))
            .map_err(disk_error)?;
        let queue = db
            .keyspace("queue", keyspace_options(small))
            .map_err(disk_error)?;
        let stored = open_count(&db, &entries, &meta).map_err(disk_error)?;
        let inner = Arc::new(Inner {
            path,
            db,
            entries,
            expiry,
            tags,
            meta,
            queue,
            queue_next: Mutex::new(std::collections::HashMap::new()),
            stored: AtomicU64::new(stored),
            tags_swept_at_ms: AtomicU64::new(0),
            meta_lock: Mutex::new(()),
            durability: config.durability,
            compress_above: config.compress_above,
            expirations: AtomicU64::new(0),
            key_locks: (0..KEY_LOCKS).map(|_| Mutex::new(())).collect(),
            lock_hasher: RandomState::new(),
            clock: config.clock.clone(),
        });
        let sweeper = config
            .sweep_interval
            .map(|every| spawn_sweeper(Arc::downgrade(&inner), every));
        Ok(DiskStore { inner, sweeper })
    }

    /// The folder the data lives in.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Reclaims every entry whose deadline has passed; returns how many went.
    ///
    /// The background sweeper calls this; tests and tools may call it directly.
    pub fn sweep_expired(&self) -> Result<u64> {
        self.inner.sweep_expired()
    }

    /// Bytes of writes held in memory, not yet flushed to the tier's files (its memtables,
    /// filling and flushing); [`DiskConfig::memory_bytes`] bounds them.
    pub fn unflushed_bytes(&self) -> u64 {
        // fjall marks this accessor experimental; it is one atomic load.
        self.inner.db.write_buffer_size()
    }

    /// Counts the entries physically present, expired or not (a full scan: for tests and
    /// tools, not for hot paths).
    pub fn physical_len(&self) -> Result<u64> {
        let mut n = 0;
        for item in self.inner.entries.iter() {
            item.key().map_err(|e| self.inner.error(e))?;
            n += 1;
        }
        Ok(n)
    }
}

impl Drop for DiskStore {
    fn drop(&mut self) {
        if let Some((stop, handle)) = self.sweeper.take() {
            drop(stop);
            let _ = handle.join();
        }
    }
}

impl Drop for Inner {
    /// The last handle is gone (the store, and any disk work still running off a worker):
    /// no write can follow, so the count written here is the count of what is on disk.
    fn drop(&mut self) {
        let stored = self.stored.load(Relaxed);
        let closed = self
            .meta
            .insert(STORED_KEY, stored.to_be_bytes())
            .and_then(|()| self.db.persist(PersistMode::SyncAll));
        if let Err(error) = closed {
            tracing::warn!(path = %self.path.display(), %error, "disk tier: final flush failed");
        }
    }
}

/// The entry count at open: the one a clean close left, taken and deleted (durably, so a
/// crash from now on leaves no stale count behind), or else one scan of the entries.
fn open_count(db: &Database, entries: &Keyspace, meta: &Keyspace) -> fjall::Result<u64> {
    if let Some(bytes) = meta.get(STORED_KEY)? {
        meta.remove(STORED_KEY)?;
        db.persist(PersistMode::SyncAll)?;
        if let Ok(count) = <[u8; 8]>::try_from(bytes.as_ref()) {
            return Ok(u64::from_be_bytes(count));
        }
    }
    let started = std::time::Instant::now();
    let count = entries.len()? as u64;
    if count > 0 {
        tracing::info!(
            entries = count,
            took_ms = started.elapsed().as_millis() as u64,
            "disk tier: counted the entries (the store was not closed cleanly)"
        );
    }
    Ok(count)
}

fn spawn_sweeper(
    inner: std::sync::Weak<Inner>,
    every: Duration,
) -> (mpsc::Sender<()>, JoinHandle<()>) {
    let (stop, stopped) = mpsc::channel::<()>();
    let handle = std::thread::Builder::new()
        .name("hoard-disk-sweep".into())
        .spawn(move || loop {
            match stopped.recv_timeout(every) {
                Err(RecvTimeoutError::Timeout) => {}
                // The store was dropped (sender gone) or asked us to stop.
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
            }
            let Some(inner) = inner.upgrade() else { return };
            match inner.sweep_expired() {
                Ok(0) => {}
                Ok(n) => tracing::debug!(reclaimed = n, "disk tier: swept expired entries"),
                Err(error) => tracing::warn!(%error, "disk tier: sweep failed"),
            }
        })
        .expect("spawning the sweeper thread");
    (stop, handle)
}

fn deadline_of(bytes: &[u8]) -> u64 {
    bytes.try_into().map_or(0, u64::from_be_bytes)
}

fn index_key(expires_at_ms: u64, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + key.len());
    out.extend_from_slice(&expires_at_ms.to_be_bytes());
    out.extend_from_slice(key);
    out
}

impl Inner {
    fn error(&self, source: fjall::Error) -> Error {
        Error::Disk {
            path: self.path.clone(),
            source: source.into(),
        }
    }

    /// Takes `n` removed rows off the count. Saturating: a count that reached zero by a
    /// bug reads 0, not 2^64.
    fn forget(&self, n: u64) {
        let _ = self
            .stored
            .fetch_update(Relaxed, Relaxed, |stored| Some(stored.saturating_sub(n)));
    }

    fn lock_for(&self, key: &[u8]) -> std::sync::MutexGuard<'_, ()> {
        let slot = self.lock_hasher.hash_one(key) as usize % KEY_LOCKS;
        // The guarded data is `()`: a poisoned lock carries no broken state.
        self.key_locks[slot]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn batch(&self) -> fjall::OwnedWriteBatch {
        self.db.batch().durability(self.durability.persist_mode())
    }

    fn get(&self, key: &str) -> Result<Option<Entry>> {
        let Some(bytes) = self.entries.get(key).map_err(|e| self.error(e))? else {
            return Ok(None);
        };
        let entry = Entry::decode_shared(bytes.into())?;
        // Expired but not yet swept: absent for every reader.
        Ok((!entry.is_expired_at(self.clock.now_ms())).then_some(entry))
    }

    fn set_many(&self, items: &[(&str, &Entry)]) -> Result<()> {
        let _guards = self.lock_all(items.iter().map(|(k, _)| k.as_bytes()));
        let mut batch = self.batch();
        let mut added = 0;
        // A key given twice counts once (reads below see the store, not this batch).
        let mut seen = std::collections::HashSet::new();
        for (key, entry) in items {
            // Drop the index row of the value being replaced, so rewriting a hot key does
            // not grow the index (the sweeper would tolerate the row, but only at its time).
            match self.stored_expiry(key.as_bytes())? {
                Some(old) if old != entry.expires_at_ms => {
                    batch.remove(&self.expiry, index_key(old, key.as_bytes()));
                }
                Some(_) => {}
                None if items.len() == 1 || seen.insert(*key) => added += 1,
                None => {}
            }
            batch.insert(&self.entries, *key, entry.encode(self.compress_above));
            batch.insert(
                &self.expiry,
                index_key(entry.expires_at_ms, key.as_bytes()),
                [],
            );
        }
        batch.commit().map_err(|e| self.error(e))?;
        self.stored.fetch_add(added, Relaxed);
        Ok(())
    }

    /// The deadline stored at `key`: `None` if absent, `Some(0)` if unreadable (corrupt
    /// entries have no index row worth removing, and are dead).
    fn stored_expiry(&self, key: &[u8]) -> Result<Option<u64>> {
        Ok(self
            .entries
            .get(key)
            .map_err(|e| self.error(e))?
            .map(|bytes| Entry::decode_expiry(&bytes).unwrap_or(0)))
    }

    fn delete(&self, key: &str) -> Result<bool> {
        let _guard = self.lock_for(key.as_bytes());
        let Some(expires_at_ms) = self.stored_expiry(key.as_bytes())? else {
            return Ok(false);
        };
        let mut batch = self.batch();
        batch.remove(&self.entries, key);
        batch.remove(&self.expiry, index_key(expires_at_ms, key.as_bytes()));
        batch.commit().map_err(|e| self.error(e))?;
        self.forget(1);
        Ok(expires_at_ms > self.clock.now_ms())
    }

    /// Removes `key` only if what is stored there is still unreadable; true if removed.
    fn delete_if_corrupt(&self, key: &str) -> Result<bool> {
        let _guard = self.lock_for(key.as_bytes());
        let Some(bytes) = self.entries.get(key).map_err(|e| self.error(e))? else {
            return Ok(false);
        };
        if Entry::decode(&bytes).is_ok() {
            return Ok(false);
        }
        let mut batch = self.batch();
        batch.remove(&self.entries, key);
        batch.commit().map_err(|e| self.error(e))?;
        self.forget(1);
        Ok(true)
    }

    /// Removes every entry in `iter` that `selected` picks; counts the live ones.
    ///
    /// The scan is a snapshot: a chunk of picked keys is removed under their locks and
    /// only where a key is still there, so a `delete` racing the scan is not counted twice.
    /// A page of the live keys matching `glob`, in key order, after `cursor` (the last key
    /// the previous page looked at). A page reads the keys under the glob's literal prefix
    /// from the cursor on, and stops after `limit` matches or [`SCAN_ROWS_PER_KEY`] rows
    /// per key asked for, so a sparse pattern over a large namespace pages too.
    fn scan(
        &self,
        glob: &crate::glob::Glob,
        cursor: &str,
        limit: usize,
    ) -> Result<crate::store::ScanPage> {
        let prefix = glob.literal_prefix();
        let iter = if cursor.as_bytes() >= prefix.as_slice() {
            let from = std::ops::Bound::Excluded(cursor.as_bytes());
            self.entries
                .range::<&[u8], _>((from, std::ops::Bound::Unbounded))
        } else {
            self.entries.prefix(&prefix)
        };
        let now = self.clock.now_ms();
        let budget = limit.saturating_mul(SCAN_ROWS_PER_KEY).max(limit);
        let mut keys = Vec::new();
        let mut last = None;
        for (looked, item) in iter.enumerate() {
            if keys.len() >= limit || looked >= budget {
                return Ok(crate::store::ScanPage { keys, cursor: last });
            }
            let (key, value) = item.into_inner().map_err(|e| self.error(e))?;
            if !key.starts_with(&prefix) {
                break;
            }
            // Keys are written from validated `&str`s; anything else is not an entry.
            let Ok(key) = std::str::from_utf8(&key) else {
                continue;
            };
            last = Some(key.to_owned());
            if !glob.matches(key) {
                continue;
            }
            let live =
                Entry::decode_shared(value.into()).is_ok_and(|entry| !entry.is_expired_at(now));
            if live {
                keys.push(key.to_owned());
            }
        }
        Ok(crate::store::ScanPage { keys, cursor: None })
    }

    fn remove_scanned(&self, iter: fjall::Iter, selected: impl Fn(&[u8]) -> bool) -> Result<u64> {
        const CHUNK: usize = 512;
        let now = self.clock.now_ms();
        let mut live = 0;
        let mut chunk = Vec::with_capacity(CHUNK);
        let mut iter = iter.peekable();
        while iter.peek().is_some() {
            chunk.clear();
            for item in iter.by_ref() {
                let key = item.key().map_err(|e| self.error(e))?;
                if selected(&key) {
                    chunk.push(key);
                    if chunk.len() == CHUNK {
                        break;
                    }
                }
            }
            let _guards = self.lock_all(chunk.iter().map(|k| k.as_ref()));
            let mut batch = self.batch();
            let mut removed = 0;
            for key in &chunk {
                let Some(expires_at_ms) = self.stored_expiry(key)? else {
                    continue;
                };
                live += u64::from(expires_at_ms > now);
                batch.remove(&self.expiry, index_key(expires_at_ms, key));
                batch.remove(&self.entries, key.clone());
                removed += 1;
            }
            batch.commit().map_err(|e| self.error(e))?;
            self.forget(removed);
        }
        Ok(live)
    }

    fn generation(&self, namespace: &str) -> Result<u32> {
        let stored = self
            .meta
            .get(format!("generation:{namespace}"))
            .map_err(|e| self.error(e))?;
        Ok(stored.map_or(0, |bytes| {
            bytes.as_ref().try_into().map_or(0, u32::from_be_bytes)
        }))
    }

    /// Drops tag rows whose entries have expired (the tag index is small next to the entries,
    /// so a full pass is fine).
    fn sweep_tags(&self, now: u64) -> Result<()> {
        let mut batch = self.batch();
        for item in self.tags.iter() {
            let (row, until) = item.into_inner().map_err(|e| self.error(e))?;
            if deadline_of(&until) <= now {
                batch.remove(&self.tags, row);
            }
        }
        batch.commit().map_err(|e| self.error(e))
    }

    /// [`Inner::sweep_tags`], when this sweep reclaimed entries (their tag rows are due
    /// too) or the last pass is a minute old; a pass over the whole tag index on every
    /// sweep would cost more than it gives when nothing expires.
    fn sweep_tags_now_and_then(&self, now: u64, reclaimed: u64) -> Result<()> {
        let last = self.tags_swept_at_ms.load(Relaxed);
        if reclaimed == 0 && now < last.saturating_add(TAG_SWEEP_EVERY_MS) && last <= now {
            return Ok(());
        }
        self.tags_swept_at_ms.store(now, Relaxed);
        self.sweep_tags(now)
    }

    fn tag_row(tag: &str, key: &str) -> Vec<u8> {
        let mut row = Vec::with_capacity(tag.len() + 1 + key.len());
        row.extend_from_slice(tag.as_bytes());
        row.push(0);
        row.extend_from_slice(key.as_bytes());
        row
    }

    /// Locks the slots of every key, in slot order so two callers cannot deadlock.
    fn lock_all<'a>(
        &self,
        keys: impl Iterator<Item = &'a [u8]>,
    ) -> Vec<std::sync::MutexGuard<'_, ()>> {
        let mut slots: Vec<usize> = keys
            .map(|k| self.lock_hasher.hash_one(k) as usize % KEY_LOCKS)
            .collect();
        slots.sort_unstable();
        slots.dedup();
        slots
            .iter()
            .map(|&s| self.key_locks[s].lock().unwrap_or_else(|p| p.into_inner()))
            .collect()
    }

    fn sweep_expired(&self) -> Result<u64> {
        const CHUNK: usize = 256;
        let now = self.clock.now_ms();
        let upper = (now + 1).to_be_bytes().to_vec();
        let mut from: Vec<u8> = Vec::new();
        let mut reclaimed = 0;
        loop {
            // Read a chunk of due index rows, then act on it, so each batch stays small and
            // writers wait on the key locks only briefly. The next chunk starts after this
            // one's last row rather than at the start, which would re-skip its tombstones.
            let due: Vec<fjall::UserKey> = self
                .expiry
                .range(from.clone()..upper.clone())
                .take(CHUNK)
                .map(|item| item.key())
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| self.error(e))?;
            let Some(last) = due.last() else {
                self.sweep_tags_now_and_then(now, reclaimed)?;
                return Ok(reclaimed);
            };
            from = last.to_vec();
            from.push(0);
            let mut chunk_reclaimed = 0;
            {
                let _guards = self.lock_all(due.iter().filter_map(|row| row.get(8..)));
                let mut batch = self.batch();
                for index_row in &due {
                    // A row too short to hold a deadline is not ours: drop it.
                    if let Some(key) = index_row.get(8..) {
                        let expired = match self.entries.get(key).map_err(|e| self.error(e))? {
                            // Unreadable entries go too: nobody can use them.
                            Some(bytes) => {
                                Entry::decode_expiry(&bytes).map_or(true, |exp| exp <= now)
                            }
                            // Deleted since: only the index row is left.
                            None => false,
                        };
                        if expired {
                            batch.remove(&self.entries, key);
                            chunk_reclaimed += 1;
                        }
                    }
                    batch.remove(&self.expiry, index_row.clone());
                }
                batch.commit().map_err(|e| self.error(e))?;
                self.forget(chunk_reclaimed);
            }
            self.expirations.fetch_add(chunk_reclaimed, Relaxed);
            reclaimed += chunk_reclaimed;
            if due.len() < CHUNK {
                self.sweep_tags_now_and_then(now, reclaimed)?;
                return Ok(reclaimed);
            }
        }
    }
}

impl DiskStore {
    /// Runs disk work that can take long (a scan over many entries, an fsync) on tokio's
    /// blocking pool when a runtime is there, so it never holds up an async worker (and
    /// every request queued behind it); inline otherwise. Point reads and writes stay
    /// inline: they take microseconds, less than the hand-off.
    async fn off_worker<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Inner) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return work(&self.inner);
        };
        let inner = self.inner.clone();
        match runtime.spawn_blocking(move || work(&inner)).await {
            Ok(done) => done,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(_) => Err(Error::Unavailable {
                tier: "disk",
                reason: "the runtime shut down before the disk work finished".into(),
            }),
        }
    }
}
