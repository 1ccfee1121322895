//! The traced expression DSL: [`Expr`] handles and the [`Kernel`] they build.
//!
//! Users never build trees by hand: they write a closure such as
//! `|v| v * 2.0 + 1.0`, the library calls it once with [`Expr`] handles, and
//! every operator and method on those handles records a node. The result is a
//! [`Kernel`], which each backend compiles (WGSL, a vectorised CPU program, or
//! the scalar interpreter) and caches.
//!
//! Literals work wherever a value is expected: `v.max(0.5)`, `1.0 - v`,
//! `v.clamp(-1.0, 1.0)`. Operations on literals alone are folded while
//! tracing.

pub mod kernel;
pub mod ops;
mod trace;

pub use kernel::{Kernel, Node, NodeId};
pub use ops::{BinaryOp, TernaryOp, UnaryOp};

use crate::error::Result;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

/// A value inside a traced kernel.
///
/// `Expr` is a `Copy` handle: the closure given to [`crate::map`] receives
/// one per input and returns the `Expr` of the result. Arithmetic operators
/// work with `Expr` or `f32` on either side; methods mirror `f32`'s.
///
/// ```
/// let y = gpu::map(&[0.0, 1.0, 4.0], |v| v.sqrt() * v + v.max(0.5))?;
/// assert_eq!(y, vec![0.5, 2.0, 12.0]);
/// # Ok::<(), gpu::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Expr(Repr);

#[derive(Clone, Copy, Debug)]
pub(crate) enum Repr {
    Const(f32),
    Node { trace: u32, id: NodeId },
    Invalid,
}

impl Expr {
    pub(crate) fn node(trace: u32, id: NodeId) -> Expr {
        Expr(Repr::Node { trace, id })
    }

    pub(crate) fn invalid() -> Expr {
        Expr(Repr::Invalid)
    }

    pub(crate) fn repr(self) -> Repr {
        self.0
    }

