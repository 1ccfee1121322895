//! Reductions on the CPU: SIMD within a block, blocks over rayon, and a
//! pairwise tree over the partial results.
//!
//! A block of up to 8192 values (read straight from the input, or produced
//! by the map kernel into a per-thread scratch block: the fused map-reduce
//! never materialises the mapped array) is folded into 128 running
//! accumulators, which the compiler keeps in vector registers; the
//! accumulators are then combined pairwise. `Min` and `Max` also track NaN
//! in a separate mask, so that NaN propagates whatever the hardware's min
//! and max instructions do with it.

use super::exec::{run_block, Scratch, BLOCK};
use super::{Program, MAX_INPUTS};
use crate::reduce::Reduce;
use multiversion::multiversion;
use rayon::prelude::*;

/// Running accumulators per block: 64 values per accumulator over a full
/// block, and eight AVX-512 (sixteen AVX2) registers.
const ACCUMULATORS: usize = 128;

/// The reduction of `values` (at most a block) with `op`.
#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512cd+avx512dq+avx512vl+avx2+fma",
    "x86_64+avx2+fma",
    "x86_64+sse4.2",
    "aarch64+neon"
))]
pub(crate) fn reduce_slice(op: Reduce, values: &[f32]) -> f32 {
    match op {
        Reduce::Sum => fold(values, 0.0, |a, x| a + x, op),
        Reduce::Product => fold(values, 1.0, |a, x| a * x, op),
        Reduce::Min => fold_nan_aware(values, f32::INFINITY, |a, x| if x < a { x } else { a }, op),
        Reduce::Max => fold_nan_aware(
            values,
            f32::NEG_INFINITY,
            |a, x| if x > a { x } else { a },
            op,
        ),
    }
}

#[inline(always)]
fn fold(values: &[f32], neutral: f32, f: impl Fn(f32, f32) -> f32, op: Reduce) -> f32 {
    let mut acc = [neutral; ACCUMULATORS];
    let chunks = values.chunks_exact(ACCUMULATORS);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (a, &x) in acc.iter_mut().zip(chunk) {
            *a = f(*a, x);
        }
    }
    for (a, &x) in acc.iter_mut().zip(rest) {
        *a = f(*a, x);
    }
    op.combine_pairwise(&acc)
}

#[inline(always)]
fn fold_nan_aware(values: &[f32], neutral: f32, f: impl Fn(f32, f32) -> f32, op: Reduce) -> f32 {
    let mut acc = [neutral; ACCUMULATORS];
    let mut nan = [0u32; ACCUMULATORS];
    let chunks = values.chunks_exact(ACCUMULATORS);
    let rest = chunks.remainder();
    for chunk in chunks {
        for ((a, m), &x) in acc.iter_mut().zip(nan.iter_mut()).zip(chunk) {
            *a = f(*a, x);
            *m |= x.is_nan() as u32;
        }
    }
    for ((a, m), &x) in acc.iter_mut().zip(nan.iter_mut()).zip(rest) {
        *a = f(*a, x);
        *m |= x.is_nan() as u32;
    }
    if nan.iter().fold(0, |m, &x| m | x) != 0 {
        return f32::NAN;
    }
    op.combine_pairwise(&acc)
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
    let partial = |b: usize, state: &mut Option<(Scratch, Vec<f32>)>| -> f32 {
        let (start, end) = (b * BLOCK, ((b + 1) * BLOCK).min(n));
        match program {
            None => reduce_slice(op, &inputs[0][start..end]),
            Some(p) => {
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
