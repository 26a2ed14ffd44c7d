//! What only the Redis tier does: prefixes, Redis TTLs, URLs with credentials, cluster
//! routing, and degradation when servers die.

use crate::backend::{shared_cluster, shared_redis, unique_prefix};
use hoard::store::redis::{cluster_slot, BreakerConfig};
use hoard::{Cache, ComputeOptions, Error, RedisConfig, RedisStore, SetOptions, Store};
use hoard_testkit::{RedisCluster, RedisServer};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A generous bound for "returns within the timeout": the configured timeout plus slack
/// for a loaded CI machine. Not a performance assertion.
const BOUND: Duration = Duration::from_secs(3);

fn redis_cache(config: RedisConfig) -> (Cache, Arc<RedisStore>) {
    let store = Arc::new(config.open().unwrap());
    let cache = Cache::builder().l2(store.clone()).build().unwrap();
    (cache, store)
}

fn fast_breaker() -> BreakerConfig {
    BreakerConfig {
        threshold: 2,
        cooldown: Duration::from_millis(100),
        max_cooldown: Duration::from_millis(400),
    }
}

#[tokio::test]
async fn keys_carry_the_prefix_and_redis_ttls() {
    let server = shared_redis();
    let prefix = unique_prefix();
    let (cache, _) = redis_cache(RedisConfig::standalone(server.url()).key_prefix(&prefix));
    cache
        .set_with(
            "model",
            "metrics:abc-123",
            &1,
            SetOptions::new().ttl(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    let key = format!("{prefix}model:metrics:abc-123");
    assert_eq!(server.cli(&["exists", &key]), "1");
    let pttl: u64 = server.cli(&["pttl", &key]).parse().unwrap();
    assert!(
        pttl > 55_000 && pttl <= 60_000,
        "Redis TTL is the entry's: {pttl}"
    );
}

#[tokio::test]
async fn default_prefix_is_hoard() {
    let server = RedisServer::start();
    let (cache, _) = redis_cache(RedisConfig::standalone(server.url()));
    cache.set("ns", "k", &1).await.unwrap();
    assert_eq!(server.cli(&["exists", "hoard:ns:k"]), "1");
}

#[tokio::test]
async fn other_applications_keys_are_never_touched() {
    let server = shared_redis();
    let prefix = unique_prefix();
    let foreign = format!("{}foreign", unique_prefix());
    server.cli(&["set", &format!("{foreign}:model:metrics:x"), "theirs"]);
    server.cli(&["set", "model:metrics:abc-123", "unprefixed"]);
    let (cache, _) = redis_cache(RedisConfig::standalone(server.url()).key_prefix(&prefix));
    for i in 0..20 {
        cache
            .set("model", &format!("metrics:{i}"), &i)
            .await
            .unwrap();
    }
    assert_eq!(cache.delete_pattern("model:metrics:*").await.unwrap(), 20);
    cache.set("model", "again", &1).await.unwrap();
    assert_eq!(cache.clear_all().await.unwrap(), 1);
    assert_eq!(
        server.cli(&["get", &format!("{foreign}:model:metrics:x")]),
        "theirs"
    );
    assert_eq!(server.cli(&["get", "model:metrics:abc-123"]), "unprefixed");
    // Stats count hoard's keys only, not the whole database.
    cache
        .mset("ns", &[("a", 1), ("b", 2)], SetOptions::new())
        .await
        .unwrap();
    let stats = cache.stats().await.unwrap();
    assert_eq!(stats.total_keys, 2);
    assert!(stats.tiers[1].bytes > 0, "Redis used_memory is reported");
}

#[tokio::test]
async fn password_and_database_come_from_the_url() {
    let server = RedisServer::start_with(&["--requirepass", "s3cret"]);
    let url = format!("redis://:s3cret@127.0.0.1:{}/2", server.port());
    let (cache, _) = redis_cache(RedisConfig::standalone(url));
    cache.set("ns", "k", &"v").await.unwrap();
    assert_eq!(server.cli(&["-n", "2", "exists", "hoard:ns:k"]), "1");
    assert_eq!(server.cli(&["-n", "0", "exists", "hoard:ns:k"]), "0");
    let fresh = Cache::builder()
        .redis(RedisConfig::standalone(format!(
            "redis://:s3cret@127.0.0.1:{}/2",
            server.port()
        )))
        .build()
        .unwrap();
    assert_eq!(
        fresh.get::<String>("ns", "k").await.unwrap().as_deref(),
        Some("v")
    );
}

#[tokio::test]
async fn acl_user_comes_from_the_url() {
    // Keys under the prefix, and the invalidation channel (`&hoard:*`) for coherence.
    let server = RedisServer::start_with(&[
        "--user", "alice", "on", ">pw", "~hoard:*", "&hoard:*", "+@all",
    ]);
    let url = format!("redis://alice:pw@127.0.0.1:{}", server.port());
    let (cache, _) = redis_cache(RedisConfig::standalone(url));
    cache.set("ns", "k", &7).await.unwrap();
    let fresh = Cache::builder()
        .redis(RedisConfig::standalone(format!(
            "redis://alice:pw@127.0.0.1:{}",
            server.port()
        )))
        .build()
        .unwrap();
    assert_eq!(fresh.get::<i32>("ns", "k").await.unwrap(), Some(7));
}

#[tokio::test]
async fn wrong_password_is_reported_not_panicked() {
    let server = RedisServer::start_with(&["--requirepass", "right"]);
    let url = format!("redis://:wrong@127.0.0.1:{}", server.port());
    let (cache, _) = redis_cache(RedisConfig::standalone(url).timeout(Duration::from_millis(300)));
    let err = cache.ping_l2().await.unwrap_err().to_string();
    assert!(
        err.to_lowercase().contains("pass") || err.contains("auth"),
        "{err}"
    );
    assert_eq!(cache.get::<i32>("ns", "k").await.unwrap(), None);
    assert!(cache.stats().await.unwrap().totals.errors >= 1);
}

#[tokio::test]
async fn redis_killed_mid_run_degrades_then_recovers() {
    let mut server = RedisServer::start();
    let config = RedisConfig::standalone(server.url())
        .timeout(Duration::from_millis(200))
        .breaker(fast_breaker());
    let (cache, _) = redis_cache(config);
    cache.set("ns", "before", &1).await.unwrap();
    assert!(cache.l2_available());

    server.kill();
    for i in 0..20 {
        let began = Instant::now();
        // Reads of keys L1 does not hold are misses, not errors or hangs.
        assert_eq!(
            cache.get::<i32>("ns", &format!("absent{i}")).await.unwrap(),
            None
        );
        // A write Redis does not take is refused, and kept nowhere.
        assert!(matches!(
            cache.set("ns", &format!("during{i}"), &i).await,
            Err(Error::Unavailable { .. })
        ));
        assert_eq!(
            cache.get::<i32>("ns", &format!("during{i}")).await.unwrap(),
            None
        );
        // A computed value degrades to L1: its caller gets it, and the next call is a hit.
        let computed = cache
            .get_or_compute(
                "ns",
                &format!("computed{i}"),
                &ComputeOptions::new(),
                || async { i },
            )
            .await
            .unwrap();
        assert_eq!(computed, i);
        let again = cache
            .get_or_compute(
                "ns",
                &format!("computed{i}"),
                &ComputeOptions::new(),
                || async { -1 },
            )
            .await
            .unwrap();
        assert_eq!(again, i, "served from L1, not computed again");
        assert!(
            began.elapsed() < BOUND,
            "call {i} took {:?}",
            began.elapsed()
        );
    }
    // Copies of Redis entries left L1 when the listener lost Redis: after the outage they
    // could be stale. What this process computed during the outage is served from L1.
    assert_eq!(
        cache.get::<i32>("ns", "before").await.unwrap(),
        None,
        "flushed at disconnect"
    );
    assert!(!cache.l2_available(), "the breaker opened");
    let stats = cache.stats().await.unwrap();
    assert!(
        !stats.available && !stats.tiers[1].available,
        "stats say L2 is down"
    );
    assert!(
        stats.totals.errors >= 20,
        "{} errors counted",
        stats.totals.errors
    );
    // Invalidations are never silently dropped.
    assert!(matches!(
        cache.delete("ns", "before").await,
        Err(Error::Unavailable { .. })
    ));
    assert!(cache.delete_pattern("ns:*").await.is_err());

    server.restart();
    let recovered = wait_async(|| async { cache.ping_l2().await.is_ok() }).await;
    assert!(recovered, "the cache reconnects without a restart");
    assert!(cache.l2_available());
    cache.set("ns", "after", &2).await.unwrap();
    assert_eq!(
        server.cli(&["exists", "hoard:ns:after"]),
        "1",
        "writes reach Redis again"
    );
    let stats = cache.stats().await.unwrap();
    assert!(
        stats.totals.errors >= 20,
        "{} errors counted",
        stats.totals.errors
    );
}

#[tokio::test]
async fn redis_down_at_start_starts_degraded() {
    let mut server = RedisServer::start();
    server.kill();
    let config = RedisConfig::standalone(server.url())
        .timeout(Duration::from_millis(200))
        .breaker(fast_breaker());
    let (cache, _) = redis_cache(config);
    assert_eq!(cache.get::<i32>("ns", "k").await.unwrap(), None);
    assert!(matches!(
        cache.set("ns", "k", &1).await,
        Err(Error::Unavailable { .. })
    ));
    assert_eq!(cache.get::<i32>("ns", "k").await.unwrap(), None);
    server.restart();
    assert!(wait_async(|| async { cache.ping_l2().await.is_ok() }).await);
    cache.set("ns", "k2", &2).await.unwrap();
    assert_eq!(server.cli(&["exists", "hoard:ns:k2"]), "1");
}

#[tokio::test]
async fn an_acknowledged_write_never_comes_back_old_after_an_outage() {
    // Redis keeps its data across the crash (an fsynced append-only file), as a production
    // Redis with persistence or a paused one would: the pre-outage values come back with it.
    let mut server = RedisServer::start_with(&["--appendonly", "yes", "--appendfsync", "always"]);
    let config = RedisConfig::standalone(server.url())
        .timeout(Duration::from_millis(200))
        .breaker(fast_breaker());
    let (cache, _) = redis_cache(config.clone());
    let keys: Vec<String> = (0..50).map(|i| format!("k{i}")).collect();
    for key in &keys {
        cache.set("ns", key, &"old").await.unwrap();
    }

    server.kill();
    let mut acknowledged = Vec::new();
    let mut refused = Vec::new();
    for key in &keys {
        match cache.set("ns", key, &"new").await {
            Ok(()) => acknowledged.push(key.clone()),
            Err(Error::Unavailable { .. }) => refused.push(key.clone()),
            Err(other) => panic!("{key}: {other}"),
        }
        let seen = cache.get::<String>("ns", key).await.unwrap();
        if refused.last() == Some(key) {
            assert_ne!(
                seen.as_deref(),
                Some("new"),
                "{key}: a refused write is served"
            );
        }
    }

    server.restart();
    let ready = wait_async(|| async { cache.ping_l2().await.is_ok() }).await;
    assert!(ready, "reconnected");
    // Judged from outside the writer too: a fresh instance reads Redis itself.
    let (fresh, _) = redis_cache(config);
    for reader in [&cache, &fresh] {
        for key in &acknowledged {
            let seen = reader.get::<String>("ns", key).await.unwrap();
            assert_eq!(
                seen.as_deref(),
                Some("new"),
                "{key}: acknowledged, then lost"
            );
        }
        for key in &refused {
            let seen = reader.get::<String>("ns", key).await.unwrap();
            assert_eq!(
                seen.as_deref(),
                Some("old"),
                "{key}: refused, so still the old value"
            );
        }
    }
    assert!(
        !refused.is_empty(),
        "Redis was down: some writes must have failed"
    );
}

#[tokio::test]
async fn a_manual_clock_expires_entries_on_redis_too() {
    let server = shared_redis();
    let prefix = unique_prefix();
    let clock = hoard::ManualClock::new();
    let cache = Cache::builder()
        .redis(RedisConfig::standalone(server.url()).key_prefix(&prefix))
        .clock(clock.clock())
        .build()
        .unwrap();
    let minute = SetOptions::new().ttl(Duration::from_secs(60));
    cache.set_with("ns", "k", &1, minute).await.unwrap();
    assert_eq!(cache.get::<i32>("ns", "k").await.unwrap(), Some(1));
    clock.advance(Duration::from_secs(61));
    // hoard checks each entry's deadline by its clock, on every tier...
    assert_eq!(cache.get::<i32>("ns", "k").await.unwrap(), None);
    assert_eq!(cache.mget::<i32>("ns", &["k"]).await.unwrap(), vec![None]);
    // ...while Redis, which keeps real time, still holds the key.
    assert_eq!(server.cli(&["exists", &format!("{prefix}ns:k")]), "1");
}

async fn wait_async<F, Fut>(mut done: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if done().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn slots_match_the_cluster() {
    let cluster = shared_cluster();
    for key in [
        "foo",
        "bar",
        "hoard:model:metrics:abc-123",
        "{user1}.a",
        "ключ",
    ] {
        let theirs: u16 = cluster.nodes()[0]
            .cli(&["cluster", "keyslot", key])
            .parse()
            .unwrap();
        assert_eq!(cluster_slot(key), theirs, "{key}");
    }
}

#[tokio::test]
async fn cluster_mget_across_slots_keeps_input_order() {
    let (cache, store) =
        redis_cache(RedisConfig::cluster(shared_cluster().urls()).key_prefix(unique_prefix()));
    let items: Vec<(String, u32)> = (0..300)
        .filter(|i| i % 3 != 0)
        .map(|i| (format!("k{i}"), i))
        .collect();
    cache.mset("ns", &items, SetOptions::new()).await.unwrap();
    let keys: Vec<String> = (0..300).rev().map(|i| format!("k{i}")).collect();
    let slots: std::collections::HashSet<u16> = keys
        .iter()
        .map(|k| cluster_slot(&format!("x:ns:{k}")))
        .collect();
    assert!(slots.len() > 200, "keys spread over many slots");
    let expected: Vec<Option<u32>> = (0..300).rev().map(|i| (i % 3 != 0).then_some(i)).collect();
    // Straight from the tier (L1 bypassed) and through the cache.
    let refs: Vec<String> = keys.iter().map(|k| format!("ns:{k}")).collect();
    let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
    let raw = store.get_many(&refs).await.unwrap();
    let decoded: Vec<Option<u32>> = raw
        .iter()
        .map(|e| e.as_ref().map(|e| hoard::codec::decode(&e.value).unwrap()))
        .collect();
    assert_eq!(decoded, expected);
    let fresh = Cache::builder().l2(store.clone()).build().unwrap();
    assert_eq!(fresh.mget::<u32>("ns", &keys).await.unwrap(), expected);
}

#[tokio::test]
async fn cluster_delete_pattern_reaches_every_master_and_nothing_else() {
    let cluster = shared_cluster();
    let ours = unique_prefix();
    let theirs = unique_prefix();
    let (cache, _) = redis_cache(RedisConfig::cluster(cluster.urls()).key_prefix(&ours));
    let (other, _) = redis_cache(RedisConfig::cluster(cluster.urls()).key_prefix(&theirs));
    let metrics: Vec<(String, u32)> = (0..200).map(|i| (format!("metrics:{i}"), i)).collect();
    let comparisons: Vec<(String, u32)> = (0..50).map(|i| (format!("comparison:{i}"), i)).collect();
    cache
        .mset("model", &metrics, SetOptions::new())
        .await
        .unwrap();
    cache
        .mset("model", &comparisons, SetOptions::new())
        .await
        .unwrap();
    other
        .mset("model", &metrics, SetOptions::new())
        .await
        .unwrap();

    let count = |pattern: String| -> usize {
        cluster
            .nodes()
            .iter()
            .map(|n| {
                n.cli(&["--scan", "--pattern", &pattern])
                    .lines()
                    .filter(|l| !l.is_empty())
                    .count()
            })
            .sum()
    };
    let per_node: Vec<usize> = cluster
        .nodes()
        .iter()
        .map(|n| {
            n.cli(&["--scan", "--pattern", &format!("{ours}model:metrics:*")])
                .lines()
                .count()
        })
        .collect();
    assert!(
        per_node.iter().all(|&n| n > 0),
        "keys sit on every master: {per_node:?}"
    );

    assert_eq!(cache.delete_pattern("model:metrics:*").await.unwrap(), 200);
    assert_eq!(count(format!("{ours}model:metrics:*")), 0);
    assert_eq!(count(format!("{ours}model:comparison:*")), 50);
    assert_eq!(
        count(format!("{theirs}model:metrics:*")),
        200,
        "another prefix is untouched"
    );
    cache.clear_namespace("model").await.unwrap();
    assert_eq!(
        cache.get::<u32>("model", "comparison:3").await.unwrap(),
        None
    );
    assert_eq!(count(format!("{theirs}*")), 200);
}

#[tokio::test]
async fn cluster_node_killed_fails_its_slots_fast_and_the_rest_keep_working() {
    let mut cluster = RedisCluster::start(3);
    let config = RedisConfig::cluster(cluster.urls())
        .timeout(Duration::from_millis(200))
        .breaker(fast_breaker());
    let (cache, store) = redis_cache(config);
    let items: Vec<(String, u32)> = (0..120).map(|i| (format!("k{i}"), i)).collect();
    cache.mset("ns", &items, SetOptions::new()).await.unwrap();
    let owners = cluster.slot_owners();
    let owner_of = |key: &str| owners[cluster_slot(&format!("hoard:ns:{key}")) as usize];
    let victim = owner_of("k0").unwrap();
    cluster.node_mut(victim).kill();

    // A cache with an empty L1, so every read goes to the cluster.
    let reader = Cache::builder().l2(store.clone()).build().unwrap();
    let (mut lost, mut kept) = (0, 0);
    for (key, value) in &items {
        let began = Instant::now();
        let got = reader.get::<u32>("ns", key).await.unwrap();
        assert!(began.elapsed() < BOUND, "{key} took {:?}", began.elapsed());
        if owner_of(key) == Some(victim) {
            assert_eq!(got, None, "{key} lives on the dead node");
            lost += 1;
        } else {
            assert_eq!(got, Some(*value), "{key} lives on a live node");
            kept += 1;
        }
    }
    assert!(lost > 0 && kept > 0, "lost {lost}, kept {kept}");
    assert!(reader.stats().await.unwrap().totals.errors > 0);
    assert!(
        !reader.l2_available(),
        "one master down: not fully available"
    );
    // Writes to live slots still reach Redis.
    let live_key = (0..1000)
        .map(|i| format!("new{i}"))
        .find(|k| owner_of(k) != Some(victim))
        .unwrap();
    reader.set("ns", &live_key, &1).await.unwrap();
    let fresh = Cache::builder().l2(store).build().unwrap();
    assert_eq!(fresh.get::<i32>("ns", &live_key).await.unwrap(), Some(1));
}

#[tokio::test]
async fn key_count_is_estimated_past_the_scan_budget() {
    let server = RedisServer::start();
    let ours = RedisConfig::standalone(server.url()).count_budget(1000);
    let (cache, _) = redis_cache(ours);
    let (foreign, _) =
        redis_cache(RedisConfig::standalone(server.url()).key_prefix("someone-else:"));
    let items: Vec<(String, u32)> = (0..3000).map(|i| (format!("k{i}"), i)).collect();
    for chunk in items.chunks(500) {
        cache.mset("ns", chunk, SetOptions::new()).await.unwrap();
        foreign.mset("ns", chunk, SetOptions::new()).await.unwrap();
    }
    let estimate = cache.stats().await.unwrap().total_keys;
    // 200 random keys, half of them ours: the estimate lands near 3000.
    assert!(
        (2000..=4000).contains(&estimate),
        "estimated {estimate} of 3000"
    );
    let (exact, _) = redis_cache(RedisConfig::standalone(server.url()).count_budget(100_000));
    assert_eq!(exact.stats().await.unwrap().total_keys, 3000);
}

/// `rediss://` end to end; runs with `cargo test -p hoard --features tls` (scripts/test does).
#[cfg(feature = "tls")]
#[tokio::test]
async fn tls_urls_talk_tls() {
    let server = RedisServer::start_tls();
    let url = server.tls_url().unwrap();
    let (cache, _) = redis_cache(RedisConfig::standalone(&url));
    cache.set("ns", "secret", &"over tls").await.unwrap();
    assert!(
        !server.cli(&["get", "hoard:ns:secret"]).is_empty(),
        "stored in Redis"
    );
    let fresh = Cache::builder()
        .redis(RedisConfig::standalone(url))
        .build()
        .unwrap();
    assert_eq!(
        fresh
            .get::<String>("ns", "secret")
            .await
            .unwrap()
            .as_deref(),
        Some("over tls")
    );
    fresh.ping_l2().await.unwrap();
}

#[tokio::test]
async fn cluster_redirects_ask_and_moved_are_followed() {
    let cluster = RedisCluster::start(3);
    let store = Arc::new(RedisConfig::cluster(cluster.urls()).open().unwrap());
    let cache = Cache::builder().l2(store.clone()).build().unwrap();
    cache.set("ns", "moving", &"value").await.unwrap();
    cache.set("ns", "other", &1).await.unwrap();
    let key = "hoard:ns:moving";
    let slot = cluster_slot(key);
    let owners = cluster.slot_owners();
    let from = owners[slot as usize].unwrap();
    let to = (from + 1) % 3;
    let (src, dst) = (&cluster.nodes()[from], &cluster.nodes()[to]);
    let (src_id, dst_id) = (src.cli(&["cluster", "myid"]), dst.cli(&["cluster", "myid"]));
    let slot_arg = slot.to_string();

    // Mid-migration: the key has moved, the slot has not. The old owner answers ASK.
    assert_eq!(
        dst.cli(&["cluster", "setslot", &slot_arg, "importing", &src_id]),
        "OK"
    );
    assert_eq!(
        src.cli(&["cluster", "setslot", &slot_arg, "migrating", &dst_id]),
        "OK"
    );
    let port = dst.port().to_string();
    assert_eq!(
        src.cli(&["migrate", "127.0.0.1", &port, "", "0", "5000", "keys", key]),
        "OK"
    );
    let got = store
        .get("ns:moving")
        .await
        .unwrap()
        .expect("found through ASK");
    assert_eq!(hoard::codec::decode::<String>(&got.value).unwrap(), "value");

    // Migration done: the old owner answers MOVED, and hoard's map is stale.
    for node in cluster.nodes() {
        assert_eq!(
            node.cli(&["cluster", "setslot", &slot_arg, "node", &dst_id]),
            "OK"
        );
    }
    let got = store
        .get("ns:moving")
        .await
        .unwrap()
        .expect("found through MOVED");
    assert_eq!(hoard::codec::decode::<String>(&got.value).unwrap(), "value");
    // Writes and multi-key reads follow too.
    store
        .set(
            "ns:moving",
            hoard::Entry::new(
                hoard::codec::encode(&"new").unwrap(),
                Duration::from_secs(60),
            ),
        )
        .await
        .unwrap();
    assert_eq!(dst.cli(&["exists", key]), "1");
    let both = store.get_many(&["ns:moving", "ns:other"]).await.unwrap();
    assert!(both.iter().all(Option::is_some));
}

/// Batches during a slot migration: some keys of one slot already on the importing node,
/// the rest still on the old owner. `mget`, `mset`, tags and deletes each reach every key
/// where it lives, checked with redis-cli on the nodes themselves.
#[tokio::test]
async fn cluster_batches_follow_ask_during_a_slot_migration() {
    let cluster = RedisCluster::start(3);
    let store = Arc::new(RedisConfig::cluster(cluster.urls()).open().unwrap());
    let cache = Cache::builder()
        .l2(store.clone())
        .l1_max_age(Some(Duration::from_millis(1)))
        .build()
        .unwrap();
    // `{mv}` is a hash tag: the three keys and the tag index share one slot.
    let keys = ["{mv}moved", "{mv}stays", "{mv}later"];
    let items: Vec<(&str, String)> = keys.iter().map(|k| (*k, format!("old {k}"))).collect();
    cache.mset("ns", &items, SetOptions::new()).await.unwrap();
    cache.set("ns", "elsewhere", &"other slot").await.unwrap();

    let slot = cluster_slot("hoard:ns:{mv}moved");
    assert_eq!(
        slot,
        cluster_slot("hoard::tag:{mv}models"),
        "one slot for keys and tag"
    );
    let from = cluster.slot_owners()[slot as usize].unwrap();
    let to = (from + 1) % 3;
    let (src, dst) = (&cluster.nodes()[from], &cluster.nodes()[to]);
    let (src_id, dst_id) = (src.cli(&["cluster", "myid"]), dst.cli(&["cluster", "myid"]));
    let slot_arg = slot.to_string();
    assert_eq!(
        dst.cli(&["cluster", "setslot", &slot_arg, "importing", &src_id]),
        "OK"
    );
    assert_eq!(
        src.cli(&["cluster", "setslot", &slot_arg, "migrating", &dst_id]),
        "OK"
    );
    let port = dst.port().to_string();
    assert_eq!(
        src.cli(&[
            "migrate",
            "127.0.0.1",
            &port,
            "",
            "0",
            "5000",
            "keys",
            "hoard:ns:{mv}moved"
        ]),
        "OK"
    );

    // Reads: the slot's MGET is split by the migration (TRYAGAIN); each key is found where
    // it lives, the moved one through ASK.
    let read: Vec<Option<String>> = cache
        .mget("ns", &["{mv}moved", "{mv}stays", "elsewhere"])
        .await
        .unwrap();
    assert_eq!(
        read,
        vec![
            Some("old {mv}moved".to_owned()),
            Some("old {mv}stays".to_owned()),
            Some("other slot".to_owned())
        ]
    );

    // Writes: the moved key's new value lands on the importing node, the others where they
    // are; a tag index that does not exist yet is created on the importing node (ASK).
    let items: Vec<(&str, String)> = keys.iter().map(|k| (*k, format!("new {k}"))).collect();
    cache
        .mset("ns", &items, SetOptions::new().tags(["{mv}models"]))
        .await
        .unwrap();
    // A node answers MOVED for a slot it is importing: ask what each node holds instead.
    let held = |node: &RedisServer| -> Vec<String> {
        let mut keys: Vec<String> = node
            .cli(&["cluster", "getkeysinslot", &slot_arg, "100"])
            .lines()
            .map(str::to_owned)
            .collect();
        keys.sort();
        keys
    };
    assert_eq!(held(dst), ["hoard::tag:{mv}models", "hoard:ns:{mv}moved"]);
    assert_eq!(held(src), ["hoard:ns:{mv}later", "hoard:ns:{mv}stays"]);
    // `-c` follows the ASK to the importing node.
    let ttl: i64 = src
        .cli(&["-c", "pttl", "hoard::tag:{mv}models"])
        .parse()
        .unwrap();
    assert!(
        ttl > 0,
        "the tag index expires with its entries (pttl {ttl})"
    );
    let fresh = Cache::builder()
        .redis(RedisConfig::cluster(cluster.urls()))
        .build()
        .unwrap();
    let read: Vec<Option<String>> = fresh.mget("ns", &keys).await.unwrap();
    let want: Vec<Option<String>> = keys.iter().map(|k| Some(format!("new {k}"))).collect();
    assert_eq!(read, want, "a fresh instance reads every new value");
    let mut tagged = fresh.tagged("{mv}models").await.unwrap();
    tagged.sort();
    assert_eq!(
        tagged,
        vec!["ns:{mv}later", "ns:{mv}moved", "ns:{mv}stays"],
        "the tag index holds all three"
    );

    // Deletes: both halves go, and the count is exact.
    assert_eq!(cache.invalidate_tags(&["{mv}models"]).await.unwrap(), 3);
    assert!(
        held(src).is_empty(),
        "the old owner holds none: {:?}",
        held(src)
    );
    assert!(
        held(dst).is_empty(),
        "the new owner holds none: {:?}",
        held(dst)
    );
    assert_eq!(
        fresh
            .get::<String>("ns", "elsewhere")
            .await
            .unwrap()
            .as_deref(),
        Some("other slot")
    );
}
