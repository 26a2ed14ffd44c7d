//! Typed values to bytes and back.
//!
//! Storage uses MessagePack with field names (`rmp_serde::to_vec_named`): compact, fast,
//! and self-describing, so `serde_json::Value` (what the HTTP edge stores) round-trips and
//! a struct that gains an optional field still reads old entries. The HTTP edge speaks
//! JSON; it converts at the boundary. Compression is the tiers' business ([`crate::Entry::encode`]).

use crate::error::{Error, Result};
use bytes::Bytes;
use serde::{de::DeserializeOwned, Serialize};

/// Serializes a value for storage.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Bytes> {
    rmp_serde::to_vec_named(value)
        .map(Bytes::from)
        .map_err(|e| Error::Encode(Box::new(e)))
}

/// Deserializes a stored value as `T`.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    rmp_serde::from_slice(bytes).map_err(|e| Error::Decode(Box::new(e)))
}

/// The stored MessagePack bytes as JSON text, written straight from one to the other
/// without a `serde_json::Value` in between: what the HTTP edge answers a read with.
/// Floats are written in their shortest form that reads back to the same bits, as
/// `serde_json` writes them.
pub fn to_json(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 2 + 16);
    let mut from = rmp_serde::Deserializer::from_read_ref(bytes);
    let mut to = serde_json::Serializer::new(&mut out);
    serde_transcode::transcode(&mut from, &mut to).map_err(|e| Error::Decode(Box::new(e)))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Metrics {
        accuracy: f64,
        f1_score: f64,
        labels: Vec<String>,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct MetricsV2 {
        accuracy: f64,
        #[serde(default)]
        recall: Option<f64>,
    }

    #[test]
    fn json_text_is_what_the_value_would_print() {
        let values = [
            serde_json::json!({"probabilities": {"happy": 0.9, "sad": 0.1}, "label": "happy",
                               "n": -3, "big": u64::MAX, "tiny": 5e-324, "third": 1.0 / 3.0,
                               "list": [1, "two", null, true, 2.5], "nested": {"a": []}}),
            serde_json::json!(0.1),
            serde_json::json!("a \"quoted\" \u{1F600} line\n"),
            serde_json::json!(null),
        ];
        for value in values {
            let stored = encode(&value).unwrap();
            let text = to_json(&stored).unwrap();
            assert_eq!(
                String::from_utf8(text).unwrap(),
                serde_json::to_string(&value).unwrap()
            );
        }
        assert!(matches!(to_json(&[0xc1]), Err(Error::Decode(_))));
        assert!(matches!(to_json(&[]), Err(Error::Decode(_))));
    }

    #[test]
    fn struct_round_trip_and_schema_growth() {
        let m = Metrics {
            accuracy: 0.95,
            f1_score: 0.93,
            labels: vec!["happy".into(), "sad".into()],
        };
        let bytes = encode(&m).unwrap();
        assert_eq!(decode::<Metrics>(&bytes).unwrap(), m);
        let newer: MetricsV2 = decode(&bytes).unwrap();
        assert_eq!(
            newer,
            MetricsV2 {
                accuracy: 0.95,
                recall: None
            }
        );
    }

    #[test]
    fn json_values_round_trip() {
        let v = serde_json::json!({"label": "angry", "scores": [0.1, 0.9], "meta": null});
        assert_eq!(
            decode::<serde_json::Value>(&encode(&v).unwrap()).unwrap(),
            v
        );
    }

    #[test]
    fn wrong_type_is_a_decode_error() {
        let bytes = encode("just a string").unwrap();
        assert!(matches!(decode::<Metrics>(&bytes), Err(Error::Decode(_))));
    }

    #[test]
    fn a_decode_error_keeps_the_deserializer_error_as_its_source_and_in_its_message() {
        let bytes = encode("just a string").unwrap();
        let error = decode::<Metrics>(&bytes).unwrap_err();
        let source = std::error::Error::source(&error).expect("the deserializer's error");
        assert!(
            source.downcast_ref::<rmp_serde::decode::Error>().is_some(),
            "{source:?}"
        );
        let message = error.to_string();
        assert!(
            message.starts_with("cannot decode value as the requested type: "),
            "{message}"
        );
        assert!(message.contains(&source.to_string()), "{message}");
    }
}
