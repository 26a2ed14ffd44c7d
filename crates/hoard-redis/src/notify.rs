//! Coherence across processes: every write or invalidation through a `RedisStore` also
//! publishes a message on `{prefix}invalidations`, and each store listens on that channel
//! so its `Cache` can drop L1 copies other processes made stale.
//!
//! Why pub/sub rather than RESP3 client tracking (`CLIENT TRACKING ON BCAST PREFIX`):
//! tracking needs a RESP3 connection per master and per-node bookkeeping for cluster
//! failovers, and it fires on *every* change under the prefix, including our own writes and
//! TTL expiries L1 already handles. Pub/sub rides in the same pipeline as the write (no
//! extra round trip), reaches every node of a cluster from any node, carries the reason
//! (a pattern, a namespace) in one message instead of one per key, and its one weakness,
//! at-most-once delivery, is covered: a listener that loses its connection reports
//! [`Remote::Lost`] and the cache flushes L1, and L1 entries also have a maximum age.
//!
//! Message: `{origin}\n{kind}\n{payload}`, where origin names the publishing store (a
//! store ignores its own messages) and kind is `S` (keys overwritten), `D` (keys deleted),
//! `P` (glob pattern), `X` (key prefix) or `A` (everything); keys are newline-separated.

use crate::node::Node;
use crate::RedisStore;
use futures_util::StreamExt;
use hoard_events::{Remote, RemoteHandler};
use std::sync::Arc;
use std::time::Duration;

impl RedisStore {
    pub(super) fn channel(&self) -> String {
        format!("{}invalidations", self.config.key_prefix)
    }

    pub(super) fn message(&self, kind: char, payload: &str) -> String {
        format!("{}\n{kind}\n{payload}", self.origin)
    }

    /// A message naming keys (without the prefix).
    pub(super) fn keys_message<'a>(
        &self,
        kind: char,
        keys: impl Iterator<Item = &'a str>,
    ) -> String {
        let mut payload = String::new();
        for (i, key) in keys.enumerate() {
            if i > 0 {
                payload.push('\n');
            }
            payload.push_str(key);
        }
        self.message(kind, &payload)
    }

    /// Publishes through any reachable node (cluster pub/sub reaches every node).
    pub(super) async fn publish(&self, message: String) {
        if !self.config.coherence {
            return;
        }
        let nodes = match self.masters().await {
            Ok(nodes) => nodes,
            Err(error) => {
                tracing::debug!(%error, "redis: invalidation not published");
                return;
            }
        };
        let cmd = redis::cmd("PUBLISH")
            .arg(self.channel())
            .arg(message)
            .to_owned();
        for node in nodes {
            if node.call::<i64>(&cmd).await.is_ok() {
                return;
            }
        }
        tracing::debug!("redis: invalidation not published: no node answered");
    }

    /// Parses a message; `None` for our own messages and for garbage.
    pub(super) fn parse(&self, text: &str) -> Option<Remote> {
        let mut parts = text.splitn(3, '\n');
        let origin = parts.next()?;
        // Our own writes are in our cache already; but with several caches on this store,
        // each must hear the others' (the first of them to drop a copy it just wrote only
        // costs a miss).
        if origin == self.origin && self.handlers.read().map_or(true, |h| h.len() < 2) {
            return None;
        }
        let kind = parts.next()?;
        let payload = parts.next().unwrap_or("");
        let keys = || {
            payload
                .split('\n')
                .filter(|k| !k.is_empty())
                .map(str::to_owned)
                .collect()
        };
        Some(match kind {
            "S" => Remote::Overwritten(keys()),
            "D" => Remote::Deleted(keys()),
            "P" => Remote::Pattern(payload.to_owned()),
            "X" => Remote::Prefix(payload.to_owned()),
            "A" => Remote::All,
            "G" => {
                let (namespace, generation) = payload.split_once('\n')?;
                Remote::Generation(namespace.to_owned(), generation.parse().ok()?)
            }
            _ => return None,
        })
    }

    /// The listener's message parser, for the fuzz tests (`tests/fuzz/invalidation.rs`): not API.
    #[doc(hidden)]
    pub fn parse_invalidation_message(&self, text: &str) -> Option<Remote> {
        self.parse(text)
    }

    /// Adds `handler` to the caches this store relays invalidations to, starting the
    /// listener (on hoard's background runtime) with the first one; the task stops when the
    /// store is dropped. Handlers hear each remote invalidation, and `Connected`/`Lost` as
    /// the subscription comes and goes.
    pub(super) fn start_listening(self: &Arc<Self>, handler: RemoteHandler) {
        let mut handlers = self.handlers.write().unwrap_or_else(|p| p.into_inner());
        handlers.push(handler.clone());
        if handlers.len() > 1 {
            drop(handlers);
            // Joining a listener that is already subscribed: this cache hears from now on.
            if self.subscribed.load(std::sync::atomic::Ordering::SeqCst) {
                handler(Remote::Connected);
            }
            return;
        }
        drop(handlers);
        let store = Arc::downgrade(self);
        let task = hoard_runtime::background().spawn(async move {
            let mut pause = Duration::from_millis(50);
            loop {
                let Some(current) = store.upgrade() else {
                    return;
                };
                let nodes = current.masters().await.unwrap_or_default();
                let channel = current.channel();
                let timeout = current.config.timeout;
                drop(current);
                let began = std::time::Instant::now();
                for node in nodes {
                    if listen_on(&store, &node, &channel, timeout).await {
                        break;
                    }
                }
                // Back off from a server that accepts and then drops us, too: only a session
                // that lasted resets the pause.
                if began.elapsed() > Duration::from_secs(10) {
                    pause = Duration::from_millis(50);
                }
                tokio::time::sleep(pause).await;
                // At most a second between attempts: L1 is distrusted until the listener is
                // back, so its return should follow Redis's closely.
                pause = (pause * 2).min(Duration::from_secs(1));
            }
        });
        if let Ok(mut slot) = self.listener.lock() {
            *slot = Some(task.abort_handle());
        }
    }

    /// Hands `remote` to every listening cache.
    pub(super) fn relay(&self, remote: Remote) {
        let handlers = self
            .handlers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for handler in handlers {
            handler(remote.clone());
        }
    }
}

