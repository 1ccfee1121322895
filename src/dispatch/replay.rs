//! Replays the lent H200's recorded bench times through today's cost
//! model: for every kernel, size and mode the bench measured there with the
//! GPU at working clocks (calls 4 and 5 of its third session, in
//! `benchmarks/h200-2026-11-26-b/`, calls 2 and 3 of the eighth, in
//! `benchmarks/h200-2026-11-27/`, the four sweeps of the ninth whose
//! lines came back, in `benchmarks/h200-2026-11-27-b/`, the five of the
//! tenth, in `benchmarks/h200-2026-11-27-c/`, the five of the twelfth,
//! in `benchmarks/h200-2026-11-28/`, and the three of the thirteenth whose
//! lines came back, in `benchmarks/h200-2026-11-28-b/`), the backend
//! `Auto` would choose with that run's calibration, and what the choice
//! would cost against the faster forced backend by the recorded times.
//! Near-ties (on host data, and on data kept on both devices) are marked:
//! `Auto` times those (`dispatch::ties`), which a replay cannot.
//!
//! This checks the decisions alone, without a GPU: the bench's own regret
//! also counts `Auto`'s overheads and the noise of its timing. The recorded
//! times of one run decide differently from another's at a crossover, so a
//! choice is charged against the geometric mean of its session's runs'
//! times.

use super::ties;
use super::*;
use crate::backend::Backend;

/// A recorded run: the bench's JSON lines, under the calibration it
/// printed first, and the session whose code it ran. Times are compared
/// within a session's runs: the same call costs what that session's code
/// made it cost (the eighth session's GPU image read-back, for one, was
/// 1.4 times faster than before).
struct Run {
    name: &'static str,
    session: &'static str,
    text: &'static str,
}

/// The runs. The eighth session's fourth call is left out: its calibration
/// measured the transfers at 13.1 GB/s during a slow spell, where that
/// call's bench lines moved 19-20 GB/s, and so sent 4K Gaussian blurs of
/// host images to the CPU, 20-30 % slower (calibration now takes the
/// fastest of seven such transfers instead of the median of five).
const RUNS: [Run; 21] = [
    Run {
        name: "call 4",
        session: "2026-11-26",
        text: include_str!("../../benchmarks/h200-2026-11-26-b/sweep.jsonl"),
    },
    Run {
        name: "call 5",
        session: "2026-11-26",
        text: include_str!("../../benchmarks/h200-2026-11-26-b/sweep-rerun.jsonl"),
    },
    Run {
        name: "s8 call 2",
        session: "2026-11-27",
        text: include_str!("../../benchmarks/h200-2026-11-27/sweep-2.jsonl"),
    },
    Run {
        name: "s8 call 3",
        session: "2026-11-27",
        text: include_str!("../../benchmarks/h200-2026-11-27/sweep-3.jsonl"),
    },
    Run {
        name: "s9 call 1",
        session: "2026-11-27-b",
        text: include_str!("../../benchmarks/h200-2026-11-27-b/sweep-1.jsonl"),
    },
    Run {
        name: "s9 call 2",
        session: "2026-11-27-b",
        text: include_str!("../../benchmarks/h200-2026-11-27-b/sweep-2.jsonl"),
    },
    Run {
        name: "s9 call 3",
        session: "2026-11-27-b",
        text: include_str!("../../benchmarks/h200-2026-11-27-b/sweep-3.jsonl"),
    },
    Run {
        name: "s9 call 4",
        session: "2026-11-27-b",
        text: include_str!("../../benchmarks/h200-2026-11-27-b/sweep-4a.jsonl"),
    },
    Run {
        name: "s10 call 1",
        session: "2026-11-27-c",
        text: include_str!("../../benchmarks/h200-2026-11-27-c/sweep-1.jsonl"),
    },
    Run {
        name: "s10 call 2",
        session: "2026-11-27-c",
        text: include_str!("../../benchmarks/h200-2026-11-27-c/sweep-2.jsonl"),
    },
    Run {
        name: "s10 call 3",
        session: "2026-11-27-c",
        text: include_str!("../../benchmarks/h200-2026-11-27-c/sweep-3.jsonl"),
    },
    Run {
        name: "s10 call 4",
        session: "2026-11-27-c",
        text: include_str!("../../benchmarks/h200-2026-11-27-c/sweep-4.jsonl"),
    },
    Run {
        name: "s10 call 5",
        session: "2026-11-27-c",
        text: include_str!("../../benchmarks/h200-2026-11-27-c/sweep-5.jsonl"),
    },
    Run {
        name: "s12 call 1",
        session: "2026-11-28",
        text: include_str!("../../benchmarks/h200-2026-11-28/sweep-1.jsonl"),
    },
    Run {
        name: "s12 call 2",
        session: "2026-11-28",
        text: include_str!("../../benchmarks/h200-2026-11-28/sweep-2.jsonl"),
    },
    Run {
        name: "s12 call 3",
        session: "2026-11-28",
        text: include_str!("../../benchmarks/h200-2026-11-28/sweep-3.jsonl"),
    },
    Run {
        name: "s12 call 4",
        session: "2026-11-28",
        text: include_str!("../../benchmarks/h200-2026-11-28/sweep-4.jsonl"),
    },
    Run {
        name: "s12 call 5",
        session: "2026-11-28",
        text: include_str!("../../benchmarks/h200-2026-11-28/sweep-5.jsonl"),
    },
    Run {
        name: "s13 call 1",
        session: "2026-11-28-b",
        text: include_str!("../../benchmarks/h200-2026-11-28-b/sweep-1.jsonl"),
    },
    Run {
        name: "s13 call 2",
        session: "2026-11-28-b",
        text: include_str!("../../benchmarks/h200-2026-11-28-b/sweep-2.jsonl"),
    },
    Run {
        name: "s13 call 3",
        session: "2026-11-28-b",
        text: include_str!("../../benchmarks/h200-2026-11-28-b/sweep-3.jsonl"),
    },
];

