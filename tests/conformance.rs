//! The conformance suite: written once, instantiated for every backend by
//! [`conformance_suite!`], and checked against the scalar oracle with each
//! backend's documented tolerances.

use crate::support::{check, context, edge_values, random};
use gpu::expr::{BinaryOp, UnaryOp};
use gpu::{Backend, Context, Expr, Kernel};

/// Sizes that break chunking and dispatch-grid arithmetic: empty, one, around
/// the workgroup size (256), a prime, and one past 65535 workgroups of 256.
pub const SIZES: [usize; 7] = [0, 1, 255, 256, 257, 1_000_003, 65_535 * 256 + 1];

pub fn affine_all_sizes(ctx: &Context) {
    let kernel = Kernel::unary(|v| v * 2.0 + 1.0).unwrap();
    for n in SIZES {
        let x = random(n, n as u64, -1e3, 1e3);
        let checked = check(ctx, &kernel, &[&x]);
        assert_eq!(checked, n, "every element of an affine map is determined");
        // The public call agrees with the kernel entry point, and its length is right.
        let y = ctx.map(&x, |v| v * 2.0 + 1.0).unwrap();
        assert_eq!(y.len(), n);
        if n > 0 {
            assert_eq!(y[n - 1].to_bits(), {
                let mut o = vec![0.0; n];
                ctx.run(&kernel, &[&x], &mut o).unwrap();
                o[n - 1].to_bits()
            });
        }
    }
}

pub fn map2_all_sizes(ctx: &Context) {
    let kernel = Kernel::binary(|a, b| (a * b).max(0.0) - a / (b.abs() + 1.0)).unwrap();
    for n in SIZES {
        let a = random(n, 3 * n as u64 + 1, -10.0, 10.0);
        let b = random(n, 5 * n as u64 + 2, -10.0, 10.0);
        check(ctx, &kernel, &[&a, &b]);
        let mut out = vec![0.0; n];
        ctx.map2_into(&a, &b, &mut out, |a, b| a + b).unwrap();
        for i in 0..n {
            assert_eq!(out[i], a[i] + b[i], "map2_into at {i}");
        }
    }
}

fn unary_kernel(op: UnaryOp) -> Kernel {
    Kernel::unary(|v| crate::properties::unary_expr(op, v)).unwrap()
}

pub fn binary_expr(op: BinaryOp, a: Expr, b: Expr) -> Expr {
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Min => a.min(b),
        BinaryOp::Max => a.max(b),
        BinaryOp::Pow => a.powf(b),
        BinaryOp::Lt => a.lt(b),
        BinaryOp::Le => a.le(b),
        BinaryOp::Gt => a.gt(b),
        BinaryOp::Ge => a.ge(b),
        BinaryOp::Eq => a.eq(b),
        _ => unreachable!("every binary op is listed"),
    }
}

pub fn unary_ops_edge_and_random(ctx: &Context) {
    let mut x = edge_values();
    x.extend(random(4000, 7, -20.0, 20.0));
    x.extend(random(1000, 8, -1e4, 1e4));
    x.extend(random(500, 9, 0.0, 1e-3));
    for op in UnaryOp::ALL {
        let checked = check(ctx, &unary_kernel(op), &[&x]);
        assert!(
            checked * 10 >= x.len() * 9,
            "{op}: only {checked} of {} elements were determined",
            x.len()
        );
    }
}

pub fn binary_ops_edge_pairs(ctx: &Context) {
    let edges = edge_values();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for &x in &edges {
        for &y in &edges {
            a.push(x);
            b.push(y);
        }
    }
    a.extend(random(3000, 11, -50.0, 50.0));
    b.extend(random(3000, 12, -50.0, 50.0));
    for op in BinaryOp::ALL {
        let kernel = Kernel::binary(|x, y| binary_expr(op, x, y)).unwrap();
        check(ctx, &kernel, &[&a, &b]);
    }
}

