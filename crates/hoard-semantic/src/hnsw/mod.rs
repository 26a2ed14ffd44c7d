//! Hierarchical navigable small world graph (Malkov & Yashunin, "Efficient and robust
//! approximate nearest neighbor search using Hierarchical Navigable Small World graphs",
//! arXiv:1603.09320): approximate nearest neighbours in about logarithmic time, for
//! partitions too large for [`ExactIndex`](crate::index::ExactIndex) to scan on every lookup.
//!
//! Layout, chosen so that the hot loop (scoring neighbours on layer 0) touches few cache
//! lines and allocates nothing:
//! - every vector lives in one `Vec<f32>`, slot after slot;
//! - layer-0 links, where nearly all the work happens, live in one `Vec<u32>` with a fixed
//!   stride per slot; only the few nodes that reach upper layers (about one in `m`) own a
//!   small extra allocation for those layers;
//! - the visited set of a search is a bitmap taken from a pool and cleared word by word,
//!   so a lookup costs no allocation and no O(n) reset.
//!
//! Removal leaves a tombstone: the node keeps routing searches through the graph (cutting
//! it out would strand its neighbours) but is never returned. Once tombstones pass
//! [`HnswParams::compact_ratio`] of the slots, the graph is rebuilt from the live vectors,
//! so neither memory nor recall degrades under churn.
//!
//! One file per job: `links` is the graph's storage, `search` and `insert` the paper's two
//! algorithms, `removal` the tombstones and compaction, `rng` the level generator;
//! [`recall_at`] measures an index against exact search, and [`synthetic`] makes
//! reproducible test data.

mod insert;
mod links;
mod recall;
mod removal;
mod rng;
mod scored;
mod search;
pub mod synthetic;
#[cfg(test)]
mod test_support;
mod visited;

pub use recall::recall_at;

use crate::index::VectorIndex;
use std::collections::HashMap;
use visited::VisitedPool;

/// Tuning of an [`HnswIndex`]. The defaults are the paper's and hnswlib's usual choices.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HnswParams {
    /// Links per node on the upper layers; layer 0 allows twice as many, as the paper
    /// recommends (`M_max0 = 2M`). Larger: better recall, more memory, slower inserts.
    /// Values below 2 are raised to 2 (the level distribution divides by `ln m`).
    pub m: usize,
    /// Candidates considered when linking a new node. Larger: a better graph, slower
    /// inserts. Raised to at least `m`.
    pub ef_construction: usize,
    /// Candidates kept while searching; a search for `k` results uses `max(ef_search, k)`.
    /// Larger: better recall, slower lookups. Raised to at least 1.
    pub ef_search: usize,
    /// Seed of the level generator: the same inserts in the same order build the same graph.
    pub seed: u64,
    /// Rebuild the graph once tombstones exceed this fraction of all slots.
    /// A value of 1.0 or more turns automatic compaction off (call [`HnswIndex::compact`]).
    pub compact_ratio: f64,
}

impl Default for HnswParams {
    fn default() -> HnswParams {
        HnswParams {
            m: 16,
            ef_construction: 200,
            ef_search: 64,
            seed: 0x5EED_4A11_0C8E_D00D,
            compact_ratio: 0.3,
        }
    }
}

/// Approximate nearest-neighbour index over unit vectors (HNSW).
///
/// Scores are dot products, like [`ExactIndex`](crate::index::ExactIndex)'s, so results of the two are comparable.
#[derive(Clone)]
pub struct HnswIndex {
    dim: usize,
    params: HnswParams,
    /// `1 / ln m`: the paper's `mL`, which makes each layer about `m` times sparser.
    level_mult: f64,
    /// xorshift64* state for levels: seeded, so builds are reproducible.
    rng: u64,
    /// Slot `s` holds `vectors[s * dim..(s + 1) * dim]`.
    vectors: Vec<f32>,
    /// Id of each slot (also of tombstoned slots, so compaction and debugging can see it).
    ids: Vec<u64>,
    /// Whether each slot was removed or replaced.
    deleted: Vec<bool>,
    /// Layer-0 links: per slot, a count then `2m` entries.
    base_links: Vec<u32>,
    /// Upper-layer links: per slot, for layers `1..=level`, a count then `m` entries
    /// each (so the length also gives the slot's level). Empty, without an allocation,
    /// for the ~(1 - 1/m) of slots that live on layer 0 only.
    upper_links: Vec<Vec<u32>>,
    /// Live ids only.
    slots: HashMap<u64, u32>,
    /// Where every search starts: a node on the top layer.
    entry: Option<u32>,
    top_level: usize,
    tombstones: usize,
    /// Reusable visited sets, one lent to each running search.
    visited_pool: VisitedPool,
}