    /// A constant.
    ///
    /// ```
    /// let y = gpu::map(&[1.0, 2.0], |_| gpu::Expr::constant(7.0))?;
    /// assert_eq!(y, vec![7.0, 7.0]);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn constant(value: f32) -> Expr {
        Expr(Repr::Const(value))
    }

    /// Records `make(ids)` on the trace the operands belong to, or folds it
    /// with `fold` when every operand is a constant.
    fn combine<const N: usize>(
        args: [Expr; N],
        fold: impl FnOnce([f32; N]) -> f32,
        make: impl FnOnce([NodeId; N]) -> Node,
    ) -> Expr {
        let mut trace_id = None;
        for a in &args {
            match a.0 {
                Repr::Node { trace, .. } => match trace_id {
                    None => trace_id = Some(trace),
                    Some(t) if t != trace => {
                        trace::record_misuse("expressions from two different traces were combined");
                        return Expr::invalid();
                    }
                    Some(_) => {}
                },
                Repr::Invalid => {
                    trace::record_misuse(
                        "an expression built outside any trace (or from a failed one) was used",
                    );
                    return Expr::invalid();
                }
                Repr::Const(_) => {}
            }
        }
        let Some(trace_id) = trace_id else {
            let values = args.map(|a| match a.0 {
                Repr::Const(c) => c,
                _ => unreachable!("all operands are constants here"),
            });
            return Expr::constant(fold(values));
        };
        let mut ids = [0 as NodeId; N];
        for (slot, a) in ids.iter_mut().zip(args) {
            let interned = match a.0 {
                Repr::Node { id, .. } => Some(id),
                Repr::Const(c) => {
                    trace::with_tracer(trace_id, |t| t.intern(Node::Const(c.to_bits())))
                }
                Repr::Invalid => None,
            };
            match interned {
                Some(id) => *slot = id,
                None => return Expr::invalid(),
            }
        }
        trace::push(trace_id, make(ids))
    }

    fn unary(self, op: UnaryOp) -> Expr {
        Expr::combine([self], |[a]| op.apply(a), |[a]| Node::Unary(op, a))
    }

    fn binary(self, other: Expr, op: BinaryOp) -> Expr {
        Expr::combine(
            [self, other],
            |[a, b]| op.apply(a, b),
            |[a, b]| Node::Binary(op, a, b),
        )
    }

    fn ternary(self, b: Expr, c: Expr, op: TernaryOp) -> Expr {
        Expr::combine(
            [self, b, c],
            |[x, y, z]| op.apply(x, y, z),
            |[x, y, z]| Node::Ternary(op, x, y, z),
        )
    }

    /// Sine (radians).
    ///
    /// ```
    /// let k = gpu::Kernel::unary(|v| v.sin())?;
    /// assert_eq!(k.to_string(), "x0.sin()");
    /// assert_eq!(k.eval(&[1.0]), 1f32.sin());
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn sin(self) -> Expr {
        self.unary(UnaryOp::Sin)
    }
    /// Cosine (radians).
    ///
    /// ```
    /// let k = gpu::Kernel::unary(|v| v.cos())?;
    /// assert_eq!(k.to_string(), "x0.cos()");
    /// assert_eq!(k.eval(&[0.0]), 1.0);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn cos(self) -> Expr {
        self.unary(UnaryOp::Cos)
    }
    /// Tangent (radians).
    ///
    /// ```
    /// let k = gpu::Kernel::unary(|v| v.tan())?;
    /// assert_eq!(k.to_string(), "x0.tan()");
    /// assert_eq!(k.eval(&[1.0]), 1f32.tan());
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn tan(self) -> Expr {
        self.unary(UnaryOp::Tan)
    }
    /// `e` raised to this value.
    ///
    /// ```
    /// let k = gpu::Kernel::unary(|v| v.exp())?;
    /// assert_eq!(k.to_string(), "x0.exp()");
    /// assert_eq!(k.eval(&[0.0]), 1.0);
    /// assert_eq!(k.eval(&[2.0]), 2f32.exp());
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn exp(self) -> Expr {
        self.unary(UnaryOp::Exp)
    }
    /// Natural logarithm.
    ///
    /// ```
    /// let k = gpu::Kernel::unary(|v| v.ln())?;
    /// assert_eq!(k.to_string(), "x0.ln()");
    /// assert_eq!(k.eval(&[1.0]), 0.0);
    /// assert_eq!(k.eval(&[0.0]), f32::NEG_INFINITY);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn ln(self) -> Expr {
        self.unary(UnaryOp::Ln)
    }
    /// Square root (NaN for negative values).
    ///
    /// ```
    /// let k = gpu::Kernel::unary(|v| v.sqrt())?;
    /// assert_eq!(k.to_string(), "x0.sqrt()");
    /// assert_eq!(k.eval(&[9.0]), 3.0);
    /// assert!(k.eval(&[-1.0]).is_nan());
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn sqrt(self) -> Expr {
        self.unary(UnaryOp::Sqrt)
    }
    /// Absolute value.
    ///
    /// ```
    /// let k = gpu::Kernel::unary(|v| v.abs())?;
    /// assert_eq!(k.to_string(), "x0.abs()");
    /// assert_eq!(k.eval(&[-2.5]), 2.5);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn abs(self) -> Expr {
        self.unary(UnaryOp::Abs)
    }
    /// Largest integer not greater than this value.
    ///
    /// ```
    /// let k = gpu::Kernel::unary(|v| v.floor())?;
    /// assert_eq!(k.to_string(), "x0.floor()");
    /// assert_eq!(k.eval(&[-1.5]), -2.0);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn floor(self) -> Expr {
        self.unary(UnaryOp::Floor)
    }
    /// Smallest integer not less than this value.
    ///
    /// ```
    /// let k = gpu::Kernel::unary(|v| v.ceil())?;
    /// assert_eq!(k.to_string(), "x0.ceil()");
    /// assert_eq!(k.eval(&[-1.5]), -1.0);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn ceil(self) -> Expr {
        self.unary(UnaryOp::Ceil)
    }
    /// Hyperbolic tangent.
    ///
    /// ```
    /// let k = gpu::Kernel::unary(|v| v.tanh())?;
    /// assert_eq!(k.to_string(), "x0.tanh()");
    /// assert_eq!(k.eval(&[0.5]), 0.5f32.tanh());
    /// assert_eq!(k.eval(&[20.0]), 1.0);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn tanh(self) -> Expr {
        self.unary(UnaryOp::Tanh)
    }
    /// This value raised to the power `exponent`, as `f32::powf`.
    ///
    /// ```
    /// let k = gpu::Kernel::unary(|v| v.powf(3.0))?;
    /// assert_eq!(k.to_string(), "x0.powf(3)");
    /// assert_eq!(k.eval(&[2.0]), 8.0);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn powf(self, exponent: impl Into<Expr>) -> Expr {
        self.binary(exponent.into(), BinaryOp::Pow)
    }
    /// The smaller of two values; if one is NaN, the other.
    ///
    /// ```
    /// let k = gpu::Kernel::unary(|v| v.min(1.0))?;
    /// assert_eq!(k.to_string(), "x0.min(1)");
    /// assert_eq!(k.eval(&[3.0]), 1.0);
    /// assert_eq!(k.eval(&[f32::NAN]), 1.0);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn min(self, other: impl Into<Expr>) -> Expr {
        self.binary(other.into(), BinaryOp::Min)
    }
    /// The larger of two values; if one is NaN, the other.
    ///
    /// ```
    /// let k = gpu::Kernel::unary(|v| v.max(0.0))?;
    /// assert_eq!(k.to_string(), "x0.max(0)");
    /// assert_eq!(k.eval(&[-3.0]), 0.0);
    /// assert_eq!(k.eval(&[f32::NAN]), 0.0);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn max(self, other: impl Into<Expr>) -> Expr {
        self.binary(other.into(), BinaryOp::Max)
    }
    /// `min(max(self, lo), hi)`; NaN stays NaN. Never panics, even if `lo > hi`.
    ///
    /// ```
    /// let k = gpu::Kernel::unary(|v| v.clamp(0.0, 1.0))?;
    /// assert_eq!(k.to_string(), "x0.clamp(0, 1)");
    /// assert_eq!((k.eval(&[2.0]), k.eval(&[-1.0]), k.eval(&[0.5])), (1.0, 0.0, 0.5));
    /// assert!(k.eval(&[f32::NAN]).is_nan());
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn clamp(self, lo: impl Into<Expr>, hi: impl Into<Expr>) -> Expr {
        self.ternary(lo.into(), hi.into(), TernaryOp::Clamp)
    }
    /// `1.0` where `self < other`, else `0.0` (also when either is NaN).
    ///
    /// ```
    /// let k = gpu::Kernel::binary(|a, b| a.lt(b))?;
    /// assert_eq!(k.to_string(), "x0 < x1");
    /// assert_eq!((k.eval(&[1.0, 2.0]), k.eval(&[2.0, 2.0])), (1.0, 0.0));
    /// assert_eq!(k.eval(&[f32::NAN, 2.0]), 0.0);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn lt(self, other: impl Into<Expr>) -> Expr {
        self.binary(other.into(), BinaryOp::Lt)
    }
    /// `1.0` where `self <= other`, else `0.0`.
    ///
    /// ```
    /// let k = gpu::Kernel::binary(|a, b| a.le(b))?;
    /// assert_eq!(k.to_string(), "x0 <= x1");
    /// assert_eq!((k.eval(&[2.0, 2.0]), k.eval(&[3.0, 2.0])), (1.0, 0.0));
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn le(self, other: impl Into<Expr>) -> Expr {
        self.binary(other.into(), BinaryOp::Le)
    }
    /// `1.0` where `self > other`, else `0.0`.
    ///
    /// ```
    /// let k = gpu::Kernel::binary(|a, b| a.gt(b))?;
    /// assert_eq!(k.to_string(), "x0 > x1");
    /// assert_eq!((k.eval(&[3.0, 2.0]), k.eval(&[2.0, 2.0])), (1.0, 0.0));
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn gt(self, other: impl Into<Expr>) -> Expr {
        self.binary(other.into(), BinaryOp::Gt)
    }
    /// `1.0` where `self >= other`, else `0.0`.
    ///
    /// ```
    /// let k = gpu::Kernel::binary(|a, b| a.ge(b))?;
    /// assert_eq!(k.to_string(), "x0 >= x1");
    /// assert_eq!((k.eval(&[2.0, 2.0]), k.eval(&[1.0, 2.0])), (1.0, 0.0));
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn ge(self, other: impl Into<Expr>) -> Expr {
        self.binary(other.into(), BinaryOp::Ge)
    }
    /// `1.0` where `self == other`, else `0.0` (NaN equals nothing).
    ///
    /// ```
    /// let k = gpu::Kernel::binary(|a, b| a.eq(b))?;
    /// assert_eq!(k.to_string(), "x0 == x1");
    /// assert_eq!((k.eval(&[2.0, 2.0]), k.eval(&[1.0, 2.0])), (1.0, 0.0));
    /// assert_eq!(k.eval(&[f32::NAN, f32::NAN]), 0.0);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn eq(self, other: impl Into<Expr>) -> Expr {
        self.binary(other.into(), BinaryOp::Eq)
    }
    /// Uses `self` as a condition: `if_true` where `self != 0.0` (NaN counts
    /// as true), else `if_false`.
    ///
    /// ```
    /// let y = gpu::map(&[-2.0, 3.0], |v| v.lt(0.0).select(0.0, v))?;
    /// assert_eq!(y, vec![0.0, 3.0]);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn select(self, if_true: impl Into<Expr>, if_false: impl Into<Expr>) -> Expr {
        self.ternary(if_true.into(), if_false.into(), TernaryOp::Select)
    }
}

