//! Backend choice: availability, size and a cost model that counts
//! host-device transfers as well as the work.
//!
//! For [`Backend::Auto`] the dispatcher estimates the time of a call on the
//! CPU backend (one thread, or every thread plus the cost of waking the pool)
//! and on the GPU (launch latency, a reduction's with its result read back;
//! a fixed cost and the bytes up and down over the bus; then the kernel),
//! and runs the cheaper; where the two are within 30 % of each other on a
//! hardware GPU (a near-tie), calls are timed on both devices now and then
//! and run where the latest timing found them faster (`dispatch::ties`).
//! The GPU is only looked at when its estimate could win or tie, so small
//! calls never open a device; an adapter that is software
//! (`DeviceType::Cpu`, such as lavapipe) is never chosen over the native
//! CPU backend. Each decision is returned as a [`Dispatch`]
//! record and logged as a `tracing` debug event.
//!
//! [`CostModel::default`] is this machine's saved calibration (see
//! [`crate::calibration`]) when there is one. Without one it is
//! [`CostModel::builtin`], rough figures measured on a 2-core AVX-512 Xeon
//! and a 16-core host with an NVIDIA H200: about 12·10⁹ work units per
//! second per CPU thread, 75 µs to launch a GPU call, and about 6 GB/s for
//! data crossing to and from the GPU (host-mode calls moved 7–14 GB/s
//! there, before transfers went through a ring of pooled staging buffers;
//! see `backend::gpu::transfer`). They decide clear cases well and leave close
//! ones to either backend, where the difference is small by definition.
//! [`crate::calibrate`] measures the transfer rate through the same path
//! the calls take.
//!
//! A filter's time on the CPU is estimated from what each kind of filter
//! was measured to cost per pixel ([`FilterCosts`]), not from its count of
//! arithmetic: the machines seen so far differ by a factor of two in how a
//! filter compares with their arithmetic rate.

use crate::backend::Backend;
use crate::filter::Filter;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why the dispatcher ran a call where it did.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Reason {
    /// The context was created for this backend.
    Requested,
    /// Nothing to compute.
    Empty,
    /// The estimated cost decided; both estimates are in seconds. `gpu_s` is
    /// `None` when the GPU could not win even with optimistic figures, in
    /// which case no device was opened.
    CostModel {
        /// Estimated time on the CPU backend.
        cpu_s: f64,
        /// Estimated time on the GPU backend, if it was considered.
        gpu_s: Option<f64>,
    },
    /// The GPU would have been cheaper but no usable adapter exists.
    GpuUnavailable {
        /// The error from opening the device.
        why: String,
    },
    /// A new array or image went to a hardware GPU: a kernel on data that
    /// stays on the device was estimated faster there than on the CPU
    /// (launch latency against the two memories' bandwidths).
    DeviceResident {
        /// The adapter's name.
        adapter: String,
    },
    /// A new array or image was kept on both the host and a hardware GPU:
    /// at its size the faster device depends on the operation (a light map
    /// or a reduction on the CPU, heavy arithmetic on the GPU; a colour
    /// filter on the CPU, a wide blur on the GPU), so each operation on it
    /// chooses (see [`Context::array`](crate::Context::array) and
    /// [`Context::image`](crate::Context::image)). Those choices are
    /// `tracing` debug events (target `gpu::dispatch`), not records of a
    /// context: an array or image belongs to none.
    KeptOnBoth {
        /// The adapter's name.
        adapter: String,
    },
    /// The two estimates (in seconds) for a call on host data were within
    /// 30 % of each other (`TIE_RATIO`), too close for the model to tell
    /// which device is faster on this machine, and a hardware GPU was
    /// there: such calls are timed on each device now and then, and run
    /// where the latest timing found them faster (see
    /// [`Context`](crate::Context)).
    NearTie {
        /// Estimated time on the CPU backend.
        cpu_s: f64,
        /// Estimated time on the GPU backend, the transfers included.
        gpu_s: f64,
        /// Whether this call was one of the timing calls (otherwise it ran
        /// where the latest timing settled, or where the model says before
        /// the first is in).
        timed: bool,
    },
    /// The GPU would have been cheaper but the adapter is a software
    /// implementation on the CPU, which the CPU backend beats.
    GpuIsSoftware {
        /// The adapter's name.
        adapter: String,
    },
}

/// A record of one dispatch decision: which backend ran a call, and why.
///
/// ```
/// let ctx = gpu::Context::new(gpu::Backend::Auto)?;
/// ctx.map(&[1.0, 2.0], |v| v + 1.0)?;
/// let d = ctx.last_dispatch().expect("a call was made");
/// assert_eq!(d.backend, gpu::Backend::Cpu);
/// assert_eq!(d.threads, 1);
/// println!("{d}");
/// # Ok::<(), gpu::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Dispatch {
    /// The call, for example `"map"` or `"map2_into"`.
    pub op: &'static str,
    /// The backend that ran it: `Gpu`, `Cpu` or `Scalar`; `Auto` only for
    /// an array or image kept on both the host and the GPU
    /// ([`Reason::KeptOnBoth`]).
    pub backend: Backend,
    /// The backend the context was created with.
    pub requested: Backend,
    /// Elements processed.
    pub n: usize,
    /// CPU threads used (1 for the scalar backend and single-threaded CPU
    /// calls; 0 for the GPU and for data kept on both devices).
    pub threads: usize,
    /// Why this backend.
    pub reason: Reason,
}

impl fmt::Display for Dispatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} of {} elements on {}", self.op, self.n, self.backend)?;
        if matches!(self.backend, Backend::Cpu | Backend::Scalar) {
            let s = if self.threads == 1 { "" } else { "s" };
            write!(f, " ({} thread{s})", self.threads)?;
        }
        f.write_str(": ")?;
        match &self.reason {
            Reason::Requested => write!(f, "requested ({})", self.requested),
            Reason::Empty => f.write_str("empty input"),
            Reason::CostModel {
                cpu_s,
                gpu_s: Some(g),
            } => {
                write!(
                    f,
                    "cost model: cpu {} vs gpu {}",
                    seconds(*cpu_s),
                    seconds(*g)
                )
            }
            Reason::CostModel { cpu_s, gpu_s: None } => {
                write!(
                    f,
                    "cost model: cpu {}; the gpu cannot win at this size",
                    seconds(*cpu_s)
                )
            }
            Reason::GpuUnavailable { why } => {
                write!(f, "gpu would be cheaper but is unavailable ({why})")
            }
            Reason::DeviceResident { adapter } => {
                write!(
                    f,
                    "placed on the hardware gpu {adapter:?}: a kernel on it is estimated faster there"
                )
            }
            Reason::KeptOnBoth { adapter } => {
                write!(
                    f,
                    "kept on the host and the hardware gpu {adapter:?}: each operation on it runs where it is estimated faster"
                )
            }
            Reason::NearTie {
                cpu_s,
                gpu_s,
                timed,
            } => {
                write!(
                    f,
                    "cost model: cpu {} vs gpu {}, a near-tie {}",
                    seconds(*cpu_s),
                    seconds(*gpu_s),
                    if *timed {
                        "being timed on each device"
                    } else {
                        "settled by timing"
                    }
                )
            }
            Reason::GpuIsSoftware { adapter } => {
                write!(
                    f,
                    "gpu adapter {adapter:?} is software on the CPU; the cpu backend is faster"
                )
            }
        }
    }
}

