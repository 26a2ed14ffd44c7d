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
    let tests: [(&str, fn()); 6] = [
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
        (
            "two_processes_mixing_reads_and_writes_never_read_stale_redis",
            two_processes_never_read_stale_redis,
        ),
        (
            "two_processes_mixing_reads_and_writes_never_read_stale_cluster",
            two_processes_never_read_stale_cluster,
        ),
        (
            "tags_patterns_and_namespace_clears_reach_another_process",
            tags_patterns_and_namespace_clears_reach_another_process,
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
    // Several comma-separated URLs mean a cluster.
    let config = if url.contains(',') {
        RedisConfig::cluster(url.split(','))
    } else {
        RedisConfig::standalone(url)
    };
    Cache::builder().redis(config).build().expect("cache")
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
                let guard = cache.lock("reindex", HOLD_LEASE).await.expect("lock");
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
            "mixer" => mixer(&url).await,
            "holder" => holder(&url).await,
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

/// The lease the `hold` child takes.
const HOLD_LEASE: Duration = Duration::from_millis(600);

fn a_killed_lease_holder_is_replaced_after_its_lease() {
    let server = RedisServer::start();
    let mut holder = spawn_child("hold", &server.url(), &[]);
    assert_eq!(expect_line(&mut holder, "locked: "), "yes");
    // The lease was granted before its line was read: by now + twice HOLD_LEASE, the lease
    // as first granted has long run out, and only renewal can still be holding it.
    let twice_the_lease = Instant::now() + 2 * HOLD_LEASE;
    runtime().block_on(async {
        let cache = cache(&server.url());
        // Renewal keeps a live holder's lease going. A lease lives on Redis's real time
        // (PX) and is renewed by the holder's real timer, which no test clock moves, so
        // this waits for real time to pass, twice the lease, watching the lease all along:
        // it must never lapse, and its time to live must be pushed back (renewed) at least
        // twice.
        let key = "hoard::lock:reindex";
        let pttl = || -> i64 { server.cli(&["pttl", key]).parse().unwrap() };
        let (mut last, mut renewals) = (pttl(), 0);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < twice_the_lease || renewals < 2 {
            let ttl = pttl();
            assert!(ttl > 0, "the live holder's lease lapsed (PTTL {ttl})");
            if ttl > last {
                renewals += 1;
            }
            last = ttl;
            assert!(
                Instant::now() < deadline,
                "renewed {renewals} times in 10 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
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

/// Staleness bound the coherence machinery is held to here (pub/sub on one machine).
const STALE_BOUND_MS: u64 = 250;
const MIX_KEYS: u64 = 16;

/// One of two processes reading and writing the same keys at random, logging every
/// operation with its start and acknowledgement times for the parent to check.
async fn mixer(url: &str) {
    use rand::{Rng, SeedableRng};
    let id: u64 = std::env::var("HOARD_MIXER_ID")
        .expect("id")
        .parse()
        .expect("id");
    let start: u64 = std::env::var(START_AT).expect("start").parse().expect("ms");
    let config = if url.contains(',') {
        RedisConfig::cluster(url.split(','))
    } else {
        RedisConfig::standalone(url)
    };
    // A long L1 max age: staleness must be prevented by invalidation messages.
    let cache = Cache::builder()
        .redis(config.key_prefix("mix:"))
        .l1_max_age(Some(Duration::from_secs(600)))
        .build()
        .expect("cache");
    assert!(
        cache.wait_coherent(Duration::from_secs(10)).await,
        "subscribed"
    );
    tokio::time::sleep(Duration::from_millis(
        start.saturating_sub(hoard::entry::now_ms()),
    ))
    .await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(id);
    let end = hoard::entry::now_ms() + 3000;
    let mut seq = 0u64;
    let mut log = String::new();
    while hoard::entry::now_ms() < end {
        let key = format!("k{}", rng.random_range(0..MIX_KEYS));
        let began = hoard::entry::now_ms();
        // Process 1 writes often, process 2 mostly reads: 2's L1 holds copies that 1 keeps
        // making stale, which is what the invalidation messages must catch.
        if rng.random_bool(if id == 1 { 0.3 } else { 0.05 }) {
            seq += 1;
            let value = (id << 40) | seq;
            cache.set("mix", &key, &value).await.expect("set");
            log.push_str(&format!(
                "W {key} {value} {began} {}\n",
                hoard::entry::now_ms()
            ));
        } else {
            let value: Option<u64> = cache.get("mix", &key).await.expect("get");
            let shown = value.map_or("-".to_owned(), |v| v.to_string());
            log.push_str(&format!(
                "R {key} {shown} {began} {}\n",
                hoard::entry::now_ms()
            ));
        }
        tokio::time::sleep(Duration::from_micros(rng.random_range(0..2000))).await;
    }
    let hits = cache.stats().await.expect("stats").totals.l1_hits;
    print!("{log}");
    println!("L1 {hits}");
    println!("END");
}

struct Op {
    write: bool,
    key: String,
    value: Option<u64>,
    start: u64,
    ack: u64,
}

fn two_processes_never_read_stale_on(url: &str) {
    let start_at = (hoard::entry::now_ms() + 1500).to_string();
    let mut children: Vec<ChildGuard> = (1..=2u64)
        .map(|id| {
            spawn_child(
                "mixer",
                url,
                &[
                    (START_AT, start_at.clone()),
                    ("HOARD_MIXER_ID", id.to_string()),
                ],
            )
        })
        .collect();
    let mut ops = Vec::new();
    let mut l1_hits = 0;
    for child in &mut children {
        loop {
            let line = child.read_line().expect("mixer output");
            if line == "END" {
                break;
            }
            if let Some(hits) = line.strip_prefix("L1 ") {
                l1_hits += hits.parse::<u64>().expect("hits");
                continue;
            }
            let f: Vec<&str> = line.split(' ').collect();
            ops.push(Op {
                write: f[0] == "W",
                key: f[1].to_owned(),
                value: f[2].parse().ok(),
                start: f[3].parse().expect("start"),
                ack: f[4].parse().expect("ack"),
            });
        }
    }
    let writes: Vec<&Op> = ops.iter().filter(|o| o.write).collect();
    let reads: Vec<&Op> = ops.iter().filter(|o| !o.write).collect();
    let mut stale = Vec::new();
    for read in &reads {
        let cutoff = read.start.saturating_sub(STALE_BOUND_MS);
        let settled: Vec<&&Op> = writes
            .iter()
            .filter(|w| w.key == read.key && w.ack < cutoff)
            .collect();
        let seen = read
            .value
            .and_then(|v| writes.iter().find(|w| w.value == Some(v)));
        let is_stale = match seen {
            // Stale: a write that began after the seen one was acknowledged, and was itself
            // acknowledged more than the bound before this read began.
            Some(seen) => settled.iter().any(|w| w.start > seen.ack),
            None => !settled.is_empty(),
        };
        if is_stale {
            stale.push(format!("{} {:?} at {}", read.key, read.value, read.start));
        }
    }
    assert!(
        reads.len() > 200 && writes.len() > 100,
        "{} reads, {} writes",
        reads.len(),
        writes.len()
    );
    assert!(
        l1_hits > 0,
        "some reads came from L1, so staleness was possible"
    );
    assert!(
        stale.is_empty(),
        "{} stale reads of {}: {:?}",
        stale.len(),
        reads.len(),
        &stale[..stale.len().min(5)]
    );
    println!(
        "(checked {} reads and {} writes across 2 processes, {l1_hits} L1 hits)",
        reads.len(),
        writes.len()
    );
}

fn two_processes_never_read_stale_redis() {
    let server = RedisServer::start();
    two_processes_never_read_stale_on(&server.url());
}

fn two_processes_never_read_stale_cluster() {
    let cluster = hoard_testkit::RedisCluster::start(3);
    two_processes_never_read_stale_on(&cluster.urls().join(","));
}

/// The key the parent of `holder` writes once it has invalidated everything.
const MARKER: &str = "marker:invalidated";

/// Reads a set of keys (so they sit in its L1), says so, waits for the parent to invalidate
/// them from its own process, and reports what it reads then.
async fn holder(url: &str) {
    let cache = Cache::builder()
        .redis(RedisConfig::standalone(url))
        .l1_max_age(Some(Duration::from_secs(600)))
        .build()
        .expect("cache");
    assert!(
        cache.wait_coherent(Duration::from_secs(10)).await,
        "subscribed"
    );
    let keys = ["tagged:a", "tagged:b", "pattern:a", "cleared:a", "kept:a"];
    for key in keys {
        let (ns, k) = key.split_once(':').expect("ns:key");
        assert_eq!(
            cache.get::<u32>(ns, k).await.expect("get"),
            Some(1),
            "{key} present"
        );
        assert_eq!(cache.get::<u32>(ns, k).await.expect("get"), Some(1));
    }
    // The parent writes this marker after its invalidations. They all travel on one pub/sub
    // channel of one server, in order, and a cache drops L1 copies before reporting the
    // event: once the marker's overwrite is heard, every invalidation before it is applied.
    let (marker_tx, marker_rx) = std::sync::mpsc::channel();
    cache.on_invalidate(move |event| {
        if event.origin == hoard::Origin::Remote && event.keys.iter().any(|k| k == MARKER) {
            let _ = marker_tx.send(());
        }
        Ok(())
    });
    let l1_hits = cache.stats().await.expect("stats").totals.l1_hits;
    println!("ready {l1_hits}");
    let heard =
        tokio::task::spawn_blocking(move || marker_rx.recv_timeout(Duration::from_secs(10)));
    assert!(
        heard.await.expect("waiting").is_ok(),
        "the parent's marker was not heard within 10 s"
    );
    for key in keys {
        let (ns, k) = key.split_once(':').expect("ns:key");
        let value: Option<u32> = cache.get(ns, k).await.expect("get");
        println!("{key} {}", value.map_or("-".to_owned(), |v| v.to_string()));
    }
    println!("END");
}

fn tags_patterns_and_namespace_clears_reach_another_process() {
    let server = RedisServer::start();
    runtime().block_on(async {
        let a = cache(&server.url());
        let tagged = hoard::SetOptions::new().tags(["model:abc-123"]);
        a.set_with("tagged", "a", &1u32, tagged.clone())
            .await
            .unwrap();
        a.set_with("tagged", "b", &1u32, tagged).await.unwrap();
        for (ns, k) in [("pattern", "a"), ("cleared", "a"), ("kept", "a")] {
            a.set(ns, k, &1u32).await.unwrap();
        }
        let mut b = spawn_child("holder", &server.url(), &[]);
        let ready = expect_line(&mut b, "ready ");
        assert!(
            ready.parse::<u64>().unwrap() >= 5,
            "B served from its L1: {ready} hits"
        );
        assert_eq!(a.invalidate_tags(&["model:abc-123"]).await.unwrap(), 2);
        assert_eq!(a.delete_pattern("pattern:*").await.unwrap(), 1);
        a.clear_namespace("cleared").await.unwrap();
        // Tells B that every invalidation above has been published (see `holder`).
        let (ns, k) = MARKER.split_once(':').unwrap();
        a.set(ns, k, &1u32).await.unwrap();
        let mut seen = std::collections::HashMap::new();
        loop {
            let line = b.read_line().expect("holder output");
            if line == "END" {
                break;
            }
            let (key, value) = line.split_once(' ').expect("key value");
            seen.insert(key.to_owned(), value.to_owned());
        }
        for key in ["tagged:a", "tagged:b", "pattern:a", "cleared:a"] {
            assert_eq!(seen[key], "-", "{key} was invalidated in the other process");
        }
        assert_eq!(seen["kept:a"], "1", "untouched keys stay");
    });
}