impl From<f32> for Expr {
    fn from(value: f32) -> Expr {
        Expr::constant(value)
    }
}

impl Neg for Expr {
    type Output = Expr;
    fn neg(self) -> Expr {
        self.unary(UnaryOp::Neg)
    }
}

macro_rules! infix {
    ($trait:ident, $method:ident, $assign_trait:ident, $assign_method:ident, $op:expr) => {
        impl $trait<Expr> for Expr {
            type Output = Expr;
            fn $method(self, rhs: Expr) -> Expr {
                self.binary(rhs, $op)
            }
        }
        impl $trait<f32> for Expr {
            type Output = Expr;
            fn $method(self, rhs: f32) -> Expr {
                self.binary(Expr::constant(rhs), $op)
            }
        }
        impl $trait<Expr> for f32 {
            type Output = Expr;
            fn $method(self, rhs: Expr) -> Expr {
                Expr::constant(self).binary(rhs, $op)
            }
        }
        impl<T: Into<Expr>> $assign_trait<T> for Expr {
            fn $assign_method(&mut self, rhs: T) {
                *self = self.binary(rhs.into(), $op);
            }
        }
    };
}

infix!(Add, add, AddAssign, add_assign, BinaryOp::Add);
infix!(Sub, sub, SubAssign, sub_assign, BinaryOp::Sub);
infix!(Mul, mul, MulAssign, mul_assign, BinaryOp::Mul);
infix!(Div, div, DivAssign, div_assign, BinaryOp::Div);

