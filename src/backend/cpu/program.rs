//! Compiles a [`Kernel`] into a register program for the block executor.
//!
//! The CPU backend evaluates a kernel one *block* of elements at a time. The
//! unit of work is a **chain**: a start value followed by steps that each
//! transform the running value (a unary function, or a binary operation with
//! a constant, an input, a register or the value itself). The executor runs a
//! chain over a small tile of elements held in CPU registers, so `x * 2 + 1`
//! or `(x * x - 0.25).max(0.0).sqrt()` is one pass over memory with no
//! intermediate stores. Only values that several nodes read (or that a
//! ternary operation needs) are written to block-sized scratch registers,
//! which are reused once their last reader has run.

use crate::expr::{BinaryOp, Kernel, Node, NodeId, TernaryOp, UnaryOp};

/// Where an instruction reads an operand from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Src {
    /// The block of input array `i`.
    Input(u8),
    /// A scratch register.
    Reg(u16),
    /// A constant, broadcast.
    Const(f32),
}

/// Where an instruction writes its result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dst {
    /// A scratch register, never one the same instruction reads.
    Reg(u16),
    /// The output block.
    Out,
}

/// The second operand of a binary step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Arg {
    /// Read from a source.
    Src(Src),
    /// The running value itself (`v * v`).
    Same,
}

/// One transformation of a chain's running value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Step {
    Unary(UnaryOp),
    /// `value op arg` when `value_on_left`, else `arg op value`.
    Binary {
        op: BinaryOp,
        arg: Arg,
        value_on_left: bool,
    },
}

/// One instruction over a block.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Instr {
    /// Start from `start`, apply `steps`, write to `dst`.
    Chain {
        start: Src,
        steps: Vec<Step>,
        dst: Dst,
    },
    Ternary(TernaryOp, Src, Src, Src, Dst),
}

/// A compiled kernel: instructions plus the number of registers they use.
#[derive(Debug)]
pub(crate) struct Program {
    pub instrs: Vec<Instr>,
    pub registers: usize,
    pub arity: usize,
    /// Whether the program streams: one chain of plain arithmetic steps
    /// (`+ - * /`, min, max) from its inputs to the output, with no
    /// registers and no scratch memory, so its blocks can be longer (see
    /// `exec::STREAM_BLOCK`).
    pub streams: bool,
}

/// A chain being built: the node whose value it computes so far.
struct Open {
    start: Src,
    steps: Vec<Step>,
    result: NodeId,
}

struct Compiler<'k> {
    nodes: &'k [Node],
    /// For each node, how many operand slots read it, and the last reader.
    readers: Vec<usize>,
    last_use: Vec<usize>,
    location: Vec<Option<Src>>,
    /// The node each register holds.
    register_node: Vec<NodeId>,
    free: Vec<u16>,
    instrs: Vec<Instr>,
}

impl Compiler<'_> {
    fn root(&self) -> NodeId {
        (self.nodes.len() - 1) as NodeId
    }

    fn loc(&self, id: NodeId) -> Src {
        self.location[id as usize].expect("operands are placed before their readers")
    }

    fn allocate(&mut self, node: NodeId) -> u16 {
        let r = self.free.pop().unwrap_or_else(|| {
            self.register_node.push(node);
            (self.register_node.len() - 1) as u16
        });
        self.register_node[r as usize] = node;
        r
    }

    /// The destination for `node`'s value: the output for the root, else a
    /// fresh register (picked before any operand is freed, so an instruction
    /// never writes a register it reads).
    fn destination(&mut self, node: NodeId) -> Dst {
        if node == self.root() {
            Dst::Out
        } else {
            let r = self.allocate(node);
            self.location[node as usize] = Some(Src::Reg(r));
            Dst::Reg(r)
        }
    }

    /// Frees the registers among `read` whose last reader is at or before `upto`.
    fn release(&mut self, read: impl IntoIterator<Item = Src>, upto: NodeId) {
        for src in read {
            if let Src::Reg(r) = src {
                let node = self.register_node[r as usize];
                if self.last_use[node as usize] <= upto as usize && !self.free.contains(&r) {
                    self.free.push(r);
                }
            }
        }
    }

    fn flush(&mut self, open: Open) {
        let dst = self.destination(open.result);
        let mut read = vec![open.start];
        read.extend(open.steps.iter().filter_map(|s| match s {
            Step::Binary {
                arg: Arg::Src(src), ..
            } => Some(*src),
            _ => None,
        }));
        self.instrs.push(Instr::Chain {
            start: open.start,
            steps: open.steps,
            dst,
        });
        self.release(read, open.result);
    }

    /// Whether every reader of `id` is node `by`.
    fn only_read_by(&self, id: NodeId, by: usize, times: usize) -> bool {
        self.readers[id as usize] == times && self.last_use[id as usize] == by
    }

    /// The step that extends `open` with node `i`, if it can.
    fn extension(&self, open: &Open, i: usize) -> Option<Step> {
        let r = open.result;
        match self.nodes[i] {
            Node::Unary(op, a) if a == r && self.only_read_by(r, i, 1) => Some(Step::Unary(op)),
            Node::Binary(op, a, b) if a == r && b == r && self.only_read_by(r, i, 2) => {
                Some(Step::Binary {
                    op,
                    arg: Arg::Same,
                    value_on_left: true,
                })
            }
            Node::Binary(op, a, b) if a == r && b != r && self.only_read_by(r, i, 1) => {
                Some(Step::Binary {
                    op,
                    arg: Arg::Src(self.loc(b)),
                    value_on_left: true,
                })
            }
            Node::Binary(op, a, b) if b == r && a != r && self.only_read_by(r, i, 1) => {
                Some(Step::Binary {
                    op,
                    arg: Arg::Src(self.loc(a)),
                    value_on_left: false,
                })
            }
            _ => None,
        }
    }

    /// A new chain computing node `i` from placed operands.
    fn start(&self, i: usize) -> Open {
        let (start, step) = match self.nodes[i] {
            Node::Unary(op, a) => (self.loc(a), Step::Unary(op)),
            Node::Binary(op, a, b) if a == b => (
                self.loc(a),
                Step::Binary {
                    op,
                    arg: Arg::Same,
                    value_on_left: true,
                },
            ),
            // Start from the non-constant side, so a register or input is streamed.
            Node::Binary(op, a, b) if matches!(self.nodes[a as usize], Node::Const(_)) => (
                self.loc(b),
                Step::Binary {
                    op,
                    arg: Arg::Src(self.loc(a)),
                    value_on_left: false,
                },
            ),
            Node::Binary(op, a, b) => (
                self.loc(a),
                Step::Binary {
                    op,
                    arg: Arg::Src(self.loc(b)),
                    value_on_left: true,
                },
            ),
            _ => unreachable!("only unary and binary nodes start chains"),
        };
        Open {
            start,
            steps: vec![step],
            result: i as NodeId,
        }
    }
}

