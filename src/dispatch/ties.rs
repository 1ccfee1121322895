//! Near-ties between the two devices, settled by timing `Auto`'s own calls.
//!
//! `Auto` picks a device from the cost model per call on host data (a
//! slice or an `image` crate image, whose GPU estimate counts the
//! transfers; `Context`), and per operation on data kept on both the host
//! and the GPU (`Array`, `Image`). Where the two estimates are within
//! [`TIE_RATIO`] of each other the model cannot tell which device is faster:
//! its figures are a few percent off, and the devices' times at such a point
//! move by more than that from one process to the next. On the H200 a
//! 1024×768 box blur on an image kept on both took 0.080–0.134 ms on the CPU
//! and 0.097–0.119 ms on the GPU across four runs, and whichever a fixed
//! choice named was up to 14 % slower than the other in some run. A
//! 1920×1080 Gaussian blur (σ 3) of a host image ran 1.2–1.7 times faster
//! on the GPU than on the CPU in five runs (BENCHMARKS.md, twelfth
//! session), and in two of them the model chose the CPU: once its
//! calibration had caught the transfers in a slow spell, once the CPU ran
//! 1.55 times slower than calibrated.
//!
//! So the first calls of such an operation are timed (a *look*): [`RUN`]
//! calls on the device the model prefers, then [`RUN`] on the other, the
//! first of each run untimed (it pays for waking the device the previous
//! calls left idle, and for a first call's compilation). The device whose
//! fastest timed call was the faster is kept for that operation. The
//! fastest, not the median: what disturbs a call (another process, a page
//! fault, a GPU clock still low) only adds time.
//!
//! A look is taken again after [`FIRST_RELOOK`] further calls, then after
//! four times as many calls each time, up to [`LAST_RELOOK`] (starting with
//! the device kept), and the latest look decides. The first calls of a
//! process run in whatever state it left the devices in, which need not be
//! the state its later calls meet: on the H200 the first look put 2^22 sums
//! on the GPU, 4 % faster in its timed calls, while the bench's back-to-back
//! calls then found the CPU 18 % faster (BENCHMARKS.md, tenth session), and
//! the bench wakes the GPU for 0.3 s just before. A look costs at most
//! [`RUN`] calls on the slower device, each at most [`TIE_RATIO`] slower by
//! the estimates: up to 9 % more time over the [`FIRST_RELOOK`] + 2 ×
//! [`RUN`] calls from the first look's end to the second's, under 0.1 %
//! once looks are [`LAST_RELOOK`] calls apart. Looking again also follows
//! the devices' drift over a long process.
//!
//! These calls run one at a time: while one is out, other calls of the
//! operation (from other threads) take the device kept (the model's before
//! the first look), untimed. A GPU call among them first waits for the GPU
//! to finish earlier work, which is not its own, and then for its result,
//! so that it is charged what the caller of a CPU call waits for; the
//! calls between looks do not wait. A call that fails counts as infinitely
//! slow: its device loses.
//!
//! While an operation is timed its calls run on both devices, whose results
//! may differ in the last bits (a sum's order of addition), and the device
//! kept may differ from one process to the next.
//!
//! Calls on host data are timed the same way. They were tried once
//! before the looks were taken again: on the H200 the single look then
//! kept a 4K Gaussian blur of a host image on the CPU in three runs of
//! three, while back to back, as the bench runs it, the GPU was 0–27 %
//! faster (BENCHMARKS.md, tenth session). Timed call by call in one
//! process, a 4K blur's calls then took 3.9–6.6 ms on the GPU and
//! 4.2–5.6 ms on the CPU in runs of five; by each run's fastest timed
//! call the CPU took 0.97–1.17 times the GPU's time, the order changing
//! from one pair of runs to the next, and a GPU run's first call (which a
//! look leaves untimed) was 6–9 % slower than the rest (thirteenth
//! session): a near-tie that one look settles by chance, and later looks
//! follow.
//!
//! Placement leaves such cases open: up to the size kept on both
//! (`MIRROR_MAX_BYTES`), an array or image is placed on the GPU alone only
//! where even the operation most in the CPU's favour is estimated faster
//! there by more than a near-tie (`CostModel::placement`,
//! `CostModel::image_placement`).
//!
//! A decision is keyed by the operation's name, its size and the two
//! estimates themselves, so operations the model cannot tell apart (a sum
//! and a maximum, say) share one. Nothing here is saved between processes.