/// Every number in `line` after the first `after`: "cpu: 28.1 G work/s
/// per thread, 9.6 GB/s one thread" after ": " gives 28.1 and 9.6.
fn numbers_after(line: &str, after: &str) -> Vec<f64> {
    let (_, rest) = line.split_once(after).expect("a calibration line");
    rest.split(|c: char| c.is_whitespace() || "(+),".contains(c))
        .filter_map(|t| t.parse().ok())
        .collect()
}

/// The number just before `label` in `line`: "…, 95 us a reduction"
/// before " us a reduction" gives 95.
fn number_before(line: &str, label: &str) -> Option<f64> {
    let (before, _) = line.split_once(label)?;
    before.rsplit(' ').next()?.parse().ok()
}

/// The calibration the bench printed at the top of `text` (see
/// `Calibration`'s `Display`), to the digits printed. Runs from before
/// calibration measured the filters, which print no filter lines, get the
/// filters' costs from their own lines: the CPU's on 16 threads from call
/// 4's 4K lines (as `tests::h200_call_4`), the GPU's per pixel from the
/// resident lines between 1920×1080 and 3840×2160 (as
/// `tests::measured_gpu_filter_costs_bring_the_crossovers_to_where_the_h200_charted_them`),
/// and a GPU filter call's launch from the smallest images.
fn printed_calibration(text: &str) -> crate::calibration::Calibration {
    let line = |start: &str| {
        text.lines()
            .map(str::trim_start)
            .find(|l| l.starts_with(start))
    };
    let hardware = line("calibration: ")
        .expect("the calibration header")
        .trim_start_matches("calibration: ")
        .to_owned();
    let cpu = numbers_after(line("cpu: ").expect("the CPU's figures"), ": ");
    let cpu_filter = |on: &str| {
        line(&format!("cpu filters, ns per pixel on {on}:")).map(|l| {
            let c = numbers_after(l, ": ");
            FilterCosts {
                tap_s: c[0] * 1e-9,
                separable_s: c[1] * 1e-9,
                box_s: c[2] * 1e-9,
                sobel_s: c[3] * 1e-9,
                colour_s: c[4] * 1e-9,
            }
        })
    };
    let gpu_line = line("gpu ").filter(|l| !l.starts_with("gpu filters"));
    let gpu = gpu_line.map(|l| numbers_after(l, "): "));
    let adapter = line("gpu ")
        .and_then(|l| l.strip_prefix("gpu ")?.split_once("): "))
        .map(|(name, _)| format!("{name})"));
    let gpu_filter = match line("gpu filters:") {
        Some(l) => {
            let c = numbers_after(l, ": ");
            GpuFilterCosts {
                launch_s: c[0] * 1e-6,
                tap_s: c[1] * 1e-12,
                separable_s: c[2] * 1e-12,
                weight_s: c[3] * 1e-12,
                convolve_s: c[4] * 1e-12,
                sobel_s: c[5] * 1e-12,
                colour_s: c[6] * 1e-12,
            }
        }
        None => gpu_filters_from_the_lines(text),
    };
    crate::calibration::Calibration {
        hardware,
        cpu_work_per_s: cpu[0] * 1e9,
        cpu_bytes_per_s: cpu[1] * 1e9,
        cpu_bytes_per_s_all: cpu[2] * 1e9,
        cpu_parallel_overhead_s: cpu[3] * 1e-6,
        cpu_filter: cpu_filter("one thread").unwrap_or_else(FilterCosts::builtin),
        cpu_filter_all: cpu_filter("all threads")
            .unwrap_or_else(|| super::tests::h200_call_4().cpu_filter_all),
        gpu: gpu.map(|g| crate::calibration::GpuFigures {
            adapter: adapter.expect("the adapter's name"),
            launch_s: g[0] * 1e-6,
            transfer_bytes_per_s: g[1] * 1e9,
            bytes_per_s: g[2] * 1e9,
            work_per_s: g[3] * 1e9,
            reduce_launch_s: gpu_line
                .and_then(|l| number_before(l, " us a reduction"))
                .map_or_else(
                    || reduce_launch_from_the_lines(text, g[0] * 1e-6),
                    |us| us * 1e-6,
                ),
            filter: gpu_filter,
        }),
        measured_in_s: 0.0,
    }
}