impl Program {
    pub fn compile(kernel: &Kernel) -> Program {
        let nodes = kernel.nodes();
        let mut readers = vec![0usize; nodes.len()];
        let mut last_use = vec![0usize; nodes.len()];
        for (i, node) in nodes.iter().enumerate() {
            for op in node.operands() {
                readers[op as usize] += 1;
                last_use[op as usize] = i;
            }
        }
        let mut c = Compiler {
            nodes,
            readers,
            last_use,
            location: vec![None; nodes.len()],
            register_node: Vec::new(),
            free: Vec::new(),
            instrs: Vec::new(),
        };
        let mut open: Option<Open> = None;
        for (i, node) in nodes.iter().enumerate() {
            match *node {
                Node::Input(k) => c.location[i] = Some(Src::Input(k)),
                Node::Const(bits) => c.location[i] = Some(Src::Const(f32::from_bits(bits))),
                Node::Unary(..) | Node::Binary(..) => {
                    if let Some(step) = open.as_ref().and_then(|o| c.extension(o, i)) {
                        let o = open.as_mut().expect("extension implies an open chain");
                        o.steps.push(step);
                        o.result = i as NodeId;
                        continue;
                    }
                    if let Some(o) = open.take() {
                        c.flush(o);
                    }
                    open = Some(c.start(i));
                }
                Node::Ternary(op, a, b, d) => {
                    if let Some(o) = open.take() {
                        c.flush(o);
                    }
                    let (sa, sb, sd) = (c.loc(a), c.loc(b), c.loc(d));
                    let dst = c.destination(i as NodeId);
                    c.instrs.push(Instr::Ternary(op, sa, sb, sd, dst));
                    c.release([sa, sb, sd], i as NodeId);
                }
            }
        }
        match open.take() {
            Some(o) => c.flush(o),
            None => {
                let root = c.root();
                if matches!(nodes[root as usize], Node::Input(_) | Node::Const(_)) {
                    c.instrs.push(Instr::Chain {
                        start: c.loc(root),
                        steps: Vec::new(),
                        dst: Dst::Out,
                    });
                }
            }
        }
        let registers = c.register_node.len();
        let arithmetic = |step: &Step| {
            matches!(
                step,
                Step::Binary {
                    op: BinaryOp::Add
                        | BinaryOp::Sub
                        | BinaryOp::Mul
                        | BinaryOp::Div
                        | BinaryOp::Min
                        | BinaryOp::Max,
                    ..
                }
            )
        };
        let streams = registers == 0
            && c.instrs
                .iter()
                .all(|i| matches!(i, Instr::Chain { steps, .. } if steps.iter().all(arithmetic)));
        Program {
            instrs: c.instrs,
            registers,
            arity: kernel.arity(),
            streams,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only register-free chains of plain arithmetic stream (and run in
    /// the executor's longer blocks).
    #[test]
    fn plain_arithmetic_chains_stream() {
        let streams = |k: Kernel| Program::compile(&k).streams;
        assert!(streams(Kernel::unary(|v| v * 2.0 + 1.0).unwrap()));
        assert!(streams(
            Kernel::unary(|v| (v - 1.0).max(0.0) / 3.0).unwrap()
        ));
        assert!(streams(Kernel::binary(|a, b| a * b + a).unwrap()));
        assert!(!streams(Kernel::unary(|v| v.sin() * 2.0).unwrap()));
        assert!(!streams(Kernel::unary(|v| v.powf(1.5)).unwrap()));
        assert!(!streams(
            Kernel::unary(|v| v.lt(0.0).select(v, v * 2.0)).unwrap()
        ));
        // A value two nodes read is kept in a register.
        assert!(!streams(
            Kernel::unary(|v| (v + 1.0) * (v + 1.0).sqrt()).unwrap()
        ));
    }

    #[test]
    fn affine_is_one_chain_of_two_constant_steps() {
        let k = Kernel::unary(|v| v * 2.0 + 1.0).unwrap();
        let p = Program::compile(&k);
        assert_eq!(p.registers, 0);
        assert_eq!(
            p.instrs,
            vec![Instr::Chain {
                start: Src::Input(0),
                steps: vec![
                    Step::Binary {
                        op: BinaryOp::Mul,
                        arg: Arg::Src(Src::Const(2.0)),
                        value_on_left: true
                    },
                    Step::Binary {
                        op: BinaryOp::Add,
                        arg: Arg::Src(Src::Const(1.0)),
                        value_on_left: true
                    },
                ],
                dst: Dst::Out,
            }]
        );
    }
}
