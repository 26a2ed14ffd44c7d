//! Tiers: the [`Store`] trait, implemented by hoard's memory tier (L1), its disk tier and
//! its Redis tier (L2), and the capabilities a tier may add, each its own trait:
//! [`TagIndex`], [`Generations`], [`Leases`], [`Invalidations`] and [`WriteQueue`].
//!
//! A store maps full keys (`{namespace}:{key}`, already validated) to [`Entry`]s.
//! **Every store refuses expired entries on its own**: `get` never returns an entry whose
//! expiry has passed, whatever its background reclamation has or has not done yet.

pub use hoard_events::{Remote, RemoteHandler};

use crate::entry::Entry;
use crate::error::Result;
use crate::glob::Glob;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// What a tier holds right now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Entries held (a store that keeps expired entries until a sweep counts them too).
    pub entries: u64,
    /// Bytes used.
    pub bytes: u64,
    /// Entries evicted for capacity since the store opened.
    pub evictions: u64,
    /// Expired entries reclaimed since the store opened.
    pub expirations: u64,
}

/// One page of [`Store::scan`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanPage {
    /// Full keys (`{namespace}:{key}`) matching the glob, in the store's order. A key
    /// whose entry expired or was removed meanwhile may still be listed: read it to know.
    pub keys: Vec<String>,
    /// Where the next page starts (pass it back as `cursor`); `None` once every key has
    /// been seen.
    pub cursor: Option<String>,
}

/// One entry's tags, for a store's tag index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRow {
    /// The entry's full key.
    pub key: String,
    /// Its tags.
    pub tags: Vec<String>,
    /// Its deadline: the index forgets it then.
    pub expires_at_ms: u64,
}

