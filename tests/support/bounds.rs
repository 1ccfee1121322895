//! How far a backend's result may lie from the scalar oracle's.
//!
//! For every element, [`bound`] walks the kernel with the oracle's values and
//! carries `D`, a bound on |backend − oracle| for each node: the operands'
//! bounds propagated through the operation (a first-order error analysis,
//! with the operation's Lipschitz constant over the operands' uncertainty
//! interval), plus the backend's own error for that operation from its
//! [`Model`]. Where the result is not determined (an uncertain comparison, a
//! `floor` on the edge, a pole), the bound is infinite and the element is not
//! checked. When every operand matches exactly and the result is NaN or
//! infinite, the backend must match exactly: special values are part of the
//! semantics, not of the rounding.

use gpu::expr::{BinaryOp, Kernel, Node, TernaryOp, UnaryOp};

/// A backend's own error per operation, relative to the scalar oracle.
#[derive(Clone, Copy, Debug)]
pub struct Model {
    pub name: &'static str,
    /// Error of `+ - *` (and `neg`, `abs`…): 0 when bit-exact.
    pub arith_ulps: f64,
    /// Error of `/` and `sqrt`.
    pub div_sqrt_ulps: f64,
    /// Subnormals may be flushed to zero (inputs and results).
    pub flushes_subnormals: bool,
    /// Transcendental errors: `(ulps, absolute, absolute per unit of |x|)`.
    pub sin_cos: (f64, f64, f64),
    /// Beyond this |x|, `sin`/`cos` are only known to lie in [-1, 1].
    pub sin_cos_range: f64,
    pub tan: (f64, f64, f64),
    pub exp: (f64, f64, f64),
    pub ln: (f64, f64, f64),
    pub tanh: (f64, f64, f64),
    /// `powf`: `(ulps, relative error per unit of 1 + |y| + 2·|y · log2 x|)`.
    pub pow: (f64, f64),
}

const EPS: f64 = f32::EPSILON as f64;

/// The oracle itself: zero error everywhere.
pub const SCALAR: Model = Model {
    name: "scalar",
    arith_ulps: 0.0,
    div_sqrt_ulps: 0.0,
    flushes_subnormals: false,
    sin_cos: (0.0, 0.0, 0.0),
    sin_cos_range: f64::INFINITY,
    tan: (0.0, 0.0, 0.0),
    exp: (0.0, 0.0, 0.0),
    ln: (0.0, 0.0, 0.0),
    tanh: (0.0, 0.0, 0.0),
    pow: (0.0, 0.0),
};

/// The CPU backend, as documented in the crate's accuracy table (against
/// the oracle, whose libm is itself within about 1 ulp of exact; `tanh`
/// within 2.2).
pub const CPU: Model = Model {
    name: "cpu",
    arith_ulps: 0.0,
    div_sqrt_ulps: 0.0,
    flushes_subnormals: false,
    sin_cos: (3.0, 0.0, 2.4e-10),
    sin_cos_range: f64::INFINITY,
    tan: (6.0, 0.0, 2.4e-10),
    exp: (2.0, 0.0, 0.0),
    ln: (2.0, 0.0, 0.0),
    tanh: (5.0, 0.0, 0.0),
    pow: (0.0, 0.0),
};

/// The GPU backend: WGSL's and Vulkan's guarantees, with the library's
/// refinements (division and square root), as documented.
pub const GPU: Model = Model {
    name: "gpu",
    arith_ulps: 1.0,
    div_sqrt_ulps: 1.0,
    flushes_subnormals: true,
    sin_cos: (0.0, 1.0 / 2048.0, 0.0),
    sin_cos_range: 1e4,
    tan: (4.0, 1.0 / 2048.0, 0.0),
    exp: (3.0, 0.0, 0.0),
    ln: (3.0, 1.0 / (1 << 21) as f64, 0.0),
    tanh: (8.0, 1.0 / (1 << 20) as f64, 0.0),
    // Vulkan: log2 within 2^-21 absolute near 1, exp2 within 3 + 2|t| ulp.
    pow: (4.0, 4.0 * EPS),
};

/// One unit in the last place of `x` as an f32 (of the largest finite f32 for infinities).
pub fn ulp(x: f64) -> f64 {
    let a = (x.abs() as f32).min(f32::MAX);
    if a < f32::MIN_POSITIVE {
        return f32::from_bits(1) as f64;
    }
    let next = f32::from_bits(a.to_bits() + 1);
    if next.is_finite() {
        (next - a) as f64
    } else {
        (a - f32::from_bits(a.to_bits() - 1)) as f64
    }
}

fn is_subnormal(x: f32) -> bool {
    x != 0.0 && x.abs() < f32::MIN_POSITIVE
}

impl Model {
    fn rounding(&self, ulps: f64, result: f32) -> f64 {
        let flush = if self.flushes_subnormals {
            f32::MIN_POSITIVE as f64
        } else {
            0.0
        };
        ulps * ulp(result as f64) + flush
    }

