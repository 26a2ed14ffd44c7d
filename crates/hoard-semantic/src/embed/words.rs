//! [`WordsEmbedder`]: a bag of words hashed into a vector. No model and no service, so
//! tests and examples of the cache's plumbing (stores, lookups, guards, stats) run
//! anywhere; it knows nothing of meaning: "car" and "automobile" are unrelated to it.

use super::{normalize, Embedder};
use crate::SemanticError;

/// Each lower-case word adds one to a slot picked by its hash; the vector is then scaled
/// to unit length. Two texts' similarity is about the share of words they have in common:
/// "cancel my subscription" and "don't cancel my subscription" are 0.87 apart.
#[derive(Debug, Clone)]
pub struct WordsEmbedder {
    id: String,
    dim: usize,
}

impl WordsEmbedder {
    /// Vectors of `dim` numbers (at least 1); the more, the fewer words share a slot.
    pub fn new(dim: usize) -> WordsEmbedder {
        let dim = dim.max(1);
        WordsEmbedder {
            id: format!("words/{dim}"),
            dim,
        }
    }

    fn vector(&self, text: &str) -> Vec<f32> {
        let mut vector = vec![0.0; self.dim];
        let words = text
            .split(|c: char| !(c.is_alphanumeric() || c == '\''))
            .filter(|w| !w.is_empty());
        for word in words {
            let hash = blake3::hash(word.to_lowercase().as_bytes());
            let mut first = [0u8; 8];
            first.copy_from_slice(&hash.as_bytes()[..8]);
            let slot = u64::from_le_bytes(first) % self.dim as u64;
            vector[usize::try_from(slot).unwrap_or(0)] += 1.0;
        }
        normalize(&mut vector);
        vector
    }
}

#[async_trait::async_trait]
impl Embedder for WordsEmbedder {
    fn id(&self) -> &str {
        &self.id
    }

    fn dim(&self) -> usize {
        self.dim
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, SemanticError> {
        Ok(texts.iter().map(|text| self.vector(text)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::dot;

    #[test]
    fn shared_words_make_similar_vectors() {
        let words = WordsEmbedder::new(512);
        let a = words.vector("Cancel my subscription");
        let b = words.vector("Don't cancel my subscription");
        let c = words.vector("What is the boiling point of water?");
        assert!((dot(&a, &a) - 1.0).abs() < 1e-5);
        assert!((dot(&a, &b) - 3.0 / 12f32.sqrt()).abs() < 1e-5);
        assert!(dot(&a, &c) < 0.3);
    }
}
