//! The partial top-k both exact scans keep: the same code, so for the same scores in the
//! same order they keep the same entries in the same order, ties included.

/// The `k` best `(position, score)` of a stream, best first; of equal scores the one
/// pushed first ranks first (the scans push positions in ascending order, so ties go to
/// the lower position).
///
/// A short sorted list that a score enters only when it beats the worst kept one, which
/// after the first few pushes is almost never: pushing costs one comparison.
pub(super) struct TopK {
    k: usize,
    best: Vec<(usize, f32)>,
    worst: f32,
}

impl TopK {
    /// Nothing kept yet; keeps at most `k`.
    pub(super) fn new(k: usize) -> TopK {
        TopK {
            k,
            best: Vec::with_capacity(k.saturating_add(1).min(1 << 16)),
            worst: f32::NEG_INFINITY,
        }
    }

    /// Offers `score` for `position`.
    #[inline(always)]
    pub(super) fn push(&mut self, position: usize, score: f32) {
        if self.best.len() < self.k || score > self.worst {
            let slot = self.best.partition_point(|(_, s)| *s >= score);
            self.best.insert(slot, (position, score));
            self.best.truncate(self.k);
            if self.best.len() == self.k {
                self.worst = self.best.last().map_or(f32::NEG_INFINITY, |(_, s)| *s);
            }
        }
    }

    /// What was kept, best first.
    pub(super) fn into_vec(self) -> Vec<(usize, f32)> {
        self.best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_best_and_breaks_ties_by_arrival() {
        let mut top = TopK::new(3);
        for (at, score) in [0.1, 0.5, 0.5, 0.9, 0.5, 0.2].into_iter().enumerate() {
            top.push(at, score);
        }
        // 0.9, then the first two 0.5s; the third 0.5 (position 4) ties the worst kept and
        // does not displace it.
        assert_eq!(top.into_vec(), vec![(3, 0.9), (1, 0.5), (2, 0.5)]);
        let mut none = TopK::new(0);
        none.push(0, 1.0);
        assert!(none.into_vec().is_empty());
    }
}
