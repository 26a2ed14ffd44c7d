//! Test fixtures for hoard's crates: temporary directories, child processes, and real
//! `redis-server` processes (one server, a cluster, or a master and replica watched by
//! sentinels) on free loopback ports.
//!
//! Test-only (`publish = false`). Every fixture cleans up when dropped, including when the
//! test that holds it panics.

pub mod fuzz;
mod redis;
mod sentinel;
pub mod stores;

pub use redis::{redis_available, RedisCluster, RedisServer};
pub use sentinel::{RedisSentinels, MASTER_NAME};

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

pub use tempfile::TempDir;

/// A fresh temporary directory, removed on drop.
pub fn temp_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("hoard-test-")
        .tempdir()
        .expect("creating a temporary directory")
}

/// A child process that is killed (SIGKILL) and reaped on drop, so a panicking test never
/// leaves it running. On Unix the child leads a process group of its own and the kill goes
/// to the whole group: a server that forks workers (uvicorn `--workers 2`) leaves none
/// behind holding the caller's output pipe.
pub struct ChildGuard {
    child: Child,
    lines: BufReader<ChildStdout>,
}

impl ChildGuard {
    /// Spawns `command` with stdout piped for [`ChildGuard::read_line`].
    pub fn spawn(mut command: Command) -> ChildGuard {
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawning child process");
        let stdout = child.stdout.take().expect("stdout is piped");
        ChildGuard {
            child,
            lines: BufReader::new(stdout),
        }
    }

    /// The next line the child printed, without its newline; `None` at end of output.
    pub fn read_line(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.lines.read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line.trim_end().to_owned()),
        }
    }

    /// Reads the child's `acked N` lines (one per write it acknowledged, counting from 0)
    /// until `n` writes were acknowledged or its output ends; returns how many were.
    /// Panics on any other line.
    pub fn read_acks(&mut self, n: u64) -> u64 {
        let mut acked = 0;
        while acked < n {
            let Some(line) = self.read_line() else { break };
            let i: u64 = line
                .strip_prefix("acked ")
                .and_then(|i| i.parse().ok())
                .unwrap_or_else(|| panic!("unexpected child output {line:?}"));
            acked = i + 1;
        }
        acked
    }

    /// Kills the child with SIGKILL (no chance to flush or clean up) and waits for it.
    pub fn kill_hard(&mut self) {
        // The group this child leads (see `spawn`): it and what it started.
        #[cfg(unix)]
        if let Some(group) = i32::try_from(self.child.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill_hard();
    }
}

/// Polls `done` every 10 ms until it holds or `timeout` passes; returns whether it held.
///
/// For waiting on background work (a sweeper, a server coming up) without a fixed sleep.
pub fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Total size in bytes of the regular files under `dir`.
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_guard_reads_lines_and_kills_on_drop() {
        let mut command = Command::new("sh");
        command.args(["-c", "echo ready; exec sleep 30"]);
        let mut child = ChildGuard::spawn(command);
        assert_eq!(child.read_line().as_deref(), Some("ready"));
        let pid = child.id();
        let proc_path = format!("/proc/{pid}");
        assert!(Path::new(&proc_path).exists());
        drop(child);
        assert!(
            !Path::new(&proc_path).exists(),
            "child {pid} still running after drop"
        );
    }

    #[test]
    fn wait_until_reports_timeouts() {
        let start = Instant::now();
        assert!(!wait_until(Duration::from_millis(50), || false));
        assert!(start.elapsed() >= Duration::from_millis(50));
        let mut calls = 0;
        assert!(wait_until(Duration::from_secs(5), || {
            calls += 1;
            calls == 3
        }));
    }

    #[test]
    fn dir_size_counts_nested_files() {
        let dir = temp_dir();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("a"), [0u8; 10]).unwrap();
        std::fs::write(dir.path().join("sub/b"), [0u8; 32]).unwrap();
        assert_eq!(dir_size(dir.path()), 42);
    }

    /// Dropping the guard kills what the child started too: a worker left behind would
    /// hold the caller's output pipe open (a bench piped into `tail` never ended).
    #[cfg(target_os = "linux")]
    #[test]
    fn dropping_a_guard_kills_the_childs_children() {
        let mut command = Command::new("sh");
        command.args(["-c", "sleep 300 & echo $!; wait"]);
        let mut guard = ChildGuard::spawn(command);
        let worker = guard.read_line().unwrap();
        let proc = Path::new("/proc").join(worker.trim());
        assert!(proc.exists(), "the worker {worker} is not running");
        drop(guard);
        // Killed, it is reparented and reaped by init; its /proc entry then goes.
        let gone = wait_until(Duration::from_secs(10), || {
            std::fs::read_to_string(proc.join("stat"))
                .map(|stat| stat.contains(") Z "))
                .unwrap_or(true)
        });
        assert!(gone, "the worker {worker} outlived the guard");
    }
}
