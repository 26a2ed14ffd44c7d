//! Crash safety of the disk tier: what `set` acknowledged is there after `kill -9`.
//!
//! This test has its own `main` (`harness = false`): it runs itself again as a child
//! process (`HOARD_CRASH_CHILD=DIR`) that writes entries and prints an `acked N` line
//! after each `set` returns, then kills that child with SIGKILL mid-stream, reopens the
//! store and checks every acknowledged entry.

use hoard::Cache;
use hoard_testkit::ChildGuard;
use std::process::Command;

const CHILD_ENV: &str = "HOARD_CRASH_CHILD";
const ACKS_BEFORE_KILL: u64 = 500;

fn main() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child(&dir);
        return;
    }
    acknowledged_sets_survive_kill_9();
    println!("test acknowledged_sets_survive_kill_9 ... ok");
    println!("crash: 1 passed, 0 failed");
}

/// Writes `crash:k{i}` = i forever, acknowledging each write on stdout.
fn child(dir: &str) {
    use std::io::Write;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let cache = Cache::open(dir).expect("child opens the cache");
        let mut out = std::io::stdout().lock();
        for i in 0u64.. {
            let value = format!("value-{i}-{}", "x".repeat((i % 50) as usize));
            cache
                .set("crash", &format!("k{i}"), &value)
                .await
                .expect("set");
            writeln!(out, "acked {i}")
                .and_then(|()| out.flush())
                .expect("stdout");
        }
    });
}

fn acknowledged_sets_survive_kill_9() {
    let dir = hoard_testkit::temp_dir();
    let mut command = Command::new(std::env::current_exe().expect("own path"));
    command.env(CHILD_ENV, dir.path());
    let mut child = ChildGuard::spawn(command);
    let acked = child.read_acks(ACKS_BEFORE_KILL);
    // SIGKILL while the child is still writing: no destructor, no final flush.
    child.kill_hard();
    assert!(acked >= ACKS_BEFORE_KILL, "child stopped early at {acked}");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let cache = Cache::open(dir.path()).expect("reopening after the crash");
        for i in 0..acked {
            let value: Option<String> = cache.get("crash", &format!("k{i}")).await.expect("get");
            let expected = format!("value-{i}-{}", "x".repeat((i % 50) as usize));
            assert_eq!(
                value.as_deref(),
                Some(expected.as_str()),
                "acknowledged entry k{i} lost"
            );
        }
    });
}
