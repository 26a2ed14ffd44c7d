//! What only the disk tier does: persistence, sweeping, corrupt data.

use hoard::{Cache, DiskConfig, Durability, Entry, ManualClock, SetOptions, Store};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn entries_survive_drop_and_reopen() {
    let dir = hoard_testkit::temp_dir();
    let clock = ManualClock::new();
    let open = || {
        Cache::builder()
            .disk(DiskConfig::new(dir.path()))
            .clock(clock.clock())
            .build()
            .unwrap()
    };
    {
        let cache = open();
        cache
            .set("model", "metrics:abc-123", &vec![0.95, 0.93])
            .await
            .unwrap();
        cache
            .set_raw("blobs", "b", vec![7u8; 10_000], SetOptions::new())
            .await
            .unwrap();
        cache
            .set_with(
                "model",
                "short",
                &1,
                SetOptions::new().ttl(Duration::from_millis(100)),
            )
            .await
            .unwrap();
    }
    clock.advance(Duration::from_millis(200));
    let cache = open();
    assert_eq!(
        cache
            .get::<Vec<f64>>("model", "metrics:abc-123")
            .await
            .unwrap(),
        Some(vec![0.95, 0.93])
    );
    assert_eq!(
        cache.get_raw("blobs", "b").await.unwrap().as_deref(),
        Some(&[7u8; 10_000][..])
    );
    assert_eq!(
        cache.get::<i32>("model", "short").await.unwrap(),
        None,
        "expired while closed"
    );
    // The TTL kept counting while the store was closed.
    let ttl = cache
        .ttl("model", "metrics:abc-123")
        .await
        .unwrap()
        .unwrap();
    assert!(ttl < cache.default_ttl());
    let s = cache.stats().await.unwrap();
    assert_eq!(
        s.namespaces["model"].l2_hits, 1,
        "first read after reopen comes from disk"
    );
}

#[tokio::test]
async fn sweep_reclaims_expired_entries_without_reads() {
    let dir = hoard_testkit::temp_dir();
    let clock = ManualClock::new();
    let disk = DiskConfig::new(dir.path())
        .sweep_interval(None)
        .clock(clock.clock())
        .open()
        .unwrap();
    for i in 0..100 {
        disk.set(
            &format!("ns:short{i}"),
            Entry::new_at(&b"v"[..], Duration::from_millis(100), clock.now_ms()),
        )
        .await
        .unwrap();
    }
    for i in 0..10 {
        disk.set(
            &format!("ns:long{i}"),
            Entry::new_at(&b"v"[..], Duration::from_secs(60), clock.now_ms()),
        )
        .await
        .unwrap();
    }
    // Overwritten with a longer life: its old index row must not take it down.
    disk.set(
        "ns:revived",
        Entry::new_at(&b"old"[..], Duration::from_millis(100), clock.now_ms()),
    )
    .await
    .unwrap();
    disk.set(
        "ns:revived",
        Entry::new_at(&b"new"[..], Duration::from_secs(60), clock.now_ms()),
    )
    .await
    .unwrap();
    // Deleted before expiry: only an index row remains.
    disk.set(
        "ns:deleted",
        Entry::new_at(&b"v"[..], Duration::from_millis(100), clock.now_ms()),
    )
    .await
    .unwrap();
    disk.delete("ns:deleted").await.unwrap();

    clock.advance(Duration::from_millis(200));
    assert_eq!(
        disk.physical_len().unwrap(),
        111,
        "expired entries still take space"
    );
    assert_eq!(disk.sweep_expired().unwrap(), 100);
    assert_eq!(disk.physical_len().unwrap(), 11);
    assert_eq!(
        disk.get("ns:revived")
            .await
            .unwrap()
            .unwrap()
            .value
            .as_ref(),
        b"new"
    );
    assert_eq!(disk.usage().await.unwrap().expirations, 100);
    assert_eq!(disk.sweep_expired().unwrap(), 0, "nothing left to sweep");
}

#[tokio::test]
async fn background_sweeper_reclaims_on_its_own() {
    let dir = hoard_testkit::temp_dir();
    let disk = DiskConfig::new(dir.path())
        .sweep_interval(Some(Duration::from_millis(50)))
        .open()
        .unwrap();
    for i in 0..50 {
        disk.set(
            &format!("ns:k{i}"),
            Entry::new(&b"v"[..], Duration::from_millis(50)),
        )
        .await
        .unwrap();
    }
    let reclaimed = hoard_testkit::wait_until(Duration::from_secs(10), || {
        disk.physical_len().unwrap() == 0
    });
    assert!(
        reclaimed,
        "sweeper left {} entries",
        disk.physical_len().unwrap()
    );
    // Dropping the store stops the sweeper thread (the test would hang otherwise).
    drop(disk);
}

#[tokio::test]
async fn corrupt_entry_reads_as_miss_is_counted_and_removed() {
    let dir = hoard_testkit::temp_dir();
    {
        let cache = Cache::open(dir.path()).unwrap();
        cache.set("ns", "good", &1).await.unwrap();
    }
    {
        // Damage the store underneath hoard, with the storage engine itself.
        let db = fjall::Database::builder(dir.path()).open().unwrap();
        let entries = db
            .keyspace("entries", fjall::KeyspaceCreateOptions::default)
            .unwrap();
        entries
            .insert("ns:bad", b"\x01\x00short".as_slice())
            .unwrap();
        entries
            .insert("ns:worse", b"\x07garbage-version-garbage".as_slice())
            .unwrap();
        db.persist(fjall::PersistMode::SyncAll).unwrap();
    }
    let disk = Arc::new(DiskConfig::new(dir.path()).open().unwrap());
    let cache = Cache::builder().l2(disk.clone()).build().unwrap();
    assert_eq!(cache.get::<i32>("ns", "bad").await.unwrap(), None);
    assert_eq!(
        cache.mget::<i32>("ns", &["worse", "good"]).await.unwrap(),
        vec![None, Some(1)]
    );
    let s = cache.stats().await.unwrap();
    assert_eq!(s.namespaces["ns"].errors, 2);
    assert_eq!(
        disk.physical_len().unwrap(),
        1,
        "corrupt entries were removed"
    );
    assert!(matches!(disk.get("ns:bad").await, Ok(None)));
}

