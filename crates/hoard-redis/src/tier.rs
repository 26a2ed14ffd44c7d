//! The Redis tier as a hoard tier: [`Store`] and every capability (tags, namespace
//! generations, leases, invalidations) for [`RedisStore`].

use crate::routing::Topology;
use crate::scripts::{GENERATION_SCRIPT, RENEW_SCRIPT, TOUCH_SCRIPT, UNLOCK_SCRIPT};
use crate::store::{info_field, lease_ms, Prefixed};
use crate::{RedisStore, TIER};
use async_trait::async_trait;
use hoard_core::entry::Entry;
use hoard_core::error::{Error, Result};
use hoard_core::glob::{self, Glob};
use hoard_core::store::{
    Generations, Invalidations, Leases, Store, TagIndex, TagRow, Usage, WriteQueue,
};
use hoard_events::RemoteHandler;
use std::sync::Arc;
use std::time::Duration;

#[async_trait]
impl Store for RedisStore {
    fn name(&self) -> &'static str {
        TIER
    }

    async fn get(&self, key: &str) -> Result<Option<Entry>> {
        let redis_key = self.redis_key(key);
        let cmd = redis::cmd("GET").arg(&redis_key).to_owned();
        let bytes: Option<Vec<u8>> = self.on_key(&redis_key, &cmd).await?;
        let Some(bytes) = bytes else { return Ok(None) };
        let entry = Entry::decode_vec(bytes)?;
        Ok((!entry.is_expired_at(self.config.clock.now_ms())).then_some(entry))
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Entry>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let node = match &self.topology {
            Topology::Standalone(node) => node.clone(),
            Topology::Sentinel(sentinel) => self.sentinel_master(sentinel).await?,
            Topology::Cluster(_) => return self.get_many_cluster(keys).await,
        };
        // One server: one MGET, keys written straight into the command (no grouping, no key
        // strings): this is the path the mget benchmark measures.
        let prefixed: Vec<Prefixed<'_>> = keys
            .iter()
            .map(|k| Prefixed(&self.config.key_prefix, k))
            .collect();
        let values: Vec<Option<Vec<u8>>> = match node.call(redis::cmd("MGET").arg(&prefixed)).await
        {
            Ok(values) => values,
            Err(error) => return Err(self.noted(&node, error).await),
        };
        self.live_entries(values)
    }

    async fn set(&self, key: &str, entry: Entry) -> Result<()> {
        self.set_many(&[(key.to_owned(), entry)]).await
    }

    async fn set_many(&self, entries: &[(String, Entry)]) -> Result<()> {
        let now = self.config.clock.now_ms();
        let commands: Vec<(String, redis::Cmd)> = entries
            .iter()
            .map(|(key, entry)| {
                let redis_key = self.redis_key(key);
                let cmd = match entry.expires_at_ms.checked_sub(now).filter(|ms| *ms > 0) {
                    Some(ttl_ms) => redis::cmd("SET")
                        .arg(&redis_key)
                        .arg(entry.encode(self.config.compress_above))
                        .arg("PX")
                        .arg(ttl_ms)
                        .to_owned(),
                    // Already expired: storing it would mean deleting what is there.
                    None => redis::cmd("DEL").arg(&redis_key).to_owned(),
                };
                (redis_key, cmd)
            })
            .collect();
        // Other processes drop their L1 copies of these keys. SET is idempotent, so a
        // command sent again after a redirect changes nothing twice.
        let announce = |positions: &[usize]| {
            self.keys_message('S', positions.iter().map(|&i| entries[i].0.as_str()))
        };
        self.on_keys(&commands, Some(&announce)).await?;
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        // DEL and the invalidation message in one pipeline (see `delete_many`).
        Ok(self.delete_many(&[key.to_owned()]).await? > 0)
    }

    async fn delete_many(&self, keys: &[String]) -> Result<u64> {
        if keys.is_empty() {
            return Ok(0);
        }
        let commands: Vec<(String, redis::Cmd)> = keys
            .iter()
            .map(|key| {
                let redis_key = self.redis_key(key);
                let cmd = redis::cmd("DEL").arg(&redis_key).to_owned();
                (redis_key, cmd)
            })
            .collect();
        let announce = |positions: &[usize]| {
            self.keys_message('D', positions.iter().map(|&i| keys[i].as_str()))
        };
        let mut removed = 0;
        for value in self.on_keys(&commands, Some(&announce)).await? {
            removed += redis::from_redis_value::<u64>(value)
                .map_err(|e| Error::Redis(format!("unexpected DEL reply: {e}")))?;
        }
        Ok(removed)
    }

    async fn ttl(&self, key: &str) -> Result<Option<Duration>> {
        let redis_key = self.redis_key(key);
        let cmd = redis::cmd("PTTL").arg(&redis_key).to_owned();
        let ms: i64 = self.on_key(&redis_key, &cmd).await?;
        // -2: no such key; -1: a key without expiry, which hoard never writes.
        Ok(u64::try_from(ms)
            .ok()
            .filter(|ms| *ms > 0)
            .map(Duration::from_millis))
    }

    async fn delete_matching(&self, glob: &Glob) -> Result<u64> {
        let removed = self
            .unlink_matching(&format!("{}{}", self.escaped_prefix, glob.as_str()))
            .await;
        // Published even after a partial failure: what did go must leave other L1s too.
        self.publish(self.message('P', glob.as_str())).await;
        removed
    }

    async fn scan(
        &self,
        glob: &Glob,
        cursor: &str,
        limit: usize,
    ) -> Result<hoard_core::store::ScanPage> {
        self.scan_page(glob, cursor, limit).await
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64> {
        let removed = self
            .unlink_matching(&format!("{}{}*", self.escaped_prefix, glob::escape(prefix)))
            .await;
        self.publish(self.message('X', prefix)).await;
        removed
    }

    async fn clear(&self) -> Result<u64> {
        // Entries are `{prefix}{namespace}:...` and a namespace never starts with `:`; the
        // store's own keys (`{prefix}:tag:...`, `{prefix}:lock:...`) do. Tag indexes go too,
        // leases stay (they belong to work in progress, not to the cached data).
        let removed = self.unlink_matching(&self.data_pattern()).await;
        let tags = self
            .unlink_matching(&format!("{}:tag:*", self.escaped_prefix))
            .await;
        self.publish(self.message('A', "")).await;
        tags?;
        removed
    }

    async fn usage(&self) -> Result<Usage> {
        let masters = self.masters().await?;
        let mut usage = Usage::default();
        for node in &masters {
            usage.entries += self.count_on(node).await?;
            let info: String = node
                .call(redis::cmd("INFO").arg("memory").arg("stats"))
                .await?;
            usage.bytes += info_field(&info, "used_memory");
            usage.evictions += info_field(&info, "evicted_keys");
            usage.expirations += info_field(&info, "expired_keys");
        }
        Ok(usage)
    }

    fn is_available(&self) -> bool {
        match &self.topology {
            Topology::Standalone(node) => !node.breaker.is_open(),
            // Not asked yet: nothing says it is down.
            Topology::Sentinel(sentinel) => match sentinel.current() {
                Some(master) => !master.breaker.is_open(),
                None => !sentinel.ever_asked(),
            },
            Topology::Cluster(cluster) => {
                if !cluster.ever_refreshed() {
                    // Not asked yet: nothing says it is down.
                    return true;
                }
                let map = cluster.map.load();
                !map.nodes.is_empty() && map.nodes.iter().all(|n| !n.breaker.is_open())
            }
        }
    }

    async fn touch(&self, key: &str, expires_at_ms: u64) -> Result<bool> {
        let redis_key = self.redis_key(key);
        // The deadline lives twice: in the entry header (bytes 2..10) and as the Redis TTL.
        let cmd = redis::cmd("EVAL")
            .arg(TOUCH_SCRIPT)
            .arg(1)
            .arg(&redis_key)
            .arg(&expires_at_ms.to_le_bytes()[..])
            .arg(expires_at_ms)
            .to_owned();
        let done: i64 = self.on_key(&redis_key, &cmd).await?;
        Ok(done == 1)
    }

    async fn ping(&self) -> Result<()> {
        for node in self.masters().await? {
            let _: String = node.call(&redis::cmd("PING")).await?;
        }
        Ok(())
    }

    fn as_tag_index(&self) -> Option<&dyn TagIndex> {
        Some(self)
    }

    fn as_generations(&self) -> Option<&dyn Generations> {
        Some(self)
    }

    fn as_leases(self: Arc<Self>) -> Option<Arc<dyn Leases>> {
        Some(self)
    }

    fn as_invalidations(self: Arc<Self>) -> Option<Arc<dyn Invalidations>> {
        Some(self)
    }

    fn as_write_queue(self: Arc<Self>) -> Option<Arc<dyn WriteQueue>> {
        Some(self)
    }
}

