//! Scalar quantization: each stored vector as int8 codes with one scale of its own, and
//! the query as int16 codes, each with what the rounding lost, measured exactly, so the
//! exact index can bound how far an integer score is from the f32 one.
//!
//! Why per vector and symmetric: embedders return unit vectors whose components spread
//! alike over every dimension, so one scale per vector (its largest component maps to
//! ±127) loses little; it needs no training pass over the data (per-dimension ranges, as
//! FAISS's `SQ8` or Qdrant's quantile-clipped scalar quantization use, do, and drift as
//! entries come and go), keeps zero exactly zero, and makes a vector's codes independent
//! of every other vector, so insert and remove stay O(dim). Since search rescores with
//! the f32 vectors and proves the result from the measured error, the scheme decides
//! only how often that proof needs a second look, never what a search returns.

/// The largest int8 code: symmetric, so -127..=127 (never -128).
const CODE_MAX: f32 = 127.0;

/// int8 codes of stored vectors, row `at` for the vector at position `at`, with each
/// row's scale and error bounds.
#[derive(Debug, Clone, Default)]
pub(super) struct Codes {
    dim: usize,
    codes: Vec<i8>,
    /// `vector ≈ scale · codes`; NaN for a row whose vector is not finite.
    scales: Vec<f32>,
    /// `‖vector − scale · codes‖`, rounded up.
    errors: Vec<f32>,
    /// `‖vector‖`, rounded up.
    norms: Vec<f32>,
    /// The largest of `errors` and of `norms` (upper bounds: removal may leave them high
    /// until [`Codes::refresh_bounds`]).
    max_error: f32,
    max_norm: f32,
    /// Rows whose vector holds a NaN or an infinity: searches scan f32 while any is held.
    non_finite: usize,
}

/// One stored vector's quantization.
struct Row {
    scale: f32,
    error: f32,
    norm: f32,
}

impl Codes {
    /// No rows, for `dim`-long vectors.
    pub(super) fn new(dim: usize) -> Codes {
        Codes {
            dim,
            ..Codes::default()
        }
    }

    /// Sets row `at` to the codes of `vector` (`at` is a row held, or the next one).
    pub(super) fn put(&mut self, at: usize, vector: &[f32]) {
        debug_assert_eq!(vector.len(), self.dim);
        if at == self.scales.len() {
            self.codes.resize(self.codes.len() + self.dim, 0);
            self.scales.push(0.0);
            self.errors.push(0.0);
            self.norms.push(0.0);
        } else if self.scales[at].is_nan() {
            self.non_finite -= 1;
        }
        let row = quantize(vector, &mut self.codes[at * self.dim..(at + 1) * self.dim]);
        if row.scale.is_nan() {
            self.non_finite += 1;
        } else {
            self.max_error = self.max_error.max(row.error);
            self.max_norm = self.max_norm.max(row.norm);
        }
        self.scales[at] = row.scale;
        self.errors[at] = row.error;
        self.norms[at] = row.norm;
    }

    /// Removes row `at`, moving the last row into it (as `Vec::swap_remove` does).
    pub(super) fn swap_remove(&mut self, at: usize) {
        let last = self.scales.len() - 1;
        if self.scales[at].is_nan() {
            self.non_finite -= 1;
        }
        let was_largest = self.errors[at] >= self.max_error || self.norms[at] >= self.max_norm;
        if at != last {
            self.codes
                .copy_within(last * self.dim..(last + 1) * self.dim, at * self.dim);
        }
        self.codes.truncate(last * self.dim);
        self.scales.swap_remove(at);
        self.errors.swap_remove(at);
        self.norms.swap_remove(at);
        if was_largest {
            self.refresh_bounds();
        }
    }

    /// Recomputes the largest error and norm from the rows held (one pass over two
    /// floats per row), so removing an outlier tightens the bounds searches use.
    fn refresh_bounds(&mut self) {
        let finite = |values: &[f32]| {
            values
                .iter()
                .zip(&self.scales)
                .filter(|(_, s)| !s.is_nan())
                .fold(0.0f32, |m, (v, _)| m.max(*v))
        };
        self.max_error = finite(&self.errors);
        self.max_norm = finite(&self.norms);
    }

    /// The codes of row `at`.
    #[cfg(test)]
    pub(super) fn codes(&self, at: usize) -> &[i8] {
        &self.codes[at * self.dim..(at + 1) * self.dim]
    }

