//! [`RedisConfig`]: which Redis, how keys are named, how long a call may take, and what a
//! URL may hold (passwords never reach a message).

use crate::breaker::BreakerConfig;
use crate::RedisStore;
use hoard_core::clock::Clock;
use hoard_core::error::{Error, Result};
use std::time::Duration;

/// Settings of the Redis tier.
#[derive(Clone)]
#[must_use]
pub struct RedisConfig {
    pub(crate) urls: Vec<String>,
    pub(crate) cluster: bool,
    /// The master's name, when `urls` are sentinels.
    pub(crate) sentinel_master: Option<String>,
    pub(crate) key_prefix: String,
    pub(crate) timeout: Duration,
    pub(crate) breaker: BreakerConfig,
    pub(crate) compress_above: usize,
    pub(crate) count_budget: usize,
    pub(crate) coherence: bool,
    pub(crate) clock: Clock,
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
            .field("sentinel_master", &self.sentinel_master)
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

    /// A master found through Redis Sentinel: `sentinels` are the sentinels' URLs
    /// (`redis://host:26379`), `master` the name they monitor it by (`mymaster`). hoard
    /// follows a failover without a restart; the master is reached with the credentials,
    /// database and TLS settings of the first URL.
    pub fn sentinel<I, S>(sentinels: I, master: impl Into<String>) -> RedisConfig
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut config = RedisConfig::new(sentinels.into_iter().map(Into::into).collect(), false);
        config.sentinel_master = Some(master.into());
        config
    }

    fn new(urls: Vec<String>, cluster: bool) -> RedisConfig {
        RedisConfig {
            urls,
            cluster,
            sentinel_master: None,
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

pub(crate) fn config_error(url: &str, e: impl std::fmt::Display) -> Error {
    Error::Config(format!("redis URL {:?}: {e}", redact(url)))
}

/// Readies TLS for `rediss://` URLs: rustls with the *ring* provider, public roots from
/// webpki-roots (append `#insecure` to a URL to skip verification, e.g. self-signed test
/// certificates).
#[cfg(feature = "tls")]
pub(crate) fn enable_tls(_url: &str) -> Result<()> {
    // Fails only when a provider is installed already, which is just as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(())
}

#[cfg(not(feature = "tls"))]
pub(crate) fn enable_tls(url: &str) -> Result<()> {
    Err(config_error(
        url,
        "rediss:// needs TLS support: build hoard with the `tls` cargo feature",
    ))
}

/// The URL without its password (user-info and any `pass=`/`password=` query), for messages.
pub(crate) fn redact(url: &str) -> String {
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
}
