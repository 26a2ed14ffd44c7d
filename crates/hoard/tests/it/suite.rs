//! Behaviour every backend shows, run once per backend.

use crate::backend::{backend_suite, list_keys, Backend};
use hoard::{Entry, Error, SetOptions};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::time::Duration;

backend_suite!(
    typed_and_raw_round_trip,
    default_ttl_applies,
    expired_entries_are_never_returned,
    l1_never_outlives_l2_expiry,
    mget_and_mset_with_missing_keys,
    delete_reports_whether_it_existed,
    delete_pattern_touches_only_matches,
    clear_namespace_touches_only_that_namespace,
    clear_all_empties_every_tier,
    bad_input_is_refused_with_a_reason,
    stats_after_known_sequence,
    concurrent_tasks_lose_no_updates,
    wrong_type_is_a_decode_error,
    mset_with_a_repeated_key_keeps_the_last_value,
    cold_key_under_1000_tasks_computes_once,
    scan_keys_pages_through_every_match_once,
    tags_are_kept_with_their_entries,
    census_counts_what_a_reader_would_find,
);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Metrics {
    accuracy: f64,
    f1_score: f64,
    labels: Vec<String>,
}

fn metrics(accuracy: f64) -> Metrics {
    Metrics {
        accuracy,
        f1_score: accuracy - 0.02,
        labels: vec!["happy".into(), "sad".into()],
    }
}

fn short(ms: u64) -> SetOptions {
    SetOptions::new().ttl(Duration::from_millis(ms))
}

async fn typed_and_raw_round_trip(b: Backend) {
    let c = &b.cache;
    c.set("model", "metrics:abc-123", &metrics(0.95))
        .await
        .unwrap();
    assert_eq!(
        c.get::<Metrics>("model", "metrics:abc-123").await.unwrap(),
        Some(metrics(0.95)),
        "{}",
        b.name
    );
    c.set_raw("blobs", "wav:1", &b"RIFF\0\0"[..], SetOptions::new())
        .await
        .unwrap();
    assert_eq!(
        c.get_raw("blobs", "wav:1").await.unwrap().as_deref(),
        Some(&b"RIFF\0\0"[..])
    );
    // A large value (compressed on the byte tiers) comes back whole.
    let big = serde_json::json!({"segments": vec!["the quick brown fox"; 2000]});
    c.set("transcripts", "clip:9", &big).await.unwrap();
    assert_eq!(
        c.get::<serde_json::Value>("transcripts", "clip:9")
            .await
            .unwrap(),
        Some(big.clone())
    );
    if let Some(l2) = &b.l2 {
        let stored = l2.get("transcripts:clip:9").await.unwrap().expect("in L2");
        assert_eq!(
            hoard::codec::decode::<serde_json::Value>(&stored.value).unwrap(),
            big
        );
    }
    // Overwrite replaces.
    c.set("model", "metrics:abc-123", &metrics(0.5))
        .await
        .unwrap();
    assert_eq!(
        c.get::<Metrics>("model", "metrics:abc-123").await.unwrap(),
        Some(metrics(0.5))
    );
    assert_eq!(
        c.get::<Metrics>("model", "metrics:nope").await.unwrap(),
        None
    );
}

async fn default_ttl_applies(b: Backend) {
    let c = &b.cache;
    c.set("ns", "k", &1).await.unwrap();
    let ttl = c.ttl("ns", "k").await.unwrap().expect("has a TTL");
    assert!(
        ttl <= c.default_ttl() && ttl > c.default_ttl() - Duration::from_secs(5),
        "{ttl:?}"
    );
    c.set_with(
        "ns",
        "short",
        &1,
        SetOptions::new().ttl(hoard::ttl::VERY_SHORT),
    )
    .await
    .unwrap();
    let ttl = c.ttl("ns", "short").await.unwrap().unwrap();
    assert!(
        ttl <= Duration::from_secs(300) && ttl > Duration::from_secs(295),
        "{ttl:?}"
    );
    assert!(c.exists("ns", "k").await.unwrap());
    assert!(!c.exists("ns", "absent").await.unwrap());
    assert_eq!(c.ttl("ns", "absent").await.unwrap(), None);
}

