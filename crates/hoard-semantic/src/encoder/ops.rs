//! The arithmetic of one encoder layer on plain row-major `f32` slices: the dense layer
//! (a matrix product with the weight as PyTorch stores it), layer norm, GELU, attention.
//!
//! The matrix product is the one that matters. A lookup embeds one question of a dozen
//! tokens, so the product is a dozen rows against a weight of 384 to 1,536 rows: too small
//! for a general GEMM to earn back packing the weight on every call (candle spent more time
//! packing than multiplying). Here both operands are read in place: PyTorch stores a dense
//! weight as `out × in`, so every output is a dot product of two contiguous rows, and a
//! tile of 3 input rows by 4 weight rows keeps twelve SIMD accumulators in registers while
//! each weight row is read once per tile.

use pulp::Simd;
use rayon::prelude::*;

/// Input rows per tile of the matrix product.
const TILE_ROWS: usize = 3;
/// Weight rows per tile.
const TILE_COLS: usize = 4;
/// Weight rows per parallel task: a block stays in the core's L2 cache while every input
/// row passes over it.
const BLOCK_COLS: usize = 64;
/// Below this many multiply-adds a product runs on the calling thread: waking a second
/// thread costs more than it saves.
const PARALLEL_WORK: usize = 1 << 18;

/// A dense layer: `out = x · weightᵀ + bias`, `weight` being `outputs × inputs`, row-major.
#[derive(Debug, Clone)]
pub(crate) struct Dense {
    pub(crate) weight: Vec<f32>,
    pub(crate) bias: Vec<f32>,
    pub(crate) inputs: usize,
    pub(crate) outputs: usize,
}

impl Dense {
    /// `x` holds `rows` rows of `self.inputs` numbers; the result holds `rows` rows of
    /// `self.outputs`.
    pub(crate) fn forward(&self, x: &[f32], rows: usize) -> Vec<f32> {
        debug_assert_eq!(x.len(), rows * self.inputs);
        let (k, n) = (self.inputs, self.outputs);
        let mut out = vec![0.0f32; rows * n];
        if rows == 0 || n == 0 {
            return out;
        }
        if rows * n * k < PARALLEL_WORK {
            let mut block = vec![0.0f32; n * rows];
            product(x, rows, &self.weight, k, &mut block);
            scatter(&block, rows, &self.bias, &mut out, n);
            return out;
        }
        // Each task owns a block of weight rows and writes its outputs transposed (one
        // contiguous run per weight row), so the tasks never share memory.
        let mut transposed = vec![0.0f32; n * rows];
        transposed
            .par_chunks_mut(BLOCK_COLS * rows)
            .enumerate()
            .for_each(|(block, slice)| {
                let first = block * BLOCK_COLS;
                let cols = slice.len() / rows;
                product(
                    x,
                    rows,
                    &self.weight[first * k..(first + cols) * k],
                    k,
                    slice,
                );
            });
        scatter(&transposed, rows, &self.bias, &mut out, n);
        out
    }
}

/// Writes `block` (weight rows × input rows: the product transposed) plus the bias into
/// the row-major `out` (`rows × n`).
fn scatter(block: &[f32], rows: usize, bias: &[f32], out: &mut [f32], n: usize) {
    for (j, run) in block.chunks_exact(rows).enumerate() {
        let b = bias.get(j).copied().unwrap_or(0.0);
        for (i, value) in run.iter().enumerate() {
            out[i * n + j] = value + b;
        }
    }
}

