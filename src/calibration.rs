//! Calibration: the dispatcher's cost model measured on this machine,
//! persisted in the user's cache directory and reused by every later
//! process.
//!
//! [`calibrate`] measures, in about a second: one CPU thread's arithmetic
//! rate (a kernel on cache-resident data) and memory bandwidth, all threads'
//! memory bandwidth, the cost of fanning out to rayon's pool, what the CPU
//! backend's filters cost per pixel on one thread and on all threads
//! together (a mid-size image's wall time, the fan-out apart), and, where a
//! hardware GPU exists, its call latency (a map's, and a reduction's with
//! its result read back), host-device transfer rate, device memory
//! bandwidth, arithmetic rate, and what its filters cost per call and per
//! pixel (by the H200's bench times, some 20 ms there; not yet measured on
//! it). A transfer's fixed cost beyond its bytes is a built-in figure
//! ([`CostModel::gpu_transfer_latency_s`]).
//! The GPU is first kept busy for
//! 0.3 s: an idle GPU lowers its clock (an H200's SM clock falls from 1980
//! to 345 MHz) and would be measured up to three times slower than it runs
//! under load. Bandwidths are the fastest of several runs, since
//! interference from the rest of the machine only ever adds time. The
//! figures are saved as JSON in
//! `<cache dir>/gpu-compute/` (`GPU_COMPUTE_CACHE_DIR` overrides the folder)
//! under a name derived from the hardware key: CPU model, thread count,
//! SIMD level and this library's version. The GPU's figures are used only
//! while the same adapter and driver are present; another adapter is
//! estimated with the built-in GPU figures. Until the device is opened its
//! adapter is unknown, so `Auto` then screens each call with both sets of
//! figures: a GPU calibrated as slow never hides a faster one that has
//! replaced it.
//!
//! Every [`Context`](crate::Context) starts from the saved calibration when
//! one matches this machine (reading it takes well under a millisecond, once
//! per process) and from built-in defaults otherwise; nothing measures
//! behind a caller's back, so no call ever waits for a calibration it did
//! not ask for. Run [`calibrate`] once per machine (the bench does when
//! none is saved).
//!
//! Measuring automatically, when `Auto` first needs the figures, was tried
//! and dropped: on a 16-core host running eight tests at once, it measured
//! the all-thread memory bandwidth at 9.1 GB/s instead of 183 GB/s and
//! saved that, after which the CPU backend ran 2^20-value maps on one
//! thread. Figures worth persisting need a machine that is doing nothing
//! else, which only the caller knows.

use crate::dispatch::{CostModel, FilterCosts, GpuFilterCosts};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Instant;

/// The environment variable that overrides the calibration folder.
pub const CACHE_DIR_ENV: &str = "GPU_COMPUTE_CACHE_DIR";

/// Figures measured on this machine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// What the figures belong to: CPU model, threads, SIMD level and this
    /// library's version.
    pub hardware: String,
    /// Work units (one `f32` addition) one thread does per second.
    pub cpu_work_per_s: f64,
    /// Memory bandwidth of one thread, bytes per second.
    pub cpu_bytes_per_s: f64,
    /// Memory bandwidth of all threads, bytes per second.
    pub cpu_bytes_per_s_all: f64,
    /// Cost of fanning a call out to rayon's pool and joining, seconds.
    pub cpu_parallel_overhead_s: f64,
    /// What the CPU backend's filters cost one thread per pixel. (A file
    /// saved before this was measured does not parse, so it is measured
    /// again rather than guessed.)
    pub cpu_filter: FilterCosts,
    /// What they cost per pixel on all threads together (wall time over
    /// pixels, the fan-out apart).
    pub cpu_filter_all: FilterCosts,
    /// The GPU's figures, when a hardware adapter was measured.
    pub gpu: Option<GpuFigures>,
    /// How long the measurement took, seconds.
    pub measured_in_s: f64,
}

/// A hardware GPU's figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GpuFigures {
    /// The adapter and driver they were measured on.
    pub adapter: String,
    /// One small map call, end to end, seconds.
    pub launch_s: f64,
    /// One small reduction, end to end, its result read back: seconds.
    pub reduce_launch_s: f64,
    /// Host-device transfer, bytes per second each way.
    pub transfer_bytes_per_s: f64,
    /// Device memory bandwidth (a device-side copy), bytes per second.
    pub bytes_per_s: f64,
    /// Work units per second on device-resident data.
    pub work_per_s: f64,
    /// What its filters cost on device-resident images: a call's launch,
    /// and the cost per pixel past it. (A file saved before these were
    /// measured does not parse, so the machine is measured again.)
    pub filter: GpuFilterCosts,
}