use crate::backend::{gpu, Backend};
use crate::error::Result;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

/// Estimates within this factor of each other are a near-tie.
pub(crate) const TIE_RATIO: f64 = 1.3;

/// Calls in each device's run while a near-tie is timed (the first untimed).
pub(crate) const RUN: usize = 5;
const _: () = assert!(RUN >= 2, "a run needs a timed call");

/// Calls on the device kept between a near-tie's first look and its second.
pub(crate) const FIRST_RELOOK: usize = 8;

/// The most calls between two looks at a near-tie (each interval is four
/// times the one before, from [`FIRST_RELOOK`]).
pub(crate) const LAST_RELOOK: usize = FIRST_RELOOK << 10;

/// Calls on the device kept before the next look, after `looks` looks.
fn calls_before_look(looks: u32) -> usize {
    let quadruplings = 2 * looks.saturating_sub(1).min(5);
    (FIRST_RELOOK << quadruplings).min(LAST_RELOOK)
}

/// Near-ties tracked at most; past this the one called least recently is
/// forgotten (called again, it is timed again, which is no worse than a
/// guess).
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

/// One of the calls a near-tie is timed with.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Trial {
    key: TieKey,
    /// Whether its time counts (not the first call of a run).
    timed: bool,
}

/// Where one call of an operation on data kept on both devices runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Choice {
    /// `Gpu` or `Cpu`.
    pub backend: Backend,
    /// The near-tie this call is one of the timing calls of.
    trial: Option<Trial>,
}

impl Choice {
    /// `backend`, decided without the cost model (a forced backend, data on
    /// one device).
    pub(crate) fn fixed(backend: Backend) -> Choice {
        Choice {
            backend,
            trial: None,
        }
    }

    /// Whether this call is one of a near-tie's timing calls.
    pub(crate) fn is_trial(&self) -> bool {
        self.trial.is_some()
    }

    /// Whether `call` must wait for its GPU result before returning (a GPU
    /// call among a near-tie's timing calls).
    pub(crate) fn waits(&self) -> bool {
        self.is_trial() && self.backend == Backend::Gpu
    }

    /// Runs `call`, the operation on [`Choice::backend`] (waiting for a GPU
    /// result where [`Choice::waits`] says so). For a near-tie's timing
    /// call, waits first for earlier GPU work, times `call`, and reports the
    /// time (or its failure) to the process's near-ties.
    pub(crate) fn run<T>(&self, call: impl FnOnce() -> Result<T>) -> Result<T> {
        let Some(trial) = self.trial else {
            return call();
        };
        let idle = match gpu::device::opened() {
            Some(d) if self.backend == Backend::Gpu => d.wait_idle("a near-tie's timing"),
            _ => Ok(()),
        };
        let started = Instant::now();
        let result = idle.and_then(|()| call());
        let seconds = result
            .as_ref()
            .ok()
            .map(|_| started.elapsed().as_secs_f64());
        ties().finish(trial, self.backend, seconds);
        result
    }
}

#[derive(Debug, Default)]
struct Tie {
    /// Timing calls of the current look handed out so far.
    issued: usize,
    /// Whether one is running now.
    in_flight: bool,
    /// The current look's timed seconds on the CPU and on the GPU.
    cpu: Vec<f64>,
    gpu: Vec<f64>,
    /// The device the latest look kept (`None` before the first is in).
    decided: Option<Backend>,
    /// Looks taken.
    looks: u32,
    /// Calls since the latest look, on the device it kept.
    since: usize,
    /// When it was last called ([`Table::calls`] then).
    last_call: u64,
}

