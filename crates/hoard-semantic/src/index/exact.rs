//! The default exact index: an int8 scan that picks candidates, an exact f32 rescoring of
//! them, and a proof from the quantization error that the candidates hold the answer
//! (or, when the proof fails, a second scan that rescores everything that could).
//!
//! Why it returns exactly what [`FlatIndex`] returns. For a stored vector `v` with codes
//! `v̂ = s·c` and the query `q` with codes `q̂`, `q·v − q̂·v̂ = q·(v − v̂) + (q − q̂)·v̂`, so
//! `|q·v − q̂·v̂| ≤ ‖q‖·‖v − v̂‖ + ‖q − q̂‖·(‖v‖ + ‖v − v̂‖)` (Cauchy–Schwarz), and the f32
//! score the flat scan computes is within `γ·‖q‖·‖v‖` of `q·v` (`γ` the f32 rounding of a
//! `dim`-term sum). Every norm is measured at quantization and rounded up, so
//! `upper(v) = q̂·v̂ + slack(v)` is never below the f32 score. After rescoring the
//! candidates, let `S` be the k-th best f32 score: every vector left out has `q̂·v̂` at most
//! the best left out, so if that plus the largest slack is below `S`, no vector left out
//! can reach the top `k`, and the top `k` of the candidates (ranked by the same
//! [`TopK`], fed in position order) is the flat scan's, ties included. Otherwise the second
//! scan rescores every vector whose `upper` reaches `S`, which includes all that can.

use super::codes::{Codes, QueryCodes};
use super::dot::dot_with;
use super::flat::FlatIndex;
use super::int8::dot_i8_i16;
use super::topk::TopK;
use super::VectorIndex;

/// How many candidates the int8 scan passes on to be rescored for a search of `k`:
/// `max(4k, 32)`.
///
/// Why this many: rescoring reads one f32 vector each (32 of them are about 1.3% of the
/// bytes of an int8 scan of 10,000 vectors), while too few make the proof fail and the
/// second scan run. The proof needs the best vector left out to sit below the k-th score
/// by the quantization bound, about 0.01 for unit vectors of 384 dimensions (a rounding
/// error of at most half a step of `max|v|/127` per component); 32 candidates leave that
/// margin: in the semantic benchmark every search over 10,000 and 100,000 MiniLM vectors
/// was proved at `k` = 1, 4 and 10. Four per result keeps the margin for larger `k`.
pub fn candidates_for(k: usize) -> usize {
    k.saturating_mul(4).max(32)
}

/// Exact search over vectors held twice: as int8 codes, which every search scans, and as
/// f32, which only the candidates are read in.
///
/// Returns what [`FlatIndex`] given the same inserts and removals returns, bit for bit:
/// the same ids in the same order (equal scores ranked alike, by position in storage) with
/// the same f32 scores, so a threshold decides the same way with either. Vectors with a NaN or an infinity cannot be
/// bounded: while one is held (or for such a query), searches scan the f32 vectors.
///
/// Memory: per vector `5·dim + 12` bytes of vectors (1,932 bytes at 384 dimensions: the
/// f32 vector, its codes, and its scale and two error bounds), 26% more than the f32 scan's
/// `4·dim`; a search reads `dim + 4` bytes per vector, a quarter. Dropping the f32 copy
/// would save 80% of that but leave nothing to rescore with short of the stored entries
/// (a storage read per candidate), and scores would then be approximations that a
/// threshold could decide differently, so the copy stays.
#[derive(Debug, Clone)]
pub struct ExactIndex {
    flat: FlatIndex,
    codes: Codes,
}