    /// The backend's own error for `op` at operand `x` with oracle result `r`.
    fn unary_error(&self, op: UnaryOp, x: f32, r: f32) -> f64 {
        let (u, a, per_x) = match op {
            UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Floor | UnaryOp::Ceil => {
                (self.arith_ulps, 0.0, 0.0)
            }
            UnaryOp::Sqrt => (self.div_sqrt_ulps, 0.0, 0.0),
            UnaryOp::Sin | UnaryOp::Cos => {
                if (x as f64).abs() > self.sin_cos_range {
                    return 2.0;
                }
                self.sin_cos
            }
            UnaryOp::Tan => {
                if (x as f64).abs() > self.sin_cos_range {
                    return f64::INFINITY;
                }
                let (u, a, p) = self.tan;
                // An absolute error in sin and cos is amplified by 1 + tan².
                let amp = 1.0 + (r as f64) * (r as f64);
                (u, 2.0 * a * amp, p * amp)
            }
            UnaryOp::Exp => {
                let (u, a, p) = self.exp;
                // Vulkan allows 3 + 2|x| ulp; the CPU model has no |x| term.
                let extra = if self.name == "gpu" {
                    2.0 * (x as f64).abs()
                } else {
                    0.0
                };
                (u + extra, a, p)
            }
            UnaryOp::Ln => self.ln,
            UnaryOp::Tanh => self.tanh,
            _ => (self.arith_ulps, 0.0, 0.0),
        };
        self.rounding(u, r) + a + per_x * (1.0 + (x as f64).abs())
    }

    fn binary_error(&self, op: BinaryOp, a: f32, b: f32, r: f32) -> f64 {
        match op {
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul => self.rounding(self.arith_ulps, r),
            BinaryOp::Div => self.rounding(self.div_sqrt_ulps, r),
            BinaryOp::Min | BinaryOp::Max => self.rounding(0.0, r),
            BinaryOp::Pow => {
                let (u, per) = self.pow;
                let t = (b as f64 * (a as f64).abs().log2()).abs();
                let t = if t.is_finite() { t } else { 0.0 };
                let y = if b.is_finite() { (b as f64).abs() } else { 0.0 };
                self.rounding(u, r) + (r as f64).abs() * per * (1.0 + y + 2.0 * t)
            }
            _ => 0.0,
        }
    }
}

/// A node's oracle value and the bound on |backend − oracle|.
#[derive(Clone, Copy, Debug)]
struct Value {
    v: f32,
    d: f64,
}

/// For one element: the oracle's result and the bound on the backend's
/// distance from it (`f64::INFINITY` when the result is not determined).
pub fn bound(kernel: &Kernel, inputs: &[f32], model: &Model) -> (f32, f64) {
    let mut vals: Vec<Value> = Vec::with_capacity(kernel.nodes().len());
    for node in kernel.nodes() {
        let val = match *node {
            Node::Input(i) => {
                let v = inputs[i as usize];
                let d = if model.flushes_subnormals && is_subnormal(v) {
                    v.abs() as f64
                } else {
                    0.0
                };
                Value { v, d }
            }
            Node::Const(bits) => {
                let v = f32::from_bits(bits);
                let d = if model.flushes_subnormals && is_subnormal(v) {
                    v.abs() as f64
                } else {
                    0.0
                };
                Value { v, d }
            }
            Node::Unary(op, a) => {
                let a = vals[a as usize];
                let v = op.apply(a.v);
                Value {
                    v,
                    d: unary_bound(op, a, v, model),
                }
            }
            Node::Binary(op, a, b) => {
                let (a, b) = (vals[a as usize], vals[b as usize]);
                let v = op.apply(a.v, b.v);
                Value {
                    v,
                    d: binary_bound(op, a, b, v, model),
                }
            }
            Node::Ternary(op, a, b, c) => {
                let (a, b, c) = (vals[a as usize], vals[b as usize], vals[c as usize]);
                let v = op.apply(a.v, b.v, c.v);
                let d = match op {
                    TernaryOp::Select => {
                        if a.d > 0.0 && ((a.v as f64).abs() <= a.d || a.v.is_nan()) {
                            f64::INFINITY
                        } else if a.v != 0.0 {
                            b.d
                        } else {
                            c.d
                        }
                    }
                    TernaryOp::Clamp => {
                        if a.d + b.d + c.d == 0.0 {
                            0.0
                        } else if [a.v, b.v, c.v].iter().any(|x| !x.is_finite()) {
                            f64::INFINITY
                        } else {
                            a.d.max(b.d).max(c.d)
                        }
                    }
                    _ => f64::INFINITY,
                };
                Value { v, d }
            }
        };
        vals.push(val);
    }
    let last = vals[vals.len() - 1];
    (last.v, last.d)
}

/// Whether the backend's value may be infinite (so `0 * x` may be NaN).
fn may_overflow(a: Value) -> bool {
    (a.v as f64).abs() + a.d >= f32::MAX as f64
}

fn special(v: f32) -> bool {
    !v.is_finite()
}

