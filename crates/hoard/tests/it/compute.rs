//! Compute-through caching: single-flight, errors, bypass, leaders that die, adaptive TTL,
//! early refresh, the blocking forms and leases.

use crate::backend::{shared_redis, unique_prefix};
use hoard::{AdaptiveTtl, Cache, ComputeError, ComputeOptions, RedisConfig};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

#[derive(Debug, PartialEq)]
struct Boom(&'static str);

impl std::fmt::Display for Boom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "boom: {}", self.0)
    }
}

#[tokio::test]
async fn errors_are_not_cached_and_reach_every_waiter() {
    let cache = Cache::in_memory();
    let runs = counter();
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (cache, runs) = (cache.clone(), runs.clone());
            tokio::spawn(async move {
                cache
                    .try_get_or_compute::<u32, Boom, _, _>(
                        "ns",
                        "k",
                        &ComputeOptions::new(),
                        || async {
                            runs.fetch_add(1, SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            Err(Boom("model server down"))
                        },
                    )
                    .await
            })
        })
        .collect();
    for task in tasks {
        match task.await.unwrap() {
            Err(ComputeError::Compute(error)) => assert_eq!(*error, Boom("model server down")),
            other => panic!("expected the shared error, got {other:?}"),
        }
    }
    assert_eq!(runs.load(SeqCst), 1, "one failing computation, shared");
    // Not cached: the next call computes again, and succeeds.
    let value = cache
        .try_get_or_compute::<u32, Boom, _, _>("ns", "k", &ComputeOptions::new(), || async {
            runs.fetch_add(1, SeqCst);
            Ok(7)
        })
        .await
        .unwrap();
    assert_eq!((value, runs.load(SeqCst)), (7, 2));
}

#[tokio::test]
async fn errors_are_cached_when_asked() {
    let clock = hoard::ManualClock::new();
    let cache = Cache::builder().clock(clock.clock()).build().unwrap();
    let options = ComputeOptions::new().cache_errors(Duration::from_millis(200));
    let runs = counter();
    for _ in 0..3 {
        let result = cache
            .try_get_or_compute::<u32, Boom, _, _>("ns", "k", &options, || async {
                runs.fetch_add(1, SeqCst);
                Err(Boom("quota"))
            })
            .await;
        assert!(result.is_err());
    }
    assert_eq!(runs.load(SeqCst), 1, "later calls got the cached error");
    let cached = cache
        .try_get_or_compute::<u32, Boom, _, _>("ns", "k", &options, || async { Ok(1) })
        .await;
    assert!(
        matches!(cached, Err(ComputeError::Cached(ref m)) if m == "boom: quota"),
        "{cached:?}"
    );
    clock.advance(Duration::from_millis(199));
    let still = cache
        .try_get_or_compute::<u32, Boom, _, _>("ns", "k", &options, || async { Ok(1) })
        .await;
    assert!(matches!(still, Err(ComputeError::Cached(_))), "{still:?}");
    clock.advance(Duration::from_millis(1));
    let fresh = cache
        .try_get_or_compute::<u32, Boom, _, _>("ns", "k", &options, || async { Ok(1) })
        .await;
    assert_eq!(fresh.unwrap(), 1, "the cached error expired");
}

#[tokio::test]
async fn bypass_recomputes_and_refreshes_the_entry() {
    let cache = Cache::in_memory();
    let first: u32 = cache
        .get_or_compute("model", "metrics:abc", &ComputeOptions::new(), || async {
            1
        })
        .await
        .unwrap();
    let hit: u32 = cache
        .get_or_compute("model", "metrics:abc", &ComputeOptions::new(), || async {
            2
        })
        .await
        .unwrap();
    assert_eq!((first, hit), (1, 1));
    let fresh: u32 = cache
        .get_or_compute(
            "model",
            "metrics:abc",
            &ComputeOptions::new().bypass(true),
            || async { 3 },
        )
        .await
        .unwrap();
    assert_eq!(fresh, 3, "use_cache=false computes");
    assert_eq!(
        cache.get::<u32>("model", "metrics:abc").await.unwrap(),
        Some(3),
        "and stores"
    );
}

