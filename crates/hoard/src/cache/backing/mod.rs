//! Write-through and write-behind: a namespace whose writes also go to the application's
//! own store (a database, an object store), through a writer the application registers.
//!
//! - **Write-through** ([`Cache::write_through`]): every [`Cache::set`], [`Cache::mset`]
//!   and [`Cache::delete`] of the namespace calls the writer first, under the keys' locks;
//!   only when it succeeds does the cache change. A writer that fails makes the call fail
//!   with [`Error::Writer`], and the cache keeps what it had.
//! - **Write-behind** ([`Cache::write_behind`]): the call appends the write to a durable
//!   queue (the disk tier's, or a Redis stream) and changes the cache, then returns; a
//!   background task hands the queued writes to the writer in batches, oldest first,
//!   retries a failing batch with exponential backoff, and takes a batch out of the queue
//!   only once the writer accepted it. A process killed with SIGKILL loses nothing
//!   acknowledged: the next process on the same folder (or Redis) drains what is left.
//!   Delivery is at least once: a batch the writer accepted just before a kill is handed
//!   over again after the restart, with the same [`BackingWrite::id`]s, so a writer that
//!   records the ids it applied (or writes idempotently) applies each write once.
//!
//! Values computed by get-or-compute are not written back (they came from the backing
//! store, or from work derived from it), nor are clears, pattern deletes, tag
//! invalidations and expirations: those are about the cache, not the data.

mod drain;
mod record;

use super::Cache;
use crate::entry::Entry;
use crate::error::{Error, Result};
use crate::key::{validate_namespace, SEPARATOR};
use crate::store::WriteQueue;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// One write handed to a namespace's writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackingWrite {
    /// The queue's id of a write-behind write: the same on every delivery of this write,
    /// retries and restarts included, and never given to another write of the namespace.
    /// `None` for write-through (delivered once, while the caller waits).
    pub id: Option<String>,
    /// The key, within the namespace.
    pub key: String,
    /// What to do with it.
    pub op: BackingOp,
}

/// What a [`BackingWrite`] does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackingOp {
    /// Store this value: the bytes the cache stores ([`BackingWrite::value`] decodes
    /// them).
    Set(Bytes),
    /// Remove the key.
    Delete,
}

impl BackingWrite {
    /// The value of a set, decoded as `T`; `None` for a delete.
    pub fn value<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        match &self.op {
            BackingOp::Set(bytes) => crate::codec::decode(bytes).map(Some),
            BackingOp::Delete => Ok(None),
        }
    }
}

/// How a namespace's writes reach its backing store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteMode {
    /// The writer runs before the cache changes; the caller waits for it.
    #[default]
    Through,
    /// The write is queued durably; a background task runs the writer.
    Behind,
}

impl WriteMode {
    /// `through` or `behind`, as stats and metrics name it.
    pub fn as_str(self) -> &'static str {
        match self {
            WriteMode::Through => "through",
            WriteMode::Behind => "behind",
        }
    }
}

/// How [`Cache::write_behind`] drains its queue.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct WriteBehindOptions {
    batch: usize,
    linger: Duration,
    retry_min: Duration,
    retry_max: Duration,
    poll: Duration,
}

impl Default for WriteBehindOptions {
    fn default() -> Self {
        WriteBehindOptions {
            batch: 100,
            linger: Duration::from_millis(10),
            retry_min: Duration::from_millis(100),
            retry_max: Duration::from_secs(30),
            poll: Duration::from_secs(1),
        }
    }
}

impl WriteBehindOptions {
    /// Batches of up to 100 writes, 10 ms of lingering for a batch to fill, retries from
    /// 100 ms doubling up to 30 s, and a look at the queue every second.
    pub fn new() -> WriteBehindOptions {
        WriteBehindOptions::default()
    }

    /// The most writes handed to the writer in one call (default 100).
    pub fn batch(mut self, writes: usize) -> WriteBehindOptions {
        self.batch = writes.max(1);
        self
    }

    /// How long the drainer waits after a write arrives for more to join its batch
    /// (default 10 ms).
    pub fn linger(mut self, linger: Duration) -> WriteBehindOptions {
        self.linger = linger;
        self
    }

    /// The pause after a batch failed, doubled at every failure in a row from `min` up to
    /// `max` (defaults 100 ms and 30 s).
    pub fn retry(mut self, min: Duration, max: Duration) -> WriteBehindOptions {
        self.retry_min = min.max(Duration::from_millis(1));
        self.retry_max = max.max(self.retry_min);
        self
    }

    /// How often the queue is looked at when nothing woke the drainer (default 1 s): writes
    /// other processes queued on a shared Redis, and a queue another process was draining.
    pub fn poll(mut self, every: Duration) -> WriteBehindOptions {
        self.poll = every.max(Duration::from_millis(10));
        self
    }
}

