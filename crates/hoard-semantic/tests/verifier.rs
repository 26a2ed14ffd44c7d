//! The verifier with the real all-MiniLM-L6-v2 weights (`$HOARD_MINILM_DIR`): hoard's
//! encoder computes what the training code computes, the cache refuses what it refuses, and any
//! other model is refused rather than verified with noise.

#![cfg(feature = "local")]
// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use hoard_semantic::embed::EmbedderSpec;
use hoard_semantic::verify::cross::CrossEncoder;
use hoard_semantic::{Query, SemanticCache, SemanticConfig, SemanticError, Store, Verdict};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn minilm_dir() -> PathBuf {
    PathBuf::from(
        std::env::var("HOARD_MINILM_DIR").expect(
            "HOARD_MINILM_DIR is not set: scripts/test fetches all-MiniLM-L6-v2 and sets it",
        ),
    )
}

fn verifier() -> CrossEncoder {
    static VERIFIER: OnceLock<CrossEncoder> = OnceLock::new();
    VERIFIER
        .get_or_init(|| CrossEncoder::load(&minilm_dir()).unwrap())
        .clone()
}

fn spec(model: &Path) -> EmbedderSpec {
    EmbedderSpec {
        model: model.display().to_string(),
        ..EmbedderSpec::default()
    }
}

/// The probabilities `verifier/parity.py` computed with the training code (JAX) for the
/// shipped adapter: a wrong merge of the adapter, a missing pooler, token types left at
/// zero or another truncation would each move them.
#[test]
fn the_encoder_computes_what_the_training_code_computes() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/verifier_parity.json");
    let expected: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let pairs: Vec<(String, String)> = expected
        .iter()
        .map(|p| {
            (
                p["a"].as_str().unwrap().to_owned(),
                p["b"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    // One batch (padded) and one pair at a time must agree too.
    let together = verifier().verify_blocking(&pairs).unwrap();
    for (i, want) in expected.iter().enumerate() {
        let want = want["probability"].as_f64().unwrap() as f32;
        let alone = verifier().verify_blocking(&pairs[i..=i]).unwrap()[0];
        assert!(
            (together[i] - want).abs() < 2e-3,
            "{:?}: {} vs {want}",
            pairs[i],
            together[i]
        );
        assert!(
            (alone - want).abs() < 2e-3,
            "{:?}: {alone} vs {want}",
            pairs[i]
        );
    }
    // The same words again (other case, punctuation, spacing) are certain, model or not.
    let again = [(
        "What is the boiling point of water at sea level in Celsius?".to_owned(),
        "what is the boiling point of water at sea-level in celsius ?".to_owned(),
    )];
    assert_eq!(verifier().verify_blocking(&again).unwrap(), [1.0]);
}

/// Weights of the same shape but not the ones the adapter was trained over (here the
/// pooler scaled by 1%) are refused with what to do, by the loader and by `verifier =
/// true`; left unset, the cache runs without the verifier.
#[tokio::test]
async fn another_model_is_refused_not_verified_with_noise() {
    let dir = tempfile_dir("other-minilm");
    for file in ["config.json", "tokenizer.json"] {
        std::fs::copy(minilm_dir().join(file), dir.join(file)).unwrap();
    }
    // The same file with the pooler's weight scaled by 1.01, written byte by byte: an
    // 8-byte header length, a JSON header giving each tensor's byte range, the data.
    let mut bytes = std::fs::read(minilm_dir().join("model.safetensors")).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
    let range = &header["pooler.dense.weight"]["data_offsets"];
    let start = 8 + header_len + range[0].as_u64().unwrap() as usize;
    let end = 8 + header_len + range[1].as_u64().unwrap() as usize;
    for word in bytes[start..end].chunks_exact_mut(4) {
        let value = f32::from_le_bytes(word.try_into().unwrap()) * 1.01;
        word.copy_from_slice(&value.to_le_bytes());
    }
    std::fs::write(dir.join("model.safetensors"), bytes).unwrap();

    let Err(SemanticError::Model { reason, .. }) = CrossEncoder::load(&dir) else {
        panic!("other weights were accepted");
    };
    assert!(reason.contains("verifier = false"), "{reason}");
    let hub = Path::new("/nonexistent");
    let required = hoard_semantic::verify::for_spec(&spec(&dir), hub, Some(true)).await;
    assert!(matches!(required, Err(SemanticError::Model { .. })));
    let auto = hoard_semantic::verify::for_spec(&spec(&dir), hub, None)
        .await
        .unwrap();
    assert!(auto.is_none());
    let off = hoard_semantic::verify::for_spec(&spec(&minilm_dir()), hub, Some(false))
        .await
        .unwrap();
    assert!(off.is_none());
    let service = EmbedderSpec {
        model: "openai:text-embedding-3-small".into(),
        ..EmbedderSpec::default()
    };
    let Err(SemanticError::Config(reason)) =
        hoard_semantic::verify::for_spec(&service, hub, Some(true)).await
    else {
        panic!("a service was given a verifier");
    };
    assert!(reason.contains("verifier = false"), "{reason}");
    assert!(hoard_semantic::verify::for_spec(&service, hub, None)
        .await
        .unwrap()
        .is_none());
    std::fs::remove_dir_all(dir).unwrap();
}

fn tempfile_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hoard-verifier-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Through the cache, opened the way the server and the Python package open it: the
/// verifier is on by default with all-MiniLM-L6-v2, an antonym that clears the cosine
/// threshold is refused by it (and says so), and a paraphrase is served.
#[tokio::test]
async fn the_cache_opens_with_the_verifier_and_refuses_what_it_refuses() {
    let hub = Path::new("/nonexistent");
    let semantic = SemanticCache::open(
        hoard::Cache::in_memory(),
        &spec(&minilm_dir()),
        hub,
        SemanticConfig::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        semantic.verifier().map(|v| v.id()),
        Some("all-MiniLM-L6-v2-cross")
    );
    let stored = "How do I enable two-factor authentication on my account?";
    semantic
        .store(
            "faq",
            stored,
            json!("Settings > Security > Enable"),
            &Store::default(),
        )
        .await
        .unwrap();
    let trap = "How do I disable two-factor authentication on my account?";
    let outcome = semantic
        .lookup_detailed("faq", &Query::new(trap))
        .await
        .unwrap();
    let near = outcome.near_miss.expect("the trap is a near miss");
    assert!(outcome.hit.is_none(), "{near:?}");
    assert!(
        near.similarity >= 0.85,
        "the cosine alone would serve it: {}",
        near.similarity
    );
    assert_eq!(near.verdict, Verdict::Verifier);

    let asked = "how do I turn on two-factor authentication for my account";
    let hit = semantic.lookup("faq", &Query::new(asked)).await.unwrap();
    assert_eq!(hit.map(|h| h.matched_query).as_deref(), Some(stored));

    // Off by configuration: the same trap is served by the cosine alone.
    let config = SemanticConfig {
        verifier: Some(false),
        guards: hoard_semantic::Guards::none(),
        ..SemanticConfig::default()
    };
    let plain = SemanticCache::open(hoard::Cache::in_memory(), &spec(&minilm_dir()), hub, config)
        .await
        .unwrap();
    assert!(plain.verifier().is_none());
    plain
        .store(
            "faq",
            stored,
            json!("Settings > Security > Enable"),
            &Store::default(),
        )
        .await
        .unwrap();
    assert!(plain
        .lookup("faq", &Query::new(trap))
        .await
        .unwrap()
        .is_some());
}
