//! The tracer: turns one call of a user's closure into a [`Kernel`].
//!
//! While a closure is being traced, a thread-local tracer records every
//! operation applied to the [`Expr`] handles it was given. Handles are `Copy`
//! indices into that record, so a closure may use its argument any number of
//! times. Equal nodes are stored once (hash-consing), so `v * v` reads `v`
//! once. Tracers nest (a closure may itself call `gpu::map`): each trace gets
//! a fresh id, and a handle used inside a trace it does not belong to makes
//! that trace fail with [`Error::ForeignExpr`] instead of building a wrong
//! kernel.

use super::kernel::{Kernel, Node, NodeId};
use super::Expr;
use crate::error::{Error, Result};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::mem::ManuallyDrop;

/// Beyond this many nodes, deduplication switches from a linear scan to a map.
const LINEAR_DEDUP_LIMIT: usize = 48;

/// Nodes a trace makes room for at its start.
const TYPICAL_NODES: usize = 16;

pub(crate) struct Tracer {
    id: u32,
    nodes: Vec<Node>,
    index: Option<HashMap<Node, NodeId>>,
    misuse: Option<String>,
}

thread_local! {
    static STACK: RefCell<Vec<Tracer>> = const { RefCell::new(Vec::new()) };
    /// The stack while `STACK` is gone: in a thread-local's destructor that
    /// runs after `STACK`'s. It has no destructor (so it never goes), and
    /// it gives its memory back whenever it is empty, so nothing leaks.
    static LATE_STACK: RefCell<ManuallyDrop<Vec<Tracer>>> =
        const { RefCell::new(ManuallyDrop::new(Vec::new())) };
    static NEXT_ID: Cell<u32> = const { Cell::new(1) };
}

/// Runs `f` on this thread's tracer stack.
fn with_stack<R>(f: impl FnOnce(&mut Vec<Tracer>) -> R) -> R {
    let mut f = Some(f);
    let mut run = |stack: &mut Vec<Tracer>| (f.take().expect("called at most once"))(stack);
    if let Ok(r) = STACK.try_with(|s| run(&mut s.borrow_mut())) {
        return r;
    }
    LATE_STACK.with(|s| {
        let mut stack = s.borrow_mut();
        let r = run(&mut stack);
        if stack.is_empty() {
            drop(std::mem::take(&mut **stack));
        }
        r
    })
}

impl Tracer {
    pub(crate) fn intern(&mut self, node: Node) -> NodeId {
        if let Some(index) = &self.index {
            if let Some(&id) = index.get(&node) {
                return id;
            }
        } else if let Some(pos) = self.nodes.iter().position(|n| *n == node) {
            return pos as NodeId;
        }
        let id = self.nodes.len() as NodeId;
        self.nodes.push(node);
        match &mut self.index {
            Some(index) => {
                index.insert(node, id);
            }
            None if self.nodes.len() > LINEAR_DEDUP_LIMIT => {
                let map = self
                    .nodes
                    .iter()
                    .enumerate()
                    .map(|(i, n)| (*n, i as NodeId))
                    .collect();
                self.index = Some(map);
            }
            None => {}
        }
        id
    }
}

/// Pops the tracer even when the user's closure panics.
struct PopOnDrop;

impl Drop for PopOnDrop {
    fn drop(&mut self) {
        with_stack(|s| {
            s.pop();
        });
    }
}

