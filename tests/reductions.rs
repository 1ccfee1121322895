//! Reductions and fused map-reductions: one suite, instantiated per backend
//! (the GPU twice: with subgroup operations where the adapter has them, and
//! with the portable workgroup tree), checked against the scalar oracle.

use crate::conformance::SIZES;
use crate::support::{bounds, context, model, random};
use gpu::{Backend, Context, Error, Kernel, Reduce};

/// The documented bound on a blocked, pairwise sum's error, in units of
/// `2^-24 · Σ|x|`, with room for the GPU's longer grid-stride runs.
fn sum_error_units(n: usize) -> f64 {
    160.0 + (n as f64 + 1.0).log2()
}

/// Checks the backend's reduction of `kernel` over `inputs` against the
/// oracle's, allowing each element the backend's own error bound. Elements
/// whose mapped value is undetermined on this backend (see `bounds`) are
/// left out of both sides; the rest must agree.
pub fn check_reduction(ctx: &Context, kernel: &Kernel, inputs: &[&[f32]], op: Reduce) {
    if inputs[0].is_empty() {
        let r = ctx.run_reduce(kernel, inputs, op);
        match op.empty_result() {
            Some(v) => assert_eq!(r.unwrap(), v, "{} {op} of nothing", ctx.backend()),
            None => assert!(
                matches!(r, Err(Error::EmptyInput { .. })),
                "{} {op} of nothing: {r:?}",
                ctx.backend()
            ),
        }
        return;
    }
    let m = model(ctx.backend());
    let mut args = vec![0.0; inputs.len()];
    let mut kept: Vec<Vec<f32>> = vec![Vec::with_capacity(inputs[0].len()); inputs.len()];
    let (mut values, mut element_error) = (Vec::new(), Vec::new());
    for i in 0..inputs[0].len() {
        for (a, x) in args.iter_mut().zip(inputs) {
            *a = x[i];
        }
        let (v, d) = bounds::bound(kernel, &args, &m);
        if d.is_finite() {
            for (k, &a) in kept.iter_mut().zip(&args) {
                k.push(a);
            }
            values.push(v);
            element_error.push(d);
        }
    }
    let n = values.len();
    if n == 0 {
        return;
    }
    // Partial results that may overflow or underflow in one order and not in
    // another leave the result undetermined (documented on `Reduce`).
    let undetermined = match op {
        Reduce::Sum => values.iter().map(|v| v.abs() as f64).sum::<f64>() > f32::MAX as f64,
        Reduce::Product => {
            let logs = values.iter().map(|v| (v.abs() as f64).log2());
            let up: f64 = logs.clone().filter(|l| *l > 0.0).sum();
            let down: f64 = logs.filter(|l| *l < 0.0).sum();
            up >= 128.0 || down <= -126.0
        }
        Reduce::Min | Reduce::Max => false,
    };
    if undetermined && !values.iter().any(|v| v.is_nan()) {
        return;
    }
    let inputs: Vec<&[f32]> = kept.iter().map(|k| k.as_slice()).collect();
    let inputs = &inputs[..];
    let got = ctx
        .run_reduce(kernel, inputs, op)
        .unwrap_or_else(|e| panic!("{} {op} of `{kernel}` over {n}: {e}", ctx.backend()));
    let want = Context::new(Backend::Scalar)
        .unwrap()
        .run_reduce(kernel, inputs, op)
        .unwrap();
    let context = || {
        format!(
            "{} {op} of `{kernel}` over {n} elements: got {got:e}, oracle {want:e}",
            ctx.backend()
        )
    };
    if want.is_nan() || values.iter().any(|v| v.is_nan()) {
        assert!(got.is_nan(), "{}", context());
        return;
    }
    let flush = if m.flushes_subnormals {
        f32::MIN_POSITIVE as f64 * n as f64
    } else {
        0.0
    };
    let allowed = match op {
        Reduce::Min | Reduce::Max => element_error.iter().fold(0.0f64, |a, &d| a.max(d)) + flush,
        Reduce::Sum => {
            let abs_sum: f64 = values.iter().map(|v| v.abs() as f64).sum();
            let mapped: f64 = element_error.iter().sum();
            sum_error_units(n) * f32::EPSILON as f64 / 2.0 * (abs_sum + mapped) + mapped + flush
        }
        Reduce::Product => {
            let relative: f64 = element_error
                .iter()
                .zip(&values)
                .map(|(d, v)| d / (v.abs() as f64).max(1e-30))
                .sum();
            // Every multiplication rounds once whatever the order: (n - 1) roundings.
            (want.abs() as f64) * (n as f64 * f32::EPSILON as f64 / 2.0 + relative * 1.5) + flush
        }
    };
    if want.is_infinite() || got.is_infinite() {
        assert!(got == want || allowed.is_infinite(), "{}", context());
        return;
    }
    let err = (got as f64 - want as f64).abs();
    assert!(
        err <= allowed,
        "{}: error {err:e} > allowed {allowed:e}",
        context()
    );
}