async fn expired_entries_are_never_returned(b: Backend) {
    let c = &b.cache;
    c.set_with("ns", "soon", &"v", short(150)).await.unwrap();
    c.mset("ns", &[("m1", 1), ("m2", 2)], short(150))
        .await
        .unwrap();
    c.set_with(
        "ns",
        "later",
        &"v",
        SetOptions::new().ttl(Duration::from_secs(60)),
    )
    .await
    .unwrap();
    assert!(c.get::<String>("ns", "soon").await.unwrap().is_some());
    b.pass(Duration::from_millis(250)).await;

    assert_eq!(
        c.get::<String>("ns", "soon").await.unwrap(),
        None,
        "{}",
        b.name
    );
    assert_eq!(c.get_raw("ns", "soon").await.unwrap(), None);
    assert!(!c.exists("ns", "soon").await.unwrap());
    assert_eq!(c.ttl("ns", "soon").await.unwrap(), None);
    let got = c.mget_raw("ns", &["m1", "m2", "later"]).await.unwrap();
    assert_eq!(
        (got[0].is_none(), got[1].is_none(), got[2].is_some()),
        (true, true, true)
    );
    assert_eq!(
        c.get::<String>("ns", "later").await.unwrap().as_deref(),
        Some("v")
    );
    // Each tier on its own refuses it too, swept or not.
    if let Some(l2) = &b.l2 {
        assert!(l2.get("ns:soon").await.unwrap().is_none());
        assert!(l2
            .get_many(&["ns:m1", "ns:m2"])
            .await
            .unwrap()
            .iter()
            .all(Option::is_none));
        assert_eq!(l2.ttl("ns:soon").await.unwrap(), None);
    }
    // Deleting an expired entry reports that nothing live was there.
    assert!(!c.delete("ns", "soon").await.unwrap());
}

async fn l1_never_outlives_l2_expiry(b: Backend) {
    let Some(l2) = &b.l2 else { return };
    // Written behind L1's back with a short life, then read through the cache (fills L1).
    l2.set(
        "ns:k",
        Entry::new_at(&b"v"[..], Duration::from_millis(200), b.now_ms()),
    )
    .await
    .unwrap();
    assert!(b.cache.get_raw("ns", "k").await.unwrap().is_some());
    let stats = b.cache.stats().await.unwrap();
    assert_eq!(stats.namespaces["ns"].l2_hits, 1);
    b.pass(Duration::from_millis(300)).await;
    assert_eq!(
        b.cache.get_raw("ns", "k").await.unwrap(),
        None,
        "{}",
        b.name
    );
}

async fn mget_and_mset_with_missing_keys(b: Backend) {
    let c = &b.cache;
    let items: Vec<(String, Metrics)> = (0..20)
        .map(|i| (format!("m:{i}"), metrics(i as f64)))
        .collect();
    c.mset("model", &items, SetOptions::new()).await.unwrap();
    let keys = ["m:3", "missing:1", "m:19", "m:0", "missing:2"];
    let got = c.mget::<Metrics>("model", &keys).await.unwrap();
    assert_eq!(
        got,
        vec![
            Some(metrics(3.0)),
            None,
            Some(metrics(19.0)),
            Some(metrics(0.0)),
            None
        ],
        "{}",
        b.name
    );
    // Values only in L2 are found too, and in input order.
    if let Some(l2) = &b.l2 {
        l2.set(
            "model:only-l2",
            Entry::new(
                hoard::codec::encode(&metrics(7.0)).unwrap(),
                Duration::from_secs(60),
            ),
        )
        .await
        .unwrap();
        let got = c
            .mget::<Metrics>("model", &["missing", "only-l2", "m:1"])
            .await
            .unwrap();
        assert_eq!(got, vec![None, Some(metrics(7.0)), Some(metrics(1.0))]);
    }
    let empty: [&str; 0] = [];
    assert!(c.mget_raw("model", &empty).await.unwrap().is_empty());
    // One bad key refuses the whole call, before anything is written.
    let bad = c
        .mset("model", &[("ok", 1), ("bad key", 2)], SetOptions::new())
        .await;
    assert!(matches!(bad, Err(Error::InvalidKey { .. })));
    assert_eq!(c.get::<i32>("model", "ok").await.unwrap(), None);
}

