//! Backend choice: availability, size and a cost model that counts
//! host-device transfers as well as the work.
//!
//! For [`Backend::Auto`] the dispatcher estimates the time of a call on the
//! CPU backend (one thread, or every thread plus the cost of waking the pool)
//! and on the GPU (launch latency, bytes up and down over the bus, then the
//! kernel), and runs the cheaper. The GPU is only looked at when its
//! estimate could win, so small calls never open a device; an adapter that
//! is software (`DeviceType::Cpu`, such as lavapipe) is never chosen over
//! the native CPU backend. Each decision is returned as a [`Dispatch`]
//! record and logged as a `tracing` debug event.
//!
//! The constants of [`CostModel::default`] are rough defaults measured on a
//! 2-core AVX-512 Xeon and a 16-core host with an NVIDIA H200: about 12·10⁹
//! work units per second per CPU thread, and about 6 GB/s for data crossing
//! to and from the GPU through wgpu's staging buffers (host-mode calls moved
//! 7–14 GB/s there). They decide clear cases well and leave close ones to
//! either backend, where the difference is small by definition.

use crate::backend::Backend;
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
    /// The backend that ran it: `Gpu`, `Cpu` or `Scalar`, never `Auto`.
    pub backend: Backend,
    /// The backend the context was created with.
    pub requested: Backend,
    /// Elements processed.
    pub n: usize,
    /// CPU threads used (1 for the scalar backend and single-threaded CPU
    /// calls; 0 for the GPU).
    pub threads: usize,
    /// Why this backend.
    pub reason: Reason,
}

impl fmt::Display for Dispatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} of {} elements on {}", self.op, self.n, self.backend)?;
        if self.backend != Backend::Gpu {
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
    /// Bytes written to the host per element.
    pub bytes_out: f64,
    /// Work per element, in units of one `f32` addition.
    pub work: f64,
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
    /// Host-device transfer bandwidth, bytes per second (each direction).
    pub gpu_transfer_bytes_per_s: f64,
    /// Device memory bandwidth, bytes per second.
    pub gpu_bytes_per_s: f64,
    /// Work units the GPU does per second.
    pub gpu_work_per_s: f64,
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
        let threads = crate::backend::cpu::threads();
        CostModel {
            cpu_threads: threads,
            cpu_work_per_s: 12e9,
            cpu_bytes_per_s: 12e9,
            cpu_bytes_per_s_all: (12e9 * threads as f64).min(80e9),
            cpu_parallel_overhead_s: 10e-6,
            gpu_launch_s: 40e-6,
            gpu_transfer_bytes_per_s: 6e9,
            gpu_bytes_per_s: 1e12,
            gpu_work_per_s: 1e13,
            gpu_adapter: None,
        }
    }
}

impl CostModel {
    /// Estimated CPU seconds for `w` on `threads` threads.
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

    /// Estimated GPU seconds for `w` with data starting and ending on the host.
    pub fn gpu_seconds(&self, w: &Workload) -> f64 {
        let n = w.n as f64;
        let transfer = n * (w.bytes_in + w.bytes_out) / self.gpu_transfer_bytes_per_s;
        transfer + self.gpu_resident_seconds(w)
    }

    /// Estimated GPU seconds for `w` with data already on the device and
    /// left there: launch and kernel, no transfers. How arrays and images
    /// are placed (see [`Context::array`](crate::Context::array)).
    ///
    /// ```
    /// use gpu::dispatch::{CostModel, Workload};
    /// let m = CostModel::builtin();
    /// let w = Workload { n: 1 << 24, bytes_in: 4.0, bytes_out: 4.0, work: 2.0 };
    /// assert!(m.gpu_resident_seconds(&w) < m.gpu_seconds(&w));
    /// ```
    pub fn gpu_resident_seconds(&self, w: &Workload) -> f64 {
        let kernel = w.n as f64
            * ((w.bytes_in + w.bytes_out) / self.gpu_bytes_per_s).max(w.work / self.gpu_work_per_s);
        self.gpu_launch_s + kernel
    }
}