fn seconds(s: f64) -> String {
    if s < 1e-3 {
        format!("{:.1} us", s * 1e6)
    } else {
        format!("{:.2} ms", s * 1e3)
    }
}

/// What a call costs per element.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Workload {
    /// Elements.
    pub n: usize,
    /// Bytes read from the host per element (4 per `f32` input).
    pub bytes_in: f64,
    /// Bytes written to the host per element. None (`0.0`) for a
    /// reduction, whose few values of result are read back to the host
    /// whichever device holds the data ([`CostModel::gpu_reduce_launch_s`]).
    pub bytes_out: f64,
    /// Work per element, in units of one `f32` addition.
    pub work: f64,
}

impl Workload {
    /// A map of `kernel` over `n` elements of its `inputs` input arrays,
    /// into one `f32` output: how a map is described to the dispatcher,
    /// on slices and on arrays alike.
    pub(crate) fn map(kernel: &crate::Kernel, inputs: usize, n: usize) -> Workload {
        Workload {
            n,
            bytes_in: 4.0 * inputs as f64,
            bytes_out: 4.0,
            work: kernel.work_per_element(),
        }
    }

    /// A reduction of `kernel` over `n` elements of its `inputs` input
    /// arrays: no output per element, and one more addition for the
    /// reduction itself.
    pub(crate) fn reduce(kernel: &crate::Kernel, inputs: usize, n: usize) -> Workload {
        Workload {
            bytes_out: 0.0,
            work: kernel.work_per_element() + 1.0,
            ..Workload::map(kernel, inputs, n)
        }
    }

    /// The GPU's workload of `filters` applied in turn to an image of
    /// `pixels` pixels by arithmetic weights: RGBA in and out,
    /// [`Filter::work_per_pixel`] each. What a cost model without measured
    /// GPU filter costs estimates with (see
    /// [`CostModel::gpu_filter_workload`]); the CPU's time comes from
    /// measured costs: [`CostModel::cpu_filter_plan`].
    ///
    /// ```
    /// use gpu::dispatch::Workload;
    /// use gpu::filter::Filter;
    /// let w = Workload::filters_on_gpu(&[Filter::Sobel, Filter::Invert], 100);
    /// assert_eq!(w.work, Filter::Sobel.work_per_pixel() + Filter::Invert.work_per_pixel());
    /// ```
    pub fn filters_on_gpu(filters: &[Filter], pixels: usize) -> Workload {
        Workload {
            n: pixels,
            bytes_in: 4.0,
            bytes_out: 4.0,
            work: filters.iter().map(Filter::work_per_pixel).sum(),
        }
    }
}

/// Rough machine figures the dispatcher estimates with.
#[derive(Clone, Debug, PartialEq)]
pub struct CostModel {
    /// Threads in rayon's pool.
    pub cpu_threads: usize,
    /// Work units one thread does per second with SIMD.
    pub cpu_work_per_s: f64,
    /// Memory bandwidth one thread gets, bytes per second.
    pub cpu_bytes_per_s: f64,
    /// Memory bandwidth all threads together get, bytes per second.
    pub cpu_bytes_per_s_all: f64,
    /// Cost of fanning out to the pool and joining, seconds.
    pub cpu_parallel_overhead_s: f64,
    /// Submit, dispatch and wait for one GPU call, seconds.
    pub gpu_launch_s: f64,
    /// The same for a reduction, whose result is read back to the host
    /// (mapping a buffer and a wait the map call does not have), seconds:
    /// on the H200 a tiny sum took 15-30 µs more than a tiny map.
    pub gpu_reduce_launch_s: f64,
    /// Host-device transfer bandwidth, bytes per second (each direction).
    pub gpu_transfer_bytes_per_s: f64,
    /// A call's transfers' fixed cost beyond their bytes at
    /// `gpu_transfer_bytes_per_s`, seconds: the upload's and the download's
    /// submissions and waits, and the host's copies of the first and last
    /// staging pieces, which no device copy overlaps. Not calibrated: the
    /// two measurements tried on the H200 read 0 and 0.39 ms where its
    /// bench lines showed 0.05-0.15 ms (BENCHMARKS.md, eighth session).
    pub gpu_transfer_latency_s: f64,
    /// Device memory bandwidth, bytes per second.
    pub gpu_bytes_per_s: f64,
    /// Work units the GPU does per second.
    pub gpu_work_per_s: f64,
    /// What the CPU backend's filters cost one thread per pixel.
    pub cpu_filter: FilterCosts,
    /// What they cost per pixel on all of rayon's threads together (wall
    /// time over pixels, the fan-out apart). Not the one-thread figure over
    /// the thread count: on many cores the light filters wait on memory
    /// (on the H200's 16-core host a 5×5 box blur ran at half the
    /// per-thread rate of a Gaussian's taps).
    pub cpu_filter_all: FilterCosts,
    /// What the GPU's filters cost per pixel, measured on the adapter
    /// [`CostModel::gpu_adapter`] names; `None` where no hardware GPU was
    /// measured (see [`CostModel::gpu_filter_workload`]).
    pub gpu_filter: Option<GpuFilterCosts>,
    /// The adapter the GPU figures were measured on (see
    /// [`AdapterSummary::calibration_name`](crate::AdapterSummary::calibration_name)),
    /// or `None` for the built-in figures. Another adapter is estimated
    /// with the built-in figures.
    pub gpu_adapter: Option<String>,
}

impl Default for CostModel {
    /// This machine's calibration when one is saved (see
    /// [`crate::calibration`]), the built-in figures otherwise.
    fn default() -> CostModel {
        (*crate::calibration::current_model()).clone()
    }
}

impl CostModel {
    /// The built-in figures, measured on the development machines: a
    /// starting point before calibration.
    ///
    /// ```
    /// let m = gpu::dispatch::CostModel::builtin();
    /// assert!(m.cpu_work_per_s > 0.0);
    /// ```
    pub fn builtin() -> CostModel {
        CostModel::builtin_for(crate::backend::cpu::threads())
    }

