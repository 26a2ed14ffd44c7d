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

/// Counts what `usage` reports against a full scan and against what the test expects.
async fn assert_count(disk: &hoard::DiskStore, expected: u64, after: &str) {
    let reported = disk.usage().await.unwrap().entries;
    let scanned = disk.physical_len().unwrap();
    assert_eq!(
        (reported, scanned),
        (expected, expected),
        "after {after}: (reported, scanned)"
    );
}

#[tokio::test]
async fn the_key_count_is_exact_through_every_kind_of_write() {
    let dir = hoard_testkit::temp_dir();
    let clock = ManualClock::new();
    let disk = DiskConfig::new(dir.path())
        .sweep_interval(None)
        .clock(clock.clock())
        .open()
        .unwrap();
    let entry =
        |ttl_ms: u64| Entry::new_at(&b"v"[..], Duration::from_millis(ttl_ms), clock.now_ms());
    assert_count(&disk, 0, "opening an empty folder").await;
    for round in 0..3 {
        for i in 0..200 {
            disk.set(&format!("a:{i}"), entry(60_000 + round))
                .await
                .unwrap();
        }
    }
    assert_count(&disk, 200, "writing 200 keys three times").await;
    // One batch naming a key twice, and one naming a key that exists.
    let batch: Vec<(String, Entry)> = ["b:1", "b:2", "b:1", "a:0"]
        .iter()
        .map(|k| (k.to_string(), entry(60_000)))
        .collect();
    disk.set_many(&batch).await.unwrap();
    assert_count(&disk, 202, "a batch with a repeated key").await;
    assert!(disk.delete("a:0").await.unwrap());
    assert!(!disk.delete("a:0").await.unwrap());
    assert!(!disk.delete("never:written").await.unwrap());
    assert_count(&disk, 201, "deleting a key twice and a missing one").await;
    assert_eq!(disk.delete_prefix("a:1").await.unwrap(), 111);
    assert_count(&disk, 90, "a prefix delete").await;
    let glob = hoard::glob::Glob::new("a:?").unwrap();
    assert_eq!(disk.delete_matching(&glob).await.unwrap(), 8);
    assert_count(&disk, 82, "a pattern delete").await;
    for i in 0..50 {
        disk.set(&format!("short:{i}"), entry(100)).await.unwrap();
    }
    assert_count(&disk, 132, "writing short-lived keys").await;
    clock.advance(Duration::from_millis(200));
    assert_eq!(disk.sweep_expired().unwrap(), 50);
    assert_count(&disk, 82, "sweeping the expired ones").await;
    assert_eq!(disk.clear().await.unwrap(), 82);
    assert_count(&disk, 0, "clearing").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_count_stays_exact_under_racing_writes_and_deletes() {
    let dir = hoard_testkit::temp_dir();
    let disk = Arc::new(
        DiskConfig::new(dir.path())
            .durability(Durability::Relaxed)
            .open()
            .unwrap(),
    );
    let mut tasks = Vec::new();
    for writer in 0..4u64 {
        let disk = disk.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..3_000u64 {
                // Keys overlap between writers, so sets, deletes and scans collide.
                let key = format!("ns:{}", (i * 7 + writer * 13) % 500);
                match (i + writer) % 10 {
                    0..=5 => {
                        disk.set(&key, Entry::new(&b"v"[..], Duration::from_secs(60)))
                            .await
                    }
                    6..=8 => disk.delete(&key).await.map(drop),
                    _ => disk.delete_prefix(&key[..4]).await.map(drop),
                }
                .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let scanned = disk.physical_len().unwrap();
    assert_eq!(disk.usage().await.unwrap().entries, scanned);
}

#[tokio::test]
async fn the_key_count_survives_a_clean_close_and_a_crash() {
    let dir = hoard_testkit::temp_dir();
    let crashed = hoard_testkit::temp_dir();
    {
        let disk = DiskConfig::new(dir.path()).open().unwrap();
        for i in 0..300 {
            disk.set(
                &format!("ns:{i}"),
                Entry::new(&b"v"[..], Duration::from_secs(600)),
            )
            .await
            .unwrap();
        }
        disk.delete_prefix("ns:1").await.unwrap();
        disk.flush().await.unwrap();
        // A copy of the folder of a store still open is what a crash leaves behind: the
        // journal and files, and no count written at close.
        copy_dir(dir.path(), crashed.path());
    }
    let reopened = DiskConfig::new(dir.path()).open().unwrap();
    assert_count(&reopened, 189, "a clean close and reopen").await;
    reopened
        .set("ns:new", Entry::new(&b"v"[..], Duration::from_secs(600)))
        .await
        .unwrap();
    assert_count(&reopened, 190, "a write after reopening").await;
    drop(reopened);
    let recovered = DiskConfig::new(crashed.path()).open().unwrap();
    assert_count(&recovered, 189, "recovering from a crash").await;
    drop(recovered);
    // Reopened twice: the count taken at the first open is not trusted at the second.
    let again = DiskConfig::new(dir.path()).open().unwrap();
    assert_count(&again, 190, "a second reopen").await;
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for item in std::fs::read_dir(from).unwrap() {
        let item = item.unwrap();
        let target = to.join(item.file_name());
        if item.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&item.path(), &target);
        } else {
            std::fs::copy(item.path(), target).unwrap();
        }
    }
}

/// A folder another cache holds open (here in the same process; another process is refused
/// the same way) is refused with a reason a user can act on, naming the folder; the first
/// cache is unharmed.
#[tokio::test]
async fn a_folder_in_use_is_refused_with_its_path() {
    let dir = hoard_testkit::temp_dir();
    let open = || Cache::builder().disk(DiskConfig::new(dir.path())).build();
    let first = open().unwrap();
    first.set("ns", "k", &1).await.unwrap();
    let refused = open().err().expect("a second open of the same folder");
    assert!(
        matches!(refused, hoard::Error::DiskInUse { .. }),
        "{refused:?}"
    );
    let message = refused.to_string();
    assert!(
        message.contains(&dir.path().display().to_string())
            && message.contains("already in use by another cache"),
        "{message}"
    );
    assert_eq!(first.get::<i32>("ns", "k").await.unwrap(), Some(1));
    drop(first);
    assert!(open().is_ok(), "free again once the first cache is gone");
}
