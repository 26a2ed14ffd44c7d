//! Vectors the index tests are made of: deterministic, so a failure can be rerun.

/// A unit vector of `dim` components uniform in [-1, 1) before normalizing, the same for
/// the same `n`.
pub(super) fn unit(n: u64, dim: usize) -> Vec<f32> {
    let mut v = raw(n, dim);
    crate::embed::normalize(&mut v);
    v
}

/// `dim` components uniform in [-1, 1), not normalized, the same for the same `n`.
pub(super) fn raw(n: u64, dim: usize) -> Vec<f32> {
    let mut state = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..dim)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 2000) as f32 / 1000.0 - 1.0
        })
        .collect()
}
