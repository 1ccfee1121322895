//! Reductions on the CPU: SIMD within a block, blocks over rayon, and a
//! pairwise tree over the partial results.
//!
//! A block of up to 8192 values (read straight from the input; mapped on
//! the fly for one-step kernels such as `x * x` or `a * b`; or produced by
//! the block executor into a per-thread scratch block for other kernels: the
//! fused map-reduce never materialises the mapped array) is folded into 128
//! running accumulators, which the compiler keeps in vector registers; the
//! accumulators are then combined pairwise. `Min` and `Max` also track NaN
//! separately, so that NaN propagates whatever the hardware's min and max
//! instructions do with it.

use super::exec::{run_block, Scratch, BLOCK};
use super::program::{Arg, Dst, Instr, Src, Step};
use super::simd::simd_fn;
use super::{Program, MAX_INPUTS};
use crate::expr::{BinaryOp, UnaryOp};
use crate::reduce::Reduce;
use rayon::prelude::*;

/// Running accumulators per block: 64 values per accumulator over a full
/// block, and eight AVX-512 (sixteen AVX2) registers.
const ACCUMULATORS: usize = 128;

simd_fn! {
/// The reduction of `values` (at most a block) with `op`.
pub(crate) fn reduce_slice(op: Reduce, values: &[f32]) -> f32 {
    reduce_pairs(op, values, values, |x, _| x)
}
}

simd_fn! {
/// The reduction of `map(xs[i], ys[i])` (at most a block), in one pass.
fn reduce_simple(op: Reduce, simple: Simple, xs: &[f32], ys: &[f32]) -> f32 {
    match simple {
        Simple::Abs => reduce_pairs(op, xs, ys, |x, _| x.abs()),
        Simple::Neg => reduce_pairs(op, xs, ys, |x, _| -x),
        Simple::Square => reduce_pairs(op, xs, ys, |x, _| x * x),
        Simple::Double => reduce_pairs(op, xs, ys, |x, _| x + x),
        Simple::AddConst(c) => reduce_pairs(op, xs, ys, |x, _| x + c),
        Simple::SubConst(c) => reduce_pairs(op, xs, ys, |x, _| x - c),
        Simple::ConstSub(c) => reduce_pairs(op, xs, ys, |x, _| c - x),
        Simple::MulConst(c) => reduce_pairs(op, xs, ys, |x, _| x * c),
        Simple::Add => reduce_pairs(op, xs, ys, |x, y| x + y),
        Simple::Sub => reduce_pairs(op, xs, ys, |x, y| x - y),
        Simple::Mul => reduce_pairs(op, xs, ys, |x, y| x * y),
    }
}
}

#[inline(always)]
fn reduce_pairs(op: Reduce, xs: &[f32], ys: &[f32], map: impl Fn(f32, f32) -> f32) -> f32 {
    match op {
        Reduce::Sum => fold(xs, ys, 0.0, |a, x| a + x, map),
        Reduce::Product => fold(xs, ys, 1.0, |a, x| a * x, map),
        Reduce::Min => fold_nan_aware(xs, ys, f32::INFINITY, |a, x| if x < a { x } else { a }, map),
        Reduce::Max => fold_nan_aware(
            xs,
            ys,
            f32::NEG_INFINITY,
            |a, x| if x > a { x } else { a },
            map,
        ),
    }
}

/// A one-step kernel whose reduction the fold computes directly, without
/// running the block executor: sums of squares, dot products, L1 norms…
#[derive(Clone, Copy, Debug)]
enum Simple {
    Abs,
    Neg,
    Square,
    Double,
    AddConst(f32),
    SubConst(f32),
    ConstSub(f32),
    MulConst(f32),
    Add,
    Sub,
    Mul,
}

