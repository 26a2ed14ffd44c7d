//! What a `hoard.Cache` was asked to open, kept so that a child process after `fork()` can
//! open the same cache again.

use std::path::PathBuf;

/// Where L2 lives.
#[derive(Clone)]
pub(super) enum Tier {
    Memory,
    Disk(PathBuf),
    Redis(String),
    /// The cluster's seed nodes: the client finds the other nodes from them.
    Cluster(Vec<String>),
    /// The sentinels' URLs and the master's name: the master is whichever they name.
    Sentinel(Vec<String>, String),
    /// The `[cache]` section of the server's configuration file.
    Config(Box<hoard_config::CacheSection>),
}

/// How to open the cache (again, after a fork).
#[derive(Clone)]
pub(super) struct Spec {
    pub(super) tier: Tier,
    pub(super) memory: u64,
    pub(super) default_ttl: std::time::Duration,
    pub(super) key_prefix: String,
    pub(super) dependencies: bool,
}

impl Spec {
    /// Opens the cache this spec describes.
    pub(super) fn open(&self) -> hoard::Result<hoard::Cache> {
        let builder = hoard::Cache::builder()
            .memory_bytes(self.memory)
            .default_ttl(self.default_ttl)
            .dependencies(self.dependencies);
        match &self.tier {
            Tier::Memory => builder.build(),
            Tier::Disk(path) => builder.disk(hoard::DiskConfig::new(path)).build(),
            Tier::Redis(url) => builder
                .redis(hoard::RedisConfig::standalone(url).key_prefix(&self.key_prefix))
                .build(),
            Tier::Cluster(nodes) => builder
                .redis(hoard::RedisConfig::cluster(nodes.clone()).key_prefix(&self.key_prefix))
                .build(),
            Tier::Sentinel(sentinels, master) => builder
                .redis(
                    hoard::RedisConfig::sentinel(sentinels.clone(), master)
                        .key_prefix(&self.key_prefix),
                )
                .build(),
            Tier::Config(section) => section.open(),
        }
    }
}

/// The open cache and the fork generation it was opened in.
pub(super) struct Opened {
    pub(super) generation: u64,
    pub(super) cache: hoard::Cache,
}

/// What `repr(cache)` says about where L2 lives (passwords left out).
pub(super) fn describe(tier: &Tier) -> String {
    match tier {
        Tier::Disk(path) => format!("memory + disk {}", path.display()),
        Tier::Redis(url) => format!("memory + redis {}", redact(url)),
        Tier::Cluster(nodes) => format!("memory + redis cluster ({} seeds)", nodes.len()),
        Tier::Sentinel(sentinels, master) => format!(
            "memory + redis master {master:?} ({} sentinels)",
            sentinels.len()
        ),
        Tier::Memory | Tier::Config(_) => "memory".to_owned(),
    }
}

/// A Redis URL without its password, for `repr`.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}
