//! The benchmark: every kernel on every available backend, as a table or as
//! JSON lines in the schema of DESIGN.md's benchmark contract:
//! `{"kernel", "backend", "mode", "n", "median_s", "gbps"}` plus `"chose"`,
//! `"regret"` and `"fastest"` for `auto`. The kernel names are the ones
//! `../shared/anchors` times (their lines name the work `"work"`).
//!
//! ```text
//! cargo run --release --example bench                    # table
//! cargo run --release --example bench -- --json          # JSON lines
//! cargo run --release --example bench -- --quick         # fewer sizes and repetitions: under a minute
//! cargo run --release --example bench -- --plot out.svg  # and a chart, crossovers marked
//! ```
//!
//! Besides `host` and `resident`, modes beyond the contract: `kernel` (the
//! GPU's own clock, below), `sequential` and `pipeline` (the batch entry,
//! where `n` is the number of files), and `first_process` and
//! `second_process` (cold start, where `n` is the process's number).
//!
//! `resident` lines run the kernel on a `gpu::Array` (filters on a
//! `gpu::Image`) placed once on each backend, the output left there and
//! waited for (reductions read back only the workgroups' results): wall
//! time per call, submission and wait included. GPU resident lines carry
//! `of_copy`, their bandwidth over the `device_copy` line's at that size.
//! `Auto`'s arrays and images of mid sizes are kept on both devices; its
//! `chose` is where the timed operation ran.
//!
//! Times are medians per call over many samples; a sample is as many
//! back-to-back calls as last about 20 µs (one call when a call takes
//! longer), so that reading the clock does not weigh on calls of a
//! microsecond or less.
//!
//! Before each GPU or `Auto` series a hardware GPU is kept busy for 0.3 s,
//! so that it is timed at its working clocks: between the CPU lines it would
//! otherwise sit idle and lower its clock (BENCHMARKS.md).
//!
//! `kernel` lines (GPU with timestamp queries) are the GPU's own clock on
//! resident work, one chunk at most (2^25 values on most adapters): the
//! copy engine's copy (`device_copy`), a shader copy (`shader_copy`),
//! `map_affine` and one `reduce_sum` pass, with `of_copy` and
//! `of_shader_copy`, each kernel's bandwidth as a fraction of those copies'.
//!
//! `batch` lines time the batch pipeline (`gpu::io::Batch`) against the
//! one-file-at-a-time loop over 32 generated images of 1 to 4 megapixels;
//! `batch_memory` lines give the pipeline's peak memory over 32 and 256
//! small images, each measured in a child process.
//!
//! Forced `cpu` and `gpu` lines carry `est_s`, the dispatcher's estimate
//! for that call on that backend (what `Auto` compares), so that a
//! machine's bench shows where the cost model is off.
//!
//! `rayon_loop` lines are the hand-written rayon code for the same kernel,
//! the yardstick for the CPU backend: it is timed alternately with the CPU
//! backend (so drift on a noisy machine hits both alike), and the line
//! carries that paired CPU median as `paired_cpu_s` and the CPU backend's
//! time over the loop's, from the same cycles as `Auto`'s regret, as
//! `cpu_over_rayon`.

#[path = "support/batch_inputs.rs"]
mod batch_inputs;
#[path = "support/gpu_state.rs"]
mod gpu_state;
#[path = "support/live_heap.rs"]
mod live_heap;
#[path = "support/plot.rs"]
mod plot;
#[path = "support/sample_image.rs"]
mod sample_image;

use anyhow::Result;
use clap::Parser;
use gpu::dispatch::{CostModel, Workload};
use gpu::io::{Batch, Job};
use gpu::{Backend, Context, Expr, Reduce};
use rayon::prelude::*;
use std::hint::black_box;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    about = "Benchmark maps, reductions, filters, the batch pipeline and cold start on every backend"
)]
struct Args {
    /// Print one JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
    /// Fewer sizes and repetitions, 8 batch images: under a minute (medians
    /// are noisier).
    #[arg(long)]
    quick: bool,
    /// Element counts, comma-separated (default: 2^10, 2^12, …, 2^24; with
    /// --quick 2^10, 2^16, 2^22).
    #[arg(long, value_delimiter = ',')]
    n: Vec<usize>,
    /// Backends, comma-separated (default: all available).
    #[arg(long, value_delimiter = ',')]
    backend: Vec<Backend>,
    /// Kernels, comma-separated (default: all).
    #[arg(long, value_delimiter = ',')]
    kernel: Vec<String>,
    /// Image sizes for the filter kernels, WIDTHxHEIGHT, comma-separated
    /// (default: 256x256, 1024x768, 1920x1080, 3840x2160; with --quick
    /// 256x256 and 1024x768).
    #[arg(long, value_delimiter = ',')]
    image: Vec<String>,
    /// Internal: run the batch pipeline over this many small generated
    /// images in this process and print its peak memory (the batch entry
    /// runs it in a child process, so nothing else counts).
    #[arg(long, hide = true)]
    rss_probe: Option<usize>,
    /// Internal: time this process's first GPU calls (device, first map,
    /// first filter) and print them (the cold-start entry runs it twice in
    /// child processes sharing a fresh pipeline cache).
    #[arg(long, hide = true)]
    cold_start_probe: bool,
    /// Internal: time the same GPU work after different histories in this
    /// process (see `support/gpu_state.rs`).
    #[arg(long, hide = true)]
    gpu_state_probe: bool,
    /// Write a chart of time against size per backend (SVG), crossovers marked.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<std::path::PathBuf>,
    /// Measure this machine for the dispatcher again (it is measured once,
    /// and saved, when no calibration is saved yet).
    #[arg(long)]
    calibrate: bool,
}

/// The batch entry's filter chain.
const BATCH_CHAIN: &str = "blur:3,sobel";

/// Files in flight in the batch entry's pipeline.
const BATCH_CONCURRENCY: usize = 8;

/// The image filter kernels: name and filter text.
const FILTERS: [(&str, &str); 3] = [
    ("gaussian_blur_s3", "blur:3"),
    ("box_blur_r2", "box:2"),
    ("sobel", "sobel"),
];

/// What a benchmark kernel does.
#[derive(Clone, Copy)]
enum Work {
    /// A map into a reused output.
    Map(fn(Expr) -> Expr),
    /// A reduction, fused with a map when there is one.
    Reduce(Reduce, Option<fn(Expr) -> Expr>),
}

struct Kernel {
    name: &'static str,
    work: Work,
    /// Bytes counted per element, per the benchmark contract.
    bytes: f64,
}

