//! Tags, dependencies, events, and coherence between caches sharing one Redis.

use crate::backend::{list_keys, shared_cluster, shared_redis, unique_prefix, Backend};
use hoard::{Cache, Cause, DiskConfig, Error, Invalidation, Origin, RedisConfig, SetOptions};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Every cache kind, with dependency tracking on.
fn caches_with_dependencies() -> Vec<(&'static str, Cache, Option<hoard_testkit::TempDir>)> {
    let dir = hoard_testkit::temp_dir();
    let redis = |urls: Vec<String>, cluster: bool| {
        let config = if cluster {
            RedisConfig::cluster(urls)
        } else {
            RedisConfig::standalone(&urls[0])
        };
        let cache = Cache::builder()
            .redis(config.key_prefix(unique_prefix()))
            .dependencies(true)
            .build()
            .unwrap();
        assert!(hoard::block_on(
            cache.wait_coherent(Duration::from_secs(10))
        ));
        cache
    };
    vec![
        (
            "memory",
            Cache::builder().dependencies(true).build().unwrap(),
            None,
        ),
        (
            "disk",
            Cache::builder()
                .disk(DiskConfig::new(dir.path()))
                .dependencies(true)
                .build()
                .unwrap(),
            Some(dir),
        ),
        ("redis", redis(vec![shared_redis().url()], false), None),
        ("cluster", redis(shared_cluster().urls(), true), None),
    ]
}