impl Tie {
    /// Whether the next call belongs to a look (the first, or one due).
    fn looking(&self) -> bool {
        self.decided.is_none() || self.since >= calls_before_look(self.looks)
    }
}

/// The near-ties being followed, and when each was last called.
#[derive(Debug, Default)]
struct Table {
    ties: HashMap<TieKey, Tie>,
    /// Calls handed out so far, the clock of [`Tie::last_call`].
    calls: u64,
}

/// The near-ties of one process (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Ties {
    table: Mutex<Table>,
}

/// The process's near-ties, shared by every context.
pub(crate) fn ties() -> &'static Ties {
    static TIES: OnceLock<Ties> = OnceLock::new();
    TIES.get_or_init(Ties::default)
}

impl Ties {
    /// Where a call of `op` over `n` elements runs, given the model's
    /// estimates on each device: the faster estimate where they are far
    /// apart; at a near-tie, the device a look is timing or the one the
    /// latest look kept. Run the call with [`Choice::run`].
    pub(crate) fn choose(&self, op: &'static str, n: usize, cpu_s: f64, gpu_s: f64) -> Choice {
        let (modelled, key) = modelled(op, n, cpu_s, gpu_s);
        let Some(key) = key else {
            return Choice::fixed(modelled);
        };
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        if table.ties.len() >= CAPACITY && !table.ties.contains_key(&key) {
            let least_recent = table
                .ties
                .iter()
                .min_by_key(|(_, tie)| tie.last_call)
                .map(|(&k, _)| k);
            if let Some(k) = least_recent {
                table.ties.remove(&k);
            }
        }
        table.calls += 1;
        let now = table.calls;
        let tie = table.ties.entry(key).or_default();
        tie.last_call = now;
        // The device kept, or the model's before the first look is in.
        let current = tie.decided.unwrap_or(modelled);
        let untimed = Choice {
            backend: current,
            trial: None,
        };
        if !tie.looking() {
            tie.since += 1;
            return untimed;
        }
        let i = tie.issued;
        if tie.in_flight || i >= 2 * RUN {
            // A timing call is running (or the last ones never reported).
            return untimed;
        }
        if i == 0 {
            tie.cpu.clear();
            tie.gpu.clear();
        }
        tie.issued += 1;
        tie.in_flight = true;
        let other = if current == Backend::Gpu {
            Backend::Cpu
        } else {
            Backend::Gpu
        };
        Choice {
            backend: if i < RUN { current } else { other },
            trial: Some(Trial {
                key,
                timed: !i.is_multiple_of(RUN),
            }),
        }
    }

    /// Where the next call of `op` would run once no more of it is timed:
    /// the device the latest look at a near-tie kept, otherwise the model's
    /// choice (also while a look is under way, though its calls then run on
    /// each device in turn). Hands out no call (for reports of where calls
    /// run).
    pub(crate) fn settled(&self, op: &'static str, n: usize, cpu_s: f64, gpu_s: f64) -> Backend {
        let (modelled, key) = modelled(op, n, cpu_s, gpu_s);
        let Some(key) = key else {
            return modelled;
        };
        let table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        table
            .ties
            .get(&key)
            .and_then(|t| t.decided)
            .unwrap_or(modelled)
    }