const KERNELS: [Kernel; 5] = [
    Kernel {
        name: "map_affine",
        work: Work::Map(|v| v * 2.0 + 1.0),
        bytes: 8.0,
    },
    Kernel {
        name: "map_transcend",
        work: Work::Map(|v| v.sin() * (-v).exp()),
        bytes: 8.0,
    },
    Kernel {
        name: "reduce_sum",
        work: Work::Reduce(Reduce::Sum, None),
        bytes: 4.0,
    },
    Kernel {
        name: "reduce_max",
        work: Work::Reduce(Reduce::Max, None),
        bytes: 4.0,
    },
    Kernel {
        name: "sum_squares",
        work: Work::Reduce(Reduce::Sum, Some(|v| v * v)),
        bytes: 4.0,
    },
];

/// Runs `work` through the library on `ctx`.
fn ours(ctx: &Context, work: Work, x: &[f32], out: &mut [f32]) -> Result<()> {
    match work {
        Work::Map(f) => ctx.map_into(x, out, f)?,
        Work::Reduce(op, None) => {
            black_box(ctx.reduce(x, op)?);
        }
        Work::Reduce(op, Some(f)) => {
            black_box(ctx.map_reduce(x, f, op)?);
        }
    }
    Ok(())
}

/// What a Rust user writes by hand with rayon, with the closure inlined.
fn rayon_loop(x: &[f32], out: &mut [f32], f: impl Fn(f32) -> f32 + Sync) {
    out.par_iter_mut()
        .zip(x.par_iter())
        .for_each(|(o, &v)| *o = f(v));
}

/// The hand-written rayon code for kernel `name`.
fn handwritten(name: &str, x: &[f32], out: &mut [f32]) {
    match name {
        "map_affine" => rayon_loop(x, out, |v| v * 2.0 + 1.0),
        "map_transcend" => rayon_loop(x, out, |v| v.sin() * (-v).exp()),
        "reduce_sum" => {
            black_box(x.par_iter().sum::<f32>());
        }
        "reduce_max" => {
            black_box(x.par_iter().copied().reduce(|| f32::NEG_INFINITY, f32::max));
        }
        "sum_squares" => {
            black_box(x.par_iter().map(|v| v * v).sum::<f32>());
        }
        _ => unreachable!("every kernel has a hand-written version"),
    }
}

struct Row {
    kernel: &'static str,
    backend: String,
    mode: &'static str,
    n: usize,
    median_s: f64,
    bytes: f64,
    chose: Option<String>,
    /// For `rayon_loop`: the CPU backend's median when timed alternately with it.
    paired_cpu_s: Option<f64>,
    /// More figures for this line: name and JSON value.
    extra: Vec<(&'static str, String)>,
}

impl Row {
    fn gbps(&self) -> f64 {
        self.bytes / self.median_s / 1e9
    }