/// The GPU filters' costs of a run that did not print them: per pixel from
/// the H200's resident lines between 1920×1080 and 3840×2160
/// (`tests::h200_gpu_filters`), and a call's
/// launch as calibration measures it, from the run's smallest images
/// (256×256 where calibration takes 64×64): the median over the filters of
/// the time less the pixels' cost.
fn gpu_filters_from_the_lines(text: &str) -> GpuFilterCosts {
    let mut costs = super::tests::h200_gpu_filters(0.0);
    let mut launches: Vec<f64> = lines(text)
        .into_iter()
        .filter(|l| l.backend == "gpu" && l.mode == "resident" && l.n == 256 * 256)
        .filter_map(|l| match op(&l.kernel, l.n)? {
            Op::Filter(f) => Some(l.median_s - l.n as f64 * costs.seconds_per_pixel(&f)),
            Op::Kernel(_) => None,
        })
        .collect();
    assert_eq!(launches.len(), 3, "three filters at 256×256");
    launches.sort_by(f64::total_cmp);
    costs.launch_s = launches[1];
    costs
}

/// A GPU reduction's call, for a run that did not print it: the median of
/// its three reductions' resident times on the GPU at 2^10 values (as
/// calibration times a sum of 256), at least `map_call`'s.
fn reduce_launch_from_the_lines(text: &str, map_call: f64) -> f64 {
    let mut calls: Vec<f64> = lines(text)
        .into_iter()
        .filter(|l| l.backend == "gpu" && l.mode == "resident" && l.n == 1024)
        .filter(|l| {
            matches!(
                l.kernel.as_str(),
                "reduce_sum" | "reduce_max" | "sum_squares"
            )
        })
        .map(|l| l.median_s)
        .collect();
    assert_eq!(calls.len(), 3, "three reductions at 2^10");
    calls.sort_by(f64::total_cmp);
    calls[1].max(map_call)
}

/// The figures `Auto` decides with after the calibration printed at the
/// top of `text`, on the thread count that calibration names.
fn calibrated_model(text: &str) -> CostModel {
    let c = printed_calibration(text);
    let threads = c
        .hardware
        .split(" | ")
        .find_map(|p| p.strip_suffix(" threads"))
        .and_then(|t| t.parse().ok())
        .expect("a thread count");
    CostModel {
        cpu_threads: threads,
        ..c.cost_model()
    }
}