async fn delete_reports_whether_it_existed(b: Backend) {
    let c = &b.cache;
    c.set("ns", "k", &1).await.unwrap();
    assert!(c.delete("ns", "k").await.unwrap());
    assert!(!c.delete("ns", "k").await.unwrap());
    assert_eq!(c.get::<i32>("ns", "k").await.unwrap(), None);
    if let Some(l2) = &b.l2 {
        assert!(l2.get("ns:k").await.unwrap().is_none());
    }
}

async fn fill_model_keys(b: &Backend) {
    let c = &b.cache;
    for id in ["abc-123", "def-456"] {
        c.set("model", &format!("metrics:{id}"), &1).await.unwrap();
        c.set("model", &format!("feature_importance:{id}"), &2)
            .await
            .unwrap();
        c.set("model", &format!("comparison:{id}"), &3)
            .await
            .unwrap();
    }
    c.set("modelx", "metrics:abc-123", &4).await.unwrap();
    c.set("other", "metrics:abc-123", &5).await.unwrap();
}

async fn remaining_keys(b: &Backend) -> HashSet<String> {
    let mut left = HashSet::new();
    for ns in ["model", "modelx", "other"] {
        for kind in ["metrics", "feature_importance", "comparison"] {
            for id in ["abc-123", "def-456"] {
                let key = format!("{kind}:{id}");
                if b.cache.get_raw(ns, &key).await.unwrap().is_some() {
                    left.insert(format!("{ns}:{key}"));
                }
            }
        }
    }
    left
}

async fn delete_pattern_touches_only_matches(b: Backend) {
    fill_model_keys(&b).await;
    assert_eq!(
        b.cache.delete_pattern("model:metrics:*").await.unwrap(),
        2,
        "{}",
        b.name
    );
    let left = remaining_keys(&b).await;
    assert_eq!(left.len(), 6, "{left:?}");
    assert!(!left.contains("model:metrics:abc-123"));
    assert!(left.contains("modelx:metrics:abc-123") && left.contains("other:metrics:abc-123"));
    // A pattern spanning namespaces, with a class.
    assert_eq!(
        b.cache.delete_pattern("*:comparison:[a-c]*").await.unwrap(),
        1
    );
    assert!(!remaining_keys(&b)
        .await
        .contains("model:comparison:abc-123"));
    assert_eq!(b.cache.delete_pattern("nothing:*").await.unwrap(), 0);
    assert!(matches!(
        b.cache.delete_pattern("model:[").await,
        Err(Error::InvalidPattern { .. })
    ));
}

async fn clear_namespace_touches_only_that_namespace(b: Backend) {
    fill_model_keys(&b).await;
    b.cache.clear_namespace("model").await.unwrap();
    let left = remaining_keys(&b).await;
    let expected: HashSet<String> = ["modelx:metrics:abc-123", "other:metrics:abc-123"]
        .map(String::from)
        .into();
    assert_eq!(left, expected, "{}", b.name);
    // O(1): the old entries still sit in L2 until their TTL, but read as absent, even to a
    // cache with an empty L1 on the same L2.
    if let Some(l2) = &b.l2 {
        assert!(
            l2.get("model:metrics:abc-123").await.unwrap().is_some(),
            "{}: not scanned away",
            b.name
        );
        let fresh = hoard::Cache::builder().l2(l2.clone()).build().unwrap();
        assert!(fresh.wait_coherent(Duration::from_secs(10)).await);
        assert_eq!(
            fresh.get::<i32>("model", "metrics:abc-123").await.unwrap(),
            None,
            "{}",
            b.name
        );
        assert!(!fresh.exists("model", "metrics:abc-123").await.unwrap());
    }
    // Writing again after the clear works, and is seen.
    b.cache.set("model", "metrics:abc-123", &9).await.unwrap();
    assert_eq!(
        b.cache
            .get::<i32>("model", "metrics:abc-123")
            .await
            .unwrap(),
        Some(9)
    );
    assert!(b.cache.clear_namespace("bad ns").await.is_err());
}