    fn json(&self) -> String {
        let mut chose = self
            .chose
            .as_ref()
            .map(|c| format!(", \"chose\": \"{c}\""))
            .unwrap_or_default();
        if let Some(p) = self.paired_cpu_s {
            chose.push_str(&format!(", \"paired_cpu_s\": {p:e}"));
        }
        for (name, value) in &self.extra {
            chose.push_str(&format!(", \"{name}\": {value}"));
        }
        format!(
            "{{\"kernel\": \"{}\", \"backend\": \"{}\", \"mode\": \"{}\", \"n\": {}, \"median_s\": {:e}, \"gbps\": {:.3}{chose}}}",
            self.kernel,
            self.backend,
            self.mode,
            self.n,
            self.median_s,
            self.gbps()
        )
    }
}

/// The dispatcher's estimate for a forced CPU or GPU line (`est_s`), given
/// the CPU's estimate and the call's workload on the GPU: what `Auto` compares, next to what was
/// measured, so that a machine's bench shows where the cost model is off.
fn estimate(
    cost: &CostModel,
    backend: Backend,
    mode: &str,
    cpu_s: f64,
    gpu: &Workload,
) -> Option<(&'static str, String)> {
    let seconds = match backend {
        Backend::Cpu => cpu_s,
        Backend::Gpu if mode == "resident" => cost.gpu_resident_seconds(gpu),
        Backend::Gpu => cost.gpu_seconds(gpu),
        _ => return None,
    };
    Some(("est_s", format!("{seconds:.3e}")))
}

/// A map's or a reduction's workload over `n` values (as the library counts it).
fn workload(work: Work, n: usize) -> Result<Workload> {
    let per_value = |f: Option<fn(Expr) -> Expr>| -> Result<f64> {
        Ok(match f {
            Some(f) => gpu::Kernel::unary(f)?.work_per_element(),
            None => 0.0,
        })
    };
    Ok(match work {
        Work::Map(f) => Workload {
            n,
            bytes_in: 4.0,
            bytes_out: 4.0,
            work: per_value(Some(f))?,
        },
        Work::Reduce(_, f) => Workload {
            n,
            bytes_in: 4.0,
            bytes_out: 0.0,
            work: per_value(f)? + 1.0,
        },
    })
}

/// The fastest forced backend (`gpu`, `cpu` or `scalar`) measured so far in
/// `mode` for `kernel` at size `n`.
fn fastest(rows: &[Row], kernel: &str, n: usize, mode: &str) -> Option<String> {
    rows.iter()
        .filter(|r| r.kernel == kernel && r.n == n && r.mode == mode)
        .filter(|r| matches!(r.backend.as_str(), "gpu" | "cpu" | "scalar"))
        .min_by(|a, b| a.median_s.total_cmp(&b.median_s))
        .map(|r| r.backend.clone())
}

/// `f` and `g` timed against each other by [`median_pair`].
struct Paired {
    /// Median seconds per call of `f`.
    f_s: f64,
    /// Median seconds per call of `g`.
    g_s: f64,
    /// `f`'s time over `g`'s, less one: the median, over the cycles of the
    /// ABBA order (two block pairs), of the geometric mean of the pairs'
    /// ratios of block medians. A ratio of the two overall medians would
    /// read the machine's drift between blocks as a difference between `f`
    /// and `g`. One block pair alone is not symmetric: one side runs right
    /// after itself, the other right after the switch. On the development
    /// machine a 64 MiB array read again right after itself took half the
    /// time of one read after the other array, so pairs alternated between
    /// ratios near 0.5 and near 1.9, and their median read −26 … +46 %
    /// between two copies of the same CPU work. Over a cycle each side has
    /// one block of each kind.
    excess: f64,
}

/// Median seconds per call of `f` and of `g` over at least `reps` timed
/// samples each (of [`calls_per_sample`] calls, each side its own), timed
/// in alternating blocks of three (in ABBA order) so that drift on a noisy
/// machine hits both equally, and how much slower `f` was than `g` in the
/// same stretch of time ([`Paired::excess`]). Blocks go on, past `reps`,
/// until the pairs have taken `min_s` seconds in all (see
/// [`REGRET_MIN_S`]); when to stop depends on the clock alone, never on
/// the times measured, so it does not favour either side. Each block
/// starts with an untimed call, so that each side is timed in its own
/// steady state: when `f` and `g` run on different devices, rayon's threads
/// fall asleep during a GPU call and the GPU's queue drains during a CPU
/// call, and waking them is a cost of switching devices, not of either
/// call.
fn median_pair(
    reps: usize,
    min_s: f64,
    mut f: impl FnMut() -> Result<()>,
    mut g: impl FnMut() -> Result<()>,
) -> Result<Paired> {
    const BLOCK: usize = 3;
    let (calls_f, calls_g) = (calls_per_sample(&mut f)?, calls_per_sample(&mut g)?);
    let (mut a, mut b) = (Vec::with_capacity(reps), Vec::with_capacity(reps));
    let mut ratios = Vec::with_capacity(reps.div_ceil(BLOCK));
    let started = Instant::now();
    // An odd number of block pairs: the first, where neither side has run
    // yet, and whole ABBA cycles after it.
    let min_blocks = reps.div_ceil(BLOCK) | 1;
    for block in 0.. {
        let enough = block >= min_blocks && started.elapsed().as_secs_f64() >= min_s;
        if enough && block % 2 == 1 {
            break;
        }
        let mut medians = [0.0; 2];
        for first in [block % 2 == 0, block % 2 == 1] {
            let (run, times, calls): (&mut dyn FnMut() -> Result<()>, &mut Vec<f64>, usize) =
                if first {
                    (&mut f, &mut a, calls_f)
                } else {
                    (&mut g, &mut b, calls_g)
                };
            run()?;
            let start = times.len();
            for _ in 0..BLOCK {
                times.push(sample(calls, &mut *run)?);
            }
            medians[usize::from(!first)] = median_of(&mut times[start..].to_vec());
        }
        ratios.push(medians[0] / medians[1]);
    }
    let mut cycles: Vec<f64> = ratios[1..]
        .chunks_exact(2)
        .map(|pairs| (pairs[0] * pairs[1]).sqrt())
        .collect();
    if cycles.is_empty() {
        cycles = ratios;
    }
    Ok(Paired {
        f_s: median_of(&mut a),
        g_s: median_of(&mut b),
        excess: median_of(&mut cycles) - 1.0,
    })
}

/// The middle value of `values` (the upper one of an even count).
fn median_of(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// How many calls of `f` one timed sample makes: enough for the sample to
/// last about 20 µs, so that reading the clock (tens of nanoseconds on a
/// VM) weighs on calls of a microsecond or less no more than on long ones.
/// Runs `f` up to three times (once when a call is that long already),
/// untimed as far as the results go.
fn calls_per_sample(f: &mut dyn FnMut() -> Result<()>) -> Result<usize> {
    const SAMPLE_S: f64 = 20e-6;
    let mut fastest = f64::INFINITY;
    for _ in 0..3 {
        let t = Instant::now();
        f()?;
        fastest = fastest.min(t.elapsed().as_secs_f64());
        if fastest >= SAMPLE_S {
            break;
        }
    }
    Ok((SAMPLE_S / fastest.max(1e-9)).ceil().clamp(1.0, 1000.0) as usize)
}

/// Seconds per call over `calls` back-to-back calls of `f`.
fn sample(calls: usize, f: &mut dyn FnMut() -> Result<()>) -> Result<f64> {
    let t = Instant::now();
    for _ in 0..calls {
        f()?;
    }
    Ok(t.elapsed().as_secs_f64() / calls as f64)
}

/// Before timing `backend` (`Gpu` or `Auto`) on a hardware GPU: 0.3 s of
/// back-to-back GPU work, so that it is timed at its working clocks. A GPU
/// that is idle, or busy only now and then as it is between the bench's CPU
/// lines, runs at a low clock: an H200 drops its SM clock from 1980 to
/// 345 MHz, and its kernels then take up to three times longer
/// (`gpu::__private::wake_gpu`; BENCHMARKS.md shows the effect).
fn awake(backend: Backend) -> Result<()> {
    if matches!(backend, Backend::Gpu | Backend::Auto) {
        gpu::__private::wake_gpu(Duration::from_millis(300))?;
    }
    Ok(())
}

/// Median seconds per call over `reps` timed samples of
/// [`calls_per_sample`] calls, after untimed warm-up calls.
fn median(reps: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    let calls = calls_per_sample(&mut f)?;
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps {
        times.push(sample(calls, &mut f)?);
    }
    Ok(median_of(&mut times))
}

/// The least time, in seconds, that `Auto`'s alternation with the fastest
/// forced backend takes at each point (both sides, without `--quick`),
/// past the repetitions [`reps_for`] and the filters ask for. On the H200's
/// host (16 vCPUs) the same code on both sides of a pair read +10 … +32 % at
/// 7 of 208 points in two sweeps, from 21 block pairs of calls of 0.05–1 ms
/// (BENCHMARKS.md, twelfth session): such a point took 10–200 ms, so a
/// burst of noise weighed on a few of its ten cycles. Half a second gives
/// calls of 1 ms about 60 block pairs and calls of 50 µs over a thousand;
/// in the next three sweeps the same code on both sides read within ±4.5 %
/// at 300 of 302 points, and a sweep took 152 s instead of 107–112.
const REGRET_MIN_S: f64 = 0.5;

/// [`REGRET_MIN_S`], or none with `--quick` (whose regret is noisier).
fn regret_min_s(quick: bool) -> f64 {
    if quick {
        0.0
    } else {
        REGRET_MIN_S
    }
}

fn reps_for(n: usize, backend: Backend, quick: bool) -> usize {
    // Calls of microseconds on a shared machine need many repetitions
    // before their medians settle (on the H200's host, 21 repetitions of
    // the same CPU call at 2^18 differed by 40 % between two arrays, and
    // 201 at 2^16 by 14 %).
    let base = if n <= 1 << 16 {
        2001
    } else if backend == Backend::Scalar {
        5
    } else if n <= 1 << 18 {
        201
    } else if backend == Backend::Auto {
        // Its regret comes from the block pairs' ratios (see `Paired`):
        // with 7 pairs, the same CPU code on both sides of a pair still
        // differed by up to 25 % at 2^24 on the 2-core machine; with 21, by
        // 2.5 % in host mode.
        63
    } else {
        21
    };
    if quick {
        (base / 4).max(3) | 1
    } else {
        base
    }
}

fn main() -> Result<()> {
    // `RUST_LOG=gpu::dispatch::ties=debug` shows every look `Auto` took at
    // a near-tie (`info`, where it changed device).
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let args = Args::parse();
    if let Some(count) = args.rss_probe {
        return rss_probe(count);
    }
    if args.cold_start_probe {
        return cold_start_probe();
    }
    if args.gpu_state_probe {
        return gpu_state::run();
    }
    // Auto decides with this machine's figures: measured once and saved.
    let calibration = match gpu::calibration::saved() {
        Some(c) if !args.calibrate => c,
        _ => gpu::calibrate()?,
    };
    if args.json {
        eprintln!("calibration: {calibration}");
    } else {
        println!("calibration: {calibration}\n");
    }
    // What `Auto` estimates with, for each forced line's `est_s`.
    let cost = Context::new(Backend::Auto)?.cost_model().clone();
    let mut backends = if args.backend.is_empty() {
        vec![Backend::Gpu, Backend::Cpu, Backend::Scalar, Backend::Auto]
    } else {
        args.backend.clone()
    };
    // Auto last: its regret is measured against the forced backends' lines.
    backends.sort_by_key(|b| *b == Backend::Auto);
    let mut rows = Vec::new();
    let emit = |row: Row, rows: &mut Vec<Row>| {
        if args.json {
            println!("{}", row.json());
        }
        rows.push(row);
    };
    if !args.json {
        match gpu::adapter() {
            Ok(a) => println!("GPU adapter: {a}"),
            Err(e) => println!("GPU: none ({e})"),
        }
        println!("CPU threads: {}\n", rayon::current_num_threads());
    }
    let sizes: Vec<usize> = if !args.n.is_empty() {
        args.n.clone()
    } else if args.quick {
        vec![1 << 10, 1 << 16, 1 << 22]
    } else {
        (10..=24).step_by(2).map(|p| 1usize << p).collect()
    };
    for &n in &sizes {
        // One input and one output per size, shared by every kernel and by
        // both sides of a paired timing, so that no kernel is measured on
        // freshly allocated memory and others not, and both sides read and
        // write the same addresses (a vector's alignment to cache lines
        // alone moved small maps by 10 %).
        let x: Vec<f32> = (0..n)
            .map(|i| ((i as u64 * 2_654_435_761) % 1_000_003) as f32 / 1_000_003.0)
            .collect();
        let out = std::cell::RefCell::new(vec![0.0f32; n]);
        // Resident mode: the input uploaded once, kernels run on the device.
        // (On the CPU backends the host is the device: host mode is resident.)
        let arrays: Vec<(Backend, gpu::Array)> = backends
            .iter()
            .filter_map(|&b| Some((b, Context::new(b).and_then(|c| c.array(&x)).ok()?)))
            .collect();
        let resident = arrays
            .iter()
            .find(|(b, _)| *b == Backend::Gpu)
            .map(|(_, a)| a.clone());
        let copy_wanted = args.kernel.is_empty() || args.kernel.iter().any(|k| k == "device_copy");
        if let Some(res) = resident.as_ref().filter(|_| copy_wanted) {
            awake(Backend::Gpu)?;
            // The card's own copy bandwidth, the yardstick for resident kernels.
            let median_s = median(reps_for(n, Backend::Gpu, args.quick), || {
                Ok(gpu::__private::device_copy(res)?)
            })?;
            let row = Row {
                kernel: "device_copy",
                backend: "gpu".into(),
                mode: "resident",
                n,
                median_s,
                bytes: 8.0 * n as f64,
                chose: None,
                paired_cpu_s: None,
                extra: Vec::new(),
            };
            emit(row, &mut rows);
        }
        for k in KERNELS
            .iter()
            .filter(|k| args.kernel.is_empty() || args.kernel.iter().any(|a| a == k.name))
        {
            let bytes = k.bytes * n as f64;
            let load = workload(k.work, n)?;
            let cpu_s = cost.cpu_plan(&load).1;
            // The GPU's time split into its steps (compile on the first call
            // of a kernel, upload, kernel, download), before any other call
            // of the kernel so that the first size shows the compile.
            let split = match k.work {
                Work::Map(f) if backends.contains(&Backend::Gpu) => {
                    awake(Backend::Gpu)?;
                    gpu::__private::profile_map(&gpu::Kernel::unary(f)?, &x).ok()
                }
                _ => None,
            };
            // Resident mode: a `gpu::Array` per backend, made once; a map
            // makes a new array and waits for it, a reduction fuses the map.
            // Auto is timed alternately with the fastest forced backend.
            for (backend, res) in &arrays {
                awake(*backend)?;
                let reps = reps_for(n, *backend, args.quick);
                let run = |a: &gpu::Array| -> Result<()> {
                    match k.work {
                        Work::Map(f) => a.map(f)?.eval()?.wait()?,
                        Work::Reduce(op, f) => {
                            black_box(a.map(f.unwrap_or(|v| v))?.reduce(op)?);
                        }
                    }
                    Ok(())
                };
                let fastest_resident = (*backend == Backend::Auto)
                    .then(|| fastest(&rows, k.name, n, "resident"))
                    .flatten();
                let mut extra = Vec::new();
                extra.extend(estimate(&cost, *backend, "resident", cpu_s, &load));
                let median_s = match fastest_resident
                    .as_ref()
                    .and_then(|b| arrays.iter().find(|(x, _)| x.to_string() == *b))
                {
                    Some((best, best_array)) => {
                        let p = median_pair(
                            reps,
                            regret_min_s(args.quick),
                            || run(res),
                            || run(best_array),
                        )?;
                        extra.push(("regret", format!("{:.3}", p.excess)));
                        let auto_s = p.f_s;
                        extra.push(("fastest", format!("\"{best}\"")));
                        auto_s
                    }
                    None => median(reps, || run(res))?,
                };
                // A GPU kernel's bandwidth as a fraction of the card's own
                // copy (device_copy at this size).
                let copy = rows
                    .iter()
                    .find(|r| r.kernel == "device_copy" && r.n == n)
                    .map(Row::gbps);
                if let Some(copy) = copy.filter(|_| res.backend() == Backend::Gpu) {
                    let gbps = bytes / median_s / 1e9;
                    extra.push(("of_copy", format!("{:.3}", gbps / copy)));
                }
                let row = Row {
                    kernel: k.name,
                    backend: backend.to_string(),
                    mode: "resident",
                    n,
                    median_s,
                    bytes,
                    chose: (*backend == Backend::Auto).then(|| {
                        // An array kept on both devices chooses per operation
                        // (read without making a call, which could be one of
                        // a near-tie's timing calls).
                        match k.work {
                            Work::Map(f) => res.map(f).map(|m| gpu::__private::map_backend(&m)),
                            Work::Reduce(_, f) => res
                                .map(f.unwrap_or(|v| v))
                                .map(|m| gpu::__private::reduce_backend(&m)),
                        }
                        .unwrap_or(res.backend())
                        .to_string()
                    }),
                    paired_cpu_s: None,
                    extra,
                };
                emit(row, &mut rows);
            }
            for &backend in &backends {
                let ctx = match Context::new(backend) {
                    Ok(c) => c,
                    Err(e) => {
                        if !args.json {
                            println!("{:<14} {backend:<10} skipped: {e}", k.name);
                        }
                        continue;
                    }
                };
                awake(backend)?;
                let reps = reps_for(n, backend, args.quick);
                let split = split.filter(|_| backend == Backend::Gpu);
                // Auto is timed alternately with the fastest forced backend,
                // so that its regret is measured, not the machine's drift.
                let best = (backend == Backend::Auto)
                    .then(|| fastest(&rows, k.name, n, "host"))
                    .flatten();
                let mut extra = Vec::new();
                extra.extend(estimate(&cost, backend, "host", cpu_s, &load));
                if let Some(p) = split {
                    extra.push(("compile_s", format!("{:.3e}", p.compile_s)));
                    extra.push(("upload_s", format!("{:.3e}", p.upload_s)));
                    extra.push(("kernel_s", format!("{:.3e}", p.kernel_s)));
                    if let Some(ts) = p.kernel_timestamp_s {
                        extra.push(("kernel_timestamp_s", format!("{ts:.3e}")));
                    }
                    extra.push(("download_s", format!("{:.3e}", p.download_s)));
                }
                let median_s = match &best {
                    Some(b) => {
                        let forced = Context::new(b.parse()?)?;
                        let p = median_pair(
                            reps,
                            regret_min_s(args.quick),
                            || ours(&ctx, k.work, &x, &mut out.borrow_mut()),
                            || ours(&forced, k.work, &x, &mut out.borrow_mut()),
                        )?;
                        extra.push(("regret", format!("{:.3}", p.excess)));
                        extra.push(("fastest", format!("\"{b}\"")));
                        p.f_s
                    }
                    None => median(reps, || ours(&ctx, k.work, &x, &mut out.borrow_mut()))?,
                };
                // The yardstick, what a Rust user would write by hand with
                // rayon, is timed alternately with the CPU backend, apart from
                // the CPU row above (alternating changes what the caches hold).
                let yardstick = if backend == Backend::Cpu {
                    let p = median_pair(
                        reps,
                        0.0,
                        || ours(&ctx, k.work, &x, &mut out.borrow_mut()),
                        || {
                            handwritten(k.name, &x, &mut out.borrow_mut());
                            Ok(())
                        },
                    )?;
                    Some(p)
                } else {
                    None
                };
                let chose = (backend == Backend::Auto).then(|| {
                    let d = ctx.last_dispatch().expect("a call was made");
                    d.backend.to_string()
                });
                let row = Row {
                    kernel: k.name,
                    backend: backend.to_string(),
                    mode: "host",
                    n,
                    median_s,
                    bytes,
                    chose,
                    paired_cpu_s: None,
                    extra,
                };
                emit(row, &mut rows);
                if let Some(p) = yardstick {
                    let row = Row {
                        kernel: k.name,
                        backend: "rayon_loop".into(),
                        mode: "host",
                        n,
                        median_s: p.g_s,
                        bytes,
                        chose: None,
                        paired_cpu_s: Some(p.f_s),
                        extra: vec![("cpu_over_rayon", format!("{:.3}", p.excess + 1.0))],
                    };
                    emit(row, &mut rows);
                }
            }
        }
        // The GPU's own clock on resident kernels, after the kernels' rows:
        // it compiles `map_affine`'s map, which would hide that kernel's
        // first-call compile from the split above.
        if resident.is_some() && copy_wanted {
            awake(Backend::Gpu)?;
            match gpu::__private::profile_resident(n) {
                Ok(p) => {
                    for row in kernel_rows(&p) {
                        emit(row, &mut rows);
                    }
                }
                Err(e) => eprintln!("n = {n}: no kernel-only timings ({e})"),
            }
        }
    }
    let images: Vec<String> = if !args.image.is_empty() {
        args.image.clone()
    } else if args.quick {
        // Not 1920x1080: lavapipe's Gaussian blur takes 1.7 s a call there
        // on the 2-core machine, which took --quick past a minute.
        vec!["256x256".into(), "1024x768".into()]
    } else {
        ["256x256", "1024x768", "1920x1080", "3840x2160"]
            .map(String::from)
            .to_vec()
    };
    for size in &images {
        let (iw, ih) = sample_image::parse_size(size)?;
        let img = sample_image::anchors_image(iw, ih);
        let pixels = iw as usize * ih as usize;
        for (name, text) in FILTERS
            .iter()
            .filter(|(name, _)| args.kernel.is_empty() || args.kernel.iter().any(|a| a == name))
        {
            let filter: gpu::filter::Filter = text.parse()?;
            let cpu_s = cost
                .cpu_filter_plan(std::slice::from_ref(&filter), pixels)
                .1;
            let gpu_load = cost.gpu_filter_workload(std::slice::from_ref(&filter), pixels);
            // Small images take tens of microseconds on the CPU: more
            // repetitions, or the medians' noise reads as regret; large
            // ones take milliseconds, where 21 repetitions still left 10 %
            // between the same CPU code on both sides of a pair.
            let reps_of = |backend| {
                if backend == Backend::Scalar {
                    3
                } else if args.quick && backend == Backend::Gpu {
                    5
                } else if args.quick {
                    // Milliseconds at most: enough block pairs that the
                    // regret is not two pairs' noise (with 5, the same
                    // choice read −40 … +92 % at 1024x768).
                    21
                } else if pixels <= 1 << 16 {
                    101
                } else if pixels <= 1 << 20 {
                    61
                } else if backend == Backend::Auto {
                    63 // 21 block pairs for its regret, as for arrays
                } else {
                    41
                }
            };
            // Resident mode: the image placed once (`gpu::Image`), each
            // filter's output left on the device and waited for.
            let placed: Vec<(Backend, gpu::Image)> = backends
                .iter()
                .filter_map(|&b| Some((b, Context::new(b).ok()?.image(&img).ok()?)))
                .collect();
            for (backend, on_device) in &placed {
                awake(*backend)?;
                let run = |i: &gpu::Image| -> Result<()> { Ok(i.filter(&filter)?.wait()?) };
                let best = (*backend == Backend::Auto)
                    .then(|| fastest(&rows, name, pixels, "resident"))
                    .flatten()
                    .and_then(|b| placed.iter().find(|(x, _)| x.to_string() == b));
                let mut extra = Vec::new();
                extra.extend(estimate(&cost, *backend, "resident", cpu_s, &gpu_load));
                let median_s = match best {
                    Some((b, best_image)) => {
                        let p = median_pair(
                            reps_of(*backend),
                            regret_min_s(args.quick),
                            || run(on_device),
                            || run(best_image),
                        )?;
                        extra.push(("regret", format!("{:.3}", p.excess)));
                        let auto_s = p.f_s;
                        extra.push(("fastest", format!("\"{b}\"")));
                        auto_s
                    }
                    None => median(reps_of(*backend), || run(on_device))?,
                };
                let row = Row {
                    kernel: name,
                    backend: backend.to_string(),
                    mode: "resident",
                    n: pixels,
                    median_s,
                    bytes: 8.0 * pixels as f64,
                    // An image kept on both devices chooses per filter (read
                    // without making a call, which could be one of a
                    // near-tie's timing calls).
                    chose: (*backend == Backend::Auto).then(|| {
                        let filters = std::slice::from_ref(&filter);
                        gpu::__private::filters_backend(on_device, filters).to_string()
                    }),
                    paired_cpu_s: None,
                    extra,
                };
                emit(row, &mut rows);
            }
            for &backend in &backends {
                let Ok(ctx) = Context::new(backend) else {
                    continue;
                };
                awake(backend)?;
                let reps = reps_of(backend);
                let best = (backend == Backend::Auto)
                    .then(|| fastest(&rows, name, pixels, "host"))
                    .flatten();
                let mut extra = Vec::new();
                extra.extend(estimate(&cost, backend, "host", cpu_s, &gpu_load));
                let median_s = match &best {
                    Some(b) => {
                        let forced = Context::new(b.parse()?)?;
                        let p = median_pair(
                            reps,
                            regret_min_s(args.quick),
                            || {
                                black_box(ctx.filter(&img, &filter)?);
                                Ok(())
                            },
                            || {
                                black_box(forced.filter(&img, &filter)?);
                                Ok(())
                            },
                        )?;
                        extra.push(("regret", format!("{:.3}", p.excess)));
                        extra.push(("fastest", format!("\"{b}\"")));
                        p.f_s
                    }
                    None => median(reps, || {
                        black_box(ctx.filter(&img, &filter)?);
                        Ok(())
                    })?,
                };
                let d = ctx.last_dispatch().expect("a call was made");
                let row = Row {
                    kernel: name,
                    backend: backend.to_string(),
                    mode: "host",
                    n: pixels,
                    median_s,
                    bytes: 8.0 * pixels as f64,
                    chose: (backend == Backend::Auto || d.backend != backend)
                        .then(|| d.backend.to_string()),
                    paired_cpu_s: None,
                    extra,
                };
                emit(row, &mut rows);
            }
        }
    }
    if backends.contains(&Backend::Gpu)
        && (args.kernel.is_empty() || args.kernel.iter().any(|k| k == "cold_start"))
    {
        for row in cold_start_rows()? {
            emit(row, &mut rows);
        }
    }
    if args.kernel.is_empty() || args.kernel.iter().any(|k| k.starts_with("batch")) {
        for row in batch_rows(&args, &backends)? {
            emit(row, &mut rows);
        }
    }
    if !args.json {
        println!(
            "{:<14} {:<11} {:<8} {:>9} {:>12} {:>9} {:>10} {:>7}  chose / notes",
            "kernel", "backend", "mode", "n", "median", "GB/s", "vs scalar", "regret"
        );
        for r in &rows {
            let scalar = rows
                .iter()
                .filter(|_| r.mode != "kernel")
                .find(|s| s.kernel == r.kernel && s.n == r.n && s.backend == "scalar")
                .map(|s| format!("{:.1}x", s.median_s / r.median_s))
                .unwrap_or_default();
            // Auto's time over the fastest forced backend's, timed alternately.
            let regret = r
                .extra
                .iter()
                .find(|(k, _)| *k == "regret")
                .and_then(|(_, v)| v.parse::<f64>().ok())
                .map(|v| format!("{:+.1} %", v * 100.0))
                .unwrap_or_default();
            println!(
                "{:<14} {:<11} {:<8} {:>9} {:>9.3} ms {:>9.2} {:>10} {:>7}  {}",
                r.kernel,
                r.backend,
                r.mode,
                r.n,
                r.median_s * 1e3,
                r.gbps(),
                scalar,
                regret,
                match (&r.chose, r.paired_cpu_s) {
                    (Some(c), _) => match r.extra.iter().find(|(k, _)| *k == "fastest") {
                        Some((_, best)) =>
                            format!("{c} (fastest forced: {})", best.trim_matches('"')),
                        None => c.clone(),
                    },
                    (None, Some(_)) => r
                        .extra
                        .iter()
                        .find(|(k, _)| *k == "cpu_over_rayon")
                        .map(|(_, v)| format!("cpu/rayon {v} (timed alternately)"))
                        .unwrap_or_default(),
                    (None, None) => r
                        .extra
                        .iter()
                        .map(|(k, v)| format!("{k} {v}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                }
            );
        }
    }
    if let Some(path) = &args.plot {
        let points: Vec<plot::Point> = rows
            .iter()
            .filter(|r| !r.kernel.starts_with("batch") && r.kernel != "cold_start")
            .map(|r| plot::Point {
                kernel: r.kernel,
                series: if r.mode == "host" {
                    r.backend.clone()
                } else {
                    format!("{} {}", r.backend, r.mode)
                },
                n: r.n,
                seconds: r.median_s,
            })
            .collect();
        let notes = plot::write(path, &points)?;
        eprintln!("chart written to {}", path.display());
        for note in notes {
            eprintln!("  {note}");
        }
    }
    Ok(())
}

/// The GPU's own clock on resident work (`mode` "kernel"): the copy
/// engine's copy, a shader copy, `map_affine` and one `reduce_sum` pass,
/// with each kernel's bandwidth as a fraction of the copy engine's
/// (`of_copy`) and of the shader copy (`of_shader_copy`).
fn kernel_rows(p: &gpu::__private::ResidentProfile) -> Vec<Row> {
    let n = p.n;
    let gbps = |bytes: f64, s: f64| bytes * n as f64 / s / 1e9;
    let copy = p.copy_s.map(|s| gbps(8.0, s));
    let shader_copy = gbps(8.0, p.shader_copy_s);
    let row = |kernel: &'static str, bytes: f64, s: f64| {
        let mut extra = Vec::new();
        if kernel != "device_copy" {
            if let Some(c) = copy {
                extra.push(("of_copy", format!("{:.3}", gbps(bytes, s) / c)));
            }
        }
        if kernel != "shader_copy" && kernel != "device_copy" {
            extra.push((
                "of_shader_copy",
                format!("{:.3}", gbps(bytes, s) / shader_copy),
            ));
        }
        Row {
            kernel,
            backend: "gpu".into(),
            mode: "kernel",
            n,
            median_s: s,
            bytes: bytes * n as f64,
            chose: None,
            paired_cpu_s: None,
            extra,
        }
    };
    let mut rows = Vec::new();
    if let Some(s) = p.copy_s {
        rows.push(row("device_copy", 8.0, s));
    }
    rows.push(row("shader_copy", 8.0, p.shader_copy_s));
    rows.push(row("map_affine", 8.0, p.map_affine_s));
    rows.push(row("reduce_sum", 4.0, p.reduce_sum_s));
    rows
}

/// The `batch` entry: 32 generated images of 1 to 4 megapixels through
/// [`BATCH_CHAIN`], the sequential loop and the pipeline timed alternately
/// on each backend; then the pipeline's peak memory over 32 and 256 small
/// images, each in a child process.
fn batch_rows(args: &Args, backends: &[Backend]) -> Result<Vec<Row>> {
    let base = std::env::temp_dir().join("gpu-compute-bench-batch");
    // 32 images; 8 with --quick.
    let count = if args.quick { 8 } else { 32 };
    let inputs = batch_inputs::generate(&base.join(format!("in-{count}")), count, count, 1.0, 4.0)?;
    let mut pixels = 0u64;
    for path in &inputs {
        let (w, h) = image::image_dimensions(path)?;
        pixels += w as u64 * h as u64;
    }
    let chain = gpu::filter::Filter::parse_chain(BATCH_CHAIN)?;
    let rt = tokio::runtime::Runtime::new()?;
    let rounds = if args.quick { 1 } else { 5 };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut rows = Vec::new();
    let timed = args.kernel.is_empty() || args.kernel.iter().any(|k| k == "batch");
    for &backend in backends.iter().filter(|&&b| timed && b != Backend::Scalar) {
        if Context::new(backend).is_err() {
            continue;
        }
        // A software GPU (lavapipe) only competes with the CPU for the same
        // cores; the pipeline is measured where it means something.
        if backend == Backend::Gpu && gpu::adapter().is_ok_and(|a| a.is_software()) {
            if !args.json {
                println!("batch on gpu skipped: the adapter is software");
            }
            continue;
        }
        let batch = Batch::new(
            Job::Filters(chain.clone()),
            base.join(format!("out-{backend}")),
        )
        .backend(backend)
        .concurrency(BATCH_CONCURRENCY);
        let check = |s: &gpu::io::BatchSummary| -> Result<()> {
            match s.failed.first() {
                Some((path, e)) => anyhow::bail!("batch: {}: {e}", path.display()),
                None => Ok(()),
            }
        };
        // Warm-up: kernels compiled, files in the page cache.
        check(&rt.block_on(batch.run_sequential(inputs[..4].to_vec(), |_| {}))?)?;
        let (mut sequential, mut pipeline, mut busy) = (Vec::new(), Vec::new(), Vec::new());
        let mut sequential_busy = Vec::new();
        let mut stages = Vec::new();
        // A batch run, checked, with how busy the cores were over its wall time.
        let measured = |run: &dyn Fn() -> gpu::Result<gpu::io::BatchSummary>| -> Result<_> {
            let before = batch_inputs::usage();
            let summary = run()?;
            let after = batch_inputs::usage();
            check(&summary)?;
            let busy = before.zip(after).map(|((c0, _), (c1, _))| {
                (c1 - c0).as_secs_f64() / (summary.wall.as_secs_f64() * cores as f64)
            });
            Ok((summary, busy))
        };
        for _ in 0..rounds {
            let (s, s_busy) =
                measured(&|| rt.block_on(batch.run_sequential(inputs.clone(), |_| {})))?;
            sequential.push(s.wall.as_secs_f64());
            sequential_busy.extend(s_busy);
            let (p, p_busy) = measured(&|| rt.block_on(batch.run(inputs.clone(), |_| {})))?;
            pipeline.push(p.wall.as_secs_f64());
            busy.extend(p_busy);
            stages.push((p.wall.as_secs_f64(), p.stages));
        }
        let median_of = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (seq, pipe) = (median_of(&mut sequential), median_of(&mut pipeline));
        let row = |mode, median_s, extra| Row {
            kernel: "batch",
            backend: backend.to_string(),
            mode,
            n: inputs.len(),
            median_s,
            // Pixels read and written.
            bytes: 8.0 * pixels as f64,
            chose: None,
            paired_cpu_s: None,
            extra,
        };
        // The CPU work done, over the cores: the pipeline's best possible
        // speed-up is about 1 / this (all cores busy with the same work).
        let seq_extra = if sequential_busy.is_empty() {
            Vec::new()
        } else {
            vec![(
                "cpu_busy",
                format!("{:.3}", median_of(&mut sequential_busy)),
            )]
        };
        rows.push(row("sequential", seq, seq_extra));
        let mut extra = vec![("speedup", format!("{:.2}", seq / pipe))];
        if !busy.is_empty() {
            extra.push(("cpu_busy", format!("{:.3}", median_of(&mut busy))));
        }
        // The stages of the round with the median wall time: each stage's
        // time summed over files, and the part of it a worker was busy.
        let stage = stages
            .iter()
            .find(|(wall, _)| *wall == pipe)
            .map_or_else(Default::default, |&(_, s)| s);
        for (name, secs) in [
            ("stage_read_s", stage.read),
            ("stage_read_busy_s", stage.read_busy),
            ("stage_compute_s", stage.compute),
            ("stage_compute_busy_s", stage.compute_busy),
            ("stage_write_s", stage.write),
            ("stage_write_busy_s", stage.write_busy),
        ] {
            extra.push((name, format!("{:.3}", secs.as_secs_f64())));
        }
        rows.push(row("pipeline", pipe, extra));
    }
    // Peak memory against the number of files, each count in a fresh process;
    // every image has the same size, so only the count differs.
    if !(args.kernel.is_empty() || args.kernel.iter().any(|k| k == "batch_memory")) {
        return Ok(rows);
    }
    // glibc keeps freed large buffers in its heaps once its dynamic mmap
    // threshold has risen, which shows up as growth with the run's length;
    // the second setting fixes the threshold, as `mallopt` would.
    let allocators = [
        ("glibc-default", None),
        (
            "mmap-threshold-64k",
            Some(("MALLOC_MMAP_THRESHOLD_", "65536")),
        ),
    ];
    for count in [32, 256] {
        let dir = base.join(format!("small-{count}"));
        batch_inputs::generate(&dir, count, 1, 0.15, 0.15)?;
        for (allocator, env) in allocators {
            let mut probe = std::process::Command::new(std::env::current_exe()?);
            probe.args(["--rss-probe", &count.to_string()]);
            if let Some((k, v)) = env {
                probe.env(k, v);
            }
            let out = probe.output()?;
            anyhow::ensure!(
                out.status.success(),
                "the memory probe failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8_lossy(&out.stdout);
            let field = |name: &str| -> Result<f64> {
                text.split_whitespace()
                    .skip_while(|w| *w != name)
                    .nth(1)
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| anyhow::anyhow!("the memory probe printed {text:?}"))
            };
            rows.push(Row {
                kernel: "batch_memory",
                backend: "cpu".into(),
                mode: "pipeline",
                n: count,
                median_s: field("wall_s")?,
                bytes: field("bytes")?,
                chose: None,
                paired_cpu_s: None,
                extra: vec![
                    ("concurrency", BATCH_CONCURRENCY.to_string()),
                    ("allocator", format!("\"{allocator}\"")),
                    (
                        "peak_rss_mib",
                        format!("{:.1}", field("peak_rss_bytes")? / (1u64 << 20) as f64),
                    ),
                    (
                        "peak_heap_mib",
                        format!("{:.1}", field("peak_heap_bytes")? / (1u64 << 20) as f64),
                    ),
                ],
            });
        }
    }
    Ok(rows)
}

/// The child process of the memory entry: one pipeline run over `count`
/// small images, then its figures on stdout.
fn rss_probe(count: usize) -> Result<()> {
    let base = std::env::temp_dir().join("gpu-compute-bench-batch");
    let inputs = batch_inputs::files_in(&base.join(format!("small-{count}")))?;
    anyhow::ensure!(inputs.len() == count, "expected {count} generated images");
    let mut pixels = 0u64;
    for path in &inputs {
        let (w, h) = image::image_dimensions(path)?;
        pixels += w as u64 * h as u64;
    }
    let chain = gpu::filter::Filter::parse_chain(BATCH_CHAIN)?;
    let batch = Batch::new(Job::Filters(chain), base.join(format!("small-out-{count}")))
        .backend(Backend::Cpu)
        .concurrency(BATCH_CONCURRENCY);
    live_heap::start();
    let rt = batch_inputs::runtime(BATCH_CONCURRENCY)?;
    let summary = rt.block_on(batch.run(inputs, |_| {}))?;
    anyhow::ensure!(summary.failed.is_empty(), "{summary}");
    let heap = live_heap::peak_bytes();

    let (_, peak) = batch_inputs::usage().ok_or_else(|| anyhow::anyhow!("no getrusage here"))?;
    println!(
        "peak_rss_bytes {peak} peak_heap_bytes {heap} wall_s {} bytes {}",
        summary.wall.as_secs_f64(),
        8 * pixels
    );
    Ok(())
}

/// The `cold_start` entry: the first GPU calls of a process, in two child
/// processes one after the other, sharing a pipeline cache folder that
/// starts empty: the second shows what the saved pipeline cache saves.
fn cold_start_rows() -> Result<Vec<Row>> {
    if gpu::adapter().is_err() {
        return Ok(Vec::new());
    }
    let dir = std::env::temp_dir().join(format!("gpu-compute-cold-start-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut rows = Vec::new();
    for process in 1..=2 {
        // The drivers' own shader caches (Mesa's, NVIDIA's) are switched
        // off, so that the second process shows what our saved pipeline
        // cache alone saves.
        let out = std::process::Command::new(std::env::current_exe()?)
            .arg("--cold-start-probe")
            .env("GPU_COMPUTE_CACHE_DIR", &dir)
            .env("MESA_SHADER_CACHE_DISABLE", "true")
            .env("__GL_SHADER_DISK_CACHE", "0")
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "the cold-start probe failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let field = |name: &str| -> Result<String> {
            text.split_whitespace()
                .skip_while(|w| *w != name)
                .nth(1)
                .map(str::to_string)
                .ok_or_else(|| anyhow::anyhow!("the cold-start probe printed {text:?}"))
        };
        let total: f64 = ["device_s", "first_map_s", "first_filter_s"]
            .iter()
            .map(|f| {
                let v = field(f)?;
                v.parse::<f64>()
                    .map_err(|_| anyhow::anyhow!("the cold-start probe's {f} is {v:?}"))
            })
            .sum::<Result<f64>>()?;
        rows.push(Row {
            kernel: "cold_start",
            backend: "gpu".into(),
            mode: if process == 1 {
                "first_process"
            } else {
                "second_process"
            },
            n: process,
            median_s: total,
            bytes: 0.0,
            chose: None,
            paired_cpu_s: None,
            extra: vec![
                ("device_s", field("device_s")?),
                ("first_map_s", field("first_map_s")?),
                ("first_filter_s", field("first_filter_s")?),
                ("pipeline_cache_bytes", field("pipeline_cache_bytes")?),
            ],
        });
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(rows)
}

/// The child process of the cold-start entry.
fn cold_start_probe() -> Result<()> {
    let t = Instant::now();
    let ctx = Context::new(Backend::Gpu)?;
    let device_s = t.elapsed().as_secs_f64();
    let cache = gpu::__private::pipeline_cache_loaded_bytes();
    let t = Instant::now();
    ctx.map(&[1.0f32; 1024], |v| v.sin() * (-v).exp())?;
    let first_map_s = t.elapsed().as_secs_f64();
    let img = image::RgbaImage::new(64, 64);
    let t = Instant::now();
    ctx.filter(&img, &"blur:3".parse()?)?;
    let first_filter_s = t.elapsed().as_secs_f64();
    println!(
        "device_s {device_s} first_map_s {first_map_s} first_filter_s {first_filter_s} pipeline_cache_bytes {}",
        cache.map_or("null".to_string(), |b| b.to_string())
    );
    Ok(())
}