    /// Reports that the timing call `trial` on `backend` finished, in
    /// `seconds` (`None`: it failed, and counts as infinitely slow); once
    /// both devices' runs of the look are in, the faster is kept.
    fn finish(&self, trial: Trial, backend: Backend, seconds: Option<f64>) {
        let decided = {
            let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
            let Some(tie) = table.ties.get_mut(&trial.key) else {
                return; // forgotten meanwhile
            };
            tie.in_flight = false;
            if !trial.timed {
                return;
            }
            let seconds = seconds.unwrap_or(f64::INFINITY);
            match backend {
                Backend::Gpu => tie.gpu.push(seconds),
                _ => tie.cpu.push(seconds),
            }
            if tie.cpu.len() < RUN - 1 || tie.gpu.len() < RUN - 1 {
                return;
            }
            let (cpu, gpu) = (fastest(&tie.cpu), fastest(&tie.gpu));
            let kept = if gpu < cpu {
                Backend::Gpu
            } else {
                Backend::Cpu
            };
            let before = tie.decided.replace(kept);
            tie.looks += 1;
            tie.since = 0;
            tie.issued = 0;
            (cpu, gpu, kept, before, tie.looks)
        };
        let (cpu, gpu, kept, before, look) = decided;
        let (op, n) = (trial.key.op, trial.key.n);
        // The first decision and a change are worth a line at `info`; a
        // look that keeps the device (every few thousand calls) is `debug`.
        if before != Some(kept) {
            tracing::info!(
                target: "gpu::dispatch::ties",
                "near-tie of {op} over {n} elements timed (look {look}, fastest calls): cpu {cpu:.2e} s, gpu {gpu:.2e} s; kept on {kept}",
            );
        } else {
            tracing::debug!(
                target: "gpu::dispatch::ties",
                "near-tie of {op} over {n} elements timed (look {look}, fastest calls): cpu {cpu:.2e} s, gpu {gpu:.2e} s; still on {kept}",
            );
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

/// The least of `values` (infinity for none).
fn fastest(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One call through `ties`: its device, and whether it was timed. A
    /// timing call is finished at once, in `time(device)` seconds (`None`:
    /// it failed).
    fn call(
        ties: &Ties,
        op: &'static str,
        est: (f64, f64),
        time: impl Fn(Backend) -> Option<f64>,
    ) -> (Backend, bool) {
        let c = ties.choose(op, 1000, est.0, est.1);
        let timed = c.trial.is_some_and(|t| t.timed);
        if let Some(trial) = c.trial {
            ties.finish(trial, c.backend, time(c.backend));
        }
        (c.backend, timed)
    }

    /// The devices of `calls` calls, the `i`th timing call taking
    /// `time(i, device)` seconds.
    fn run(
        ties: &Ties,
        est: (f64, f64),
        calls: usize,
        time: impl Fn(usize, Backend) -> f64,
    ) -> Vec<Backend> {
        (0..calls)
            .map(|i| call(ties, "filter", est, |b| Some(time(i, b))).0)
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
        assert!(ties.table.lock().unwrap().ties.is_empty());
    }

    #[test]
    fn a_near_tie_times_each_device_then_keeps_the_faster() {
        for (cpu, gpu, kept) in [(1.0, 0.8, Backend::Gpu), (0.8, 1.0, Backend::Cpu)] {
            let ties = Ties::default();
            // The model prefers the GPU by a little.
            let calls = run(
                &ties,
                (1.1e-4, 1.0e-4),
                2 * RUN + FIRST_RELOOK,
                measured(cpu, gpu),
            );
            assert!(calls[..RUN].iter().all(|&b| b == Backend::Gpu), "{calls:?}");
            assert!(calls[RUN..2 * RUN].iter().all(|&b| b == Backend::Cpu));
            assert!(calls[2 * RUN..].iter().all(|&b| b == kept), "{calls:?}");
        }
    }

    #[test]
    fn a_near_tie_is_looked_at_again_and_the_latest_look_decides() {
        use Backend::{Cpu, Gpu};
        // The GPU is faster in the first look's calls, the CPU ever after
        // (the devices' states changed, as after the bench's GPU wake-up).
        let ties = Ties::default();
        let first_look_ends = 2 * RUN;
        let times = move |i: usize, b: Backend| match (b, i < first_look_ends) {
            (Gpu, true) | (Cpu, false) => 1.0e-4,
            _ => 1.2e-4,
        };
        let second_look = first_look_ends + FIRST_RELOOK;
        let calls = run(&ties, (1.1e-4, 1.0e-4), second_look + 2 * RUN + 8, times);
        // First look: the model's device, then the other; the GPU is kept.
        assert_eq!(calls[..first_look_ends], [[Gpu; RUN], [Cpu; RUN]].concat());
        assert!(calls[first_look_ends..second_look]
            .iter()
            .all(|&b| b == Gpu));
        // Second look: the device kept first, then the other; the CPU won.
        assert_eq!(
            calls[second_look..second_look + 2 * RUN],
            [[Gpu; RUN], [Cpu; RUN]].concat()
        );
        assert!(calls[second_look + 2 * RUN..].iter().all(|&b| b == Cpu));
        assert_eq!(ties.settled("filter", 1000, 1.1e-4, 1.0e-4), Cpu);
    }

    #[test]
    fn looks_come_four_times_further_apart_up_to_the_last_interval() {
        // Where the timing calls of a steady near-tie fall: each look's
        // first call, counted from the first call of all.
        let ties = Ties::default();
        let starts: Vec<usize> = (0..60_000)
            .map(|_| {
                let c = ties.choose("map", 7, 1.0e-4, 1.1e-4);
                let first_of_look = c.trial.is_some_and(|t| !t.timed) && c.backend == Backend::Cpu;
                if let Some(trial) = c.trial {
                    ties.finish(trial, c.backend, Some(1.0));
                }
                first_of_look
            })
            .enumerate()
            .filter_map(|(i, first)| first.then_some(i))
            .collect();
        let mut want = vec![0];
        for looks in 1.. {
            let next = want[looks - 1] + 2 * RUN + calls_before_look(looks as u32);
            if next >= 60_000 {
                break;
            }
            want.push(next);
        }
        assert_eq!(starts, want);
        let gaps: Vec<usize> = (1..9).map(calls_before_look).collect();
        assert_eq!(gaps, [8, 32, 128, 512, 2048, 8192, 8192, 8192]);
        assert_eq!(calls_before_look(u32::MAX), LAST_RELOOK);
    }

    #[test]
    fn the_first_call_of_each_run_is_not_timed() {
        // It pays for waking the device the other run left idle, and for a
        // first call's compilation.
        let ties = Ties::default();
        let timed: Vec<bool> = (0..2 * RUN)
            .map(|_| call(&ties, "filter", (1.0e-4, 1.1e-4), |_| Some(1.0)).1)
            .collect();
        let all_but_the_first_of_each_run: Vec<bool> = (0..2 * RUN).map(|i| i % RUN != 0).collect();
        assert_eq!(timed, all_but_the_first_of_each_run);
    }

    #[test]
    fn the_fastest_call_of_each_run_decides() {
        // Three GPU calls of the four timed took 10x longer (a slow spell):
        // the GPU's fastest still beats every CPU call, and it is kept. And
        // the other way: one fast CPU call wins against steady GPU ones.
        let slow_spell_on_the_gpu: fn(usize, Backend) -> f64 = |i, b| match (b, i) {
            (Backend::Gpu, 3) => 0.9e-4,
            (Backend::Gpu, _) => 1e-3,
            _ => 1e-4,
        };
        let one_fast_cpu_call: fn(usize, Backend) -> f64 = |i, b| match (b, i) {
            (Backend::Cpu, i) if i == RUN + 2 => 0.8e-4,
            (Backend::Cpu, _) => 2e-4,
            _ => 0.9e-4,
        };
        for (times, kept) in [
            (slow_spell_on_the_gpu, Backend::Gpu),
            (one_fast_cpu_call, Backend::Cpu),
        ] {
            let calls = run(&Ties::default(), (1.1e-4, 1.0e-4), 2 * RUN + 2, times);
            assert!(calls[2 * RUN..].iter().all(|&b| b == kept), "{calls:?}");
        }
    }

    #[test]
    fn a_device_whose_calls_fail_loses_the_tie() {
        let ties = Ties::default();
        let fails_on_gpu = |b| (b == Backend::Cpu).then_some(1.0);
        let calls: Vec<Backend> = (0..2 * RUN + 2)
            .map(|_| call(&ties, "filter", (1.1e-4, 1.0e-4), fails_on_gpu).0)
            .collect();
        assert_eq!(calls[2 * RUN..], [Backend::Cpu, Backend::Cpu]);
    }

    #[test]
    fn while_a_timing_call_runs_other_calls_take_the_models_device_untimed() {
        let ties = Ties::default();
        let first = ties.choose("map", 5, 1.2e-4, 1.0e-4);
        assert!(first.trial.is_some());
        // The first is still running: a second thread's call is not timed.
        for _ in 0..3 {
            let other = ties.choose("map", 5, 1.2e-4, 1.0e-4);
            assert_eq!((other.backend, other.trial), (Backend::Gpu, None));
        }
        ties.finish(first.trial.unwrap(), first.backend, Some(1.0));
        assert!(ties.choose("map", 5, 1.2e-4, 1.0e-4).trial.is_some());
    }

    #[test]
    fn ties_of_different_operations_or_sizes_are_timed_apart() {
        let ties = Ties::default();
        run(&ties, (1.0e-4, 1.1e-4), 2 * RUN, measured(2.0, 1.0));
        assert_eq!(
            ties.choose("filter", 1000, 1.0e-4, 1.1e-4).backend,
            Backend::Gpu
        );
        // Another size or operation starts on the model's choice.
        let other_size = ties.choose("filter", 1001, 1.0e-4, 1.1e-4);
        assert_eq!(other_size.backend, Backend::Cpu);
        assert!(
            !other_size.trial.unwrap().timed,
            "the first call is untimed"
        );
        assert_eq!(
            ties.choose("reduce", 1000, 1.0e-4, 1.1e-4).backend,
            Backend::Cpu
        );
    }

    #[test]
    fn where_calls_settle_is_read_without_handing_out_a_call() {
        let ties = Ties::default();
        for _ in 0..5 {
            assert_eq!(ties.settled("filter", 1000, 1.2e-4, 1.0e-4), Backend::Gpu);
        }
        assert!(
            !ties
                .choose("filter", 1000, 1.2e-4, 1.0e-4)
                .trial
                .unwrap()
                .timed
        );
        let ties = Ties::default();
        run(&ties, (1.2e-4, 1.0e-4), 2 * RUN, measured(1.0, 2.0));
        assert_eq!(ties.settled("filter", 1000, 1.2e-4, 1.0e-4), Backend::Cpu);
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
    fn a_full_table_forgets_the_near_tie_called_least_recently() {
        let ties = Ties::default();
        // A filter over 1000 elements is settled on the GPU, then kept in
        // use while the table fills with maps of other sizes.
        run(&ties, (1.0e-4, 1.1e-4), 2 * RUN, measured(2.0, 1.0));
        let settled = |n| ties.settled("filter", n, 1.0e-4, 1.1e-4);
        assert_eq!(settled(1000), Backend::Gpu);
        for n in 0..CAPACITY + 5 {
            ties.choose("map", n, 1.0, 1.1);
            call(&ties, "filter", (1.0e-4, 1.1e-4), |b| {
                Some(if b == Backend::Gpu { 1.0 } else { 2.0 })
            });
        }
        let table = ties.table.lock().unwrap();
        assert_eq!(table.ties.len(), CAPACITY);
        // The first sizes of the map went; the filter, called all along, stayed.
        assert!((0..6).all(|n| !table.ties.keys().any(|k| k.op == "map" && k.n == n)));
        drop(table);
        assert_eq!(settled(1000), Backend::Gpu);
    }
}