#[test]
fn a_printed_calibration_reads_back_to_its_printed_digits() {
    use crate::calibration::{Calibration, GpuFigures};
    let c = Calibration {
        hardware: "A CPU | 16 threads | avx512 | gpu-compute 0.1.0".into(),
        cpu_work_per_s: 28.1e9,
        cpu_bytes_per_s: 9.6e9,
        cpu_bytes_per_s_all: 233.5e9,
        cpu_parallel_overhead_s: 26.6e-6,
        cpu_filter: FilterCosts {
            tap_s: 0.401e-9,
            separable_s: 0.502e-9,
            box_s: 0.803e-9,
            sobel_s: 1.004e-9,
            colour_s: 0.605e-9,
        },
        cpu_filter_all: FilterCosts {
            tap_s: 0.025e-9,
            separable_s: 0.063e-9,
            box_s: 0.097e-9,
            sobel_s: 0.136e-9,
            colour_s: 0.05e-9,
        },
        gpu: Some(GpuFigures {
            adapter: "NVIDIA H200 (NVIDIA 580.159.04)".into(),
            launch_s: 81e-6,
            reduce_launch_s: 81e-6,
            transfer_bytes_per_s: 6.3e9,
            bytes_per_s: 829e9,
            work_per_s: 8418e9,
            filter: GpuFilterCosts {
                launch_s: 91e-6,
                tap_s: 2.71e-12,
                separable_s: 11.42e-12,
                weight_s: 2.73e-12,
                convolve_s: 0.5e-12,
                sobel_s: 23.04e-12,
                colour_s: 1.25e-12,
            },
        }),
        measured_in_s: 0.0,
    };
    let printed = format!("calibration: {c}\n{{\"kernel\": \"map_affine\"}}\n");
    let read = printed_calibration(&printed);
    let (a, b) = (
        serde_json::to_value(&read).unwrap(),
        serde_json::to_value(&c).unwrap(),
    );
    fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
        match (a, b) {
            (serde_json::Value::Object(x), serde_json::Value::Object(y)) => {
                x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
            }
            (serde_json::Value::Number(x), serde_json::Value::Number(y)) => {
                let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                (x - y).abs() <= 1e-9 * x.abs().max(y.abs())
            }
            _ => a == b,
        }
    }
    assert!(same(&a, &b), "{a:#}\nagainst\n{b:#}");
    assert_eq!(calibrated_model(&printed).cpu_threads, 16);
}

/// One bench line's key and time.
struct Line {
    kernel: String,
    backend: String,
    mode: String,
    n: usize,
    median_s: f64,
}

fn lines(text: &str) -> Vec<Line> {
    text.lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            let s = |k: &str| v[k].as_str().expect("a string field").to_owned();
            Line {
                kernel: s("kernel"),
                backend: s("backend"),
                mode: s("mode"),
                n: v["n"].as_u64().expect("n") as usize,
                median_s: v["median_s"].as_f64().expect("median_s"),
            }
        })
        .collect()
}

/// What a bench kernel asks of the dispatcher.
enum Op {
    /// A map or a (fused) reduction: its workload.
    Kernel(Workload),
    /// One filter on an image.
    Filter(Filter),
}

/// The bench's kernel `name` over `n` values or pixels, as its calls
/// describe it to the dispatcher (`None` for the yardsticks).
fn op(name: &str, n: usize) -> Option<Op> {
    let kernel = |f: fn(crate::Expr) -> crate::Expr| crate::Kernel::unary(f).unwrap();
    let map = |f| Op::Kernel(Workload::map(&kernel(f), 1, n));
    let reduce = |f| Op::Kernel(Workload::reduce(&kernel(f), 1, n));
    Some(match name {
        "map_affine" => map(|v| v * 2.0 + 1.0),
        "map_transcend" => map(|v| v.sin() * (-v).exp()),
        "reduce_sum" | "reduce_max" => reduce(|v| v),
        "sum_squares" => reduce(|v| v * v),
        "gaussian_blur_s3" => Op::Filter(Filter::GaussianBlur { sigma: 3.0 }),
        "box_blur_r2" => Op::Filter(Filter::BoxBlur { radius: 2 }),
        "sobel" => Op::Filter(Filter::Sobel),
        _ => return None,
    })
}