impl Calibration {
    /// The cost model these figures give (built-in GPU defaults where the
    /// GPU was not measured).
    ///
    /// ```
    /// if let Some(c) = gpu::calibration::saved() {
    ///     println!("{:?}", c.cost_model());
    /// }
    /// ```
    pub fn cost_model(&self) -> CostModel {
        let mut model = CostModel {
            cpu_work_per_s: self.cpu_work_per_s,
            cpu_bytes_per_s: self.cpu_bytes_per_s,
            cpu_bytes_per_s_all: self.cpu_bytes_per_s_all,
            cpu_parallel_overhead_s: self.cpu_parallel_overhead_s,
            cpu_filter: self.cpu_filter.clone(),
            cpu_filter_all: self.cpu_filter_all.clone(),
            ..CostModel::builtin()
        };
        if let Some(g) = &self.gpu {
            model.gpu_launch_s = g.launch_s;
            // At least a map call's, whatever a file says, so that the
            // map call's launch screens reductions too.
            model.gpu_reduce_launch_s = g.reduce_launch_s.max(g.launch_s);
            model.gpu_transfer_bytes_per_s = g.transfer_bytes_per_s;
            model.gpu_bytes_per_s = g.bytes_per_s;
            model.gpu_work_per_s = g.work_per_s;
            model.gpu_filter = Some(g.filter.clone());
            model.gpu_adapter = Some(g.adapter.clone());
        }
        model
    }
}

impl std::fmt::Display for Calibration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{}", self.hardware)?;
        writeln!(
            f,
            "  cpu: {:.1} G work/s per thread, {:.1} GB/s one thread, {:.1} GB/s all threads, {:.1} us to fan out",
            self.cpu_work_per_s / 1e9,
            self.cpu_bytes_per_s / 1e9,
            self.cpu_bytes_per_s_all / 1e9,
            self.cpu_parallel_overhead_s * 1e6
        )?;
        for (c, on) in [
            (&self.cpu_filter, "one thread"),
            (&self.cpu_filter_all, "all threads"),
        ] {
            writeln!(
                f,
                "  cpu filters, ns per pixel on {on}: {:.3} a separable tap (+ {:.3}), box {:.3}, sobel {:.3}, colour {:.3}",
                c.tap_s * 1e9,
                c.separable_s * 1e9,
                c.box_s * 1e9,
                c.sobel_s * 1e9,
                c.colour_s * 1e9
            )?;
        }
        match &self.gpu {
            Some(g) => {
                writeln!(
                    f,
                    "  gpu {}: {:.0} us a call, {:.1} GB/s transfers, {:.0} GB/s device memory, {:.0} G work/s, {:.0} us a reduction",
                    g.adapter,
                    g.launch_s * 1e6,
                    g.transfer_bytes_per_s / 1e9,
                    g.bytes_per_s / 1e9,
                    g.work_per_s / 1e9,
                    g.reduce_launch_s * 1e6
                )?;
                writeln!(
                    f,
                    "  gpu filters: {:.0} us a call, then ps per pixel: {:.2} a separable tap (+ {:.2}), {:.2} a convolution weight (+ {:.2}), sobel {:.2}, colour {:.2}",
                    g.filter.launch_s * 1e6,
                    g.filter.tap_s * 1e12,
                    g.filter.separable_s * 1e12,
                    g.filter.weight_s * 1e12,
                    g.filter.convolve_s * 1e12,
                    g.filter.sobel_s * 1e12,
                    g.filter.colour_s * 1e12
                )?;
            }
            None => writeln!(f, "  gpu: none measured (no hardware adapter)")?,
        }
        write!(f, "  measured in {:.2} s", self.measured_in_s)
    }
}

/// The hardware key: CPU model, threads, SIMD level, library version.
///
/// ```
/// let key = gpu::calibration::hardware_key();
/// let threads = gpu::dispatch::CostModel::builtin().cpu_threads;
/// assert!(key.contains(&format!(" | {threads} threads | ")));
/// assert!(key.contains(" | gpu-compute "));
/// assert_eq!(key, gpu::calibration::hardware_key());
/// ```
pub fn hardware_key() -> String {
    format!(
        "{} | {} threads | {} | gpu-compute {}",
        cpu_model(),
        crate::backend::cpu::threads(),
        simd_level(),
        env!("CARGO_PKG_VERSION")
    )
}