#[tokio::test]
async fn every_durability_round_trips_across_reopen() {
    for durability in [Durability::Relaxed, Durability::Process, Durability::Power] {
        let dir = hoard_testkit::temp_dir();
        {
            let cache = Cache::builder()
                .disk(DiskConfig::new(dir.path()).durability(durability))
                .build()
                .unwrap();
            cache
                .mset("ns", &[("a", 1), ("b", 2)], SetOptions::new())
                .await
                .unwrap();
            cache.flush().await.unwrap();
        }
        let cache = Cache::open(dir.path()).unwrap();
        assert_eq!(
            cache.mget::<i32>("ns", &["a", "b"]).await.unwrap(),
            vec![Some(1), Some(2)],
            "{durability:?}"
        );
    }
}

#[tokio::test]
async fn unusable_data_dir_is_a_clear_error() {
    let dir = hoard_testkit::temp_dir();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let err = Cache::open(&file)
        .err()
        .expect("a file is not a data dir")
        .to_string();
    assert!(err.contains("not-a-dir"), "names the path: {err}");
}

#[tokio::test]
async fn stats_report_disk_expirations_and_usage() {
    let dir = hoard_testkit::temp_dir();
    let clock = ManualClock::new();
    let disk = Arc::new(
        DiskConfig::new(dir.path())
            .sweep_interval(None)
            .clock(clock.clock())
            .open()
            .unwrap(),
    );
    let cache = Cache::builder()
        .l2(disk.clone())
        .clock(clock.clock())
        .build()
        .unwrap();
    for i in 0..30 {
        cache
            .set_with(
                "ns",
                &format!("k{i}"),
                &i,
                SetOptions::new().ttl(Duration::from_millis(50)),
            )
            .await
            .unwrap();
    }
    cache.set("ns", "stays", &1).await.unwrap();
    clock.advance(Duration::from_millis(100));
    assert_eq!(disk.sweep_expired().unwrap(), 30);
    let s = cache.stats().await.unwrap();
    assert_eq!(
        s.expirations, 30,
        "expirations come from the tier that holds the truth"
    );
    assert_eq!(s.tiers[1].name, "disk");
    assert_eq!(s.tiers[1].expirations, 30);
    assert!(s.tiers[1].bytes > 0, "disk space is reported");
}

#[test]
fn a_pattern_delete_does_not_hold_up_the_async_worker() {
    // One worker thread: if the disk scan ran on it, nothing else could run until the
    // delete returned.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = hoard_testkit::temp_dir();
        let store = hoard::DiskStore::open(DiskConfig::new(dir.path())).unwrap();
        let entries: Vec<(String, Entry)> = (0..50_000)
            .map(|i| {
                (
                    format!("ns:k{i}"),
                    Entry::new(vec![1u8; 64], Duration::from_secs(60)),
                )
            })
            .collect();
        for chunk in entries.chunks(5000) {
            store.set_many(chunk).await.unwrap();
        }
        let done = std::sync::atomic::AtomicBool::new(false);
        let glob = hoard::glob::Glob::new("ns:*").unwrap();
        let delete = async {
            let removed = store.delete_matching(&glob).await.unwrap();
            done.store(true, std::sync::atomic::Ordering::SeqCst);
            removed
        };
        let ticker = async {
            let mut ticks = 0u64;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                ticks += 1;
                tokio::task::yield_now().await;
            }
            ticks
        };
        let (removed, ticks) = tokio::join!(delete, ticker);
        assert_eq!(removed, 50_000);
        assert!(
            ticks > 10,
            "other tasks ran {ticks} times while 50,000 entries were deleted"
        );
    });
}

#[tokio::test]
async fn unflushed_writes_stay_within_the_memory_budget() {
    // 80 MiB of incompressible values through a 64 MiB budget: the entries' memtables (one
    // filling, four flushing, an eighth of the budget each) hold at most 40 MiB of them,
    // the indexes' rows are small. fjall's own default (64 MiB memtables) let them reach
    // 64 MiB and more, which is how a 256 MiB cache grew to 470 MB under writes.
    let dir = hoard_testkit::temp_dir();
    let budget = 64 * 1024 * 1024;
    let disk = DiskConfig::new(dir.path())
        .memory_bytes(budget)
        .compress_above(usize::MAX)
        .durability(Durability::Relaxed)
        .open()
        .unwrap();
    let mut rng_state = 0x9e37_79b9_7f4a_7c15u64;
    let mut peak = 0;
    for i in 0..20_480 {
        let value: Vec<u8> = (0..4096)
            .map(|_| {
                rng_state ^= rng_state << 13;
                rng_state ^= rng_state >> 7;
                rng_state ^= rng_state << 17;
                rng_state as u8
            })
            .collect();
        disk.set(
            &format!("ns:k{i}"),
            Entry::new(value, Duration::from_secs(600)),
        )
        .await
        .unwrap();
        peak = peak.max(disk.unflushed_bytes());
    }
    assert!(peak > 0, "writes were held in memory at some point");
    assert!(
        peak <= budget * 5 / 8 + 8 * 1024 * 1024,
        "unflushed writes peaked at {} MiB with a {} MiB budget",
        peak >> 20,
        budget >> 20
    );
}