    /// [`CostModel::builtin`] for a CPU backend of `threads` threads.
    pub(crate) fn builtin_for(threads: usize) -> CostModel {
        CostModel {
            cpu_threads: threads,
            cpu_work_per_s: 12e9,
            cpu_bytes_per_s: 12e9,
            cpu_bytes_per_s_all: (12e9 * threads as f64).min(80e9),
            cpu_parallel_overhead_s: 10e-6,
            // The one hardware GPU measured so far, the H200, took 68-81
            // µs a call. At 40 µs, on its 16-core host, these figures sent
            // 2^20-value reductions and 256×256 Gaussian blurs to the GPU,
            // 1.4-2.5 times slower there (`dispatch::replay`).
            gpu_launch_s: 75e-6,
            gpu_reduce_launch_s: 95e-6,
            gpu_transfer_bytes_per_s: 6e9,
            // The H200's bench took 0.05-0.15 ms more than the bytes at
            // the rate to move 3-8 MB, in three runs.
            gpu_transfer_latency_s: 100e-6,
            gpu_bytes_per_s: 1e12,
            gpu_work_per_s: 1e13,
            cpu_filter: FilterCosts::builtin(),
            // Three quarters of perfect scaling.
            cpu_filter_all: FilterCosts::builtin().scaled(4.0 / (3.0 * threads as f64)),
            gpu_filter: None,
            gpu_adapter: None,
        }
    }
}

impl CostModel {
    /// Estimated CPU seconds for `w` on `threads` threads: per element,
    /// the slower of moving its bytes and doing its work, plus the fan-out
    /// on more than one thread.
    ///
    /// ```
    /// use gpu::dispatch::{CostModel, Workload};
    /// let m = CostModel {
    ///     cpu_work_per_s: 1e9,
    ///     cpu_bytes_per_s: 8e9,
    ///     cpu_bytes_per_s_all: 16e9,
    ///     cpu_parallel_overhead_s: 1e-5,
    ///     ..CostModel::builtin()
    /// };
    /// let w = Workload { n: 1000, bytes_in: 4.0, bytes_out: 4.0, work: 100.0 };
    /// // Bound by arithmetic: 1000 × 100 units at 10⁹ a second.
    /// assert!((m.cpu_seconds(&w, 1) - 1e-4).abs() < 1e-12);
    /// // On four threads a quarter of that, plus the fan-out.
    /// assert!((m.cpu_seconds(&w, 4) - (2.5e-5 + 1e-5)).abs() < 1e-12);
    /// ```
    pub fn cpu_seconds(&self, w: &Workload, threads: usize) -> f64 {
        let t = threads.max(1) as f64;
        let bw = if threads > 1 {
            self.cpu_bytes_per_s_all
        } else {
            self.cpu_bytes_per_s
        };
        let per_element = ((w.bytes_in + w.bytes_out) / bw).max(w.work / (self.cpu_work_per_s * t));
        let overhead = if threads > 1 {
            self.cpu_parallel_overhead_s
        } else {
            0.0
        };
        overhead + w.n as f64 * per_element
    }

    /// The best thread count for `w` (1 or all) and its estimated time.
    ///
    /// ```
    /// use gpu::dispatch::{CostModel, Workload};
    /// let m = CostModel { cpu_threads: 8, cpu_bytes_per_s_all: 48e9, ..CostModel::builtin() };
    /// let w = |n| Workload { n, bytes_in: 4.0, bytes_out: 4.0, work: 2.0 };
    /// // A few elements are not worth waking the pool for; millions are.
    /// assert_eq!(m.cpu_plan(&w(16)), (1, m.cpu_seconds(&w(16), 1)));
    /// assert_eq!(m.cpu_plan(&w(1 << 24)), (8, m.cpu_seconds(&w(1 << 24), 8)));
    /// ```
    pub fn cpu_plan(&self, w: &Workload) -> (usize, f64) {
        let one = self.cpu_seconds(w, 1);
        if self.cpu_threads <= 1 {
            return (1, one);
        }
        let all = self.cpu_seconds(w, self.cpu_threads);
        if all < one {
            (self.cpu_threads, all)
        } else {
            (1, one)
        }
    }

    /// The best thread count (1 or all) for `filters` applied in turn to an
    /// image of `pixels` pixels on the CPU backend, and its estimated time,
    /// from the filters' measured costs ([`CostModel::cpu_filter`] and
    /// [`CostModel::cpu_filter_all`]). (The GPU's estimate of the same chain
    /// comes from its own measured costs, or arithmetic weights where none
    /// were measured: [`CostModel::gpu_filter_workload`].)
    ///
    /// ```
    /// use gpu::filter::Filter;
    /// let m = gpu::dispatch::CostModel::builtin();
    /// let light = m.cpu_filter_plan(&[Filter::Invert], 1 << 20);
    /// let heavy = m.cpu_filter_plan(&[Filter::GaussianBlur { sigma: 3.0 }], 1 << 20);
    /// assert!(heavy.1 > light.1);
    /// // A tiny image is not worth waking the pool for.
    /// assert_eq!(m.cpu_filter_plan(&[Filter::Invert], 16).0, 1);
    /// ```
    pub fn cpu_filter_plan(&self, filters: &[Filter], pixels: usize) -> (usize, f64) {
        let n = pixels as f64;
        let per_pixel =
            |c: &FilterCosts| -> f64 { filters.iter().map(|f| c.seconds_per_pixel(f)).sum() };
        let one = n * per_pixel(&self.cpu_filter);
        if self.cpu_threads <= 1 {
            return (1, one);
        }
        let all = self.cpu_parallel_overhead_s + n * per_pixel(&self.cpu_filter_all);
        if all < one {
            (self.cpu_threads, all)
        } else {
            (1, one)
        }
    }

    /// Estimated GPU seconds for `w` with data starting and ending on the
    /// host: the transfers both ways (their fixed cost and their bytes),
    /// then the launch and the kernel ([`CostModel::gpu_resident_seconds`]).
    ///
    /// ```
    /// use gpu::dispatch::{CostModel, Workload};
    /// let m = CostModel {
    ///     gpu_launch_s: 1e-4,
    ///     gpu_transfer_bytes_per_s: 1e10,
    ///     gpu_transfer_latency_s: 5e-5,
    ///     gpu_bytes_per_s: 1e12,
    ///     gpu_work_per_s: 1e13,
    ///     ..CostModel::builtin()
    /// };
    /// let w = Workload { n: 1_000_000, bytes_in: 4.0, bytes_out: 4.0, work: 2.0 };
    /// // 100 µs launch + 50 µs and 8 MB over the bus at 10 GB/s + 8 MB of
    /// // device memory at 1 TB/s.
    /// assert!((m.gpu_seconds(&w) - (100e-6 + 50e-6 + 800e-6 + 8e-6)).abs() < 1e-12);
    /// ```
    pub fn gpu_seconds(&self, w: &Workload) -> f64 {
        let bytes = w.n as f64 * (w.bytes_in + w.bytes_out);
        let transfer = if bytes > 0.0 {
            self.gpu_transfer_latency_s + bytes / self.gpu_transfer_bytes_per_s
        } else {
            0.0
        };
        transfer + self.gpu_resident_seconds(w)
    }