impl Simple {
    /// The simple form of `program` and the inputs it reads `(x, y)`, if it has one.
    fn of(program: &Program) -> Option<(Simple, u8, u8)> {
        let [Instr::Chain {
            start: Src::Input(x),
            steps,
            dst: Dst::Out,
        }] = program.instrs.as_slice()
        else {
            return None;
        };
        let [step] = steps.as_slice() else {
            return None;
        };
        let x = *x;
        Some(match *step {
            Step::Unary(UnaryOp::Abs) => (Simple::Abs, x, x),
            Step::Unary(UnaryOp::Neg) => (Simple::Neg, x, x),
            Step::Binary {
                op: BinaryOp::Mul,
                arg: Arg::Same,
                ..
            } => (Simple::Square, x, x),
            Step::Binary {
                op: BinaryOp::Add,
                arg: Arg::Same,
                ..
            } => (Simple::Double, x, x),
            Step::Binary {
                op,
                arg: Arg::Src(Src::Const(c)),
                value_on_left,
            } => match (op, value_on_left) {
                (BinaryOp::Add, _) => (Simple::AddConst(c), x, x),
                (BinaryOp::Sub, true) => (Simple::SubConst(c), x, x),
                (BinaryOp::Sub, false) => (Simple::ConstSub(c), x, x),
                (BinaryOp::Mul, _) => (Simple::MulConst(c), x, x),
                _ => return None,
            },
            Step::Binary {
                op,
                arg: Arg::Src(Src::Input(y)),
                value_on_left,
            } => match (op, value_on_left) {
                (BinaryOp::Add, _) => (Simple::Add, x, y),
                (BinaryOp::Mul, _) => (Simple::Mul, x, y),
                (BinaryOp::Sub, true) => (Simple::Sub, x, y),
                (BinaryOp::Sub, false) => (Simple::Sub, y, x),
                _ => return None,
            },
            _ => return None,
        })
    }
}

#[inline(always)]
fn fold(
    xs: &[f32],
    ys: &[f32],
    neutral: f32,
    f: impl Fn(f32, f32) -> f32,
    map: impl Fn(f32, f32) -> f32,
) -> f32 {
    // Value i goes to accumulator i % ACCUMULATORS, whatever the alignment;
    // the values before the first cache-line boundary are folded first and
    // the accumulators renamed (rotated) for the rest, whose loads are then
    // aligned (see `aligned_head`). Values already aligned skip the
    // renaming: a rotation by a runtime amount, even by 0, keeps the
    // accumulators in memory rather than in registers.
    let head = aligned_head(xs);
    if head == 0 {
        let mut acc = fold_body([neutral; ACCUMULATORS], xs, ys, &f, &map);
        return fold_halves(&mut acc, f);
    }
    // The head's accumulators, already renamed: value i < head goes to
    // accumulator i, which is renamed to ACCUMULATORS - head + i.
    let mut first = [neutral; ACCUMULATORS];
    let renamed = &mut first[ACCUMULATORS - head..];
    for ((a, &x), &y) in renamed.iter_mut().zip(&xs[..head]).zip(&ys[..head]) {
        *a = f(*a, map(x, y));
    }
    let mut acc = fold_body(first, &xs[head..], &ys[head..], &f, &map);
    acc.rotate_right(head);
    fold_halves(&mut acc, f)
}

/// Folds `xs` and `ys` into the accumulators, value i into accumulator
/// i % ACCUMULATORS. Separate from the renaming around it, so that the
/// accumulators stay in registers.
#[inline(always)]
fn fold_body(
    mut acc: [f32; ACCUMULATORS],
    xs: &[f32],
    ys: &[f32],
    f: &impl Fn(f32, f32) -> f32,
    map: &impl Fn(f32, f32) -> f32,
) -> [f32; ACCUMULATORS] {
    let (xc, yc) = (xs.chunks_exact(ACCUMULATORS), ys.chunks_exact(ACCUMULATORS));
    let (xr, yr) = (xc.remainder(), yc.remainder());
    for (cx, cy) in xc.zip(yc) {
        for ((a, &x), &y) in acc.iter_mut().zip(cx).zip(cy) {
            *a = f(*a, map(x, y));
        }
    }
    for ((a, &x), &y) in acc.iter_mut().zip(xr).zip(yr) {
        *a = f(*a, map(x, y));
    }
    acc
}