#[tokio::test]
async fn a_panicking_leader_releases_its_waiters() {
    let cache = Cache::in_memory();
    let runs = counter();
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let leader = {
        let (cache, runs) = (cache.clone(), runs.clone());
        tokio::spawn(async move {
            cache
                .get_or_compute::<u32, _, _>("ns", "k", &ComputeOptions::new(), || async move {
                    runs.fetch_add(1, SeqCst);
                    let _ = started_tx.send(());
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    panic!("the model crashed");
                })
                .await
        })
    };
    started_rx.await.unwrap();
    let waiters: Vec<_> = (0..20)
        .map(|_| {
            let (cache, runs) = (cache.clone(), runs.clone());
            tokio::spawn(async move {
                cache
                    .get_or_compute("ns", "k", &ComputeOptions::new(), || async {
                        runs.fetch_add(1, SeqCst);
                        42u32
                    })
                    .await
                    .unwrap()
            })
        })
        .collect();
    assert!(leader.await.unwrap_err().is_panic());
    for waiter in waiters {
        assert_eq!(waiter.await.unwrap(), 42);
    }
    assert_eq!(runs.load(SeqCst), 2, "the panicked run and one take-over");
}

#[tokio::test]
async fn a_cancelled_leader_releases_its_waiters() {
    let cache = Cache::in_memory();
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let leader = {
        let cache = cache.clone();
        tokio::spawn(async move {
            cache
                .get_or_compute::<u32, _, _>("ns", "k", &ComputeOptions::new(), || async move {
                    let _ = started_tx.send(());
                    std::future::pending::<u32>().await
                })
                .await
        })
    };
    started_rx.await.unwrap();
    let waiter = {
        let cache = cache.clone();
        tokio::spawn(async move {
            cache
                .get_or_compute("ns", "k", &ComputeOptions::new(), || async { 5u32 })
                .await
                .unwrap()
        })
    };
    // Abort the leader only once the waiter waits on its flight. The waiter counts its miss
    // and joins the flight without awaiting in between, and this test runs on one thread:
    // once its miss is counted and this task runs again, the waiter is parked on the flight.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while cache.stats().await.unwrap().totals.misses < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the waiter never looked the key up"
        );
        tokio::task::yield_now().await;
    }
    assert!(!waiter.is_finished(), "the waiter waits for the leader");
    leader.abort();
    let value = tokio::time::timeout(Duration::from_secs(10), waiter).await;
    assert_eq!(value.expect("the waiter was released").unwrap(), 5);
}

#[tokio::test]
async fn adaptive_ttl_grows_with_hits_and_stops_at_the_cap() {
    let cache = Cache::in_memory();
    let options = ComputeOptions::new()
        .ttl(Duration::from_secs(100))
        .adaptive_ttl(AdaptiveTtl {
            multiplier: 0.5,
            max: Duration::from_secs(220),
        });
    let get = || cache.get_or_compute("ns", "popular", &options, || async { 1u32 });
    get().await.unwrap();
    let ttl = |c: &Cache| {
        let c = c.clone();
        async move { c.ttl("ns", "popular").await.unwrap().unwrap().as_secs() }
    };
    assert!(
        (98..=100).contains(&ttl(&cache).await),
        "starts at the base TTL"
    );
    get().await.unwrap(); // 1 hit: 1.5x
    assert!(
        (148..=150).contains(&ttl(&cache).await),
        "{}",
        ttl(&cache).await
    );
    get().await.unwrap(); // 2 hits: 2x
    assert!(
        (198..=200).contains(&ttl(&cache).await),
        "{}",
        ttl(&cache).await
    );
    for _ in 0..5 {
        get().await.unwrap();
    }
    assert!(
        (218..=220).contains(&ttl(&cache).await),
        "capped: {}",
        ttl(&cache).await
    );
}

