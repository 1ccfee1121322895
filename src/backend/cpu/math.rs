//! Branch-free `f32` transcendentals that the compiler can vectorise.
//!
//! `std`'s `sin`, `exp` and friends call into libm one element at a time.
//! These versions use only arithmetic, bit operations and selects, so a loop
//! over a block of values compiles to SIMD code (SSE, AVX2 or AVX-512,
//! whichever the block executor was multiversioned for).
//!
//! Each function is exact enough only on a core range (see the `*_FAST_RANGE`
//! checks in [`needs_fixup`]). Elements outside it (huge arguments, NaN,
//! infinities, results that would be subnormal) are recomputed afterwards
//! with `std`, so the fast path never changes the answer on edge values.
//!
//! Range reduction follows Cody and Waite; the polynomials are the minimax
//! ones from Stephen Moshier's Cephes library. Measured errors against a
//! correctly rounded `f64` reference are in the crate's accuracy table.

use crate::expr::UnaryOp;

/// `1.5 * 2^23`: adding it rounds an `f32` of magnitude below `2^22` to an
/// integer, which then sits in the low mantissa bits.
const ROUND_MAGIC: f32 = 12_582_912.0;
const ROUND_MAGIC_BITS: i32 = 0x4B40_0000;

/// Rounds `x` (|x| < 2^22) to the nearest integer, as a float and as bits.
#[inline(always)]
fn round_with_magic(x: f32) -> (f32, i32) {
    let t = x + ROUND_MAGIC;
    let n = (t.to_bits() as i32).wrapping_sub(ROUND_MAGIC_BITS);
    (t - ROUND_MAGIC, n)
}

/// Evaluates the polynomial with coefficients `c` (highest degree first) at `x`.
#[inline(always)]
fn horner(x: f32, c: &[f32]) -> f32 {
    c.iter().fold(0.0, |acc, &k| acc * x + k)
}

/// `2^n` for `-126 <= n <= 127`.
#[inline(always)]
fn pow2i(n: i32) -> f32 {
    f32::from_bits((n.wrapping_add(127) as u32) << 23)
}

/// `e^x` for `x` in `[-87, 88]`.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let (nf, n) = round_with_magic(x * LOG2E);
    let r = x - nf * LN2_HI - nf * LN2_LO;
    let z = r * r;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 5e-1;
    let y = p * z + r + 1.0;
    y * pow2i(n)
}

/// `ln(x)` for normal, positive, finite `x`.
#[inline(always)]
pub fn ln(x: f32) -> f32 {
    const SQRT2: f32 = std::f32::consts::SQRT_2;
    let bits = x.to_bits();
    let mut e = ((bits >> 23) & 0xff) as i32 - 127;
    let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    let big = m > SQRT2;
    m = if big { m * 0.5 } else { m };
    e += big as i32;
    let f = m - 1.0;
    let z = f * f;
    let p = horner(
        f,
        &[
            7.037_683_6e-2,
            -1.151_461e-1,
            1.167_699_9e-1,
            -1.242_014_1e-1,
            1.424_932_3e-1,
            -1.666_805_8e-1,
            2.000_071_4e-1,
            -2.499_999_4e-1,
            3.333_333e-1,
        ],
    );
    let ef = e as f32;
    let y = p * f * z - 2.121_944_4e-4 * ef - 0.5 * z;
    f + y + 0.693_359_4 * ef
}

/// Reduces `x` (|x| <= 8192) to `r` in `[-pi/4, pi/4]` with `x = r + n * pi/2`,
/// and returns `(sin r, cos r, n)`.
#[inline(always)]
fn sincos_reduced(x: f32) -> (f32, f32, i32) {
    const FRAC_2_PI: f32 = std::f32::consts::FRAC_2_PI;
    // pi/2 split in three; the first two have few mantissa bits so n * part is exact.
    const PIO2_1: f32 = 1.570_312_5;
    const PIO2_2: f32 = 4.837_513e-4;
    const PIO2_3: f32 = 7.549_79e-8;
    let (nf, n) = round_with_magic(x * FRAC_2_PI);
    let r = ((x - nf * PIO2_1) - nf * PIO2_2) - nf * PIO2_3;
    let z = r * r;
    let s = ((-1.951_529_6e-4 * z + 8.332_161e-3) * z - 1.666_665_5e-1) * z * r + r;
    let c = ((2.443_315_7e-5 * z - 1.388_731_6e-3) * z + 4.166_664_6e-2) * z * z - 0.5 * z + 1.0;
    (s, c, n)
}

/// Flips the sign of `v` when bit 1 of `n` is set.
#[inline(always)]
fn negate_if_bit1(v: f32, n: i32) -> f32 {
    f32::from_bits(v.to_bits() ^ (((n as u32) & 2) << 30))
}

/// `sin(x)` for |x| <= 8192.
#[inline(always)]
pub fn sin(x: f32) -> f32 {
    let (s, c, n) = sincos_reduced(x);
    let v = if n & 1 != 0 { c } else { s };
    negate_if_bit1(v, n)
}

/// `cos(x)` for |x| <= 8192.
#[inline(always)]
pub fn cos(x: f32) -> f32 {
    let (s, c, n) = sincos_reduced(x);
    let v = if n & 1 != 0 { s } else { c };
    negate_if_bit1(v, n.wrapping_add(1))
}

/// `tan(x)` for |x| <= 8192.
#[inline(always)]
pub fn tan(x: f32) -> f32 {
    let (s, c, n) = sincos_reduced(x);
    if n & 1 != 0 {
        -c / s
    } else {
        s / c
    }
}

/// `tanh(x)` for every non-NaN `x`.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    let a = x.abs();
    let z = x * x;
    let small =
        ((((-5.704_988_7e-3 * z + 2.063_909e-2) * z - 5.373_971_6e-2) * z + 1.333_144_2e-1) * z
            - 3.333_328e-1)
            * z
            * x
            + x;
    // tanh(10) rounds to 1.0 in f32 (tanh(9) does not), so clamping keeps exp
    // in range without changing results.
    let t = exp(2.0 * a.min(10.0));
    let large = 1.0 - 2.0 / (t + 1.0);
    let large = f32::from_bits(large.to_bits() | (x.to_bits() & 0x8000_0000));
    if a < 0.625 {
        small
    } else {
        large
    }
}

/// Whether the fast version of `op` is not accurate for `x`, so the element
/// must be recomputed with `std` (NaN-safe: NaN always needs a fixup).
#[inline(always)]
pub fn needs_fixup(op: UnaryOp, x: f32) -> bool {
    match op {
        UnaryOp::Sin | UnaryOp::Cos | UnaryOp::Tan => x.is_nan() || x.abs() > 8192.0,
        UnaryOp::Exp => !((-87.0..=88.0).contains(&x)),
        UnaryOp::Ln => !((f32::MIN_POSITIVE..=f32::MAX).contains(&x)),
        UnaryOp::Tanh => x.is_nan(),
        _ => false,
    }
}