pub fn every_reduction_every_size(ctx: &Context) {
    let identity = Kernel::unary(|v| v).unwrap();
    for n in SIZES {
        let x = random(n, 7 * n as u64 + 3, -100.0, 100.0);
        for op in [Reduce::Sum, Reduce::Min, Reduce::Max] {
            check_reduction(ctx, &identity, &[&x], op);
        }
        // Products of values near 1 stay in range at every size.
        let near_one: Vec<f32> = random(n, n as u64 + 5, -1e-4, 1e-4)
            .iter()
            .map(|u| 1.0 + u)
            .collect();
        check_reduction(ctx, &identity, &[&near_one], Reduce::Product);
        // The convenience calls agree with the kernel entry point.
        if n > 0 {
            assert_eq!(ctx.max(&x).unwrap(), ctx.reduce(&x, Reduce::Max).unwrap());
            assert_eq!(
                ctx.min(&x).unwrap(),
                x.iter().copied().fold(f32::INFINITY, f32::min)
            );
            let mean = ctx.mean(&x).unwrap();
            assert!((mean - ctx.sum(&x).unwrap() / n as f32).abs() <= 1e-6 * mean.abs().max(1.0));
        }
    }
}

pub fn fused_map_reduce(ctx: &Context) {
    for n in [1usize, 257, 1_000_003] {
        let x = random(n, n as u64, -3.0, 3.0);
        let y = random(n, n as u64 + 1, -3.0, 3.0);
        check_reduction(ctx, &Kernel::unary(|v| v * v).unwrap(), &[&x], Reduce::Sum);
        check_reduction(
            ctx,
            &Kernel::unary(|v| v.sin()).unwrap(),
            &[&x],
            Reduce::Max,
        );
        check_reduction(
            ctx,
            &Kernel::unary(|v| v.abs() + 1.0).unwrap(),
            &[&x],
            Reduce::Min,
        );
        check_reduction(
            ctx,
            &Kernel::binary(|a, b| a * b).unwrap(),
            &[&x, &y],
            Reduce::Sum,
        );
        check_reduction(
            ctx,
            &Kernel::binary(|a, b| (a - b).abs()).unwrap(),
            &[&x, &y],
            Reduce::Max,
        );
        // The public calls: a dot product is one call.
        let dot = ctx.map2_reduce(&x, &y, |a, b| a * b, Reduce::Sum).unwrap();
        let exact: f64 = x.iter().zip(&y).map(|(a, b)| *a as f64 * *b as f64).sum();
        let abs: f64 = x
            .iter()
            .zip(&y)
            .map(|(a, b)| (*a as f64 * *b as f64).abs())
            .sum();
        assert!(
            (dot as f64 - exact).abs() <= 1e-5 * abs + 1e-30,
            "dot over {n}: {dot} vs {exact}"
        );
        let ss = ctx.map_reduce(&x, |v| v * v, Reduce::Sum).unwrap();
        assert!(ss > 0.0);
    }
}

