//! The block executor: runs a [`Program`] over one block of elements.
//!
//! [`run_block`] is compiled several times (AVX-512, AVX2+FMA, SSE4.2 on
//! x86-64; NEON on aarch64; plain code elsewhere) and the best version for the
//! running CPU is picked once, at run time, by `multiversion`. Every
//! instruction is a simple loop over the block, written so that the compiler
//! vectorises it for the selected instruction set; no per-element dispatch on
//! the kernel's nodes ever happens.

use super::math;
use super::program::{Dst, Instr, Program, Src};
use crate::expr::{ops::truth, BinaryOp, TernaryOp, UnaryOp};
use multiversion::multiversion;

/// Elements per block: 4 KiB per register, so a few registers and the input
/// blocks stay in L1.
pub(crate) const BLOCK: usize = 1024;

/// Per-thread scratch space for one program.
pub(crate) struct Scratch {
    registers: Vec<Vec<f32>>,
    broadcast: [Vec<f32>; 3],
}

impl Scratch {
    pub fn new(program: &Program) -> Scratch {
        Scratch {
            registers: (0..program.registers).map(|_| vec![0.0; BLOCK]).collect(),
            broadcast: [Vec::new(), Vec::new(), Vec::new()],
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
/// length, at most [`BLOCK`].
pub(crate) fn run_block(
    program: &Program,
    inputs: &[&[f32]],
    out: &mut [f32],
    scratch: &mut Scratch,
) {
    debug_assert!(out.len() <= BLOCK);
    debug_assert!(inputs.iter().all(|i| i.len() == out.len()));
    run_block_simd(program, inputs, out, scratch)
}

#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512cd+avx512dq+avx512vl+avx2+fma",
    "x86_64+avx2+fma",
    "x86_64+sse4.2",
    "aarch64+neon"
))]
fn run_block_simd(program: &Program, inputs: &[&[f32]], out: &mut [f32], scratch: &mut Scratch) {
    let len = out.len();
    for instr in &program.instrs {
        let dst_reg = match instr_dst(instr) {
            Dst::Reg(r) => Some(r as usize),
            Dst::Out => None,
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
        match *instr {
            Instr::Copy(a, _) => match resolve(a, inputs, regs, len) {
                Operand::Slice(s) => dst.copy_from_slice(s),
                Operand::Scalar(c) => dst.fill(c),
            },
            Instr::Unary(op, a, _) => match resolve(a, inputs, regs, len) {
                Operand::Slice(s) => unary(op, s, dst),
                Operand::Scalar(c) => dst.fill(op.apply(c)),
            },
            Instr::Binary(op, a, b, _) => binary(
                op,
                resolve(a, inputs, regs, len),
                resolve(b, inputs, regs, len),
                dst,
            ),
            Instr::Ternary(op, a, b, c, _) => {
                let [ba, bb, bc] = &mut scratch.broadcast;
                let a = as_slice(resolve(a, inputs, regs, len), ba, len);
                let b = as_slice(resolve(b, inputs, regs, len), bb, len);
                let c = as_slice(resolve(c, inputs, regs, len), bc, len);
                ternary(op, a, b, c, dst);
            }
        }
        if let (Some(r), Some(reg)) = (dst_reg, taken) {
            scratch.registers[r] = reg;
        }
    }
}

fn instr_dst(instr: &Instr) -> Dst {
    match *instr {
        Instr::Copy(_, d) | Instr::Unary(_, _, d) | Instr::Binary(_, _, _, d) => d,
        Instr::Ternary(_, _, _, _, d) => d,
    }
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
fn map1(src: &[f32], dst: &mut [f32], f: impl Fn(f32) -> f32) {
    for (d, &x) in dst.iter_mut().zip(src) {
        *d = f(x);
    }
}

/// The fast transcendental path, then `std` for elements outside its range.
#[inline(always)]
fn map1_with_fixup(op: UnaryOp, src: &[f32], dst: &mut [f32], fast: impl Fn(f32) -> f32) {
    map1(src, dst, fast);
    let any_bad = src
        .iter()
        .fold(false, |acc, &x| acc | math::needs_fixup(op, x));
    if any_bad {
        for (d, &x) in dst.iter_mut().zip(src) {
            if math::needs_fixup(op, x) {
                *d = op.apply(x);
            }
        }
    }
}

#[inline(always)]
fn unary(op: UnaryOp, src: &[f32], dst: &mut [f32]) {
    match op {
        UnaryOp::Neg => map1(src, dst, |x| -x),
        UnaryOp::Abs => map1(src, dst, f32::abs),
        UnaryOp::Floor => map1(src, dst, f32::floor),
        UnaryOp::Ceil => map1(src, dst, f32::ceil),
        UnaryOp::Sqrt => map1(src, dst, f32::sqrt),
        UnaryOp::Sin => map1_with_fixup(op, src, dst, math::sin),
        UnaryOp::Cos => map1_with_fixup(op, src, dst, math::cos),
        UnaryOp::Tan => map1_with_fixup(op, src, dst, math::tan),
        UnaryOp::Exp => map1_with_fixup(op, src, dst, math::exp),
        UnaryOp::Ln => map1_with_fixup(op, src, dst, math::ln),
        UnaryOp::Tanh => map1_with_fixup(op, src, dst, math::tanh),
    }
}

#[inline(always)]
fn map2(a: Operand<'_>, b: Operand<'_>, dst: &mut [f32], f: impl Fn(f32, f32) -> f32) {
    match (a, b) {
        (Operand::Slice(a), Operand::Slice(b)) => {
            for ((d, &x), &y) in dst.iter_mut().zip(a).zip(b) {
                *d = f(x, y);
            }
        }
        (Operand::Slice(a), Operand::Scalar(y)) => {
            for (d, &x) in dst.iter_mut().zip(a) {
                *d = f(x, y);
            }
        }
        (Operand::Scalar(x), Operand::Slice(b)) => {
            for (d, &y) in dst.iter_mut().zip(b) {
                *d = f(x, y);
            }
        }
        (Operand::Scalar(x), Operand::Scalar(y)) => dst.fill(f(x, y)),
    }
}

#[inline(always)]
fn binary(op: BinaryOp, a: Operand<'_>, b: Operand<'_>, dst: &mut [f32]) {
    match op {
        BinaryOp::Add => map2(a, b, dst, |x, y| x + y),
        BinaryOp::Sub => map2(a, b, dst, |x, y| x - y),
        BinaryOp::Mul => map2(a, b, dst, |x, y| x * y),
        BinaryOp::Div => map2(a, b, dst, |x, y| x / y),
        BinaryOp::Min => map2(a, b, dst, f32::min),
        BinaryOp::Max => map2(a, b, dst, f32::max),
        BinaryOp::Pow => map2(a, b, dst, f32::powf),
        BinaryOp::Lt => map2(a, b, dst, |x, y| truth(x < y)),
        BinaryOp::Le => map2(a, b, dst, |x, y| truth(x <= y)),
        BinaryOp::Gt => map2(a, b, dst, |x, y| truth(x > y)),
        BinaryOp::Ge => map2(a, b, dst, |x, y| truth(x >= y)),
        BinaryOp::Eq => map2(a, b, dst, |x, y| truth(x == y)),
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