/// `out[j * rows + i] = x_i · w_j` for every input row `i` and weight row `j`.
fn product(x: &[f32], rows: usize, w: &[f32], k: usize, out: &mut [f32]) {
    struct Product<'a> {
        x: &'a [f32],
        rows: usize,
        w: &'a [f32],
        k: usize,
        out: &'a mut [f32],
    }
    impl pulp::WithSimd for Product<'_> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, simd: S) {
            let Product { x, rows, w, k, out } = self;
            let cols = w.len() / k;
            let mut j = 0;
            while j < cols {
                let nr = if cols - j >= TILE_COLS { TILE_COLS } else { 1 };
                let mut i = 0;
                while i < rows {
                    let mr = if rows - i >= TILE_ROWS { TILE_ROWS } else { 1 };
                    match (mr, nr) {
                        (TILE_ROWS, TILE_COLS) => {
                            tile::<S, TILE_ROWS, TILE_COLS>(simd, x, w, k, rows, i, j, out)
                        }
                        (1, TILE_COLS) => tile::<S, 1, TILE_COLS>(simd, x, w, k, rows, i, j, out),
                        (TILE_ROWS, 1) => tile::<S, TILE_ROWS, 1>(simd, x, w, k, rows, i, j, out),
                        _ => tile::<S, 1, 1>(simd, x, w, k, rows, i, j, out),
                    }
                    i += mr;
                }
                j += nr;
            }
        }
    }
    pulp::Arch::new().dispatch(Product { x, rows, w, k, out });
}

/// One `MR × NR` tile: input rows `i..i+MR` against weight rows `j..j+NR`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn tile<S: Simd, const MR: usize, const NR: usize>(
    simd: S,
    x: &[f32],
    w: &[f32],
    k: usize,
    rows: usize,
    i: usize,
    j: usize,
    out: &mut [f32],
) {
    let xs: [&[f32]; MR] = std::array::from_fn(|r| &x[(i + r) * k..(i + r + 1) * k]);
    let ws: [&[f32]; NR] = std::array::from_fn(|c| &w[(j + c) * k..(j + c + 1) * k]);
    let xv: [(&[S::f32s], &[f32]); MR] = std::array::from_fn(|r| S::as_simd_f32s(xs[r]));
    let wv: [(&[S::f32s], &[f32]); NR] = std::array::from_fn(|c| S::as_simd_f32s(ws[c]));
    let lanes = xv[0].0.len();
    let mut acc = [[simd.splat_f32s(0.0); NR]; MR];
    for step in 0..lanes {
        let a: [S::f32s; MR] = std::array::from_fn(|r| xv[r].0[step]);
        for c in 0..NR {
            let b = wv[c].0[step];
            for r in 0..MR {
                acc[r][c] = simd.mul_add_e_f32s(a[r], b, acc[r][c]);
            }
        }
    }
    for r in 0..MR {
        for c in 0..NR {
            let tail: f32 = xv[r].1.iter().zip(wv[c].1).map(|(p, q)| p * q).sum();
            out[(j + c) * rows + i + r] = simd.reduce_sum_f32s(acc[r][c]) + tail;
        }
    }
}

/// Layer norm with learned scale and shift.
#[derive(Debug, Clone)]
pub(crate) struct Norm {
    pub(crate) scale: Vec<f32>,
    pub(crate) shift: Vec<f32>,
    pub(crate) eps: f32,
}

impl Norm {
    /// Normalizes each row of `x` (in place) after adding `residual` to it.
    pub(crate) fn add_forward(&self, x: &mut [f32], residual: &[f32]) {
        let dim = self.scale.len();
        for (row, res) in x.chunks_exact_mut(dim).zip(residual.chunks_exact(dim)) {
            for (v, r) in row.iter_mut().zip(res) {
                *v += r;
            }
            self.row(row);
        }
    }

    /// Normalizes each row of `x` in place.
    pub(crate) fn forward(&self, x: &mut [f32]) {
        for row in x.chunks_exact_mut(self.scale.len()) {
            self.row(row);
        }
    }

    fn row(&self, row: &mut [f32]) {
        let n = row.len() as f32;
        let mean = row.iter().sum::<f32>() / n;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
        let inv = 1.0 / (var + self.eps).sqrt();
        for ((v, g), b) in row.iter_mut().zip(&self.scale).zip(&self.shift) {
            *v = (*v - mean) * inv * g + b;
        }
    }
}

