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
