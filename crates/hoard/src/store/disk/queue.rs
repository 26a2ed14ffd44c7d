//! The disk tier's durable write queues, for write-behind: the keyspace `queue` holds
//! `{queue} \0 {sequence, 8 bytes big endian}` -> record, so a queue reads back in the order
//! it was written, and a prefix scan finds its oldest records.
//!
//! Ids are never reused: the next sequence of each queue is kept in `meta`
//! (`queue:{queue}`), written in the batch that enqueues, so a writer that remembers the ids
//! it applied can tell a retry from a new write even after the queue was emptied.
//!
//! Every enqueue is flushed at least to the operating system before it returns, whatever
//! the tier's [`Durability`](super::Durability): write-behind acknowledges a write once it
//! is queued, so the queue must outlive a process killed right after.

use super::{DiskStore, Inner};
use crate::error::{Error, Result};
use crate::store::{QueuedRecord, WriteQueue};
use async_trait::async_trait;
use bytes::Bytes;
use fjall::PersistMode;
use std::collections::HashMap;
use std::sync::PoisonError;

fn prefix(queue: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(queue.len() + 1);
    out.extend_from_slice(queue.as_bytes());
    out.push(0);
    out
}

/// The `meta` row holding the next sequence of `queue`.
fn next_key(queue: &str) -> String {
    format!("queue:{queue}")
}

fn row_key(queue: &str, sequence: u64) -> Vec<u8> {
    let mut out = prefix(queue);
    out.extend_from_slice(&sequence.to_be_bytes());
    out
}

/// The sequence at the end of a row key; `None` for a row that is not one of ours.
fn sequence_of(queue: &str, key: &[u8]) -> Option<u64> {
    let tail = key.strip_prefix(prefix(queue).as_slice())?;
    Some(u64::from_be_bytes(tail.try_into().ok()?))
}

impl Inner {
    /// The next sequence of `queue`, read from `meta` once per queue and counted in memory
    /// from then on (callers hold `queue_next`).
    fn next_sequence(&self, queue: &str, known: &mut HashMap<String, u64>) -> Result<u64> {
        if let Some(next) = known.get(queue) {
            return Ok(*next);
        }
        let next = self
            .meta
            .get(next_key(queue))
            .map_err(|e| self.error(e))?
            .and_then(|bytes| <[u8; 8]>::try_from(bytes.as_ref()).ok())
            .map_or(0, u64::from_be_bytes);
        known.insert(queue.to_owned(), next);
        Ok(next)
    }

    fn enqueue(&self, queue: &str, records: &[Bytes]) -> Result<Vec<String>> {
        let mut known = self
            .queue_next
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let first = self.next_sequence(queue, &mut known)?;
        let mode = self
            .durability
            .persist_mode()
            .unwrap_or(PersistMode::Buffer);
        let mut batch = self.db.batch().durability(Some(mode));
        let mut ids = Vec::with_capacity(records.len());
        for (sequence, record) in (first..).zip(records) {
            batch.insert(&self.queue, row_key(queue, sequence), record.as_ref());
            ids.push(sequence.to_string());
        }
        let next = first + records.len() as u64;
        batch.insert(&self.meta, next_key(queue), next.to_be_bytes());
        batch.commit().map_err(|e| self.error(e))?;
        known.insert(queue.to_owned(), next);
        Ok(ids)
    }

    fn peek(&self, queue: &str, limit: usize) -> Result<Vec<QueuedRecord>> {
        let mut out = Vec::new();
        for item in self.queue.prefix(prefix(queue)).take(limit) {
            let (key, value) = item.into_inner().map_err(|e| self.error(e))?;
            let Some(sequence) = sequence_of(queue, &key) else {
                continue;
            };
            out.push(QueuedRecord {
                id: sequence.to_string(),
                bytes: Bytes::copy_from_slice(&value),
            });
        }
        Ok(out)
    }

    fn remove_queued(&self, queue: &str, ids: &[String]) -> Result<()> {
        let mut batch = self.batch();
        for id in ids {
            let sequence: u64 = id.parse().map_err(|_| {
                Error::Config(format!("{id:?} is not an id of the disk tier's queues"))
            })?;
            batch.remove(&self.queue, row_key(queue, sequence));
        }
        batch.commit().map_err(|e| self.error(e))
    }
}

#[async_trait]
impl WriteQueue for DiskStore {
    async fn enqueue(&self, queue: &str, records: &[Bytes]) -> Result<Vec<String>> {
        self.inner.enqueue(queue, records)
    }

    async fn peek(&self, queue: &str, limit: usize) -> Result<Vec<QueuedRecord>> {
        let queue = queue.to_owned();
        self.off_worker(move |inner| inner.peek(&queue, limit))
            .await
    }

    async fn remove(&self, queue: &str, ids: &[String]) -> Result<()> {
        self.inner.remove_queued(queue, ids)
    }

    async fn queue_len(&self, queue: &str) -> Result<u64> {
        let queue = queue.to_owned();
        self.off_worker(move |inner| {
            let mut n = 0;
            for item in inner.queue.prefix(prefix(&queue)) {
                item.key().map_err(|e| inner.error(e))?;
                n += 1;
            }
            Ok(n)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DiskConfig;

    fn open(dir: &std::path::Path) -> DiskStore {
        DiskStore::open(DiskConfig::new(dir)).expect("open")
    }

    #[tokio::test]
    async fn records_come_back_in_order_and_survive_reopening() {
        let dir = tempfile::tempdir().expect("temp dir");
        let records: Vec<Bytes> = (0..5).map(|i| Bytes::from(format!("r{i}"))).collect();
        {
            let store = open(dir.path());
            let ids = store.enqueue("a", &records[..3]).await.expect("enqueue");
            assert_eq!(ids, ["0", "1", "2"]);
            store.enqueue("b", &records[..1]).await.expect("enqueue b");
            store.remove("a", &ids[..1]).await.expect("remove");
            store.enqueue("c", &records[..1]).await.expect("enqueue c");
            store
                .remove("c", &["0".to_owned()])
                .await
                .expect("remove c");
        }
        let store = open(dir.path());
        // The sequence goes on past what the last process wrote: ids are never reused.
        let ids = store
            .enqueue("a", &records[3..])
            .await
            .expect("enqueue again");
        assert_eq!(ids, ["3", "4"]);
        let pending = store.peek("a", 10).await.expect("peek");
        let got: Vec<(&str, &[u8])> = pending
            .iter()
            .map(|r| (r.id.as_str(), r.bytes.as_ref()))
            .collect();
        assert_eq!(
            got,
            [
                ("1", b"r1".as_slice()),
                ("2", b"r2"),
                ("3", b"r3"),
                ("4", b"r4")
            ]
        );
        assert_eq!(store.queue_len("a").await.expect("len"), 4);
        assert_eq!(store.queue_len("b").await.expect("len"), 1);
        assert_eq!(store.peek("a", 2).await.expect("peek").len(), 2);
        // An emptied queue does not start over either.
        let ids = store.enqueue("c", &records[..1]).await.expect("enqueue c");
        assert_eq!(ids, ["1"]);
    }
}