/// One-step kernels take a dedicated fused path on the CPU; cover each form
/// with every reduction, a tail that is not a multiple of the vector width,
/// and a NaN.
pub fn one_step_kernels_every_reduction(ctx: &Context) {
    let n = 8192 * 2 + 77;
    let a = random(n, 31, 0.5, 1.5);
    let b = random(n, 32, 0.5, 1.5);
    let unary: Vec<Kernel> = vec![
        Kernel::unary(|v| v.abs()).unwrap(),
        Kernel::unary(|v| -v).unwrap(),
        Kernel::unary(|v| v * v).unwrap(),
        Kernel::unary(|v| v + v).unwrap(),
        Kernel::unary(|v| v + 0.25).unwrap(),
        Kernel::unary(|v| v - 0.25).unwrap(),
        Kernel::unary(|v| 2.0 - v).unwrap(),
        Kernel::unary(|v| v * 1.01).unwrap(),
    ];
    let binary: Vec<Kernel> = vec![
        Kernel::binary(|x, y| x + y).unwrap(),
        Kernel::binary(|x, y| x - y).unwrap(),
        Kernel::binary(|x, y| y - x).unwrap(),
        Kernel::binary(|x, y| x * y).unwrap(),
    ];
    let mut with_nan = a.clone();
    with_nan[n - 5] = f32::NAN;
    for op in Reduce::ALL {
        for k in &unary {
            check_reduction(ctx, k, &[&a], op);
            let r = ctx.run_reduce(k, &[&with_nan], op).unwrap();
            assert!(
                r.is_nan(),
                "{} {op} of `{k}` with a NaN gave {r}",
                ctx.backend()
            );
        }
        for k in &binary {
            check_reduction(ctx, k, &[&a, &b], op);
        }
    }
}

