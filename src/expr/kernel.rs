//! [`Kernel`]: a traced expression as data.
//!
//! A kernel is a list of [`Node`]s in topological order (every operand comes
//! before its use) whose last node is the result. Equal subexpressions are
//! stored once, nodes the result does not use are dropped, and constant
//! subexpressions are folded while tracing, so two closures that compute the
//! same thing produce equal kernels. Kernels are `Eq + Hash`, which is what the
//! backends key their compiled forms on.

use super::ops::{BinaryOp, TernaryOp, UnaryOp};
use std::fmt;

/// Index of a node inside its [`Kernel`].
pub type NodeId = u32;

/// One step of a kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Node {
    /// The `i`-th input array's element.
    Input(u8),
    /// A constant, stored as its bit pattern so that kernels can be hashed.
    Const(u32),
    /// An operation on one earlier node.
    Unary(UnaryOp, NodeId),
    /// An operation on two earlier nodes.
    Binary(BinaryOp, NodeId, NodeId),
    /// An operation on three earlier nodes.
    Ternary(TernaryOp, NodeId, NodeId, NodeId),
}

impl Node {
    /// The constant's value, if this node is a constant.
    ///
    /// ```
    /// use gpu::expr::Node;
    /// assert_eq!(Node::Const(2.5f32.to_bits()).constant(), Some(2.5));
    /// assert_eq!(Node::Input(0).constant(), None);
    /// ```
    pub fn constant(&self) -> Option<f32> {
        match *self {
            Node::Const(bits) => Some(f32::from_bits(bits)),
            _ => None,
        }
    }

    /// The nodes this node reads, in order.
    ///
    /// ```
    /// use gpu::expr::{BinaryOp, Node, TernaryOp};
    /// assert_eq!(Node::Binary(BinaryOp::Sub, 2, 0).operands().collect::<Vec<_>>(), [2, 0]);
    /// assert_eq!(Node::Ternary(TernaryOp::Clamp, 0, 1, 2).operands().count(), 3);
    /// assert_eq!(Node::Input(0).operands().count(), 0);
    /// ```
    pub fn operands(&self) -> impl Iterator<Item = NodeId> {
        let (list, len): ([NodeId; 3], usize) = match *self {
            Node::Input(_) | Node::Const(_) => ([0; 3], 0),
            Node::Unary(_, a) => ([a, 0, 0], 1),
            Node::Binary(_, a, b) => ([a, b, 0], 2),
            Node::Ternary(_, a, b, c) => ([a, b, c], 3),
        };
        list.into_iter().take(len)
    }
}

/// A traced elementwise kernel: `arity` inputs, one output.
///
/// Made by tracing a closure over [`Expr`](crate::Expr) values, for example
/// with [`Kernel::unary`]; printable, comparable and hashable.
///
/// ```
/// let k = gpu::Kernel::unary(|v| v * 2.0 + 1.0)?;
/// assert_eq!(k.to_string(), "x0 * 2 + 1");
/// assert_eq!(k.eval(&[3.0]), 7.0);
/// # Ok::<(), gpu::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Kernel {
    nodes: Vec<Node>,
    arity: u8,
}

impl Kernel {
    /// Builds a kernel from nodes in topological order whose last node is the
    /// result. Used by the tracer, which guarantees the invariants.
    pub(crate) fn from_nodes(nodes: Vec<Node>, arity: u8) -> Kernel {
        debug_assert!(!nodes.is_empty());
        Kernel { nodes, arity }
    }

    /// The kernel that returns its one input unchanged (plain reductions).
    pub(crate) fn identity() -> Kernel {
        Kernel::from_nodes(vec![Node::Input(0)], 1)
    }

    /// Whether this kernel returns its first input unchanged.
    ///
    /// ```
    /// assert!(gpu::Kernel::unary(|v| v)?.is_identity());
    /// assert!(!gpu::Kernel::unary(|v| v * 1.0)?.is_identity());
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn is_identity(&self) -> bool {
        self.nodes == [Node::Input(0)]
    }

