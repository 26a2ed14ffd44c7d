//! Where a key goes: the one server, or the cluster master owning the key's slot.
//!
//! A cluster's slot map comes from `CLUSTER SLOTS`, asked of every known node and seed at
//! once (the first answer wins, so one dead node does not delay it). It is refreshed when a
//! slot has no known owner, after `MOVED`, after a node stops answering (a failover may have
//! moved its slots), and when older than 30 s. Concurrent refreshes collapse into one.

use crate::node::{address_of, node_like, Node, Reply};
use crate::slot;
use crate::{RedisConfig, RedisStore, TIER};
use arc_swap::ArcSwap;
use futures_util::future::join_all;
use hoard_core::error::{Error, Result};
use redis::{ConnectionInfo, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Arc;

/// A map older than this is refreshed before listing masters.
const MAP_MAX_AGE_MS: u64 = 30_000;
/// Unforced refreshes are at most this frequent.
const REFRESH_THROTTLE_MS: u64 = 200;
/// Nodes outside the slot map kept for `ASK` redirects; the oldest goes first.
const MAX_STRANGERS: usize = 16;
/// Redirects followed for one call before giving up.
const MAX_REDIRECTS: usize = 3;

/// Makes the invalidation message for the commands at some positions of a batch.
pub(super) type Announce<'a> = &'a (dyn Fn(&[usize]) -> String + Sync);

/// Which node serves each slot.
pub(super) struct SlotMap {
    pub(super) nodes: Vec<Arc<Node>>,
    /// Index into `nodes` for each of the 16384 slots; `None` where no node is known.
    owners: Vec<Option<u16>>,
}

impl SlotMap {
    pub(super) fn empty() -> SlotMap {
        SlotMap {
            nodes: Vec::new(),
            owners: vec![None; slot::SLOTS],
        }
    }

    fn owner(&self, slot: usize) -> Option<Arc<Node>> {
        self.owners[slot].map(|i| self.nodes[i as usize].clone())
    }
}

pub(super) enum Topology {
    Standalone(Arc<Node>),
    Cluster(Cluster),
    /// A master found through Redis Sentinel (`sentinel.rs`).
    Sentinel(crate::sentinel::Sentinel),
}

pub(super) struct Cluster {
    /// The configured seed nodes, kept (with their connections and breakers) for the life
    /// of the store.
    seeds: Vec<Arc<Node>>,
    pub(super) map: ArcSwap<SlotMap>,
    /// Nodes met through `ASK` that the slot map does not list (a node importing its first
    /// slot owns none yet), kept so each keeps one connection and one breaker.
    strangers: std::sync::Mutex<Vec<Arc<Node>>>,
    /// Serializes refreshes; holds when the last one finished.
    refresh: tokio::sync::Mutex<()>,
    refreshed_at_ms: AtomicU64,
}

impl Cluster {
    pub(super) fn new(seeds: Vec<ConnectionInfo>, config: &RedisConfig) -> Cluster {
        Cluster {
            seeds: seeds
                .into_iter()
                .map(|info| {
                    Arc::new(Node::new(
                        address_of(&info),
                        info,
                        config.breaker,
                        config.timeout,
                        config.clock.clone(),
                    ))
                })
                .collect(),
            map: ArcSwap::from_pointee(SlotMap::empty()),
            strangers: std::sync::Mutex::new(Vec::new()),
            refresh: tokio::sync::Mutex::new(()),
            refreshed_at_ms: AtomicU64::new(0),
        }
    }

    /// Whether a refresh has ever succeeded.
    pub(super) fn has_map(&self) -> bool {
        !self.map.load().nodes.is_empty()
    }

    pub(super) fn ever_refreshed(&self) -> bool {
        self.refreshed_at_ms.load(SeqCst) != 0
    }
}

impl RedisStore {
    /// The node serving `redis_key`, refreshing the cluster map if the slot is unknown.
    pub(super) async fn route(&self, redis_key: &str) -> Result<Arc<Node>> {
        match &self.topology {
            Topology::Standalone(node) => Ok(node.clone()),
            Topology::Sentinel(sentinel) => self.sentinel_master(sentinel).await,
            Topology::Cluster(cluster) => {
                let slot = slot::slot(redis_key.as_bytes()) as usize;
                if let Some(node) = cluster.map.load().owner(slot) {
                    return Ok(node);
                }
                self.refresh_map(false).await;
                cluster
                    .map
                    .load()
                    .owner(slot)
                    .ok_or_else(|| Error::Unavailable {
                        tier: TIER,
                        reason: format!("no cluster node known for slot {slot}"),
                    })
            }
        }
    }

    /// Every master (for SCAN, INFO, PING), from a map at most 30 s old.
    pub(super) async fn masters(&self) -> Result<Vec<Arc<Node>>> {
        match &self.topology {
            Topology::Standalone(node) => Ok(vec![node.clone()]),
            Topology::Sentinel(sentinel) => Ok(vec![self.sentinel_master(sentinel).await?]),
            Topology::Cluster(cluster) => {
                let age = self
                    .config
                    .clock
                    .now_ms()
                    .saturating_sub(cluster.refreshed_at_ms.load(SeqCst));
                if !cluster.has_map() || age > MAP_MAX_AGE_MS {
                    self.refresh_map(false).await;
                }
                let nodes = cluster.map.load().nodes.clone();
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

    /// Reloads the slot map. Callers that arrive while a refresh runs wait for it and use
    /// its result; unless `force`d (after a redirect), refreshes are at most one per 200 ms.
    pub(super) async fn refresh_map(&self, force: bool) {
        let Topology::Cluster(cluster) = &self.topology else {
            return;
        };
        let asked_at = self.config.clock.now_ms();
        let _running = cluster.refresh.lock().await;
        let last = cluster.refreshed_at_ms.load(SeqCst);
        if last >= asked_at || (!force && asked_at.saturating_sub(last) < REFRESH_THROTTLE_MS) {
            // Someone refreshed while we waited (or just before): theirs is fresh enough.
            return;
        }
        let current = cluster.map.load_full();
        let mut candidates: Vec<Arc<Node>> = current.nodes.clone();
        for seed in &cluster.seeds {
            if !candidates.iter().any(|n| n.address == seed.address) {
                candidates.push(seed.clone());
            }
        }
        let current = &*current;
        // Nodes a new map may name, kept with their connections and breakers.
        let mut known = cluster.seeds.clone();
        known.extend(
            cluster
                .strangers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .cloned(),
        );
        let known = &known;
        let replies = join_all(candidates.iter().map(|node| async move {
            let reply: Result<Value> = node.call(redis::cmd("CLUSTER").arg("SLOTS")).await;
            reply.and_then(|v| parse_cluster_slots(&v, node, current, known, &self.config))
        }))
        .await;
        match replies.into_iter().find_map(Result::ok) {
            Some(next) => cluster.map.store(Arc::new(next)),
            None => tracing::warn!("redis: no cluster node answered CLUSTER SLOTS"),
        }
        // Failed refreshes count too: they throttle the next unforced one.
        cluster
            .refreshed_at_ms
            .store(self.config.clock.now_ms().max(1), SeqCst);
    }

    /// Runs `cmd` on the node of `redis_key`, following cluster redirects: `MOVED` refreshes
    /// the map and retries; `ASK` sends `ASKING` + the command to the named node once.
    pub(super) async fn on_key<T: redis::FromRedisValue>(
        &self,
        redis_key: &str,
        cmd: &redis::Cmd,
    ) -> Result<T> {
        let mut attempt = 0;
        loop {
            let node = self.route(redis_key).await?;
            let error = match node.call(cmd).await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            attempt += 1;
            match error {
                Error::Redirect { ask: true, address } if attempt <= MAX_REDIRECTS => {
                    let target = self.node_at(&address);
                    let mut pipe = redis::pipe();
                    pipe.cmd("ASKING").ignore().add_command(cmd.clone());
                    match target.call_pipeline::<(T,)>(&pipe).await {
                        Ok((value,)) => return Ok(value),
                        Err(Error::Redirect { .. }) => self.refresh_map(true).await,
                        Err(other) => return Err(other),
                    }
                }
                Error::Redirect { ask: false, .. } if attempt <= MAX_REDIRECTS => {
                    self.refresh_map(true).await
                }
                error @ Error::Unavailable { .. } => {
                    self.after_unavailable(&node).await;
                    return Err(error);
                }
                other => return Err(other),
            }
        }
    }

    /// After `node` did not answer: a failover may have moved what it served, so the next
    /// call finds out (a cluster's slot map refreshed once its breaker opened, the
    /// sentinels asked again).
    pub(super) async fn after_unavailable(&self, node: &Node) {
        match &self.topology {
            Topology::Cluster(_) if node.breaker.is_open() => self.refresh_map(false).await,
            Topology::Sentinel(sentinel) => self.ask_sentinels(sentinel).await,
            _ => {}
        }
    }

    /// Whether `address` is still where this store sends commands (always, without
    /// sentinels): the invalidation listener moves when it is not.
    pub(super) fn still_serves(&self, address: &str) -> bool {
        match &self.topology {
            Topology::Sentinel(sentinel) => sentinel
                .current()
                .is_none_or(|master| master.address == address),
            _ => true,
        }
    }

    /// `error` from `node`, after [`RedisStore::after_unavailable`] if it is one.
    pub(super) async fn noted(&self, node: &Node, error: Error) -> Error {
        if matches!(error, Error::Unavailable { .. }) {
            self.after_unavailable(node).await;
        }
        error
    }

    /// The known node at `address`, or a new one (for an `ASK` to a node not yet mapped).
    fn node_at(&self, address: &str) -> Arc<Node> {
        if let Topology::Cluster(cluster) = &self.topology {
            let map = cluster.map.load();
            if let Some(node) = map
                .nodes
                .iter()
                .chain(&cluster.seeds)
                .find(|n| n.address == address)
            {
                return node.clone();
            }
            let mut strangers = cluster.strangers.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(node) = strangers.iter().find(|n| n.address == address) {
                return node.clone();
            }
            if let Some(seed) = cluster.seeds.first() {
                if let Some((host, port)) = address
                    .rsplit_once(':')
                    .and_then(|(h, p)| Some((h, p.parse().ok()?)))
                {
                    let node = Arc::new(node_like(seed, host, port, &self.config));
                    // Bounded: addresses come from the servers' replies.
                    if strangers.len() >= MAX_STRANGERS {
                        strangers.remove(0);
                    }
                    strangers.push(node.clone());
                    return node;
                }
            }
        }
        match &self.topology {
            Topology::Standalone(node) => node.clone(),
            Topology::Cluster(cluster) => cluster.seeds[0].clone(),
            // `ASK` is a cluster's: a master behind sentinels never sends one.
            Topology::Sentinel(sentinel) => sentinel.fallback(),
        }
    }

    /// Runs commands on keys (`commands[i].0` is the key `commands[i].1` touches), in one
    /// pipeline per node, and returns each command's value in order; commands on one key
    /// run in the order given. A command its node
    /// sends elsewhere (`ASK` or `MOVED` for its key, as during a slot migration) is sent
    /// again alone through [`RedisStore::on_key`], which follows the redirect as a
    /// single-key call does. The first other error fails the call.
    ///
    /// `announce`, given the positions a pipeline carries, makes the invalidation message
    /// that rides in it; commands sent again are announced once more after they landed, so
    /// no process hears of a write before it is there.
    pub(super) async fn on_keys(
        &self,
        commands: &[(String, redis::Cmd)],
        announce: Option<Announce<'_>>,
    ) -> Result<Vec<Value>> {
        let keys: Vec<String> = commands.iter().map(|(k, _)| k.clone()).collect();
        let groups = self.by_node(&keys).await?;
        let replies = join_all(groups.iter().map(|(node, positions)| {
            let mut pipe = redis::pipe();
            for &i in positions {
                pipe.add_command(commands[i].1.clone());
            }
            if let (Some(announce), true) = (announce, self.config.coherence) {
                pipe.cmd("PUBLISH")
                    .arg(self.channel())
                    .arg(announce(positions))
                    .ignore();
            }
            node.call_each(pipe)
        }))
        .await;
        let mut values = vec![Value::Nil; commands.len()];
        let mut elsewhere = Vec::new();
        for ((node, positions), replies) in groups.iter().zip(replies) {
            let replies = match replies {
                Ok(replies) => replies,
                Err(error) => return Err(self.noted(node, error).await),
            };
            for (&i, reply) in positions.iter().zip(replies) {
                match reply {
                    Reply::Value(value) => values[i] = value,
                    Reply::Elsewhere => elsewhere.push(i),
                    Reply::Failed(error) => return Err(self.noted(node, error).await),
                }
            }
        }
        if elsewhere.is_empty() {
            return Ok(values);
        }
        // One by one, in order: commands on one key (a tag index's ZADD, then its expiry)
        // must land in the order they were given. Only a migration sends commands here.
        for &i in &elsewhere {
            values[i] = self.on_key(&commands[i].0, &commands[i].1).await?;
        }
        if let Some(announce) = announce {
            self.publish(announce(&elsewhere)).await;
        }
        Ok(values)
    }

    /// Groups positions of `redis_keys` by the node serving them.
    pub(super) async fn by_node(
        &self,
        redis_keys: &[String],
    ) -> Result<Vec<(Arc<Node>, Vec<usize>)>> {
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
}

/// Builds a slot map from a `CLUSTER SLOTS` reply of `asked`, reusing the current map's and
/// other `known` nodes (and so their connections and breakers) by address.
fn parse_cluster_slots(
    reply: &Value,
    asked: &Node,
    current: &SlotMap,
    known: &[Arc<Node>],
    config: &RedisConfig,
) -> Result<SlotMap> {
    let bad = |what: &str| Error::Redis(format!("unexpected CLUSTER SLOTS reply: {what}"));
    let Value::Array(ranges) = reply else {
        return Err(bad("not an array"));
    };
    let asked_host = asked
        .address
        .rsplit_once(':')
        .map_or("", |(h, _)| h)
        .to_owned();
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
                    .chain(known)
                    .find(|n| n.address == address)
                    .cloned()
                    .unwrap_or_else(|| Arc::new(node_like(asked, &host, port, config)));
                map.nodes.push(node);
                let i = u16::try_from(map.nodes.len() - 1).map_err(|_| bad("too many nodes"))?;
                index.insert(address, i);
                i
            }
        };
        let (Ok(start), Ok(end)) = (usize::try_from(*start), usize::try_from(*end)) else {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ask_target_outside_the_map_is_one_node_however_often_it_is_named() {
        // Nothing is contacted: connections are made on first use.
        let store = RedisConfig::cluster(["redis://127.0.0.1:1"])
            .open()
            .unwrap();
        let first = store.node_at("127.0.0.1:2");
        let again = store.node_at("127.0.0.1:2");
        assert!(
            Arc::ptr_eq(&first, &again),
            "one connection and one breaker"
        );
        assert!(!Arc::ptr_eq(&first, &store.node_at("127.0.0.1:3")));
        let seed = store.node_at("127.0.0.1:1");
        assert_eq!(seed.address, "127.0.0.1:1", "a seed is found as itself");
        // Bounded: the servers' replies name the addresses.
        for port in 10..10 + 2 * MAX_STRANGERS as u16 {
            store.node_at(&format!("127.0.0.1:{port}"));
        }
        let Topology::Cluster(cluster) = &store.topology else {
            panic!("a cluster store");
        };
        assert_eq!(cluster.strangers.lock().unwrap().len(), MAX_STRANGERS);
    }
}
