//! Write-behind's drainer: one task per namespace hands the queued writes to the writer,
//! oldest first, and takes a batch out of the queue only once the writer accepted it.
//!
//! Only one process drains a queue at a time: a batch is written under the lease
//! `write-behind:{namespace}` (a Redis lease when the queue is on Redis, so processes
//! sharing it take turns). A batch that fails is retried after a pause that doubles at
//! every failure in a row; the writes behind it wait, so the backing store sees them in
//! the order they were made.

use super::{backoff, record, Backing, BackingWrite, Behind};
use crate::cache::{Cache, Inner};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// The drain lease's term. The guard renews it while a batch is written, so a slow writer
/// keeps it; a process killed while holding it frees it within this time.
const LEASE: Duration = Duration::from_secs(5);

/// What one pass over the queue found.
enum Pass {
    /// Nothing queued.
    Empty,
    /// A batch was written (more may follow at once).
    Wrote,
    /// The writer, the queue or the lease failed: retry after a pause.
    Failed(u64),
    /// Another process holds the drain lease.
    Busy,
}

/// Drains `namespace` while the cache lives.
pub(super) async fn run(cache: Weak<Inner>, namespace: String, backing: Arc<Backing>) {
    let Some(behind) = &backing.behind else {
        return;
    };
    let options = &behind.options;
    loop {
        let pass = {
            let Some(inner) = cache.upgrade() else { return };
            pass(&Cache { inner }, &namespace, &backing, behind).await
        };
        match pass {
            Pass::Wrote => continue,
            Pass::Failed(failures) => tokio::time::sleep(backoff(options, failures)).await,
            Pass::Empty | Pass::Busy => {
                // Woken by a new write (then linger so it has company), or look again.
                if tokio::time::timeout(options.poll, behind.wake.notified())
                    .await
                    .is_ok()
                {
                    tokio::time::sleep(options.linger).await;
                }
            }
        }
    }
}

async fn pass(cache: &Cache, namespace: &str, backing: &Backing, behind: &Behind) -> Pass {
    let failed = |backing: &Backing, error: String| {
        let mut stats = backing.stats();
        stats.failures += 1;
        stats.consecutive_failures += 1;
        stats.last_error = Some(error);
        Pass::Failed(stats.consecutive_failures)
    };
    let lease = match cache
        .lock(&format!("write-behind:{namespace}"), LEASE)
        .await
    {
        Ok(Some(lease)) => lease,
        Ok(None) => return Pass::Busy,
        Err(error) => {
            tracing::warn!(namespace, %error, "write-behind: the drain lease could not be taken");
            return failed(backing, format!("drain lease: {error}"));
        }
    };
    let records = match behind.queue.peek(namespace, behind.options.batch).await {
        Ok(records) => records,
        Err(error) => {
            tracing::warn!(namespace, %error, "write-behind: the queue could not be read");
            return failed(backing, format!("queue: {error}"));
        }
    };
    if records.is_empty() {
        let _ = lease.release().await;
        return Pass::Empty;
    }
    let mut ids = Vec::with_capacity(records.len());
    let mut batch: Vec<BackingWrite> = Vec::with_capacity(records.len());
    let mut unreadable = 0;
    for queued in records {
        ids.push(queued.id.clone());
        match record::decode(queued.id, &queued.bytes) {
            Ok(write) => batch.push(write),
            Err(reason) => {
                unreadable += 1;
                tracing::error!(namespace, %reason, "write-behind: a queued write is damaged; dropped");
            }
        }
    }
    let written = batch.len();
    if !batch.is_empty() && backing.write(namespace, batch).await.is_err() {
        let _ = lease.release().await;
        return Pass::Failed(backing.stats().consecutive_failures);
    }
    backing.stats().unreadable += unreadable;
    if let Err(error) = behind.queue.remove(namespace, &ids).await {
        // Accepted but still queued: handed over again later, with the same ids.
        tracing::warn!(namespace, written, %error, "write-behind: written batch not taken out of the queue");
        let _ = lease.release().await;
        return failed(backing, format!("queue: {error}"));
    }
    let _ = lease.release().await;
    Pass::Wrote
}