#[async_trait]
impl TagIndex for RedisStore {
    async fn add_tags(&self, rows: &[TagRow]) -> Result<()> {
        let now = self.config.clock.now_ms();
        let mut commands: Vec<(String, redis::Cmd)> = Vec::new();
        for row in rows {
            for tag in &row.tags {
                let tag_key = self.tag_key(tag);
                let cmds = [
                    redis::cmd("ZADD")
                        .arg(&tag_key)
                        .arg(row.expires_at_ms)
                        .arg(&row.key)
                        .to_owned(),
                    // Members whose entries have expired leave the index as it is written to,
                    // and the index itself expires with its last entry: it cannot grow
                    // without bound under churn.
                    redis::cmd("ZREMRANGEBYSCORE")
                        .arg(&tag_key)
                        .arg("-inf")
                        .arg(now)
                        .to_owned(),
                    redis::cmd("PEXPIREAT")
                        .arg(&tag_key)
                        .arg(row.expires_at_ms)
                        .arg("NX")
                        .to_owned(),
                    redis::cmd("PEXPIREAT")
                        .arg(&tag_key)
                        .arg(row.expires_at_ms)
                        .arg("GT")
                        .to_owned(),
                ];
                commands.extend(cmds.map(|cmd| (tag_key.clone(), cmd)));
            }
        }
        self.on_keys(&commands, None).await?;
        Ok(())
    }

