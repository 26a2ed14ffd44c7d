//! Several OS processes sharing one Redis: compute-through runs once, and a lease holder
//! killed with SIGKILL is replaced once its lease runs out.
//!
//! Its own `main` (`harness = false`): the test runs itself again as child processes
//! (`HOARD_CHILD=ROLE`), talks to them through their stdout, and kills them.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use hoard::{Cache, ComputeOptions, RedisConfig};
use hoard_testkit::{ChildGuard, RedisServer};
use std::process::Command;
use std::time::{Duration, Instant};

const ROLE: &str = "HOARD_CHILD";
const URL: &str = "HOARD_REDIS_URL";
const START_AT: &str = "HOARD_START_AT_MS";

fn main() {
    if let Ok(role) = std::env::var(ROLE) {
        child(&role);
        return;
    }
    let tests: [(&str, fn()); 3] = [
        (
            "four_processes_on_one_redis_compute_once",
            four_processes_on_one_redis_compute_once,
        ),
        (
            "a_killed_lease_holder_is_replaced_after_its_lease",
            a_killed_lease_holder_is_replaced_after_its_lease,
        ),
        (
            "a_computing_process_killed_midway_is_taken_over",
            a_computing_process_killed_midway_is_taken_over,
        ),
    ];
    for (name, test) in tests {
        test();
        println!("test {name} ... ok");
    }
    println!("processes: {} passed, 0 failed", tests.len());
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn cache(url: &str) -> Cache {
    Cache::builder()
        .redis(RedisConfig::standalone(url))
        .build()
        .expect("cache")
}

fn spawn_child(role: &str, url: &str, extra: &[(&str, String)]) -> ChildGuard {
    let mut command = Command::new(std::env::current_exe().expect("own path"));
    command.env(ROLE, role).env(URL, url);
    for (name, value) in extra {
        command.env(name, value);
    }
    ChildGuard::spawn(command)
}

fn expect_line(child: &mut ChildGuard, prefix: &str) -> String {
    let line = child
        .read_line()
        .unwrap_or_else(|| panic!("child ended before {prefix:?}"));
    line.strip_prefix(prefix)
        .unwrap_or_else(|| panic!("expected {prefix:?}, got {line:?}"))
        .to_owned()
}

/// What a child process does, by role.
fn child(role: &str) {
    let url = std::env::var(URL).expect("redis url");
    runtime().block_on(async move {
        let cache = cache(&url);
        match role {
            "compute" => {
                let start: u64 = std::env::var(START_AT).expect("start").parse().expect("ms");
                let wait = start.saturating_sub(hoard::entry::now_ms());
                tokio::time::sleep(Duration::from_millis(wait)).await;
                let options = ComputeOptions::new().lease(Duration::from_secs(5));
                let value: String = cache
                    .get_or_compute("jobs", "report", &options, || async {
                        let client = redis::Client::open(url.as_str()).expect("client");
                        let mut connection = client
                            .get_multiplexed_async_connection()
                            .await
                            .expect("connect");
                        let _: i64 = redis::cmd("INCR")
                            .arg("computations")
                            .query_async(&mut connection)
                            .await
                            .expect("incr");
                        tokio::time::sleep(Duration::from_millis(400)).await;
                        format!("computed by {}", std::process::id())
                    })
                    .await
                    .expect("get_or_compute");
                println!("value: {value}");
            }
            "hold" => {
                let guard = cache
                    .lock("reindex", Duration::from_millis(600))
                    .await
                    .expect("lock");
                assert!(guard.is_some(), "the lease was free");
                println!("locked: yes");
                std::future::pending::<()>().await;
            }
            "compute-forever" => {
                let options = ComputeOptions::new().lease(Duration::from_millis(600));
                let _: String = cache
                    .get_or_compute("jobs", "stuck", &options, || async {
                        println!("computing: yes");
                        std::future::pending::<String>().await
                    })
                    .await
                    .expect("never returns");
            }
            other => panic!("unknown role {other}"),
        }
    });
}

fn four_processes_on_one_redis_compute_once() {
    let server = RedisServer::start();
    let start_at = (hoard::entry::now_ms() + 1500).to_string();
    let mut children: Vec<ChildGuard> = (0..4)
        .map(|_| spawn_child("compute", &server.url(), &[(START_AT, start_at.clone())]))
        .collect();
    let values: Vec<String> = children
        .iter_mut()
        .map(|c| expect_line(c, "value: "))
        .collect();
    assert!(
        values.iter().all(|v| v == &values[0]),
        "every process got the same value: {values:?}"
    );
    assert_eq!(
        server.cli(&["get", "computations"]),
        "1",
        "computed once across 4 processes"
    );
}

fn a_killed_lease_holder_is_replaced_after_its_lease() {
    let server = RedisServer::start();
    let mut holder = spawn_child("hold", &server.url(), &[]);
    assert_eq!(expect_line(&mut holder, "locked: "), "yes");
    runtime().block_on(async {
        let cache = cache(&server.url());
        // Renewal keeps a live holder's 600 ms lease going.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(
            cache
                .lock("reindex", Duration::from_secs(5))
                .await
                .unwrap()
                .is_none(),
            "held and renewed"
        );
        holder.kill_hard();
        assert!(
            cache
                .lock("reindex", Duration::from_secs(5))
                .await
                .unwrap()
                .is_none(),
            "still leased right after the kill"
        );
        let began = Instant::now();
        let taken = cache
            .lock_wait("reindex", Duration::from_secs(5), Duration::from_secs(10))
            .await
            .unwrap();
        assert!(
            taken.is_some(),
            "the lease expired and was taken over after {:?}",
            began.elapsed()
        );
    });
}

fn a_computing_process_killed_midway_is_taken_over() {
    let server = RedisServer::start();
    let mut stuck = spawn_child("compute-forever", &server.url(), &[]);
    assert_eq!(expect_line(&mut stuck, "computing: "), "yes");
    stuck.kill_hard();
    runtime().block_on(async {
        let cache = cache(&server.url());
        let options = ComputeOptions::new()
            .lease(Duration::from_secs(5))
            .wait(Duration::from_secs(20));
        let value: String = cache
            .get_or_compute("jobs", "stuck", &options, || async {
                "taken over".to_owned()
            })
            .await
            .unwrap();
        assert_eq!(value, "taken over");
    });
}
