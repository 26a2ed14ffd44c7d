//! `Snapshot`: lock-free reads during loads, joined reloads, failures, partial updates and
//! their order with reloads, progress, events. Loaders that must pause wait on a
//! [`Gate`] the test opens, so nothing here depends on timing. (That a cache attached with
//! `.events(&cache)` hears the swaps is tested in hoard, which owns the cache.)

use hoard_snapshot::{Cause, Progress, Snapshot, SnapshotError, SwapListener};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex};

/// A point a loader stops at: `arrived` meets the test once the loader is there, `release`
/// meets it again when the test lets it go on.
#[derive(Clone)]
struct Gate {
    arrived: Arc<Barrier>,
    release: Arc<Barrier>,
}

impl Gate {
    fn new() -> Gate {
        Gate {
            arrived: Arc::new(Barrier::new(2)),
            release: Arc::new(Barrier::new(2)),
        }
    }

    /// Called by the loader.
    fn pass(&self) {
        self.arrived.wait();
        self.release.wait();
    }
}

/// A snapshot of a `Vec<u32>` starting at `[0]` whose loader returns `[run number]`,
/// counts its runs and, when `gate` is given, stops halfway (progress 50 of 100) at it.
fn counting(gate: Option<Gate>) -> (Snapshot<Vec<u32>>, Arc<AtomicUsize>) {
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    let snapshot = Snapshot::builder("numbers", move |progress: &Progress| {
        let run = counter.fetch_add(1, SeqCst) + 1;
        progress.set_total(100);
        progress.inc(50);
        if let Some(gate) = &gate {
            gate.pass();
        }
        progress.inc(50);
        Ok::<_, std::io::Error>(vec![run as u32])
    })
    .build_with(vec![0]);
    (snapshot, runs)
}

#[test]
fn readers_proceed_with_the_old_value_while_the_loader_is_paused_mid_load() {
    let gate = Gate::new();
    let (snapshot, _) = counting(Some(gate.clone()));
    let reload = snapshot.reload();
    gate.arrived.wait(); // the loader is now paused halfway

    assert!(snapshot.is_loading());
    assert_eq!(snapshot.progress(), (50, 100));
    // Readers on other threads finish all their reads while the loader is still paused:
    // if a read waited for the load, these joins would never return.
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let snapshot = snapshot.clone();
            std::thread::spawn(move || (0..10_000).all(|_| *snapshot.get() == [0]))
        })
        .collect();
    for reader in readers {
        assert!(reader.join().unwrap(), "every read saw the old value");
    }
    assert_eq!(*snapshot.read(), [0]);

    gate.release.wait();
    let new = reload.wait_blocking().unwrap();
    assert_eq!(*new, [1]);
    assert_eq!(*snapshot.get(), [1]);
    assert!(!snapshot.is_loading());
    assert_eq!(snapshot.progress(), (100, 100));
    assert_eq!(snapshot.generation(), 1);
}

#[test]
fn concurrent_reload_requests_run_the_loader_once() {
    let gate = Gate::new();
    let (snapshot, runs) = counting(Some(gate.clone()));
    let first = snapshot.reload();
    gate.arrived.wait();

    // 16 threads ask for a reload while the first is in flight: each joins it.
    let handles: Vec<_> = (0..16)
        .map(|_| {
            let snapshot = snapshot.clone();
            std::thread::spawn(move || snapshot.reload())
        })
        .map(|t| t.join().unwrap())
        .collect();
    assert!(handles.iter().all(|h| !h.is_finished()));
    gate.release.wait();

    let value = first.wait_blocking().unwrap();
    for handle in handles {
        assert!(Arc::ptr_eq(&handle.wait_blocking().unwrap(), &value));
    }
    assert_eq!(runs.load(SeqCst), 1, "one load for 17 requests");

    // Once it finished, a new request starts a new load.
    let (snapshot, runs) = counting(None);
    snapshot.reload_blocking().unwrap();
    snapshot.reload_blocking().unwrap();
    assert_eq!(runs.load(SeqCst), 2);
    assert_eq!(*snapshot.get(), [2]);
}

#[test]
fn a_failing_or_panicking_loader_keeps_the_old_snapshot() {
    let mode = Arc::new(AtomicUsize::new(0));
    let m = mode.clone();
    let snapshot = Snapshot::builder("flaky", move |_: &Progress| match m.load(SeqCst) {
        0 => Err("the database is locked".to_owned()),
        1 => panic!("loader bug"),
        _ => Ok(String::from("new")),
    })
    .build_with(String::from("old"));
    let before = snapshot.get();

    let error = snapshot.reload_blocking().unwrap_err();
    assert!(matches!(&error, SnapshotError::Load { snapshot, .. } if snapshot == "flaky"));
    assert!(
        error.to_string().contains("the database is locked"),
        "{error}"
    );
    assert!(Arc::ptr_eq(&snapshot.get(), &before));
    assert!(snapshot.last_error().is_some());
    assert!(!snapshot.is_loading());

    mode.store(1, SeqCst);
    let error = snapshot.reload_blocking().unwrap_err();
    assert!(
        matches!(&error, SnapshotError::Panicked { message, .. } if message == "loader bug"),
        "{error:?}"
    );
    assert_eq!(*snapshot.get(), "old");
    assert_eq!(snapshot.generation(), 0);

    mode.store(2, SeqCst);
    assert_eq!(*snapshot.reload_blocking().unwrap(), "new");
    assert!(snapshot.last_error().is_none());

    // The first load, when it fails, gives no snapshot at all.
    let first = Snapshot::<u8>::builder("never", |_: &Progress| Err("no database"))
        .load_blocking()
        .unwrap_err();
    assert!(first.to_string().contains("no database"));
}