fn cpu_model() -> String {
    #[cfg(target_os = "linux")]
    if let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") {
        if let Some(name) = info
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
        {
            return name.1.trim().to_string();
        }
    }
    std::env::consts::ARCH.to_string()
}

fn simd_level() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512bw") {
            return "avx512";
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            return "avx2";
        }
        if std::arch::is_x86_feature_detected!("sse4.2") {
            return "sse4.2";
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        return "neon";
    }
    #[allow(unreachable_code)]
    "scalar"
}

/// The folder calibrations and the GPU pipeline cache are saved in:
/// `GPU_COMPUTE_CACHE_DIR`, else `<user cache dir>/gpu-compute`.
pub(crate) fn cache_dir() -> Option<PathBuf> {
    match std::env::var_os(CACHE_DIR_ENV) {
        Some(d) if !d.is_empty() => Some(PathBuf::from(d)),
        _ => Some(dirs::cache_dir()?.join("gpu-compute")),
    }
}

/// Where the calibration for `key` is saved: a file named after a hash of
/// the key, in `GPU_COMPUTE_CACHE_DIR` when set, else in
/// `<user cache dir>/gpu-compute` (`None` where there is no cache dir).
///
/// ```
/// use gpu::calibration::{calibration_path, CACHE_DIR_ENV};
/// let dir = std::env::temp_dir().join("gpu-compute-doc");
/// std::env::set_var(CACHE_DIR_ENV, &dir); // nothing is written there
/// let path = calibration_path("some machine").unwrap();
/// assert_eq!(path.parent(), Some(dir.as_path()));
/// assert!(path.file_name().unwrap().to_str().unwrap().starts_with("calibration-"));
/// assert_eq!(calibration_path("some machine"), Some(path.clone()));
/// assert_ne!(calibration_path("another machine"), Some(path));
/// ```
pub fn calibration_path(key: &str) -> Option<PathBuf> {
    let dir = cache_dir()?;
    // FNV-1a: a stable name per key.
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    Some(dir.join(format!("calibration-{hash:016x}.json")))
}

/// The saved calibration for this machine, if there is one and it matches:
/// read from the file [`calibration_path`] names for [`hardware_key`], and
/// ignored where the key it records is another machine's.
///
/// ```
/// use gpu::calibration::{calibration_path, hardware_key, saved, Calibration, CACHE_DIR_ENV};
/// use gpu::dispatch::FilterCosts;
/// // A scratch folder, not the user's cache.
/// let dir = std::env::temp_dir().join(format!("gpu-compute-doc-{}", std::process::id()));
/// std::env::set_var(CACHE_DIR_ENV, &dir);
/// assert_eq!(saved(), None);
/// let c = Calibration {
///     hardware: hardware_key(),
///     cpu_work_per_s: 1e10,
///     cpu_bytes_per_s: 1e10,
///     cpu_bytes_per_s_all: 2e10,
///     cpu_parallel_overhead_s: 1e-5,
///     cpu_filter: FilterCosts::builtin(),
///     cpu_filter_all: FilterCosts::builtin(),
///     gpu: None,
///     measured_in_s: 1.0,
/// };
/// let path = calibration_path(&c.hardware).unwrap();
/// std::fs::create_dir_all(&dir)?;
/// std::fs::write(&path, serde_json::to_string(&c)?)?;
/// assert_eq!(saved(), Some(c.clone()));
/// let other = Calibration { hardware: "another machine".into(), ..c.clone() };
/// std::fs::write(&path, serde_json::to_string(&other)?)?;
/// assert_eq!(saved(), None);
/// // Figures no machine has are ignored too.
/// let broken = Calibration { cpu_bytes_per_s: 0.0, ..c };
/// std::fs::write(&path, serde_json::to_string(&broken)?)?;
/// assert_eq!(saved(), None);
/// std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn saved() -> Option<Calibration> {
    let key = hardware_key();
    let text = std::fs::read_to_string(calibration_path(&key)?).ok()?;
    let c: Calibration = serde_json::from_str(&text).ok()?;
    (c.hardware == key && c.rates_are_positive()).then_some(c)
}

