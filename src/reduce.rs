//! [`Reduce`]: the reductions, and what they mean on every backend.
//!
//! * **Empty input**: `Sum` is `0.0` and `Product` is `1.0`; `Min`, `Max`
//!   (and `mean`) of nothing are an [`Error::EmptyInput`](crate::Error::EmptyInput).
//! * **NaN**: any NaN in the input makes every reduction NaN, on every backend
//!   (whatever the SIMD or GPU min/max instructions do with NaN).
//! * **Infinities** follow IEEE arithmetic: `Sum` of `+inf` and `-inf` is NaN,
//!   `Max` of anything with `+inf` is `+inf`.
//! * **Signed zeros**: `Min`/`Max` of `-0.0` and `+0.0` may return either.
//! * **Accuracy**: `Min` and `Max` are exact. `Sum` (and `mean`) are
//!   accumulated in blocks: 128 running sums per block of 8192 elements, then
//!   a pairwise tree over those and over the blocks. The error is at most
//!   `(64 + 7 + log2(n / 8192 + 1)) · 2⁻²⁴ · Σ|xᵢ|` on the CPU backend (in
//!   practice far smaller: about 10⁻⁸ relative for 2²⁴ uniform values); the
//!   GPU's grid-stride tree has the same form with its own constants (each
//!   invocation's run is longer). The tests hold every backend to
//!   `(160 + log2(n + 1)) · 2⁻²⁴ · Σ|xᵢ|`, and to 10⁻⁶ relative for 2²⁴
//!   uniform values between 0 and 1. The scalar backend, the reference,
//!   sums and multiplies in `f64` and rounds once. `Product` is accumulated
//!   the same way, but no order helps a product: every multiplication rounds
//!   once, so its relative error is at most `(n − 1) · 2⁻²⁴` on any backend
//!   (about 2·10⁻³ was measured for 10⁶ values near 1, where `f32` rounding
//!   drifts); and intermediate products that overflow or underflow `f32`
//!   may differ between backends when the final product is in range.

use std::fmt;

/// A reduction of many values to one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reduce {
    /// The sum; `0.0` for no input.
    Sum,
    /// The smallest value; NaN if any is NaN; an error for no input.
    Min,
    /// The largest value; NaN if any is NaN; an error for no input.
    Max,
    /// The product; `1.0` for no input.
    Product,
}

impl Reduce {
    /// Every reduction, for tests and reports.
    pub const ALL: [Reduce; 4] = [Reduce::Sum, Reduce::Min, Reduce::Max, Reduce::Product];

    /// The result for an empty input, or `None` where that is an error.
    ///
    /// ```
    /// assert_eq!(gpu::Reduce::Sum.empty_result(), Some(0.0));
    /// assert_eq!(gpu::Reduce::Min.empty_result(), None);
    /// ```
    pub fn empty_result(self) -> Option<f32> {
        match self {
            Reduce::Sum => Some(0.0),
            Reduce::Product => Some(1.0),
            Reduce::Min | Reduce::Max => None,
        }
    }

    /// The lower-case name, as in the free functions.
    ///
    /// ```
    /// use gpu::Reduce;
    /// assert_eq!(Reduce::ALL.map(Reduce::name), ["sum", "min", "max", "product"]);
    /// assert_eq!(Reduce::Max.to_string(), "max");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Reduce::Sum => "sum",
            Reduce::Min => "min",
            Reduce::Max => "max",
            Reduce::Product => "product",
        }
    }

    /// The neutral element accumulators start from.
    pub(crate) fn neutral(self) -> f32 {
        match self {
            Reduce::Sum => 0.0,
            Reduce::Product => 1.0,
            Reduce::Min => f32::INFINITY,
            Reduce::Max => f32::NEG_INFINITY,
        }
    }

    /// Combines two partial results, NaN-propagating for `Min` and `Max`.
    #[inline(always)]
    pub(crate) fn combine(self, a: f32, b: f32) -> f32 {
        match self {
            Reduce::Sum => a + b,
            Reduce::Product => a * b,
            Reduce::Min => {
                if a.is_nan() || b.is_nan() {
                    f32::NAN
                } else if b < a {
                    b
                } else {
                    a
                }
            }
            Reduce::Max => {
                if a.is_nan() || b.is_nan() {
                    f32::NAN
                } else if b > a {
                    b
                } else {
                    a
                }
            }
        }
    }

    /// Combines `parts` as a balanced binary tree (pairwise), which keeps the
    /// rounding error of sums and products logarithmic in their number.
    pub(crate) fn combine_pairwise(self, parts: &[f32]) -> f32 {
        match parts.len() {
            0 => self.neutral(),
            1 => parts[0],
            n => {
                let (l, r) = parts.split_at(n / 2);
                self.combine(self.combine_pairwise(l), self.combine_pairwise(r))
            }
        }
    }
}

impl fmt::Display for Reduce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