#[test]
fn a_partial_update_is_seen_by_new_readers_and_not_by_a_reader_holding_the_old_arc() {
    let (snapshot, runs) = counting(None);
    let held = snapshot.get();
    let returned = snapshot.update_with(|numbers| numbers.push(7));
    assert_eq!(*held, [0], "the old Arc is unchanged");
    assert_eq!(*snapshot.get(), [0, 7]);
    assert!(Arc::ptr_eq(&returned, &snapshot.get()));
    snapshot.update(|numbers| numbers.iter().filter(|&&n| n != 0).copied().collect());
    assert_eq!(*snapshot.get(), [7]);
    assert_eq!(*held, [0]);
    assert_eq!(runs.load(SeqCst), 0, "no full load");
    assert_eq!(snapshot.generation(), 2);
}

#[test]
fn an_update_made_during_a_reload_is_applied_again_to_the_reloaded_value() {
    let gate = Gate::new();
    let (snapshot, _) = counting(Some(gate.clone()));
    let reload = snapshot.reload();
    gate.arrived.wait();

    // The load has read its source already; this update must not be lost at the swap.
    snapshot.update_with(|numbers| numbers.push(42));
    assert_eq!(*snapshot.get(), [0, 42], "visible at once");
    gate.release.wait();
    assert_eq!(*reload.wait_blocking().unwrap(), [1, 42]);
    assert_eq!(*snapshot.get(), [1, 42]);

    // Updates before a reload began are not re-applied: the load reads them from the source.
    snapshot.update_with(|numbers| numbers.push(5));
    let reload = snapshot.reload();
    gate.arrived.wait();
    gate.release.wait();
    assert_eq!(*reload.wait_blocking().unwrap(), [2]);
}

/// A listener attached with `.events(...)`, as hoard's `Cache` is: it logs what it hears
/// into the log the snapshot's own callbacks also write, so the test sees the order.
#[derive(Clone)]
struct Attached(Arc<Mutex<Vec<(&'static str, Cause)>>>);

impl SwapListener for Attached {
    fn swapped(&self, cause: Cause) {
        self.0.lock().unwrap().push(("attached", cause));
    }
}

#[test]
fn swaps_reach_the_snapshot_callbacks_then_the_attached_listener() {
    let heard = Arc::new(Mutex::new(Vec::new()));
    let log = heard.clone();
    let snapshot = Snapshot::builder("catalogue", |_: &Progress| Ok::<_, String>(1u32))
        .events(&Attached(heard.clone()))
        .build_with(0);
    let callback = snapshot.on_swap(move |event| {
        log.lock().unwrap().push(("callback", event.cause.clone()));
        Ok(())
    });

    snapshot.reload_blocking().unwrap();
    snapshot.update(|n| n + 1);
    let reload = Cause::Snapshot("catalogue".into());
    let update = Cause::SnapshotUpdate("catalogue".into());
    assert_eq!(
        *heard.lock().unwrap(),
        [
            ("callback", reload.clone()),
            ("attached", reload),
            ("callback", update.clone()),
            ("attached", update)
        ]
    );

    // A removed callback hears nothing more; the attached listener still does.
    assert!(snapshot.remove_listener(callback));
    snapshot.update(|n| n + 1);
    assert_eq!(heard.lock().unwrap().len(), 5);
    assert_eq!(heard.lock().unwrap()[4].0, "attached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_loaders_load_reload_and_join() {
    let runs = Arc::new(AtomicUsize::new(0));
    let (release, released) = tokio::sync::watch::channel(false);
    let counter = runs.clone();
    let snapshot = Snapshot::builder_async("remote", move |progress: Progress| {
        let counter = counter.clone();
        let mut released = released.clone();
        async move {
            let run = counter.fetch_add(1, SeqCst);
            progress.set_total(1);
            if run > 0 {
                // Reloads wait for the test; the first load does not.
                released
                    .wait_for(|open| *open)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            progress.inc(1);
            Ok::<_, String>(run)
        }
    })
    .load()
    .await
    .unwrap();
    assert_eq!(*snapshot.get(), 0);

    let first = snapshot.reload();
    let second = snapshot.reload();
    assert!(snapshot.is_loading());
    assert_eq!(*snapshot.get(), 0);
    release.send_replace(true);
    assert_eq!(*first.await.unwrap(), 1);
    assert_eq!(*second.await.unwrap(), 1);
    assert_eq!(runs.load(SeqCst), 2, "the first load and one reload");
    assert_eq!(snapshot.progress(), (1, 1));
}

#[tokio::test]
async fn a_blocking_loader_can_be_loaded_and_awaited_from_async_code() {
    let snapshot = Snapshot::builder("numbers", |_: &Progress| Ok::<_, String>(3u8))
        .load()
        .await
        .unwrap();
    assert_eq!(*snapshot.reload().await.unwrap(), 3);
    // A handle dropped unawaited still lets its reload finish.
    drop(snapshot.reload());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while snapshot.is_loading() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    assert_eq!(snapshot.generation(), 2);
}