/// The activation between a layer's two feed-forward products.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activation {
    /// `x·Φ(x)` with the exact normal CDF (BERT's `gelu`).
    Gelu,
    /// The tanh approximation of GELU (`gelu_new`, `gelu_pytorch_tanh`).
    GeluTanh,
    /// `max(x, 0)`.
    Relu,
}

impl Activation {
    pub(crate) fn apply(self, x: &mut [f32]) {
        match self {
            Activation::Gelu => {
                for v in x {
                    *v = 0.5 * *v * (1.0 + erf(*v * std::f32::consts::FRAC_1_SQRT_2));
                }
            }
            Activation::GeluTanh => {
                const C: f32 = 0.797_884_6; // sqrt(2 / pi)
                for v in x {
                    let u = *v;
                    *v = 0.5 * u * (1.0 + (C * (u + 0.044_715 * u * u * u)).tanh());
                }
            }
            Activation::Relu => {
                for v in x {
                    *v = v.max(0.0);
                }
            }
        }
    }
}

/// The error function, as a rational function of `x` on [-4, 4] (beyond which `erf` is ±1
/// in `f32`): the approximation Eigen and XLA use, within a few units in the last place.
/// Straight-line arithmetic, so the GELU loop vectorizes; a libm call per number cost a
/// tenth of the forward pass.
#[inline(always)]
fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = x2 * -2.726_142_3e-10 + 2.770_681_4e-8;
    p = p * x2 + -2.101_024e-6;
    p = p * x2 + -5.692_506_4e-5;
    p = p * x2 + -7.349_906_3e-4;
    p = p * x2 + -2.954_6e-3;
    p = p * x2 + -1.609_603_3e-2;
    p *= x;
    let mut q = x2 * -1.456_607_2e-5 + -2.133_740_6e-4;
    q = q * x2 + -1.682_827e-3;
    q = q * x2 + -7.373_329_2e-3;
    q = q * x2 + -1.426_474e-2;
    p / q
}

