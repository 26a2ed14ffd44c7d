//! `#[cached(semantic = true)]` without a semantic cache: every call computes, for sync and
//! async functions and every return shape. (With the real model: tests/semantic.rs.)

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

static CALLS: AtomicUsize = AtomicUsize::new(0);

#[hoard::cached(semantic)]
async fn plain(query: &str) -> String {
    CALLS.fetch_add(1, SeqCst);
    query.to_uppercase()
}

#[hoard::cached(semantic = true, threshold = 0.9, filter(tenant))]
fn maybe(query: String, tenant: u32) -> Option<usize> {
    CALLS.fetch_add(1, SeqCst);
    (tenant > 0).then_some(query.len())
}

#[tokio::test]
async fn with_no_semantic_cache_set_every_call_computes() {
    assert!(hoard_semantic::global().is_none());
    let before = CALLS.load(SeqCst);
    assert_eq!(plain("hello").await, "HELLO");
    assert_eq!(plain("hello").await, "HELLO");
    let blocking = tokio::task::spawn_blocking(|| (maybe("abc".into(), 1), maybe("abc".into(), 0)));
    assert_eq!(blocking.await.ok(), Some((Some(3), None)));
    assert_eq!(CALLS.load(SeqCst) - before, 4);
}