/// What a namespace's writer did, since it was registered in this process.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WriterStats {
    /// Through or behind.
    pub mode: WriteMode,
    /// Writes the writer accepted.
    pub written: u64,
    /// Calls of the writer that succeeded.
    pub batches: u64,
    /// Calls of the writer that failed (each retry of a batch counts).
    pub failures: u64,
    /// Failures since the last success: more than zero means the writer is failing now.
    pub consecutive_failures: u64,
    /// What the last failure reported.
    pub last_error: Option<String>,
    /// Writes queued and not yet accepted (write-behind): the queue's length when the
    /// stats were read (every process's writes, on a shared Redis).
    pub pending: u64,
    /// Queued records that could not be read back (damaged), logged and dropped.
    pub unreadable: u64,
}

/// A writer as kept: a batch in, success or the error's text out.
type Writer = Arc<
    dyn Fn(Vec<BackingWrite>) -> BoxFuture<'static, std::result::Result<(), String>> + Send + Sync,
>;

/// One namespace with a writer.
struct Backing {
    writer: Writer,
    stats: Mutex<WriterStats>,
    /// Write-behind's queue and drainer state; `None` for write-through.
    behind: Option<Behind>,
}

struct Behind {
    queue: Arc<dyn WriteQueue>,
    options: WriteBehindOptions,
    /// Woken when a write is queued.
    wake: tokio::sync::Notify,
}

impl Backing {
    fn stats(&self) -> MutexGuard<'_, WriterStats> {
        self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs the writer on `batch`, counting the outcome.
    async fn write(
        &self,
        namespace: &str,
        batch: Vec<BackingWrite>,
    ) -> std::result::Result<(), String> {
        let writes = batch.len() as u64;
        let outcome = (self.writer)(batch).await;
        let mut stats = self.stats();
        match &outcome {
            Ok(()) => {
                stats.written += writes;
                stats.batches += 1;
                stats.consecutive_failures = 0;
            }
            Err(error) => {
                stats.failures += 1;
                stats.consecutive_failures += 1;
                stats.last_error = Some(error.clone());
                tracing::warn!(
                    namespace,
                    writes,
                    failures_in_a_row = stats.consecutive_failures,
                    %error,
                    "the backing store's writer failed"
                );
            }
        }
        outcome
    }
}

/// The namespaces with writers; one relaxed load on the write path when there are none.
#[derive(Default)]
pub(crate) struct Registry {
    any: AtomicBool,
    namespaces: RwLock<HashMap<String, Arc<Backing>>>,
}

impl Registry {
    fn get(&self, namespace: &str) -> Option<Arc<Backing>> {
        if !self.any.load(Relaxed) {
            return None;
        }
        self.namespaces
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(namespace)
            .cloned()
    }
}

/// What [`Cache::write_to_backing`] did, so a write that fails later can take it back.
pub(crate) enum Backed {
    /// The namespace has no writer, or the writer has run (write-through).
    Done,
    /// Queued under these ids (write-behind).
    Queued(Arc<dyn WriteQueue>, Vec<String>),
}