    /// The nodes, in topological order; the last one is the result.
    ///
    /// ```
    /// use gpu::expr::{BinaryOp::{Add, Mul}, Node};
    /// let k = gpu::Kernel::unary(|v| v * v + 1.0)?;
    /// let one = Node::Const(1f32.to_bits());
    /// assert_eq!(k.nodes(), [Node::Input(0), Node::Binary(Mul, 0, 0), one, Node::Binary(Add, 1, 2)]);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// How many input arrays the kernel reads (1 for `map`, 2 for `map2`).
    ///
    /// ```
    /// assert_eq!(gpu::Kernel::unary(|v| v + 1.0)?.arity(), 1);
    /// assert_eq!(gpu::Kernel::binary(|a, b| a + b)?.arity(), 2);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn arity(&self) -> usize {
        self.arity as usize
    }

    /// The id of the result node (always the last one).
    ///
    /// ```
    /// use gpu::expr::{Node, UnaryOp};
    /// let k = gpu::Kernel::unary(|v| (v + 1.0).sqrt())?;
    /// assert_eq!(k.root() as usize, k.nodes().len() - 1);
    /// assert!(matches!(k.nodes()[k.root() as usize], Node::Unary(UnaryOp::Sqrt, _)));
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn root(&self) -> NodeId {
        (self.nodes.len() - 1) as NodeId
    }

    /// Number of operations (nodes that are neither inputs nor constants),
    /// each counted once however costly. The cost model weighs them instead:
    /// see [`Kernel::work_per_element`].
    ///
    /// ```
    /// let k = gpu::Kernel::unary(|v| (v * 2.0).sin() + 2.0)?;
    /// assert_eq!(k.op_count(), 3); // `*`, `sin` and `+`
    /// assert_eq!(gpu::Kernel::unary(|v| v)?.op_count(), 0);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn op_count(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| !matches!(n, Node::Input(_) | Node::Const(_)))
            .count()
    }

    /// Weighted work per element, in units of one addition: transcendental
    /// functions count more than arithmetic. Used by the cost model, which
    /// divides it by the CPU's rate measured on additions and
    /// multiplications; the weights of the transcendental functions are
    /// what they cost the CPU backend against that: on the H200's 16-core
    /// host, `sin(v) * exp(-v)` ran at 2.3 times the cost per value of the
    /// calibration's 32-unit kernel, about 32 units per function.
    ///
    /// ```
    /// let light = gpu::Kernel::unary(|v| v * 2.0 + 1.0)?;
    /// assert_eq!(light.work_per_element(), 2.0);
    /// let heavy = gpu::Kernel::unary(|v| v.sin() * 2.0)?;
    /// assert!(heavy.work_per_element() > 10.0 * light.work_per_element());
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn work_per_element(&self) -> f64 {
        self.nodes
            .iter()
            .map(|n| match n {
                Node::Input(_) | Node::Const(_) => 0.0,
                Node::Unary(op, _) => match op {
                    UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Floor | UnaryOp::Ceil => 1.0,
                    UnaryOp::Sqrt => 4.0,
                    UnaryOp::Sin | UnaryOp::Cos | UnaryOp::Exp | UnaryOp::Ln => 32.0,
                    UnaryOp::Tan | UnaryOp::Tanh => 48.0,
                },
                Node::Binary(op, _, _) => match op {
                    BinaryOp::Div => 4.0,
                    BinaryOp::Pow => 96.0,
                    _ => 1.0,
                },
                Node::Ternary(_, _, _, _) => 2.0,
            })
            .sum()
    }

    /// Evaluates the kernel on one element with the reference semantics of
    /// [`crate::expr::ops`]: `inputs[i]` is the `i`-th input's value.
    ///
    /// Missing inputs read as NaN.
    ///
    /// ```
    /// let k = gpu::Kernel::binary(|a, b| (a * b).max(0.0))?;
    /// assert_eq!(k.eval(&[2.0, -3.0]), 0.0);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn eval(&self, inputs: &[f32]) -> f32 {
        let mut values = Vec::with_capacity(self.nodes.len());
        self.eval_with(inputs, &mut values)
    }

    /// [`Kernel::eval`] with caller-provided scratch space, so that a loop
    /// over many elements does not allocate.
    pub(crate) fn eval_with(&self, inputs: &[f32], values: &mut Vec<f32>) -> f32 {
        values.clear();
        for node in &self.nodes {
            let v = match *node {
                Node::Input(i) => inputs.get(i as usize).copied().unwrap_or(f32::NAN),
                Node::Const(bits) => f32::from_bits(bits),
                Node::Unary(op, a) => op.apply(values[a as usize]),
                Node::Binary(op, a, b) => op.apply(values[a as usize], values[b as usize]),
                Node::Ternary(op, a, b, c) => {
                    op.apply(values[a as usize], values[b as usize], values[c as usize])
                }
            };
            values.push(v);
        }
        values[values.len() - 1]
    }

    /// Node `id` as an expression, or its name `tN` where `named` says it
    /// is bound by a `let` (an empty `named`: nothing is).
    fn write_node(
        &self,
        f: &mut fmt::Formatter<'_>,
        id: NodeId,
        parent_prec: u8,
        named: &[bool],
    ) -> fmt::Result {
        if named.get(id as usize) == Some(&true) {
            write!(f, "t{id}")
        } else {
            self.write_op(f, id, parent_prec, named)
        }
    }

    /// Node `id`'s operation, its operands written by [`Kernel::write_node`].
    fn write_op(
        &self,
        f: &mut fmt::Formatter<'_>,
        id: NodeId,
        parent_prec: u8,
        named: &[bool],
    ) -> fmt::Result {
        match self.nodes[id as usize] {
            Node::Input(i) => write!(f, "x{i}"),
            Node::Const(bits) => write_constant(f, f32::from_bits(bits)),
            Node::Unary(UnaryOp::Neg, a) => {
                let wrap = parent_prec > PREC_UNARY;
                f.write_str(if wrap { "(-" } else { "-" })?;
                self.write_node(f, a, PREC_UNARY, named)?;
                f.write_str(if wrap { ")" } else { "" })
            }
            Node::Unary(op, a) => {
                self.write_node(f, a, PREC_METHOD, named)?;
                write!(f, ".{}()", op.name())
            }
            Node::Binary(op, a, b) => match op.symbol() {
                Some(sym) => {
                    let prec = infix_precedence(op);
                    if prec < parent_prec {
                        f.write_str("(")?;
                    }
                    self.write_node(f, a, prec, named)?;
                    write!(f, " {sym} ")?;
                    // Left-associative: the right operand needs parentheses at equal precedence.
                    self.write_node(f, b, prec + 1, named)?;
                    if prec < parent_prec {
                        f.write_str(")")?;
                    }
                    Ok(())
                }
                None => {
                    self.write_node(f, a, PREC_METHOD, named)?;
                    write!(f, ".{}(", op.name())?;
                    self.write_node(f, b, 0, named)?;
                    f.write_str(")")
                }
            },
            Node::Ternary(op, a, b, c) => {
                self.write_node(f, a, PREC_METHOD, named)?;
                write!(f, ".{}(", op.name())?;
                self.write_node(f, b, 0, named)?;
                f.write_str(", ")?;
                self.write_node(f, c, 0, named)?;
                f.write_str(")")
            }
        }
    }
}