/// How many values of `xs` come before its first 64-byte boundary (0 for
/// short slices). Vector loads that straddle cache lines made a reduction
/// of 16K values 55 % slower than aligned ones (AVX-512 Xeon), and host
/// data come at any alignment; the folds therefore take these values on
/// their own first.
#[inline(always)]
fn aligned_head(xs: &[f32]) -> usize {
    if xs.len() < 2 * ACCUMULATORS {
        return 0;
    }
    let misaligned = xs.as_ptr() as usize % 64;
    if !misaligned.is_multiple_of(std::mem::size_of::<f32>()) {
        return 0;
    }
    ((64 - misaligned) % 64) / std::mem::size_of::<f32>()
}

/// Folds the accumulators as a balanced tree (pairwise), in vector-wide
/// halving steps.
#[inline(always)]
fn fold_halves(acc: &mut [f32; ACCUMULATORS], f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut width = ACCUMULATORS / 2;
    while width > 0 {
        let (low, high) = acc.split_at_mut(width);
        for (a, &b) in low.iter_mut().zip(&high[..width]) {
            *a = f(*a, b);
        }
        width /= 2;
    }
    acc[0]
}

#[inline(always)]
fn fold_nan_aware(
    xs: &[f32],
    ys: &[f32],
    neutral: f32,
    f: impl Fn(f32, f32) -> f32,
    map: impl Fn(f32, f32) -> f32,
) -> f32 {
    // As in `fold`: the head first, then aligned loads into renamed
    // accumulators (the NaN flags need no renaming: only all of them count).
    let head = aligned_head(xs);
    let (mut acc, ordered) = if head == 0 {
        fold_nan_aware_body([neutral; ACCUMULATORS], true, xs, ys, &f, &map)
    } else {
        // Renamed as in `fold`.
        let mut first = [neutral; ACCUMULATORS];
        let mut ordered = true;
        let renamed = &mut first[ACCUMULATORS - head..];
        for ((a, &x), &y) in renamed.iter_mut().zip(&xs[..head]).zip(&ys[..head]) {
            let v = map(x, y);
            *a = f(*a, v);
            ordered &= !v.is_nan();
        }
        let (mut acc, body_ordered) =
            fold_nan_aware_body(first, ordered, &xs[head..], &ys[head..], &f, &map);
        acc.rotate_right(head);
        (acc, body_ordered)
    };
    if !ordered {
        return f32::NAN;
    }
    fold_halves(&mut acc, f)
}

/// [`fold_body`] with NaN tracked: the accumulators, and whether every
/// value (and `ordered`, what came before) was a number.
#[inline(always)]
fn fold_nan_aware_body(
    mut acc: [f32; ACCUMULATORS],
    ordered: bool,
    xs: &[f32],
    ys: &[f32],
    f: &impl Fn(f32, f32) -> f32,
    map: &impl Fn(f32, f32) -> f32,
) -> ([f32; ACCUMULATORS], bool) {
    // Per lane: whether every value so far was a number, kept as a byte mask
    // so that it costs one compare per vector (a float "poison" sum cost 2.5x).
    let mut lanes = [true; ACCUMULATORS];
    let (xc, yc) = (xs.chunks_exact(ACCUMULATORS), ys.chunks_exact(ACCUMULATORS));
    let (xr, yr) = (xc.remainder(), yc.remainder());
    for (cx, cy) in xc.zip(yc) {
        for (((a, o), &x), &y) in acc.iter_mut().zip(lanes.iter_mut()).zip(cx).zip(cy) {
            let v = map(x, y);
            *a = f(*a, v);
            *o &= !v.is_nan();
        }
    }
    for (((a, o), &x), &y) in acc.iter_mut().zip(lanes.iter_mut()).zip(xr).zip(yr) {
        let v = map(x, y);
        *a = f(*a, v);
        *o &= !v.is_nan();
    }
    (acc, ordered && lanes.iter().all(|&o| o))
}

