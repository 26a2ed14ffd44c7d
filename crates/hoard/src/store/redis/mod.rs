//! The Redis tier: standalone Redis or a Redis Cluster, on redis-rs.
//!
//! Every key is `{key_prefix}{namespace}:{key}` (prefix `hoard:` by default), so hoard can
//! share a Redis with other applications; values are [`Entry`] bytes in format 1 and the
//! Redis TTL is the entry's deadline. Routing is ours, not redis-rs's cluster client: the
//! slot map comes from `CLUSTER SLOTS`, each master has its own connection and its own
//! circuit breaker, so a dead node fails fast for its slots while the others keep working,
//! and multi-key calls are split per node (and per slot, for `MGET`) and run concurrently.
//!
//! **Degradation.** Every call is bounded by `timeout` (250 ms by default). A connection
//! error or timeout counts against the node's breaker and surfaces as
//! [`Error::Unavailable`]; the [`Cache`](crate::Cache) turns that into a miss for reads and
//! an L1-only write. Connections are re-established by themselves (redis-rs'
//! `ConnectionManager`), and a cluster's slot map is refreshed on `MOVED` or errors.

mod breaker;
mod node;
mod notify;
mod routing;
mod slot;

pub use breaker::BreakerConfig;

use super::{Generations, Invalidations, Leases, Store, TagIndex, TagRow, Usage};
use crate::clock::Clock;
use crate::entry::Entry;
use crate::error::{Error, Result};
use crate::events::RemoteHandler;
use crate::glob::{self, Glob};
use async_trait::async_trait;
use futures_util::future::join_all;
use node::{Node, Reply};
use redis::{ConnectionAddr, IntoConnectionInfo};
use routing::{address_of, Cluster, Topology};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const TIER: &str = "redis";

/// The Redis Cluster slot of a full Redis key (prefix included), as `CLUSTER KEYSLOT`
/// computes it.
pub fn cluster_slot(redis_key: &str) -> u16 {
    slot::slot(redis_key.as_bytes())
}

/// Settings of the Redis tier.
#[derive(Clone)]
#[must_use]
pub struct RedisConfig {
    urls: Vec<String>,
    cluster: bool,
    key_prefix: String,
    timeout: Duration,
    breaker: BreakerConfig,
    compress_above: usize,
    count_budget: usize,
    coherence: bool,
    clock: Clock,
}

impl std::fmt::Debug for RedisConfig {
    // By hand: URLs carry passwords.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field(
                "urls",
                &self.urls.iter().map(|u| redact(u)).collect::<Vec<_>>(),
            )
            .field("cluster", &self.cluster)
            .field("key_prefix", &self.key_prefix)
            .field("timeout", &self.timeout)
            .field("breaker", &self.breaker)
            .field("compress_above", &self.compress_above)
            .field("count_budget", &self.count_budget)
            .field("coherence", &self.coherence)
            .finish()
    }
}
impl RedisConfig {
    /// One Redis server: `redis://[user:password@]host:port[/db]` (or `rediss://` with
    /// the `tls` feature).
    pub fn standalone(url: impl Into<String>) -> RedisConfig {
        RedisConfig::new(vec![url.into()], false)
    }

