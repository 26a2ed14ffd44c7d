//! Inserting into the graph (the paper's INSERT): draw the new node's level, find its
//! neighbours layer by layer, and link both ways, pruning full lists with the heuristic.

use super::rng::next_u64;
use super::scored::{sort_best_first, Scored};
use super::HnswIndex;
use crate::index::dot;

/// Upper bound on node levels. With `m = 16` a level of 6 or more has odds of about 1 in
/// 17 million per node (`m^-level`), so the cap never bites in practice; it only bounds
/// the per-node allocation if someone picks a tiny `m`.
const MAX_LEVEL: usize = 16;

impl HnswIndex {
    /// The paper's level distribution: `floor(-ln(U) * mL)`, so each layer holds about
    /// `1/m` of the one below.
    fn random_level(&mut self) -> usize {
        // 53 random bits as a float in [0, 1); `1 - u` is in (0, 1], so `ln` stays finite.
        let u = (next_u64(&mut self.rng) >> 11) as f64 / (1u64 << 53) as f64;
        let level = (-(1.0 - u).ln() * self.level_mult).floor();
        // Float-to-int casts saturate, and the value is never negative or NaN here.
        (level as usize).min(MAX_LEVEL)
    }

    /// The paper's SELECT-NEIGHBORS-HEURISTIC over `candidates` (best first): take a
    /// candidate only if it is closer to the base than to every neighbour already taken.
    /// This keeps links pointing in different directions, which is what lets greedy search
    /// cross between clusters; plain "nearest m" links would all point into one cluster.
    fn select_neighbours(&self, candidates: &[Scored], m: usize) -> Vec<Scored> {
        if candidates.len() <= m {
            return candidates.to_vec();
        }
        let mut chosen: Vec<Scored> = Vec::with_capacity(m);
        for &candidate in candidates {
            if chosen.len() >= m {
                break;
            }
            let vector = self.vector(candidate.slot);
            if chosen
                .iter()
                .all(|taken| dot(vector, self.vector(taken.slot)) < candidate.score)
            {
                chosen.push(candidate);
            }
        }
        chosen
    }

    /// Adds the back link `from -> to`; a full list is re-selected with the heuristic over
    /// its old links plus the new one, as in the paper, rather than refusing the link.
    fn link_back(&mut self, from: u32, to: Scored, layer: usize) {
        let max = self.max_links(layer);
        let block = self.links_mut(from, layer);
        let count = block[0] as usize;
        if count < max {
            block[1 + count] = to.slot;
            block[0] += 1;
            return;
        }
        let base = self.vector(from);
        let mut candidates: Vec<Scored> = self
            .links(from, layer)
            .iter()
            .map(|&slot| Scored {
                score: dot(base, self.vector(slot)),
                slot,
            })
            .collect();
        candidates.push(Scored {
            score: to.score,
            slot: to.slot,
        });
        sort_best_first(&mut candidates);
        let chosen = self.select_neighbours(&candidates, max);
        self.set_links(from, layer, &chosen);
    }

    /// Appends a new slot for `id` and links it into the graph (the paper's INSERT).
    pub(super) fn add(&mut self, id: u64, vector: &[f32]) {
        assert!(
            self.ids.len() < u32::MAX as usize,
            "HNSW index full: slots are u32"
        );
        let slot = self.ids.len() as u32;
        let level = self.random_level();
        self.ids.push(id);
        self.deleted.push(false);
        self.vectors.extend_from_slice(vector);
        self.base_links
            .resize(self.base_links.len() + 1 + 2 * self.params.m, 0);
        self.upper_links.push(vec![0; level * (1 + self.params.m)]);
        self.slots.insert(id, slot);

        let Some(entry) = self.entry else {
            self.entry = Some(slot);
            self.top_level = level;
            return;
        };
        let mut nearest = Scored {
            score: dot(vector, self.vector(entry)),
            slot: entry,
        };
        // Above the new node's level only the way down matters: greedy, one node.
        for layer in (level + 1..=self.top_level).rev() {
            nearest = self.greedy(vector, nearest, layer);
        }
        let mut visited = self.visited_pool.take();
        for layer in (0..=level.min(self.top_level)).rev() {
            let found = self.search_layer(
                vector,
                nearest,
                self.params.ef_construction,
                layer,
                false,
                &mut visited,
            );
            // `m` links for the new node on every layer; neighbours may hold up to
            // `max_links(layer)` after back links (the paper's M vs M_max0).
            let chosen = self.select_neighbours(&found, self.params.m);
            self.set_links(slot, layer, &chosen);
            for &neighbour in &chosen {
                self.link_back(
                    neighbour.slot,
                    Scored {
                        score: neighbour.score,
                        slot,
                    },
                    layer,
                );
            }
            if let Some(&best) = found.first() {
                nearest = best;
            }
        }
        self.visited_pool.give_back(visited);
        if level > self.top_level {
            self.top_level = level;
            self.entry = Some(slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::synthetic::random_unit_vectors;
    use super::super::test_support::build;
    use super::super::{HnswIndex, HnswParams};

    #[test]
    fn same_inserts_build_the_same_graph() {
        let dim = 16;
        let data = random_unit_vectors(500, dim, 71);
        let (a, _) = build(&data, HnswParams::default());
        let (b, _) = build(&data, HnswParams::default());
        assert_eq!(a.upper_links, b.upper_links);
        assert_eq!(a.base_links, b.base_links);
        let other_seed = HnswParams {
            seed: 99,
            ..HnswParams::default()
        };
        let (c, _) = build(&data, other_seed);
        let levels =
            |index: &HnswIndex| -> Vec<usize> { index.upper_links.iter().map(Vec::len).collect() };
        assert_ne!(levels(&a), levels(&c), "the seed drives the levels");
    }
}
