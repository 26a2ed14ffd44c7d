//! The integer dot product the exact index scans with: int8 codes of a stored vector
//! against the int16 codes of the query.

/// `Σ a[i] · b[i]` over the shorter length, in i32.
///
/// Written as plain integer arithmetic that LLVM turns into `pmaddwd` (16-bit multiplies
/// summed in pairs into 32-bit lanes: SSE2 everywhere on x86-64, AVX2 or AVX-512 when it
/// is inlined into a [`pulp`] dispatch, as the index's scan is) and into `smlal` on ARM;
/// no target-specific code, so it is correct on every CPU and fast on most. The int8 side
/// is widened to int16 first, so there is no saturating `pmaddubsw` step to get wrong.
///
/// The caller keeps the sum in range: with `|a[i]| <= 127` it needs
/// `127 · max|b[i]| · len <= i32::MAX`, which [`super::codes::QueryCodes`] picks its
/// range for.
#[inline(always)]
pub(super) fn dot_i8_i16(a: &[i8], b: &[i16]) -> i32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    // Two independent sums over 32-element blocks: a whole number of 256-bit or 512-bit
    // registers per block, so the vectorized loop has no partial registers inside.
    const BLOCK: usize = 32;
    let mut sums = [0i32; 2];
    let mut blocks_a = a.chunks_exact(BLOCK);
    let mut blocks_b = b.chunks_exact(BLOCK);
    for (i, (x, y)) in blocks_a.by_ref().zip(blocks_b.by_ref()).enumerate() {
        let mut block = 0i32;
        for j in 0..BLOCK {
            block += i32::from(i16::from(x[j])) * i32::from(y[j]);
        }
        sums[i & 1] += block;
    }
    let tail: i32 = blocks_a
        .remainder()
        .iter()
        .zip(blocks_b.remainder())
        .map(|(&x, &y)| i32::from(x) * i32::from(y))
        .sum();
    sums[0] + sums[1] + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equals_the_naive_sum_at_every_length_and_at_the_extremes() {
        for len in (0..=70).chain([127, 128, 129, 384, 385, 1031]) {
            let a: Vec<i8> = (0..len).map(|i| ((i * 37 + 11) % 255) as i8).collect();
            let b: Vec<i16> = (0..len)
                .map(|i| ((i as i64 * 7919 + 3) % 65535 - 32767) as i16)
                .collect();
            let naive: i64 = a.iter().zip(&b).map(|(&x, &y)| x as i64 * y as i64).sum();
            // Sums beyond i32 are the caller's to avoid; these stay inside.
            if naive.abs() < i32::MAX as i64 / 2 {
                assert_eq!(dot_i8_i16(&a, &b) as i64, naive, "length {len}");
            }
        }
        // The largest sum the query codes allow at MiniLM's 384 dimensions: no overflow.
        let q = (i32::MAX / (127 * 384)) as i16;
        let a = vec![-127i8; 384];
        let b = vec![-q; 384];
        assert_eq!(dot_i8_i16(&a, &b) as i64, 127 * q as i64 * 384);
        assert_eq!(
            dot_i8_i16(&[1, 2, 3], &[4, 5]),
            14,
            "the shorter length counts"
        );
    }
}