    /// A Redis Cluster, found through any of these seed nodes.
    pub fn cluster<I, S>(seeds: I) -> RedisConfig
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RedisConfig::new(seeds.into_iter().map(Into::into).collect(), true)
    }

    fn new(urls: Vec<String>, cluster: bool) -> RedisConfig {
        RedisConfig {
            urls,
            cluster,
            key_prefix: "hoard:".into(),
            timeout: Duration::from_millis(250),
            breaker: BreakerConfig::default(),
            compress_above: 1024,
            count_budget: 20_000,
            coherence: true,
            clock: Clock::system(),
        }
    }

    /// Prefix of every Redis key hoard writes (default `hoard:`).
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> RedisConfig {
        self.key_prefix = prefix.into();
        self
    }

    /// Longest any single call may take, connecting included (default 250 ms).
    pub fn timeout(mut self, timeout: Duration) -> RedisConfig {
        self.timeout = timeout;
        self
    }

    /// When a node's circuit breaker opens and how long it stays open.
    pub fn breaker(mut self, breaker: BreakerConfig) -> RedisConfig {
        self.breaker = breaker;
        self
    }

    /// Reads the time (entry deadlines, breakers, the cluster map's age) from `clock`.
    /// Redis's own TTLs keep real time: an entry past its deadline by `clock` reads as
    /// absent, whatever Redis says.
    pub fn clock(mut self, clock: Clock) -> RedisConfig {
        self.clock = clock;
        self
    }

    /// Values at least this long are LZ4-compressed when that saves space (default 1 KiB).
    pub fn compress_above(mut self, bytes: usize) -> RedisConfig {
        self.compress_above = bytes;
        self
    }

    /// Keys scanned per master to count hoard's entries exactly in stats; above that the
    /// count is estimated from a sample (default 20 000).
    pub fn count_budget(mut self, keys: usize) -> RedisConfig {
        self.count_budget = keys;
        self
    }

    /// Whether to publish and listen for invalidations on `{prefix}invalidations`, so other
    /// processes' L1 copies are dropped at once (default `true`). Turn it off when an ACL
    /// forbids the channel; L1 copies then live at most the cache's `l1_max_age`.
    pub fn coherence(mut self, on: bool) -> RedisConfig {
        self.coherence = on;
        self
    }

    /// Validates the URLs and prepares the connections. Nothing is contacted yet: a Redis
    /// that is down at start makes hoard start degraded, not fail.
    pub fn open(self) -> Result<RedisStore> {
        RedisStore::open(self)
    }
}

