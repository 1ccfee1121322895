//! The block executor: runs a [`Program`] over one block of elements.
//!
//! [`run_block`] is compiled several times (AVX-512, AVX2+FMA, SSE4.2 on
//! x86-64; NEON on aarch64; plain code elsewhere) and the best version for the
//! running CPU is picked once, at run time, by `multiversion`. Every pass is
//! a simple loop over the block that the compiler vectorises for the selected
//! instruction set; the operation is decided once per block, never per
//! element. A chain's running value lives in its destination block (in L1),
//! and two neighbouring constant-operand steps (`x * 2 + 1`) share one pass,
//! so the common affine maps read and write memory exactly once.

use super::math;
use super::program::{Arg, Dst, Instr, Program, Src, Step};
use super::simd::simd_fn;
use crate::expr::{ops::truth, BinaryOp, TernaryOp, UnaryOp};

/// Elements per block (32 KiB per register). Measured on AVX-512 with two
/// cores: 1024 left a third of the memory bandwidth unused on `x * 2 + 1`
/// (per-block overhead breaks the streams up), 8192 is within a few percent
/// of a hand-written loop while a register still fits in L1.
pub(crate) const BLOCK: usize = 8192;

/// Elements per block of a program that streams (`Program::streams`: one
/// chain of plain arithmetic, nothing held between steps). Each block costs
/// a pass through the executor, and on two cores `x * 2 + 1` in blocks of
/// [`BLOCK`] took 9 % longer than a hand-written rayon loop (2^20 and 2^22
/// values); in blocks of 65536, 1–2 %.
pub(crate) const STREAM_BLOCK: usize = 65536;

/// Elements per block for `program`.
pub(crate) fn block_len(program: &Program) -> usize {
    if program.streams {
        STREAM_BLOCK
    } else {
        BLOCK
    }
}

/// Per-thread scratch space for one program.
pub(crate) struct Scratch {
    registers: Vec<Vec<f32>>,
    broadcast: [Vec<f32>; 3],
    /// Arguments kept for the transcendental fixup of an in-place step.
    saved: Vec<f32>,
}

impl Scratch {
    /// Scratch for blocks of at most `len` elements (registers are sized
    /// for that, so small calls allocate little).
    pub fn new(program: &Program, len: usize) -> Scratch {
        let len = len.min(BLOCK);
        Scratch {
            registers: (0..program.registers).map(|_| vec![0.0; len]).collect(),
            broadcast: [Vec::new(), Vec::new(), Vec::new()],
            saved: Vec::new(),
        }
    }
}

/// An operand resolved for one block.
#[derive(Clone, Copy)]
enum Operand<'a> {
    Slice(&'a [f32]),
    Scalar(f32),
}

fn resolve<'a>(
    src: Src,
    inputs: &[&'a [f32]],
    registers: &'a [Vec<f32>],
    len: usize,
) -> Operand<'a> {
    match src {
        Src::Input(i) => Operand::Slice(&inputs[i as usize][..len]),
        Src::Reg(r) => Operand::Slice(&registers[r as usize][..len]),
        Src::Const(c) => Operand::Scalar(c),
    }
}

/// Runs `program` on one block: `inputs[i]` and `out` all have the same
/// length, at most [`block_len`].
pub(crate) fn run_block(
    program: &Program,
    inputs: &[&[f32]],
    out: &mut [f32],
    scratch: &mut Scratch,
) {
    debug_assert!(out.len() <= block_len(program));
    debug_assert!(inputs.iter().all(|i| i.len() == out.len()));
    run_block_simd(program, inputs, out, scratch)
}

