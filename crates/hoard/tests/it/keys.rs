//! Key hashing is pinned: these values must not change between releases, or every
//! existing cache (and every other process sharing a Redis) silently misses.

use hoard::{stable_hash, KeyBuilder};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

#[test]
fn stable_hash_is_pinned() {
    let params = serde_json::json!({"model_run_ids": ["abc-123", "def-456"], "metric": "accuracy"});
    assert_eq!(
        stable_hash(&params).unwrap(),
        "f7ac8a4de5d4373dc24033432413755a"
    );
    assert_eq!(
        stable_hash("abc-123").unwrap(),
        "17513fb3b18e9567f7d16f12fb22f362"
    );
}

#[test]
fn comparison_key_is_pinned_and_order_insensitive() {
    let key = KeyBuilder::new("comparison")
        .hash_unordered(["abc-123", "def-456", "ghi-789"])
        .build()
        .unwrap();
    assert_eq!(key, "comparison:b687e79648e482c2c12020ffc9577b1a");
    let shuffled = KeyBuilder::new("comparison")
        .hash_unordered(["ghi-789", "abc-123", "def-456"])
        .build()
        .unwrap();
    assert_eq!(key, shuffled);
    let fewer = KeyBuilder::new("comparison")
        .hash_unordered(["abc-123", "def-456"])
        .build()
        .unwrap();
    assert_ne!(key, fewer);
}

#[test]
fn map_order_does_not_matter_but_list_order_does() {
    #[derive(Serialize)]
    struct Query<'a> {
        top_n: u32,
        filters: HashMap<&'a str, &'a str>,
    }
    let mut a = HashMap::new();
    let mut b = HashMap::new();
    for (k, v) in [
        ("lang", "en"),
        ("emotion", "happy"),
        ("split", "dev"),
        ("speaker", "03"),
    ] {
        a.insert(k, v);
    }
    for (k, v) in [
        ("speaker", "03"),
        ("split", "dev"),
        ("emotion", "happy"),
        ("lang", "en"),
    ] {
        b.insert(k, v);
    }
    let ha = stable_hash(&Query {
        top_n: 10,
        filters: a,
    })
    .unwrap();
    let hb = stable_hash(&Query {
        top_n: 10,
        filters: b,
    })
    .unwrap();
    assert_eq!(ha, hb);
    let as_btree: BTreeMap<_, _> = [
        ("split", "dev"),
        ("lang", "en"),
        ("speaker", "03"),
        ("emotion", "happy"),
    ]
    .into();
    assert_eq!(
        stable_hash(&Query {
            top_n: 10,
            filters: as_btree.into_iter().collect()
        })
        .unwrap(),
        ha
    );
    assert_ne!(stable_hash(&[1, 2]).unwrap(), stable_hash(&[2, 1]).unwrap());
}

#[test]
fn hashed_items_are_length_delimited() {
    let a = KeyBuilder::new("x")
        .hash_unordered(["ab", "c"])
        .build()
        .unwrap();
    let b = KeyBuilder::new("x")
        .hash_unordered(["a", "bc"])
        .build()
        .unwrap();
    assert_ne!(a, b);
}

#[test]
fn builder_validates_the_result() {
    let err = KeyBuilder::new("feature importance")
        .part("x")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("whitespace"), "{err}");
    let top = KeyBuilder::new("feature_importance")
        .part("abc-123")
        .part(format_args!("top_{}", 10));
    assert_eq!(top.build().unwrap(), "feature_importance:abc-123:top_10");
}
