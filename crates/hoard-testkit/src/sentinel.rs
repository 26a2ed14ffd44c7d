//! A Redis Sentinel set on loopback: a master, a replica and three sentinels (quorum 2),
//! real `redis-server` processes (the sentinels run `redis-server CONF --sentinel`), for
//! tests that kill the master and watch hoard follow the failover.

use crate::redis::RedisServer;
use crate::wait_until;
use std::time::Duration;

/// The name the sentinels know the master by.
pub const MASTER_NAME: &str = "mymaster";

/// How long a failover may take here (down after 1 s, then the election).
const FAILOVER: Duration = Duration::from_secs(30);

/// A master, its replica, and three sentinels watching them.
pub struct RedisSentinels {
    /// The servers, the first the master at start.
    pub servers: Vec<RedisServer>,
    /// The sentinels.
    pub sentinels: Vec<RedisServer>,
}

impl RedisSentinels {
    /// Starts the master, a replica synced to it, and three sentinels that agree on both.
    /// The sentinels judge a master down after 1 s without an answer.
    pub fn start() -> RedisSentinels {
        let master = RedisServer::start();
        let master_port = master.port().to_string();
        let replica = RedisServer::start_with(&["--replicaof", "127.0.0.1", &master_port]);
        let synced = wait_until(FAILOVER, || {
            replica
                .cli(&["info", "replication"])
                .contains("master_link_status:up")
        });
        assert!(synced, "the replica never synced with the master");
        let config = format!(
            "port {{port}}\nbind 127.0.0.1\nprotected-mode no\n\
             sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} 2\n\
             sentinel down-after-milliseconds {MASTER_NAME} 1000\n\
             sentinel failover-timeout {MASTER_NAME} 10000\n\
             sentinel parallel-syncs {MASTER_NAME} 1\n"
        );
        let sentinels: Vec<RedisServer> = (0..3)
            .map(|_| RedisServer::start_from_file(&config, &["--sentinel"]))
            .collect();
        let set = RedisSentinels {
            servers: vec![master, replica],
            sentinels,
        };
        // Each sentinel knows the replica and the two other sentinels before any failover.
        let ready = wait_until(FAILOVER, || {
            set.sentinels.iter().all(|s| {
                let info = s.cli(&["sentinel", "master", MASTER_NAME]);
                field(&info, "num-slaves") == Some("1")
                    && field(&info, "num-other-sentinels") == Some("2")
            })
        });
        assert!(ready, "the sentinels never saw each other and the replica");
        set
    }

    /// `redis://127.0.0.1:{port}` of each sentinel.
    pub fn urls(&self) -> Vec<String> {
        self.sentinels.iter().map(RedisServer::url).collect()
    }

    /// The port of the master as the first sentinel that answers names it.
    pub fn master_port(&self) -> Option<u16> {
        self.sentinels.iter().find_map(|s| {
            let reply = s.cli(&["sentinel", "get-master-addr-by-name", MASTER_NAME]);
            reply.lines().nth(1)?.trim().parse().ok()
        })
    }

    /// The server that is the master now, by the sentinels.
    pub fn master(&mut self) -> &mut RedisServer {
        let port = self.master_port().expect("a sentinel names the master");
        self.servers
            .iter_mut()
            .find(|s| s.port() == port)
            .expect("the master is one of the set's servers")
    }

    /// Waits until the sentinels name a master other than `port` and it says it is one;
    /// returns its port.
    pub fn wait_for_new_master(&self, port: u16) -> u16 {
        let mut found = None;
        let switched = wait_until(FAILOVER, || {
            found = self.master_port().filter(|p| *p != port);
            found.is_some_and(|p| {
                self.servers
                    .iter()
                    .find(|s| s.port() == p)
                    .is_some_and(|s| s.cli(&["role"]).starts_with("master"))
            })
        });
        assert!(switched, "the sentinels never promoted the replica");
        found.unwrap_or(port)
    }
}

/// The value after `name` in a flat `SENTINEL MASTER` reply as redis-cli prints it.
fn field<'a>(reply: &'a str, name: &str) -> Option<&'a str> {
    let mut lines = reply.lines().map(str::trim);
    while let Some(line) = lines.next() {
        if line == name {
            return lines.next();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sentinels_promote_the_replica_when_the_master_dies() {
        let mut set = RedisSentinels::start();
        let first = set.master_port().unwrap();
        set.master().cli(&["set", "k", "v"]);
        set.master().kill();
        let second = set.wait_for_new_master(first);
        assert_ne!(first, second);
        assert_eq!(set.master().cli(&["get", "k"]), "v");
    }
}
