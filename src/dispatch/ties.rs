//! Near-ties between the two devices, settled by timing `Auto`'s own calls.
//!
//! For data kept on both the host and the GPU, `Auto` picks a device per
//! operation from the cost model. Where the two estimates are within
//! [`TIE_RATIO`] of each other the model cannot tell which device is faster:
//! its figures are a few percent off, and the devices' times at such a point
//! move by more than that from one process to the next. On the H200 a
//! 1024×768 box blur on an image kept on both took 0.080–0.134 ms on the CPU
//! and 0.097–0.119 ms on the GPU across four runs, and whichever a fixed
//! choice named was up to 14 % slower than the other in some run.
//!
//! So the first calls of such an operation are timed: [`RUN`] calls on the
//! device the model prefers, then [`RUN`] on the other, the first of each
//! run untimed (it pays for waking the device the previous calls left idle,
//! and for a first call's compilation). The device with the lower median of
//! the timed calls is kept for that operation and size for the rest of the
//! process. A timed GPU call waits for its result, so that it is charged
//! what the caller of a CPU call waits for; the calls after the decision do
//! not wait.
//!
//! Placement leaves such cases open: an array or image is placed on the
//! GPU alone only where even the operation most in the CPU's favour is
//! estimated faster there by more than a near-tie
//! (`CostModel::placement`, `CostModel::image_placement`).
//!
//! A decision is keyed by the operation's name, its size and the two
//! estimates themselves, so operations the model cannot tell apart share
//! one. Nothing here is saved between processes.

use crate::backend::Backend;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

/// Estimates within this factor of each other are a near-tie.
pub(crate) const TIE_RATIO: f64 = 1.3;

/// Calls in each device's run while a near-tie is timed (the first untimed).
pub(crate) const RUN: usize = 4;

/// Near-ties tracked at most; past this the table starts again (a process
/// calling that many different operations at near-ties pays the timing
/// again, which is no worse than a guess).
const CAPACITY: usize = 1024;

/// What a near-tie is known by: the operation, its size, and the model's
/// estimates for it on each device (as bits).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub(crate) struct TieKey {
    op: &'static str,
    n: usize,
    cpu_s: u64,
    gpu_s: u64,
}

/// Where one call of an operation on data kept on both devices runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Choice {
    /// `Gpu` or `Cpu`.
    pub backend: Backend,
    /// The near-tie this call is timed for: the caller measures the call
    /// (waiting for a GPU result) and reports it with [`Ties::record`].
    pub timed: Option<TieKey>,
}

impl Choice {
    /// For a timed call, reports the time since `started` (when the call
    /// began) to the process's near-ties.
    pub(crate) fn report(&self, started: Instant) {
        if let Some(key) = self.timed {
            ties().record(key, self.backend, started.elapsed().as_secs_f64());
        }
    }
}

#[derive(Debug, Default)]
struct Tie {
    /// Calls handed out so far while timing.
    issued: usize,
    /// Timed seconds on the CPU and on the GPU.
    cpu: Vec<f64>,
    gpu: Vec<f64>,
    /// The device kept, once both runs are timed.
    decided: Option<Backend>,
}

/// The near-ties of one process (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Ties {
    table: Mutex<HashMap<TieKey, Tie>>,
}

/// The process's near-ties, shared by every context.
pub(crate) fn ties() -> &'static Ties {
    static TIES: OnceLock<Ties> = OnceLock::new();
    TIES.get_or_init(Ties::default)
}

impl Ties {
    /// Where a call of `op` over `n` elements runs, given the model's
    /// estimates on each device: the faster estimate where they are far
    /// apart; at a near-tie, the device being timed or the one that was
    /// timed faster.
    pub(crate) fn choose(&self, op: &'static str, n: usize, cpu_s: f64, gpu_s: f64) -> Choice {
        let (modelled, key) = modelled(op, n, cpu_s, gpu_s);
        let untimed = Choice {
            backend: modelled,
            timed: None,
        };
        let Some(key) = key else {
            return untimed;
        };
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        if table.len() >= CAPACITY && !table.contains_key(&key) {
            table.clear();
        }
        let tie = table.entry(key).or_default();
        if let Some(backend) = tie.decided {
            return Choice {
                backend,
                timed: None,
            };
        }
        let i = tie.issued;
        if i >= 2 * RUN {
            // Both runs handed out, some still being timed elsewhere.
            return untimed;
        }
        tie.issued += 1;
        let other = if modelled == Backend::Gpu {
            Backend::Cpu
        } else {
            Backend::Gpu
        };
        Choice {
            backend: if i < RUN { modelled } else { other },
            timed: (!i.is_multiple_of(RUN)).then_some(key),
        }
    }

