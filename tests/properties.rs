//! Property tests: random expression trees on random and edge inputs, every
//! backend against the scalar oracle; and the generated WGSL for each tree
//! validates.

use crate::support::{check, context, edge_values, random};
use gpu::expr::{BinaryOp, TernaryOp, UnaryOp};
use gpu::{Backend, Expr, Kernel, Reduce};
use proptest::prelude::*;

/// A random expression over two inputs, as plain data.
#[derive(Clone, Debug)]
pub enum Tree {
    Input(u8),
    Const(f32),
    Unary(UnaryOp, Box<Tree>),
    Binary(BinaryOp, Box<Tree>, Box<Tree>),
    Ternary(TernaryOp, Box<Tree>, Box<Tree>, Box<Tree>),
}

pub fn unary_expr(op: UnaryOp, v: Expr) -> Expr {
    match op {
        UnaryOp::Neg => -v,
        UnaryOp::Abs => v.abs(),
        UnaryOp::Floor => v.floor(),
        UnaryOp::Ceil => v.ceil(),
        UnaryOp::Sqrt => v.sqrt(),
        UnaryOp::Sin => v.sin(),
        UnaryOp::Cos => v.cos(),
        UnaryOp::Tan => v.tan(),
        UnaryOp::Exp => v.exp(),
        UnaryOp::Ln => v.ln(),
        UnaryOp::Tanh => v.tanh(),
        _ => unreachable!("every unary op is listed"),
    }
}

impl Tree {
    pub fn build(&self, args: &[Expr]) -> Expr {
        match self {
            Tree::Input(i) => args[*i as usize],
            Tree::Const(c) => Expr::constant(*c),
            Tree::Unary(op, a) => unary_expr(*op, a.build(args)),
            Tree::Binary(op, a, b) => {
                crate::conformance::binary_expr(*op, a.build(args), b.build(args))
            }
            Tree::Ternary(TernaryOp::Select, a, b, c) => {
                a.build(args).select(b.build(args), c.build(args))
            }
            Tree::Ternary(_, a, b, c) => a.build(args).clamp(b.build(args), c.build(args)),
        }
    }

    pub fn kernel(&self) -> Kernel {
        Kernel::binary(|a, b| self.build(&[a, b])).unwrap()
    }
}

fn tree() -> impl Strategy<Value = Tree> {
    let leaf = prop_oneof![
        3 => (0u8..2).prop_map(Tree::Input),
        1 => prop_oneof![Just(0.0f32), Just(-1.0), Just(0.5), Just(2.0), Just(3.0), -4.0f32..4.0].prop_map(Tree::Const),
    ];
    leaf.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            (
                proptest::sample::select(UnaryOp::ALL.to_vec()),
                inner.clone()
            )
                .prop_map(|(op, a)| Tree::Unary(op, Box::new(a))),
            (
                proptest::sample::select(BinaryOp::ALL.to_vec()),
                inner.clone(),
                inner.clone()
            )
                .prop_map(|(op, a, b)| Tree::Binary(op, Box::new(a), Box::new(b))),
            (
                proptest::sample::select(vec![TernaryOp::Select, TernaryOp::Clamp]),
                inner.clone(),
                inner.clone(),
                inner
            )
                .prop_map(|(op, a, b, c)| Tree::Ternary(
                    op,
                    Box::new(a),
                    Box::new(b),
                    Box::new(c)
                )),
        ]
    })
}

/// Inputs: mostly moderate random values, plus edge values.
fn inputs(seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut a = random(300, seed, -4.0, 4.0);
    let mut b = random(300, seed ^ 0xabc, -4.0, 4.0);
    let e = edge_values();
    a.extend(e.iter().copied());
    b.extend(e.iter().rev().copied());
    (a, b)
}

fn check_backend(backend: Backend, t: &Tree, seed: u64) {
    let Some(ctx) = context(backend, "properties::random_trees") else {
        return;
    };
    let (a, b) = inputs(seed);
    check(&ctx, &t.kernel(), &[&a, &b]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_trees_cpu_matches_oracle(t in tree(), seed in any::<u64>()) {
        check_backend(Backend::Cpu, &t, seed);
    }

    #[test]
    fn random_trees_generate_valid_wgsl(t in tree()) {
        let k = t.kernel();
        crate::shaders::validate(&format!("the shader for `{k}`"), &gpu::__private::map_shader(&k));
        crate::shaders::validate(&format!("the reduce shader for `{k}`"), &gpu::__private::reduce_shader(&k, true));
    }

    #[test]
    fn tracing_is_deterministic(t in tree()) {
        prop_assert_eq!(t.kernel(), t.kernel());
    }
}

fn check_reduction_backend(backend: Backend, t: &Tree, seed: u64, op: Reduce) {
    let Some(ctx) = context(backend, "properties::random_tree_reductions") else {
        return;
    };
    let (a, b) = inputs(seed);
    crate::reductions::check_reduction(&ctx, &t.kernel(), &[&a, &b], op);
}

fn reduce_op() -> impl Strategy<Value = Reduce> {
    proptest::sample::select(Reduce::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_tree_reductions_cpu_match_oracle(t in tree(), seed in any::<u64>(), op in reduce_op()) {
        check_reduction_backend(Backend::Cpu, &t, seed, op);
    }

    #[test]
    fn random_tree_reductions_gpu_match_oracle(t in tree(), seed in any::<u64>(), op in reduce_op()) {
        check_reduction_backend(Backend::Gpu, &t, seed, op);
    }
}

proptest! {
    // Each case compiles a pipeline; lavapipe makes that slow-ish.
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_trees_gpu_matches_oracle(t in tree(), seed in any::<u64>()) {
        check_backend(Backend::Gpu, &t, seed);
    }
}