/// What one [`ExactIndex::search_traced`] did: the answer, and how it was reached.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchTrace {
    /// The `k` best `(id, similarity)`, best first: what [`VectorIndex::search`] returns.
    pub found: Vec<(u64, f32)>,
    /// The `k` best of the int8 scan's candidates alone, rescored: the answer of an int8
    /// index that rescores without proving (what `found` is whenever `proved`).
    pub first_pass: Vec<(u64, f32)>,
    /// Whether the quantization bounds proved the candidates hold the answer; when not,
    /// a second scan rescored everything that could.
    pub proved: bool,
    /// f32 vectors scored, over both scans.
    pub rescored: usize,
}

impl ExactIndex {
    /// An empty index of `dim`-long vectors.
    pub fn new(dim: usize) -> ExactIndex {
        ExactIndex {
            flat: FlatIndex::new(dim),
            codes: Codes::new(dim),
        }
    }

    /// [`VectorIndex::search`], also saying how the answer was reached (for measuring how
    /// often the proof holds and what a search costs).
    pub fn search_traced(&self, query: &[f32], k: usize) -> SearchTrace {
        let dim = self.flat.dim();
        if k == 0 || dim == 0 || query.len() != dim || self.flat.is_empty() {
            return SearchTrace {
                found: Vec::new(),
                first_pass: Vec::new(),
                proved: true,
                rescored: 0,
            };
        }
        let bounded = !self.codes.any_non_finite();
        let Some(q) = QueryCodes::new(query).filter(|_| bounded) else {
            return self.scan_f32(query, k);
        };
        let Some(slack) = Slack::new(&q, dim) else {
            return self.scan_f32(query, k);
        };
        // Far beyond any embedding: products could overflow f32, which the bounds assume
        // they do not.
        let (_, max_norm) = self.codes.max_error_and_norm();
        let reach = q.norm * f64::from(max_norm);
        if reach.is_nan() || reach >= 1e30 {
            return self.scan_f32(query, k);
        }
        let (found, first_pass, proved, rescored) = pulp::Arch::new().dispatch(Search {
            index: self,
            query,
            q: &q,
            slack: &slack,
            k,
        });
        SearchTrace {
            found: self.flat.named(found),
            first_pass: self.flat.named(first_pass),
            proved,
            rescored,
        }
    }

    /// Every f32 vector scored, for what the bounds cannot cover.
    fn scan_f32(&self, query: &[f32], k: usize) -> SearchTrace {
        let found = self.flat.search(query, k);
        SearchTrace {
            first_pass: found.clone(),
            found,
            proved: false,
            rescored: self.flat.len(),
        }
    }
}

impl VectorIndex for ExactIndex {
    /// Adds (or replaces) `id`; a vector that is not `dim` long is ignored.
    fn insert(&mut self, id: u64, vector: &[f32]) {
        if let Some(at) = self.flat.put(id, vector) {
            self.codes.put(at, vector);
        }
    }

    fn remove(&mut self, id: u64) -> bool {
        let Some(at) = self.flat.take(id) else {
            return false;
        };
        self.codes.swap_remove(at);
        true
    }

    fn search(&self, query: &[f32], k: usize) -> Vec<(u64, f32)> {
        self.search_traced(query, k).found
    }

    fn len(&self) -> usize {
        self.flat.len()
    }

    fn dim(&self) -> usize {
        self.flat.dim()
    }
}

/// How far above its integer score a vector's f32 score can be, for one query.
struct Slack {
    /// `q ≈ scale · codes`, `‖q‖` and `‖q − q̂‖`.
    scale: f64,
    norm: f64,
    error: f64,
    /// The relative rounding of an f32 dot product of `dim` terms (`γ` of a sum of
    /// `dim + 2` terms, in any order and with FMA or not), and the absolute part of the
    /// roundings once numbers fall below f32's normal range.
    rounding: f64,
    underflow: f64,
}

/// Relative rounding of a vector's rank: the i32 sum to f32 and the product with its
/// scale (two f32 roundings), with room to spare.
const RANK_ROUNDING: f64 = 1.0 / (1u64 << 21) as f64;