    /// Where the next call of `op` would run once no more of it is timed:
    /// the device kept for a near-tie timed already, otherwise the model's
    /// choice. Hands out no call (for reports of where calls run).
    pub(crate) fn settled(&self, op: &'static str, n: usize, cpu_s: f64, gpu_s: f64) -> Backend {
        let (modelled, key) = modelled(op, n, cpu_s, gpu_s);
        let Some(key) = key else {
            return modelled;
        };
        let table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        table.get(&key).and_then(|t| t.decided).unwrap_or(modelled)
    }

    /// Reports that a timed call (see [`Choice::timed`]) on `backend` took
    /// `seconds`; once both devices' runs are in, the faster is kept.
    pub(crate) fn record(&self, key: TieKey, backend: Backend, seconds: f64) {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let Some(tie) = table.get_mut(&key) else {
            return; // the table started again meanwhile
        };
        match backend {
            Backend::Gpu => tie.gpu.push(seconds),
            _ => tie.cpu.push(seconds),
        }
        if tie.decided.is_none() && tie.cpu.len() >= RUN - 1 && tie.gpu.len() >= RUN - 1 {
            let (cpu, gpu) = (median(&mut tie.cpu), median(&mut tie.gpu));
            let backend = if gpu < cpu {
                Backend::Gpu
            } else {
                Backend::Cpu
            };
            tracing::debug!(
                target: "gpu::dispatch",
                "near-tie of {} over {} elements timed: cpu {cpu:.2e} s, gpu {gpu:.2e} s; kept on {backend}",
                key.op,
                key.n
            );
            tie.decided = Some(backend);
        }
    }
}

/// The device the model prefers for `op` over `n` elements, and the
/// near-tie's key when the estimates are one.
fn modelled(op: &'static str, n: usize, cpu_s: f64, gpu_s: f64) -> (Backend, Option<TieKey>) {
    let backend = if gpu_s < cpu_s {
        Backend::Gpu
    } else {
        Backend::Cpu
    };
    let key = is_near_tie(cpu_s, gpu_s).then(|| TieKey {
        op,
        n,
        cpu_s: cpu_s.to_bits(),
        gpu_s: gpu_s.to_bits(),
    });
    (backend, key)
}

/// Whether two estimates are within [`TIE_RATIO`] of each other.
pub(crate) fn is_near_tie(cpu_s: f64, gpu_s: f64) -> bool {
    let (lo, hi) = if cpu_s < gpu_s {
        (cpu_s, gpu_s)
    } else {
        (gpu_s, cpu_s)
    };
    lo > 0.0 && hi.is_finite() && hi <= lo * TIE_RATIO
}