async fn clear_all_empties_every_tier(b: Backend) {
    fill_model_keys(&b).await;
    assert_eq!(b.cache.clear_all().await.unwrap(), 8, "{}", b.name);
    assert!(remaining_keys(&b).await.is_empty());
    if let Some(disk) = &b.disk {
        assert_eq!(disk.physical_len().unwrap(), 0);
    }
    b.cache.set("model", "after", &1).await.unwrap();
    assert_eq!(b.cache.get::<i32>("model", "after").await.unwrap(), Some(1));
}

async fn bad_input_is_refused_with_a_reason(b: Backend) {
    let c = &b.cache;
    let long_namespace = "n".repeat(129);
    let cases: Vec<(&str, String, &str)> = vec![
        ("", "k".into(), "namespace is empty"),
        ("a:b", "k".into(), "contains ':'"),
        ("ns", "".into(), "key is empty"),
        ("ns", "has space".into(), "whitespace"),
        ("ns", "ctl\u{1}".into(), "control character"),
        ("ns", "k".repeat(1025), "longer than 1024"),
        (&long_namespace, "k".into(), "longer than 128"),
    ];
    for (ns, key, reason) in &cases {
        let set = c.set(ns, key, &1).await.unwrap_err().to_string();
        assert!(set.contains(reason), "set {ns:?}/{key:?}: {set}");
        let get = c.get::<i32>(ns, key).await.unwrap_err().to_string();
        assert!(get.contains(reason), "get {ns:?}/{key:?}: {get}");
        assert!(c.delete(ns, key).await.is_err());
    }
    let zero = c
        .set_with("ns", "k", &1, SetOptions::new().ttl(Duration::ZERO))
        .await;
    assert!(zero.unwrap_err().to_string().contains("at least 1ms"));
    let tiny = c
        .set_with(
            "ns",
            "k",
            &1,
            SetOptions::new().ttl(Duration::from_micros(500)),
        )
        .await;
    assert!(
        tiny.is_err(),
        "a sub-millisecond TTL would expire as it is written"
    );
    // Past the documented maximum: refused alike on every tier (Redis would answer
    // "invalid expire time" for some of these).
    for ttl in [
        hoard::ttl::MAX + Duration::from_millis(1),
        Duration::from_secs(106_751_991_167 * 86_400),
        Duration::from_millis(u64::MAX),
    ] {
        let long = c
            .set_with("ns", "k", &1, SetOptions::new().ttl(ttl))
            .await
            .unwrap_err()
            .to_string();
        assert!(long.contains("at most"), "{ttl:?}: {long}");
    }
    // Nothing was written by any refused call.
    assert_eq!(c.stats().await.unwrap().totals.sets, 0);
    // The maximum itself is taken, and reads back.
    c.set_with("ns", "longest", &1, SetOptions::new().ttl(hoard::ttl::MAX))
        .await
        .unwrap();
    assert_eq!(c.get::<i32>("ns", "longest").await.unwrap(), Some(1));
    // A hit needs no validation (L1 holds only what validated writes stored), so a read
    // whose parts join into a stored key must still be refused, never answered with it:
    // `a` + `b:k` is stored, `a:b` + `k` is not a namespace.
    c.set("a", "b:k", &7).await.unwrap();
    assert_eq!(c.get::<i32>("a", "b:k").await.unwrap(), Some(7));
    let joined = c.get::<i32>("a:b", "k").await.unwrap_err().to_string();
    assert!(joined.contains("contains ':'"), "{joined}");
    assert!(c.get_entry_l1("a:b", "k").is_err());
    assert!(c.get_entry_l1("ns", "has space").is_err());
    assert_eq!(
        c.get_entry_l1("a", "b:k").unwrap().map(|e| e.value.len()),
        Some(1)
    );
}

