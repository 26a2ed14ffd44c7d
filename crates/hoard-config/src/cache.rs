//! The `[cache]` section, and the cache it describes.

use crate::de;
use hoard_models::size::ByteSize;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// The `[cache]` section: L1's budget, the TTL of entries written without one, and where L2
/// lives (the embedded disk tier, a Redis, a master behind Redis Sentinel, or a Redis
/// Cluster).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct CacheSection {
    /// Where the embedded L2 lives (default `.hoard`).
    pub data_dir: PathBuf,
    /// L1 budget (default `256MiB`).
    #[serde(deserialize_with = "de::size")]
    pub memory: ByteSize,
    /// What the disk tier may use for itself, its block cache and unflushed writes
    /// (default `64MiB`).
    #[serde(deserialize_with = "de::size")]
    pub disk_memory: ByteSize,
    /// TTL of entries written without one (default `1h`; never zero).
    #[serde(deserialize_with = "de::positive_duration")]
    pub default_ttl: Duration,
    /// Redis as L2 (`redis://...` or `rediss://...`); empty for the embedded disk tier.
    pub redis_url: String,
    /// Redis Cluster seed nodes, instead of `redis_url`.
    pub redis_cluster: Vec<String>,
    /// Redis Sentinel URLs (`redis://host:26379`), instead of `redis_url`: the master is
    /// whichever server they name for `sentinel_master`, followed across failovers.
    pub redis_sentinel: Vec<String>,
    /// The name the sentinels monitor the master by (default `mymaster`).
    pub sentinel_master: String,
    /// Prefix of every Redis key (default `hoard:`).
    pub key_prefix: String,
}

impl Default for CacheSection {
    fn default() -> Self {
        CacheSection {
            data_dir: PathBuf::from(".hoard"),
            memory: ByteSize::mib(256),
            disk_memory: ByteSize::b(hoard::store::DEFAULT_DISK_MEMORY_BYTES),
            default_ttl: hoard::ttl::LONG,
            redis_url: String::new(),
            redis_cluster: Vec::new(),
            redis_sentinel: Vec::new(),
            sentinel_master: "mymaster".into(),
            key_prefix: "hoard:".into(),
        }
    }
}

/// Where L2 lives, as `[cache]` chooses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum L2 {
    /// The embedded disk tier in `data_dir`.
    Disk,
    /// One Redis server, `redis_url`.
    Redis,
    /// A Redis Cluster, from the seeds in `redis_cluster`.
    RedisCluster,
    /// The master the sentinels of `redis_sentinel` name.
    RedisSentinel,
}

impl CacheSection {
    /// Where L2 lives.
    pub fn l2(&self) -> L2 {
        if !self.redis_cluster.is_empty() {
            L2::RedisCluster
        } else if !self.redis_sentinel.is_empty() {
            L2::RedisSentinel
        } else if !self.redis_url.is_empty() {
            L2::Redis
        } else {
            L2::Disk
        }
    }

    /// Where L2 lives, for a log line: `disk at .hoard`, `redis`, `redis cluster` (no URL:
    /// it may hold a password).
    pub fn describe_l2(&self) -> String {
        match self.l2() {
            L2::Disk => format!("disk at {}", self.data_dir.display()),
            L2::Redis => "redis".to_owned(),
            L2::RedisCluster => "redis cluster".to_owned(),
            L2::RedisSentinel => format!("redis master {:?} via sentinels", self.sentinel_master),
        }
    }

    /// The builder of the cache this section describes, for a caller to add to (the
    /// Python package adds dependency tracking).
    pub fn builder(&self) -> hoard::CacheBuilder {
        let builder = hoard::Cache::builder()
            .memory_bytes(self.memory.as_u64())
            .default_ttl(self.default_ttl);
        match self.l2() {
            L2::RedisCluster => builder.redis(
                hoard::RedisConfig::cluster(self.redis_cluster.clone())
                    .key_prefix(&self.key_prefix),
            ),
            L2::RedisSentinel => builder.redis(
                hoard::RedisConfig::sentinel(self.redis_sentinel.clone(), &self.sentinel_master)
                    .key_prefix(&self.key_prefix),
            ),
            L2::Redis => builder.redis(
                hoard::RedisConfig::standalone(&self.redis_url).key_prefix(&self.key_prefix),
            ),
            L2::Disk => builder.disk(
                hoard::DiskConfig::new(&self.data_dir).memory_bytes(self.disk_memory.as_u64()),
            ),
        }
    }

    /// Opens the cache this section describes.
    pub fn open(&self) -> Result<hoard::Cache, hoard::Error> {
        self.builder().build()
    }
}
