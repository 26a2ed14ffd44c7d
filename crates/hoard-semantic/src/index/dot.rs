//! The f32 dot product every score of the crate is computed with: the flat scan, the
//! exact index's rescoring, HNSW, context checks and evaluation all call this one
//! function, so the same pair of vectors always gets the same score, to the bit.

/// Dot product of two equally long slices (the shorter length counts if they differ).
///
/// Vectorized with the widest instructions the CPU has (AVX-512 or AVX2 + FMA on x86-64,
/// NEON on ARM, detected once at run time), four independent sums so consecutive
/// multiply-adds do not wait on each other. Results may differ from the naive
/// left-to-right sum in the last bits (the order of additions differs).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    struct Dot<'a>(&'a [f32], &'a [f32]);
    impl pulp::WithSimd for Dot<'_> {
        type Output = f32;
        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, simd: S) -> f32 {
            dot_with(simd, self.0, self.1)
        }
    }
    pulp::Arch::new().dispatch(Dot(a, b))
}

/// [`dot`] inside a SIMD context, so that loops over many vectors inline it. Given the
/// same `S` (one [`pulp::Arch`] dispatch picks it per machine) it returns what [`dot`]
/// returns, bit for bit.
#[inline(always)]
pub(super) fn dot_with<S: pulp::Simd>(simd: S, a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a_head, a_tail) = S::as_simd_f32s(&a[..n]);
    let (b_head, b_tail) = S::as_simd_f32s(&b[..n]);
    let zero = simd.splat_f32s(0.0);
    let mut sums = [zero; 4];
    let (a_quads, a_rest) = pulp::as_arrays::<4, _>(a_head);
    let (b_quads, b_rest) = pulp::as_arrays::<4, _>(b_head);
    for (x, y) in a_quads.iter().zip(b_quads) {
        sums[0] = simd.mul_add_e_f32s(x[0], y[0], sums[0]);
        sums[1] = simd.mul_add_e_f32s(x[1], y[1], sums[1]);
        sums[2] = simd.mul_add_e_f32s(x[2], y[2], sums[2]);
        sums[3] = simd.mul_add_e_f32s(x[3], y[3], sums[3]);
    }
    for (x, y) in a_rest.iter().zip(b_rest) {
        sums[0] = simd.mul_add_e_f32s(*x, *y, sums[0]);
    }
    let total = simd.add_f32s(
        simd.add_f32s(sums[0], sums[1]),
        simd.add_f32s(sums[2], sums[3]),
    );
    let tail: f32 = a_tail.iter().zip(b_tail).map(|(x, y)| x * y).sum();
    simd.reduce_sum_f32s(total) + tail
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::test_vectors::unit;

    #[test]
    fn simd_dot_equals_the_naive_sum() {
        // Lengths around every chunk size (SIMD width, four accumulators) and MiniLM's 384.
        for dim in (0..=70).chain([127, 128, 129, 383, 384, 385, 1024, 1031]) {
            for seed in 0..4 {
                let a = unit(seed * 1000 + dim as u64, dim.max(1));
                let b = unit(seed * 1000 + dim as u64 + 7, dim.max(1));
                let (a, b) = (&a[..dim], &b[..dim]);
                let naive: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
                let fast = dot(a, b);
                assert!((fast - naive).abs() <= 1e-5, "dim {dim}: {fast} vs {naive}");
            }
        }
        // Unequal lengths: the shorter one counts.
        assert!((dot(&[1.0, 2.0, 3.0], &[4.0, 5.0]) - 14.0).abs() < 1e-6);
    }
}
