//! Cache warming: the keys that were hottest before a restart are in L1 for the first
//! request after it (disk tier and Redis), refresh-ahead keeps a steadily read key from
//! ever missing (counted against a control that has none), and bad registrations are
//! refused.

use crate::backend::{shared_redis, unique_prefix};
use hoard::{Cache, DiskConfig, ManualClock, RedisConfig, SetOptions, WarmOptions};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

/// A loader that answers `loaded:{key}` and counts its calls.
fn loader(calls: &Arc<AtomicU64>) -> impl Fn(String) -> std::future::Ready<Result<String, String>> {
    let calls = calls.clone();
    move |key: String| {
        calls.fetch_add(1, SeqCst);
        std::future::ready(if key == "broken" {
            Err("the model server said no".to_owned())
        } else {
            Ok(format!("loaded:{key}"))
        })
    }
}

/// Options that never run a background pass during a test: passes are run by hand.
fn by_hand() -> WarmOptions {
    WarmOptions::new()
        .keys(10)
        .refresh_every(Duration::from_secs(3600))
        .record_every(Duration::from_secs(3600))
}

/// `writer` stores 100 keys (one that expires soon), reads ten of them often; it saves its
/// popularity; `reopen` then builds the cache of the next process. Its first reads of the
/// hot keys are L1 hits, and the hot key that expired meanwhile was loaded again.
async fn restart_warms_the_hottest(
    name: &str,
    writer: Cache,
    pass: impl Fn(Duration),
    reopen: impl FnOnce() -> Cache,
) {
    let calls = Arc::new(AtomicU64::new(0));
    writer
        .warm_with("scores", by_hand(), loader(&calls))
        .unwrap();
    for i in 0..100 {
        let options = if i == 3 {
            SetOptions::new().ttl(Duration::from_secs(2))
        } else {
            SetOptions::new()
        };
        writer
            .set_with("scores", &format!("k{i}"), &format!("stored:{i}"), options)
            .await
            .unwrap();
    }
    for round in 0..20 {
        for i in 0..10 {
            writer
                .get::<String>("scores", &format!("k{i}"))
                .await
                .unwrap();
        }
        // The other keys are read once each.
        if round == 0 {
            for i in 10..100 {
                writer
                    .get::<String>("scores", &format!("k{i}"))
                    .await
                    .unwrap();
            }
        }
    }
    writer.flush().await.unwrap();
    assert_eq!(writer.warm_stats()["scores"].saves, 1, "{name}");
    drop(writer);
    pass(Duration::from_secs(5));

    let cache = reopen();
    let calls = Arc::new(AtomicU64::new(0));
    cache
        .warm_with("scores", by_hand(), loader(&calls))
        .unwrap();
    assert!(
        cache.warm_started("scores", Duration::from_secs(20)).await,
        "{name}"
    );
    let stats = cache.warm_stats()["scores"].clone();
    assert_eq!(
        (
            stats.warmed_from_l2,
            stats.loaded_at_start,
            stats.failed_at_start
        ),
        (9, 1, 0),
        "{name}: {stats:?}"
    );
    assert_eq!(
        calls.load(SeqCst),
        1,
        "{name}: only the expired hot key was loaded"
    );
    let before = cache.stats().await.unwrap().namespaces["scores"].clone();
    for i in 0..10 {
        let want = if i == 3 {
            "loaded:k3".to_owned()
        } else {
            format!("stored:{i}")
        };
        let found = cache
            .get::<String>("scores", &format!("k{i}"))
            .await
            .unwrap();
        assert_eq!(found, Some(want), "{name}");
    }
    let after = cache.stats().await.unwrap().namespaces["scores"].clone();
    assert_eq!(
        after.l1_hits - before.l1_hits,
        10,
        "{name}: every first read from L1"
    );
    assert_eq!(after.l2_hits, before.l2_hits, "{name}");
    // A key that was not hot is still in L2, not in L1.
    cache.get::<String>("scores", "k50").await.unwrap();
    let last = cache.stats().await.unwrap().namespaces["scores"].clone();
    assert_eq!(last.l2_hits - after.l2_hits, 1, "{name}");
    // The saved list is no namespace's: listings and counts do not show it.
    let census = cache.census().await.unwrap();
    assert_eq!(
        census.namespaces.keys().collect::<Vec<_>>(),
        ["scores"],
        "{name}"
    );
    assert_eq!(census.namespaces["scores"].keys, 100, "{name}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_on_the_disk_tier_serves_the_hottest_keys_from_l1() {
    let dir = hoard_testkit::temp_dir();
    let clock = ManualClock::new();
    let open = || {
        let disk = DiskConfig::new(dir.path())
            .sweep_interval(None)
            .clock(clock.clock());
        Cache::builder()
            .disk(disk)
            .clock(clock.clock())
            .build()
            .unwrap()
    };
    restart_warms_the_hottest("disk", open(), |d| clock.advance(d), open).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_process_on_redis_serves_the_hottest_keys_from_l1() {
    let config = RedisConfig::standalone(shared_redis().url()).key_prefix(unique_prefix());
    let open = || Cache::builder().redis(config.clone()).build().unwrap();
    let first = open();
    assert!(first.wait_coherent(Duration::from_secs(10)).await);
    // Redis keeps real time: the short-lived key expires while the test waits.
    let wait = |d: Duration| std::thread::sleep(d.min(Duration::from_millis(2100)));
    restart_warms_the_hottest("redis", first, wait, open).await;
}

/// A key read every 100 ms with a 1 s TTL: with a refresh-ahead pass between reads it never
/// misses over 20 s; without, it misses once a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_ahead_keeps_a_steadily_read_key_from_missing() {
    let run = |refresh: bool| async move {
        let clock = ManualClock::new();
        let cache = Cache::builder().clock(clock.clock()).build().unwrap();
        let calls = Arc::new(AtomicU64::new(0));
        let options = WarmOptions::new()
            .ttl(Duration::from_secs(1))
            .refresh_every(Duration::from_millis(100))
            .record_every(Duration::from_secs(3600));
        // The control is not warmed at all: no background pass can refresh its key.
        if refresh {
            cache.warm_with("asr", options, loader(&calls)).unwrap();
            assert!(cache.warm_started("asr", Duration::from_secs(10)).await);
        }
        let first = SetOptions::new()
            .ttl(Duration::from_secs(1))
            .compute_time(Duration::from_millis(50));
        cache.set_with("asr", "hot", &"first", first).await.unwrap();
        let mut misses = 0;
        // Each step: time passes, the key is read, then a pass runs (as the background's
        // would, between reads): a read finds the key only if the pass before refreshed it
        // ahead of its expiry, not after.
        for _ in 0..200 {
            clock.advance(Duration::from_millis(100));
            let found = cache.get::<String>("asr", "hot").await.unwrap();
            if refresh {
                cache.refresh_ahead_now("asr").await.unwrap();
            }
            match found {
                Some(_) => {}
                None => {
                    misses += 1;
                    // What a caller would do on a miss: compute and store.
                    let again = SetOptions::new().ttl(Duration::from_secs(1));
                    cache.set_with("asr", "hot", &"again", again).await.unwrap();
                }
            }
        }
        let refreshed = cache
            .warm_stats()
            .get("asr")
            .map_or(0, |w| w.refreshed_ahead);
        (misses, refreshed)
    };
    let (misses, refreshed) = run(true).await;
    assert_eq!(misses, 0, "refreshed {refreshed} times");
    assert!(refreshed >= 20, "{refreshed}");
    let (misses_without, _) = run(false).await;
    // Once per TTL: 20 s of reads with a 1 s TTL.
    assert_eq!(misses_without, 20, "the control's misses");
}

/// The background passes run by themselves: a key with a 300 ms TTL, read now and then,
/// is loaded again before it expires, and is still there after several lifetimes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_refreshes_popular_keys_without_a_caller() {
    let cache = Cache::in_memory();
    let calls = Arc::new(AtomicU64::new(0));
    let options = WarmOptions::new()
        .ttl(Duration::from_millis(300))
        .refresh_every(Duration::from_millis(20));
    cache.warm_with("asr", options, loader(&calls)).unwrap();
    let short = SetOptions::new().ttl(Duration::from_millis(300));
    cache.set_with("asr", "hot", &"first", short).await.unwrap();
    assert!(cache.get::<String>("asr", "hot").await.unwrap().is_some());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while cache.warm_stats()["asr"].refreshed_ahead < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            cache.warm_stats()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        cache.get::<String>("asr", "hot").await.unwrap().as_deref(),
        Some("loaded:hot")
    );
}

