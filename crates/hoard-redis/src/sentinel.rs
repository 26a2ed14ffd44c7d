//! Redis Sentinel: the master is whichever server the sentinels name, and hoard follows
//! them when they promote a replica, without a restart.
//!
//! The sentinels are asked `SENTINEL get-master-addr-by-name` (all at once; the address
//! most of those that answer give wins) and the server they name is asked `ROLE` before it
//! is used, so a sentinel that has not caught up yet cannot send writes to a replica. They
//! are asked again when the master stops answering or answers `READONLY` (it was demoted),
//! at most every [`ASK_THROTTLE_MS`], and every second by the invalidation listener, which
//! also moves its subscription to the new master. A switch tells the caches the
//! subscription is lost, so every L1 drops its copies at once: Redis replication is
//! asynchronous, and what the old master acknowledged last may not be on the new one.
//!
//! The master is reached with the credentials, database and TLS settings of the first
//! sentinel URL; the sentinels themselves with their URL's credentials and database 0.

use crate::node::{address_of, node_like, Node};
use crate::{RedisConfig, RedisStore, TIER};
use arc_swap::ArcSwapOption;
use futures_util::future::join_all;
use hoard_core::error::{Error, Result};
use hoard_events::Remote;
use redis::{ConnectionInfo, Value};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

/// Asks for the master are at most this frequent.
const ASK_THROTTLE_MS: u64 = 100;

/// Servers met as masters kept for their connections and breakers; the oldest goes first.
const MAX_KNOWN: usize = 8;

/// The sentinels, and the master they last named.
pub(super) struct Sentinel {
    sentinels: Vec<Arc<Node>>,
    master_name: String,
    master: ArcSwapOption<Node>,
    /// Masters met so far, so a switch back reuses a node's connection and breaker.
    known: Mutex<Vec<Arc<Node>>>,
    /// Serializes asks; holds when the last one finished.
    asking: tokio::sync::Mutex<()>,
    asked_at_ms: AtomicU64,
    /// How many times the master changed since the store opened.
    pub(super) switches: AtomicU64,
}

impl Sentinel {
    pub(super) fn new(
        infos: Vec<ConnectionInfo>,
        master_name: String,
        config: &RedisConfig,
    ) -> Sentinel {
        let sentinels = infos
            .into_iter()
            .map(|info| {
                // A sentinel has no databases: the URL's is the master's.
                let settings = info.redis_settings().clone().set_db(0);
                let info = info.set_redis_settings(settings);
                Arc::new(Node::new(
                    address_of(&info),
                    info,
                    config.breaker,
                    config.timeout,
                    config.clock.clone(),
                ))
            })
            .collect();
        Sentinel {
            sentinels,
            master_name,
            master: ArcSwapOption::empty(),
            known: Mutex::new(Vec::new()),
            asking: tokio::sync::Mutex::new(()),
            asked_at_ms: AtomicU64::new(0),
            switches: AtomicU64::new(0),
        }
    }

    /// The master as last named, if any.
    pub(super) fn current(&self) -> Option<Arc<Node>> {
        self.master.load_full()
    }

    /// The master if one was named, else the first sentinel: for paths that need some
    /// node and never run against a master behind sentinels (cluster redirects).
    pub(super) fn fallback(&self) -> Arc<Node> {
        self.current().unwrap_or_else(|| self.sentinels[0].clone())
    }

    /// Whether the sentinels have been asked at least once.
    pub(super) fn ever_asked(&self) -> bool {
        self.asked_at_ms.load(SeqCst) != 0
    }

    /// The node for `host:port`: a known one (its connection and breaker kept), or new.
    fn node_for(&self, host: &str, port: u16, config: &RedisConfig) -> Arc<Node> {
        let address = format!("{host}:{port}");
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(node) = known.iter().find(|n| n.address == address) {
            return node.clone();
        }
        let node = Arc::new(node_like(&self.sentinels[0], host, port, config));
        if known.len() >= MAX_KNOWN {
            known.remove(0);
        }
        known.push(node.clone());
        node
    }
}