    /// Estimated GPU seconds for `w` with data already on the device and
    /// left there: launch and kernel, no transfers. The launch of a
    /// reduction (`bytes_out` 0), whose result is read back, is
    /// [`CostModel::gpu_reduce_launch_s`]. How arrays and images are placed
    /// (see [`Context::array`](crate::Context::array)).
    ///
    /// ```
    /// use gpu::dispatch::{CostModel, Workload};
    /// let m = CostModel::builtin();
    /// let w = Workload { n: 1 << 24, bytes_in: 4.0, bytes_out: 4.0, work: 2.0 };
    /// assert!(m.gpu_resident_seconds(&w) < m.gpu_seconds(&w));
    /// let tiny_map = Workload { n: 1, ..w };
    /// let tiny_sum = Workload { bytes_out: 0.0, ..tiny_map };
    /// assert!(m.gpu_resident_seconds(&tiny_sum) > m.gpu_resident_seconds(&tiny_map));
    /// ```
    pub fn gpu_resident_seconds(&self, w: &Workload) -> f64 {
        let kernel = w.n as f64
            * ((w.bytes_in + w.bytes_out) / self.gpu_bytes_per_s).max(w.work / self.gpu_work_per_s);
        let launch = if w.bytes_out == 0.0 {
            self.gpu_reduce_launch_s
        } else {
            self.gpu_launch_s
        };
        launch + kernel
    }

    /// The GPU's workload for `filters` applied in turn to an image of
    /// `pixels` pixels, for [`CostModel::gpu_seconds`] and
    /// [`CostModel::gpu_resident_seconds`]: with measured filter costs
    /// ([`CostModel::gpu_filter`]), their seconds per pixel (at least the
    /// time to read and write a pixel at [`CostModel::gpu_bytes_per_s`]),
    /// and each filter's launch beyond a map call's
    /// ([`GpuFilterCosts::launch_s`] less [`CostModel::gpu_launch_s`])
    /// spread over the pixels, as work at this model's GPU rate; otherwise
    /// [`Workload::filters_on_gpu`], arithmetic weights.
    ///
    /// ```
    /// use gpu::dispatch::{CostModel, GpuFilterCosts, Workload};
    /// use gpu::filter::Filter;
    /// let mut m = CostModel::builtin();
    /// let chain = [Filter::Sobel];
    /// assert_eq!(m.gpu_filter_workload(&chain, 100), Workload::filters_on_gpu(&chain, 100));
    /// m.gpu_filter = Some(GpuFilterCosts {
    ///     launch_s: m.gpu_launch_s + 10e-6,
    ///     tap_s: 1e-12,
    ///     separable_s: 1e-11,
    ///     weight_s: 1e-12,
    ///     convolve_s: 1e-12,
    ///     sobel_s: 3e-11,
    ///     colour_s: 1e-12,
    /// });
    /// let pixels = 1 << 20;
    /// let w = m.gpu_filter_workload(&chain, pixels);
    /// let kernel = m.gpu_resident_seconds(&w) - m.gpu_launch_s;
    /// assert!((kernel - (10e-6 + pixels as f64 * 3e-11)).abs() < 1e-9);
    /// // Each filter of a chain adds its launch beyond a map call's.
    /// let twice = m.gpu_filter_workload(&[Filter::Sobel, Filter::Sobel], pixels);
    /// let kernels = m.gpu_resident_seconds(&twice) - m.gpu_launch_s;
    /// assert!((kernels - 2.0 * kernel).abs() < 1e-9);
    /// ```
    pub fn gpu_filter_workload(&self, filters: &[Filter], pixels: usize) -> Workload {
        let arithmetic = Workload::filters_on_gpu(filters, pixels);
        match &self.gpu_filter {
            Some(c) => {
                // The pixels' cost is at least what reading and writing them
                // takes, so that the launches are added to that floor, not
                // hidden under it by `gpu_resident_seconds`.
                let floor = (arithmetic.bytes_in + arithmetic.bytes_out) / self.gpu_bytes_per_s;
                let pixels_s = filters
                    .iter()
                    .map(|f| c.seconds_per_pixel(f))
                    .sum::<f64>()
                    .max(floor);
                let launches = filters.len() as f64 * (c.launch_s - self.gpu_launch_s).max(0.0);
                Workload {
                    work: (pixels_s + launches / pixels.max(1) as f64) * self.gpu_work_per_s,
                    ..arithmetic
                }
            }
            None => arithmetic,
        }
    }

    /// These figures with the built-in GPU figures in place of the measured
    /// ones: for an adapter other than the one they were measured on.
    ///
    /// ```
    /// use gpu::dispatch::CostModel;
    /// let measured = CostModel {
    ///     gpu_launch_s: 1.0,
    ///     gpu_adapter: Some("A".into()),
    ///     ..CostModel::builtin()
    /// };
    /// assert_eq!(measured.with_builtin_gpu(), CostModel::builtin());
    /// let more_threads = CostModel { cpu_threads: 99, ..measured };
    /// assert_eq!(more_threads.with_builtin_gpu().cpu_threads, 99);
    /// ```
    pub fn with_builtin_gpu(&self) -> CostModel {
        self.clone().with_gpu_figures_of(&CostModel::builtin())
    }

    /// These figures with the GPU's taken from `other` (every `gpu_` field,
    /// the adapter they were measured on included); the CPU's stay.
    pub(crate) fn with_gpu_figures_of(self, other: &CostModel) -> CostModel {
        CostModel {
            gpu_launch_s: other.gpu_launch_s,
            gpu_reduce_launch_s: other.gpu_reduce_launch_s,
            gpu_transfer_bytes_per_s: other.gpu_transfer_bytes_per_s,
            gpu_transfer_latency_s: other.gpu_transfer_latency_s,
            gpu_bytes_per_s: other.gpu_bytes_per_s,
            gpu_work_per_s: other.gpu_work_per_s,
            gpu_filter: other.gpu_filter.clone(),
            gpu_adapter: other.gpu_adapter.clone(),
            ..self
        }
    }

    /// Whether `w` on data already on both devices is estimated faster on
    /// the GPU than on the CPU (how operations on an array kept on both
    /// choose).
    pub(crate) fn gpu_resident_wins(&self, w: &Workload) -> bool {
        w.n > 0 && self.gpu_resident_seconds(w) < self.cpu_plan(w).1
    }