pub fn select_and_clamp_edges(ctx: &Context) {
    let edges = edge_values();
    let mut cols = [Vec::new(), Vec::new()];
    for &x in &edges {
        for &y in &edges {
            cols[0].push(x);
            cols[1].push(y);
        }
    }
    // Third operands derived from the first two keep the kernels binary.
    let kernels = [
        Kernel::binary(|c, v| c.select(v, -v)).unwrap(),
        Kernel::binary(|c, v| c.lt(v).select(c, 2.5)).unwrap(),
        Kernel::binary(|v, lo| v.clamp(lo, lo + 1.0)).unwrap(),
        Kernel::binary(|v, hi| v.clamp(-1.0, hi)).unwrap(),
        Kernel::binary(|v, lo| v.clamp(lo, 0.5)).unwrap(),
    ];
    for k in &kernels {
        check(ctx, k, &[&cols[0], &cols[1]]);
    }
}

pub fn fused_expressions(ctx: &Context) {
    let x = random(20_000, 21, -4.0, 4.0);
    let kernels = [
        Kernel::unary(|v| v.sin() * (-v).exp()).unwrap(),
        Kernel::unary(|v| v * v + v.sin()).unwrap(),
        Kernel::unary(|v| (v.tanh() + 1.0).ln() * 0.5 - v.cos().abs().sqrt()).unwrap(),
        Kernel::unary(|v| v.gt(0.0).select(v.powf(1.5), (v * 3.0).floor() / 3.0)).unwrap(),
        Kernel::unary(|v| (v.exp() - 1.0).max(v.ceil()).clamp(-2.0, 10.0)).unwrap(),
        Kernel::unary(|v| 1.0 - v / (v * v + 1.0)).unwrap(),
    ];
    for k in &kernels {
        let checked = check(ctx, k, &[&x]);
        assert!(
            checked * 10 >= x.len() * 9,
            "`{k}`: only {checked} of {} determined",
            x.len()
        );
    }
}

/// More than one 128 MiB storage binding: 2^25 + 17 f32 (128 MiB + 68 bytes).
pub fn larger_than_one_binding(ctx: &Context) {
    let n = (1usize << 25) + 17;
    let x: Vec<f32> = (0..n).map(|i| (i % 4093) as f32 - 2000.0).collect();
    let y = ctx.map(&x, |v| v * 0.5 - 3.0).unwrap();
    assert_eq!(y.len(), n);
    for (i, (&got, &v)) in y.iter().zip(&x).enumerate() {
        assert_eq!(got, v * 0.5 - 3.0, "element {i} of {n}");
    }
}

/// Instantiates the suite for one backend as a module of `#[test]`s.
macro_rules! conformance_suite {
    ($module:ident, $backend:expr) => {
        mod $module {
            use super::*;

            fn ctx(test: &str) -> Option<Context> {
                context($backend, test)
            }

            #[test]
            fn affine_all_sizes() {
                if let Some(c) = ctx("affine_all_sizes") {
                    super::affine_all_sizes(&c)
                }
            }
            #[test]
            fn map2_all_sizes() {
                if let Some(c) = ctx("map2_all_sizes") {
                    super::map2_all_sizes(&c)
                }
            }
            #[test]
            fn unary_ops_edge_and_random() {
                if let Some(c) = ctx("unary_ops_edge_and_random") {
                    super::unary_ops_edge_and_random(&c)
                }
            }
            #[test]
            fn binary_ops_edge_pairs() {
                if let Some(c) = ctx("binary_ops_edge_pairs") {
                    super::binary_ops_edge_pairs(&c)
                }
            }
            #[test]
            fn select_and_clamp_edges() {
                if let Some(c) = ctx("select_and_clamp_edges") {
                    super::select_and_clamp_edges(&c)
                }
            }
            #[test]
            fn fused_expressions() {
                if let Some(c) = ctx("fused_expressions") {
                    super::fused_expressions(&c)
                }
            }
            #[test]
            fn larger_than_one_binding() {
                if let Some(c) = ctx("larger_than_one_binding") {
                    super::larger_than_one_binding(&c)
                }
            }
        }
    };
}

conformance_suite!(scalar, Backend::Scalar);
conformance_suite!(cpu, Backend::Cpu);
conformance_suite!(gpu_backend, Backend::Gpu);
conformance_suite!(auto, Backend::Auto);
