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
mod slot;

pub use breaker::BreakerConfig;

use super::{Store, Usage};
use crate::entry::{now_ms, Entry};
use crate::error::{Error, Result};
use crate::glob::{self, Glob};
use arc_swap::ArcSwap;
use async_trait::async_trait;
use breaker::Breaker;
use futures_util::future::join_all;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisError, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TIER: &str = "redis";

/// The Redis Cluster slot of a full Redis key (prefix included), as `CLUSTER KEYSLOT`
/// computes it.
pub fn cluster_slot(redis_key: &str) -> u16 {
    slot::slot(redis_key.as_bytes())
}

/// Settings of the Redis tier.
#[derive(Debug, Clone)]
#[must_use]
pub struct RedisConfig {
    urls: Vec<String>,
    cluster: bool,
    key_prefix: String,
    timeout: Duration,
    breaker: BreakerConfig,
    compress_above: usize,
    count_budget: usize,
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

    /// Validates the URLs and prepares the connections. Nothing is contacted yet: a Redis
    /// that is down at start makes hoard start degraded, not fail.
    pub fn open(self) -> Result<RedisStore> {
        RedisStore::open(self)
    }
}

/// One Redis server we talk to: a standalone server or a cluster master.
struct Node {
    address: String,
    info: ConnectionInfo,
    connection: tokio::sync::OnceCell<ConnectionManager>,
    breaker: Breaker,
}

/// Which node serves each slot.
struct SlotMap {
    nodes: Vec<Arc<Node>>,
    /// Index into `nodes` for each of the 16384 slots; `None` where no node is known.
    owners: Vec<Option<u16>>,
}

impl SlotMap {
    fn empty() -> SlotMap {
        SlotMap {
            nodes: Vec::new(),
            owners: vec![None; slot::SLOTS],
        }
    }
}

enum Topology {
    Standalone(Arc<Node>),
    Cluster {
        seeds: Vec<ConnectionInfo>,
        map: ArcSwap<SlotMap>,
        refresh: tokio::sync::Mutex<Option<Instant>>,
    },
}