    /// Whether `w` on data already on the GPU is estimated faster there by
    /// more than a near-tie (`ties::TIE_RATIO`).
    fn gpu_resident_clearly_wins(&self, w: &Workload) -> bool {
        let (cpu_s, gpu_s) = (self.cpu_plan(w).1, self.gpu_resident_seconds(w));
        w.n > 0 && gpu_s < cpu_s && !ties::is_near_tie(cpu_s, gpu_s)
    }

    /// Where `Auto` keeps a new array of `n` values made from host data,
    /// given a hardware GPU these figures hold for:
    /// * on the host when even heavy arithmetic (`HEAVY_MAP_WORK` per
    ///   value) is estimated faster on the CPU;
    /// * on the GPU when even a reduction (each value read once, no
    ///   output) is estimated faster there, since every other operation
    ///   moves more bytes or does more arithmetic per value, and not by so
    ///   little that it is a near-tie (`ties::TIE_RATIO`): `Auto` times
    ///   near-ties on data kept on both, and on the H200 the GPU, placed
    ///   on by a reduction estimated 1.5 % faster there, was 6–23 % slower
    ///   at 2^22 values;
    /// * on both in between (the values held twice), where the faster
    ///   device depends on the operation or is a near-tie, up to
    ///   `MIRROR_MAX_BYTES` (past that, where a light map is faster).
    pub(crate) fn placement(&self, n: usize) -> Placement {
        let workload = |bytes_out: f64, work: f64| Workload {
            n,
            bytes_in: 4.0,
            bytes_out,
            work,
        };
        let typical = workload(4.0, 2.0);
        if !self.gpu_resident_wins(&workload(4.0, HEAVY_MAP_WORK)) {
            Placement::Host
        } else if self.gpu_resident_clearly_wins(&workload(0.0, 1.0)) {
            Placement::Device
        } else if 4 * n <= MIRROR_MAX_BYTES {
            Placement::Both
        } else if self.gpu_resident_wins(&typical) {
            Placement::Device
        } else {
            Placement::Host
        }
    }

    /// Whether `filters` on an image of `pixels` pixels already on both
    /// devices are estimated faster on the GPU than on the CPU (how filters
    /// on an image kept on both choose).
    pub(crate) fn gpu_filters_win(&self, filters: &[Filter], pixels: usize) -> bool {
        self.filters_on_both(filters, pixels).0
    }

    /// For `filters` on an image of `pixels` pixels already on both
    /// devices: whether the GPU is estimated faster, the CPU's plan
    /// (threads and seconds), and the GPU's seconds.
    pub(crate) fn filters_on_both(
        &self,
        filters: &[Filter],
        pixels: usize,
    ) -> (bool, (usize, f64), f64) {
        let cpu = self.cpu_filter_plan(filters, pixels);
        let gpu_s = self.gpu_resident_seconds(&self.gpu_filter_workload(filters, pixels));
        (pixels > 0 && gpu_s < cpu.1, cpu, gpu_s)
    }

    /// Where `Auto` keeps a new image of `pixels` pixels, given a hardware
    /// GPU these figures hold for, as [`CostModel::placement`] keeps arrays:
    /// * on the host when even a heavy blur (`HEAVY_FILTER`) is estimated
    ///   faster on the CPU;
    /// * on the GPU when even the light filters (`LIGHT_FILTERS`) are
    ///   estimated faster there, none by so little that it is a near-tie;
    /// * on both in between, where the filters' crossovers lie (on the
    ///   H200 the bench charted a Gaussian blur's at 1.1·10^5 pixels and a
    ///   box blur's at 0.8–1.0·10^6), up to `MIRROR_MAX_BYTES`; past that,
    ///   where a small Gaussian blur (σ 1) is faster.
    pub(crate) fn image_placement(&self, pixels: usize) -> Placement {
        if !self.gpu_filters_win(&[HEAVY_FILTER], pixels) {
            Placement::Host
        } else if LIGHT_FILTERS.iter().all(|f| {
            let (on_gpu, (_, cpu_s), gpu_s) = self.filters_on_both(std::slice::from_ref(f), pixels);
            on_gpu && !ties::is_near_tie(cpu_s, gpu_s)
        }) {
            Placement::Device
        } else if 4 * pixels <= MIRROR_MAX_BYTES {
            Placement::Both
        } else if self.gpu_filters_win(&[Filter::GaussianBlur { sigma: 1.0 }], pixels) {
            Placement::Device
        } else {
            Placement::Host
        }
    }
}

/// What the CPU backend's filters cost per pixel, in seconds, by the way
/// each is computed (see `filter::cpu`): on one thread
/// ([`CostModel::cpu_filter`]) or on all together
/// ([`CostModel::cpu_filter_all`]). [`crate::calibrate`] measures them: the
/// machines seen so far differ by a factor of two in how a filter's cost
/// compares with their arithmetic rate (on the 2-core development machine
/// a 5×5 box blur costs 1.7 taps of a Gaussian, on the H200's 16-core host
/// 3.6), so no fixed weight fits both.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FilterCosts {
    /// Per tap of a separable pass pair in `f32` (Gaussian blur, box blur
    /// over radius 7, `Separable`, `Sharpen`'s blur), counting the mean of
    /// the two kernels' lengths; each weight of a `Convolve` costs about
    /// three quarters of one.
    pub tap_s: f64,
    /// A separable pass pair's cost beyond its taps: loading, padding and
    /// rounding each row.
    pub separable_s: f64,
    /// The integer box blur of radius 2 (radius 1 to 7: the cost grows by
    /// about a tenth of this per unit of radius).
    pub box_s: f64,
    /// The Sobel gradient magnitude.
    pub sobel_s: f64,
    /// A colour transform: grayscale, invert, brightness and contrast.
    pub colour_s: f64,
}

impl FilterCosts {
    /// One thread's figures measured on the 2-core AVX-512 development
    /// machine, used until [`crate::calibrate`] measures this one.
    ///
    /// ```
    /// let c = gpu::dispatch::FilterCosts::builtin();
    /// assert!(c.tap_s > 0.0);
    /// ```
    pub fn builtin() -> FilterCosts {
        FilterCosts {
            tap_s: 0.4e-9,
            separable_s: 0.5e-9,
            box_s: 0.8e-9,
            sobel_s: 1.0e-9,
            colour_s: 0.6e-9,
        }
    }

    /// Every figure times `factor`.
    pub(crate) fn scaled(&self, factor: f64) -> FilterCosts {
        FilterCosts {
            tap_s: self.tap_s * factor,
            separable_s: self.separable_s * factor,
            box_s: self.box_s * factor,
            sobel_s: self.sobel_s * factor,
            colour_s: self.colour_s * factor,
        }
    }