    /// Every row's codes, back to back.
    pub(super) fn all_codes(&self) -> &[i8] {
        &self.codes
    }

    /// Every row's scale.
    pub(super) fn scales(&self) -> &[f32] {
        &self.scales
    }

    /// Row `at`'s bound on its rounding error and its norm.
    #[inline(always)]
    pub(super) fn error_and_norm(&self, at: usize) -> (f32, f32) {
        (self.errors[at], self.norms[at])
    }

    /// The largest rounding error and norm of any finite row.
    pub(super) fn max_error_and_norm(&self) -> (f32, f32) {
        (self.max_error, self.max_norm)
    }

    /// Whether a row holds a vector with a NaN or an infinity.
    pub(super) fn any_non_finite(&self) -> bool {
        self.non_finite > 0
    }
}

/// Writes the codes of `vector` into `out` and returns its scale and bounds. A vector
/// with a NaN or an infinity gets zero codes and a NaN scale: it cannot be bounded.
fn quantize(vector: &[f32], out: &mut [i8]) -> Row {
    if !vector.iter().all(|x| x.is_finite()) {
        out.fill(0);
        return Row {
            scale: f32::NAN,
            error: f32::INFINITY,
            norm: f32::INFINITY,
        };
    }
    let largest = vector.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let scale = largest / CODE_MAX;
    let (mut error, mut norm) = (0.0f64, 0.0f64);
    for (code, &x) in out.iter_mut().zip(vector) {
        // A scale that underflowed to zero (components below ~1e-43) leaves zero codes:
        // correct, with the whole vector counted as error.
        let c = if scale > 0.0 {
            (x / scale).round().clamp(-CODE_MAX, CODE_MAX)
        } else {
            0.0
        };
        *code = c as i8;
        let lost = f64::from(x) - f64::from(scale) * f64::from(c);
        error += lost * lost;
        norm += f64::from(x) * f64::from(x);
    }
    Row {
        scale,
        error: round_up(error.sqrt()),
        norm: round_up(norm.sqrt()),
    }
}

/// `x` as an f32 no smaller than it (and a little larger, for the f64 rounding of the
/// sums it came from: below 1e-9 relative up to millions of terms), so a bound made from
/// it stays a bound.
pub(super) fn round_up(x: f64) -> f32 {
    let x = x * (1.0 + 1e-9);
    let f = x as f32;
    if f64::from(f) < x {
        f.next_up()
    } else {
        f
    }
}

/// A query as int16 codes: `query ≈ scale · codes`, with the exact size of the rest.
pub(super) struct QueryCodes {
    pub(super) codes: Vec<i16>,
    pub(super) scale: f64,
    /// `‖query‖` and `‖query − scale · codes‖`, rounded up.
    pub(super) norm: f64,
    pub(super) error: f64,
}