impl Calibration {
    /// Whether every rate is above zero and the fan-out and GPU launch are
    /// not negative: a file edited or written by a broken build would
    /// otherwise steer `Auto` with infinite or negative times.
    fn rates_are_positive(&self) -> bool {
        let rates = [
            self.cpu_work_per_s,
            self.cpu_bytes_per_s,
            self.cpu_bytes_per_s_all,
        ];
        let gpu_ok = self.gpu.as_ref().is_none_or(|g| {
            g.launch_s >= 0.0
                && g.reduce_launch_s >= 0.0
                && [g.transfer_bytes_per_s, g.bytes_per_s, g.work_per_s]
                    .iter()
                    .all(|&r| r > 0.0)
        });
        rates.iter().all(|&r| r > 0.0) && self.cpu_parallel_overhead_s >= 0.0 && gpu_ok
    }
}

/// The cost model new contexts start from: the saved calibration (read once
/// per process), or the built-in defaults.
pub(crate) fn current_model() -> Arc<CostModel> {
    {
        let guard = CURRENT.read().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = &*guard {
            return m.clone();
        }
    }
    let model = Arc::new(saved().map_or_else(CostModel::builtin, |c| c.cost_model()));
    let mut guard = CURRENT.write().unwrap_or_else(|e| e.into_inner());
    guard.get_or_insert(model).clone()
}

static CURRENT: RwLock<Option<Arc<CostModel>>> = RwLock::new(None);

/// Measures this machine, saves the figures for later processes, and makes
/// contexts created from now on use them. Takes about a second (more with a
/// GPU); call it once per machine, not per process.
///
/// Calibrations never overlap: one in another thread or another process
/// (through a lock file in the cache folder) is waited for, since each
/// would measure the other's load. Figures that cannot be saved (no cache
/// folder, or one that cannot be written) still apply to this process, and
/// a GPU that fails while being measured leaves the CPU's figures, for
/// this process only; both are logged as `tracing` warnings.
///
/// ```no_run
/// let c = gpu::calibrate()?;
/// println!("{c}");
/// # Ok::<(), gpu::Error>(())
/// ```
pub fn calibrate() -> Result<Calibration> {
    static CALIBRATING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _alone = CALIBRATING.lock().unwrap_or_else(|e| e.into_inner());
    let path = calibration_path(&hardware_key());
    let _alone_on_the_machine = path.as_deref().and_then(lock_calibrations);
    let start = Instant::now();
    let mut c = measure_cpu()?;
    let gpu = measure_gpu();
    if let Err(e) = &gpu {
        tracing::warn!("calibration: the GPU was not measured, nothing saved: {e}");
    }
    c.gpu = gpu.as_ref().ok().cloned().flatten();
    c.measured_in_s = start.elapsed().as_secs_f64();
    *CURRENT.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(c.cost_model()));
    // Figures without a GPU that failed would stand for this machine in
    // later processes, so they are not saved.
    if let Some(path) = path.filter(|_| gpu.is_ok()) {
        if let Err(e) = save(&c, &path) {
            tracing::warn!("calibration: used by this process only, not saved: {e}");
        }
    }
    Ok(c)
}

/// Writes `c` to `path` atomically, making its folder.
fn save(c: &Calibration, path: &Path) -> Result<()> {
    let file_error = |at: &Path, e: &dyn std::fmt::Display| Error::File {
        path: at.display().to_string(),
        reason: e.to_string(),
    };
    let text = serde_json::to_string_pretty(c).map_err(|e| file_error(path, &e))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| file_error(dir, &e))?;
    }
    crate::io::write_atomic(path, text.as_bytes())
}

/// Longest wait for another process's calibration: a few of them, with a
/// GPU's. Past it the other process is taken to be stuck.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// An exclusive lock on `calibration.lock` beside `path`, held until the
/// file is dropped; `None` (no lock, logged) where the folder cannot hold
/// one, or another process held it for [`LOCK_WAIT`].
fn lock_calibrations(path: &Path) -> Option<std::fs::File> {
    let locked = || -> std::io::Result<std::fs::File> {
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("calibration.lock"))?;
        let start = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(file),
                Err(std::fs::TryLockError::WouldBlock) if start.elapsed() < LOCK_WAIT => {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(std::io::Error::other(format!(
                        "another process held it for {} s",
                        LOCK_WAIT.as_secs()
                    )))
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(e),
            }
        }
    };
    locked()
        .map_err(|e| tracing::warn!("calibration: not locked against other processes: {e}"))
        .ok()
}

