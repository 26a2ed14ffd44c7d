//! The Redis tier: standalone Redis, a master found through Redis Sentinel, or a Redis
//! Cluster, on redis-rs.
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
//! [`Error::Unavailable`]; the cache (`hoard::Cache`) turns that into a miss for reads and
//! an L1-only write. Connections are re-established by themselves (redis-rs'
//! `ConnectionManager`), a cluster's slot map is refreshed on `MOVED` or errors, and the
//! sentinels are asked for the master again when it stops answering (`sentinel.rs`).

mod breaker;
mod config;
mod node;
mod notify;
mod queue;
mod routing;
mod scripts;
mod sentinel;
mod slot;
mod store;
mod tier;

pub use breaker::BreakerConfig;
pub use config::RedisConfig;
pub use store::RedisStore;

const TIER: &str = "redis";

/// The Redis Cluster slot of a full Redis key (prefix included), as `CLUSTER KEYSLOT`
/// computes it.
pub fn cluster_slot(redis_key: &str) -> u16 {
    slot::slot(redis_key.as_bytes())
}
