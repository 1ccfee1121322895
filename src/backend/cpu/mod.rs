//! The CPU backend: rayon across cores, SIMD within each core.
//!
//! A kernel is compiled once into a register [`Program`] (cached, keyed by the
//! kernel) and run block by block by the multiversioned executor in
//! [`exec`]. Large inputs are split into one task per few blocks and run on
//! rayon's global pool; small ones run on the calling thread, so a tiny call
//! pays neither for waking the pool nor for synchronisation.

mod exec;
pub mod math;
mod program;
pub(crate) mod reduce;
pub(crate) mod simd;

use crate::expr::Kernel;
use exec::{block_len, run_block, Scratch, BLOCK};
pub(crate) use program::Program;
use rayon::prelude::*;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Most inputs a kernel can read (`map2`).
pub(crate) const MAX_INPUTS: usize = 2;

/// Compiled programs kept at most; beyond this the cache starts over, so a
/// program that builds a new kernel per call cannot grow memory without bound.
const CACHE_CAPACITY: usize = 1024;

/// Programs each thread remembers from its last calls, looked up by
/// comparing kernels before the process-wide cache is hashed and locked.
const RECENT: usize = 4;

/// The compiled program for `kernel`: from this thread's last few calls
/// when it is among them (a loop of calls on small arrays then pays a
/// comparison of a few nodes, not a hash of the kernel and a lock), from
/// the process-wide cache otherwise.
pub(crate) fn program(kernel: &Kernel) -> Arc<Program> {
    thread_local! {
        // Most recent first.
        static RECENT_PROGRAMS: RefCell<Vec<(Kernel, Arc<Program>)>> =
            const { RefCell::new(Vec::new()) };
    }
    // `try_with`: a call from another thread-local's destructor, after this
    // one is gone, uses the shared cache alone.
    RECENT_PROGRAMS
        .try_with(|recent| {
            let mut recent = recent.borrow_mut();
            if let Some(at) = recent.iter().position(|(k, _)| k == kernel) {
                recent[..=at].rotate_right(1);
                return Arc::clone(&recent[0].1);
            }
            let p = shared_program(kernel);
            if recent.len() == RECENT {
                recent.pop();
            }
            recent.insert(0, (kernel.clone(), Arc::clone(&p)));
            p
        })
        .unwrap_or_else(|_| shared_program(kernel))
}

/// The compiled program for `kernel`, from the process-wide cache.
fn shared_program(kernel: &Kernel) -> Arc<Program> {
    static CACHE: OnceLock<Mutex<HashMap<Kernel, Arc<Program>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut cache = cache
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(p) = cache.get(kernel) {
        return Arc::clone(p);
    }
    if cache.len() >= CACHE_CAPACITY {
        cache.clear();
    }
    let p = Arc::new(Program::compile(kernel));
    cache.insert(kernel.clone(), Arc::clone(&p));
    p
}

/// The number of threads rayon's global pool runs.
pub(crate) fn threads() -> usize {
    rayon::current_num_threads()
}

/// Runs `program` over whole arrays. `parallel` chooses between rayon's pool
/// and the calling thread. All inputs are as long as `out`.
pub(crate) fn map(program: &Program, inputs: &[&[f32]], out: &mut [f32], parallel: bool) {
    debug_assert_eq!(program.arity, inputs.len());
    debug_assert!(inputs.len() <= MAX_INPUTS);
    if !parallel {
        let mut scratch = Scratch::new(program, out.len());
        run_range(program, inputs, 0, out, &mut scratch);
        return;
    }
    // One item per block (for a streaming program, per run of blocks of at
    // least a quarter of a thread's share, so that a many-core pool still
    // gets four items a thread on a 2^18-value map); rayon's adaptive
    // splitting hands each thread long contiguous runs (good for the
    // prefetchers) and splits further only when a thread runs dry.
    let item = out
        .len()
        .div_ceil(4 * threads())
        .next_multiple_of(BLOCK)
        .clamp(BLOCK, block_len(program));
    out.par_chunks_mut(item).enumerate().for_each_init(
        || Scratch::new(program, BLOCK),
        |scratch, (b, part)| run_range(program, inputs, b * item, part, scratch),
    );
}

/// Runs `program` over `out`, which is elements `start..start + out.len()`.
fn run_range(
    program: &Program,
    inputs: &[&[f32]],
    start: usize,
    out: &mut [f32],
    scratch: &mut Scratch,
) {
    let mut block_inputs: [&[f32]; MAX_INPUTS] = [&[]; MAX_INPUTS];
    let block_len = block_len(program);
    for (b, block) in out.chunks_mut(block_len).enumerate() {
        let s = start + b * block_len;
        for (slot, input) in block_inputs.iter_mut().zip(inputs) {
            *slot = &input[s..s + block.len()];
        }
        run_block(program, &block_inputs[..inputs.len()], block, scratch);
    }
}