simd_fn! {
fn run_block_simd(program: &Program, inputs: &[&[f32]], out: &mut [f32], scratch: &mut Scratch) {
    let len = out.len();
    for instr in &program.instrs {
        let dst_reg = match instr {
            Instr::Chain {
                dst: Dst::Reg(r), ..
            }
            | Instr::Ternary(_, _, _, _, Dst::Reg(r)) => Some(*r as usize),
            _ => None,
        };
        // Take the destination register out of the file so that operands can
        // be borrowed from it at the same time (the compiler never makes an
        // instruction read its own destination).
        let mut taken = dst_reg.map(|r| std::mem::take(&mut scratch.registers[r]));
        let dst: &mut [f32] = match &mut taken {
            Some(reg) => &mut reg[..len],
            None => &mut *out,
        };
        let regs = &scratch.registers;
        match instr {
            Instr::Chain { start, steps, .. } => {
                let start = resolve(*start, inputs, regs, len);
                chain(
                    start,
                    steps,
                    |src| resolve(src, inputs, regs, len),
                    dst,
                    &mut scratch.saved,
                );
            }
            Instr::Ternary(op, a, b, c, _) => {
                let [ba, bb, bc] = &mut scratch.broadcast;
                let a = as_slice(resolve(*a, inputs, regs, len), ba, len);
                let b = as_slice(resolve(*b, inputs, regs, len), bb, len);
                let c = as_slice(resolve(*c, inputs, regs, len), bc, len);
                ternary(*op, a, b, c, dst);
            }
        }
        if let (Some(r), Some(reg)) = (dst_reg, taken) {
            scratch.registers[r] = reg;
        }
    }
}
}

/// A step that needs no array operand: a candidate for fusing with its
/// neighbour into one pass.
#[derive(Clone, Copy)]
enum Elem {
    Add(f32),
    Sub(f32),
    RSub(f32),
    Mul(f32),
    Div(f32),
    RDiv(f32),
    Min(f32),
    Max(f32),
}

impl Elem {
    fn of(step: &Step) -> Option<Elem> {
        let Step::Binary {
            op,
            arg: Arg::Src(Src::Const(c)),
            value_on_left,
        } = *step
        else {
            return None;
        };
        Some(match (op, value_on_left) {
            (BinaryOp::Add, _) => Elem::Add(c),
            (BinaryOp::Sub, true) => Elem::Sub(c),
            (BinaryOp::Sub, false) => Elem::RSub(c),
            (BinaryOp::Mul, _) => Elem::Mul(c),
            (BinaryOp::Div, true) => Elem::Div(c),
            (BinaryOp::Div, false) => Elem::RDiv(c),
            // min and max are commutative, NaN rules included.
            (BinaryOp::Min, _) => Elem::Min(c),
            (BinaryOp::Max, _) => Elem::Max(c),
            _ => return None,
        })
    }
}

/// Applies `f` to the running value: from `first` on the chain's first pass,
/// in place in `dst` afterwards.
///
/// There is deliberately no scalar case: with one, the compiler speculates
/// `f` of the scalar for every operation (libm calls included) on every block.
#[inline(always)]
fn pass(first: Option<&[f32]>, dst: &mut [f32], f: impl Fn(f32) -> f32) {
    match first {
        Some(s) => {
            for (d, &x) in dst.iter_mut().zip(s) {
                *d = f(x);
            }
        }
        None => {
            for d in dst.iter_mut() {
                *d = f(*d);
            }
        }
    }
}

/// Like [`pass`] with a second array operand.
#[inline(always)]
fn pass2(first: Option<&[f32]>, arg: &[f32], dst: &mut [f32], f: impl Fn(f32, f32) -> f32) {
    match first {
        Some(s) => {
            for ((d, &x), &y) in dst.iter_mut().zip(s).zip(arg) {
                *d = f(x, y);
            }
        }
        None => {
            for (d, &y) in dst.iter_mut().zip(arg) {
                *d = f(*d, y);
            }
        }
    }
}

/// One pass applying `first_op` then `then`.
#[inline(always)]
fn fused(first_op: Elem, src: Option<&[f32]>, dst: &mut [f32], then: impl Fn(f32) -> f32) {
    match first_op {
        Elem::Add(c) => pass(src, dst, |x| then(x + c)),
        Elem::Sub(c) => pass(src, dst, |x| then(x - c)),
        Elem::RSub(c) => pass(src, dst, |x| then(c - x)),
        Elem::Mul(c) => pass(src, dst, |x| then(x * c)),
        Elem::Div(c) => pass(src, dst, |x| then(x / c)),
        Elem::RDiv(c) => pass(src, dst, |x| then(c / x)),
        Elem::Min(c) => pass(src, dst, |x| then(x.min(c))),
        Elem::Max(c) => pass(src, dst, |x| then(x.max(c))),
    }
}