impl Kernel {
    /// Traces a one-input closure into a kernel.
    ///
    /// ```
    /// let k = gpu::Kernel::unary(|v| v * v + v.sin())?;
    /// assert_eq!(k.arity(), 1);
    /// assert_eq!(k.op_count(), 3);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn unary(f: impl FnOnce(Expr) -> Expr) -> Result<Kernel> {
        trace::trace(1, |args| f(args[0]))
    }

    /// Traces a two-input closure into a kernel.
    ///
    /// ```
    /// let k = gpu::Kernel::binary(|a, b| a * b)?;
    /// assert_eq!(k.to_string(), "x0 * x1");
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn binary(f: impl FnOnce(Expr, Expr) -> Expr) -> Result<Kernel> {
        trace::trace(2, |args| f(args[0], args[1]))
    }

    /// Traces a closure over `arity` inputs (at most two for the backends).
    pub(crate) fn trace(arity: u8, f: impl FnOnce(&[Expr]) -> Expr) -> Result<Kernel> {
        trace::trace(arity, f)
    }

    /// Records this kernel's operations on `args` (one per input) in the
    /// trace that is running, and returns the result: how a kernel becomes
    /// part of a larger one (lazy arrays fuse chains of maps this way).
    pub(crate) fn apply(&self, args: &[Expr]) -> Expr {
        let mut values: Vec<Expr> = Vec::with_capacity(self.nodes().len());
        for node in self.nodes() {
            let value = match *node {
                Node::Input(i) => args[i as usize],
                Node::Const(bits) => Expr::constant(f32::from_bits(bits)),
                Node::Unary(op, a) => values[a as usize].unary(op),
                Node::Binary(op, a, b) => values[a as usize].binary(values[b as usize], op),
                Node::Ternary(op, a, b, c) => {
                    values[a as usize].ternary(values[b as usize], values[c as usize], op)
                }
            };
            values.push(value);
        }
        *values.last().expect("a kernel has at least one node")
    }
}
