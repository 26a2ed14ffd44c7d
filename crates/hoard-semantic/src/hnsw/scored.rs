//! A slot with its score against a query: what the search heaps and neighbour lists hold.

use std::cmp::Ordering;

/// A score and the slot it belongs to, ordered by score (ties by slot, so that the
/// order is total and results are deterministic).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Scored {
    pub(super) score: f32,
    pub(super) slot: u32,
}

impl Eq for Scored {}

impl Ord for Scored {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| self.slot.cmp(&other.slot))
    }
}

impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Sorts best (highest score) first.
pub(super) fn sort_best_first(scored: &mut [Scored]) {
    scored.sort_unstable_by(|a, b| b.cmp(a));
}
