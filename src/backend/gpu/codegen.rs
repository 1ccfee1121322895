//! WGSL generation: a [`Kernel`] becomes the `kernel` function of
//! `shaders/map.wgsl`.
//!
//! Each node becomes one `let`, in the kernel's topological order, so shared
//! subexpressions are computed once. Operations whose WGSL builtins leave
//! NaN, infinities or precision to the implementation call the template's
//! `op_*` helpers, which pin them to the library's semantics, and every
//! operand goes through the template's opaque `oa`/`ob`/`oc` so that the
//! shader compiler can neither fold NaN-unsafe identities (`x - x`, `x * 0`)
//! nor contract `a * b + c` into one rounding.

use crate::expr::{BinaryOp, Kernel, Node, TernaryOp, UnaryOp};
use std::fmt::Write;

/// The map shader template, as shipped.
pub const MAP_TEMPLATE: &str = include_str!("../../../shaders/map.wgsl");

/// Where the replaceable `kernel` function starts in the template.
const KERNEL_MARKER: &str = "fn kernel(";

/// The complete WGSL source of the map shader for `kernel`.
pub fn map_shader(kernel: &Kernel) -> String {
    let cut = MAP_TEMPLATE
        .rfind(KERNEL_MARKER)
        .expect("shaders/map.wgsl defines fn kernel");
    let mut src = String::with_capacity(cut + 64 * kernel.nodes().len() + 64);
    src.push_str(&MAP_TEMPLATE[..cut]);
    src.push_str(&kernel_function(kernel));
    src
}

/// `fn kernel(x0: f32, x1: f32) -> f32 { … }` for `kernel`.
pub fn kernel_function(kernel: &Kernel) -> String {
    let mut body = String::new();
    let _ = writeln!(body, "fn kernel(x0: f32, x1: f32) -> f32 {{");
    for (i, node) in kernel.nodes().iter().enumerate() {
        let value = match *node {
            Node::Input(k) => format!("x{k}"),
            Node::Const(bits) => constant(f32::from_bits(bits)),
            Node::Unary(op, a) => unary(op, &operand(a, 'a')),
            Node::Binary(op, a, b) => binary(op, &operand(a, 'a'), &operand(b, 'b')),
            Node::Ternary(op, a, b, c) => {
                let f = match op {
                    TernaryOp::Select => "op_select",
                    TernaryOp::Clamp => "op_clamp",
                };
                format!(
                    "{f}({}, {}, {})",
                    operand(a, 'a'),
                    operand(b, 'b'),
                    operand(c, 'c')
                )
            }
        };
        let _ = writeln!(body, "    let v{i} = {value};");
    }
    let _ = writeln!(body, "    return v{};\n}}", kernel.root());
    body
}

/// Node `id` read in operand slot `slot`, through that slot's opaque zero.
fn operand(id: u32, slot: char) -> String {
    format!("o{slot}(v{id})")
}

/// A WGSL expression for the constant `c`, exact to the bit.
fn constant(c: f32) -> String {
    if c.is_nan() {
        "params.nan".to_string()
    } else if c.is_infinite() {
        if c > 0.0 {
            "params.inf".to_string()
        } else {
            "(-params.inf)".to_string()
        }
    } else if c.is_normal() && c.is_sign_positive() {
        // `{:?}` prints the shortest decimal that reads back as the same f32.
        format!("{c:?}f")
    } else {
        // Zeros (either sign), subnormals and negatives: spell the bits.
        format!("bitcast<f32>({:#010x}u)", c.to_bits())
    }
}

fn unary(op: UnaryOp, a: &str) -> String {
    match op {
        UnaryOp::Neg => format!("-{a}"),
        UnaryOp::Abs => format!("abs({a})"),
        UnaryOp::Floor => format!("op_floor({a})"),
        UnaryOp::Ceil => format!("op_ceil({a})"),
        UnaryOp::Sqrt => format!("op_sqrt({a})"),
        UnaryOp::Sin => format!("op_sin({a})"),
        UnaryOp::Cos => format!("op_cos({a})"),
        UnaryOp::Tan => format!("op_tan({a})"),
        UnaryOp::Exp => format!("op_exp({a})"),
        UnaryOp::Ln => format!("op_ln({a})"),
        UnaryOp::Tanh => format!("op_tanh({a})"),
    }
}

fn binary(op: BinaryOp, a: &str, b: &str) -> String {
    match op {
        BinaryOp::Add => format!("{a} + {b}"),
        BinaryOp::Sub => format!("{a} - {b}"),
        BinaryOp::Mul => format!("{a} * {b}"),
        BinaryOp::Div => format!("op_div({a}, {b})"),
        BinaryOp::Min => format!("op_min({a}, {b})"),
        BinaryOp::Max => format!("op_max({a}, {b})"),
        BinaryOp::Pow => format!("op_pow({a}, {b})"),
        BinaryOp::Lt => format!("op_lt({a}, {b})"),
        BinaryOp::Le => format!("op_le({a}, {b})"),
        BinaryOp::Gt => format!("op_gt({a}, {b})"),
        BinaryOp::Ge => format!("op_ge({a}, {b})"),
        BinaryOp::Eq => format!("op_eq({a}, {b})"),
    }
}