#[tokio::test]
async fn bad_registrations_and_failing_loaders_are_reported() {
    let cache = Cache::in_memory();
    let calls = Arc::new(AtomicU64::new(0));
    assert!(matches!(
        cache.warm_with("bad ns", by_hand(), loader(&calls)),
        Err(hoard::Error::InvalidNamespace { .. })
    ));
    cache.warm_with("asr", by_hand(), loader(&calls)).unwrap();
    let again = cache.warm_with("asr", by_hand(), loader(&calls));
    assert!(
        matches!(&again, Err(hoard::Error::Config(m)) if m.contains("warmed already")),
        "{again:?}"
    );
    assert!(matches!(
        cache.refresh_ahead_now("other").await,
        Err(hoard::Error::Config(_))
    ));
    assert!(!cache.warm_started("other", Duration::from_millis(10)).await);
    // A popular key gone from the cache whose loader fails: counted, nothing stored.
    cache.set("asr", "broken", &"kept").await.unwrap();
    cache.get::<String>("asr", "broken").await.unwrap();
    cache.delete("asr", "broken").await.unwrap();
    assert_eq!(cache.refresh_ahead_now("asr").await.unwrap(), 0);
    assert_eq!(cache.warm_stats()["asr"].refresh_failures, 1);
    assert_eq!(cache.get::<String>("asr", "broken").await.unwrap(), None);
}