fn measure_cpu() -> Result<Calibration> {
    use crate::backend::cpu;
    use crate::expr::Kernel;
    // Arithmetic: 32 dependent-free steps on data that stays in L1.
    let heavy = Kernel::unary(|v| {
        let mut x = v;
        for _ in 0..16 {
            x = x * 0.999 + 0.001;
        }
        x
    })
    .expect("a fixed kernel traces");
    let small: Vec<f32> = (0..4096).map(|i| i as f32 * 1e-3).collect();
    let mut small_out = vec![0.0f32; small.len()];
    let heavy_program = cpu::program(&heavy);
    let t = median_try(51, || {
        cpu::map(&heavy_program, &[&small], &mut small_out, false);
        Ok(())
    })?;
    let cpu_work_per_s = small.len() as f64 * heavy.work_per_element() / t;
    // Memory: an affine map over 32 MiB in and out, one thread and all, in
    // memory allocated as arrays' is (on huge pages where Linux has them).
    let affine = cpu::program(&Kernel::unary(|v| v * 2.0 + 1.0).expect("traces"));
    let mut big = crate::host_pool::zeroed(1 << 23);
    for (i, v) in big.iter_mut().enumerate() {
        *v = i as f32;
    }
    let mut big_out = crate::host_pool::zeroed(big.len());
    let bytes = 8.0 * big.len() as f64;
    // The fastest of several runs: interference (another process, the
    // operating system) only ever adds time, and on a shared 16-core
    // machine the median of nine all-thread runs ranged over 108-225 GB/s
    // between processes.
    let one = fastest_try(5, || {
        cpu::map(&affine, &[&big], &mut big_out, false);
        Ok(())
    })?;
    let all = fastest_try(15, || {
        cpu::map(&affine, &[&big], &mut big_out, true);
        Ok(())
    })?;
    // Fanning out: a parallel call on a few blocks, less the same work alone.
    let few: Vec<f32> = vec![1.0; 4 * 8192];
    let mut few_out = vec![0.0f32; few.len()];
    let alone = median_try(201, || {
        cpu::map(&affine, &[&few], &mut few_out, false);
        Ok(())
    })?;
    let fanned = median_try(201, || {
        cpu::map(&affine, &[&few], &mut few_out, true);
        Ok(())
    })?;
    let threads = cpu::threads() as f64;
    let overhead = (fanned - alone / threads).max(1e-7);
    Ok(Calibration {
        hardware: hardware_key(),
        cpu_work_per_s,
        cpu_bytes_per_s: bytes / one,
        cpu_bytes_per_s_all: bytes / all,
        cpu_parallel_overhead_s: overhead,
        cpu_filter: measure_cpu_filters(512, 256, false, 0.0),
        // On an image of a mid size, where the CPU and a GPU compete.
        cpu_filter_all: measure_cpu_filters(1024, 1024, true, overhead),
        gpu: None,
        measured_in_s: 0.0,
    })
}

/// The CPU filters' costs per pixel on a `w`×`h` image, on the calling
/// thread or on rayon's pool (`parallel`, less the pool's fan-out
/// `overhead`): the median of 11 runs of each (about 30 ms on one thread
/// and 80 ms on two on the development machine), taken in turns, so that a
/// change in the machine's speed while measuring (common on shared
/// machines) weighs on every filter alike. The separable passes' cost per
/// tap and beyond the taps come from two Gaussian blurs, of 7 and 19 taps.
fn measure_cpu_filters(w: u32, h: u32, parallel: bool, overhead: f64) -> FilterCosts {
    use crate::filter::Filter;
    const RUNS: usize = 11;
    let img = image::RgbaImage::from_fn(w, h, |x, y| {
        image::Rgba([(x * 7 + y) as u8, (x ^ y) as u8, (y * 3 + x / 5) as u8, 255])
    });
    let pixels = f64::from(w) * f64::from(h);
    let filters = [
        Filter::GaussianBlur { sigma: 1.0 },
        Filter::GaussianBlur { sigma: 3.0 },
        Filter::BoxBlur { radius: 2 },
        Filter::Sobel,
        Filter::Grayscale,
    ];
    let mut times: [Vec<f64>; 5] = std::array::from_fn(|_| Vec::with_capacity(RUNS));
    for run in 0..=RUNS {
        for (filter, times) in filters.iter().zip(&mut times) {
            let start = Instant::now();
            std::hint::black_box(crate::filter::cpu::apply(&img, filter, parallel));
            // The first round only warms up.
            if run > 0 {
                times.push(start.elapsed().as_secs_f64());
            }
        }
    }
    let [seven, nineteen, box_s, sobel_s, colour_s] = times.map(|mut t| {
        t.sort_by(f64::total_cmp);
        (t[t.len() / 2] - overhead).max(1e-9) / pixels
    });
    let tap_s = ((nineteen - seven) / 12.0).max(1e-13);
    FilterCosts {
        tap_s,
        separable_s: (seven - 7.0 * tap_s).max(0.0),
        box_s,
        sobel_s,
        colour_s,
    }
}