/// L2 on Redis or a Redis Cluster.
pub struct RedisStore {
    topology: Topology,
    config: RedisConfig,
    escaped_prefix: String,
    /// Names this store in invalidation messages, so it can ignore its own.
    origin: String,
    /// The invalidation listener, stopped when the store is dropped.
    listener: std::sync::Mutex<Option<tokio::task::AbortHandle>>,
    /// Every cache listening through this store.
    handlers: std::sync::RwLock<Vec<RemoteHandler>>,
    /// Whether the listener is subscribed now.
    subscribed: std::sync::atomic::AtomicBool,
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

fn config_error(url: &str, e: impl std::fmt::Display) -> Error {
    Error::Config(format!("redis URL {:?}: {e}", redact(url)))
}

/// Readies TLS for `rediss://` URLs: rustls with the *ring* provider, public roots from
/// webpki-roots (append `#insecure` to a URL to skip verification, e.g. self-signed test
/// certificates).
#[cfg(feature = "tls")]
fn enable_tls(_url: &str) -> Result<()> {
    // Fails only when a provider is installed already, which is just as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(())
}

#[cfg(not(feature = "tls"))]
fn enable_tls(url: &str) -> Result<()> {
    Err(config_error(
        url,
        "rediss:// needs TLS support: build hoard with the `tls` cargo feature",
    ))
}

/// The URL without its password (user-info and any `pass=`/`password=` query), for messages.
fn redact(url: &str) -> String {
    let mut out = match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    };
    if let Some(query) = out.find('?') {
        let (base, params) = out.split_at(query + 1);
        let params: Vec<String> = params
            .split('&')
            .map(|p| match p.split_once('=') {
                Some((name, _))
                    if name.eq_ignore_ascii_case("pass")
                        || name.eq_ignore_ascii_case("password") =>
                {
                    format!("{name}=***")
                }
                _ => p.to_owned(),
            })
            .collect();
        out = format!("{base}{}", params.join("&"));
    }
    out
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
        let topology = if config.cluster {
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

    fn redis_key(&self, key: &str) -> String {
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
    async fn get_on_node(
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
    async fn get_many_cluster(&self, keys: &[&str]) -> Result<Vec<Option<Entry>>> {
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
        let now = self.config.clock.now_ms();
        found
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
    async fn unlink_matching(&self, pattern: &str) -> Result<u64> {
        let masters = self.masters().await?;
        let counts = join_all(
            masters
                .iter()
                .map(|node| self.unlink_matching_on(node, pattern)),
        )
        .await;
        counts.into_iter().sum()
    }

    async fn unlink_matching_on(&self, node: &Node, pattern: &str) -> Result<u64> {
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

    /// hoard's keys on one master: exact by SCAN up to the budget, else estimated from a
    /// sample of random keys times the database size.
    async fn count_on(&self, node: &Node) -> Result<u64> {
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
    fn data_pattern(&self) -> String {
        format!("{}[^:]*", self.escaped_prefix)
    }

    /// `{prefix}:gen:{namespace}`: the namespace's generation counter.
    fn generation_key(&self, namespace: &str) -> String {
        format!("{}:gen:{namespace}", self.config.key_prefix)
    }

    /// `{prefix}:tag:{tag}`: a sorted set of full keys scored by their deadlines.
    fn tag_key(&self, tag: &str) -> String {
        format!("{}:tag:{tag}", self.config.key_prefix)
    }

    /// `{prefix}:lock:{name}`: the empty namespace keeps leases apart from every cache key.
    fn lock_key(&self, name: &str) -> String {
        format!("{}:lock:{name}", self.config.key_prefix)
    }

    async fn if_holder(&self, script: &str, name: &str, token: &str, ms: u64) -> Result<bool> {
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
        let Topology::Standalone(node) = &self.topology else {
            return self.get_many_cluster(keys).await;
        };
        // One server: one MGET, keys written straight into the command (no grouping, no key
        // strings): this is the path the mget benchmark measures.
        let prefixed: Vec<Prefixed<'_>> = keys
            .iter()
            .map(|k| Prefixed(&self.config.key_prefix, k))
            .collect();
        let values: Vec<Option<Vec<u8>>> = node.call(redis::cmd("MGET").arg(&prefixed)).await?;
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

/// Bumps a namespace generation and announces it (when a channel is given).
const GENERATION_SCRIPT: &str = r"local g = redis.call('INCR', KEYS[1]); if ARGV[1] ~= '' then redis.call('PUBLISH', ARGV[1], ARGV[2] .. g) end; return g";
/// Moves an entry's deadline: header bytes and Redis expiry together, if the key exists.
const TOUCH_SCRIPT: &str = r"if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('SETRANGE', KEYS[1], 2, ARGV[1]); return redis.call('PEXPIREAT', KEYS[1], ARGV[2]) else return 0 end";
/// Extends a lease only while `token` holds it.
const RENEW_SCRIPT: &str = r"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";
/// Deletes a lease only while `token` holds it (compare-and-delete).
const UNLOCK_SCRIPT: &str = r"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

fn lease_ms(lease: Duration) -> u64 {
    u64::try_from(lease.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// `{prefix}{key}` as one command argument, written without building a `String`.
struct Prefixed<'a>(&'a str, &'a str);

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
fn info_field(info: &str, field: &str) -> u64 {
    info.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_from_messages() {
        assert_eq!(
            redact("redis+unix:///tmp/redis.sock?db=1&pass=s3cret"),
            "redis+unix:///tmp/redis.sock?db=1&pass=***"
        );
        let debug = format!(
            "{:?}",
            RedisConfig::standalone("redis://alice:s3cret@host:6379")
        );
        assert!(!debug.contains("s3cret"), "{debug}");
        assert_eq!(
            redact("redis://alice:s3cret@host:6379/2"),
            "redis://***@host:6379/2"
        );
        assert_eq!(redact("redis://host:6379"), "redis://host:6379");
    }

    #[test]
    fn bad_configurations_are_refused() {
        let cases = [
            (RedisConfig::standalone("http://localhost"), "redis URL"),
            (
                RedisConfig::standalone("redis://localhost").timeout(Duration::ZERO),
                "timeout",
            ),
            (RedisConfig::cluster(Vec::<String>::new()), "no Redis URL"),
            (
                RedisConfig::cluster(["redis://127.0.0.1:7000/3"]),
                "only database 0",
            ),
            #[cfg(not(feature = "tls"))]
            (
                RedisConfig::standalone("rediss://127.0.0.1:6380"),
                "`tls` cargo feature",
            ),
        ];
        for (config, reason) in cases {
            let err = config.open().err().expect("refused").to_string();
            assert!(err.contains(reason), "{err}");
        }
    }

    #[test]
    fn info_fields_parse() {
        let info = "# Memory\r\nused_memory:1048576\r\nused_memory_human:1.00M\r\n# Stats\r\nevicted_keys:3\r\n";
        assert_eq!(info_field(info, "used_memory"), 1_048_576);
        assert_eq!(info_field(info, "evicted_keys"), 3);
        assert_eq!(info_field(info, "expired_keys"), 0);
    }
}