/// Where `Auto` runs `op` over `n` values or pixels with the figures `m`:
/// on data from the host and back (`resident` false), or on an array or
/// image it made from host data (placed, then each operation choosing when
/// kept on both), as `Context` wires these figures.
fn choice(m: &CostModel, op: &Op, n: usize, resident: bool) -> (Backend, bool) {
    let (gpu, near_tie) = match (op, resident) {
        (Op::Kernel(w), false) => {
            let (cpu_s, gpu_s) = (m.cpu_plan(w).1, m.gpu_seconds(w));
            (gpu_s < cpu_s, ties::is_near_tie(cpu_s, gpu_s))
        }
        (Op::Filter(f), false) => {
            let filters = std::slice::from_ref(f);
            let gpu_s = m.gpu_seconds(&m.gpu_filter_workload(filters, n));
            let cpu_s = m.cpu_filter_plan(filters, n).1;
            (gpu_s < cpu_s, ties::is_near_tie(cpu_s, gpu_s))
        }
        (Op::Kernel(w), true) => match m.placement(n) {
            Placement::Host => (false, false),
            Placement::Device => (true, false),
            Placement::Both => (
                m.gpu_resident_wins(w),
                ties::is_near_tie(m.cpu_plan(w).1, m.gpu_resident_seconds(w)),
            ),
        },
        (Op::Filter(f), true) => match m.image_placement(n) {
            Placement::Host => (false, false),
            Placement::Device => (true, false),
            Placement::Both => {
                let (on_gpu, (_, cpu_s), gpu_s) = m.filters_on_both(std::slice::from_ref(f), n);
                (on_gpu, ties::is_near_tie(cpu_s, gpu_s))
            }
        },
    };
    let backend = if gpu { Backend::Gpu } else { Backend::Cpu };
    (backend, near_tie)
}

/// A recorded point: the machine (its printed hardware key and adapter),
/// kernel, backend, mode and size.
type Point = (String, String, String, String, usize);

/// The machine a run's calibration names (its hardware key and adapter),
/// and the session whose code it ran.
fn machine(run: &Run) -> String {
    let c = printed_calibration(run.text);
    let adapter = c.gpu.map(|g| g.adapter).unwrap_or_default();
    format!("{} | {adapter} | {}", c.hardware, run.session)
}

/// Each recorded point's time, as the geometric mean over the runs on the
/// same machine, in the same session, that recorded it.
fn recorded_times() -> std::collections::BTreeMap<Point, f64> {
    let mut logs = std::collections::BTreeMap::<_, (f64, u32)>::new();
    for run in &RUNS {
        let machine = machine(run);
        for l in lines(run.text) {
            let e = logs
                .entry((machine.clone(), l.kernel, l.backend, l.mode, l.n))
                .or_insert((0.0, 0));
            e.0 += l.median_s.ln();
            e.1 += 1;
        }
    }
    logs.into_iter()
        .map(|(k, (sum, count))| (k, (sum / count as f64).exp()))
        .collect()
}

/// Each host and resident point of every run, replayed with the figures
/// `model` gives for the run: a line of report and the regret, the chosen
/// backend's recorded time (over its session's runs on its machine) over the faster
/// one's, less one.
fn replay(model: impl Fn(&Run) -> CostModel) -> Vec<Replayed> {
    let times = recorded_times();
    let mut replayed = Vec::new();
    for run in &RUNS {
        let m = model(run);
        let here = machine(run);
        for (machine, kernel, backend, mode, n) in times.keys() {
            if *machine != here || backend != "auto" || !(mode == "host" || mode == "resident") {
                continue;
            }
            let Some(op) = op(kernel, *n) else { continue };
            let key = |b: &str| (here.clone(), kernel.clone(), b.to_owned(), mode.clone(), *n);
            let (cpu_s, gpu_s) = (times[&key("cpu")], times[&key("gpu")]);
            let (chosen, near_tie) = choice(&m, &op, *n, mode == "resident");
            let chosen_s = if chosen == Backend::Gpu { gpu_s } else { cpu_s };
            let regret = chosen_s / cpu_s.min(gpu_s) - 1.0;
            let line = format!(
                "{:<7} {kernel:<17} {mode:<8} {n:>9} cpu {:>9.4} ms gpu {:>9.4} ms chose {chosen:<4} regret {:>+6.1} %{}",
                run.name,
                cpu_s * 1e3,
                gpu_s * 1e3,
                regret * 100.0,
                if near_tie { " (near-tie: timed)" } else { "" }
            );
            replayed.push(Replayed {
                point: (run.name, kernel.clone(), mode.clone(), *n),
                line,
                regret,
                near_tie,
            });
        }
    }
    assert_eq!(
        replayed.len(),
        RUNS.len() * 2 * 52,
        "every host and resident point of every run"
    );
    replayed
}