    /// Seconds per pixel of `filter`.
    ///
    /// ```
    /// use gpu::filter::Filter;
    /// let c = gpu::dispatch::FilterCosts::builtin();
    /// let s1 = c.seconds_per_pixel(&Filter::GaussianBlur { sigma: 1.0 });
    /// let s3 = c.seconds_per_pixel(&Filter::GaussianBlur { sigma: 3.0 });
    /// assert!(s3 > 2.0 * s1);
    /// ```
    pub fn seconds_per_pixel(&self, filter: &Filter) -> f64 {
        let separable = |taps: f64| taps * self.tap_s + self.separable_s;
        match filter {
            Filter::GaussianBlur { sigma } => separable(gaussian_taps(*sigma)),
            Filter::BoxBlur { radius: 0 } => self.colour_s,
            Filter::BoxBlur { radius } if *radius <= crate::filter::cpu::MAX_INTEGER_BOX_RADIUS => {
                self.box_s * (0.8 + 0.1 * *radius as f64)
            }
            Filter::BoxBlur { radius } => separable(2.0 * *radius as f64 + 1.0),
            Filter::Separable {
                horizontal,
                vertical,
            } => separable((horizontal.len() + vertical.len()) as f64 / 2.0),
            Filter::Sharpen { sigma, .. } => separable(gaussian_taps(*sigma)) + self.colour_s,
            // One row pass per kernel row: less than a separable tap per
            // weight (the row pass alone: about half of one on a small
            // image, more on large ones, where each output row reads
            // `size` input rows again), and a row's loading and padding per
            // kernel row.
            Filter::Convolve { size, .. } => {
                let size = *size as f64;
                size * size * self.tap_s * 0.75 + size * self.separable_s
            }
            Filter::Sobel => self.sobel_s,
            Filter::Grayscale | Filter::Invert | Filter::BrightnessContrast { .. } => self.colour_s,
        }
    }
}

/// What the GPU backend's filters cost on an image already on the device:
/// a call's launch and the cost per pixel past it, measured by
/// [`crate::calibrate`] on a hardware GPU ([`CostModel::gpu_filter`]).
/// Without them the GPU's filters are estimated by arithmetic weights
/// ([`Filter::work_per_pixel`]) past a map call's launch, which put the
/// H200's per-pixel costs 2.5–3.5 times under what its bench measured (a
/// 5×5 box blur at 25 ps a pixel, Gaussian σ 3 at 63 ps).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GpuFilterCosts {
    /// One filter call's seconds before its per-pixel costs: submitting,
    /// dispatching its passes and waiting (the median over the filters of
    /// a 64×64 image's time, less its pixels' costs). On the H200's bench
    /// the 256×256 images put it at 83–91 µs, against 75–81 µs for a map
    /// call ([`CostModel::gpu_launch_s`]); counting a map call's launch
    /// instead sent 5×5 box blurs of 1024×768 images to the GPU, 10 %
    /// slower there. Each filter of a chain is taken to add what this
    /// exceeds a map call's launch by: an approximation, since a chain
    /// submits each filter but waits once. (A file saved before this was
    /// measured does not parse, so the calibration is measured again.)
    pub launch_s: f64,
    /// Per tap of a separable filter's pass pair (Gaussian and box blurs,
    /// `Separable`, `Sharpen`'s blur), counting the mean of the two
    /// kernels' lengths, as [`FilterCosts::tap_s`] does.
    pub tap_s: f64,
    /// A separable pass pair's cost beyond its taps: two dispatches,
    /// writing and reading the intermediate image.
    pub separable_s: f64,
    /// Per weight of a `Convolve`, which the GPU computes directly, in one
    /// pass.
    pub weight_s: f64,
    /// A `Convolve`'s cost beyond its weights (on lavapipe most of a 3×3
    /// one's).
    pub convolve_s: f64,
    /// Sobel's magnitude of luma.
    pub sobel_s: f64,
    /// A colour transform (grayscale, invert, brightness and contrast).
    pub colour_s: f64,
}

impl GpuFilterCosts {
    /// Seconds per pixel of `filter`, past the launch.
    ///
    /// ```
    /// use gpu::dispatch::GpuFilterCosts;
    /// use gpu::filter::Filter;
    /// let c = GpuFilterCosts {
    ///     launch_s: 80e-6,
    ///     tap_s: 1e-12,
    ///     separable_s: 10e-12,
    ///     weight_s: 0.5e-12,
    ///     convolve_s: 4e-12,
    ///     sobel_s: 20e-12,
    ///     colour_s: 3e-12,
    /// };
    /// // Seven taps each way.
    /// assert_eq!(c.seconds_per_pixel(&Filter::GaussianBlur { sigma: 1.0 }), 17e-12);
    /// assert_eq!(c.seconds_per_pixel(&Filter::BoxBlur { radius: 2 }), 15e-12);
    /// let identity = Filter::Convolve { size: 3, weights: vec![0., 0., 0., 0., 1., 0., 0., 0., 0.] };
    /// assert_eq!(c.seconds_per_pixel(&identity), 8.5e-12);
    /// ```
    pub fn seconds_per_pixel(&self, filter: &Filter) -> f64 {
        let separable = |taps: f64| taps * self.tap_s + self.separable_s;
        match filter {
            Filter::GaussianBlur { sigma } => separable(gaussian_taps(*sigma)),
            Filter::BoxBlur { radius } => separable(2.0 * *radius as f64 + 1.0),
            Filter::Separable {
                horizontal,
                vertical,
            } => separable((horizontal.len() + vertical.len()) as f64 / 2.0),
            Filter::Sharpen { sigma, .. } => separable(gaussian_taps(*sigma)),
            Filter::Convolve { size, .. } => {
                (*size as f64).powi(2) * self.weight_s + self.convolve_s
            }
            Filter::Sobel => self.sobel_s,
            Filter::Grayscale | Filter::Invert | Filter::BrightnessContrast { .. } => self.colour_s,
        }
    }
}

/// Taps of a Gaussian blur's kernel each way, as both devices compute it.
fn gaussian_taps(sigma: f32) -> f64 {
    2.0 * crate::filter::kernels::gaussian_radius(sigma) as f64 + 1.0
}

/// Per-value work (in `f32` additions) of the heaviest maps an array kept
/// on both devices is kept for: about two transcendental functions.
const HEAVY_MAP_WORK: f64 = 64.0;

/// The heaviest filter an image kept on both devices is kept for: a
/// Gaussian blur of σ 3 (19 taps each way).
const HEAVY_FILTER: Filter = Filter::GaussianBlur { sigma: 3.0 };