/// Reduces `kernel(inputs…)` over `n` elements (`program` is `None` for the
/// identity kernel, which reduces the input directly). `n > 0`.
pub(crate) fn reduce(
    program: Option<&Program>,
    inputs: &[&[f32]],
    n: usize,
    op: Reduce,
    parallel: bool,
) -> f32 {
    let blocks = n.div_ceil(BLOCK);
    let simple = program.and_then(Simple::of);
    let partial = |b: usize, state: &mut Option<(Scratch, Vec<f32>)>| -> f32 {
        let (start, end) = (b * BLOCK, ((b + 1) * BLOCK).min(n));
        match (program, simple) {
            (None, _) => reduce_slice(op, &inputs[0][start..end]),
            (Some(_), Some((s, x, y))) => reduce_simple(
                op,
                s,
                &inputs[x as usize][start..end],
                &inputs[y as usize][start..end],
            ),
            (Some(p), None) => {
                let (scratch, buffer) =
                    state.get_or_insert_with(|| (Scratch::new(p, BLOCK), vec![0.0; BLOCK]));
                let mut block_inputs: [&[f32]; MAX_INPUTS] = [&[]; MAX_INPUTS];
                for (slot, input) in block_inputs.iter_mut().zip(inputs) {
                    *slot = &input[start..end];
                }
                let out = &mut buffer[..end - start];
                run_block(p, &block_inputs[..inputs.len()], out, scratch);
                reduce_slice(op, out)
            }
        }
    };
    let partials: Vec<f32> = if parallel {
        (0..blocks)
            .into_par_iter()
            .map_init(|| None, |state, b| partial(b, state))
            .collect()
    } else {
        let mut state = None;
        (0..blocks).map(|b| partial(b, &mut state)).collect()
    };
    op.combine_pairwise(&partials)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same values at every alignment give bit-identical results: the
    /// aligned head only renames accumulators, it never reorders a sum (or
    /// a product: its values are near 1, so that it stays finite and every
    /// rounding shows). A NaN anywhere, the head included, gives NaN for
    /// `Min` and `Max` at every alignment.
    #[test]
    fn results_do_not_depend_on_alignment() {
        let n = 3 * ACCUMULATORS + 37;
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut random = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32
        };
        let wide: Vec<f32> = (0..n + 16).map(|_| random() * 2e3 - 1e3).collect();
        let near_one: Vec<f32> = (0..n + 16).map(|_| 1.0 + (random() - 0.5) * 2e-2).collect();
        for (op, buffer) in [
            (Reduce::Sum, &wide),
            (Reduce::Product, &near_one),
            (Reduce::Min, &wide),
            (Reduce::Max, &wide),
        ] {
            let reference: Vec<u32> = (0..16)
                .map(|k| reduce_slice(op, &buffer[k..k + n]).to_bits())
                .collect();
            if op == Reduce::Product {
                assert!(f32::from_bits(reference[0]).is_normal());
            }
            // The same windows again, each copied to the start of a fresh
            // vector, so that every window is also seen at other offsets.
            for k in 0..16 {
                let mut shifted = vec![0.0f32; n + 16];
                for s in 0..16 {
                    shifted[s..s + n].copy_from_slice(&buffer[k..k + n]);
                    let got = reduce_slice(op, &shifted[s..s + n]).to_bits();
                    assert_eq!(got, reference[k], "{op:?}, window {k}, offset {s}");
                }
            }
        }
        for op in [Reduce::Min, Reduce::Max] {
            for at in [0, 5, 15, 16, 200, n - 1] {
                let mut values = wide[..n].to_vec();
                values[at] = f32::NAN;
                let mut shifted = vec![0.0f32; n + 16];
                for s in 0..16 {
                    shifted[s..s + n].copy_from_slice(&values);
                    let got = reduce_slice(op, &shifted[s..s + n]);
                    assert!(got.is_nan(), "{op:?}, NaN at {at}, offset {s}: {got}");
                }
            }
        }
    }
}