    async fn tagged(&self, tag: &str) -> Result<Vec<String>> {
        let tag_key = self.tag_key(tag);
        let cmd = redis::cmd("ZRANGEBYSCORE")
            .arg(&tag_key)
            .arg(format!("({}", self.config.clock.now_ms()))
            .arg("+inf")
            .to_owned();
        self.on_key(&tag_key, &cmd).await
    }

    async fn untag(&self, tag: &str, keys: &[String]) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let tag_key = self.tag_key(tag);
        let cmd = redis::cmd("ZREM").arg(&tag_key).arg(keys).to_owned();
        let _: u64 = self.on_key(&tag_key, &cmd).await?;
        Ok(())
    }

    async fn tag_index_len(&self) -> Result<u64> {
        let pattern = format!("{}:tag:*", self.escaped_prefix);
        let mut total = 0;
        for node in self.masters().await? {
            let mut cursor: u64 = 0;
            loop {
                let (next, keys): (u64, Vec<String>) = node
                    .call(
                        redis::cmd("SCAN")
                            .arg(cursor)
                            .arg("MATCH")
                            .arg(&pattern)
                            .arg("COUNT")
                            .arg(1000),
                    )
                    .await?;
                for key in keys {
                    total += node.call::<u64>(redis::cmd("ZCARD").arg(&key)).await?;
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(total)
    }
}

#[async_trait]
impl Generations for RedisStore {
    async fn generation(&self, namespace: &str) -> Result<u32> {
        let key = self.generation_key(namespace);
        let value: Option<u32> = self.on_key(&key, redis::cmd("GET").arg(&key)).await?;
        Ok(value.unwrap_or(0))
    }

    async fn bump_generation(&self, namespace: &str) -> Result<u32> {
        let key = self.generation_key(namespace);
        // INCR and the message in one script: no clear goes unannounced, and the message
        // carries the very generation the INCR produced.
        let announce = if self.config.coherence {
            self.channel()
        } else {
            String::new()
        };
        let cmd = redis::cmd("EVAL")
            .arg(GENERATION_SCRIPT)
            .arg(1)
            .arg(&key)
            .arg(&announce)
            .arg(self.message('G', &format!("{namespace}\n")))
            .to_owned();
        let next: u64 = self.on_key(&key, &cmd).await?;
        Ok(u32::try_from(next % (u64::from(u32::MAX) + 1)).unwrap_or(0))
    }
}

#[async_trait]
impl Leases for RedisStore {
    async fn try_lock(&self, name: &str, token: &str, lease: Duration) -> Result<bool> {
        let key = self.lock_key(name);
        let cmd = redis::cmd("SET")
            .arg(&key)
            .arg(token)
            .arg("NX")
            .arg("PX")
            .arg(lease_ms(lease))
            .to_owned();
        let reply: Option<String> = self.on_key(&key, &cmd).await?;
        Ok(reply.is_some())
    }

    async fn renew_lock(&self, name: &str, token: &str, lease: Duration) -> Result<bool> {
        self.if_holder(RENEW_SCRIPT, name, token, lease_ms(lease))
            .await
    }

    async fn unlock(&self, name: &str, token: &str) -> Result<bool> {
        self.if_holder(UNLOCK_SCRIPT, name, token, 0).await
    }
}

impl Invalidations for RedisStore {
    fn listen(self: Arc<Self>, handler: RemoteHandler) -> bool {
        if !self.config.coherence {
            return false;
        }
        self.start_listening(handler);
        true
    }
}