/// One pass applying `a` then `b` (each rounded, exactly as two passes would).
#[inline(always)]
fn fused_pair(a: Elem, b: Elem, src: Option<&[f32]>, dst: &mut [f32]) {
    match b {
        Elem::Add(c) => fused(a, src, dst, |x| x + c),
        Elem::Sub(c) => fused(a, src, dst, |x| x - c),
        Elem::RSub(c) => fused(a, src, dst, |x| c - x),
        Elem::Mul(c) => fused(a, src, dst, |x| x * c),
        Elem::Div(c) => fused(a, src, dst, |x| x / c),
        Elem::RDiv(c) => fused(a, src, dst, |x| c / x),
        Elem::Min(c) => fused(a, src, dst, |x| x.min(c)),
        Elem::Max(c) => fused(a, src, dst, |x| x.max(c)),
    }
}

/// Runs one chain over the block: the running value lives in `dst`; pairs
/// of constant-operand arithmetic steps share one pass.
#[inline(always)]
fn chain<'a>(
    start: Operand<'a>,
    steps: &[Step],
    resolve: impl Fn(Src) -> Operand<'a>,
    dst: &mut [f32],
    saved: &mut Vec<f32>,
) {
    // A chain starting from a constant (only a constant kernel does) is
    // broadcast first, then transformed in place.
    let mut first = match start {
        Operand::Slice(s) if steps.is_empty() => {
            dst.copy_from_slice(s);
            return;
        }
        Operand::Slice(s) => Some(s),
        Operand::Scalar(c) => {
            dst.fill(c);
            None
        }
    };
    let mut i = 0;
    while i < steps.len() {
        if let (Some(a), Some(b)) = (Elem::of(&steps[i]), steps.get(i + 1).and_then(Elem::of)) {
            fused_pair(a, b, first.take(), dst);
            i += 2;
            continue;
        }
        let src = first.take();
        match steps[i] {
            Step::Unary(op) => unary(op, src, dst, saved),
            Step::Binary {
                op, arg: Arg::Same, ..
            } => binary_same(op, src, dst),
            Step::Binary {
                op,
                arg: Arg::Src(arg),
                value_on_left,
            } => match resolve(arg) {
                Operand::Scalar(c) => binary_scalar(op, src, c, value_on_left, dst),
                Operand::Slice(a) => binary_slice(op, src, a, value_on_left, dst),
            },
        }
        i += 1;
    }
}

/// The fast transcendental path, then `std` for elements outside its range.
#[inline(always)]
fn with_fixup(
    op: UnaryOp,
    src: Option<&[f32]>,
    dst: &mut [f32],
    saved: &mut Vec<f32>,
    fast: impl Fn(f32) -> f32,
) {
    // The fixup needs the arguments; in place they are gone, so keep a copy.
    let args: &[f32] = match src {
        Some(s) => s,
        None => {
            saved.clear();
            saved.extend_from_slice(dst);
            saved
        }
    };
    for (d, &x) in dst.iter_mut().zip(args) {
        *d = fast(x);
    }
    let any_bad = args
        .iter()
        .fold(false, |acc, &x| acc | math::needs_fixup(op, x));
    if any_bad {
        for (d, &x) in dst.iter_mut().zip(args) {
            if math::needs_fixup(op, x) {
                *d = op.apply(x);
            }
        }
    }
}

#[inline(always)]
fn unary(op: UnaryOp, src: Option<&[f32]>, dst: &mut [f32], saved: &mut Vec<f32>) {
    match op {
        UnaryOp::Neg => pass(src, dst, |x| -x),
        UnaryOp::Abs => pass(src, dst, f32::abs),
        UnaryOp::Floor => pass(src, dst, f32::floor),
        UnaryOp::Ceil => pass(src, dst, f32::ceil),
        UnaryOp::Sqrt => pass(src, dst, f32::sqrt),
        UnaryOp::Sin => with_fixup(op, src, dst, saved, math::sin),
        UnaryOp::Cos => with_fixup(op, src, dst, saved, math::cos),
        UnaryOp::Tan => with_fixup(op, src, dst, saved, math::tan),
        UnaryOp::Exp => with_fixup(op, src, dst, saved, math::exp),
        UnaryOp::Ln => with_fixup(op, src, dst, saved, math::ln),
        UnaryOp::Tanh => with_fixup(op, src, dst, saved, math::tanh),
    }
}