/// The lightest filters for the CPU, against the GPU: past the size where
/// the GPU wins these too, an image lives on the GPU alone.
const LIGHT_FILTERS: [Filter; 3] = [Filter::Invert, Filter::BoxBlur { radius: 1 }, Filter::Sobel];

/// The largest array or image (in bytes) `Auto` keeps on both the host and
/// the GPU.
const MIRROR_MAX_BYTES: usize = 256 << 20;

/// Where `Auto` keeps a new array or image (see [`CostModel::placement`]
/// and [`CostModel::image_placement`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Placement {
    /// Host memory: every operation runs on the CPU.
    Host,
    /// GPU memory: every operation runs on the GPU.
    Device,
    /// Both, each operation choosing.
    Both,
}

#[cfg(test)]
mod replay;
pub(crate) mod ties;

#[cfg(test)]
mod tests {
    use super::*;

    /// The figures calibrated on the lent H200 with 16 cores (BENCHMARKS.md).
    fn h200() -> CostModel {
        CostModel {
            cpu_threads: 16,
            cpu_work_per_s: 19.1e9,
            cpu_bytes_per_s: 9.9e9,
            cpu_bytes_per_s_all: 183.3e9,
            cpu_parallel_overhead_s: 26.9e-6,
            gpu_launch_s: 68e-6,
            gpu_reduce_launch_s: 68e-6,
            gpu_transfer_bytes_per_s: 6.7e9,
            gpu_transfer_latency_s: 0.0,
            gpu_bytes_per_s: 852e9,
            gpu_work_per_s: 7319e9,
            cpu_filter: FilterCosts::builtin(),
            cpu_filter_all: FilterCosts::builtin().scaled(1.0 / 12.0),
            gpu_filter: None,
            gpu_adapter: None,
        }
    }

    /// The H200 call 4's calibration, with the CPU filters' costs on all 16
    /// threads from that call's 4K bench lines (Gaussian σ 3 in 4.52 ms,
    /// `box:2` in 0.829 ms and Sobel in 1.157 ms over 8.3 Mpx, less the
    /// fan-out); one thread's are the built-in figures.
    pub(super) fn h200_call_4() -> CostModel {
        CostModel {
            cpu_work_per_s: 28.1e9,
            cpu_bytes_per_s: 9.6e9,
            cpu_bytes_per_s_all: 233.5e9,
            cpu_parallel_overhead_s: 26.6e-6,
            gpu_launch_s: 81e-6,
            gpu_reduce_launch_s: 81e-6,
            gpu_transfer_bytes_per_s: 6.3e9,
            gpu_bytes_per_s: 829e9,
            gpu_work_per_s: 8418e9,
            cpu_filter_all: FilterCosts {
                tap_s: 0.025e-9,
                separable_s: 0.0625e-9,
                box_s: 0.097e-9,
                sobel_s: 0.136e-9,
                colour_s: 0.05e-9,
            },
            ..h200()
        }
    }

    /// The H200's GPU filter costs per pixel, from its resident filter
    /// lines (calls 4 and 5, between 1920×1080 and 3840×2160): `box:2` 25
    /// ps a pixel past the launch, Gaussian σ 3 63 ps (5 and 19 taps: 2.7
    /// ps a tap, 11.4 beyond), Sobel 23 ps; with a call's launch
    /// `launch_s`. Convolutions and colour filters were not timed: their
    /// figures are left at a tap's and 0 (the cost of reading and writing
    /// each pixel then bounds them).
    pub(super) fn h200_gpu_filters(launch_s: f64) -> GpuFilterCosts {
        GpuFilterCosts {
            launch_s,
            tap_s: 2.7e-12,
            separable_s: 11.4e-12,
            weight_s: 2.7e-12,
            convolve_s: 0.0,
            sobel_s: 23e-12,
            colour_s: 0.0,
        }
    }

    /// Whether `filter` on an image of `pixels` on the device is estimated
    /// faster on the GPU than on the CPU.
    fn filter_on_gpu(m: &CostModel, filter: Filter, pixels: usize) -> bool {
        m.gpu_filters_win(&[filter], pixels)
    }

    #[test]
    fn images_are_kept_on_both_devices_between_the_filters_crossovers() {
        // The H200's figures: a Gaussian blur of σ 3 crosses over near
        // 1.1·10^5 pixels, a colour filter only past a megapixel.
        let m = h200_call_4();
        assert_eq!(m.image_placement(256 * 256), Placement::Host);
        assert_eq!(m.image_placement(1024 * 768), Placement::Both);
        assert!(filter_on_gpu(
            &m,
            Filter::GaussianBlur { sigma: 3.0 },
            1024 * 768
        ));
        assert!(!filter_on_gpu(&m, Filter::Invert, 1024 * 768));
        assert_eq!(m.image_placement(3840 * 2160), Placement::Device);
        assert!(!m.gpu_filters_win(&[Filter::Sobel], 0));
        // Past the size kept on both, the small Gaussian blur decides. At
        // 80 GB/s the GPU takes 0.1 ns a pixel for any filter here, against
        // the CPU's 0.24 ns for σ 1 and 0.05 ns for a colour filter; at 20
        // GB/s, 0.4 ns.
        let huge = MIRROR_MAX_BYTES / 4 + 1;
        let slow_gpu = |gpu_bytes_per_s| CostModel {
            gpu_bytes_per_s,
            ..h200_call_4()
        };
        assert!(!slow_gpu(80e9).gpu_filters_win(&[Filter::Invert], huge));
        assert_eq!(slow_gpu(80e9).image_placement(huge), Placement::Device);
        assert!(slow_gpu(20e9).gpu_filters_win(&[HEAVY_FILTER], huge));
        assert_eq!(slow_gpu(20e9).image_placement(huge), Placement::Host);
    }

    #[test]
    fn filters_cross_over_to_the_gpu_near_where_the_h200_measured() {
        // Resident crossovers the H200's bench charted (calls 4 and 5):
        // Gaussian σ 3 at 1.1-1.2·10^5 pixels, Sobel at 5.4-5.7·10^5, the
        // box blur at 0.8-1.0·10^6. The weights the CPU's filters had
        // before their costs were measured put the Gaussian's at
        // 1.7·10^5, and sent 1.5·10^5 pixels to the CPU.
        let m = h200_call_4();
        let gaussian = || Filter::GaussianBlur { sigma: 3.0 };
        assert!(!filter_on_gpu(&m, gaussian(), 65_536));
        assert!(filter_on_gpu(&m, gaussian(), 150_000));
        assert!(filter_on_gpu(&m, gaussian(), 786_432));
        assert!(!filter_on_gpu(&m, Filter::Sobel, 262_144));
        assert!(filter_on_gpu(&m, Filter::Sobel, 786_432));
        assert!(!filter_on_gpu(&m, Filter::BoxBlur { radius: 2 }, 262_144));
        assert!(filter_on_gpu(&m, Filter::BoxBlur { radius: 2 }, 2_073_600));
    }