#[tokio::test]
async fn adaptive_ttl_reaches_redis_too() {
    let prefix = unique_prefix();
    // A TTL extension is best effort: one that times out is skipped. On a loaded machine
    // the default 250 ms bound can pass, so this test gives Redis time it does not control.
    let cache = Cache::builder()
        .redis(
            RedisConfig::standalone(shared_redis().url())
                .key_prefix(&prefix)
                .timeout(Duration::from_secs(10)),
        )
        .build()
        .unwrap();
    let options = ComputeOptions::new()
        .ttl(Duration::from_secs(100))
        .adaptive_ttl(AdaptiveTtl {
            multiplier: 1.0,
            max: Duration::from_secs(1000),
        });
    for _ in 0..3 {
        cache
            .get_or_compute("ns", "k", &options, || async { 1u32 })
            .await
            .unwrap();
    }
    let pttl: u64 = shared_redis()
        .cli(&["pttl", &format!("{prefix}ns:k")])
        .parse()
        .unwrap();
    assert!(
        pttl > 290_000 && pttl <= 300_000,
        "Redis TTL grew to 3x: {pttl}"
    );
    // The header moved with it: a fresh process reads the entry as live, with that TTL.
    let fresh = Cache::builder()
        .redis(RedisConfig::standalone(shared_redis().url()).key_prefix(&prefix))
        .build()
        .unwrap();
    let ttl = fresh.ttl("ns", "k").await.unwrap().unwrap();
    assert!(ttl > Duration::from_secs(290), "{ttl:?}");
    let entry = fresh.get_entry("ns", "k").await.unwrap().unwrap();
    assert!(entry.remaining_at(hoard::entry::now_ms()).unwrap() > Duration::from_secs(290));
}

#[tokio::test]
async fn early_refresh_recomputes_before_expiry_under_steady_load() {
    let cache = Cache::builder().seed(7).build().unwrap();
    let options = ComputeOptions::new()
        .ttl(Duration::from_millis(1000))
        .early_refresh(1.0);
    let runs = counter();
    let began = tokio::time::Instant::now();
    // Steady load: a call every 10 ms for 2.5 s, each computation taking 100 ms.
    while began.elapsed() < Duration::from_millis(2500) {
        let runs = runs.clone();
        let value: u32 = cache
            .get_or_compute("ns", "hot", &options, || async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                runs.fetch_add(1, SeqCst) as u32
            })
            .await
            .unwrap();
        assert!(value < 100);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stats = cache.stats().await.unwrap();
    assert!(
        runs.load(SeqCst) >= 3,
        "refreshed at least twice in 2.5 s: {}",
        runs.load(SeqCst)
    );
    assert_eq!(
        stats.totals.misses, 1,
        "only the very first call missed: the key never expired under load"
    );
}

#[test]
fn blocking_callers_share_one_computation() {
    let cache = Cache::in_memory();
    let runs = counter();
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let (cache, runs) = (cache.clone(), runs.clone());
            std::thread::spawn(move || {
                cache
                    .get_or_compute_blocking("ns", "k", &ComputeOptions::new(), || {
                        runs.fetch_add(1, SeqCst);
                        std::thread::sleep(Duration::from_millis(100));
                        "computed on a plain thread".to_owned()
                    })
                    .unwrap()
            })
        })
        .collect();
    for thread in threads {
        assert_eq!(thread.join().unwrap(), "computed on a plain thread");
    }
    assert_eq!(runs.load(SeqCst), 1);
    let failed = cache.try_get_or_compute_blocking::<u32, Boom, _>(
        "ns",
        "bad",
        &ComputeOptions::new(),
        || Err(Boom("sync")),
    );
    assert!(matches!(failed, Err(ComputeError::Compute(_))));
}