impl Cache {
    /// Makes `namespace` write-through: every set and delete of it runs `writer` first, and
    /// the cache changes only if the writer succeeds (see the module docs). The writer gets
    /// the writes of one call (one for `set`, all of them for `mset`).
    /// A namespace takes one writer; registering another is an error.
    pub fn write_through<E, F, Fut>(&self, namespace: &str, writer: F) -> Result<()>
    where
        E: std::fmt::Display,
        F: Fn(Vec<BackingWrite>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<(), E>> + Send + 'static,
    {
        self.register_writer(namespace, boxed(writer), None)
            .map(|_| ())
    }

    /// Makes `namespace` write-behind: every set and delete of it is queued durably with
    /// the change to the cache, and acknowledged then; a background task hands the queued
    /// writes to `writer` in batches, with retries (see the module docs). Writes left in
    /// the queue by an earlier process are drained too. Needs an L2 that keeps a queue
    /// (the disk tier or Redis).
    pub fn write_behind<E, F, Fut>(
        &self,
        namespace: &str,
        options: WriteBehindOptions,
        writer: F,
    ) -> Result<()>
    where
        E: std::fmt::Display,
        F: Fn(Vec<BackingWrite>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<(), E>> + Send + 'static,
    {
        let queue = self
            .l2()
            .and_then(|l2| l2.clone().as_write_queue())
            .ok_or_else(|| {
                Error::Config(format!(
                    "write-behind for {namespace:?} needs a durable queue: open the cache with \
                     the disk tier or Redis (memory alone would lose queued writes)"
                ))
            })?;
        let behind = Behind {
            queue,
            options,
            wake: tokio::sync::Notify::new(),
        };
        let backing = self.register_writer(namespace, boxed(writer), Some(behind))?;
        let cache = Arc::downgrade(self.inner_arc());
        crate::runtime::spawn(drain::run(cache, namespace.to_owned(), backing));
        Ok(())
    }

    /// What each namespace's writer did, with the length of each write-behind queue read
    /// now (a queue that cannot be read keeps the length last read, and is logged).
    pub async fn writer_stats(&self) -> BTreeMap<String, WriterStats> {
        let backings: Vec<(String, Arc<Backing>)> = self
            .inner()
            .backing
            .namespaces
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(ns, backing)| (ns.clone(), backing.clone()))
            .collect();
        let mut out = BTreeMap::new();
        for (namespace, backing) in backings {
            if let Some(behind) = &backing.behind {
                match behind.queue.queue_len(&namespace).await {
                    Ok(pending) => backing.stats().pending = pending,
                    Err(error) => {
                        tracing::warn!(namespace, %error, "write-behind: the queue's length is unknown");
                    }
                }
            }
            let stats = backing.stats().clone();
            out.insert(namespace, stats);
        }
        out
    }

    /// Waits up to `within` until the write-behind queue of `namespace` is empty (every
    /// queued write accepted by the writer); returns whether it is. `false` too for a
    /// namespace that is not write-behind.
    pub async fn write_behind_drained(&self, namespace: &str, within: Duration) -> Result<bool> {
        let Some(backing) = self.inner().backing.get(namespace) else {
            return Ok(false);
        };
        let Some(behind) = &backing.behind else {
            return Ok(false);
        };
        let deadline = Instant::now() + within;
        loop {
            if behind.queue.queue_len(namespace).await? == 0 {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn register_writer(
        &self,
        namespace: &str,
        writer: Writer,
        behind: Option<Behind>,
    ) -> Result<Arc<Backing>> {
        validate_namespace(namespace)?;
        let mode = if behind.is_some() {
            WriteMode::Behind
        } else {
            WriteMode::Through
        };
        let backing = Arc::new(Backing {
            writer,
            stats: Mutex::new(WriterStats {
                mode,
                ..WriterStats::default()
            }),
            behind,
        });
        let registry = &self.inner().backing;
        let mut namespaces = registry
            .namespaces
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if namespaces.contains_key(namespace) {
            return Err(Error::Config(format!(
                "namespace {namespace:?} has a writer already"
            )));
        }
        namespaces.insert(namespace.to_owned(), backing.clone());
        registry.any.store(true, Relaxed);
        Ok(backing)
    }

    /// The write path's step before L2, under the keys' locks: runs the namespace's
    /// writer (write-through) or queues the writes (write-behind). `entries` hold full
    /// keys. An error means nothing may be stored.
    pub(crate) async fn write_to_backing(
        &self,
        namespace: &str,
        writes: impl IntoIterator<Item = (&str, BackingOp)>,
    ) -> Result<Backed> {
        let Some(backing) = self.inner().backing.get(namespace) else {
            return Ok(Backed::Done);
        };
        let prefix_len = namespace.len() + SEPARATOR.len_utf8();
        let writes: Vec<(String, BackingOp)> = writes
            .into_iter()
            .map(|(full, op)| (full.get(prefix_len..).unwrap_or(full).to_owned(), op))
            .collect();
        match &backing.behind {
            None => {
                let batch = writes
                    .into_iter()
                    .map(|(key, op)| BackingWrite { id: None, key, op })
                    .collect();
                backing
                    .write(namespace, batch)
                    .await
                    .map_err(|reason| Error::Writer {
                        namespace: namespace.to_owned(),
                        reason,
                    })?;
                Ok(Backed::Done)
            }
            Some(behind) => {
                let records: Vec<Bytes> = writes
                    .iter()
                    .map(|(key, op)| record::encode(key, op))
                    .collect();
                let ids = behind.queue.enqueue(namespace, &records).await?;
                behind.wake.notify_one();
                Ok(Backed::Queued(behind.queue.clone(), ids))
            }
        }
    }

    /// Takes back what [`Cache::write_to_backing`] queued, after the cache refused the
    /// write: the caller is told it failed, so the backing store should not get it. If
    /// even this fails, the write still reaches the backing store (logged).
    pub(crate) async fn unqueue(&self, namespace: &str, backed: Backed) {
        let Backed::Queued(queue, ids) = backed else {
            return;
        };
        if let Err(error) = queue.remove(namespace, &ids).await {
            tracing::warn!(
                namespace,
                %error,
                "a write the cache refused stays queued for the backing store"
            );
        }
    }
}

/// The entries of a write, as the writes a writer gets.
pub(crate) fn sets(entries: &[(String, Entry)]) -> impl Iterator<Item = (&str, BackingOp)> {
    entries
        .iter()
        .map(|(full, entry)| (full.as_str(), BackingOp::Set(entry.value.clone())))
}

fn boxed<E, F, Fut>(writer: F) -> Writer
where
    E: std::fmt::Display,
    F: Fn(Vec<BackingWrite>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = std::result::Result<(), E>> + Send + 'static,
{
    Arc::new(move |batch| {
        let future = writer(batch);
        Box::pin(async move { future.await.map_err(|e| e.to_string()) })
    })
}

/// The pause before retrying after `failures` failures in a row.
fn backoff(options: &WriteBehindOptions, failures: u64) -> Duration {
    let doublings = u32::try_from(failures.saturating_sub(1))
        .unwrap_or(u32::MAX)
        .min(30);
    options
        .retry_min
        .saturating_mul(1 << doublings)
        .min(options.retry_max)
}