/// L2 on Redis or a Redis Cluster.
pub struct RedisStore {
    topology: Topology,
    config: RedisConfig,
    escaped_prefix: String,
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

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
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
            if matches!(info.addr(), ConnectionAddr::Unix(_)) && config.cluster {
                return Err(config_error(url, "a cluster node must be a TCP address"));
            }
            if config.cluster && info.redis_settings().db() != 0 {
                return Err(config_error(url, "Redis Cluster has only database 0"));
            }
            infos.push(info);
        }
        let topology = if config.cluster {
            Topology::Cluster {
                seeds: infos,
                map: ArcSwap::from_pointee(SlotMap::empty()),
                refresh: tokio::sync::Mutex::new(None),
            }
        } else {
            if infos.len() > 1 {
                return Err(Error::Config(
                    "several Redis URLs given for a standalone server; use the cluster setting"
                        .into(),
                ));
            }
            let info = infos.remove(0);
            Topology::Standalone(Arc::new(Node::new(address_of(&info), info, config.breaker)))
        };
        Ok(RedisStore {
            topology,
            escaped_prefix: glob::escape(&config.key_prefix),
            config,
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
        matches!(self.topology, Topology::Cluster { .. })
    }

    // ----- routing ------------------------------------------------------------------------

    /// The node serving `redis_key`, refreshing the cluster map if the slot is unknown.
    async fn route(&self, redis_key: &str) -> Result<Arc<Node>> {
        match &self.topology {
            Topology::Standalone(node) => Ok(node.clone()),
            Topology::Cluster { map, .. } => {
                let slot = slot::slot(redis_key.as_bytes()) as usize;
                if let Some(node) = owner(&map.load(), slot) {
                    return Ok(node);
                }
                self.refresh_map(false).await;
                owner(&map.load(), slot).ok_or_else(|| Error::Unavailable {
                    tier: TIER,
                    reason: format!("no cluster node known for slot {slot}"),
                })
            }
        }
    }

    /// Every master (for SCAN, INFO, PING).
    async fn masters(&self) -> Result<Vec<Arc<Node>>> {
        match &self.topology {
            Topology::Standalone(node) => Ok(vec![node.clone()]),
            Topology::Cluster { map, .. } => {
                if map.load().nodes.is_empty() {
                    self.refresh_map(false).await;
                }
                let nodes = map.load().nodes.clone();
                if nodes.is_empty() {
                    return Err(Error::Unavailable {
                        tier: TIER,
                        reason: "no cluster node reachable".into(),
                    });
                }
                Ok(nodes)
            }
        }
    }

    /// Reloads the slot map from `CLUSTER SLOTS` of any reachable node. At most one refresh
    /// runs at a time and, unless `force`d by a redirect, at most one per 200 ms.
    async fn refresh_map(&self, force: bool) {
        let Topology::Cluster {
            seeds,
            map,
            refresh,
        } = &self.topology
        else {
            return;
        };
        let mut last = refresh.lock().await;
        if !force && last.is_some_and(|at| at.elapsed() < Duration::from_millis(200)) {
            return;
        }
        *last = Some(Instant::now());
        let current = map.load_full();
        // Ask the nodes we know first, then the seeds.
        let mut candidates: Vec<ConnectionInfo> =
            current.nodes.iter().map(|n| n.info.clone()).collect();
        candidates.extend(seeds.iter().cloned());
        for info in candidates {
            let address = address_of(&info);
            let probe = current
                .nodes
                .iter()
                .find(|n| n.address == address)
                .cloned()
                .unwrap_or_else(|| {
                    Arc::new(Node::new(
                        address.clone(),
                        info.clone(),
                        self.config.breaker,
                    ))
                });
            let reply: Result<Value> = self.call(&probe, redis::cmd("CLUSTER").arg("SLOTS")).await;
            match reply.and_then(|v| parse_cluster_slots(&v, &info, &current, self.config.breaker))
            {
                Ok(next) => {
                    map.store(Arc::new(next));
                    return;
                }
                Err(error) => {
                    tracing::debug!(node = %address, %error, "redis: CLUSTER SLOTS failed")
                }
            }
        }
        tracing::warn!("redis: no cluster node answered CLUSTER SLOTS");
    }

    // ----- calls --------------------------------------------------------------------------

    /// Runs one command on one node, within the timeout and through the node's breaker.
    async fn call<T: redis::FromRedisValue>(&self, node: &Node, cmd: &redis::Cmd) -> Result<T> {
        let mut connection = self.connect(node).await?;
        let result =
            tokio::time::timeout(self.config.timeout, cmd.query_async(&mut connection)).await;
        self.settle(node, result)
    }

    /// Runs a pipeline on one node, within the timeout and through the node's breaker.
    async fn call_pipeline<T: redis::FromRedisValue>(
        &self,
        node: &Node,
        pipe: &redis::Pipeline,
    ) -> Result<T> {
        let mut connection = self.connect(node).await?;
        let result =
            tokio::time::timeout(self.config.timeout, pipe.query_async(&mut connection)).await;
        self.settle(node, result)
    }

    async fn connect(&self, node: &Node) -> Result<ConnectionManager> {
        if !node.breaker.allow() {
            return Err(Error::Unavailable {
                tier: TIER,
                reason: format!("circuit open for {}", node.address),
            });
        }
        let timeout = self.config.timeout;
        let connection = node
            .connection
            .get_or_try_init(|| async {
                let client = redis::Client::open(node.info.clone())
                    .map_err(|e| Error::Config(e.to_string()))?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(None)
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_millis(200));
                ConnectionManager::new_lazy_with_config(client, config)
                    .map_err(|e| Error::Config(e.to_string()))
            })
            .await;
        match connection {
            Ok(connection) => Ok(connection.clone()),
            Err(error) => {
                node.breaker.failed();
                Err(error)
            }
        }
    }

    /// Turns a call's outcome into ours, feeding the breaker: only answers close it, only
    /// silence (I/O errors, timeouts) opens it.
    fn settle<T>(
        &self,
        node: &Node,
        result: std::result::Result<redis::RedisResult<T>, tokio::time::error::Elapsed>,
    ) -> Result<T> {
        match result {
            Ok(Ok(value)) => {
                node.breaker.succeeded();
                Ok(value)
            }
            Ok(Err(error)) if is_unreachable(&error) => {
                node.breaker.failed();
                Err(Error::Unavailable {
                    tier: TIER,
                    reason: format!("{}: {error}", node.address),
                })
            }
            Ok(Err(error)) => {
                node.breaker.succeeded();
                Err(Error::Redis(format!("{}: {error}", node.address)))
            }
            Err(_) => {
                node.breaker.failed();
                Err(Error::Unavailable {
                    tier: TIER,
                    reason: format!(
                        "{}: no answer within {:?}",
                        node.address, self.config.timeout
                    ),
                })
            }
        }
    }

    /// Runs `command(node)` on the node of `redis_key`; on a cluster redirect, refreshes the
    /// map and tries once more.
    async fn on_key<T, F, Fut>(&self, redis_key: &str, command: F) -> Result<T>
    where
        F: Fn(Arc<Node>) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let node = self.route(redis_key).await?;
        match command(node).await {
            Err(Error::Redis(message)) if self.is_cluster() && is_redirect(&message) => {
                self.refresh_map(true).await;
                command(self.route(redis_key).await?).await
            }
            Err(error @ Error::Unavailable { .. }) if self.is_cluster() => {
                // A failover may have moved the slot; let the next call find out.
                self.refresh_map(false).await;
                Err(error)
            }
            other => other,
        }
    }

    /// Groups positions of `redis_keys` by the node serving them.
    async fn by_node(&self, redis_keys: &[String]) -> Result<Vec<(Arc<Node>, Vec<usize>)>> {
        let mut groups: Vec<(Arc<Node>, Vec<usize>)> = Vec::new();
        for (i, key) in redis_keys.iter().enumerate() {
            let node = self.route(key).await?;
            match groups.iter_mut().find(|(n, _)| Arc::ptr_eq(n, &node)) {
                Some((_, positions)) => positions.push(i),
                None => groups.push((node, vec![i])),
            }
        }
        Ok(groups)
    }

    /// `MGET` per slot on one node, pipelined: one round trip per node.
    async fn get_on_node(
        &self,
        node: &Node,
        redis_keys: &[String],
        positions: &[usize],
    ) -> Result<Vec<(usize, Option<Vec<u8>>)>> {
        if !self.is_cluster() {
            let keys: Vec<&str> = positions.iter().map(|&i| redis_keys[i].as_str()).collect();
            let values: Vec<Option<Vec<u8>>> =
                self.call(node, redis::cmd("MGET").arg(&keys)).await?;
            return Ok(positions.iter().copied().zip(values).collect());
        }
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
        let replies: Vec<Vec<Option<Vec<u8>>>> = self.call_pipeline(node, &pipe).await?;
        Ok(slots
            .into_values()
            .zip(replies)
            .flat_map(|(group, values)| group.into_iter().zip(values))
            .collect())
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
            let (next, keys): (u64, Vec<String>) = self
                .call(
                    node,
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
                let counts: Vec<u64> = self.call_pipeline(node, &pipe).await?;
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
        let pattern = format!("{}*", self.escaped_prefix);
        let mut cursor: u64 = 0;
        let mut counted: u64 = 0;
        let mut scanned_calls = 0usize;
        loop {
            let (next, keys): (u64, Vec<String>) = self
                .call(
                    node,
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(1000),
                )
                .await?;
            counted += keys.len() as u64;
            scanned_calls += 1;
            if next == 0 {
                return Ok(counted);
            }
            if scanned_calls * 1000 >= self.config.count_budget {
                break;
            }
            cursor = next;
        }
        let size: u64 = self.call(node, &redis::cmd("DBSIZE")).await?;
        let mut pipe = redis::pipe();
        for _ in 0..200 {
            pipe.cmd("RANDOMKEY");
        }
        let sample: Vec<Option<String>> = self.call_pipeline(node, &pipe).await?;
        let ours = sample
            .iter()
            .flatten()
            .filter(|k| k.starts_with(&self.config.key_prefix))
            .count() as u64;
        Ok(size * ours / sample.len().max(1) as u64)
    }
}

