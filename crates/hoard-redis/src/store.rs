//! [`RedisStore`]: the connections to one server or a cluster's masters, and the
//! multi-node work (batched reads, scans) the tier's methods are made of.

use crate::config::{config_error, enable_tls, RedisConfig};
use crate::node::{address_of, Node, Reply};
use crate::routing::{Cluster, Topology};
use crate::sentinel::Sentinel;
use crate::slot;
use futures_util::future::join_all;
use hoard_core::entry::Entry;
use hoard_core::error::{Error, Result};
use hoard_core::glob;
use hoard_events::RemoteHandler;
use redis::{ConnectionAddr, IntoConnectionInfo};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// How many SCAN calls one page of a key scan makes at most.
const SCAN_CALLS_PER_PAGE: usize = 8;

/// L2 on Redis or a Redis Cluster.
pub struct RedisStore {
    pub(crate) topology: Topology,
    pub(crate) config: RedisConfig,
    pub(crate) escaped_prefix: String,
    /// Names this store in invalidation messages, so it can ignore its own.
    pub(crate) origin: String,
    /// The invalidation listener, stopped when the store is dropped.
    pub(crate) listener: std::sync::Mutex<Option<tokio::task::AbortHandle>>,
    /// Every cache listening through this store.
    pub(crate) handlers: std::sync::RwLock<Vec<RemoteHandler>>,
    /// Whether the listener is subscribed now.
    pub(crate) subscribed: std::sync::atomic::AtomicBool,
}

impl Drop for RedisStore {
    fn drop(&mut self) {
        if let Ok(mut listener) = self.listener.lock() {
            if let Some(task) = listener.take() {
                task.abort();
            }
        }
    }
}

impl RedisStore {
    /// Prepares the store (see [`RedisConfig::open`]).
    pub fn open(config: RedisConfig) -> Result<RedisStore> {
        if config.urls.is_empty() {
            return Err(Error::Config("no Redis URL given".into()));
        }
        if config.timeout.is_zero() {
            return Err(Error::Config(
                "redis timeout must be greater than zero".into(),
            ));
        }
        let mut infos = Vec::new();
        for url in &config.urls {
            if url.starts_with("rediss://") {
                enable_tls(url)?;
            }
            let info = url
                .as_str()
                .into_connection_info()
                .map_err(|e| config_error(url, e))?;
            if config.cluster
                && !matches!(
                    info.addr(),
                    ConnectionAddr::Tcp(..) | ConnectionAddr::TcpTls { .. }
                )
            {
                return Err(config_error(url, "a cluster node must be a TCP address"));
            }
            if config.cluster && info.redis_settings().db() != 0 {
                return Err(config_error(url, "Redis Cluster has only database 0"));
            }
            infos.push(info);
        }
        let topology = if let Some(master) = &config.sentinel_master {
            if master.is_empty() || master.contains(char::is_whitespace) {
                return Err(Error::Config(format!(
                    "sentinel master name {master:?}: give the name the sentinels monitor it by"
                )));
            }
            if let Some(url) = config.urls.iter().zip(&infos).find_map(|(url, info)| {
                (!matches!(
                    info.addr(),
                    ConnectionAddr::Tcp(..) | ConnectionAddr::TcpTls { .. }
                ))
                .then_some(url)
            }) {
                return Err(config_error(url, "a sentinel must be a TCP address"));
            }
            Topology::Sentinel(Sentinel::new(infos, master.clone(), &config))
        } else if config.cluster {
            Topology::Cluster(Cluster::new(infos, &config))
        } else {
            if infos.len() > 1 {
                return Err(Error::Config(
                    "several Redis URLs given for a standalone server; use the cluster setting"
                        .into(),
                ));
            }
            let info = infos.remove(0);
            Topology::Standalone(Arc::new(Node::new(
                address_of(&info),
                info,
                config.breaker,
                config.timeout,
                config.clock.clone(),
            )))
        };
        Ok(RedisStore {
            topology,
            escaped_prefix: glob::escape(&config.key_prefix),
            config,
            origin: format!("{:016x}", rand::random::<u64>()),
            listener: std::sync::Mutex::new(None),
            handlers: std::sync::RwLock::new(Vec::new()),
            subscribed: std::sync::atomic::AtomicBool::new(false),
        })
    }

