//! A `Snapshot` attached to a `Cache` (`.events(&cache)`): its swaps reach the cache's
//! invalidation callbacks as well as its own. The snapshot itself is tested in
//! hoard-snapshot; this is the part that needs the cache.

use hoard::{Cache, Cause, Invalidation, Progress, Snapshot};
use std::sync::{Arc, Mutex};

#[test]
fn swaps_fire_the_snapshot_callbacks_and_the_attached_cache_events() {
    let cache = Cache::in_memory();
    let from_cache = Arc::new(Mutex::new(Vec::<Invalidation>::new()));
    let sink = from_cache.clone();
    cache.on_invalidate(move |event| {
        sink.lock().unwrap().push(event.clone());
        Ok(())
    });
    let from_snapshot = Arc::new(Mutex::new(Vec::<Cause>::new()));
    let sink = from_snapshot.clone();
    let snapshot = Snapshot::builder("catalogue", |_: &Progress| Ok::<_, String>(1u32))
        .events(&cache)
        .on_swap(move |event| {
            sink.lock().unwrap().push(event.cause.clone());
            Ok(())
        })
        .build_with(0);

    snapshot.reload_blocking().unwrap();
    // Callbacks ran before the reload's waiters woke.
    assert_eq!(
        *from_snapshot.lock().unwrap(),
        [Cause::Snapshot("catalogue".into())]
    );
    snapshot.update(|n| n + 1);
    let causes: Vec<Cause> = from_cache
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.cause.clone())
        .collect();
    assert_eq!(
        causes,
        [
            Cause::Snapshot("catalogue".into()),
            Cause::SnapshotUpdate("catalogue".into())
        ]
    );
    assert_eq!(from_snapshot.lock().unwrap().len(), 2);

    // A failed reload swaps nothing and fires nothing.
    let failing = Snapshot::builder("failing", |_: &Progress| Err::<u32, _>("down"))
        .events(&cache)
        .build_with(0);
    failing.reload_blocking().unwrap_err();
    assert_eq!(from_cache.lock().unwrap().len(), 2);
}