fn unary_bound(op: UnaryOp, a: Value, v: f32, model: &Model) -> f64 {
    let d = unary_bound_inner(op, a, v, model);
    // Next to a pole a backend's tan (sin / cos with cos rounding to 0) may be
    // infinite: when the allowed error swamps the value, it is undetermined.
    if op == UnaryOp::Tan && d > 0.0 && d >= (v as f64).abs() {
        return f64::INFINITY;
    }
    d
}

fn unary_bound_inner(op: UnaryOp, a: Value, v: f32, model: &Model) -> f64 {
    if a.d == 0.0 {
        return if special(v) {
            0.0
        } else {
            model.unary_error(op, a.v, v)
        };
    }
    if !a.v.is_finite() || !a.d.is_finite() || may_overflow(a) {
        return f64::INFINITY;
    }
    let x = a.v as f64;
    let (lo, hi) = (x - a.d, x + a.d);
    let propagated = match op {
        UnaryOp::Neg | UnaryOp::Abs => a.d,
        UnaryOp::Floor if lo.floor() == hi.floor() => 0.0,
        UnaryOp::Ceil if lo.ceil() == hi.ceil() => 0.0,
        UnaryOp::Floor | UnaryOp::Ceil => f64::INFINITY,
        UnaryOp::Sqrt => {
            if lo < 0.0 {
                f64::INFINITY
            } else if lo == 0.0 {
                a.d.sqrt()
            } else {
                (0.5 / lo.sqrt() * a.d).min(a.d.sqrt())
            }
        }
        UnaryOp::Sin | UnaryOp::Cos | UnaryOp::Tanh => a.d,
        UnaryOp::Tan => {
            let pole = |t: f64| (t / std::f64::consts::PI - 0.5).floor();
            if pole(lo) != pole(hi) {
                f64::INFINITY
            } else {
                (1.0 + lo.tan().powi(2)).max(1.0 + hi.tan().powi(2)) * a.d
            }
        }
        UnaryOp::Exp => hi.exp() * a.d,
        UnaryOp::Ln => {
            if lo <= 0.0 {
                f64::INFINITY
            } else {
                a.d / lo
            }
        }
        _ => f64::INFINITY,
    };
    if special(v) {
        return f64::INFINITY;
    }
    // Both sides round correctly but from different operands: one more ulp.
    propagated + model.unary_error(op, a.v, v) + ulp(v as f64)
}

fn binary_bound(op: BinaryOp, a: Value, b: Value, v: f32, model: &Model) -> f64 {
    if a.d == 0.0 && b.d == 0.0 {
        return if special(v) {
            0.0
        } else {
            model.binary_error(op, a.v, b.v, v)
        };
    }
    if !a.v.is_finite()
        || !b.v.is_finite()
        || !(a.d + b.d).is_finite()
        || may_overflow(a)
        || may_overflow(b)
    {
        return f64::INFINITY;
    }
    let (x, y) = (a.v as f64, b.v as f64);
    let propagated = match op {
        BinaryOp::Add | BinaryOp::Sub => a.d + b.d,
        BinaryOp::Mul => x.abs() * b.d + y.abs() * a.d + a.d * b.d,
        BinaryOp::Div => {
            if y.abs() <= b.d {
                f64::INFINITY
            } else {
                (y.abs() * a.d + x.abs() * b.d) / (y.abs() * (y.abs() - b.d))
            }
        }
        BinaryOp::Min | BinaryOp::Max => a.d.max(b.d),
        BinaryOp::Pow => {
            if x - a.d <= 0.0 {
                f64::INFINITY
            } else {
                let r = (v as f64).abs();
                let dt = x.ln().abs() * b.d + y.abs() * a.d / (x - a.d);
                if dt > 1.0 {
                    f64::INFINITY
                } else {
                    r * (dt.exp() - 1.0) * 2.0
                }
            }
        }
        BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge | BinaryOp::Eq => {
            if (x - y).abs() <= a.d + b.d {
                f64::INFINITY
            } else {
                0.0
            }
        }
        _ => f64::INFINITY,
    };
    if special(v) {
        return f64::INFINITY;
    }
    // Both sides round correctly but from different operands: one more ulp.
    propagated + model.binary_error(op, a.v, b.v, v) + ulp(v as f64)
}

/// Whether `got` is acceptable for oracle value `want` with bound `d`.
/// Zeros of either sign are equal.
pub fn accept(got: f32, want: f32, d: f64) -> bool {
    if want.is_nan() {
        return got.is_nan();
    }
    if d == 0.0 {
        return got == want;
    }
    if want.is_infinite() {
        return got == want;
    }
    if got.is_nan() || got.is_infinite() {
        // A finite result within reach of overflow may overflow, and one whose
        // allowed error exceeds its size (tan next to a pole) may be anything.
        return got.is_infinite()
            && ((want as f64).abs() + d >= f32::MAX as f64 || d >= (want as f64).abs());
    }
    ((got as f64) - (want as f64)).abs() <= d
}
