//! Real `redis-server` processes on free loopback ports: one server, or a Redis Cluster.
//!
//! Each server runs under a small `sh` watchdog that kills it when the test process goes
//! away, so a server shared through a `static` (whose destructor never runs) or left by a
//! test that panicked or was killed does not outlive the test run. Dropping a fixture kills
//! its servers at once.

use crate::{wait_until, TempDir};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long a server may take to answer its first PING.
const STARTUP: Duration = Duration::from_secs(20);

/// Whether `redis-server` and `redis-cli` are on the PATH (scripts/test installs them).
pub fn redis_available() -> bool {
    ["redis-server", "redis-cli"].iter().all(|bin| {
        Command::new(bin)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// A loopback port nobody listens on now. With `cluster_bus`, port + 10000 is free too
/// (Redis Cluster's bus port), which also keeps the port below 55536.
fn free_port(cluster_bus: bool) -> u16 {
    for _ in 0..200 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
        let port = listener.local_addr().expect("local address").port();
        if !cluster_bus {
            return port;
        }
        if port <= 55_535 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port found");
}

/// One `redis-server` on 127.0.0.1, with its own data directory.
pub struct RedisServer {
    port: u16,
    args: Vec<String>,
    password: Option<String>,
    dir: TempDir,
    process: Option<Watched>,
    /// Files the server needs beyond its data dir (TLS certificates).
    keep_dir: Option<TempDir>,
    /// A configuration file the server starts from (in `dir`, written before the first
    /// start; Sentinel rewrites its own).
    config_file: Option<String>,
}

/// The watchdog shell of one server. Its stdin is a pipe from the test process: when that
/// closes (we drop it, or the test process dies however it dies), the shell kills the
/// server with SIGKILL and reaps it.
struct Watched {
    watchdog: Child,
}

impl Watched {
    fn kill(&mut self) {
        drop(self.watchdog.stdin.take());
        let _ = self.watchdog.wait();
    }
}

impl RedisServer {
    /// Starts a server with no persistence on a free port.
    pub fn start() -> RedisServer {
        RedisServer::start_with(&[])
    }

    /// Starts a server with extra `redis-server` arguments, such as
    /// `["--requirepass", "secret"]`.
    pub fn start_with(args: &[&str]) -> RedisServer {
        Self::start_inner(args, false)
    }

    fn start_inner(args: &[&str], cluster: bool) -> RedisServer {
        Self::start_configured(None, args, cluster)
    }

    /// Starts a server from a configuration file with `text` (the file comes first on the
    /// command line, as redis-server wants), then `args`; `{port}` in `text` is the port.
    pub(crate) fn start_from_file(text: &str, args: &[&str]) -> RedisServer {
        Self::start_configured(Some(text), args, false)
    }

    fn start_configured(config: Option<&str>, args: &[&str], cluster: bool) -> RedisServer {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let mut last_error = String::new();
        for _ in 0..5 {
            match RedisServer::try_start(config, args.clone(), cluster) {
                Ok(server) => return server,
                // Another process took the port between our probe and the bind: retry.
                Err(error) => last_error = error,
            }
        }
        panic!("redis-server did not start: {last_error}");
    }

    fn try_start(
        config: Option<&str>,
        args: Vec<String>,
        cluster: bool,
    ) -> Result<RedisServer, String> {
        let password = args
            .iter()
            .position(|a| a == "--requirepass")
            .and_then(|i| args.get(i + 1).cloned());
        let mut server = RedisServer {
            port: free_port(cluster),
            args,
            password,
            dir: crate::temp_dir(),
            process: None,
            keep_dir: None,
            config_file: None,
        };
        if let Some(text) = config {
            let text = text.replace("{port}", &server.port.to_string());
            std::fs::write(server.dir.path().join("server.conf"), text)
                .map_err(|e| format!("writing server.conf: {e}"))?;
            server.config_file = Some("server.conf".into());
        }
        server.spawn()?;
        Ok(server)
    }

    fn spawn(&mut self) -> Result<(), String> {
        let mut command = Command::new("sh");
        // The watchdog: start the server, then wait for stdin to close and kill it.
        command
            .arg("-c")
            .arg(
                r#"redis-server "$@" >"$PWD/redis.log" 2>&1 </dev/null &
server=$!
echo "$server"
read -r _
kill -9 "$server" 2>/dev/null
wait "$server" 2>/dev/null"#,
            )
            .arg("sh")
            .args(self.config_file.iter())
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--protected-mode", "no"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(["--dir", &self.dir.path().display().to_string()])
            .args(&self.args)
            .current_dir(self.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut watchdog = command.spawn().map_err(|e| format!("spawning sh: {e}"))?;
        // The shell prints the server's pid once it has started it.
        let mut stdout = watchdog.stdout.take().ok_or("no stdout")?;
        let mut pid = String::new();
        let mut byte = [0u8; 1];
        while stdout
            .read(&mut byte)
            .map_err(|e| format!("watchdog: {e}"))?
            == 1
            && byte[0] != b'\n'
        {
            pid.push(char::from(byte[0]));
        }
        let mut watched = Watched { watchdog };
        let proc_dir = std::path::PathBuf::from(format!("/proc/{pid}"));
        let mut exited = false;
        let answered = wait_until(STARTUP, || {
            // A server that exited (port taken, bad argument) fails at once, not after
            // the whole start-up wait.
            exited = !proc_dir.exists()
                || std::fs::read_to_string(proc_dir.join("stat")).is_ok_and(|s| s.contains(") Z "));
            exited || self.ping()
        });
        // The answer must come from our server, not another that holds the port.
        let ours = answered
            && !exited
            && self
                .cli(&["info", "server"])
                .contains(&format!("process_id:{pid}"));
        if ours {
            self.process = Some(watched);
            Ok(())
        } else {
            watched.kill();
            let log =
                std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default();
            Err(format!(
                "no answer from our server on port {}: {log}",
                self.port
            ))
        }
    }

    /// Whether the server answers a PING (an auth error counts as an answer).
    pub fn ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        if stream.write_all(b"PING\r\n").is_err() {
            return false;
        }
        let mut reply = [0u8; 64];
        match stream.read(&mut reply) {
            Ok(n) if n > 0 => reply[0] == b'+' || reply[..n].starts_with(b"-NOAUTH"),
            _ => false,
        }
    }

    /// Starts a server that also speaks TLS, with a self-signed certificate for 127.0.0.1
    /// made by `openssl` in the server's directory; see [`RedisServer::tls_url`].
    pub fn start_tls() -> RedisServer {
        let certs = crate::temp_dir();
        let (cert, key) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
        let made = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args([
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(made, "openssl could not make a test certificate");
        let (cert, key) = (cert.display().to_string(), key.display().to_string());
        let mut last_error = String::new();
        for _ in 0..5 {
            // A fresh TLS port each attempt: the last one may have been taken.
            let args: Vec<String> = [
                "--tls-port",
                &free_port(false).to_string(),
                "--tls-cert-file",
                &cert,
                "--tls-key-file",
                &key,
                "--tls-ca-cert-file",
                &cert,
                "--tls-auth-clients",
                "no",
            ]
            .iter()
            .map(|a| a.to_string())
            .collect();
            match RedisServer::try_start(None, args, false) {
                Ok(mut server) => {
                    server.keep_dir = Some(certs);
                    return server;
                }
                Err(error) => last_error = error,
            }
        }
        panic!("redis-server with TLS did not start: {last_error}");
    }

    /// `rediss://127.0.0.1:{tls port}/#insecure` for a server from
    /// [`RedisServer::start_tls`] (self-signed, so verification is off).
    pub fn tls_url(&self) -> Option<String> {
        let i = self.args.iter().position(|a| a == "--tls-port")?;
        Some(format!(
            "rediss://127.0.0.1:{}/#insecure",
            self.args.get(i + 1)?
        ))
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:{port}` (add credentials or a db index yourself).
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
    }

    /// Starts the server again on the same port and data directory.
    pub fn restart(&mut self) {
        self.kill();
        if let Err(error) = self.spawn() {
            panic!("redis-server did not restart: {error}");
        }
    }

    /// Runs `redis-cli` against this server and returns its trimmed output.
    pub fn cli(&self, args: &[&str]) -> String {
        let mut command = Command::new("redis-cli");
        command.args(["-h", "127.0.0.1", "-p", &self.port.to_string()]);
        if let Some(password) = &self.password {
            command.args(["--no-auth-warning", "-a", password]);
        }
        let output = command.args(args).output().expect("running redis-cli");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A Redis Cluster of masters (no replicas) on loopback, slots spread evenly.
///
/// Started with `cluster-require-full-coverage no`, so when a test kills a node the others
/// keep serving their own slots.
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts `masters` nodes (at least 3) and joins them with `redis-cli --cluster create`.
    pub fn start(masters: usize) -> RedisCluster {
        assert!(masters >= 3, "Redis Cluster needs at least 3 masters");
        let nodes: Vec<RedisServer> = (0..masters)
            .map(|_| {
                RedisServer::start_inner(
                    &[
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-node-timeout",
                        "1000",
                        "--cluster-require-full-coverage",
                        "no",
                    ],
                    true,
                )
            })
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let output = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("running redis-cli --cluster create");
        assert!(
            output.status.success(),
            "cluster create failed: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        let cluster = RedisCluster { nodes };
        let ready = wait_until(STARTUP, || {
            cluster
                .nodes
                .iter()
                .all(|n| n.cli(&["cluster", "info"]).contains("cluster_state:ok"))
        });
        assert!(ready, "cluster never reached cluster_state:ok");
        cluster
    }

    /// `redis://` URLs of every node, to use as seeds.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// The nodes, in start order.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// One node, mutably (to kill or restart it).
    pub fn node_mut(&mut self, index: usize) -> &mut RedisServer {
        &mut self.nodes[index]
    }

    /// The index of the node serving `slot`, as the cluster itself reports it.
    pub fn node_for_slot(&self, slot: u16) -> usize {
        self.slot_owners()[slot as usize].unwrap_or_else(|| panic!("no node serves slot {slot}"))
    }

    /// For each of the 16384 slots, the index of the node serving it, read from one
    /// `CLUSTER NODES` of the first node that answers.
    pub fn slot_owners(&self) -> Vec<Option<usize>> {
        let text = self
            .nodes
            .iter()
            .filter(|n| n.process.is_some())
            .map(|n| n.cli(&["cluster", "nodes"]))
            .find(|t| !t.is_empty())
            .expect("a live cluster node");
        let mut owners = vec![None; 16_384];
        // Lines: `id host:port@bus flags master ping pong epoch state slot...`, where a slot
        // field is `N` or `A-B` (importing/migrating fields start with `[`).
        for line in text.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let Some(port) = fields
                .get(1)
                .and_then(|a| a.split(['@', ':']).nth(1))
                .and_then(|p| p.parse::<u16>().ok())
            else {
                continue;
            };
            let Some(node) = self.nodes.iter().position(|n| n.port == port) else {
                continue;
            };
            for range in fields.iter().skip(8) {
                let (lo, hi) = range.split_once('-').unwrap_or((range, range));
                if let (Ok(lo), Ok(hi)) = (lo.parse::<usize>(), hi.parse::<usize>()) {
                    for owner in owners.iter_mut().take(hi.min(16_383) + 1).skip(lo) {
                        *owner = Some(node);
                    }
                }
            }
        }
        owners
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_starts_answers_and_restarts_on_its_port() {
        let mut server = RedisServer::start();
        assert_eq!(server.cli(&["set", "k", "v"]), "OK");
        assert_eq!(server.cli(&["get", "k"]), "v");
        let port = server.port();
        server.kill();
        assert!(!server.ping(), "killed server still answers");
        server.restart();
        assert_eq!(server.port(), port);
        assert!(server.ping());
        assert_eq!(
            server.cli(&["get", "k"]),
            "",
            "no persistence: data is gone"
        );
    }

    #[test]
    fn password_protected_server() {
        let server = RedisServer::start_with(&["--requirepass", "s3cret"]);
        assert_eq!(server.cli(&["ping"]), "PONG", "cli authenticates itself");
        let bare = Command::new("redis-cli")
            .args(["-p", &server.port().to_string(), "get", "x"])
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&bare.stdout).contains("NOAUTH"));
    }

    #[test]
    fn cluster_spreads_slots_over_its_masters() {
        let cluster = RedisCluster::start(3);
        let owners: std::collections::HashSet<usize> = [0u16, 8000, 16383]
            .iter()
            .map(|&s| cluster.node_for_slot(s))
            .collect();
        assert_eq!(owners.len(), 3, "three ranges, three masters");
        assert_eq!(cluster.urls().len(), 3);
    }
}