async fn stats_after_known_sequence(b: Backend) {
    let c = &b.cache;
    c.set("a", "one", &1).await.unwrap();
    c.set("a", "two", &2).await.unwrap();
    c.set("b", "one", &1).await.unwrap();
    c.get::<i32>("a", "one").await.unwrap(); // L1 hit
    c.get::<i32>("a", "one").await.unwrap(); // L1 hit
    c.get::<i32>("a", "absent").await.unwrap(); // miss
    c.mget::<i32>("b", &["one", "x", "y"]).await.unwrap(); // 1 hit, 2 misses
    let mut l2_hits = 0;
    if let Some(l2) = &b.l2 {
        l2.set(
            "a:behind",
            Entry::new(hoard::codec::encode(&3).unwrap(), Duration::from_secs(60)),
        )
        .await
        .unwrap();
        c.get::<i32>("a", "behind").await.unwrap(); // L2 hit, fills L1
        c.get::<i32>("a", "behind").await.unwrap(); // now an L1 hit
        l2_hits = 1;
    }
    assert!(c.delete("a", "two").await.unwrap());
    assert!(!c.delete("a", "two").await.unwrap());

    let s = c.stats().await.unwrap();
    let a = &s.namespaces["a"];
    assert_eq!(
        (a.l1_hits, a.l2_hits, a.misses),
        (2 + l2_hits, l2_hits, 1),
        "{}: {a:?}",
        b.name
    );
    assert_eq!((a.sets, a.deletes, a.errors), (2, 1, 0));
    let nb = &s.namespaces["b"];
    assert_eq!((nb.hits, nb.misses, nb.sets), (1, 2, 1));
    assert_eq!(s.totals.hits, 3 + 2 * l2_hits);
    assert_eq!(s.totals.misses, 3);
    let expected_rate = s.totals.hits as f64 / (s.totals.hits + 3) as f64;
    assert!((s.totals.hit_rate - expected_rate).abs() < 1e-9);
    assert_eq!(s.tiers[0].name, "memory");
    assert_eq!(s.tiers.len(), 1 + usize::from(b.l2.is_some()));
    assert_eq!(
        s.tiers[0].entries,
        2 + l2_hits,
        "L1 holds a:one, b:one (and a:behind)"
    );
    assert!(s.used_memory > 0);
    assert!(s.total_keys >= 2);

    // Pattern deletes count as deletes of the namespace they name; one that spans
    // namespaces, and clearing everything, as deletes of `(other)`; none that removed
    // nothing makes a row.
    for i in 0..4 {
        c.set("p", &format!("clip-{i}"), &i).await.unwrap();
        c.set("q", &format!("clip-{i}"), &i).await.unwrap();
    }
    assert_eq!(c.delete_pattern("p:clip-[01]").await.unwrap(), 2);
    assert_eq!(c.delete_pattern("nothing:*").await.unwrap(), 0);
    assert_eq!(c.delete_pattern("*:clip-3").await.unwrap(), 2);
    let removed_by_clear = c.clear_all().await.unwrap();
    let s = c.stats().await.unwrap();
    assert_eq!(s.namespaces["p"].deletes, 2, "{}", b.name);
    assert!(!s.namespaces.contains_key("nothing"), "{}", b.name);
    assert_eq!(
        s.namespaces[hoard::OTHER_NAMESPACES].deletes,
        2 + removed_by_clear,
        "{}",
        b.name
    );
    assert_eq!(s.totals.deletes, 1 + 2 + 2 + removed_by_clear, "{}", b.name);
}

