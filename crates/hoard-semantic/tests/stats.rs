//! What a semantic cache counts: lookups, hits, misses and stores per namespace, and the
//! candidates each check turned down, with the bag-of-words embedder (no model needed).

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use hoard_semantic::embed::WordsEmbedder;
use hoard_semantic::{
    Query, SemanticCache, SemanticConfig, SemanticError, Store, Verdict, Verifier,
};
use serde_json::json;
use std::sync::Arc;

fn semantic() -> SemanticCache {
    SemanticCache::new(
        hoard::Cache::in_memory(),
        Arc::new(WordsEmbedder::new(512)),
        SemanticConfig::default(),
    )
    .unwrap()
}

/// Refuses every pair.
struct Never;

#[async_trait::async_trait]
impl Verifier for Never {
    fn id(&self) -> &str {
        "never"
    }

    async fn verify(&self, pairs: &[(String, String)]) -> Result<Vec<f32>, SemanticError> {
        Ok(vec![0.0; pairs.len()])
    }
}

#[tokio::test]
async fn each_check_counts_the_candidates_it_refused() {
    let s = semantic();
    let options = Store::default();
    s.store("faq", "Cancel my subscription", json!(1), &options)
        .await
        .unwrap();
    s.store("faq", "cheap flights to Paris on May 3", json!(2), &options)
        .await
        .unwrap();
    s.store("shop", "where is my order", json!(3), &options)
        .await
        .unwrap();
    let lookups = [
        ("faq", "Cancel my subscription", Some(Verdict::Pass)),
        (
            "faq",
            "Don't cancel my subscription",
            Some(Verdict::Negation),
        ),
        (
            "faq",
            "Don't cancel my subscription",
            Some(Verdict::Negation),
        ),
        (
            "faq",
            "cheap flights to Paris on May 4",
            Some(Verdict::Numbers),
        ),
        // Nothing near: a miss that refused nothing.
        ("faq", "What is the boiling point of water?", None),
        ("shop", "where is my order", Some(Verdict::Pass)),
        ("empty", "where is my order", None),
    ];
    for (namespace, text, expected) in lookups {
        let outcome = s
            .lookup_detailed(namespace, &Query::new(text))
            .await
            .unwrap();
        match expected {
            Some(Verdict::Pass) => assert!(outcome.hit.is_some(), "{text}: {outcome:?}"),
            Some(verdict) => {
                assert!(outcome.hit.is_none(), "{text}");
                assert_eq!(outcome.near_miss.unwrap().verdict, verdict, "{text}");
            }
            None => assert!(outcome.hit.is_none(), "{text}"),
        }
    }
    let stats = s.stats();
    let faq = &stats.namespaces["faq"];
    assert_eq!(
        (faq.entries, faq.lookups, faq.hits, faq.misses, faq.stores),
        (2, 5, 1, 4, 2),
        "{faq:?}"
    );
    assert_eq!(faq.refusals.negation, 2);
    assert_eq!(faq.refusals.numbers, 1);
    assert_eq!(faq.refusals.total(), 3);
    let shop = &stats.namespaces["shop"];
    assert_eq!(
        (shop.entries, shop.lookups, shop.hits, shop.stores),
        (1, 1, 1, 1)
    );
    assert_eq!(shop.refusals.total(), 0);
    let empty = &stats.namespaces["empty"];
    assert_eq!((empty.entries, empty.lookups, empty.misses), (0, 1, 1));
    assert_eq!(
        (
            stats.totals.entries,
            stats.totals.lookups,
            stats.totals.hits,
            stats.totals.stores
        ),
        (3, 7, 2, 3)
    );
    assert_eq!(stats.totals.refusals.negation, 2);
    // The names in JSON are the verdicts' names.
    let body = serde_json::to_value(&stats).unwrap();
    assert_eq!(body["namespaces"]["faq"]["refusals"]["negation"], 2);
    for (verdict, n) in faq.refusals.by_check() {
        assert_eq!(body["namespaces"]["faq"]["refusals"][verdict.name()], n);
    }
}

#[tokio::test]
async fn the_verifier_and_feedback_count_their_refusals() {
    let s = semantic().with_verifier(Arc::new(Never));
    s.store("faq", "Cancel my subscription", json!(1), &Store::default())
        .await
        .unwrap();
    let outcome = s
        .lookup_detailed("faq", &Query::new("Cancel my subscription"))
        .await
        .unwrap();
    assert_eq!(outcome.near_miss.unwrap().verdict, Verdict::Verifier);
    assert_eq!(s.stats().namespaces["faq"].refusals.verifier, 1);

    let s = semantic();
    let id = s
        .store("faq", "Cancel my subscription", json!(1), &Store::default())
        .await
        .unwrap();
    let paraphrase = Query::new("please cancel my subscription");
    assert!(s.lookup("faq", &paraphrase).await.unwrap().is_some());
    // Judged wrong at 0.9: served from then on only above 0.92, and the paraphrase is at
    // 0.87.
    s.feedback("faq", id, false, Some(0.9)).await.unwrap();
    let outcome = s.lookup_detailed("faq", &paraphrase).await.unwrap();
    assert_eq!(outcome.near_miss.unwrap().verdict, Verdict::Feedback);
    let faq = &s.stats().namespaces["faq"];
    assert_eq!(
        (
            faq.refusals.feedback,
            faq.refusals.total(),
            faq.hits,
            faq.lookups
        ),
        (1, 1, 1, 2)
    );
}

#[tokio::test]
async fn namespaces_past_the_tracked_number_share_one_row() {
    let s = semantic();
    let over = hoard_semantic::cache::MAX_TRACKED_NAMESPACES + 5;
    for n in 0..over {
        s.lookup(&format!("ns{n}"), &Query::new("anything"))
            .await
            .unwrap();
    }
    let stats = s.stats();
    assert_eq!(
        stats.namespaces.len(),
        hoard_semantic::cache::MAX_TRACKED_NAMESPACES + 1
    );
    assert_eq!(stats.namespaces[hoard::OTHER_NAMESPACES].lookups, 5);
    assert_eq!(stats.totals.lookups, over as u64);
}