/// The median of `reps` timings of `f`, after one untimed call; the first
/// error ends the measurement.
fn median_try(reps: usize, f: impl FnMut() -> Result<()>) -> Result<f64> {
    let t = timings(reps, f)?;
    Ok(t[t.len() / 2])
}

/// The fastest of `reps` timings of `f`, after one untimed call.
fn fastest_try(reps: usize, f: impl FnMut() -> Result<()>) -> Result<f64> {
    Ok(timings(reps, f)?[0])
}

/// `reps` timings of `f`, sorted, after one untimed call.
fn timings(reps: usize, mut f: impl FnMut() -> Result<()>) -> Result<Vec<f64>> {
    f()?;
    let mut t = Vec::with_capacity(reps);
    for _ in 0..reps {
        let s = Instant::now();
        f()?;
        t.push(s.elapsed().as_secs_f64());
    }
    t.sort_by(f64::total_cmp);
    Ok(t)
}

/// A hardware GPU's figures; `None` without one (software adapters are
/// never chosen by `Auto`, so they are not measured, unless a test lets
/// `Auto` use them), or when the timings contradict each other (then the
/// built-in figures stay).
fn measure_gpu() -> Result<Option<GpuFigures>> {
    let Ok(device) = crate::backend::gpu::device::shared() else {
        return Ok(None);
    };
    if !device.summary.auto_may_use() {
        return Ok(None);
    }
    let ctx = crate::Context::new(crate::Backend::Gpu)?;
    let affine = |v: crate::Expr| v * 2.0 + 1.0;
    // Measured at working clocks, not the idle ones (see `wake_gpu`).
    crate::array::wake_gpu(std::time::Duration::from_millis(300))?;
    // A call's fixed cost: a tiny map on device-resident data, waited for.
    let tiny = ctx.array(&[1.0f32; 256])?;
    let launch_s = median_try(21, || tiny.map(affine)?.eval()?.wait())?;
    // A reduction's, with its result read back (at least a map's, so that
    // the noise of two medians cannot make it the cheaper call).
    let reduce_launch_s = median_try(21, || tiny.sum().map(drop))?.max(launch_s);
    let n = 1usize << 24;
    let x: Vec<f32> = (0..n).map(|i| (i % 1000) as f32).collect();
    let bytes = 8.0 * n as f64;
    let resident = ctx.array(&x)?;
    let resident_map = median_try(9, || resident.map(affine)?.eval()?.wait())?;
    let mut out = vec![0.0f32; n];
    // The fastest of seven: the transfers are the steadiest part of a
    // call, and one H200 calibration's median of five read 13.1 GB/s
    // during a slow spell, where the bench then measured 19-20 GB/s.
    let host_map = fastest_try(7, || ctx.map_into(&x, &mut out, affine))?;
    let copy = median_try(9, || crate::array::device_copy(&resident))?;
    let heavy = |v: crate::Expr| {
        let mut x = v;
        for _ in 0..64 {
            x = x * 0.999 + 0.001;
        }
        x
    };
    let work = crate::Kernel::unary(heavy)?.work_per_element();
    let compute = median_try(5, || resident.map(heavy)?.eval()?.wait())?;
    let Some(filter) = measure_gpu_filters(&ctx)? else {
        return Ok(None);
    };
    // The built-in fixed cost of a call's transfers is charged apart.
    let transfer = host_map - resident_map - CostModel::builtin().gpu_transfer_latency_s;
    let (copy_only, compute_only) = (copy - launch_s, compute - launch_s);
    if transfer <= 0.0 || copy_only <= 0.0 || compute_only <= 0.0 {
        tracing::warn!(
            "GPU calibration discarded: transfer {transfer:e} s, copy {copy_only:e} s, compute {compute_only:e} s"
        );
        return Ok(None);
    }
    let transfer_bytes_per_s = bytes / transfer;
    Ok(Some(GpuFigures {
        adapter: device.summary.calibration_name(),
        launch_s,
        reduce_launch_s,
        transfer_bytes_per_s,
        bytes_per_s: bytes / copy_only,
        work_per_s: n as f64 * work / compute_only,
        filter,
    }))
}