/// Self-attention over one sequence: `qkv` holds, for each of its `len` tokens, the query,
/// key and value (`dim` numbers each, `heads` heads of `dim / heads`); `out` receives each
/// token's context (`len × dim`). Each head is two small products: the scores `K·Qᵀ` and
/// the context `Vᵀ·P` over the softmax `P`, so the tiled kernel does the work here too.
pub(crate) fn attention(qkv: &[f32], len: usize, dim: usize, heads: usize, out: &mut [f32]) {
    let head_dim = dim / heads;
    let scale = 1.0 / (head_dim as f32).sqrt();
    let stride = 3 * dim;
    let mut q = vec![0.0f32; len * head_dim];
    let mut k = vec![0.0f32; len * head_dim];
    let mut v_t = vec![0.0f32; head_dim * len];
    let mut scores = vec![0.0f32; len * len];
    let mut context = vec![0.0f32; len * head_dim];
    for h in 0..heads {
        let at = h * head_dim;
        for t in 0..len {
            let token = &qkv[t * stride..(t + 1) * stride];
            q[t * head_dim..(t + 1) * head_dim].copy_from_slice(&token[at..at + head_dim]);
            k[t * head_dim..(t + 1) * head_dim]
                .copy_from_slice(&token[dim + at..dim + at + head_dim]);
            for (c, value) in token[2 * dim + at..2 * dim + at + head_dim]
                .iter()
                .enumerate()
            {
                v_t[c * len + t] = *value;
            }
        }
        // scores[i * len + j] = q_i · k_j
        product(&k, len, &q, head_dim, &mut scores);
        for row in scores.chunks_exact_mut(len) {
            let max = row.iter().fold(f32::NEG_INFINITY, |m, s| m.max(*s)) * scale;
            let mut sum = 0.0;
            for s in row.iter_mut() {
                *s = (*s * scale - max).exp();
                sum += *s;
            }
            row.iter_mut().for_each(|s| *s /= sum);
        }
        // context[i * head_dim + c] = Σ_j p_ij v_jc
        product(&v_t, head_dim, &scores, len, &mut context);
        for (t, row) in context.chunks_exact(head_dim).enumerate() {
            out[t * dim + at..t * dim + at + head_dim].copy_from_slice(row);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(seed: u32, n: usize) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2_654_435_761) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    /// The tiled product against the schoolbook one, for shapes that exercise every tile
    /// and remainder (rows not a multiple of 3, weight rows not a multiple of 4 or of the
    /// parallel block, inputs not a multiple of the SIMD width) on both paths.
    #[test]
    fn dense_matches_the_schoolbook_product() {
        for &(rows, inputs, outputs) in &[
            (1, 8, 1),
            (2, 13, 5),
            (7, 384, 383),
            (12, 384, 1536),
            (40, 100, 130),
        ] {
            let dense = Dense {
                weight: numbers(1, inputs * outputs),
                bias: numbers(2, outputs),
                inputs,
                outputs,
            };
            let x = numbers(3, rows * inputs);
            let got = dense.forward(&x, rows);
            for i in 0..rows {
                for j in 0..outputs {
                    let want: f64 = dense.bias[j] as f64
                        + (0..inputs)
                            .map(|t| x[i * inputs + t] as f64 * dense.weight[j * inputs + t] as f64)
                            .sum::<f64>();
                    let diff = (got[i * outputs + j] as f64 - want).abs();
                    assert!(
                        diff < 1e-3 * (1.0 + want.abs()),
                        "{rows}x{inputs}x{outputs} at ({i},{j}): {} vs {want}",
                        got[i * outputs + j]
                    );
                }
            }
        }
    }

    #[test]
    fn norm_gives_zero_mean_unit_variance_before_scale_and_shift() {
        let norm = Norm {
            scale: vec![1.0; 6],
            shift: vec![0.0; 6],
            eps: 1e-12,
        };
        let mut x = vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        norm.add_forward(&mut x, &[1.0; 6]);
        let mean: f32 = x.iter().sum::<f32>() / 6.0;
        let var: f32 = x.iter().map(|v| v * v).sum::<f32>() / 6.0;
        assert!(mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-5, "{x:?}");
    }

    #[test]
    fn erf_is_within_a_few_ulp_of_libm() {
        let mut worst = 0.0f32;
        for i in -60_000..=60_000 {
            let x = i as f32 / 10_000.0;
            worst = worst.max((erf(x) - libm::erff(x)).abs());
        }
        assert!(worst < 1e-6, "largest difference {worst:e}");
    }

    #[test]
    fn gelu_matches_known_values() {
        let mut x = vec![-3.0, -1.0, 0.0, 1.0, 3.0];
        Activation::Gelu.apply(&mut x);
        let want = [-0.004_049_7, -0.158_655_3, 0.0, 0.841_344_7, 2.995_950_3];
        for (g, w) in x.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{x:?}");
        }
    }

    /// One head, two tokens, keys chosen so the weights are known: each token attends to
    /// the values in proportion to exp(q·k / sqrt(d)).
    #[test]
    fn attention_weights_values_by_softmax_of_scaled_scores() {
        // dim 2, one head: per token [q0 q1 | k0 k1 | v0 v1].
        let qkv = [
            1.0, 0.0, /* k */ 2.0, 0.0, /* v */ 1.0, 10.0, //
            0.0, 1.0, /* k */ 0.0, 0.0, /* v */ 3.0, 20.0,
        ];
        let mut out = [0.0f32; 4];
        attention(&qkv, 2, 2, 1, &mut out);
        let s = 1.0 / 2f32.sqrt();
        let (e0, e1) = ((2.0 * s).exp(), 1.0f32);
        let p = e0 / (e0 + e1);
        assert!(
            (out[0] - (p * 1.0 + (1.0 - p) * 3.0)).abs() < 1e-5,
            "{out:?}"
        );
        // The second query is orthogonal to both keys: equal weights.
        assert!(
            (out[2] - 2.0).abs() < 1e-5 && (out[3] - 15.0).abs() < 1e-5,
            "{out:?}"
        );
    }
}
