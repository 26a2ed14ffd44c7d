//! The `[server]` section: where `hoard serve` listens, who may do what, and how long and
//! how many connections it serves.

use crate::de;
use hoard_models::size::ByteSize;
use serde::Deserialize;
use std::net::SocketAddr;
use std::time::Duration;

/// The `[server]` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ServerSection {
    /// Address to listen on (default `127.0.0.1:7070`).
    #[serde(deserialize_with = "de::addr")]
    pub addr: SocketAddr,
    /// Largest request body (default `16MiB`).
    #[serde(deserialize_with = "de::size")]
    pub max_body: ByteSize,
    /// Bearer token of the admin routes; empty: `$HOARD_ADMIN_TOKEN`, else generated
    /// (when `admin_tokens` is empty too).
    #[serde(deserialize_with = "de::optional_token")]
    pub admin_token: String,
    /// More admin tokens (scope `admin`: every route).
    #[serde(deserialize_with = "de::tokens")]
    pub admin_tokens: Vec<String>,
    /// Tokens of scope `write` (reads and writes, not admin routes). With any read or write
    /// token, reads and writes need a token; without, they are open.
    #[serde(deserialize_with = "de::tokens")]
    pub write_tokens: Vec<String>,
    /// Tokens of scope `read`.
    #[serde(deserialize_with = "de::tokens")]
    pub read_tokens: Vec<String>,
    /// Serve on a non-loopback address without read or write tokens (open to anyone who
    /// can reach it); `hoard serve` refuses to otherwise.
    pub insecure: bool,
    /// Most keys or hashes in one batch request (default 1000).
    #[serde(deserialize_with = "de::count")]
    pub max_batch: usize,
    /// Longest a request head may take to arrive (default `10s`): from the accept for a
    /// connection's first request, from its first byte for later ones.
    #[serde(deserialize_with = "de::timeout")]
    pub header_read_timeout: Duration,
    /// Longest a kept-alive connection waits for its next request, and longest a response
    /// may make no progress because the client reads nothing (default `60s`).
    #[serde(deserialize_with = "de::timeout")]
    pub idle_timeout: Duration,
    /// Longest a request body may take to arrive after its head (default `60s`; 408 past
    /// it).
    #[serde(deserialize_with = "de::timeout")]
    pub body_read_timeout: Duration,
    /// Most connections served at once (default 10000); more are answered 503 and closed.
    /// `hoard serve` keeps it below its open-file limit.
    #[serde(deserialize_with = "de::count")]
    pub max_connections: usize,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            addr: SocketAddr::from(([127, 0, 0, 1], 7070)),
            max_body: ByteSize::mib(16),
            admin_token: String::new(),
            admin_tokens: Vec::new(),
            write_tokens: Vec::new(),
            read_tokens: Vec::new(),
            insecure: false,
            max_batch: 1000,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_read_timeout: Duration::from_secs(60),
            max_connections: 10_000,
        }
    }
}

impl ServerSection {
    /// `max_body` in bytes, as the router limits bodies.
    pub fn max_body_bytes(&self) -> usize {
        usize::try_from(self.max_body.as_u64()).unwrap_or(usize::MAX)
    }

    /// Whether an admin token is configured (`admin_token`, `admin_tokens` or
    /// `$HOARD_ADMIN_TOKEN`).
    pub fn has_admin_token(&self) -> bool {
        !self.admin_token.is_empty() || !self.admin_tokens.is_empty()
    }

    /// Whether `addr` is reachable only from this machine.
    pub fn is_loopback(&self) -> bool {
        match self.addr.ip() {
            std::net::IpAddr::V4(ip) => ip.is_loopback(),
            std::net::IpAddr::V6(ip) => {
                ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
            }
        }
    }

    /// Why serving here would leave reads and writes open to anyone who can reach
    /// `addr`: a non-loopback address needs read or write tokens, or `insecure`.
    pub fn exposure(&self) -> Option<String> {
        let tokens = !self.read_tokens.is_empty() || !self.write_tokens.is_empty();
        if self.is_loopback() || tokens || self.insecure {
            return None;
        }
        Some(format!(
            "{} is not a loopback address, and with no read or write tokens anyone who \
             can reach it could read and change the cache. Configure tokens ([server] \
             read_tokens / write_tokens, or $HOARD_READ_TOKEN / $HOARD_WRITE_TOKEN, \
             comma-separated), or pass --insecure ([server] insecure = true) to serve it \
             open anyway",
            self.addr
        ))
    }
}
