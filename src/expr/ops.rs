//! The operations a kernel can use, and their meaning.
//!
//! This module owns the *semantics* of every operation: [`UnaryOp::apply`],
//! [`BinaryOp::apply`] and friends are the reference definitions, written with
//! plain `f32` arithmetic from `std`. The scalar backend evaluates with them
//! directly; the CPU and GPU backends must agree with them within the
//! tolerances documented in the crate's accuracy table.
//!
//! Conventions that hold on every backend:
//!
//! * Comparisons yield `1.0` for true and `0.0` for false. Any comparison with
//!   NaN is false (IEEE ordered comparisons).
//! * `select(c, a, b)` is `a` when `c != 0.0` and `b` otherwise; a NaN
//!   condition counts as true (NaN is not equal to zero).
//! * `min`/`max` follow IEEE 754 `minNum`/`maxNum` like `f32::min`/`f32::max`:
//!   when exactly one operand is NaN the other one is returned.
//! * `clamp(v, lo, hi)` is `min(max(v, lo), hi)` except that a NaN `v` stays NaN.
//!   It never panics (unlike `f32::clamp`), even when `lo > hi`.
//! * `powf` follows `f32::powf` (C `powf`): a negative base with an integral
//!   exponent is allowed, `pow(x, 0) == 1` for every `x`, NaN included.

use std::fmt;

/// An operation with one operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum UnaryOp {
    /// `-x`
    Neg,
    /// `|x|`
    Abs,
    /// Largest integer not greater than `x`.
    Floor,
    /// Smallest integer not less than `x`.
    Ceil,
    /// Square root; NaN for negative inputs.
    Sqrt,
    /// Sine (radians).
    Sin,
    /// Cosine (radians).
    Cos,
    /// Tangent (radians).
    Tan,
    /// `e^x`.
    Exp,
    /// Natural logarithm; `-inf` at zero, NaN below zero.
    Ln,
    /// Hyperbolic tangent.
    Tanh,
}

/// An operation with two operands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum BinaryOp {
    /// `a + b`
    Add,
    /// `a - b`
    Sub,
    /// `a * b`
    Mul,
    /// `a / b`
    Div,
    /// IEEE `minNum` (NaN loses).
    Min,
    /// IEEE `maxNum` (NaN loses).
    Max,
    /// `a` raised to the power `b`, as `f32::powf`.
    Pow,
    /// `1.0` if `a < b` else `0.0`.
    Lt,
    /// `1.0` if `a <= b` else `0.0`.
    Le,
    /// `1.0` if `a > b` else `0.0`.
    Gt,
    /// `1.0` if `a >= b` else `0.0`.
    Ge,
    /// `1.0` if `a == b` else `0.0`.
    Eq,
}

/// An operation with three operands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum TernaryOp {
    /// `select(c, a, b)`: `a` where `c != 0`, else `b`.
    Select,
    /// `clamp(v, lo, hi)`: `min(max(v, lo), hi)`, NaN stays NaN.
    Clamp,
}

/// `1.0` for true, `0.0` for false: how comparisons encode booleans.
///
/// ```
/// use gpu::expr::ops::truth;
/// assert_eq!((truth(true), truth(false)), (1.0, 0.0));
/// ```
#[inline(always)]
pub fn truth(b: bool) -> f32 {
    if b {
        1.0
    } else {
        0.0
    }
}

impl UnaryOp {
    /// Every unary operation, for tests and documentation.
    pub const ALL: [UnaryOp; 11] = [
        UnaryOp::Neg,
        UnaryOp::Abs,
        UnaryOp::Floor,
        UnaryOp::Ceil,
        UnaryOp::Sqrt,
        UnaryOp::Sin,
        UnaryOp::Cos,
        UnaryOp::Tan,
        UnaryOp::Exp,
        UnaryOp::Ln,
        UnaryOp::Tanh,
    ];

    /// The reference result of this operation.
    ///
    /// ```
    /// use gpu::expr::UnaryOp;
    /// assert_eq!(UnaryOp::Floor.apply(-1.5), -2.0);
    /// assert!(UnaryOp::Sqrt.apply(-1.0).is_nan());
    /// ```
    #[inline]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            UnaryOp::Neg => -x,
            UnaryOp::Abs => x.abs(),
            UnaryOp::Floor => x.floor(),
            UnaryOp::Ceil => x.ceil(),
            UnaryOp::Sqrt => x.sqrt(),
            UnaryOp::Sin => x.sin(),
            UnaryOp::Cos => x.cos(),
            UnaryOp::Tan => x.tan(),
            UnaryOp::Exp => x.exp(),
            UnaryOp::Ln => x.ln(),
            UnaryOp::Tanh => x.tanh(),
        }
    }

    /// The name used in printed kernels and in the public `Expr` method.
    ///
    /// ```
    /// use gpu::expr::UnaryOp;
    /// assert_eq!(UnaryOp::Tanh.name(), "tanh");
    /// assert_eq!(gpu::Kernel::unary(|v| v.tanh())?.to_string(), "x0.tanh()");
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            UnaryOp::Neg => "neg",
            UnaryOp::Abs => "abs",
            UnaryOp::Floor => "floor",
            UnaryOp::Ceil => "ceil",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Sin => "sin",
            UnaryOp::Cos => "cos",
            UnaryOp::Tan => "tan",
            UnaryOp::Exp => "exp",
            UnaryOp::Ln => "ln",
            UnaryOp::Tanh => "tanh",
        }
    }

    /// Whether the result is exact or correctly rounded on every backend, so
    /// that backends must agree to within one ulp.
    ///
    /// ```
    /// use gpu::expr::UnaryOp;
    /// assert!(UnaryOp::Sqrt.is_arithmetic());
    /// assert!(!UnaryOp::Sin.is_arithmetic());
    /// ```
    pub fn is_arithmetic(self) -> bool {
        matches!(
            self,
            UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Floor | UnaryOp::Ceil | UnaryOp::Sqrt
        )
    }
}

