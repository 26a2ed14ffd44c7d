//! Write-behind's durable queues on Redis: one stream per queue, `{prefix}:queue:{name}`,
//! each record a stream entry with one field `r`. Stream ids grow with time and are never
//! reused within a stream (Redis keeps the last id even when every entry was deleted), so
//! a record's id tells a retry from a new write. The key starts with the prefix and `:`,
//! so no namespace names it and [`Store::clear`](hoard_core::Store::clear) leaves it.
//!
//! A record is as durable as Redis makes it: held in memory once `XADD` answered, on disk
//! as the server's persistence (AOF, RDB) is set, on a replica once replication caught up.

use crate::scripts::ENQUEUE_SCRIPT;
use crate::RedisStore;
use async_trait::async_trait;
use bytes::Bytes;
use hoard_core::error::Result;
use hoard_core::store::{QueuedRecord, WriteQueue};

impl RedisStore {
    fn queue_key(&self, queue: &str) -> String {
        format!("{}:queue:{queue}", self.config.key_prefix)
    }
}

#[async_trait]
impl WriteQueue for RedisStore {
    async fn enqueue(&self, queue: &str, records: &[Bytes]) -> Result<Vec<String>> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let key = self.queue_key(queue);
        // One script: the records land together, in order, in one round trip.
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(ENQUEUE_SCRIPT).arg(1).arg(&key);
        for record in records {
            cmd.arg(record.as_ref());
        }
        self.on_key(&key, &cmd).await
    }

    async fn peek(&self, queue: &str, limit: usize) -> Result<Vec<QueuedRecord>> {
        let key = self.queue_key(queue);
        let cmd = redis::cmd("XRANGE")
            .arg(&key)
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(limit.max(1))
            .to_owned();
        let rows: Vec<(String, Vec<Vec<u8>>)> = self.on_key(&key, &cmd).await?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, mut fields)| {
                // `[field, value]`: the record is the value of field `r`.
                (fields.len() == 2).then(|| QueuedRecord {
                    id,
                    bytes: Bytes::from(fields.swap_remove(1)),
                })
            })
            .collect())
    }

    async fn remove(&self, queue: &str, ids: &[String]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let key = self.queue_key(queue);
        let cmd = redis::cmd("XDEL").arg(&key).arg(ids).to_owned();
        let _removed: u64 = self.on_key(&key, &cmd).await?;
        Ok(())
    }

    async fn queue_len(&self, queue: &str) -> Result<u64> {
        let key = self.queue_key(queue);
        self.on_key(&key, redis::cmd("XLEN").arg(&key)).await
    }
}
