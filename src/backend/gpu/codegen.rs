//! WGSL generation: a [`Kernel`] becomes the `kernel` function of
//! `shaders/ops.wgsl`, followed by an entry file (`map.wgsl`, `reduce.wgsl`).
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

/// Parameters, bindings and helpers shared by every shader, as shipped.
pub const OPS: &str = include_str!("../../../shaders/ops.wgsl");

/// The map entry point, appended to [`OPS`].
pub const MAP_ENTRY: &str = include_str!("../../../shaders/map.wgsl");

/// The reduction entry point, appended to [`OPS`].
pub const REDUCE_ENTRY: &str = include_str!("../../../shaders/reduce.wgsl");

/// Where the replaceable `kernel` function starts in [`OPS`].
const KERNEL_MARKER: &str = "fn kernel(";

/// [`OPS`] with its `kernel` function replaced by `kernel`'s.
fn with_kernel(kernel: &Kernel, entry: &str) -> String {
    let cut = OPS
        .rfind(KERNEL_MARKER)
        .expect("shaders/ops.wgsl defines fn kernel");
    let mut src = String::with_capacity(cut + 64 * kernel.nodes().len() + entry.len() + 64);
    src.push_str(&OPS[..cut]);
    src.push_str(&kernel_function(kernel));
    src.push('\n');
    src.push_str(entry);
    src
}

/// The complete WGSL source of the map shader for `kernel`.
pub fn map_shader(kernel: &Kernel) -> String {
    with_kernel(kernel, MAP_ENTRY)
}

/// The complete WGSL source of the reduction shader for `kernel`, with
/// subgroup operations or with the portable workgroup tree.
pub fn reduce_shader(kernel: &Kernel, subgroups: bool) -> String {
    if subgroups {
        with_kernel(kernel, REDUCE_ENTRY)
    } else {
        with_kernel(kernel, &strip_region(REDUCE_ENTRY, "subgroups"))
    }
}

/// `source` without the lines from `// NAME:begin` to `// NAME:end`.
pub fn strip_region(source: &str, name: &str) -> String {
    let (begin, end) = (format!("// {name}:begin"), format!("// {name}:end"));
    let mut inside = false;
    let mut kept = String::with_capacity(source.len());
    for line in source.lines() {
        let t = line.trim();
        if t == begin {
            inside = true;
        } else if t == end {
            inside = false;
        } else if !inside {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    kept
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