fn owner(map: &SlotMap, slot: usize) -> Option<Arc<Node>> {
    map.owners[slot].map(|i| map.nodes[i as usize].clone())
}

fn address_of(info: &ConnectionInfo) -> String {
    match info.addr() {
        ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
            format!("{host}:{port}")
        }
        other => format!("{other:?}"),
    }
}

fn is_unreachable(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
        || error.is_unrecoverable_error()
        || matches!(
            error.kind(),
            redis::ErrorKind::Server(
                redis::ServerErrorKind::BusyLoading
                    | redis::ServerErrorKind::ClusterDown
                    | redis::ServerErrorKind::MasterDown
                    | redis::ServerErrorKind::TryAgain
            )
        )
}

fn is_redirect(message: &str) -> bool {
    message.contains("MOVED") || message.contains("ASK")
}

impl Node {
    fn new(address: String, info: ConnectionInfo, breaker: BreakerConfig) -> Node {
        Node {
            address,
            info,
            connection: tokio::sync::OnceCell::new(),
            breaker: Breaker::new(breaker),
        }
    }
}

/// Builds a slot map from a `CLUSTER SLOTS` reply, reusing known nodes (and so their
/// connections and breakers) by address.
fn parse_cluster_slots(
    reply: &Value,
    asked: &ConnectionInfo,
    current: &SlotMap,
    breaker: BreakerConfig,
) -> Result<SlotMap> {
    let bad = |what: &str| Error::Redis(format!("unexpected CLUSTER SLOTS reply: {what}"));
    let Value::Array(ranges) = reply else {
        return Err(bad("not an array"));
    };
    let asked_host = match asked.addr() {
        ConnectionAddr::Tcp(host, _) | ConnectionAddr::TcpTls { host, .. } => host.clone(),
        _ => String::new(),
    };
    let mut map = SlotMap::empty();
    let mut index: HashMap<String, u16> = HashMap::new();
    for range in ranges {
        let Value::Array(fields) = range else {
            return Err(bad("range is not an array"));
        };
        let (Some(Value::Int(start)), Some(Value::Int(end)), Some(Value::Array(master))) =
            (fields.first(), fields.get(1), fields.get(2))
        else {
            return Err(bad("range lacks start, end or master"));
        };
        let host = match master.first() {
            Some(Value::BulkString(h)) if !h.is_empty() => String::from_utf8_lossy(h).into_owned(),
            // An empty or missing host means "the address you asked".
            _ => asked_host.clone(),
        };
        let Some(Value::Int(port)) = master.get(1) else {
            return Err(bad("master lacks a port"));
        };
        let port = u16::try_from(*port).map_err(|_| bad("port out of range"))?;
        let address = format!("{host}:{port}");
        let node_index = match index.get(&address) {
            Some(&i) => i,
            None => {
                let node = current
                    .nodes
                    .iter()
                    .find(|n| n.address == address)
                    .cloned()
                    .unwrap_or_else(|| {
                        let info = asked.clone().set_addr(match asked.addr() {
                            ConnectionAddr::TcpTls {
                                insecure,
                                tls_params,
                                ..
                            } => ConnectionAddr::TcpTls {
                                host: host.clone(),
                                port,
                                insecure: *insecure,
                                tls_params: tls_params.clone(),
                            },
                            _ => ConnectionAddr::Tcp(host.clone(), port),
                        });
                        Arc::new(Node::new(address.clone(), info, breaker))
                    });
                map.nodes.push(node);
                let i = (map.nodes.len() - 1) as u16;
                index.insert(address, i);
                i
            }
        };
        let (start, end) = (usize::try_from(*start), usize::try_from(*end));
        let (Ok(start), Ok(end)) = (start, end) else {
            return Err(bad("negative slot"));
        };
        if start > end || end >= slot::SLOTS {
            return Err(bad("slot out of range"));
        }
        for owner in &mut map.owners[start..=end] {
            *owner = Some(node_index);
        }
    }
    if map.nodes.is_empty() {
        return Err(bad("no slots assigned"));
    }
    Ok(map)
}

