//! How the cache decides: thresholds, guards, lifetimes, sizes, and their validation.

use crate::guard::Guards;
use crate::index::IndexKind;
use crate::SemanticError;
use std::collections::BTreeMap;
use std::time::Duration;

/// The verifier's default bar: on the dev split of `verifier/make_eval.py`, the lowest bar at
/// which every kind of generated trap stays under 1.5% wrong hits at the default threshold
/// (a margin under the 2% budget for questions unlike QQP's).
pub const DEFAULT_VERIFIER_THRESHOLD: f32 = 0.95;

/// How the cache decides.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SemanticConfig {
    /// Lowest cosine similarity, in [0, 1], for a hit (default 0.85).
    pub threshold: f32,
    /// Thresholds per namespace, overriding `threshold`.
    pub namespace_thresholds: BTreeMap<String, f32>,
    /// The wrong-hit checks that run after the search.
    pub guards: Guards,
    /// Lowest similarity, in [0, 1], between two conversation contexts for them to count
    /// as the same (default 0.9).
    pub context_threshold: f32,
    /// Lifetime of an entry stored without one (default 1 day).
    #[serde(with = "humantime_secs")]
    pub ttl: Duration,
    /// Whether a hit restarts the entry's lifetime (default no).
    pub extend_on_hit: bool,
    /// Most entries per partition; the least recently used goes first (default 100,000).
    pub capacity: usize,
    /// Exact search (default) or HNSW.
    pub index: IndexKind,
    /// Nearest neighbours checked per lookup: the nearest may fail a guard while the next
    /// one is a true paraphrase (default 4).
    pub candidates: usize,
    /// Whether the [verifier](crate::verify) judges candidates: unset (the default) runs
    /// it when the model is the local all-MiniLM-L6-v2 it was trained over, `true`
    /// requires it (any other model is an error), `false` turns it off.
    pub verifier: Option<bool>,
    /// Lowest probability, in [0, 1], the verifier must give a candidate for a hit
    /// (default 0.95).
    pub verifier_threshold: f32,
}

impl Default for SemanticConfig {
    fn default() -> SemanticConfig {
        SemanticConfig {
            threshold: 0.85,
            namespace_thresholds: BTreeMap::new(),
            guards: Guards::all(),
            context_threshold: 0.9,
            ttl: Duration::from_secs(24 * 3600),
            extend_on_hit: false,
            capacity: 100_000,
            index: IndexKind::Exact,
            candidates: 4,
            verifier: None,
            verifier_threshold: DEFAULT_VERIFIER_THRESHOLD,
        }
    }
}

/// `ttl` written the way hoard's configuration writes every duration ("1d", "90s").
mod humantime_secs {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hoard::ttl::format_duration(*d))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text: String = serde::Deserialize::deserialize(d)?;
        hoard::ttl::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

impl SemanticConfig {
    /// Checks every threshold is a similarity in [0, 1] and the sizes are usable.
    pub fn validate(&self) -> Result<(), SemanticError> {
        self.validate_fields().map_err(|(_, error)| error)
    }

    /// [`SemanticConfig::validate`], with the name of the field at fault (`threshold`,
    /// `namespace_thresholds.faq`, `capacity`), so a configuration file's error can name
    /// its key.
    pub fn validate_fields(&self) -> Result<(), (String, SemanticError)> {
        let check = |field: &str, threshold: f32| {
            check_threshold(threshold).map_err(|error| (field.to_owned(), error))
        };
        check("threshold", self.threshold)?;
        check("context_threshold", self.context_threshold)?;
        check("verifier_threshold", self.verifier_threshold)?;
        for (namespace, threshold) in &self.namespace_thresholds {
            check(&format!("namespace_thresholds.{namespace}"), *threshold)?;
        }
        for (field, value) in [("capacity", self.capacity), ("candidates", self.candidates)] {
            if value == 0 {
                let error = SemanticError::Config(format!("{field} must be at least 1"));
                return Err((field.to_owned(), error));
            }
        }
        Ok(())
    }

    /// The threshold of lookups in `namespace` that do not set their own.
    pub(super) fn threshold_for(&self, namespace: &str) -> f32 {
        self.namespace_thresholds
            .get(namespace)
            .copied()
            .unwrap_or(self.threshold)
    }
}

/// A similarity threshold must be a number in [0, 1].
pub fn check_threshold(threshold: f32) -> Result<f32, SemanticError> {
    if threshold.is_finite() && (0.0..=1.0).contains(&threshold) {
        Ok(threshold)
    } else {
        Err(SemanticError::InvalidThreshold(threshold))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_must_be_similarities() {
        for good in [0.0, 0.5, 1.0] {
            assert!(check_threshold(good).is_ok());
        }
        for bad in [-0.1, 1.01, f32::NAN, f32::INFINITY, 85.0] {
            assert!(check_threshold(bad).is_err(), "{bad}");
        }
        let mut config = SemanticConfig::default();
        config.namespace_thresholds.insert("faq".into(), 2.0);
        assert!(config.validate().is_err());
    }
}