impl BinaryOp {
    /// Every binary operation, for tests and documentation.
    pub const ALL: [BinaryOp; 12] = [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Min,
        BinaryOp::Max,
        BinaryOp::Pow,
        BinaryOp::Lt,
        BinaryOp::Le,
        BinaryOp::Gt,
        BinaryOp::Ge,
        BinaryOp::Eq,
    ];

    /// The reference result of this operation.
    ///
    /// ```
    /// use gpu::expr::BinaryOp;
    /// assert_eq!(BinaryOp::Sub.apply(5.0, 2.0), 3.0);
    /// assert_eq!(BinaryOp::Max.apply(f32::NAN, 2.0), 2.0);
    /// assert_eq!(BinaryOp::Lt.apply(f32::NAN, 2.0), 0.0);
    /// ```
    #[inline]
    pub fn apply(self, a: f32, b: f32) -> f32 {
        match self {
            BinaryOp::Add => a + b,
            BinaryOp::Sub => a - b,
            BinaryOp::Mul => a * b,
            BinaryOp::Div => a / b,
            BinaryOp::Min => a.min(b),
            BinaryOp::Max => a.max(b),
            BinaryOp::Pow => a.powf(b),
            BinaryOp::Lt => truth(a < b),
            BinaryOp::Le => truth(a <= b),
            BinaryOp::Gt => truth(a > b),
            BinaryOp::Ge => truth(a >= b),
            BinaryOp::Eq => truth(a == b),
        }
    }

    /// The name used in printed kernels and in the public `Expr` method.
    ///
    /// ```
    /// use gpu::expr::BinaryOp;
    /// assert_eq!(BinaryOp::Pow.name(), "powf");
    /// assert_eq!(gpu::Kernel::unary(|v| v.powf(2.0))?.to_string(), "x0.powf(2)");
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Min => "min",
            BinaryOp::Max => "max",
            BinaryOp::Pow => "powf",
            BinaryOp::Lt => "lt",
            BinaryOp::Le => "le",
            BinaryOp::Gt => "gt",
            BinaryOp::Ge => "ge",
            BinaryOp::Eq => "eq",
        }
    }

    /// The infix symbol, for operations printed infix.
    ///
    /// ```
    /// use gpu::expr::BinaryOp;
    /// assert_eq!(BinaryOp::Le.symbol(), Some("<="));
    /// assert_eq!(BinaryOp::Min.symbol(), None);
    /// ```
    pub fn symbol(self) -> Option<&'static str> {
        match self {
            BinaryOp::Add => Some("+"),
            BinaryOp::Sub => Some("-"),
            BinaryOp::Mul => Some("*"),
            BinaryOp::Div => Some("/"),
            BinaryOp::Lt => Some("<"),
            BinaryOp::Le => Some("<="),
            BinaryOp::Gt => Some(">"),
            BinaryOp::Ge => Some(">="),
            BinaryOp::Eq => Some("=="),
            _ => None,
        }
    }

    /// Whether this is one of the comparisons, which yield `0.0` or `1.0`.
    ///
    /// ```
    /// use gpu::expr::BinaryOp;
    /// assert!(BinaryOp::Ge.is_comparison());
    /// assert!(!BinaryOp::Max.is_comparison());
    /// ```
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge | BinaryOp::Eq
        )
    }
}

impl TernaryOp {
    /// The reference result of this operation.
    ///
    /// ```
    /// use gpu::expr::TernaryOp;
    /// assert_eq!(TernaryOp::Select.apply(f32::NAN, 1.0, 2.0), 1.0); // NaN counts as true
    /// assert_eq!(TernaryOp::Clamp.apply(5.0, 0.0, 1.0), 1.0);
    /// assert!(TernaryOp::Clamp.apply(f32::NAN, 0.0, 1.0).is_nan());
    /// ```
    #[inline]
    pub fn apply(self, a: f32, b: f32, c: f32) -> f32 {
        match self {
            TernaryOp::Select => {
                if a != 0.0 {
                    b
                } else {
                    c
                }
            }
            TernaryOp::Clamp => {
                if a.is_nan() {
                    a
                } else {
                    a.max(b).min(c)
                }
            }
        }
    }

    /// The name used in printed kernels and in the public `Expr` method.
    ///
    /// ```
    /// use gpu::expr::TernaryOp;
    /// assert_eq!(TernaryOp::Clamp.name(), "clamp");
    /// assert_eq!(gpu::Kernel::unary(|v| v.clamp(0.0, 1.0))?.to_string(), "x0.clamp(0, 1)");
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            TernaryOp::Select => "select",
            TernaryOp::Clamp => "clamp",
        }
    }
}

impl fmt::Display for UnaryOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for BinaryOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for TernaryOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
