//! Write-through and write-behind: the writer sees every write the caller asked for, a
//! failing write-through writer stores nothing anywhere, write-behind delivers in order
//! with stable ids through failures and retries, and on Redis its queue is a stream that a
//! second process drains. (A process killed with SIGKILL: `tests/write_behind_crash.rs`.)

use crate::backend::{shared_redis, unique_prefix};
use hoard::{
    BackingOp, BackingWrite, Cache, ComputeOptions, DiskConfig, Error, RedisConfig,
    WriteBehindOptions, WriteMode,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A backing store the tests read from outside the cache: what each key holds, every
/// batch the writer got, and a switch that makes the writer fail.
#[derive(Default)]
struct Backend {
    rows: Mutex<BTreeMap<String, String>>,
    batches: Mutex<Vec<Vec<BackingWrite>>>,
    failing: AtomicBool,
    /// Calls to fail before the first success (counted down).
    fail_first: AtomicU64,
}

impl Backend {
    fn writer(
        self: &Arc<Self>,
    ) -> impl Fn(Vec<BackingWrite>) -> std::future::Ready<Result<(), String>> + Send + Sync + 'static
    {
        let backend = self.clone();
        move |batch: Vec<BackingWrite>| std::future::ready(backend.apply(batch))
    }

    fn apply(&self, batch: Vec<BackingWrite>) -> Result<(), String> {
        let countdown = self
            .fail_first
            .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if countdown || self.failing.load(SeqCst) {
            return Err("database is down".to_owned());
        }
        let mut rows = self.rows.lock().expect("rows");
        for write in &batch {
            match &write.op {
                BackingOp::Set(_) => {
                    let value: String = write.value().expect("decodes").expect("a set");
                    rows.insert(write.key.clone(), value);
                }
                BackingOp::Delete => {
                    rows.remove(&write.key);
                }
            }
        }
        self.batches.lock().expect("batches").push(batch);
        Ok(())
    }

    fn row(&self, key: &str) -> Option<String> {
        self.rows.lock().expect("rows").get(key).cloned()
    }

    fn delivered(&self) -> Vec<BackingWrite> {
        self.batches.lock().expect("batches").concat()
    }
}

/// What `cache` holds at `namespace:key`, as text.
async fn held(cache: &Cache, namespace: &str, key: &str) -> Option<String> {
    cache.get(namespace, key).await.expect("get")
}

fn disk_cache(dir: &std::path::Path) -> Cache {
    Cache::builder()
        .disk(DiskConfig::new(dir))
        .build()
        .expect("cache")
}

#[tokio::test]
async fn write_through_writes_the_backing_store_first_and_a_failure_stores_nothing() {
    let dir = hoard_testkit::temp_dir();
    let backend = Arc::new(Backend::default());
    {
        let cache = disk_cache(dir.path());
        cache
            .write_through("user", backend.writer())
            .expect("registered");
        cache.set("user", "7", "Ada").await.expect("set");
        assert_eq!(backend.row("7").as_deref(), Some("Ada"));
        cache
            .mset(
                "user",
                &[("8", "Grace"), ("9", "Edsger")],
                Default::default(),
            )
            .await
            .expect("mset");
        // One call for one mset.
        assert_eq!(backend.batches.lock().expect("batches").len(), 2);

        // The backing store refuses: the call fails, and neither the store nor the cache
        // changed.
        backend.failing.store(true, SeqCst);
        let error = cache.set("user", "7", "Alan").await.expect_err("refused");
        assert!(
            matches!(&error, Error::Writer { namespace, reason } if namespace == "user" && reason == "database is down"),
            "{error}"
        );
        assert!(error.to_string().contains("nothing was stored"), "{error}");
        assert!(cache.delete("user", "8").await.is_err());
        assert_eq!(backend.row("7").as_deref(), Some("Ada"));
        assert_eq!(held(&cache, "user", "7").await.as_deref(), Some("Ada"));
        assert_eq!(held(&cache, "user", "8").await.as_deref(), Some("Grace"));

        // Deletes reach it too; a value computed on a miss does not (it came from there).
        backend.failing.store(false, SeqCst);
        assert!(cache.delete("user", "8").await.expect("delete"));
        assert_eq!(backend.row("8"), None);
        let computed: String = cache
            .get_or_compute("user", "10", &ComputeOptions::new(), || async {
                "Barbara".to_owned()
            })
            .await
            .expect("computed");
        assert_eq!(computed, "Barbara");
        assert_eq!(backend.row("10"), None);
        // Other namespaces have no writer.
        cache.set("other", "7", "x").await.expect("set");
        assert_eq!(backend.row("7").as_deref(), Some("Ada"));

        let stats = &cache.writer_stats().await["user"];
        assert_eq!(stats.mode, WriteMode::Through);
        assert_eq!((stats.written, stats.batches, stats.failures), (4, 3, 2));
        assert_eq!(stats.consecutive_failures, 0);
        assert_eq!(stats.last_error.as_deref(), Some("database is down"));
        assert!(matches!(
            cache.write_through("user", backend.writer()),
            Err(Error::Config(_))
        ));
    }
    // A fresh cache on the folder holds what the backing store holds.
    let cache = disk_cache(dir.path());
    assert_eq!(held(&cache, "user", "7").await.as_deref(), Some("Ada"));
    assert_eq!(held(&cache, "user", "8").await, None);
}

#[tokio::test]
async fn write_behind_delivers_in_order_with_ids_through_failures() {
    let dir = hoard_testkit::temp_dir();
    let cache = disk_cache(dir.path());
    let backend = Arc::new(Backend::default());
    backend.fail_first.store(3, SeqCst);
    let options = WriteBehindOptions::new()
        .batch(4)
        .retry(Duration::from_millis(1), Duration::from_millis(20));
    cache
        .write_behind("score", options, backend.writer())
        .expect("registered");
    for i in 0..10 {
        cache
            .set("score", &format!("k{}", i % 7), &format!("v{i}"))
            .await
            .expect("set");
        // Acknowledged: the cache answers at once, whatever the backing store does.
        assert_eq!(
            cache
                .get::<String>("score", &format!("k{}", i % 7))
                .await
                .expect("get"),
            Some(format!("v{i}"))
        );
    }
    cache.delete("score", "k0").await.expect("delete");
    assert!(cache
        .write_behind_drained("score", Duration::from_secs(20))
        .await
        .expect("drained"));

    // Every write, once, in the order it was made, each with its own id.
    let delivered = backend.delivered();
    let order: Vec<(String, Option<String>)> = delivered
        .iter()
        .map(|w| (w.key.clone(), w.value::<String>().expect("decodes")))
        .collect();
    let mut expected: Vec<(String, Option<String>)> = (0..10)
        .map(|i| (format!("k{}", i % 7), Some(format!("v{i}"))))
        .collect();
    expected.push(("k0".to_owned(), None));
    assert_eq!(order, expected);
    let ids: std::collections::HashSet<_> = delivered.iter().map(|w| w.id.clone()).collect();
    assert_eq!(ids.len(), 11);
    assert!(delivered.iter().all(|w| w.id.is_some()));
    assert!(
        delivered.iter().all(|w| w.key.len() == 2),
        "keys without their namespace"
    );
    assert_eq!(backend.row("k0"), None);
    assert_eq!(backend.row("k3").as_deref(), Some("v3"));
    assert_eq!(backend.row("k1").as_deref(), Some("v8"));

    let stats = &cache.writer_stats().await["score"];
    assert_eq!(stats.mode, WriteMode::Behind);
    assert_eq!(
        (stats.written, stats.failures, stats.consecutive_failures),
        (11, 3, 0)
    );
    assert_eq!(stats.pending, 0);
    assert!(
        stats.batches >= 3,
        "batches of at most 4: {}",
        stats.batches
    );
    assert!(delivered.len() <= 4 * stats.batches as usize);
}

#[tokio::test]
async fn a_failing_writer_keeps_the_queue_and_shows_in_stats() {
    let dir = hoard_testkit::temp_dir();
    let cache = disk_cache(dir.path());
    let backend = Arc::new(Backend::default());
    backend.failing.store(true, SeqCst);
    let options =
        WriteBehindOptions::new().retry(Duration::from_millis(1), Duration::from_millis(5));
    cache
        .write_behind("score", options, backend.writer())
        .expect("registered");
    for i in 0..5 {
        cache
            .set("score", &format!("k{i}"), "v")
            .await
            .expect("set");
    }
    // Wait (bounded) until the writer has failed a few times in a row.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while cache.writer_stats().await["score"].consecutive_failures < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "the writer was never retried"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stats = &cache.writer_stats().await["score"];
    assert_eq!((stats.written, stats.pending), (0, 5));
    assert_eq!(stats.last_error.as_deref(), Some("database is down"));
    assert!(!cache
        .write_behind_drained("score", Duration::from_millis(50))
        .await
        .expect("asked"));
    // The store comes back: everything goes through, nothing was dropped meanwhile.
    backend.failing.store(false, SeqCst);
    assert!(cache
        .write_behind_drained("score", Duration::from_secs(20))
        .await
        .expect("drained"));
    assert_eq!(backend.rows.lock().expect("rows").len(), 5);
    assert_eq!(cache.writer_stats().await["score"].consecutive_failures, 0);
}

#[tokio::test]
async fn write_behind_needs_a_durable_queue() {
    let cache = Cache::in_memory();
    let error = cache
        .write_behind(
            "score",
            WriteBehindOptions::new(),
            Arc::new(Backend::default()).writer(),
        )
        .expect_err("refused");
    assert!(error.to_string().contains("durable queue"), "{error}");
    assert!(cache.writer_stats().await.is_empty());
    assert!(matches!(
        cache.write_through("bad name", Arc::new(Backend::default()).writer()),
        Err(Error::InvalidNamespace { .. })
    ));
}

/// On Redis the queue is a stream: `redis-cli` sees the queued writes while the writer
/// fails, and a second cache (another process's) drains them once its writer works.
#[tokio::test]
async fn on_redis_the_queue_is_a_stream_another_process_drains() {
    let server = shared_redis();
    let prefix = unique_prefix();
    let open = || {
        Cache::builder()
            .redis(RedisConfig::standalone(server.url()).key_prefix(&prefix))
            .build()
            .expect("cache")
    };
    let stuck = Arc::new(Backend::default());
    stuck.failing.store(true, SeqCst);
    let first = open();
    first
        .write_behind("score", WriteBehindOptions::new(), stuck.writer())
        .expect("registered");
    for i in 0..5 {
        first
            .set("score", &format!("k{i}"), &format!("v{i}"))
            .await
            .expect("set");
    }
    let stream = format!("{prefix}:queue:score");
    assert_eq!(server.cli(&["XLEN", &stream]).trim(), "5");
    drop(first);

    let backend = Arc::new(Backend::default());
    let second = open();
    second
        .write_behind("score", WriteBehindOptions::new(), backend.writer())
        .expect("registered");
    assert!(second
        .write_behind_drained("score", Duration::from_secs(20))
        .await
        .expect("drained"));
    assert_eq!(server.cli(&["XLEN", &stream]).trim(), "0");
    for i in 0..5 {
        assert_eq!(backend.row(&format!("k{i}")), Some(format!("v{i}")));
    }
    // Ids are the stream's.
    assert!(backend
        .delivered()
        .iter()
        .all(|w| w.id.as_deref().is_some_and(|id| id.contains('-'))));
}