pub fn empty_nan_and_infinities(ctx: &Context) {
    let empty: [f32; 0] = [];
    assert_eq!(ctx.sum(&empty).unwrap(), 0.0);
    assert_eq!(ctx.product(&empty).unwrap(), 1.0);
    for (name, result) in [
        ("min", ctx.min(&empty)),
        ("max", ctx.max(&empty)),
        ("mean", ctx.mean(&empty)),
    ] {
        let err = result.unwrap_err();
        assert!(matches!(err, Error::EmptyInput { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!("{name} of an empty input is undefined (0 elements)")
        );
    }
    assert_eq!(
        ctx.map_reduce(&empty, |v| v * 2.0, Reduce::Sum).unwrap(),
        0.0
    );
    assert!(ctx.map_reduce(&empty, |v| v * 2.0, Reduce::Max).is_err());
    // NaN anywhere, at any position (first, middle of a block, last), wins.
    for n in [1usize, 300, 20_000] {
        for pos in [0, n / 2, n - 1] {
            let mut x = random(n, pos as u64, -1.0, 1.0);
            x[pos] = f32::NAN;
            for op in Reduce::ALL {
                let r = ctx.reduce(&x, op).unwrap();
                assert!(
                    r.is_nan(),
                    "{} {op} with NaN at {pos} of {n} gave {r}",
                    ctx.backend()
                );
            }
        }
    }
    let inf = f32::INFINITY;
    assert_eq!(ctx.sum(&[1.0, inf, 2.0]).unwrap(), inf);
    assert!(ctx.sum(&[inf, -inf]).unwrap().is_nan());
    assert_eq!(ctx.max(&[-inf, 3.0]).unwrap(), 3.0);
    assert_eq!(ctx.max(&[-inf, inf]).unwrap(), inf);
    assert_eq!(ctx.min(&[-inf, 3.0]).unwrap(), -inf);
    assert_eq!(ctx.min(&[inf, inf]).unwrap(), inf);
    assert_eq!(ctx.product(&[2.0, -inf]).unwrap(), -inf);
    assert!(ctx.product(&[0.0, inf]).unwrap().is_nan());
    assert_eq!(ctx.max(&[f32::MAX, f32::MIN]).unwrap(), f32::MAX);
    assert_eq!(ctx.sum(&[f32::MAX, f32::MAX]).unwrap(), inf);
}

pub fn sum_accuracy_uniform_2_pow_24(ctx: &Context) {
    let n = 1 << 24;
    let x = random(n, 24, 0.0, 1.0);
    let exact: f64 = x.iter().map(|&v| v as f64).sum();
    let got = ctx.sum(&x).unwrap() as f64;
    let rel = (got - exact).abs() / exact;
    assert!(
        rel <= 1e-6,
        "{} sum of 2^24 uniform values: relative error {rel:e}",
        ctx.backend()
    );
}

pub fn sum_accuracy_ill_conditioned(ctx: &Context) {
    // Alternating signs over twelve decades: the sum is tiny next to Σ|x|.
    let n = 1_000_003;
    let x: Vec<f32> = random(n, 99, 1.0, 10.0)
        .iter()
        .enumerate()
        .map(|(i, &m)| {
            let scale = 10f32.powi((i % 12) as i32 - 6);
            if i % 2 == 0 {
                m * scale
            } else {
                -m * scale
            }
        })
        .collect();
    let exact: f64 = x.iter().map(|&v| v as f64).sum();
    let abs: f64 = x.iter().map(|&v| (v as f64).abs()).sum();
    let got = ctx.sum(&x).unwrap() as f64;
    let bound = sum_error_units(n) * f32::EPSILON as f64 / 2.0 * abs;
    assert!(
        (got - exact).abs() <= bound,
        "{} ill-conditioned sum: error {:e} > documented bound {bound:e} (sum {exact:e}, Σ|x| {abs:e})",
        ctx.backend(),
        (got - exact).abs()
    );
}

/// More than one 128 MiB storage binding.
pub fn reductions_larger_than_one_binding(ctx: &Context) {
    let n = (1usize << 25) + 17;
    let x: Vec<f32> = (0..n).map(|i| ((i % 1000) as f32) * 0.001 - 0.4).collect();
    let identity = Kernel::unary(|v| v).unwrap();
    check_reduction(ctx, &identity, &[&x], Reduce::Sum);
    check_reduction(ctx, &identity, &[&x], Reduce::Max);
    let mut y = x.clone();
    y[n - 3] = -7.0;
    assert_eq!(
        ctx.min(&y).unwrap(),
        -7.0,
        "{} min past the first chunk",
        ctx.backend()
    );
}

macro_rules! reduction_suite {
    ($module:ident, $make:expr) => {
        mod $module {
            use super::*;

            fn ctx(test: &str) -> Option<Context> {
                let make: fn(&str) -> Option<Context> = $make;
                make(test)
            }

            #[test]
            fn every_reduction_every_size() {
                if let Some(c) = ctx("reductions::every_reduction_every_size") {
                    super::every_reduction_every_size(&c)
                }
            }
            #[test]
            fn fused_map_reduce() {
                if let Some(c) = ctx("reductions::fused_map_reduce") {
                    super::fused_map_reduce(&c)
                }
            }
            #[test]
            fn one_step_kernels_every_reduction() {
                if let Some(c) = ctx("reductions::one_step_kernels_every_reduction") {
                    super::one_step_kernels_every_reduction(&c)
                }
            }
            #[test]
            fn empty_nan_and_infinities() {
                if let Some(c) = ctx("reductions::empty_nan_and_infinities") {
                    super::empty_nan_and_infinities(&c)
                }
            }
            #[test]
            fn sum_accuracy_uniform_2_pow_24() {
                if let Some(c) = ctx("reductions::sum_accuracy_uniform_2_pow_24") {
                    super::sum_accuracy_uniform_2_pow_24(&c)
                }
            }
            #[test]
            fn sum_accuracy_ill_conditioned() {
                if let Some(c) = ctx("reductions::sum_accuracy_ill_conditioned") {
                    super::sum_accuracy_ill_conditioned(&c)
                }
            }
            #[test]
            fn reductions_larger_than_one_binding() {
                if let Some(c) = ctx("reductions::reductions_larger_than_one_binding") {
                    super::reductions_larger_than_one_binding(&c)
                }
            }
        }
    };
}

reduction_suite!(scalar, |t| context(Backend::Scalar, t));
reduction_suite!(cpu, |t| context(Backend::Cpu, t));
reduction_suite!(auto, |t| context(Backend::Auto, t));
reduction_suite!(gpu_backend, |t| context(Backend::Gpu, t));
reduction_suite!(gpu_portable_tree, |t| context(Backend::Gpu, t)
    .map(Context::without_gpu_subgroups));