fn record(cache: &Cache) -> Arc<Mutex<Vec<Invalidation>>> {
    let heard = Arc::new(Mutex::new(Vec::new()));
    let sink = heard.clone();
    cache.on_invalidate(move |event| {
        sink.lock().unwrap().push(event.clone());
        Ok(())
    });
    heard
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_remove_every_tagged_entry_on_every_tier() {
    for b in [
        Backend::memory(),
        Backend::disk(),
        Backend::redis(),
        Backend::cluster(),
    ] {
        let c = &b.cache;
        let heard = record(c);
        let tagged = |tags: &[&str]| SetOptions::new().tags(tags.iter().copied());
        c.set_with("model", "metrics:abc-123", &1, tagged(&["model:abc-123"]))
            .await
            .unwrap();
        c.set_with(
            "model",
            "importance:abc-123",
            &2,
            tagged(&["model:abc-123"]),
        )
        .await
        .unwrap();
        c.set_with(
            "model",
            "comparison:x",
            &3,
            tagged(&["model:abc-123", "comparisons"]),
        )
        .await
        .unwrap();
        c.set_with("model", "comparison:y", &4, tagged(&["comparisons"]))
            .await
            .unwrap();
        c.set("model", "metrics:def-456", &5).await.unwrap();

        let mut listed = c.tagged("comparisons").await.unwrap();
        listed.sort();
        assert_eq!(
            listed,
            ["model:comparison:x", "model:comparison:y"],
            "{}",
            b.name
        );
        assert!(c.tagged("never-used").await.unwrap().is_empty());
        assert!(c.tagged("bad tag").await.is_err());

        assert_eq!(
            c.invalidate_tags(&["model:abc-123"]).await.unwrap(),
            3,
            "{}",
            b.name
        );
        for key in ["metrics:abc-123", "importance:abc-123", "comparison:x"] {
            assert_eq!(
                c.get::<i32>("model", key).await.unwrap(),
                None,
                "{}: {key}",
                b.name
            );
            if let Some(l2) = &b.l2 {
                assert!(
                    l2.get(&format!("model:{key}")).await.unwrap().is_none(),
                    "{}: gone from L2",
                    b.name
                );
            }
        }
        assert_eq!(
            c.get::<i32>("model", "comparison:y").await.unwrap(),
            Some(4)
        );
        assert_eq!(
            c.get::<i32>("model", "metrics:def-456").await.unwrap(),
            Some(5)
        );
        // A key in two tags counts once.
        assert_eq!(
            c.invalidate_tags(&["comparisons", "model:abc-123"])
                .await
                .unwrap(),
            1
        );
        assert_eq!(c.invalidate_tags(&["never-used"]).await.unwrap(), 0);
        assert!(c.invalidate_tags(&["bad tag"]).await.is_err());
        let tags: Vec<Cause> = heard
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.cause.clone())
            .collect();
        assert!(
            tags.contains(&Cause::Tag("model:abc-123".into())),
            "{}: {tags:?}",
            b.name
        );
        let bad = c
            .set_with("ns", "k", &1, SetOptions::new().tags(["has space"]))
            .await;
        assert!(matches!(bad, Err(Error::InvalidKey { .. })));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dependencies_cascade_and_cycles_end() {
    for (name, c, _dir) in caches_with_dependencies() {
        let heard = record(&c);
        c.set("model", "abc-123", &"model a").await.unwrap();
        c.set("model", "def-456", &"model b").await.unwrap();
        let uses_both = SetOptions::new().depends_on(["model:abc-123", "model:def-456"]);
        c.set_with("model", "comparison:ab", &0.93, uses_both)
            .await
            .unwrap();
        c.set_with(
            "model",
            "comparison:b",
            &0.5,
            SetOptions::new().depends_on(["model:def-456"]),
        )
        .await
        .unwrap();
        // A report built on the comparison: two levels down.
        c.set_with(
            "report",
            "weekly",
            &"r",
            SetOptions::new().depends_on(["model:comparison:ab"]),
        )
        .await
        .unwrap();
        // A key browser shows what each entry depends on, from the stored entry.
        let mut depends: Vec<(String, Vec<String>)> = list_keys(&c, "model", "comparison:*")
            .await
            .into_iter()
            .map(|info| {
                assert!(info.tags.is_empty(), "{name}: {:?}", info.tags);
                let mut on = info.depends_on;
                on.sort();
                (info.key, on)
            })
            .collect();
        depends.sort();
        assert_eq!(
            depends,
            vec![
                (
                    "comparison:ab".to_owned(),
                    vec!["model:abc-123".to_owned(), "model:def-456".to_owned()]
                ),
                ("comparison:b".to_owned(), vec!["model:def-456".to_owned()]),
            ],
            "{name}"
        );

        assert!(c.delete("model", "abc-123").await.unwrap());
        assert_eq!(
            c.get::<f64>("model", "comparison:ab").await.unwrap(),
            None,
            "{name}: dependent dropped"
        );
        assert_eq!(
            c.get::<String>("report", "weekly").await.unwrap(),
            None,
            "{name}: and its dependent"
        );
        assert_eq!(
            c.get::<f64>("model", "comparison:b").await.unwrap(),
            Some(0.5)
        );

        // Overwriting a key drops what was computed from its old value.
        c.set("model", "def-456", &"model b, retrained")
            .await
            .unwrap();
        assert_eq!(
            c.get::<f64>("model", "comparison:b").await.unwrap(),
            None,
            "{name}: overwrite cascades"
        );

        // A cycle (b depends on a, a on b) ends: writing a drops b, whose dependent a is
        // already visited, and a stays.
        c.set_with("cycle", "b", &2, SetOptions::new().depends_on(["cycle:a"]))
            .await
            .unwrap();
        c.set_with("cycle", "a", &1, SetOptions::new().depends_on(["cycle:b"]))
            .await
            .unwrap();
        assert_eq!(c.get::<i32>("cycle", "b").await.unwrap(), None, "{name}");
        assert_eq!(c.get::<i32>("cycle", "a").await.unwrap(), Some(1), "{name}");
        assert!(c.delete("cycle", "a").await.unwrap());

        let causes: Vec<Cause> = heard
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.cause.clone())
            .collect();
        assert!(
            causes.contains(&Cause::Dependency("model:abc-123".into())),
            "{name}: {causes:?}"
        );
    }
}

#[tokio::test]
async fn depends_on_without_tracking_is_refused() {
    let c = Cache::in_memory();
    let err = c
        .set_with(
            "ns",
            "k",
            &1,
            SetOptions::new().depends_on(["model:abc-123"]),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("dependencies(true)"), "{err}");
    let c = Cache::builder().dependencies(true).build().unwrap();
    let err = c
        .set_with(
            "ns",
            "k",
            &1,
            SetOptions::new().depends_on(["no-namespace"]),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("namespace:key"), "{err}");
    assert_eq!(
        c.get::<i32>("ns", "k").await.unwrap(),
        None,
        "nothing written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_index_stays_bounded_under_churn_of_short_lived_entries() {
    for b in [
        Backend::memory(),
        Backend::disk(),
        Backend::redis(),
        Backend::cluster(),
    ] {
        let short = SetOptions::new()
            .ttl(Duration::from_millis(30))
            .tags(["churn"]);
        let mut peak = 0;
        for round in 0..20 {
            for i in 0..100 {
                b.cache
                    .set_with("ns", &format!("r{round}:{i}"), &i, short.clone())
                    .await
                    .unwrap();
            }
            b.pass(Duration::from_millis(40)).await;
            if let Some(disk) = &b.disk {
                disk.sweep_expired().unwrap();
            }
            peak = peak.max(b.cache.tag_index_len().await.unwrap());
        }
        // 2,000 tagged entries were written; only the live ones (a round's worth, plus what
        // has not been trimmed yet) may remain in the index.
        assert!(peak <= 400, "{}: tag index peaked at {peak} rows", b.name);
    }
}

#[tokio::test]
async fn events_report_why_and_isolate_bad_callbacks() {
    let c = Cache::in_memory();
    c.on_invalidate(|_| Err("the catalogue reload failed".into()));
    c.on_invalidate(|_| panic!("a callback bug"));
    let heard = record(&c);
    c.set("model", "metrics:a", &1).await.unwrap();
    c.set("model", "metrics:b", &1).await.unwrap();
    c.set("other", "x", &1).await.unwrap();
    assert!(c.delete("model", "metrics:a").await.unwrap());
    assert_eq!(c.delete_pattern("model:metrics:*").await.unwrap(), 1);
    c.clear_namespace("other").await.unwrap();
    assert_eq!(c.clear_all().await.unwrap(), 0);
    let events = heard.lock().unwrap().clone();
    let causes: Vec<Cause> = events.iter().map(|e| e.cause.clone()).collect();
    assert_eq!(
        causes,
        vec![
            Cause::Delete,
            Cause::Pattern("model:metrics:*".into()),
            Cause::Namespace("other".into()),
            Cause::All
        ]
    );
    assert_eq!(events[0].keys, vec!["model:metrics:a".to_string()]);
    assert_eq!(events[1].count, 1);
    assert_eq!(events[2].count, 0, "an O(1) namespace clear does not count");
    assert!(events.iter().all(|e| e.origin == Origin::Local));
}

/// Two caches on one Redis, as two processes would be (each has its own connection,
/// listener and L1).
async fn pair(cluster: bool) -> (Cache, Cache) {
    let prefix = unique_prefix();
    let make = || {
        let config = if cluster {
            RedisConfig::cluster(shared_cluster().urls())
        } else {
            RedisConfig::standalone(shared_redis().url())
        };
        // A long L1 max age: what is tested here is the invalidation message, not the net.
        Cache::builder()
            .redis(config.key_prefix(&prefix))
            .l1_max_age(Some(Duration::from_secs(600)))
            .build()
            .unwrap()
    };
    let (a, b) = (make(), make());
    assert!(
        a.wait_coherent(Duration::from_secs(10)).await
            && b.wait_coherent(Duration::from_secs(10)).await
    );
    (a, b)
}

/// How long a test waits for a message another cache must hear. Far above the bound within
/// which one usually arrives (a loaded machine is slow); only spent when it never comes.
const PATIENCE: Duration = Duration::from_secs(10);

/// Waits until the events `heard` has recorded satisfy `done`, and fails the test after
/// [`PATIENCE`]. A cache reports a remote invalidation only once it has dropped the L1
/// copies it names, so when the event is there, that cache's L1 reflects it.
async fn until_heard(
    heard: &Mutex<Vec<Invalidation>>,
    what: &str,
    done: impl Fn(&[Invalidation]) -> bool,
) {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        if done(&heard.lock().unwrap()) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not heard within {PATIENCE:?}; heard {:?}",
            heard.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// How many remote events of `cause` name the full key `key`.
fn remote_naming(events: &[Invalidation], cause: &Cause, key: &str) -> usize {
    events
        .iter()
        .filter(|e| e.origin == Origin::Remote && &e.cause == cause)
        .filter(|e| e.keys.iter().any(|k| k == key))
        .count()
}

/// Whether some remote event is of `cause`.
fn remote_of(events: &[Invalidation], cause: &Cause) -> bool {
    events
        .iter()
        .any(|e| e.origin == Origin::Remote && &e.cause == cause)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_deletes_tags_and_patterns_on_one_cache_reach_the_others_l1() {
    for cluster in [false, true] {
        let (a, b) = pair(cluster).await;
        let heard = record(&b);
        let overwrites =
            |events: &[Invalidation]| remote_naming(events, &Cause::Overwrite, "model:metrics:abc");
        a.set("model", "metrics:abc", &1).await.unwrap();
        // Let A's own message pass first: B drops a copy whose read raced an invalidation.
        until_heard(&heard, "A's first write", |e| overwrites(e) >= 1).await;
        assert_eq!(b.get::<i32>("model", "metrics:abc").await.unwrap(), Some(1));
        assert_eq!(
            b.get::<i32>("model", "metrics:abc").await.unwrap(),
            Some(1),
            "now in B's L1"
        );
        let l1_hits = b.stats().await.unwrap().totals.l1_hits;
        assert!(l1_hits >= 1, "B served from L1");

        a.set("model", "metrics:abc", &2).await.unwrap();
        until_heard(&heard, "A's overwrite", |e| overwrites(e) >= 2).await;
        assert_eq!(
            b.get::<i32>("model", "metrics:abc").await.unwrap(),
            Some(2),
            "cluster={cluster}: overwrite"
        );

        b.get::<i32>("model", "metrics:abc").await.unwrap();
        assert!(a.delete("model", "metrics:abc").await.unwrap());
        until_heard(&heard, "A's delete", |e| {
            remote_naming(e, &Cause::Delete, "model:metrics:abc") >= 1
        })
        .await;
        assert_eq!(
            b.get::<i32>("model", "metrics:abc").await.unwrap(),
            None,
            "cluster={cluster}: delete"
        );

        for (key, tags) in [
            ("t1", vec!["model:x"]),
            ("t2", vec!["model:x"]),
            ("p1", vec![]),
        ] {
            a.set_with("model", key, &7, SetOptions::new().tags(tags))
                .await
                .unwrap();
            // So that B keeps the copy it reads next (see A's first write above).
            let full = format!("model:{key}");
            until_heard(&heard, "A's tagged write", |e| {
                remote_naming(e, &Cause::Overwrite, &full) >= 1
            })
            .await;
            assert_eq!(b.get::<i32>("model", key).await.unwrap(), Some(7));
        }
        assert_eq!(a.invalidate_tags(&["model:x"]).await.unwrap(), 2);
        assert_eq!(a.delete_pattern("model:p*").await.unwrap(), 1);
        // In a cluster each node publishes the deletes of its own keys, and messages from
        // different nodes may arrive in any order: wait for each one.
        until_heard(&heard, "A's tag invalidation and pattern delete", |e| {
            remote_naming(e, &Cause::Delete, "model:t1") >= 1
                && remote_naming(e, &Cause::Delete, "model:t2") >= 1
                && remote_of(e, &Cause::Pattern("model:p*".into()))
        })
        .await;
        for key in ["t1", "t2", "p1"] {
            assert_eq!(
                b.get::<i32>("model", key).await.unwrap(),
                None,
                "cluster={cluster}: {key}"
            );
        }
    }
}

/// The JSON text L1 keeps beside an entry (`get_json_l1`) goes with the entry when another
/// cache overwrites or deletes it: never the old text after the message is heard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rendered_json_in_l1_follows_other_caches_writes() {
    for cluster in [false, true] {
        let (a, b) = pair(cluster).await;
        let heard = record(&b);
        let overwrites =
            |events: &[Invalidation]| remote_naming(events, &Cause::Overwrite, "asr:clip");
        let json = |cache: &Cache| cache.get_json_l1("asr", "clip").unwrap();
        a.set("asr", "clip", &serde_json::json!({"text": "one"}))
            .await
            .unwrap();
        until_heard(&heard, "A's first write", |e| overwrites(e) >= 1).await;
        assert_eq!(json(&b), None, "not in B's L1 before B reads it");
        assert!(b.get_raw("asr", "clip").await.unwrap().is_some());
        for _ in 0..2 {
            assert_eq!(json(&b).as_deref(), Some(&br#"{"text":"one"}"#[..]));
        }
        a.set("asr", "clip", &serde_json::json!({"text": "two"}))
            .await
            .unwrap();
        until_heard(&heard, "A's overwrite", |e| overwrites(e) >= 2).await;
        assert_eq!(json(&b), None, "cluster={cluster}: the old text went");
        assert!(b.get_raw("asr", "clip").await.unwrap().is_some());
        assert_eq!(json(&b).as_deref(), Some(&br#"{"text":"two"}"#[..]));
        assert!(a.delete("asr", "clip").await.unwrap());
        until_heard(&heard, "A's delete", |e| {
            remote_naming(e, &Cause::Delete, "asr:clip") >= 1
        })
        .await;
        assert_eq!(json(&b), None, "cluster={cluster}: deleted");
        let stats = b.stats().await.unwrap();
        assert_eq!(stats.namespaces["asr"].l1_hits, 3, "cluster={cluster}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_while_another_cache_holds_copies_serves_nothing_stale() {
    let mut server = hoard_testkit::RedisServer::start();
    let make = || {
        Cache::builder()
            .redis(RedisConfig::standalone(server.url()).timeout(Duration::from_millis(200)))
            .l1_max_age(Some(Duration::from_secs(600)))
            .build()
            .unwrap()
    };
    let (a, b) = (make(), make());
    assert!(
        a.wait_coherent(Duration::from_secs(10)).await
            && b.wait_coherent(Duration::from_secs(10)).await
    );
    a.set("ns", "k", &"before").await.unwrap();
    assert_eq!(
        b.get::<String>("ns", "k").await.unwrap().as_deref(),
        Some("before")
    );
    assert_eq!(
        b.get::<String>("ns", "k").await.unwrap().as_deref(),
        Some("before"),
        "in B's L1"
    );

    server.kill();
    server.restart(); // no persistence: Redis comes back empty
                      // A writes a new value before B has even noticed the outage.
    let wrote = async {
        for _ in 0..100 {
            if a.set("ns", "k", &"after").await.is_ok() && a.ping_l2().await.is_ok() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    };
    assert!(wrote.await);
    a.set("ns", "k", &"after").await.unwrap();
    assert!(
        b.wait_coherent(Duration::from_secs(10)).await,
        "B resubscribed"
    );
    // B's first reads may miss while its connection comes back; none may be the old copy.
    let mut seen = None;
    for _ in 0..100 {
        seen = b.get::<String>("ns", "k").await.unwrap();
        assert_ne!(
            seen.as_deref(),
            Some("before"),
            "B served the pre-outage copy"
        );
        if seen.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen.as_deref(), Some("after"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_clear_is_o1_and_reaches_other_caches() {
    for cluster in [false, true] {
        let (a, b) = pair(cluster).await;
        let (heard_by_a, heard_by_b) = (record(&a), record(&b));
        let items: Vec<(String, u32)> = (0..50).map(|i| (format!("k{i}"), i)).collect();
        a.mset("ns", &items, SetOptions::new()).await.unwrap();
        a.set("other", "k0", &1).await.unwrap();
        // B hears A's writes before reading: a late message would drop the copies B is
        // about to take, and the clear below would then have nothing of B's to remove.
        until_heard(&heard_by_b, "A's writes", |e| {
            items
                .iter()
                .map(|(k, _)| format!("ns:{k}"))
                .chain(["other:k0".to_owned()])
                .all(|key| remote_naming(e, &Cause::Overwrite, &key) >= 1)
        })
        .await;
        let keys: Vec<String> = items.iter().map(|(k, _)| k.clone()).collect();
        assert!(b
            .mget::<u32>("ns", &keys)
            .await
            .unwrap()
            .iter()
            .all(Option::is_some));

        a.clear_namespace("ns").await.unwrap();
        until_heard(&heard_by_b, "A's namespace clear", |e| {
            remote_of(e, &Cause::Namespace("ns".into()))
        })
        .await;
        assert!(
            b.mget::<u32>("ns", &keys)
                .await
                .unwrap()
                .iter()
                .all(Option::is_none),
            "cluster={cluster}: B's copies and L2 entries of the old generation are gone"
        );
        assert_eq!(
            b.get::<u32>("other", "k0").await.unwrap(),
            Some(1),
            "other namespaces untouched"
        );
        // A new generation starts clean, and both see its writes.
        b.set("ns", "k1", &100).await.unwrap();
        until_heard(&heard_by_a, "B's write", |e| {
            remote_naming(e, &Cause::Overwrite, "ns:k1") >= 1
        })
        .await;
        assert_eq!(a.get::<u32>("ns", "k1").await.unwrap(), Some(100));
        assert_eq!(a.get::<u32>("ns", "k2").await.unwrap(), None);
    }
}

#[tokio::test]
async fn namespace_generation_survives_reopening_the_disk_tier() {
    let dir = hoard_testkit::temp_dir();
    {
        let cache = Cache::open(dir.path()).unwrap();
        cache.set("ns", "old", &1).await.unwrap();
        cache.clear_namespace("ns").await.unwrap();
        cache.set("ns", "new", &2).await.unwrap();
    }
    let cache = Cache::open(dir.path()).unwrap();
    assert_eq!(
        cache.get::<i32>("ns", "old").await.unwrap(),
        None,
        "still cleared after reopen"
    );
    assert_eq!(cache.get::<i32>("ns", "new").await.unwrap(), Some(2));
    assert!(
        !cache.delete("ns", "old").await.unwrap(),
        "a cleared entry does not count as deleted"
    );
}
