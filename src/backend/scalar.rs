//! The scalar backend: one thread, one element at a time, written for clarity.
//!
//! It evaluates a [`Kernel`] with the reference semantics of
//! [`crate::expr::ops`], so it is the oracle every other backend is tested
//! against. It is always compiled and always available.

use crate::expr::Kernel;
use crate::reduce::Reduce;

/// Writes `kernel(inputs[0][i], inputs[1][i], …)` into `out[i]` for every `i`.
///
/// The caller has checked that every input is as long as `out` and that the
/// kernel's arity matches `inputs.len()`.
pub(crate) fn map(kernel: &Kernel, inputs: &[&[f32]], out: &mut [f32]) {
    let mut values = Vec::with_capacity(kernel.nodes().len());
    let mut args = vec![0.0f32; inputs.len()];
    for (i, o) in out.iter_mut().enumerate() {
        for (arg, input) in args.iter_mut().zip(inputs) {
            *arg = input[i];
        }
        *o = kernel.eval_with(&args, &mut values);
    }
}

/// The reference reduction of `kernel` over the inputs: sums and products in
/// `f64`, rounded once; `Min`/`Max` exact, NaN-propagating. The caller has
/// handled empty inputs.
pub(crate) fn reduce(kernel: &Kernel, inputs: &[&[f32]], n: usize, op: Reduce) -> f32 {
    let mut values = Vec::with_capacity(kernel.nodes().len());
    let mut args = vec![0.0f32; inputs.len()];
    let mut value = |i: usize| {
        for (arg, input) in args.iter_mut().zip(inputs) {
            *arg = input[i];
        }
        kernel.eval_with(&args, &mut values)
    };
    match op {
        Reduce::Sum => (0..n).map(|i| value(i) as f64).sum::<f64>() as f32,
        Reduce::Product => (0..n).map(|i| value(i) as f64).product::<f64>() as f32,
        Reduce::Min | Reduce::Max => (0..n).fold(op.neutral(), |acc, i| op.combine(acc, value(i))),
    }
}