impl Slack {
    fn new(q: &QueryCodes, dim: usize) -> Option<Slack> {
        let terms = dim as f64 + 2.0;
        let unit = f64::from(f32::EPSILON) / 2.0;
        let nu = terms * unit;
        // Past a million-odd dimensions the classic bound no longer holds.
        if nu >= 0.5 {
            return None;
        }
        Some(Slack {
            scale: q.scale,
            norm: q.norm,
            error: q.error,
            rounding: nu / (1.0 - nu),
            // Below f32's normal range roundings are absolute: at most one smallest
            // normal per term of the dot product, and one in a rank (times the scale).
            underflow: (terms + q.scale) * f64::from(f32::MIN_POSITIVE),
        })
    }

    /// The most a vector of rank `rank` (its `scale · (codes · query codes)` in f32), with
    /// rounding error `error` and norm `norm`, can score in f32.
    #[inline(always)]
    fn upper(&self, rank: f32, error: f32, norm: f32) -> f64 {
        let approx = self.scale * f64::from(rank);
        let (error, norm) = (f64::from(error), f64::from(norm));
        approx
            + approx.abs() * RANK_ROUNDING
            + self.norm * error
            + self.error * (norm + error)
            + self.rounding * self.norm * norm
            + self.underflow
    }
}

/// One search in one SIMD dispatch, so the int8 and f32 dot products inline into the scans
/// with the CPU's widest instructions.
struct Search<'a> {
    index: &'a ExactIndex,
    query: &'a [f32],
    q: &'a QueryCodes,
    slack: &'a Slack,
    k: usize,
}

/// Positions and scores found, those of the first pass, whether it was proved, and how
/// many f32 vectors were scored.
type Found = (Vec<(usize, f32)>, Vec<(usize, f32)>, bool, usize);

impl pulp::WithSimd for Search<'_> {
    type Output = Found;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) -> Found {
        let Search {
            index,
            query,
            q,
            slack,
            k,
        } = self;
        let (flat, codes) = (&index.flat, &index.codes);
        let dim = flat.dim();
        let wanted = candidates_for(k);
        let rank = |at: usize, row: &[i8]| codes.scales()[at] * dot_i8_i16(row, &q.codes) as f32;

        // First scan: the best `wanted` by int8 score, and the best one left out.
        let mut best = TopK::new(wanted.saturating_add(1));
        for (at, row) in codes.all_codes().chunks_exact(dim).enumerate() {
            best.push(at, rank(at, row));
        }
        let mut best = best.into_vec();
        let left_out = (best.len() > wanted).then(|| best[wanted].1);
        best.truncate(wanted);
        let mut candidates: Vec<usize> = best.iter().map(|(at, _)| *at).collect();
        // In position order, as the flat scan meets them: ties then break the same way.
        candidates.sort_unstable();
        let mut top = TopK::new(k);
        for &at in &candidates {
            top.push(at, dot_with(simd, query, flat.vector(at)));
        }
        let first = top.into_vec();
        let rescored = candidates.len();
        let Some(left_out) = left_out else {
            // Every vector was a candidate.
            return (first.clone(), first, true, rescored);
        };
        // `wanted >= k` and more vectors than `wanted`: `first` holds `k`.
        let kth = f64::from(first[first.len() - 1].1);
        let (max_error, max_norm) = codes.max_error_and_norm();
        if slack.upper(left_out, max_error, max_norm) < kth {
            return (first.clone(), first, true, rescored);
        }

        // Second scan: everything whose bound reaches the k-th score found so far.
        let mut top = TopK::new(k);
        let mut rescored = rescored;
        for (at, row) in codes.all_codes().chunks_exact(dim).enumerate() {
            let (error, norm) = codes.error_and_norm(at);
            if slack.upper(rank(at, row), error, norm) >= kth {
                top.push(at, dot_with(simd, query, flat.vector(at)));
                rescored += 1;
            }
        }
        (top.into_vec(), first, false, rescored)
    }
}

#[cfg(test)]
mod tests;