impl std::fmt::Debug for HnswIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Vectors and links are far too long to print; the shape is what helps.
        f.debug_struct("HnswIndex")
            .field("dim", &self.dim)
            .field("params", &self.params)
            .field("len", &self.slots.len())
            .field("slots", &self.ids.len())
            .field("tombstones", &self.tombstones)
            .field("top_level", &self.top_level)
            .finish_non_exhaustive()
    }
}

impl HnswIndex {
    /// An empty index of `dim`-long vectors with default parameters.
    pub fn new(dim: usize) -> HnswIndex {
        HnswIndex::with_params(dim, HnswParams::default())
    }

    /// An empty index of `dim`-long vectors; out-of-range parameters are raised to
    /// their minimum (see [`HnswParams`]).
    pub fn with_params(dim: usize, params: HnswParams) -> HnswIndex {
        let m = params.m.max(2);
        let params = HnswParams {
            m,
            ef_construction: params.ef_construction.max(m),
            ef_search: params.ef_search.max(1),
            ..params
        };
        HnswIndex {
            dim,
            params,
            level_mult: 1.0 / (m as f64).ln(),
            rng: rng::seed_state(params.seed),
            vectors: Vec::new(),
            ids: Vec::new(),
            deleted: Vec::new(),
            base_links: Vec::new(),
            upper_links: Vec::new(),
            slots: HashMap::new(),
            entry: None,
            top_level: 0,
            tombstones: 0,
            visited_pool: VisitedPool::default(),
        }
    }

    /// The parameters in use (after raising out-of-range values).
    pub fn params(&self) -> HnswParams {
        self.params
    }

    /// Length of every vector.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Sets the search breadth; takes effect on the next search. Raised to at least 1.
    pub fn set_ef_search(&mut self, ef_search: usize) {
        self.params.ef_search = ef_search.max(1);
    }

    /// Removed (or replaced) vectors still held until the next compaction.
    pub fn tombstones(&self) -> usize {
        self.tombstones
    }
}

impl VectorIndex for HnswIndex {
    /// Adds `id`, or replaces its vector: the old slot becomes a tombstone and the new
    /// vector is linked afresh (updating a node in place would leave links chosen for the
    /// old vector).
    ///
    /// # Panics
    /// If `vector.len()` is not the index's dimension: storing it would corrupt every
    /// vector after it, so this is treated as the caller's bug it is.
    fn insert(&mut self, id: u64, vector: &[f32]) {
        assert_eq!(
            vector.len(),
            self.dim,
            "HnswIndex::insert: vector of the wrong dimension"
        );
        if self.tombstone(id) {
            self.maybe_compact();
        }
        self.add(id, vector);
    }

    fn remove(&mut self, id: u64) -> bool {
        if !self.tombstone(id) {
            return false;
        }
        self.maybe_compact();
        true
    }

    fn search(&self, query: &[f32], k: usize) -> Vec<(u64, f32)> {
        self.nearest(query, k)
    }

    fn len(&self) -> usize {
        self.slots.len()
    }

    fn dim(&self) -> usize {
        self.dim
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_params_are_raised() {
        let hnsw = HnswIndex::with_params(
            4,
            HnswParams {
                m: 0,
                ef_construction: 0,
                ef_search: 0,
                ..HnswParams::default()
            },
        );
        assert_eq!(hnsw.params().m, 2);
        assert_eq!(hnsw.params().ef_construction, 2);
        assert_eq!(hnsw.params().ef_search, 1);
        assert!(hnsw.level_mult.is_finite());
    }
}
