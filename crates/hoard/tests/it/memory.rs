//! What only the memory tier does: a byte budget with evictions.

use hoard::{Cache, SetOptions};
use std::time::Duration;

#[tokio::test]
async fn byte_budget_is_kept_and_evictions_are_counted() {
    const BUDGET: u64 = 64 * 1024;
    let cache = Cache::builder().memory_bytes(BUDGET).build().unwrap();
    // 400 entries of ~1 KiB each: six times the budget.
    for i in 0..400 {
        cache
            .set_raw(
                "blobs",
                &format!("b{i}"),
                vec![i as u8; 1024],
                SetOptions::new(),
            )
            .await
            .unwrap();
    }
    let s = cache.stats().await.unwrap();
    let l1 = &s.tiers[0];
    assert!(
        l1.bytes <= BUDGET,
        "L1 holds {} bytes over a {BUDGET} budget",
        l1.bytes
    );
    assert!(l1.evictions >= 300, "{} evictions", l1.evictions);
    assert_eq!(s.evictions, l1.evictions);
    assert_eq!(s.used_memory, l1.bytes);
    assert_eq!(s.memory_budget, BUDGET);
    // Whatever is still held reads back intact.
    let mut held = 0;
    for i in 0..400 {
        if let Some(v) = cache.get_raw("blobs", &format!("b{i}")).await.unwrap() {
            assert_eq!(v.as_ref(), &vec![i as u8; 1024][..]);
            held += 1;
        }
    }
    assert!(
        held > 0 && held as u64 == l1.entries,
        "{held} held, {} counted",
        l1.entries
    );
}

#[tokio::test]
async fn memory_only_expirations_are_counted() {
    let clock = hoard::ManualClock::new();
    let cache = Cache::builder().clock(clock.clock()).build().unwrap();
    for i in 0..10 {
        cache
            .set_with(
                "ns",
                &format!("k{i}"),
                &i,
                SetOptions::new().ttl(Duration::from_millis(30)),
            )
            .await
            .unwrap();
    }
    assert_eq!(cache.stats().await.unwrap().expirations, 0, "not yet");
    clock.advance(Duration::from_millis(30));
    // Stats sweep what is due: no waiting for the background pass.
    assert_eq!(
        cache.stats().await.unwrap().expirations,
        10,
        "the memory tier counts every expired entry it sweeps out"
    );
    assert_eq!(cache.stats().await.unwrap().total_keys, 0);
}
