//! Compiles a [`Kernel`] into a register program for the block executor.
//!
//! The CPU backend evaluates a kernel one *block* of elements at a time: each
//! instruction runs over the whole block before the next one starts, so every
//! instruction is a tight loop the compiler vectorises, and the intermediate
//! values of a block stay in L1. This module turns the kernel's nodes into
//! such instructions and assigns block-sized registers to intermediate values,
//! reusing a register once its last reader has run.

use crate::expr::{BinaryOp, Kernel, Node, TernaryOp, UnaryOp};

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

/// One vector instruction over a block.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Instr {
    Copy(Src, Dst),
    Unary(UnaryOp, Src, Dst),
    Binary(BinaryOp, Src, Src, Dst),
    Ternary(TernaryOp, Src, Src, Src, Dst),
}

/// A compiled kernel: instructions plus the number of registers they use.
#[derive(Debug)]
pub(crate) struct Program {
    pub instrs: Vec<Instr>,
    pub registers: usize,
    pub arity: usize,
}

impl Program {
    pub fn compile(kernel: &Kernel) -> Program {
        let nodes = kernel.nodes();
        let root = nodes.len() - 1;
        let mut last_use = vec![0usize; nodes.len()];
        for (i, node) in nodes.iter().enumerate() {
            for op in node.operands() {
                last_use[op as usize] = i;
            }
        }
        let mut location: Vec<Option<Src>> = vec![None; nodes.len()];
        let mut free: Vec<u16> = Vec::new();
        let mut registers = 0usize;
        let mut instrs = Vec::new();
        for (i, node) in nodes.iter().enumerate() {
            let mut operands = [Src::Const(0.0); 3];
            for (slot, op) in node.operands().enumerate() {
                operands[slot] = location[op as usize].expect("operands precede their use");
            }
            let [a, b, c] = operands;
            match *node {
                Node::Input(k) => location[i] = Some(Src::Input(k)),
                Node::Const(bits) => location[i] = Some(Src::Const(f32::from_bits(bits))),
                _ => {
                    // Pick the destination before freeing operands, so an
                    // instruction never writes a register it reads.
                    let dst = if i == root {
                        Dst::Out
                    } else {
                        let r = free.pop().unwrap_or_else(|| {
                            registers += 1;
                            (registers - 1) as u16
                        });
                        location[i] = Some(Src::Reg(r));
                        Dst::Reg(r)
                    };
                    instrs.push(match *node {
                        Node::Unary(op, _) => Instr::Unary(op, a, dst),
                        Node::Binary(op, _, _) => Instr::Binary(op, a, b, dst),
                        Node::Ternary(op, _, _, _) => Instr::Ternary(op, a, b, c, dst),
                        Node::Input(_) | Node::Const(_) => unreachable!(),
                    });
                    let mut seen = [u32::MAX; 3];
                    for (slot, op) in node.operands().enumerate() {
                        if last_use[op as usize] == i && !seen.contains(&op) {
                            if let Some(Src::Reg(r)) = location[op as usize] {
                                free.push(r);
                            }
                        }
                        seen[slot] = op;
                    }
                }
            }
        }
        if matches!(nodes[root], Node::Input(_) | Node::Const(_)) {
            let src = location[root].expect("the root was placed");
            instrs.push(Instr::Copy(src, Dst::Out));
        }
        Program {
            instrs,
            registers,
            arity: kernel.arity(),
        }
    }
}
