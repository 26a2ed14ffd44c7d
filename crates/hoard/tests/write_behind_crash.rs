//! Write-behind through `kill -9`: every write `set` acknowledged reaches the backing store
//! after a restart, and a write handed over twice carries the same id, so a writer that
//! remembers ids applies it once. Once on the disk tier, once on Redis.
//!
//! This test has its own `main` (`harness = false`): it runs itself again as a child
//! (`HOARD_WB_CHILD=disk:DIR` or `redis:URL`) whose writer is slow and fails every
//! fourth batch, so writes are queued when the parent kills it with SIGKILL after
//! [`ACKS_BEFORE_KILL`] acknowledgements. The backing store is a file of lines
//! `id key value`, appended by the writer (the child's, then the parent's), read only by
//! the parent after the restart.

use hoard::{BackingWrite, Cache, DiskConfig, RedisConfig, WriteBehindOptions};
use hoard_testkit::{ChildGuard, RedisServer};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CHILD_ENV: &str = "HOARD_WB_CHILD";
const STORE_ENV: &str = "HOARD_WB_STORE";
const ACKS_BEFORE_KILL: u64 = 400;
const NAMESPACE: &str = "orders";

fn main() {
    if let Ok(target) = std::env::var(CHILD_ENV) {
        let store = PathBuf::from(std::env::var(STORE_ENV).expect("the backing store's path"));
        child(&target, &store);
        return;
    }
    let dir = hoard_testkit::temp_dir();
    let target = format!("disk:{}", dir.path().join("cache").display());
    survives_kill_9("disk", &target, &dir.path().join("store-disk"));
    assert!(
        hoard_testkit::redis_available(),
        "redis-server is needed: scripts/test installs it"
    );
    let redis = RedisServer::start();
    let target = format!("redis:{}", redis.url());
    survives_kill_9("redis", &target, &dir.path().join("store-redis"));
    println!("write_behind_crash: 2 passed, 0 failed");
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn open(target: &str) -> Cache {
    if let Some(dir) = target.strip_prefix("disk:") {
        return Cache::builder()
            .disk(DiskConfig::new(dir))
            .build()
            .expect("disk cache");
    }
    let url = target.strip_prefix("redis:").expect("disk: or redis:");
    Cache::builder()
        .redis(RedisConfig::standalone(url).key_prefix("wb-crash:"))
        .build()
        .expect("redis cache")
}

/// The backing store's writer: appends `id key value` per write to `store` (a `write` to
/// the OS, so it outlives a kill). `slow` and `flaky` make the child's writer lag behind.
fn writer(
    store: &Path,
    slow: bool,
    flaky: bool,
) -> impl Fn(Vec<BackingWrite>) -> futures_util::future::BoxFuture<'static, Result<(), String>>
       + Send
       + Sync
       + 'static {
    let file = Arc::new(Mutex::new(
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(store)
            .expect("backing store file"),
    ));
    let calls = Arc::new(AtomicU64::new(0));
    move |batch: Vec<BackingWrite>| {
        let file = file.clone();
        let call = calls.fetch_add(1, SeqCst);
        Box::pin(async move {
            if flaky && call % 4 == 3 {
                return Err("the database timed out".to_owned());
            }
            let mut lines = String::new();
            for write in &batch {
                let value: String = write
                    .value()
                    .map_err(|e| e.to_string())?
                    .unwrap_or_default();
                let id = write.id.as_deref().unwrap_or("-");
                lines.push_str(&format!("{id} {} {value}\n", write.key));
            }
            file.lock()
                .map_err(|_| "poisoned".to_owned())?
                .write_all(lines.as_bytes())
                .map_err(|e| e.to_string())?;
            // Slow to answer after writing: a kill then often lands between the store
            // having the batch and the queue letting go of it, which hands it over again.
            if slow {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok(())
        })
    }
}

/// Writes `k{i}` = `v{i}` forever through write-behind, acknowledging each on stdout.
fn child(target: &str, store: &Path) {
    let runtime = runtime();
    runtime.block_on(async {
        let cache = open(target);
        let options = WriteBehindOptions::new()
            .batch(8)
            .retry(Duration::from_millis(5), Duration::from_millis(50));
        cache
            .write_behind(NAMESPACE, options, writer(store, true, true))
            .expect("write-behind");
        let mut out = std::io::stdout().lock();
        for i in 0u64.. {
            cache
                .set(NAMESPACE, &format!("k{i}"), &format!("v{i}"))
                .await
                .expect("set");
            writeln!(out, "acked {i}")
                .and_then(|()| out.flush())
                .expect("stdout");
        }
    });
}

/// The store file as `id -> (key, value)` and the number of lines.
fn read_store(store: &Path) -> (BTreeMap<String, (String, String)>, usize, Vec<String>) {
    let text = std::fs::read_to_string(store).unwrap_or_default();
    let mut by_id = BTreeMap::new();
    let mut conflicts = Vec::new();
    let mut lines = 0;
    for line in text.lines() {
        lines += 1;
        let mut parts = line.splitn(3, ' ');
        let (Some(id), Some(key), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
            panic!("a torn line in the backing store: {line:?}");
        };
        let row = (key.to_owned(), value.to_owned());
        if let Some(before) = by_id.insert(id.to_owned(), row.clone()) {
            if before != row {
                conflicts.push(format!("id {id}: {before:?} then {row:?}"));
            }
        }
    }
    (by_id, lines, conflicts)
}

fn survives_kill_9(name: &str, target: &str, store: &Path) {
    let mut command = Command::new(std::env::current_exe().expect("own path"));
    command.env(CHILD_ENV, target).env(STORE_ENV, store);
    let mut child = ChildGuard::spawn(command);
    let acked = child.read_acks(ACKS_BEFORE_KILL);
    // SIGKILL while writes are queued and a batch may be in the writer's hands.
    child.kill_hard();
    assert!(acked >= ACKS_BEFORE_KILL, "child stopped early at {acked}");
    let (before, _, _) = read_store(store);
    let stored_before: BTreeSet<&String> = before.values().map(|(k, _)| k).collect();
    let queued_at_kill = acked.saturating_sub(stored_before.len() as u64);
    assert!(
        queued_at_kill > 0,
        "{name}: the writer had caught up before the kill; the test proves nothing"
    );

    let runtime = runtime();
    runtime.block_on(async {
        let cache = open(target);
        cache
            .write_behind(
                NAMESPACE,
                WriteBehindOptions::new(),
                writer(store, false, false),
            )
            .expect("write-behind after the restart");
        assert!(
            cache
                .write_behind_drained(NAMESPACE, Duration::from_secs(60))
                .await
                .expect("drained"),
            "{name}: the queue left by the killed process was not drained"
        );
    });

    let (by_id, lines, conflicts) = read_store(store);
    assert!(
        conflicts.is_empty(),
        "{name}: one id, two writes: {conflicts:?}"
    );
    let mut ids_per_key: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (id, (key, value)) in &by_id {
        assert_eq!(
            value,
            &key.replacen('k', "v", 1),
            "{name}: {key} holds {value}"
        );
        ids_per_key.entry(key).or_default().push(id);
    }
    for i in 0..acked {
        let key = format!("k{i}");
        let ids = ids_per_key.get(key.as_str()).map_or(0, Vec::len);
        assert_eq!(
            ids, 1,
            "{name}: acknowledged write {key} reached the store under {ids} ids"
        );
    }
    let redelivered = lines - by_id.len();
    println!(
        "test write_behind_survives_kill_9 ({name}) ... ok: {acked} writes acknowledged, \
         {queued_at_kill} still queued at the kill, all {acked} in the backing store after the \
         restart, {redelivered} handed over twice with the same id"
    );
}