/// The GPU filters' costs on images on the device: per pixel, the
/// difference between a 2048×2048 image and a 64×64 one, the median of 11
/// runs of each, filters in turns; a call's launch, the 64×64 image's time
/// less its pixels', the median over the filters. The separable pass
/// pair's cost per tap and beyond the taps come from two Gaussian blurs,
/// of 7 and 19 taps, as on the CPU; a convolution's per weight and beyond
/// its weights from a 3×3 and a 5×5 one. A cost below the noise is taken
/// as 0 (the cost model's memory bandwidth then bounds it); `None` when a
/// timing is not a finite number.
fn measure_gpu_filters(ctx: &crate::Context) -> Result<Option<GpuFilterCosts>> {
    use crate::filter::Filter;
    const RUNS: usize = 11;
    let image = |w: u32, h: u32| {
        image::RgbaImage::from_fn(w, h, |x, y| {
            image::Rgba([(x * 7 + y) as u8, (x ^ y) as u8, (y * 3 + x / 5) as u8, 255])
        })
    };
    let (large, small) = ((2048, 2048), (64, 64));
    let images = [
        ctx.image(&image(large.0, large.1))?,
        ctx.image(&image(small.0, small.1))?,
    ];
    let filters = [
        Filter::GaussianBlur { sigma: 1.0 },
        Filter::GaussianBlur { sigma: 3.0 },
        Filter::Convolve {
            size: 3,
            weights: vec![1.0 / 9.0; 9],
        },
        Filter::Convolve {
            size: 5,
            weights: vec![1.0 / 25.0; 25],
        },
        Filter::Sobel,
        Filter::Grayscale,
    ];
    let mut times: [[Vec<f64>; 6]; 2] =
        std::array::from_fn(|_| std::array::from_fn(|_| Vec::with_capacity(RUNS)));
    for run in 0..=RUNS {
        for (img, times) in images.iter().zip(&mut times) {
            for (filter, times) in filters.iter().zip(times) {
                let start = Instant::now();
                img.filter(filter)?.wait()?;
                // The first round only warms up.
                if run > 0 {
                    times.push(start.elapsed().as_secs_f64());
                }
            }
        }
    }
    let median = |t: &mut Vec<f64>| {
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    };
    let [large_t, small_t] = &mut times;
    let pixels = |(w, h): (u32, u32)| f64::from(w) * f64::from(h);
    let small_medians: Vec<f64> = small_t.iter_mut().map(median).collect();
    let per_pixel: Vec<f64> = large_t
        .iter_mut()
        .zip(&small_medians)
        .map(|(l, s)| (median(l) - s) / (pixels(large) - pixels(small)))
        .collect();
    // A call's launch: the small image's time less its pixels' cost, the
    // median over the filters (the upper of the middle two).
    let mut launches: Vec<f64> = small_medians
        .iter()
        .zip(&per_pixel)
        .map(|(s, p)| s - p.max(0.0) * pixels(small))
        .collect();
    let launch_s = median(&mut launches);
    if !per_pixel.iter().chain([&launch_s]).all(|t| t.is_finite()) {
        tracing::warn!(
            "GPU filter calibration discarded: {per_pixel:?} s a pixel, {launch_s:e} s a call"
        );
        return Ok(None);
    }
    let [seven, nineteen, nine, twenty_five, sobel_s, colour_s] = per_pixel[..] else {
        unreachable!("six filters")
    };
    let [seven, nineteen, nine, twenty_five, sobel_s, colour_s] =
        [seven, nineteen, nine, twenty_five, sobel_s, colour_s].map(|t| t.max(0.0));
    let tap_s = ((nineteen - seven) / 12.0).max(0.0);
    let weight_s = ((twenty_five - nine) / 16.0).max(0.0);
    Ok(Some(GpuFilterCosts {
        launch_s: launch_s.max(0.0),
        tap_s,
        separable_s: (seven - 7.0 * tap_s).max(0.0),
        weight_s,
        convolve_s: (nine - 9.0 * weight_s).max(0.0),
        sobel_s,
        colour_s,
    }))
}
