//! The graph's storage: each slot's vector, and its link blocks on every layer it lives on.

use super::scored::Scored;
use super::HnswIndex;

impl HnswIndex {
    /// Most links a node holds on `layer`: twice as many on layer 0 (the paper's
    /// `M_max0 = 2M`).
    pub(super) fn max_links(&self, layer: usize) -> usize {
        if layer == 0 {
            2 * self.params.m
        } else {
            self.params.m
        }
    }

    /// The vector in `slot`.
    pub(super) fn vector(&self, slot: u32) -> &[f32] {
        let start = slot as usize * self.dim;
        &self.vectors[start..start + self.dim]
    }

    /// Where the link block of `slot` on `layer` starts, in `base_links` (layer 0) or in
    /// `upper_links[slot]`. The block is a count followed by `max_links(layer)` entries.
    fn block_start(&self, slot: u32, layer: usize) -> usize {
        if layer == 0 {
            slot as usize * (1 + 2 * self.params.m)
        } else {
            (layer - 1) * (1 + self.params.m)
        }
    }

    /// The neighbours of `slot` on `layer`.
    pub(super) fn links(&self, slot: u32, layer: usize) -> &[u32] {
        let start = self.block_start(slot, layer);
        let block = if layer == 0 {
            &self.base_links[..]
        } else {
            &self.upper_links[slot as usize][..]
        };
        let count = block[start] as usize;
        &block[start + 1..start + 1 + count]
    }

    /// The whole link block of `slot` on `layer`: the count, then every entry.
    pub(super) fn links_mut(&mut self, slot: u32, layer: usize) -> &mut [u32] {
        let start = self.block_start(slot, layer);
        let len = 1 + self.max_links(layer);
        let block = if layer == 0 {
            &mut self.base_links[..]
        } else {
            &mut self.upper_links[slot as usize][..]
        };
        &mut block[start..start + len]
    }

    /// Replaces the links of `slot` on `layer` (at most `max_links(layer)` of them).
    pub(super) fn set_links(&mut self, slot: u32, layer: usize, links: &[Scored]) {
        let block = self.links_mut(slot, layer);
        let count = links.len().min(block.len() - 1);
        block[0] = count as u32;
        for (to, from) in block[1..].iter_mut().zip(&links[..count]) {
            *to = from.slot;
        }
    }
}