/// A replayed point: its line of report, the regret of the model's
/// choice, and whether the point is a near-tie, which `Auto` settles by
/// timing both devices
/// ([`super::ties`]) rather than by the model's choice replayed here.
struct Replayed {
    /// The run's name, the kernel, the mode and the size.
    point: (&'static str, String, String, usize),
    line: String,
    regret: f64,
    near_tie: bool,
}

/// The points of `replayed` whose regret is over `bound` (`tie_bound` for
/// near-ties), after printing them all (`--nocapture` shows the table).
fn over(replayed: &[Replayed], bound: f64, tie_bound: f64) -> Vec<&Replayed> {
    println!("{}", report(replayed));
    replayed
        .iter()
        .filter(|r| r.regret > if r.near_tie { tie_bound } else { bound })
        .collect()
}

/// The report lines of `points`, one a line.
fn report<'a>(points: impl IntoIterator<Item = &'a Replayed>) -> String {
    let lines: Vec<&str> = points.into_iter().map(|r| r.line.as_str()).collect();
    lines.join("\n")
}

/// Points where a run's own calibration leads the model astray by its
/// session's mean times, by run, kernel, mode and size. The test below
/// checks that these, and no others, are over its bounds: a change to the
/// model that fixes one must take it off this list.
///
/// - The twelfth session's 1920×1080 Gaussian blur of a host image went to
///   the CPU in calls 1 and 5, +37 % by the session's means (the GPU took
///   1.30 ms, the CPU 1.78). In call 1 the CPU's filters ran 1.2–1.6 times
///   slower than that run's calibration said; in call 5 the calibration
///   measured the transfers at 13.1 GB/s, where that run's 1920×1080
///   filter calls moved about 23 GB/s (a slow spell, as in the eighth
///   session's fourth call). In both runs the GPU was the faster there,
///   and the bench's `Auto` lost 22 % and 26 % (BENCHMARKS.md, twelfth
///   session). Both are near-ties, which `Auto` now times (thirteenth
///   session); the replay still charges the model's choice, which the
///   devices' recorded times put past a near-tie's 30 %.
/// - Its call 2 put resident 2^22 sums on the CPU outright (estimates 1.46
///   apart, not a near-tie). In that run the CPU was the faster (0.077 ms
///   against 0.100) and the bench's `Auto` within 0.7 % and 3.5 %; by the
///   session's means the GPU is, by 11 % and 18 %.
const KNOWN_MISSES: [(&str, &str, &str, usize); 4] = [
    ("s12 call 1", "gaussian_blur_s3", "host", 2073600),
    ("s12 call 5", "gaussian_blur_s3", "host", 2073600),
    ("s12 call 2", "reduce_sum", "resident", 4194304),
    ("s12 call 2", "sum_squares", "resident", 4194304),
];

#[test]
fn the_h200s_recorded_times_replayed_cost_a_calibrated_auto_at_most_a_tenth() {
    // Near-ties are settled by timing, which a replay cannot follow: the
    // model's choice there only orders the two timed runs. Replayed as if
    // it were kept, it is held to what a near-tie means, estimates within
    // 30 % (the worst, +21.5 % by its session's mean times, is a resident
    // 2^22 sum in the tenth session's second call, whose calibration put it
    // 4 % faster on the GPU; in that run the GPU was the faster, and
    // `Auto`, timing it, kept the GPU).
    let replayed = replay(|run| calibrated_model(run.text));
    let worst = over(&replayed, 0.10, ties::TIE_RATIO - 1.0);
    let known = |r: &Replayed| {
        let (run, kernel, mode, n) = &r.point;
        KNOWN_MISSES.contains(&(*run, kernel.as_str(), mode.as_str(), *n))
    };
    let (expected, new): (Vec<&Replayed>, Vec<&Replayed>) =
        worst.into_iter().partition(|r| known(r));
    assert!(
        new.is_empty(),
        "over 10 % (30 % at near-ties):\n{}",
        report(new)
    );
    assert_eq!(
        expected.len(),
        KNOWN_MISSES.len(),
        "a known miss is no longer over (take it off KNOWN_MISSES):\n{}",
        report(expected)
    );
    let ties = replayed.iter().filter(|r| r.near_tie).count();
    assert!(ties < replayed.len() / 10, "{ties} near-ties");
}

#[test]
fn the_built_in_figures_on_the_h200s_machine_cost_auto_less_than_half_again() {
    // Before any calibration, on each run's thread count (the H200's
    // 16-core host). A map call's
    // launch of 40 µs (the built-in figure before the H200 measured 68-81)
    // sent 2^20-value reductions and 256×256 Gaussian blurs to the GPU,
    // 1.4-2.5 times slower there.
    let replayed = replay(|run| CostModel::builtin_for(calibrated_model(run.text).cpu_threads));
    let worst = over(&replayed, 0.5, 0.5);
    assert!(worst.is_empty(), "over 50 %:\n{}", report(worst));
}