#[async_trait]
impl Store for RedisStore {
    fn name(&self) -> &'static str {
        TIER
    }

    async fn get(&self, key: &str) -> Result<Option<Entry>> {
        let redis_key = self.redis_key(key);
        let cmd = redis::cmd("GET").arg(&redis_key).to_owned();
        let bytes: Option<Vec<u8>> = self
            .on_key(&redis_key, |node| {
                let cmd = &cmd;
                async move { self.call(&node, cmd).await }
            })
            .await?;
        let Some(bytes) = bytes else { return Ok(None) };
        let entry = Entry::decode_vec(bytes)?;
        Ok((!entry.is_expired_at(now_ms())).then_some(entry))
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Entry>>> {
        if let Topology::Standalone(node) = &self.topology {
            // One server: one MGET, keys written straight into the command (no grouping,
            // no key strings): this is the path the mget benchmark measures.
            let prefixed: Vec<Prefixed<'_>> = keys
                .iter()
                .map(|k| Prefixed(&self.config.key_prefix, k))
                .collect();
            let values: Vec<Option<Vec<u8>>> =
                self.call(node, redis::cmd("MGET").arg(&prefixed)).await?;
            let now = now_ms();
            return values
                .into_iter()
                .map(|bytes| match bytes {
                    Some(bytes) => {
                        let entry = Entry::decode_vec(bytes)?;
                        Ok((!entry.is_expired_at(now)).then_some(entry))
                    }
                    None => Ok(None),
                })
                .collect();
        }
        let redis_keys: Vec<String> = keys.iter().map(|k| self.redis_key(k)).collect();
        let groups = self.by_node(&redis_keys).await?;
        let results = join_all(
            groups
                .iter()
                .map(|(node, positions)| self.get_on_node(node, &redis_keys, positions)),
        )
        .await;
        let mut out: Vec<Option<Entry>> = vec![None; keys.len()];
        let now = now_ms();
        let mut redirected = false;
        for result in results {
            let found = match result {
                Ok(found) => found,
                Err(Error::Redis(message)) if self.is_cluster() && is_redirect(&message) => {
                    redirected = true;
                    continue;
                }
                Err(error) => return Err(error),
            };
            for (i, bytes) in found {
                if let Some(bytes) = bytes {
                    let entry = Entry::decode_vec(bytes)?;
                    out[i] = (!entry.is_expired_at(now)).then_some(entry);
                }
            }
        }
        if redirected {
            // Slots moved under us: read again with a fresh map.
            self.refresh_map(true).await;
            return Box::pin(self.get_many(keys)).await;
        }
        Ok(out)
    }

    async fn set(&self, key: &str, entry: Entry) -> Result<()> {
        self.set_many(&[(key.to_owned(), entry)]).await
    }

    async fn set_many(&self, entries: &[(String, Entry)]) -> Result<()> {
        let redis_keys: Vec<String> = entries.iter().map(|(k, _)| self.redis_key(k)).collect();
        let now = now_ms();
        let groups = self.by_node(&redis_keys).await?;
        let results = join_all(groups.iter().map(|(node, positions)| {
            let mut pipe = redis::pipe();
            for &i in positions {
                let entry = &entries[i].1;
                match entry.expires_at_ms.checked_sub(now).filter(|ms| *ms > 0) {
                    Some(ttl_ms) => {
                        pipe.cmd("SET")
                            .arg(&redis_keys[i])
                            .arg(entry.encode(self.config.compress_above))
                            .arg("PX")
                            .arg(ttl_ms)
                            .ignore();
                    }
                    // Already expired: storing it would mean deleting what is there.
                    None => {
                        pipe.cmd("DEL").arg(&redis_keys[i]).ignore();
                    }
                }
            }
            async move { self.call_pipeline::<()>(node, &pipe).await }
        }))
        .await;
        let mut redirected = false;
        for result in results {
            match result {
                Ok(()) => {}
                Err(Error::Redis(message)) if self.is_cluster() && is_redirect(&message) => {
                    redirected = true
                }
                Err(error) => return Err(error),
            }
        }
        if redirected {
            self.refresh_map(true).await;
            return Box::pin(self.set_many(entries)).await;
        }
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        let redis_key = self.redis_key(key);
        let cmd = redis::cmd("DEL").arg(&redis_key).to_owned();
        let removed: u64 = self
            .on_key(&redis_key, |node| {
                let cmd = &cmd;
                async move { self.call(&node, cmd).await }
            })
            .await?;
        Ok(removed > 0)
    }

    async fn ttl(&self, key: &str) -> Result<Option<Duration>> {
        let redis_key = self.redis_key(key);
        let cmd = redis::cmd("PTTL").arg(&redis_key).to_owned();
        let ms: i64 = self
            .on_key(&redis_key, |node| {
                let cmd = &cmd;
                async move { self.call(&node, cmd).await }
            })
            .await?;
        // -2: no such key; -1: a key without expiry, which hoard never writes.
        Ok(u64::try_from(ms)
            .ok()
            .filter(|ms| *ms > 0)
            .map(Duration::from_millis))
    }

    async fn delete_matching(&self, glob: &Glob) -> Result<u64> {
        self.unlink_matching(&format!("{}{}", self.escaped_prefix, glob.as_str()))
            .await
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64> {
        self.unlink_matching(&format!("{}{}*", self.escaped_prefix, glob::escape(prefix)))
            .await
    }

    async fn clear(&self) -> Result<u64> {
        self.unlink_matching(&format!("{}*", self.escaped_prefix))
            .await
    }

    async fn usage(&self) -> Result<Usage> {
        let masters = self.masters().await?;
        let mut usage = Usage::default();
        for node in &masters {
            usage.entries += self.count_on(node).await?;
            let info: String = self
                .call(node, redis::cmd("INFO").arg("memory").arg("stats"))
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
            Topology::Cluster { map, .. } => {
                let map = map.load();
                !map.nodes.is_empty() && map.nodes.iter().all(|n| !n.breaker.is_open())
            }
        }
    }

    async fn ping(&self) -> Result<()> {
        for node in self.masters().await? {
            let _: String = self.call(&node, &redis::cmd("PING")).await?;
        }
        Ok(())
    }
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
