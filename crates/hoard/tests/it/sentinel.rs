//! Redis Sentinel, with real processes: a master, a replica and three sentinels. The
//! master is killed under a read and write load from two caches; hoard follows the
//! promotion without a restart, and what it answered is checked against the new master
//! through a third cache and redis-cli.

use hoard::{Cache, RedisConfig};
use hoard_testkit::{RedisSentinels, MASTER_NAME};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const HOT_KEYS: u64 = 20;

fn open(set: &RedisSentinels, prefix: &str) -> Cache {
    let config = RedisConfig::sentinel(set.urls(), MASTER_NAME)
        .key_prefix(prefix)
        .timeout(Duration::from_millis(200));
    Cache::builder().redis(config).build().unwrap()
}

/// One write of the load: when it was answered, and whether it was acknowledged.
struct Write {
    key: String,
    value: u64,
    at: Instant,
    acknowledged: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentinel_failover_is_followed_without_a_restart() {
    assert!(hoard_testkit::redis_available());
    let mut set = RedisSentinels::start();
    let prefix = crate::backend::unique_prefix();
    let (writer, reader) = (open(&set, &prefix), open(&set, &prefix));
    for cache in [&writer, &reader] {
        assert!(cache.wait_coherent(Duration::from_secs(10)).await);
    }
    // Before: what one writes the other reads, and its L1 keeps a copy.
    for n in 0..HOT_KEYS {
        writer.set("hot", &format!("h{n}"), &n).await.unwrap();
        assert_eq!(
            reader.get::<u64>("hot", &format!("h{n}")).await.unwrap(),
            Some(n)
        );
    }

    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(Mutex::new(Vec::<Write>::new()));
    let load = {
        let (stop, writes, writer) = (stop.clone(), writes.clone(), writer.clone());
        tokio::spawn(async move {
            let mut n = HOT_KEYS;
            while !stop.load(SeqCst) {
                // A new key each time, and one of the hot keys overwritten.
                for key in [format!("k{n}"), format!("h{}", n % HOT_KEYS)] {
                    let namespace = if key.starts_with('h') { "hot" } else { "log" };
                    let acknowledged = writer.set(namespace, &key, &n).await.is_ok();
                    let at = Instant::now();
                    writes.lock().unwrap().push(Write {
                        key: format!("{namespace}:{key}"),
                        value: n,
                        at,
                        acknowledged,
                    });
                }
                n += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let reads = {
        let (stop, reader) = (stop.clone(), reader.clone());
        tokio::spawn(async move {
            // Reads the tier cannot answer are misses, not errors: counted apart.
            let (mut hits, mut misses, mut failed) = (0u64, 0u64, 0u64);
            let mut n = 0;
            while !stop.load(SeqCst) {
                match reader
                    .get::<u64>("hot", &format!("h{}", n % HOT_KEYS))
                    .await
                {
                    Ok(Some(_)) => hits += 1,
                    Ok(None) => misses += 1,
                    Err(_) => failed += 1,
                }
                n += 1;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            (hits, misses, failed)
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;

    let old_port = set.master_port().unwrap();
    let killed_at = Instant::now();
    set.master().kill();
    let new_port = tokio::task::block_in_place(|| set.wait_for_new_master(old_port));
    let promoted_at = Instant::now();
    // Writes succeed again: wait for 200 acknowledged writes after the promotion.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let after = writes
            .lock()
            .unwrap()
            .iter()
            .filter(|w| w.at > promoted_at && w.acknowledged)
            .count();
        if after >= 200 {
            break;
        }
        assert!(Instant::now() < deadline, "writes never succeeded again");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, SeqCst);
    load.await.unwrap();
    let (hits, misses, reads_failed) = reads.await.unwrap();

    // Seconds from the kill until every write since has succeeded.
    let writes = std::mem::take(&mut *writes.lock().unwrap());
    let last_failure = writes
        .iter()
        .filter(|w| !w.acknowledged)
        .map(|w| w.at)
        .max();
    let recovered_at = writes
        .iter()
        .filter(|w| w.acknowledged && last_failure.is_none_or(|f| w.at > f))
        .map(|w| w.at)
        .min()
        .unwrap();
    let failed_writes = writes.iter().filter(|w| !w.acknowledged).count();

    // What the new master holds, read through a cache that never saw the old one.
    let fresh = open(&set, &prefix);
    let mut last_acknowledged: BTreeMap<String, (u64, Instant)> = BTreeMap::new();
    for w in writes.iter().filter(|w| w.acknowledged) {
        last_acknowledged.insert(w.key.clone(), (w.value, w.at));
    }
    let (mut lost_before_kill, mut lost_after_promotion) = (0, 0);
    for (full, (value, at)) in &last_acknowledged {
        let (namespace, key) = full.split_once(':').unwrap();
        let stored = fresh.get::<u64>(namespace, key).await.unwrap();
        if stored != Some(*value) {
            if *at > promoted_at {
                lost_after_promotion += 1;
            } else {
                lost_before_kill += 1;
            }
        }
    }
    // redis-cli agrees on a hot key: the bytes are on the new master.
    let on_master = set
        .servers
        .iter()
        .find(|s| s.port() == new_port)
        .unwrap()
        .cli(&["exists", &format!("{prefix}hot:h0")]);
    assert_eq!(on_master, "1");

    // After the switch, neither cache serves from L1 what the new master does not hold.
    assert!(reader.wait_coherent(Duration::from_secs(10)).await);
    assert!(writer.wait_coherent(Duration::from_secs(10)).await);
    let mut stale = 0;
    for n in 0..HOT_KEYS {
        let key = format!("h{n}");
        let truth = fresh.get::<u64>("hot", &key).await.unwrap();
        for cache in [&reader, &writer] {
            if cache.get::<u64>("hot", &key).await.unwrap() != truth {
                stale += 1;
            }
        }
    }
    println!(
        "sentinel failover: promoted {:.2} s after the kill, writes recovered {:.2} s after the \
         kill ({:.2} s after the promotion); {failed_writes} of {} writes failed, \
         of {} reads {hits} hit, {misses} missed, {reads_failed} failed; acknowledged writes lost: {lost_before_kill} \
         acknowledged before the promotion, {lost_after_promotion} after; stale reads: {stale}",
        (promoted_at - killed_at).as_secs_f64(),
        (recovered_at - killed_at).as_secs_f64(),
        recovered_at.saturating_duration_since(promoted_at).as_secs_f64(),
        writes.len(),
        hits + misses + reads_failed,
    );
    assert_eq!(
        lost_after_promotion, 0,
        "writes acknowledged by the new master"
    );
    assert_eq!(stale, 0, "stale reads through L1 after the switch");
}