/// Runs `f` with `arity` fresh input handles and returns the kernel it built.
pub(crate) fn trace<F>(arity: u8, f: F) -> Result<Kernel>
where
    F: FnOnce(&[Expr]) -> Expr,
{
    let id = NEXT_ID.with(|n| {
        let id = n.get();
        // Zero is reserved for "no trace"; wrapping after 4 billion traces is harmless
        // because handles from long-finished traces are caught by the stack check.
        n.set(id.wrapping_add(1).max(1));
        id
    });
    // Room for typical closures, so that tracing one does not regrow it.
    let mut inputs = Vec::with_capacity(TYPICAL_NODES);
    inputs.extend((0..arity).map(Node::Input));
    with_stack(|s| {
        s.push(Tracer {
            id,
            nodes: inputs,
            index: None,
            misuse: None,
        })
    });
    let guard = PopOnDrop;
    // On the stack for the usual one or two inputs.
    let mut few = [Expr::invalid(); 4];
    let many: Vec<Expr>;
    let args: &[Expr] = if usize::from(arity) <= few.len() {
        for (i, arg) in few.iter_mut().enumerate().take(arity.into()) {
            *arg = Expr::node(id, i as NodeId);
        }
        &few[..arity.into()]
    } else {
        many = (0..arity as NodeId).map(|i| Expr::node(id, i)).collect();
        &many
    };
    let result = f(args);
    let root = match result.repr() {
        super::Repr::Const(c) => with_tracer(id, |t| t.intern(Node::Const(c.to_bits()))),
        super::Repr::Node { trace, id: node } if trace == id => Some(node),
        _ => {
            record_misuse("the closure returned an expression that was built outside this trace");
            None
        }
    };
    let tracer = with_stack(|s| {
        s.pop()
            .expect("the tracer pushed by this call is still on the stack")
    });
    std::mem::forget(guard);
    if let Some(why) = tracer.misuse {
        return Err(Error::ForeignExpr { detail: why });
    }
    let root = root.expect("a root is found whenever no misuse was recorded");
    Ok(prune(tracer.nodes, root, arity))
}

/// Keeps only the nodes the root depends on, renumbered in order, with the
/// root last.
fn prune(mut nodes: Vec<Node>, root: NodeId, arity: u8) -> Kernel {
    // On the stack for kernels of up to 64 nodes.
    let mut few = [false; 64];
    let mut many = Vec::new();
    let live: &mut [bool] = if nodes.len() <= few.len() {
        &mut few[..nodes.len()]
    } else {
        many.resize(nodes.len(), false);
        &mut many
    };
    live[root as usize] = true;
    for i in (0..=root as usize).rev() {
        if live[i] {
            for op in nodes[i].operands() {
                live[op as usize] = true;
            }
        }
    }
    // Usually every node up to the root is live: nothing to renumber.
    if live[..=root as usize].iter().all(|&l| l) {
        nodes.truncate(root as usize + 1);
        return Kernel::from_nodes(nodes, arity);
    }
    let mut new_id = vec![NodeId::MAX; nodes.len()];
    let mut kept = Vec::with_capacity(nodes.len());
    for (i, node) in nodes.iter().enumerate().take(root as usize + 1) {
        if !live[i] {
            continue;
        }
        let map = |a: NodeId| new_id[a as usize];
        let renamed = match *node {
            Node::Input(_) | Node::Const(_) => *node,
            Node::Unary(op, a) => Node::Unary(op, map(a)),
            Node::Binary(op, a, b) => Node::Binary(op, map(a), map(b)),
            Node::Ternary(op, a, b, c) => Node::Ternary(op, map(a), map(b), map(c)),
        };
        new_id[i] = kept.len() as NodeId;
        kept.push(renamed);
    }
    Kernel::from_nodes(kept, arity)
}

/// Runs `f` on the innermost tracer if it is trace `id`; otherwise records
/// the misuse on whatever tracer is innermost and returns `None`.
pub(crate) fn with_tracer<R>(id: u32, f: impl FnOnce(&mut Tracer) -> R) -> Option<R> {
    with_stack(|stack| match stack.last_mut() {
        Some(t) if t.id == id => Some(f(t)),
        Some(t) => {
            t.misuse.get_or_insert_with(|| {
                "an expression from another trace (or one kept after its trace ended) \
                     was used inside this closure"
                    .to_string()
            });
            None
        }
        None => None,
    })
}

/// Adds `node` to trace `id`, returning its handle, or an invalid handle if
/// `id` is not the innermost active trace.
pub(crate) fn push(id: u32, node: Node) -> Expr {
    match with_tracer(id, |t| t.intern(node)) {
        Some(n) => Expr::node(id, n),
        None => Expr::invalid(),
    }
}

/// Marks the innermost trace as failed with `why`.
pub(crate) fn record_misuse(why: &str) {
    with_stack(|s| {
        if let Some(t) = s.last_mut() {
            t.misuse.get_or_insert_with(|| why.to_string());
        }
    });
}
