//! What the batch routes share: the `server.max_batch` bound and one batch read answered
//! as `{label: value or null}`.

use crate::error::{ApiError, ErrorCode};
use crate::routes::JsonText;
use crate::state::AppState;
use axum::body::Bytes;
use std::collections::BTreeMap;

/// 400 `batch_too_large` for more than `server.max_batch` items.
pub(crate) fn check_batch(len: usize, state: &AppState) -> Result<(), ApiError> {
    if len > state.max_batch {
        return Err(ApiError::new(
            ErrorCode::BatchTooLarge,
            format!(
                "{len} items in one batch; server.max_batch is {}",
                state.max_batch
            ),
        ));
    }
    Ok(())
}

/// One batch read for a batch route, answered as the JSON text of
/// `{"ok":true,"{field}":{label: value or null}}`, labels being the keys as the client
/// named them (in order, a repeated label once with its last key's value, as a JSON object
/// of them is). Keys L1 holds answer with the JSON text L1 keeps beside them
/// (`Cache::get_json_l1`), the rest come from one `mget`; each key is counted once.
pub(crate) async fn lookup_batch(
    state: &AppState,
    namespace: &str,
    field: &str,
    keys: Vec<String>,
    labels: Vec<String>,
) -> Result<JsonText, ApiError> {
    check_batch(keys.len(), state)?;
    // Checked here too: an empty batch never reaches the cache's own check. Every key is
    // checked before any is read, so a bad one counts nothing.
    hoard::key::validate_namespace(namespace)?;
    for key in &keys {
        hoard::key::validate_key(key)?;
    }
    let mut texts: Vec<Option<Bytes>> = Vec::with_capacity(keys.len());
    let mut rest = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let text = state.cache.get_json_l1(namespace, key)?;
        if text.is_none() {
            rest.push(i);
        }
        texts.push(text);
    }
    if !rest.is_empty() {
        let missing: Vec<&str> = rest.iter().map(|&i| keys[i].as_str()).collect();
        let found = state.cache.mget_raw(namespace, &missing).await?;
        for (i, value) in rest.into_iter().zip(found) {
            texts[i] = value
                .map(|bytes| hoard::codec::to_json(&bytes).map(Bytes::from))
                .transpose()?;
        }
    }
    let object: BTreeMap<&str, Option<&Bytes>> = labels
        .iter()
        .map(String::as_str)
        .zip(texts.iter().map(Option::as_ref))
        .collect();
    let mut out = Vec::with_capacity(64 + texts.iter().flatten().map(Bytes::len).sum::<usize>());
    out.extend_from_slice(b"{\"ok\":true,");
    write_string(&mut out, field);
    out.extend_from_slice(b":{");
    for (n, (label, text)) in object.into_iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        write_string(&mut out, label);
        out.push(b':');
        out.extend_from_slice(text.map_or(&b"null"[..], |text| &text[..]));
    }
    out.extend_from_slice(b"}}");
    Ok(JsonText::rendered(out.into()))
}

/// `text` as a JSON string.
fn write_string(out: &mut Vec<u8>, text: &str) {
    // Writing a `str` into a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

#[cfg(test)]
mod tests {
    // Test code: a failed unwrap is a failed test, with its location.
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::auth::Access;
    use axum::response::IntoResponse;
    use serde_json::{json, Value};

    async fn answer(state: &AppState, keys: &[&str], labels: &[&str]) -> String {
        let owned = |items: &[&str]| items.iter().map(|s| s.to_string()).collect();
        let text = lookup_batch(state, "asr", "values", owned(keys), owned(labels))
            .await
            .unwrap();
        let body = text.into_response().into_body();
        let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    /// From L1's texts or from L2, the object a JSON map of the labels would be: sorted, a
    /// repeated label once with its last value, labels escaped; each key counted once.
    #[tokio::test]
    async fn a_batch_answers_the_object_of_its_labels_counting_each_key_once() {
        let dir = hoard_testkit::temp_dir();
        let with_l1 = hoard::Cache::in_memory();
        // No L1 at all: every value comes from the disk tier's batch read.
        let without_l1 = hoard::Cache::builder()
            .disk(hoard::DiskConfig::new(dir.path()))
            .memory_bytes(0)
            .build()
            .unwrap();
        for cache in [with_l1, without_l1] {
            cache
                .set("asr", "b", &json!({"z": 1, "a": [0.1, "\u{e9}"]}))
                .await
                .unwrap();
            cache.set("asr", "a", &json!(-3.5e-300)).await.unwrap();
            let state = AppState::for_tests(cache.clone(), Access::default());
            // Twice: the second reads the texts L1 kept (where there is an L1).
            for _ in 0..2 {
                let text = answer(
                    &state,
                    &["b", "a", "x", "a", "b"],
                    &["q\"b", "é", "x", "é", "k"],
                )
                .await;
                let parsed: Value = serde_json::from_str(&text).unwrap();
                let values = json!({"q\"b": {"z": 1, "a": [0.1, "é"]}, "é": -3.5e-300, "x": null, "k": {"z": 1, "a": [0.1, "é"]}});
                assert_eq!(parsed, json!({"ok": true, "values": values}), "{text}");
                // Sorted by label, as a JSON object (a BTreeMap) of them is written; a label is
                // found with its colon, as a value may be the same text.
                let positions: Vec<usize> = ["\"k\":", "\"q\\\"b\":", "\"x\":", "\"é\":"]
                    .iter()
                    .map(|label| text.find(label).unwrap())
                    .collect();
                assert!(positions.windows(2).all(|w| w[0] < w[1]), "sorted: {text}");
            }
            let stats = cache.stats().await.unwrap();
            let asr = &stats.namespaces["asr"];
            assert_eq!((asr.hits, asr.misses), (8, 2), "{asr:?}");
        }
    }

    #[tokio::test]
    async fn a_bad_key_in_a_batch_counts_nothing() {
        let cache = hoard::Cache::in_memory();
        cache.set("asr", "a", &1).await.unwrap();
        let state = AppState::for_tests(cache.clone(), Access::default());
        let keys = vec!["a".to_string(), String::new()];
        let refused = lookup_batch(&state, "asr", "values", keys.clone(), keys).await;
        assert!(refused.is_err());
        let stats = cache.stats().await.unwrap();
        assert_eq!(stats.namespaces.get("asr").map_or(0, |ns| ns.hits), 0);
    }
}