/// Subscribes through `node` and relays messages until the connection fails. Returns
/// whether it got as far as subscribing.
async fn listen_on(
    store: &std::sync::Weak<RedisStore>,
    node: &Node,
    channel: &str,
    timeout: Duration,
) -> bool {
    let relay = |remote: Remote| {
        if let Some(store) = store.upgrade() {
            store.relay(remote);
        }
    };
    let subscribed = async {
        let client = redis::Client::open(node.info.clone())?;
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(channel).await?;
        redis::RedisResult::Ok(pubsub)
    };
    let pubsub = match tokio::time::timeout(timeout.max(Duration::from_millis(500)), subscribed)
        .await
    {
        Ok(Ok(pubsub)) => pubsub,
        Ok(Err(error)) => {
            tracing::debug!(node = %node.address, %error, "redis: cannot subscribe for invalidations");
            return false;
        }
        Err(_) => return false,
    };
    if let Some(store) = store.upgrade() {
        store
            .subscribed
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
    relay(Remote::Connected);
    let (mut sink, mut stream) = pubsub.split();
    let mut health = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            message = stream.next() => {
                let Some(message) = message else { break };
                                let Some(store) = store.upgrade() else { return true };
                let Ok(text) = message.get_payload::<String>() else { continue };
                if let Some(remote) = store.parse(&text) {
                    store.relay(remote);
                }
            }
            _ = health.tick() => {
                // Behind sentinels: ask them every second, and move to a new master.
                if let Some(store) = store.upgrade() {
                    if let crate::routing::Topology::Sentinel(sentinel) = &store.topology {
                        store.ask_sentinels(sentinel).await;
                    }
                    if !store.still_serves(&node.address) {
                        break;
                    }
                }
                // A silent partition does not close the socket: ping it.
                // In subscribed mode PING answers `["pong", ""]`: any answer will do.
                let ping = tokio::time::timeout(timeout.max(Duration::from_millis(500)), sink.ping::<redis::Value>()).await;
                if !matches!(ping, Ok(Ok(_))) {
                    break;
                }
            }
        }
    }
    tracing::warn!(node = %node.address, "redis: invalidation listener lost its connection");
    if let Some(store) = store.upgrade() {
        store
            .subscribed
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }
    relay(Remote::Lost);
    true
}