impl RedisStore {
    /// The master to send a command to: the one last named while it answers, else the one
    /// the sentinels name now.
    pub(super) async fn sentinel_master(&self, sentinel: &Sentinel) -> Result<Arc<Node>> {
        if let Some(master) = sentinel.current().filter(|m| !m.breaker.is_open()) {
            return Ok(master);
        }
        self.ask_sentinels(sentinel).await;
        sentinel.current().ok_or_else(|| Error::Unavailable {
            tier: TIER,
            reason: format!("no sentinel named a master for {:?}", sentinel.master_name),
        })
    }

    /// Asks the sentinels which server is the master and switches to it if it says it is
    /// one. Callers arriving while an ask runs wait for it and use its result; asks are
    /// at most one per [`ASK_THROTTLE_MS`].
    pub(super) async fn ask_sentinels(&self, sentinel: &Sentinel) {
        let asked_at = self.config.clock.now_ms();
        let _asking = sentinel.asking.lock().await;
        let last = sentinel.asked_at_ms.load(SeqCst);
        if last >= asked_at || asked_at.saturating_sub(last) < ASK_THROTTLE_MS {
            return;
        }
        let named = self.named_master(sentinel).await;
        sentinel
            .asked_at_ms
            .store(self.config.clock.now_ms().max(1), SeqCst);
        let Some((host, port)) = named else {
            tracing::warn!(master = %sentinel.master_name, "redis: no sentinel named the master");
            return;
        };
        let candidate = sentinel.node_for(&host, port, &self.config);
        if sentinel
            .current()
            .is_some_and(|m| Arc::ptr_eq(&m, &candidate))
        {
            return;
        }
        if !is_master(&candidate).await {
            // A sentinel named a server that is not (or not yet) a master: keep what we
            // have and ask again later.
            tracing::debug!(node = %candidate.address, "redis: the named master says it is not one");
            return;
        }
        let before = sentinel.master.swap(Some(candidate.clone()));
        if let Some(before) = before {
            sentinel.switches.fetch_add(1, SeqCst);
            tracing::warn!(
                from = %before.address,
                to = %candidate.address,
                "redis: the sentinels moved the master; L1 copies dropped"
            );
            // Writes the old master acknowledged last may not have reached the new one.
            self.relay_lost();
        }
    }

    /// The address most answering sentinels give for the master.
    async fn named_master(&self, sentinel: &Sentinel) -> Option<(String, u16)> {
        let cmd = redis::cmd("SENTINEL")
            .arg("get-master-addr-by-name")
            .arg(&sentinel.master_name)
            .to_owned();
        let replies = join_all(
            sentinel
                .sentinels
                .iter()
                .map(|node| node.call::<Option<(String, u16)>>(&cmd)),
        )
        .await;
        let mut votes: Vec<((String, u16), usize)> = Vec::new();
        for address in replies.into_iter().filter_map(|r| r.ok().flatten()) {
            match votes.iter_mut().find(|(a, _)| *a == address) {
                Some((_, n)) => *n += 1,
                None => votes.push((address, 1)),
            }
        }
        // The most votes; on a tie, the first sentinel's answer.
        let most = votes.iter().map(|(_, n)| *n).max()?;
        votes.into_iter().find(|(_, n)| *n == most).map(|(a, _)| a)
    }

    fn relay_lost(&self) {
        self.subscribed.store(false, SeqCst);
        self.relay(Remote::Lost);
    }
}

/// Whether `node` answers `ROLE` with `master`.
async fn is_master(node: &Node) -> bool {
    match node.call::<Value>(&redis::cmd("ROLE")).await {
        Ok(Value::Array(parts)) => matches!(
            parts.first(),
            Some(Value::BulkString(role)) if role == b"master"
        ),
        _ => false,
    }
}