/// `f(a, b)` for every binary operation.
macro_rules! binary_ops {
    ($op:expr, $apply:ident, $($extra:expr),*) => {
        match $op {
            BinaryOp::Add => $apply($($extra,)* |x: f32, y: f32| x + y),
            BinaryOp::Sub => $apply($($extra,)* |x: f32, y: f32| x - y),
            BinaryOp::Mul => $apply($($extra,)* |x: f32, y: f32| x * y),
            BinaryOp::Div => $apply($($extra,)* |x: f32, y: f32| x / y),
            BinaryOp::Min => $apply($($extra,)* f32::min),
            BinaryOp::Max => $apply($($extra,)* f32::max),
            BinaryOp::Pow => $apply($($extra,)* f32::powf),
            BinaryOp::Lt => $apply($($extra,)* |x: f32, y: f32| truth(x < y)),
            BinaryOp::Le => $apply($($extra,)* |x: f32, y: f32| truth(x <= y)),
            BinaryOp::Gt => $apply($($extra,)* |x: f32, y: f32| truth(x > y)),
            BinaryOp::Ge => $apply($($extra,)* |x: f32, y: f32| truth(x >= y)),
            BinaryOp::Eq => $apply($($extra,)* |x: f32, y: f32| truth(x == y)),
        }
    };
}

#[inline(always)]
fn binary_same(op: BinaryOp, src: Option<&[f32]>, dst: &mut [f32]) {
    #[inline(always)]
    fn apply(src: Option<&[f32]>, dst: &mut [f32], f: impl Fn(f32, f32) -> f32) {
        pass(src, dst, |x| f(x, x))
    }
    binary_ops!(op, apply, src, dst)
}

#[inline(always)]
fn binary_scalar(op: BinaryOp, src: Option<&[f32]>, c: f32, value_on_left: bool, dst: &mut [f32]) {
    #[inline(always)]
    fn apply(
        src: Option<&[f32]>,
        c: f32,
        left: bool,
        dst: &mut [f32],
        f: impl Fn(f32, f32) -> f32,
    ) {
        if left {
            pass(src, dst, |x| f(x, c))
        } else {
            pass(src, dst, |x| f(c, x))
        }
    }
    binary_ops!(op, apply, src, c, value_on_left, dst)
}

#[inline(always)]
fn binary_slice(
    op: BinaryOp,
    src: Option<&[f32]>,
    arg: &[f32],
    value_on_left: bool,
    dst: &mut [f32],
) {
    #[inline(always)]
    fn apply(
        src: Option<&[f32]>,
        arg: &[f32],
        left: bool,
        dst: &mut [f32],
        f: impl Fn(f32, f32) -> f32,
    ) {
        if left {
            pass2(src, arg, dst, f)
        } else {
            pass2(src, arg, dst, |x, y| f(y, x))
        }
    }
    binary_ops!(op, apply, src, arg, value_on_left, dst)
}

/// A slice for `op`, filling `buffer` when the operand is a broadcast constant.
#[inline(always)]
fn as_slice<'a>(op: Operand<'a>, buffer: &'a mut Vec<f32>, len: usize) -> &'a [f32] {
    match op {
        Operand::Slice(s) => s,
        Operand::Scalar(c) => {
            buffer.clear();
            buffer.resize(len, c);
            buffer
        }
    }
}

#[inline(always)]
fn ternary(op: TernaryOp, a: &[f32], b: &[f32], c: &[f32], dst: &mut [f32]) {
    let zipped = dst.iter_mut().zip(a).zip(b).zip(c);
    match op {
        TernaryOp::Select => {
            for (((d, &x), &y), &z) in zipped {
                *d = if x != 0.0 { y } else { z };
            }
        }
        TernaryOp::Clamp => {
            for (((d, &x), &lo), &hi) in zipped {
                let clamped = x.max(lo).min(hi);
                *d = if x.is_nan() { x } else { clamped };
            }
        }
    }
}