#[test]
fn blocking_callers_work_against_redis_from_plain_threads() {
    let prefix = unique_prefix();
    let cache = Cache::builder()
        .redis(RedisConfig::standalone(shared_redis().url()).key_prefix(&prefix))
        .build()
        .unwrap();
    let value: u32 = cache
        .get_or_compute_blocking("ns", "k", &ComputeOptions::new(), || 11)
        .unwrap();
    assert_eq!(value, 11);
    assert_eq!(
        shared_redis().cli(&["exists", &format!("{prefix}ns:k")]),
        "1"
    );
}

#[tokio::test]
async fn leases_exclude_until_released_or_expired() {
    for cache in [
        Cache::in_memory(),
        Cache::builder()
            .redis(RedisConfig::standalone(shared_redis().url()).key_prefix(unique_prefix()))
            .build()
            .unwrap(),
    ] {
        let lease = Duration::from_millis(300);
        let first = cache.lock("reindex", lease).await.unwrap().expect("free");
        assert_eq!(first.is_distributed(), cache.has_l2());
        assert!(
            cache.lock("reindex", lease).await.unwrap().is_none(),
            "held"
        );
        // Renewal keeps it held past its lease while the holder lives. Leases run on real
        // time (renewal timers, Redis's PX), which no test clock moves: this waits out
        // twice the lease as first granted, asking for it all along.
        let twice_the_lease = std::time::Instant::now() + 2 * lease;
        while std::time::Instant::now() < twice_the_lease {
            assert!(
                cache.lock("reindex", lease).await.unwrap().is_none(),
                "renewed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            cache.lock("reindex", lease).await.unwrap().is_none(),
            "renewed"
        );
        assert!(first.release().await.unwrap());
        let second = cache
            .lock("reindex", lease)
            .await
            .unwrap()
            .expect("released");
        drop(second);
        let third = cache
            .lock_wait("reindex", lease, Duration::from_secs(5))
            .await
            .unwrap();
        assert!(third.is_some(), "a dropped guard gives the lease back");
        assert!(cache.lock("bad name", lease).await.is_err());
    }
}

/// Each hit counts the compute time its entry holds as saved: a value written with one,
/// read singly and in a batch, and a computed value, whose time is measured; a value
/// written without one saves nothing. A compute that is running is not a hit.
#[tokio::test]
async fn hits_count_the_compute_time_they_saved() {
    let cache = Cache::in_memory();
    let saved = |cache: &Cache| {
        let cache = cache.clone();
        async move {
            let stats = cache.stats().await.unwrap();
            (
                stats.namespaces["asr"].compute_saved_ms,
                stats.totals.compute_saved_ms,
            )
        }
    };
    let took = hoard::SetOptions::new().compute_time(Duration::from_millis(250));
    cache.set_with("asr", "a", &"hello", took).await.unwrap();
    cache.set("asr", "free", &"no time").await.unwrap();
    for key in ["a", "a", "free", "missing"] {
        let _: Option<String> = cache.get("asr", key).await.unwrap();
    }
    assert_eq!(saved(&cache).await, (500, 500));
    let _: Vec<Option<String>> = cache.mget("asr", &["a", "free", "missing"]).await.unwrap();
    assert_eq!(saved(&cache).await, (750, 750));

    let options = ComputeOptions::new();
    let slow = || async {
        tokio::time::sleep(Duration::from_millis(30)).await;
        7u32
    };
    assert_eq!(
        cache
            .get_or_compute("asr", "slow", &options, slow)
            .await
            .unwrap(),
        7
    );
    assert_eq!(
        saved(&cache).await.0,
        750,
        "the computing call saved nothing"
    );
    assert_eq!(
        cache
            .get_or_compute("asr", "slow", &options, slow)
            .await
            .unwrap(),
        7
    );
    let after = saved(&cache).await.0 - 750;
    assert!(after >= 30, "a hit on a 30 ms compute saved {after} ms");
}