impl QueryCodes {
    /// The codes of `query`, in the widest range whose integer dot products with `len`
    /// int8 codes cannot overflow i32 (±32767 up to 516 dimensions, narrower beyond).
    /// `None` when there is no such range or the query holds a NaN or an infinity.
    pub(super) fn new(query: &[f32]) -> Option<QueryCodes> {
        if !query.iter().all(|x| x.is_finite()) {
            return None;
        }
        let len = i64::try_from(query.len().max(1)).ok()?;
        let widest = (i64::from(i32::MAX) / (127 * len)).min(i64::from(i16::MAX));
        if widest < 1 {
            return None;
        }
        let widest = widest as f64;
        let largest = query.iter().fold(0.0f64, |m, x| m.max(f64::from(x.abs())));
        let scale = largest / widest;
        let (mut error, mut norm) = (0.0f64, 0.0f64);
        let codes = query
            .iter()
            .map(|&x| {
                let x = f64::from(x);
                let c = if scale > 0.0 {
                    (x / scale).round().clamp(-widest, widest)
                } else {
                    0.0
                };
                let lost = x - scale * c;
                error += lost * lost;
                norm += x * x;
                c as i16
            })
            .collect();
        Some(QueryCodes {
            codes,
            scale,
            norm: f64::from(round_up(norm.sqrt())),
            error: f64::from(round_up(error.sqrt())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::test_vectors::{raw, unit};

    /// The vector the codes of row `at` stand for.
    fn decoded(codes: &Codes, at: usize) -> Vec<f32> {
        let scale = codes.scales()[at];
        codes.codes(at).iter().map(|&c| scale * c as f32).collect()
    }

    #[test]
    fn round_trip_error_is_within_half_a_step_and_its_bound_is_exact() {
        let dim = 384;
        let mut codes = Codes::new(dim);
        for n in 0..50 {
            // Unit vectors and raw ones of other norms: the scale follows each vector.
            let mut v = if n % 2 == 0 {
                unit(n, dim)
            } else {
                raw(n, dim)
            };
            v.iter_mut().for_each(|x| *x *= (n as f32 + 1.0) * 0.37);
            codes.put(n as usize, &v);
            let back = decoded(&codes, n as usize);
            let scale = codes.scales()[n as usize];
            let largest = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
            assert!((scale - largest / 127.0).abs() <= f32::EPSILON * scale);
            let mut lost = 0.0f64;
            for (x, y) in v.iter().zip(&back) {
                // Each component is off by at most half a step (plus f32 rounding).
                assert!(
                    (x - y).abs() <= scale * 0.5001,
                    "{x} vs {y} at scale {scale}"
                );
                lost += (f64::from(*x) - f64::from(*y)).powi(2);
            }
            let (error, norm) = codes.error_and_norm(n as usize);
            assert!(f64::from(error) >= lost.sqrt() * (1.0 - 1e-6));
            assert!(f64::from(error) <= lost.sqrt() * (1.0 + 1e-5) + 1e-12);
            let true_norm = v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
            assert!(f64::from(norm) >= true_norm && f64::from(norm) <= true_norm * (1.0 + 1e-6));
            // For a unit vector, the error is a small fraction of the vector.
            if n % 2 == 0 {
                let relative = f64::from(error) / true_norm;
                assert!(relative < 0.02, "relative error {relative}");
            }
            // The largest component lands on ±127.
            assert_eq!(
                codes
                    .codes(n as usize)
                    .iter()
                    .map(|c| c.unsigned_abs())
                    .max(),
                Some(127)
            );
        }
    }

    #[test]
    fn zero_and_non_finite_vectors_are_held_without_lying() {
        let mut codes = Codes::new(4);
        codes.put(0, &[0.0; 4]);
        assert_eq!(codes.codes(0), &[0; 4]);
        assert_eq!(codes.error_and_norm(0), (0.0, 0.0));
        assert!(!codes.any_non_finite());
        codes.put(1, &[1.0, f32::NAN, 0.0, 0.0]);
        codes.put(2, &[f32::INFINITY, 0.0, 0.0, 0.0]);
        assert!(codes.any_non_finite());
        assert!(codes.scales()[1].is_nan());
        // Replacing one and removing the other leaves none.
        codes.put(1, &[0.5, 0.5, 0.5, 0.5]);
        assert!(codes.any_non_finite());
        codes.swap_remove(2);
        assert!(!codes.any_non_finite());
        assert_eq!(codes.max_error_and_norm().1, round_up(1.0));
        // Removing the largest vector lowers the bound on norms.
        codes.put(2, &[3.0, 0.0, 0.0, 0.0]);
        assert_eq!(codes.max_error_and_norm().1, round_up(3.0));
        codes.swap_remove(2);
        assert_eq!(codes.max_error_and_norm().1, round_up(1.0));
    }

    #[test]
    fn query_codes_use_the_widest_safe_range_and_measure_what_they_lose() {
        let query = unit(9, 384);
        let codes = QueryCodes::new(&query).expect("a finite query has codes");
        assert_eq!(
            codes.codes.iter().map(|c| c.unsigned_abs()).max(),
            Some(32767)
        );
        let lost: f64 = query
            .iter()
            .zip(&codes.codes)
            .map(|(&x, &c)| (f64::from(x) - codes.scale * f64::from(c)).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!(codes.error >= lost && codes.error <= lost * (1.0 + 1e-5) + 1e-12);
        assert!((codes.norm - 1.0).abs() < 1e-6);
        // Longer vectors get a narrower range, so 127 · range · len stays within i32.
        let long = QueryCodes::new(&unit(9, 4096)).expect("codes");
        let range = long.codes.iter().map(|c| i64::from(c.unsigned_abs())).max();
        assert_eq!(range, Some(i64::from(i32::MAX) / (127 * 4096)));
        assert!(QueryCodes::new(&[1.0, f32::NAN]).is_none());
        let zero = QueryCodes::new(&[0.0; 8]).expect("a zero query has codes");
        assert_eq!((zero.norm, zero.error), (0.0, 0.0));
    }
}