    pub(crate) fn redis_key(&self, key: &str) -> String {
        let mut out = String::with_capacity(self.config.key_prefix.len() + key.len());
        out.push_str(&self.config.key_prefix);
        out.push_str(key);
        out
    }

    /// Whether this store talks to a cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.topology, Topology::Cluster(_))
    }

    /// `MGET` per slot on one node, pipelined: one round trip per node. Each `MGET`'s
    /// reply comes with the positions it asked for.
    pub(crate) async fn get_on_node(
        &self,
        node: &Node,
        redis_keys: &[String],
        positions: &[usize],
    ) -> Result<Vec<(Vec<usize>, Reply)>> {
        let mut slots: BTreeMap<u16, Vec<usize>> = BTreeMap::new();
        for &i in positions {
            slots
                .entry(slot::slot(redis_keys[i].as_bytes()))
                .or_default()
                .push(i);
        }
        let mut pipe = redis::pipe();
        for group in slots.values() {
            pipe.cmd("MGET").arg(
                group
                    .iter()
                    .map(|&i| redis_keys[i].as_str())
                    .collect::<Vec<_>>(),
            );
        }
        let replies = node.call_each(pipe).await?;
        Ok(slots.into_values().zip(replies).collect())
    }

    /// A cluster `get_many`: one `MGET` per slot, pipelined per node, the nodes
    /// concurrently. A node that cannot be reached leaves its keys as misses (the rest still
    /// answer). An `MGET` its node does not serve whole (a redirect, or a slot migration that
    /// split its keys) is read again key by key through `on_key`, which follows redirects as
    /// a single-key read does.
    pub(crate) async fn get_many_cluster(&self, keys: &[&str]) -> Result<Vec<Option<Entry>>> {
        let redis_keys: Vec<String> = keys.iter().map(|k| self.redis_key(k)).collect();
        let groups = self.by_node(&redis_keys).await?;
        let results = join_all(
            groups
                .iter()
                .map(|(node, positions)| self.get_on_node(node, &redis_keys, positions)),
        )
        .await;
        let misses = |node: &str, error: &Error| {
            tracing::debug!(node, %error, "redis: node down, its keys read as misses");
        };
        let mut found: Vec<Option<Vec<u8>>> = vec![None; keys.len()];
        let mut elsewhere = Vec::new();
        for ((node, _), result) in groups.iter().zip(results) {
            let replies = match result {
                Ok(replies) => replies,
                Err(error @ Error::Unavailable { .. }) => {
                    misses(&node.address, &error);
                    continue;
                }
                Err(error) => return Err(error),
            };
            for (positions, reply) in replies {
                match reply {
                    Reply::Value(value) => {
                        let values: Vec<Option<Vec<u8>>> = redis::from_redis_value(value)
                            .map_err(|e| Error::Redis(format!("unexpected MGET reply: {e}")))?;
                        for (i, bytes) in positions.into_iter().zip(values) {
                            found[i] = bytes;
                        }
                    }
                    Reply::Elsewhere => elsewhere.extend(positions),
                    Reply::Failed(error @ Error::Unavailable { .. }) => {
                        misses(&node.address, &error)
                    }
                    Reply::Failed(error) => return Err(error),
                }
            }
        }
        for i in elsewhere {
            let cmd = redis::cmd("GET").arg(&redis_keys[i]).to_owned();
            match self.on_key(&redis_keys[i], &cmd).await {
                Ok(bytes) => found[i] = bytes,
                Err(error @ Error::Unavailable { .. }) => misses("", &error),
                Err(error) => return Err(error),
            }
        }
        self.live_entries(found)
    }

    /// Stored bytes as entries, `None` where a key was absent or its entry has expired.
    pub(crate) fn live_entries(&self, values: Vec<Option<Vec<u8>>>) -> Result<Vec<Option<Entry>>> {
        let now = self.config.clock.now_ms();
        values
            .into_iter()
            .map(|bytes| match bytes {
                Some(bytes) => {
                    let entry = Entry::decode_vec(bytes)?;
                    Ok((!entry.is_expired_at(now)).then_some(entry))
                }
                None => Ok(None),
            })
            .collect()
    }

    /// Deletes every key matching a Redis glob on every master: SCAN, then UNLINK per key.
    pub(crate) async fn unlink_matching(&self, pattern: &str) -> Result<u64> {
        let masters = self.masters().await?;
        let counts = join_all(
            masters
                .iter()
                .map(|node| self.unlink_matching_on(node, pattern)),
        )
        .await;
        counts.into_iter().sum()
    }

    pub(crate) async fn unlink_matching_on(&self, node: &Node, pattern: &str) -> Result<u64> {
        let mut cursor: u64 = 0;
        let mut removed = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = node
                .call(
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(pattern)
                        .arg("COUNT")
                        .arg(1000),
                )
                .await?;
            if !keys.is_empty() {
                // Single-key UNLINKs: keys from one node may sit in different slots.
                let mut pipe = redis::pipe();
                for key in &keys {
                    pipe.cmd("UNLINK").arg(key);
                }
                let counts: Vec<u64> = node.call_pipeline(&pipe).await?;
                removed += counts.iter().sum::<u64>();
            }
            if next == 0 {
                return Ok(removed);
            }
            cursor = next;
        }
    }

    /// A page of [`Store::scan`](hoard_core::Store::scan): SCAN on each master in turn,
    /// ordered by address. The cursor is `{master}:{SCAN cursor}`; one SCAN call asks for
    /// `limit` keys, and a page makes at most [`SCAN_CALLS_PER_PAGE`] calls, so a sparse
    /// pattern returns short pages with a cursor rather than walking the whole key space.
    /// A master that joins or leaves between pages shifts the order: keys may then be
    /// listed twice or missed, as SCAN itself allows while a key space changes.
    pub(crate) async fn scan_page(
        &self,
        glob: &glob::Glob,
        cursor: &str,
        limit: usize,
    ) -> Result<hoard_core::store::ScanPage> {
        let invalid = |reason| Error::InvalidCursor {
            cursor: cursor.chars().take(80).collect(),
            reason,
        };
        let (mut master, mut at) = if cursor.is_empty() {
            (0usize, 0u64)
        } else {
            let (master, at) = cursor
                .split_once(':')
                .ok_or_else(|| invalid("not a cursor this store made"))?;
            (
                master
                    .parse()
                    .map_err(|_| invalid("not a cursor this store made"))?,
                at.parse()
                    .map_err(|_| invalid("not a cursor this store made"))?,
            )
        };
        let mut masters = self.masters().await?;
        masters.sort_by(|a, b| a.address.cmp(&b.address));
        if master >= masters.len() {
            return Err(invalid("it names a node the cluster no longer has"));
        }
        let pattern = format!("{}{}", self.escaped_prefix, glob.as_str());
        let mut keys = Vec::new();
        for _ in 0..SCAN_CALLS_PER_PAGE {
            let (next, found): (u64, Vec<String>) = masters[master]
                .call(
                    redis::cmd("SCAN")
                        .arg(at)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(limit.saturating_sub(keys.len()).max(10)),
                )
                .await?;
            keys.extend(
                found
                    .into_iter()
                    .filter_map(|k| k.strip_prefix(&self.config.key_prefix).map(str::to_owned)),
            );
            at = next;
            if at == 0 {
                master += 1;
                if master == masters.len() {
                    return Ok(hoard_core::store::ScanPage { keys, cursor: None });
                }
            }
            if keys.len() >= limit {
                break;
            }
        }
        Ok(hoard_core::store::ScanPage {
            keys,
            cursor: Some(format!("{master}:{at}")),
        })
    }

    /// hoard's keys on one master: exact by SCAN up to the budget, else estimated from a
    /// sample of random keys times the database size.
    pub(crate) async fn count_on(&self, node: &Node) -> Result<u64> {
        let pattern = self.data_pattern();
        let mut cursor: u64 = 0;
        let mut counted: u64 = 0;
        let mut scanned = 0usize;
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
            counted += keys.len() as u64;
            scanned += 1000;
            if next == 0 {
                return Ok(counted);
            }
            if scanned >= self.config.count_budget {
                break;
            }
            cursor = next;
        }
        let size: u64 = node.call(&redis::cmd("DBSIZE")).await?;
        let mut pipe = redis::pipe();
        for _ in 0..200 {
            pipe.cmd("RANDOMKEY");
        }
        let sample: Vec<Option<String>> = node.call_pipeline(&pipe).await?;
        let ours = sample
            .iter()
            .flatten()
            .filter(|k| {
                k.strip_prefix(&self.config.key_prefix)
                    .is_some_and(|rest| !rest.starts_with(':'))
            })
            .count() as u64;
        Ok(size * ours / sample.len().max(1) as u64)
    }

    /// The glob of every cache entry (not the store's own `{prefix}:...` keys).
    pub(crate) fn data_pattern(&self) -> String {
        format!("{}[^:]*", self.escaped_prefix)
    }

    /// `{prefix}:gen:{namespace}`: the namespace's generation counter.
    pub(crate) fn generation_key(&self, namespace: &str) -> String {
        format!("{}:gen:{namespace}", self.config.key_prefix)
    }

    /// `{prefix}:tag:{tag}`: a sorted set of full keys scored by their deadlines.
    pub(crate) fn tag_key(&self, tag: &str) -> String {
        format!("{}:tag:{tag}", self.config.key_prefix)
    }

    /// `{prefix}:lock:{name}`: the empty namespace keeps leases apart from every cache key.
    pub(crate) fn lock_key(&self, name: &str) -> String {
        format!("{}:lock:{name}", self.config.key_prefix)
    }

    pub(crate) async fn if_holder(
        &self,
        script: &str,
        name: &str,
        token: &str,
        ms: u64,
    ) -> Result<bool> {
        let key = self.lock_key(name);
        let cmd = redis::cmd("EVAL")
            .arg(script)
            .arg(1)
            .arg(&key)
            .arg(token)
            .arg(ms)
            .to_owned();
        let done: i64 = self.on_key(&key, &cmd).await?;
        Ok(done == 1)
    }
}

pub(crate) fn lease_ms(lease: Duration) -> u64 {
    u64::try_from(lease.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// `{prefix}{key}` as one command argument, written without building a `String`.
pub(crate) struct Prefixed<'a>(pub(crate) &'a str, pub(crate) &'a str);

impl redis::ToRedisArgs for Prefixed<'_> {
    fn write_redis_args<W: ?Sized + redis::RedisWrite>(&self, out: &mut W) {
        use std::io::Write;
        let mut arg = out.writer_for_next_arg();
        // Writing to the command buffer cannot fail.
        let _ = arg.write_all(self.0.as_bytes());
        let _ = arg.write_all(self.1.as_bytes());
    }
}

/// A numeric `field:value` line of `INFO` output; 0 when absent.
pub(crate) fn info_field(info: &str, field: &str) -> u64 {
    info.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(crate) fn info_fields_parse() {
        let info = "# Memory\r\nused_memory:1048576\r\nused_memory_human:1.00M\r\n# Stats\r\nevicted_keys:3\r\n";
        assert_eq!(info_field(info, "used_memory"), 1_048_576);
        assert_eq!(info_field(info, "evicted_keys"), 3);
        assert_eq!(info_field(info, "expired_keys"), 0);
    }
}