/// A cache tier.
///
/// Methods are async so network tiers fit the same trait; the embedded stores answer
/// without awaiting anything.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// A short name for stats and logs: `memory`, `disk`, `redis`.
    fn name(&self) -> &'static str;

    /// The live entry at `key`, if any.
    async fn get(&self, key: &str) -> Result<Option<Entry>>;

    /// Many entries at once, in the order of `keys`.
    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Entry>>> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.push(self.get(key).await?);
        }
        Ok(out)
    }

    /// Stores `entry` at `key`, replacing what was there.
    async fn set(&self, key: &str, entry: Entry) -> Result<()>;

    /// Stores many entries; stores that can write them atomically do.
    async fn set_many(&self, entries: &[(String, Entry)]) -> Result<()> {
        for (key, entry) in entries {
            self.set(key, entry.clone()).await?;
        }
        Ok(())
    }

    /// Removes `key`; true if a live entry was there.
    async fn delete(&self, key: &str) -> Result<bool>;

    /// Removes `key` only if the bytes stored there are unreadable (a corrupt entry), so a
    /// valid value written meanwhile survives; true if something was removed. Stores that
    /// hold no bytes (memory) have nothing to remove.
    async fn delete_if_corrupt(&self, key: &str) -> Result<bool> {
        let _ = key;
        Ok(false)
    }

    /// Moves the expiry of a live entry at `key`; false if there is none. The default
    /// reads and rewrites the entry; stores that can do better do.
    async fn touch(&self, key: &str, expires_at_ms: u64) -> Result<bool> {
        match self.get(key).await? {
            Some(mut entry) => {
                entry.expires_at_ms = expires_at_ms;
                self.set(key, entry).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Time left before `key` expires; `None` if it is absent or expired.
    async fn ttl(&self, key: &str) -> Result<Option<Duration>> {
        let now = crate::entry::now_ms();
        Ok(self.get(key).await?.and_then(|e| e.remaining_at(now)))
    }

    /// Removes many keys; returns how many live entries went.
    async fn delete_many(&self, keys: &[String]) -> Result<u64> {
        let mut removed = 0;
        for key in keys {
            removed += u64::from(self.delete(key).await?);
        }
        Ok(removed)
    }

    /// Removes every key matching `glob`; returns how many live entries went.
    async fn delete_matching(&self, glob: &Glob) -> Result<u64>;

    /// A page of the keys matching `glob`, from `cursor` (`""` for the first page): about
    /// `limit` keys, possibly fewer with a cursor to go on, or on Redis a few more (SCAN's
    /// COUNT is a hint, and a reply cut short would lose the keys past the cut). Never
    /// holds the store for the whole key space: each page costs about `limit` keys' work.
    /// A cursor is the store's own text; one this store did not make is an
    /// [`Error::InvalidCursor`](crate::Error::InvalidCursor).
    async fn scan(&self, glob: &Glob, cursor: &str, limit: usize) -> Result<ScanPage>;

    /// Removes every key starting with `prefix`; returns how many live entries went.
    async fn delete_prefix(&self, prefix: &str) -> Result<u64>;

    /// Removes everything; returns how many live entries went.
    async fn clear(&self) -> Result<u64>;

    /// Current size and lifetime counters.
    async fn usage(&self) -> Result<Usage>;

    /// Whether the tier is reachable as far as the store knows without asking (a network
    /// tier reports `false` while its circuit breaker is open). Embedded tiers always are.
    fn is_available(&self) -> bool {
        true
    }

    /// Asks the tier whether it answers (a PING for Redis).
    async fn ping(&self) -> Result<()> {
        Ok(())
    }

    /// Makes every acknowledged write durable to the strongest level the store offers.
    async fn flush(&self) -> Result<()> {
        Ok(())
    }

    /// This tier's tag index, if it keeps one: the cache then indexes tags and
    /// dependencies in it, where every process sharing the tier sees them.
    fn as_tag_index(&self) -> Option<&dyn TagIndex> {
        None
    }

    /// This tier's namespace generations, if it keeps them: the cache then clears a
    /// namespace in O(1). Without them a clear removes the namespace's entries one by one.
    fn as_generations(&self) -> Option<&dyn Generations> {
        None
    }

    /// Leases this tier holds for every process that shares it, if it can (Redis can).
    /// Without them the cache's leases are this process's own.
    fn as_leases(self: Arc<Self>) -> Option<Arc<dyn Leases>> {
        None
    }

    /// The channel on which other processes' invalidations arrive, if this tier is shared
    /// between processes. A tier without one is this process's alone.
    fn as_invalidations(self: Arc<Self>) -> Option<Arc<dyn Invalidations>> {
        None
    }

    /// A durable queue of writes for write-behind, if this tier keeps one (the disk tier
    /// in its folder, Redis as a stream). Without one, write-behind is refused.
    fn as_write_queue(self: Arc<Self>) -> Option<Arc<dyn WriteQueue>> {
        None
    }
}

/// A tag index: which keys carry which tag, for `Cache::invalidate_tags` and
/// dependency tracking.
#[async_trait]
pub trait TagIndex: Send + Sync {
    /// Records entries' tags.
    async fn add_tags(&self, rows: &[TagRow]) -> Result<()>;

    /// The live keys carrying `tag`.
    async fn tagged(&self, tag: &str) -> Result<Vec<String>>;

    /// Forgets that `keys` carry `tag`.
    async fn untag(&self, tag: &str, keys: &[String]) -> Result<()>;

    /// Rows in the index, expired ones included until reclaimed (for stats and tests).
    async fn tag_index_len(&self) -> Result<u64>;
}

/// Namespace generations: a counter per namespace that a clear moves on, so entries
/// written under an earlier generation read as absent without being scanned.
#[async_trait]
pub trait Generations: Send + Sync {
    /// The current generation of `namespace` (0 until it is first cleared).
    async fn generation(&self, namespace: &str) -> Result<u32>;

    /// Moves `namespace` to its next generation and returns it: entries of earlier
    /// generations then read as absent. O(1): nothing is scanned.
    async fn bump_generation(&self, namespace: &str) -> Result<u32>;
}

/// Leases that every process sharing the tier sees (see `hoard::lock`).
#[async_trait]
pub trait Leases: Send + Sync {
    /// Takes the lease `name` for `token` if nobody holds it.
    async fn try_lock(&self, name: &str, token: &str, lease: Duration) -> Result<bool>;

    /// Extends the lease `name` if `token` still holds it.
    async fn renew_lock(&self, name: &str, token: &str, lease: Duration) -> Result<bool>;

    /// Releases the lease `name` if `token` still holds it.
    async fn unlock(&self, name: &str, token: &str) -> Result<bool>;
}

/// A channel on which other processes' invalidations arrive.
pub trait Invalidations: Send + Sync {
    /// Starts relaying other processes' invalidations to `handler`; false if the channel
    /// is turned off (then there is nothing to hear).
    fn listen(self: Arc<Self>, handler: RemoteHandler) -> bool;
}

/// One record of a [`WriteQueue`]: its id (stable across retries and restarts) and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedRecord {
    /// The queue's id of the record, unique within its queue.
    pub id: String,
    /// What was enqueued.
    pub bytes: bytes::Bytes,
}

/// Durable queues of records, by name: the log of write-behind.
///
/// A record enqueued is kept until [`WriteQueue::remove`] takes it out, through restarts
/// and a process killed with SIGKILL (the disk tier flushes it to the operating system
/// before `enqueue` returns; Redis holds it as a stream entry once `XADD` answered).
#[async_trait]
pub trait WriteQueue: Send + Sync {
    /// Appends `records` to `queue`, in order; returns their ids.
    async fn enqueue(&self, queue: &str, records: &[bytes::Bytes]) -> Result<Vec<String>>;

    /// Up to `limit` of the oldest records of `queue`, oldest first.
    async fn peek(&self, queue: &str, limit: usize) -> Result<Vec<QueuedRecord>>;

    /// Takes the records `ids` out of `queue` (an id no longer there is ignored).
    async fn remove(&self, queue: &str, ids: &[String]) -> Result<()>;

    /// How many records `queue` holds.
    async fn queue_len(&self, queue: &str) -> Result<u64>;
}