    /// The smallest image (in pixels, to 1 %) from which `filter` is
    /// estimated faster on the GPU, by bisection.
    fn crossover(m: &CostModel, filter: Filter) -> f64 {
        let (mut lo, mut hi) = (1e3f64, 1e8f64);
        assert!(!filter_on_gpu(m, filter.clone(), lo as usize));
        assert!(filter_on_gpu(m, filter.clone(), hi as usize));
        while hi / lo > 1.01 {
            let mid = (lo * hi).sqrt();
            if filter_on_gpu(m, filter.clone(), mid as usize) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        hi
    }

    #[test]
    fn measured_gpu_filter_costs_bring_the_crossovers_to_where_the_h200_charted_them() {
        // The H200's arithmetic weights gave 9.7, 18 and 9.7 ps a pixel
        // for `box:2`, Gaussian σ 3 and Sobel, against the 25, 63 and 23
        // measured. At a map call's launch, so that the per-pixel costs
        // alone are checked: the charted crossovers are interpolated
        // between the bench's sizes, while `replay` checks the launch
        // measured on small images against the recorded times themselves.
        let measured = CostModel {
            gpu_filter: Some(h200_gpu_filters(81e-6)),
            ..h200_call_4()
        };
        let arithmetic = h200_call_4();
        let charted = [
            (Filter::GaussianBlur { sigma: 3.0 }, 1.1e5, 1.2e5),
            (Filter::Sobel, 5.4e5, 5.7e5),
            (Filter::BoxBlur { radius: 2 }, 0.8e6, 1.0e6),
        ];
        for (filter, low, high) in charted {
            let miss = |m: &CostModel| {
                let c = crossover(m, filter.clone());
                (low / c).max(c / high).max(1.0)
            };
            let (with, without) = (miss(&measured), miss(&arithmetic));
            assert!(with < 1.15, "{filter}: off by {with} with measured costs");
            assert!(with <= without, "{filter}: {with} against {without}");
        }
    }

    #[test]
    fn measured_filter_costs_follow_how_each_filter_is_computed() {
        let c = FilterCosts::builtin();
        let s = |f: Filter| c.seconds_per_pixel(&f);
        // Separable blurs grow with their taps; the integer box blur
        // barely grows with its radius, until it becomes separable.
        assert!(
            s(Filter::GaussianBlur { sigma: 3.0 }) > 2.0 * s(Filter::GaussianBlur { sigma: 1.0 })
        );
        let small_box = s(Filter::BoxBlur { radius: 1 });
        assert!(s(Filter::BoxBlur { radius: 7 }) < 2.0 * small_box);
        assert!(s(Filter::BoxBlur { radius: 8 }) > 4.0 * small_box);
        assert_eq!(s(Filter::Invert), s(Filter::Grayscale));
        let sharpen = Filter::Sharpen {
            amount: 1.0,
            sigma: 1.0,
        };
        assert!(s(sharpen) > s(Filter::GaussianBlur { sigma: 1.0 }));
    }

    fn map(n: usize, work: f64) -> Workload {
        Workload {
            n,
            bytes_in: 4.0,
            bytes_out: 4.0,
            work,
        }
    }

    #[test]
    fn arrays_are_kept_on_both_devices_where_the_faster_one_depends_on_the_operation() {
        let m = h200();
        assert_eq!(m.placement(1 << 16), Placement::Host);
        assert_eq!(m.placement(1 << 20), Placement::Both);
        assert_eq!(m.placement(1 << 24), Placement::Device);
        // Past the size kept on both, the typical map decides.
        let huge = MIRROR_MAX_BYTES / 4 + 1;
        let slow_gpu = CostModel {
            gpu_launch_s: 1.0,
            ..h200()
        };
        assert_eq!(slow_gpu.placement(huge), Placement::Host);
    }

    #[test]
    fn an_array_whose_reduction_is_a_near_tie_is_kept_on_both() {
        // A reduction of n values estimated `ratio` times as long on the GPU
        // as on the CPU; heavy arithmetic far faster there.
        let n = 1 << 20;
        let with_ratio = |ratio: f64| {
            let m = CostModel {
                gpu_launch_s: 1e-9,
                gpu_work_per_s: 1e18,
                gpu_bytes_per_s: 1e18,
                ..h200()
            };
            let sum = Workload {
                n,
                bytes_in: 4.0,
                bytes_out: 0.0,
                work: 1.0,
            };
            let m = CostModel {
                gpu_reduce_launch_s: ratio * m.cpu_plan(&sum).1,
                ..m
            };
            assert!((m.gpu_resident_seconds(&sum) / m.cpu_plan(&sum).1 - ratio).abs() < 1e-6);
            m.placement(n)
        };
        assert_eq!(with_ratio(0.5), Placement::Device);
        // 5 % faster on the GPU: a near-tie, timed on data kept on both.
        assert_eq!(with_ratio(0.95), Placement::Both);
        assert_eq!(with_ratio(1.05), Placement::Both);
    }

    #[test]
    fn operations_on_an_array_kept_on_both_choose_as_the_h200_measured() {
        // At 2^20 on the H200 (bench, resident, GPU at working clocks):
        // sin(v) * exp(-v) took 0.082 ms on the GPU and 0.168 ms on 16
        // cores; v * 2 + 1 took 0.078 and 0.067 ms; a sum 0.086 and
        // 0.045 ms. The same choices with the fastest CPU calibration seen
        // there, where the transcendental map was once sent to the CPU.
        let transcend = crate::Kernel::unary(|v| v.sin() * (-v).exp())
            .unwrap()
            .work_per_element();
        let fastest_cpu_seen = CostModel {
            cpu_work_per_s: 35.9e9,
            cpu_bytes_per_s_all: 270.6e9,
            cpu_parallel_overhead_s: 20.9e-6,
            gpu_launch_s: 75e-6,
            gpu_reduce_launch_s: 75e-6,
            gpu_bytes_per_s: 917e9,
            gpu_work_per_s: 12308e9,
            ..h200()
        };
        for m in [h200(), fastest_cpu_seen] {
            let n = 1 << 20;
            assert!(m.gpu_resident_wins(&map(n, transcend)), "{m:?}");
            assert!(!m.gpu_resident_wins(&map(n, 2.0)), "{m:?}");
            let sum = Workload {
                n,
                bytes_in: 4.0,
                bytes_out: 0.0,
                work: 1.0,
            };
            assert!(!m.gpu_resident_wins(&sum), "{m:?}");
        }
    }
}