const PREC_COMPARE: u8 = 1;
const PREC_ADD: u8 = 2;
const PREC_MUL: u8 = 3;
const PREC_UNARY: u8 = 5;
/// The receiver of a method call binds tighter than unary minus.
const PREC_METHOD: u8 = 6;

fn infix_precedence(op: BinaryOp) -> u8 {
    match op {
        BinaryOp::Add | BinaryOp::Sub => PREC_ADD,
        BinaryOp::Mul | BinaryOp::Div => PREC_MUL,
        _ => PREC_COMPARE,
    }
}

fn write_constant(f: &mut fmt::Formatter<'_>, c: f32) -> fmt::Result {
    if c.is_nan() {
        f.write_str("NaN")
    } else if c.is_infinite() {
        f.write_str(if c > 0.0 { "inf" } else { "-inf" })
    } else if c.is_sign_negative() {
        write!(f, "({c:?})")
    } else if c.fract() == 0.0 && c.abs() < 1e15 {
        write!(f, "{c}")
    } else {
        write!(f, "{c:?}")
    }
}

/// Most nodes (inputs and constants included) a kernel is printed with as
/// one expression. A node used twice is stored once but printed at each
/// use, so 30 squarings in a row would print 2^30 of them; past this,
/// shared operations are named instead.
const PRINT_EXPANDED_MAX: u64 = 256;

impl fmt::Display for Kernel {
    /// Prints the kernel as a Rust-like expression over `x0`, `x1`, … . A
    /// kernel that would print more than 256 nodes that way, by repeating
    /// shared operations, is printed as a block that names each one once:
    /// `{ let t1 = x0 * x0; let t2 = t1 * t1; … }`.
    ///
    /// ```
    /// let k = gpu::Kernel::unary(|v| (v * v).sin() + (v * v).cos())?;
    /// assert_eq!(k.to_string(), "(x0 * x0).sin() + (x0 * x0).cos()");
    /// let deep = gpu::Kernel::unary(|v| (0..30).fold(v, |a, _| a * a))?;
    /// let text = deep.to_string();
    /// assert!(text.starts_with("{ let t1 = x0 * x0; let t2 = t1 * t1;"), "{text}");
    /// assert!(text.ends_with("t29 * t29 }"), "{text}");
    /// // Long, but nothing repeated: one expression still.
    /// let long = gpu::Kernel::unary(|v| (2..100).fold(v, |a, i| a + v * i as f32))?;
    /// assert!(long.to_string().starts_with("x0 + x0 * 2 + x0 * 3"), "{long}");
    /// # Ok::<(), gpu::Error>(())
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut expanded: Vec<u64> = Vec::with_capacity(self.nodes.len());
        for node in &self.nodes {
            let size = node
                .operands()
                .fold(1u64, |sum, o| sum.saturating_add(expanded[o as usize]));
            expanded.push(size);
        }
        if expanded
            .last()
            .is_none_or(|&size| size <= PRINT_EXPANDED_MAX)
        {
            return self.write_node(f, self.root(), 0, &[]);
        }
        let mut uses = vec![0u32; self.nodes.len()];
        for node in &self.nodes {
            for o in node.operands() {
                uses[o as usize] += 1;
            }
        }
        let named: Vec<bool> = self
            .nodes
            .iter()
            .zip(&uses)
            .map(|(node, &n)| n > 1 && !matches!(node, Node::Input(_) | Node::Const(_)))
            .collect();
        if !named.contains(&true) {
            // Large, but each operation printed once: as it is.
            return self.write_node(f, self.root(), 0, &[]);
        }
        f.write_str("{ ")?;
        for id in (0..self.nodes.len()).filter(|&i| named[i]) {
            write!(f, "let t{id} = ")?;
            self.write_op(f, id as NodeId, 0, &named)?;
            f.write_str("; ")?;
        }
        self.write_node(f, self.root(), 0, &named)?;
        f.write_str(" }")
    }
}
