//! Vector indexes: exact search (the default), and HNSW for larger partitions. Both score
//! by dot product, which is the cosine for the unit vectors embedders return.
//!
//! - [`ExactIndex`]: the default. It scans int8 codes of the vectors (a quarter of the
//!   bytes of f32), rescores the best candidates with the f32 vectors, and proves from
//!   the quantization error that nothing outside the candidates could have made the top
//!   `k` (or rescans the few that could). Its results are those of [`FlatIndex`], bit
//!   for bit: same ids, same order, same scores.
//! - [`FlatIndex`]: every f32 vector scored. The reference [`ExactIndex`] is tested
//!   against, and what the benchmarks compare it with.
//! - [`crate::hnsw`]: approximate, for partitions too large to scan.
//!
//! An index knows ids and vectors only; which entry an id names, its expiry and its
//! partition live in [`crate::cache`]. Indexes are held in memory only: the cache rebuilds
//! them from the stored entries' f32 vectors, so no index layout is ever read back from
//! storage.

mod codes;
mod dot;
mod exact;
mod flat;
mod int8;
mod topk;

pub use dot::dot;
pub use exact::{candidates_for, ExactIndex, SearchTrace};
pub use flat::FlatIndex;

use crate::SemanticError;

/// Nearest-neighbour search over vectors of one dimension.
pub trait VectorIndex: Send + Sync {
    /// Adds (or replaces) `id`. A vector whose length is not [`VectorIndex::dim`] is the
    /// caller's bug: [`VectorIndex::try_insert`] says so as an error instead.
    fn insert(&mut self, id: u64, vector: &[f32]);
    /// Removes `id`; whether it was there.
    fn remove(&mut self, id: u64) -> bool;
    /// The `k` best `(id, similarity)`, best first (empty for a query whose length is not
    /// [`VectorIndex::dim`]: [`VectorIndex::try_search`] says so as an error instead).
    fn search(&self, query: &[f32], k: usize) -> Vec<(u64, f32)>;
    /// How many vectors it holds.
    fn len(&self) -> usize;
    /// The length of the vectors it holds.
    fn dim(&self) -> usize;
    /// Whether it holds none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// [`VectorIndex::insert`], refusing a vector of another length than
    /// [`VectorIndex::dim`] (say, one made by another model) with
    /// [`SemanticError::Dimension`], and leaving the index as it was.
    fn try_insert(&mut self, id: u64, vector: &[f32]) -> Result<(), SemanticError> {
        check_dim(self.dim(), vector)?;
        self.insert(id, vector);
        Ok(())
    }
    /// [`VectorIndex::search`], refusing a query of another length than
    /// [`VectorIndex::dim`] with [`SemanticError::Dimension`] instead of finding nothing.
    fn try_search(&self, query: &[f32], k: usize) -> Result<Vec<(u64, f32)>, SemanticError> {
        check_dim(self.dim(), query)?;
        Ok(self.search(query, k))
    }
}

/// Refuses a vector that is not `dim` long.
fn check_dim(dim: usize, vector: &[f32]) -> Result<(), SemanticError> {
    if vector.len() == dim {
        Ok(())
    } else {
        Err(SemanticError::Dimension {
            expected: dim,
            got: vector.len(),
        })
    }
}

/// Which index a partition uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IndexKind {
    /// Every vector scored ([`ExactIndex`]): exact, and fast enough to ~100k vectors per
    /// partition.
    #[default]
    Exact,
    /// Hierarchical navigable small world graph: approximate, for larger partitions.
    Hnsw,
}

#[cfg(test)]
mod test_vectors;
