//! The `hoard serve` child process of a scenario: its config file, its log, its memory.

use super::client::{Client, Outcome};
use anyhow::Context;
use hoard_testkit::ChildGuard;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to answer its first `/health`.
const STARTUP: Duration = Duration::from_secs(30);

/// A loopback port nobody listens on now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A string as a TOML basic string (JSON's escapes are TOML's).
pub fn toml_string(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

/// A scenario's folder: `hoard.toml`, the data dir, the server's log.
pub struct Workdir {
    /// Removed on drop.
    pub dir: tempfile::TempDir,
}

impl Workdir {
    /// A fresh folder whose `hoard.toml` holds `[cache] data_dir` (inside it), `memory`,
    /// an admin token, and `extra` (more TOML, such as `[datasets.ID]` sections).
    pub fn new(memory: &str, extra: &str) -> anyhow::Result<Workdir> {
        let dir = tempfile::Builder::new()
            .prefix("hoard-reliability-")
            .tempdir()?;
        let workdir = Workdir { dir };
        workdir.configure(&format!("memory = {}\n", toml_string(memory)), extra)?;
        Ok(workdir)
    }

    /// Writes `hoard.toml` again: `cache` lines go in `[cache]` after `data_dir`.
    pub fn configure(&self, cache: &str, extra: &str) -> anyhow::Result<()> {
        let data = self.dir.path().join("data");
        let config = format!(
            "[cache]\ndata_dir = {}\n{cache}\n[server]\nadmin_token = \"reliability-bench-admin-token\"\n\n{extra}",
            toml_string(&data.display().to_string()),
        );
        std::fs::write(self.config(), config)?;
        Ok(())
    }

    /// The config file.
    pub fn config(&self) -> PathBuf {
        self.dir.path().join("hoard.toml")
    }

    /// The server's stderr (appended to across restarts).
    pub fn log(&self) -> PathBuf {
        self.dir.path().join("hoard.log")
    }
}

/// A running `hoard serve`, killed (SIGKILL) when dropped.
pub struct Hoard {
    child: ChildGuard,
    /// Where it listens.
    pub addr: SocketAddr,
    log: PathBuf,
}

impl Hoard {
    /// Starts `bin serve --config {workdir}/hoard.toml --addr 127.0.0.1:{port}` plus
    /// `extra` flags, and waits for `/health` to answer 200.
    pub async fn start(
        bin: &Path,
        workdir: &Workdir,
        port: u16,
        extra: &[&str],
    ) -> anyhow::Result<Hoard> {
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let log = workdir.log();
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("opening {}", log.display()))?;
        let mut command = Command::new(bin);
        command
            .arg("serve")
            .arg("--config")
            .arg(workdir.config())
            .args(["--addr", &addr.to_string()])
            .args(extra)
            .current_dir(workdir.dir.path())
            .stdin(Stdio::null())
            .stderr(stderr);
        // Only the config file speaks: no HOARD_* variable of the caller's shell.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("HOARD_") {
                command.env_remove(&name);
            }
        }
        let child = ChildGuard::spawn(command);
        let mut hoard = Hoard { child, addr, log };
        let began = Instant::now();
        let mut client = Client::new(addr, Duration::from_secs(2));
        loop {
            if let Outcome::Answered(r) = client.get("/health").await {
                if r.status == 200 {
                    return Ok(hoard);
                }
            }
            if !hoard.alive() {
                anyhow::bail!(
                    "hoard serve exited at start; its log ends:\n{}",
                    hoard.log_tail()
                );
            }
            if began.elapsed() > STARTUP {
                hoard.kill9();
                anyhow::bail!(
                    "hoard serve did not answer /health within {STARTUP:?}; its log ends:\n{}",
                    hoard.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running (not exited, not a zombie).
    pub fn alive(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))
            .is_ok_and(|stat| !stat.contains(") Z ") && !stat.contains(") X "))
    }

    /// `VmRSS` in bytes.
    pub fn rss(&self) -> Option<u64> {
        rss_of(self.pid())
    }

    /// Open file descriptors, and how many of them are sockets.
    pub fn fds(&self) -> (usize, usize) {
        fds_of(self.pid())
    }

    /// The soft `Max open files` limit from `/proc/{pid}/limits`.
    pub fn fd_limit(&self) -> Option<u64> {
        let limits = std::fs::read_to_string(format!("/proc/{}/limits", self.pid())).ok()?;
        let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
        line.split_whitespace().nth(3)?.parse().ok()
    }

    /// SIGKILL, and reap.
    pub fn kill9(&mut self) {
        self.child.kill_hard();
    }

    /// The last lines of the server's log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

/// `VmRSS` from `/proc/{pid}/status`, in bytes.
pub fn rss_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Open file descriptors of `pid` (from `/proc/{pid}/fd`), and how many are sockets.
pub fn fds_of(pid: u32) -> (usize, usize) {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return (0, 0);
    };
    let mut all = 0;
    let mut sockets = 0;
    for entry in entries.flatten() {
        all += 1;
        if std::fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"))
        {
            sockets += 1;
        }
    }
    (all, sockets)
}