/// The middle value (the upper one of an even count).
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `calls` calls of an operation through `ties`, each timed call
    /// taking `cpu_s` or `gpu_s` as `time` says for its index, and returns
    /// the devices the calls ran on.
    fn run(
        ties: &Ties,
        est: (f64, f64),
        calls: usize,
        time: impl Fn(usize, Backend) -> f64,
    ) -> Vec<Backend> {
        (0..calls)
            .map(|i| {
                let c = ties.choose("filter", 1000, est.0, est.1);
                if let Some(key) = c.timed {
                    ties.record(key, c.backend, time(i, c.backend));
                }
                c.backend
            })
            .collect()
    }

    fn measured(cpu: f64, gpu: f64) -> impl Fn(usize, Backend) -> f64 {
        move |_, b| if b == Backend::Gpu { gpu } else { cpu }
    }

    #[test]
    fn clear_cases_follow_the_model_and_are_never_timed() {
        let ties = Ties::default();
        let calls = run(&ties, (1.0, 2.0), 20, |_, _| panic!("timed"));
        assert!(calls.iter().all(|&b| b == Backend::Cpu));
        let calls = run(&ties, (2.0, 1.0), 20, |_, _| panic!("timed"));
        assert!(calls.iter().all(|&b| b == Backend::Gpu));
        // Nothing is kept for them.
        assert!(ties.table.lock().unwrap().is_empty());
    }

    #[test]
    fn a_near_tie_times_each_device_then_keeps_the_faster() {
        for (cpu, gpu, kept) in [(1.0, 0.8, Backend::Gpu), (0.8, 1.0, Backend::Cpu)] {
            let ties = Ties::default();
            // The model prefers the GPU by a little.
            let calls = run(&ties, (1.1e-4, 1.0e-4), 30, measured(cpu, gpu));
            assert!(calls[..RUN].iter().all(|&b| b == Backend::Gpu), "{calls:?}");
            assert!(calls[RUN..2 * RUN].iter().all(|&b| b == Backend::Cpu));
            assert!(calls[2 * RUN..].iter().all(|&b| b == kept), "{calls:?}");
        }
    }

    #[test]
    fn the_first_call_of_each_run_is_not_timed() {
        // It pays for waking the device the other run left idle, and for a
        // first call's compilation.
        let ties = Ties::default();
        let timed: Vec<bool> = (0..2 * RUN)
            .map(|_| ties.choose("filter", 7, 1.0e-4, 1.1e-4).timed.is_some())
            .collect();
        assert_eq!(timed, [false, true, true, true, false, true, true, true]);
    }

    #[test]
    fn the_median_of_a_run_outweighs_one_slow_call() {
        let ties = Ties::default();
        // One GPU call of the three took 10x longer; its median still wins.
        let times = move |i: usize, b: Backend| match (b, i) {
            (Backend::Gpu, 2) => 1e-3,
            (Backend::Gpu, _) => 0.9e-4,
            _ => 1e-4,
        };
        let calls = run(&ties, (1.1e-4, 1.0e-4), 10, times);
        assert_eq!(calls[9], Backend::Gpu);
    }

    #[test]
    fn ties_of_different_operations_or_sizes_are_timed_apart() {
        let ties = Ties::default();
        run(&ties, (1.0e-4, 1.1e-4), 10, measured(2.0, 1.0));
        assert_eq!(
            ties.choose("filter", 1000, 1.0e-4, 1.1e-4).backend,
            Backend::Gpu
        );
        // Another size or operation starts on the model's choice.
        let other_size = ties.choose("filter", 1001, 1.0e-4, 1.1e-4);
        assert_eq!(other_size.backend, Backend::Cpu);
        assert!(other_size.timed.is_none(), "the first call is untimed");
        assert_eq!(
            ties.choose("reduce", 1000, 1.0e-4, 1.1e-4).backend,
            Backend::Cpu
        );
    }

    #[test]
    fn calls_beyond_the_runs_before_the_timings_are_in_follow_the_model() {
        let ties = Ties::default();
        let choices: Vec<Choice> = (0..2 * RUN + 3)
            .map(|_| ties.choose("map", 5, 1.2e-4, 1.0e-4))
            .collect();
        assert!(choices[2 * RUN..]
            .iter()
            .all(|c| c.backend == Backend::Gpu && c.timed.is_none()));
        for c in &choices {
            if let Some(key) = c.timed {
                ties.record(
                    key,
                    c.backend,
                    if c.backend == Backend::Cpu { 1.0 } else { 3.0 },
                );
            }
        }
        assert_eq!(ties.choose("map", 5, 1.2e-4, 1.0e-4).backend, Backend::Cpu);
    }

    #[test]
    fn where_calls_settle_is_read_without_handing_out_a_call() {
        let ties = Ties::default();
        for _ in 0..5 {
            assert_eq!(ties.settled("map", 5, 1.2e-4, 1.0e-4), Backend::Gpu);
        }
        let first = ties.choose("map", 5, 1.2e-4, 1.0e-4);
        assert!(first.timed.is_none(), "still the first call of the runs");
        for _ in 1..2 * RUN {
            let c = ties.choose("map", 5, 1.2e-4, 1.0e-4);
            if let Some(key) = c.timed {
                ties.record(
                    key,
                    c.backend,
                    if c.backend == Backend::Cpu { 1.0 } else { 2.0 },
                );
            }
        }
        assert_eq!(ties.settled("map", 5, 1.2e-4, 1.0e-4), Backend::Cpu);
    }

    #[test]
    fn near_ties_are_within_the_ratio_either_way() {
        assert!(is_near_tie(1.0, 1.0));
        assert!(is_near_tie(1.0, TIE_RATIO));
        assert!(is_near_tie(TIE_RATIO, 1.0));
        assert!(!is_near_tie(1.0, TIE_RATIO * 1.01));
        assert!(!is_near_tie(0.0, 0.0));
        assert!(!is_near_tie(1.0, f64::INFINITY));
    }

    #[test]
    fn the_table_starts_again_when_full() {
        let ties = Ties::default();
        for n in 0..CAPACITY + 5 {
            ties.choose("map", n, 1.0, 1.1);
        }
        assert!(ties.table.lock().unwrap().len() <= CAPACITY);
    }
}