async fn concurrent_tasks_lose_no_updates(b: Backend) {
    const TASKS: usize = 16;
    const KEYS: usize = 200;
    let mut handles = Vec::new();
    for t in 0..TASKS {
        let c = b.cache.clone();
        handles.push(tokio::spawn(async move {
            for k in 0..KEYS {
                c.set("conc", &format!("t{t}:k{k}"), &(t * 1000 + k))
                    .await
                    .unwrap();
                // Everyone also hammers one shared key.
                c.set("conc", "shared", &(t * 1000 + k)).await.unwrap();
                assert_eq!(
                    c.get::<usize>("conc", &format!("t{t}:k{k}")).await.unwrap(),
                    Some(t * 1000 + k)
                );
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    for t in 0..TASKS {
        let keys: Vec<String> = (0..KEYS).map(|k| format!("t{t}:k{k}")).collect();
        let got = b.cache.mget::<usize>("conc", &keys).await.unwrap();
        let expected: Vec<Option<usize>> = (0..KEYS).map(|k| Some(t * 1000 + k)).collect();
        assert_eq!(got, expected, "{} task {t}", b.name);
    }
    // The shared key holds one of the values written last by some task, in every tier.
    let shared = b
        .cache
        .get::<usize>("conc", "shared")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(shared % 1000, KEYS - 1, "{shared}");
    if let Some(l2) = &b.l2 {
        let in_l2 = l2.get("conc:shared").await.unwrap().unwrap();
        assert_eq!(
            hoard::codec::decode::<usize>(&in_l2.value).unwrap(),
            shared,
            "L1 and L2 agree"
        );
    }
    let s = b.cache.stats().await.unwrap();
    assert_eq!(s.namespaces["conc"].sets, (TASKS * KEYS * 2) as u64);
}

async fn wrong_type_is_a_decode_error(b: Backend) {
    b.cache.set("ns", "k", &"a string").await.unwrap();
    let err = b.cache.get::<Metrics>("ns", "k").await.unwrap_err();
    assert!(matches!(err, Error::Decode(_)), "{err}");
    // The entry is still there for the right type.
    assert_eq!(
        b.cache.get::<String>("ns", "k").await.unwrap().as_deref(),
        Some("a string")
    );
}

async fn mset_with_a_repeated_key_keeps_the_last_value(b: Backend) {
    let items = [("k", 1), ("other", 2), ("k", 3)];
    b.cache.mset("ns", &items, SetOptions::new()).await.unwrap();
    assert_eq!(
        b.cache.get::<i32>("ns", "k").await.unwrap(),
        Some(3),
        "{}",
        b.name
    );
    if let Some(l2) = &b.l2 {
        let stored = l2.get("ns:k").await.unwrap().unwrap();
        assert_eq!(hoard::codec::decode::<i32>(&stored.value).unwrap(), 3);
    }
}

async fn cold_key_under_1000_tasks_computes_once(b: Backend) {
    use hoard::ComputeOptions;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let runs = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let (cache, runs) = (b.cache.clone(), runs.clone());
            tokio::spawn(async move {
                cache
                    .get_or_compute(
                        "model",
                        "comparison:cold",
                        &ComputeOptions::new(),
                        || async {
                            runs.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            metrics(0.9)
                        },
                    )
                    .await
                    .unwrap()
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), metrics(0.9));
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1, "{}: computed once", b.name);
    // Stored for later callers, with how long it took.
    let entry = b
        .cache
        .get_entry("model", "comparison:cold")
        .await
        .unwrap()
        .unwrap();
    assert!(
        entry.compute_ms >= 50,
        "compute time recorded: {}",
        entry.compute_ms
    );
}

/// Every page together lists each live key of the namespace that matches exactly once:
/// nothing of a neighbouring namespace (`browsex`), nothing expired, nothing a namespace
/// clear made unreadable, each page within its limit; sizes and deadlines are the entries'.
async fn scan_keys_pages_through_every_match_once(b: Backend) {
    let c = &b.cache;
    let mut expected = HashSet::new();
    for i in 0..200 {
        let key = format!("clip-{i:03}");
        c.set("browse", &key, &metrics(f64::from(i) / 200.0))
            .await
            .unwrap();
        expected.insert(key);
    }
    for i in 0..40 {
        let key = format!("wav:{i}");
        c.set_raw("browse", &key, vec![7u8; i + 1], SetOptions::new())
            .await
            .unwrap();
        expected.insert(key);
    }
    c.set("browsex", "clip-000", &1).await.unwrap();
    c.set("other", "clip-001", &1).await.unwrap();
    for i in 0..5 {
        c.set_with("browse", &format!("gone-{i}"), &1, short(30))
            .await
            .unwrap();
    }
    c.set("cleared", "clip-000", &1).await.unwrap();
    c.clear_namespace("cleared").await.unwrap();
    b.pass(Duration::from_millis(150)).await;
    // Expired for every reader before the scan starts.
    for i in 0..5 {
        assert_eq!(
            c.get_raw("browse", &format!("gone-{i}")).await.unwrap(),
            None
        );
    }

    let all = scan_all(&b, "*", 30).await;
    let names: HashSet<String> = all.iter().map(|k| k.key.clone()).collect();
    assert_eq!(names.len(), all.len(), "{}: a key was listed twice", b.name);
    assert_eq!(names, expected, "{}", b.name);
    let wav = all.iter().find(|k| k.key == "wav:9").unwrap();
    assert_eq!(wav.bytes, 10, "{}", b.name);
    assert!(wav.ttl > Duration::ZERO && wav.ttl <= Duration::from_secs(3600));

    let clips: HashSet<String> = scan_all(&b, "clip-1*", 7)
        .await
        .into_iter()
        .map(|k| k.key)
        .collect();
    let wanted: HashSet<String> = (100..200).map(|i| format!("clip-{i:03}")).collect();
    assert_eq!(clips, wanted, "{}", b.name);
    assert!(scan_all(&b, "nothing-*", 50).await.is_empty());
    assert!(c
        .scan_keys("cleared", "*", "", 100)
        .await
        .unwrap()
        .keys
        .is_empty());

    assert!(matches!(
        c.scan_keys("browse", "clip-[", "", 10).await,
        Err(Error::InvalidPattern { .. })
    ));
    assert!(matches!(
        c.scan_keys("browse", "", "", 10).await,
        Err(Error::InvalidPattern { .. })
    ));
    assert!(matches!(
        c.scan_keys("bad ns", "*", "", 10).await,
        Err(Error::InvalidNamespace { .. })
    ));
    if b.name.contains("redis") || b.name.contains("cluster") {
        for cursor in ["nonsense", "99:0", "0:x"] {
            assert!(
                matches!(
                    c.scan_keys("browse", "*", cursor, 10).await,
                    Err(Error::InvalidCursor { .. })
                ),
                "{}: {cursor}",
                b.name
            );
        }
    }
}

async fn tags_are_kept_with_their_entries(b: Backend) {
    let c = &b.cache;
    let tags = |t: &[&str]| SetOptions::new().tags(t.iter().copied());
    c.set_with("tagged", "one", &1, tags(&["model:v2", "speaker-7"]))
        .await
        .unwrap();
    c.mset("tagged", &[("two", 2), ("three", 3)], tags(&["batch"]))
        .await
        .unwrap();
    c.set("tagged", "plain", &4).await.unwrap();
    // Rewritten without tags: the entry no longer carries the old ones.
    c.set_with("tagged", "retagged", &5, tags(&["old"]))
        .await
        .unwrap();
    c.set("tagged", "retagged", &6).await.unwrap();
    let expected: Vec<(&str, Vec<&str>)> = vec![
        ("one", vec!["model:v2", "speaker-7"]),
        ("plain", vec![]),
        ("retagged", vec![]),
        ("three", vec!["batch"]),
        ("two", vec!["batch"]),
    ];
    let mut listed: Vec<(String, Vec<String>)> = list_keys(c, "tagged", "*")
        .await
        .into_iter()
        .map(|info| {
            assert!(info.depends_on.is_empty(), "{}", b.name);
            (info.key, info.tags)
        })
        .collect();
    listed.sort();
    assert_eq!(listed, expected_owned(&expected), "{}", b.name);
    // The tags are in the stored bytes, not only in this process's L1.
    if let Some(l2) = &b.l2 {
        for (key, tags) in &expected {
            let entry = l2.get(&format!("tagged:{key}")).await.unwrap().unwrap();
            assert_eq!(entry.tags(), tags.as_slice(), "{}: {key}", b.name);
        }
    }
    // And the values are unchanged by them.
    assert_eq!(c.get::<i32>("tagged", "one").await.unwrap(), Some(1));
    assert_eq!(c.get::<i32>("tagged", "retagged").await.unwrap(), Some(6));
}

/// A generated mix of writes, overwrites, deletes, expiries, a namespace clear and a
/// pattern delete over six namespaces; the census equals the test's own account of what
/// is live, kept apart from the cache.
async fn census_counts_what_a_reader_would_find(b: Backend) {
    use std::collections::BTreeMap;
    let c = &b.cache;
    let namespaces = ["asr", "asr-v2", "emotion", "tags", "frames", "cleared"];
    let mut live: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |bound: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % bound
    };
    let mut short_lived = Vec::new();
    for _ in 0..600 {
        let ns = namespaces[next(namespaces.len() as u64) as usize];
        let key = format!("k{}", next(120));
        match next(10) {
            0 => {
                c.delete(ns, &key).await.unwrap();
                live.remove(&(ns.to_owned(), key));
            }
            1 => {
                c.set_raw(ns, &key, vec![1u8; 10], short(50)).await.unwrap();
                live.remove(&(ns.to_owned(), key.clone()));
                short_lived.push((ns, key));
            }
            _ => {
                let len = 1 + next(3000) as usize;
                c.set_raw(ns, &key, vec![7u8; len], SetOptions::new())
                    .await
                    .unwrap();
                live.insert((ns.to_owned(), key), len as u64);
            }
        }
    }
    let batch: Vec<(String, bytes::Bytes)> = (0..30)
        .map(|i| (format!("batch-{i}"), bytes::Bytes::from(vec![3u8; 100 + i])))
        .collect();
    c.mset_raw("frames", batch.clone(), SetOptions::new())
        .await
        .unwrap();
    for (key, value) in &batch {
        live.insert(("frames".into(), key.clone()), value.len() as u64);
    }
    c.clear_namespace("cleared").await.unwrap();
    live.retain(|(ns, _), _| ns != "cleared");
    c.set_raw("cleared", "after", vec![0u8; 5], SetOptions::new())
        .await
        .unwrap();
    live.insert(("cleared".into(), "after".into()), 5);
    c.delete_pattern("asr:k1*").await.unwrap();
    live.retain(|(ns, key), _| !(ns == "asr" && key.starts_with("k1")));
    b.pass(Duration::from_millis(150)).await;

    let mut expected: BTreeMap<String, hoard::NamespaceCensus> = BTreeMap::new();
    for ((ns, _), bytes) in &live {
        let counted = expected.entry(ns.clone()).or_default();
        counted.keys += 1;
        counted.bytes += bytes;
    }
    let census = c.census().await.unwrap();
    assert_eq!(census.namespaces, expected, "{}", b.name);
    assert!(census.scanned >= live.len() as u64, "{}", b.name);
    assert_eq!(census.totals().keys, live.len() as u64, "{}", b.name);
    assert!(!short_lived.is_empty());
}

fn expected_owned(expected: &[(&str, Vec<&str>)]) -> Vec<(String, Vec<String>)> {
    expected
        .iter()
        .map(|(k, t)| (k.to_string(), t.iter().map(|t| t.to_string()).collect()))
        .collect()
}

/// Every key of `browse` matching `pattern`, through pages of `limit`.
async fn scan_all(b: &Backend, pattern: &str, limit: usize) -> Vec<hoard::KeyInfo> {
    let mut seen = Vec::new();
    let mut cursor = String::new();
    for _ in 0..10_000 {
        let page = b
            .cache
            .scan_keys("browse", pattern, &cursor, limit)
            .await
            .unwrap();
        // Redis's SCAN may give a few more than asked; the embedded tiers never do.
        let bound = if b.l2.is_some() && b.disk.is_none() {
            2 * limit
        } else {
            limit
        };
        assert!(
            page.keys.len() <= bound,
            "{}: {} keys",
            b.name,
            page.keys.len()
        );
        seen.extend(page.keys);
        match page.cursor {
            Some(next) => cursor = next,
            None => return seen,
        }
    }
    panic!("{}: the scan never ended", b.name);
}
