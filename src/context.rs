//! [`Context`]: a backend choice plus the calls that run kernels on it, and
//! the process-wide default context used by the free functions.

use crate::array::Array;
use crate::backend::{cpu, gpu, scalar, Backend};
use crate::dispatch::ties::{self, ties, Choice};
use crate::dispatch::{CostModel, Dispatch, Placement, Reason, Workload};
use crate::error::{Error, Result};
use crate::expr::{Expr, Kernel};
use crate::host_pool::HostValues;
use crate::reduce::Reduce;
use crate::resident_image::Image;
use std::sync::{Arc, Mutex, OnceLock};

/// The environment variable that picks the default context's backend.
pub const BACKEND_ENV: &str = "GPU_BACKEND";

/// Runs kernels on one [`Backend`] (or chooses per call, for
/// [`Backend::Auto`]) and records each decision.
///
/// `Auto` chooses by the cost model ([`crate::dispatch`]). Where its two
/// estimates for a call are within 30 % of each other and a hardware GPU is
/// there ([`Reason::NearTie`]), the first ten calls of that kind (a map, a
/// reduction or a filter chain) with those estimates run five on each
/// device, timed, and the faster device is kept; it is timed again after 8
/// more calls, then 32, 128, … up to every 8192, and the latest timing
/// decides. Results of the timed calls may differ in rounding between the
/// devices.
///
/// `Context` is `Send + Sync`: share one between threads freely. Compiled
/// kernels are cached process-wide, so creating contexts is cheap.
///
/// ```
/// use gpu::{Backend, Context};
/// let ctx = Context::new(Backend::Cpu)?;
/// let y = ctx.map(&[1.0, 2.0, 3.0], |v| v * 2.0 + 1.0)?;
/// assert_eq!(y, vec![3.0, 5.0, 7.0]);
/// # Ok::<(), gpu::Error>(())
/// ```
#[derive(Debug)]
pub struct Context {
    backend: Backend,
    cost: CostModel,
    /// `cost` with the built-in GPU figures, for an adapter other than the
    /// one `cost`'s GPU figures were calibrated on; `None` when they are
    /// the built-in ones already.
    other_adapter: Option<CostModel>,
    /// Whether the open device's adapter is the one `cost`'s GPU figures
    /// were calibrated on (see `Context::model_for`).
    calibrated_adapter_present: OnceLock<bool>,
    /// The least launch time of `cost` and `other_adapter`: a call the CPU
    /// finishes sooner is decided without estimating the GPU's side.
    screen_launch_s: f64,
    last: Mutex<Option<Dispatch>>,
    gpu_subgroups: bool,
}

impl Context {
    /// A context for `backend`.
    ///
    /// `Backend::Gpu` opens the GPU device now and fails with
    /// [`Error::NoAdapter`] if there is none; every other backend always
    /// succeeds and `Auto` opens the GPU only when a call could use it.
    ///
    /// ```
    /// let ctx = gpu::Context::new(gpu::Backend::Scalar)?;
    /// assert_eq!(ctx.backend(), gpu::Backend::Scalar);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn new(backend: Backend) -> Result<Context> {
        if backend == Backend::Gpu {
            gpu::device::shared()?;
        }
        let cost = CostModel::default();
        let other_adapter = cost.gpu_adapter.is_some().then(|| cost.with_builtin_gpu());
        Ok(Context {
            backend,
            screen_launch_s: std::iter::once(&cost)
                .chain(&other_adapter)
                .map(|m| m.gpu_launch_s)
                .fold(f64::INFINITY, f64::min),
            other_adapter,
            cost,
            calibrated_adapter_present: OnceLock::new(),
            last: Mutex::new(None),
            gpu_subgroups: true,
        })
    }

    /// A context for the backend named by `GPU_BACKEND` (`auto`, `gpu`,
    /// `cpu` or `scalar`; `auto` when unset).
    ///
    /// ```
    /// let ctx = gpu::Context::from_env()?;
    /// println!("default backend: {}", ctx.backend());
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn from_env() -> Result<Context> {
        let backend = match std::env::var(BACKEND_ENV) {
            Ok(v) if v.trim().is_empty() => Backend::Auto,
            Ok(v) => v.parse::<Backend>().map_err(|_| Error::UnknownBackend {
                value: v,
                source_note: " (from GPU_BACKEND)",
            })?,
            Err(std::env::VarError::NotPresent) => Backend::Auto,
            Err(std::env::VarError::NotUnicode(v)) => {
                return Err(Error::UnknownBackend {
                    value: v.to_string_lossy().into_owned(),
                    source_note: " (from GPU_BACKEND)",
                })
            }
        };
        Context::new(backend)
    }

    /// The backend this context was created for: `Auto` stays `Auto` (what
    /// each call ran on is in [`Context::last_dispatch`]).
    ///
    /// ```
    /// let ctx = gpu::Context::new(gpu::Backend::Auto)?;
    /// ctx.map(&[1.0, 2.0], |v| v + 1.0)?;
    /// assert_eq!(ctx.backend(), gpu::Backend::Auto);
    /// assert_eq!(gpu::Context::new(gpu::Backend::Cpu)?.backend(), gpu::Backend::Cpu);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Makes GPU reductions use the portable workgroup-memory tree even where
    /// the adapter has subgroup operations (for testing that path).
    #[doc(hidden)]
    pub fn without_gpu_subgroups(mut self) -> Context {
        self.gpu_subgroups = false;
        self
    }

    /// The cost model `Auto` decides with: the saved calibration when there
    /// is one, the built-in figures otherwise ([`CostModel::default`]).
    ///
    /// ```
    /// let ctx = gpu::Context::new(gpu::Backend::Auto)?;
    /// assert_eq!(*ctx.cost_model(), gpu::dispatch::CostModel::default());
    /// assert!(ctx.cost_model().cpu_work_per_s > 0.0);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn cost_model(&self) -> &CostModel {
        &self.cost
    }

    /// The decision made for the most recent call on this context (from any
    /// thread), or `None` before the first call.
    ///
    /// ```
    /// use gpu::{Backend, Reason};
    /// let ctx = gpu::Context::new(Backend::Scalar)?;
    /// assert!(ctx.last_dispatch().is_none());
    /// ctx.map(&[1.0, 2.0, 3.0], |v| v + 1.0)?;
    /// let d = ctx.last_dispatch().expect("a call was made");
    /// assert_eq!((d.op, d.backend, d.n, d.reason), ("map", Backend::Scalar, 3, Reason::Requested));
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn last_dispatch(&self) -> Option<Dispatch> {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// `values` copied to where this context runs kernels, as an [`Array`]:
    /// GPU buffers for `Gpu`, host memory for `Cpu` and `Scalar`. `Auto`
    /// asks the cost model, launch latency included, and without a hardware
    /// GPU uses the CPU:
    /// * small arrays stay on the host, where even heavy arithmetic is
    ///   estimated faster;
    /// * large ones go to the GPU, where even a reduction is estimated
    ///   faster;
    /// * in between (on an H200 with 16 cores, about 2^19 to 2^22 values),
    ///   the faster device depends on the operation: a light map or a
    ///   reduction on the CPU, transcendental functions on the GPU. Such an
    ///   array is kept on both (twice the memory, up to 256 MiB of values;
    ///   [`Array::backend`] is `Auto`), and each operation on it runs where
    ///   it is estimated faster.
    ///
    /// The choice is recorded like any other dispatch.
    ///
    /// ```
    /// let ctx = gpu::Context::new(gpu::Backend::Cpu)?;
    /// let a = ctx.array(&[1.0, 2.0])?;
    /// assert_eq!(a.map(|v| v * 10.0)?.to_vec()?, vec![10.0, 20.0]);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn array(&self, values: &[f32]) -> Result<Array> {
        let host_copy = || {
            let mut stored = crate::host_pool::HOST_POOL.take(values.len());
            stored.copy_from_slice(values);
            stored
        };
        let upload = || gpu::array::DeviceArray::upload(gpu::device::shared()?, values);
        match self.place_values(values.len()) {
            (Backend::Gpu, _) => Ok(Array::stored_device(upload()?)),
            (Backend::Auto, Some(cost)) => Ok(Array::stored_both(host_copy(), upload()?, cost)),
            (backend, _) => Ok(Array::stored_host(backend, host_copy())),
        }
    }

    /// `img` copied to where this context runs kernels, as an [`Image`]
    /// that filters keep on the device. `Auto` places it like
    /// [`Context::array`], by the filters' estimated costs:
    /// * on the host while even a heavy blur (a Gaussian of σ 3) is
    ///   estimated faster on the CPU;
    /// * on the GPU once even the light filters (a colour filter, a 3×3 box
    ///   blur, Sobel) are estimated faster there;
    /// * in between (on an H200 with 16 cores, about 10^5 to 10^6 pixels),
    ///   on both (twice the memory; [`Image::backend`] is `Auto`), and each
    ///   filter chain on it runs where it is estimated faster.
    ///
    /// ```
    /// let ctx = gpu::Context::new(gpu::Backend::Cpu)?;
    /// let img = ctx.image(&image::RgbaImage::from_pixel(4, 4, image::Rgba([5, 5, 5, 255])))?;
    /// assert_eq!(img.filter(&"box:1".parse()?)?.to_rgba()?.get_pixel(1, 1).0, [5, 5, 5, 255]);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn image(&self, img: &image::RgbaImage) -> Result<Image> {
        let n = img.width() as usize * img.height() as usize;
        // Kept on both only where the GPU filters it in one band: larger
        // images pass through the host between bands (for a halo of 32
        // rows: a Gaussian blur up to σ 10).
        let (w, h) = img.dimensions();
        let fits = |d: &gpu::device::Device| crate::filter::gpu::fits_one_band(d, w, h, 32);
        match self.keep_on_both("image", n, CostModel::image_placement, fits) {
            Some(cost) => Image::place_on_both(img.clone(), cost),
            None => Image::place(self.place_image("image", n), img),
        }
    }

    /// Like [`Context::array`], but takes the vector: on the host backends
    /// it becomes the array without a copy (where the allocator put it,
    /// while the arrays the library makes start on a 64-byte cache line).
    ///
    /// ```
    /// let ctx = gpu::Context::new(gpu::Backend::Scalar)?;
    /// let a = ctx.array_from_vec(vec![1.0, 2.0, 3.0])?;
    /// assert_eq!(a.max()?, 3.0);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn array_from_vec(&self, values: Vec<f32>) -> Result<Array> {
        match self.place_values(values.len()) {
            (Backend::Gpu, _) => self.array(&values),
            (Backend::Auto, Some(cost)) => {
                let device = gpu::array::DeviceArray::upload(gpu::device::shared()?, &values)?;
                Ok(Array::stored_both(HostValues::adopt(values), device, cost))
            }
            (backend, _) => Ok(Array::stored_host(backend, HostValues::adopt(values))),
        }
    }

    /// Where a new array of `n` values made from host data lives, recorded
    /// as a dispatch of `"array"`: `Auto` keeps it on both the host and a
    /// hardware GPU where the faster device depends on the operation
    /// ([`CostModel::placement`]), and returns the figures its operations
    /// choose with; otherwise as [`Context::place_array`].
    fn place_values(&self, n: usize) -> (Backend, Option<Arc<CostModel>>) {
        match self.keep_on_both("array", n, CostModel::placement, |_| true) {
            Some(cost) => (Backend::Auto, Some(cost)),
            None => (self.place_array("array", n), None),
        }
    }

    /// For `Auto` with a hardware GPU it may use: whether data of `n`
    /// elements is kept on both the host and the GPU, as `placement` decides
    /// with the figures for that GPU, which it returns (recorded as a
    /// dispatch of `op` on `Auto`), when the data `fits` that device. `None`
    /// otherwise.
    fn keep_on_both(
        &self,
        op: &'static str,
        n: usize,
        placement: impl Fn(&CostModel, usize) -> Placement,
        fits: impl Fn(&gpu::device::Device) -> bool,
    ) -> Option<Arc<CostModel>> {
        // The device is opened only when the figures for some adapter
        // could keep it on both.
        if self.backend != Backend::Auto
            || self.models().all(|m| placement(m, n) != Placement::Both)
        {
            return None;
        }
        let d = gpu::device::shared().ok()?;
        let model = self.model_for(&d.summary);
        if !d.summary.auto_may_use() || placement(model, n) != Placement::Both || !fits(d) {
            return None;
        }
        let reason = Reason::KeptOnBoth {
            adapter: d.summary.name.clone(),
        };
        self.record(op, &Kernel::identity(), Backend::Auto, 0, n, reason);
        Some(Arc::new(model.clone()))
    }

    /// This context's figures, with GPU figures that hold for `adapter`:
    /// calibrated ones measured on another adapter give way to the built-in
    /// ones.
    fn model_for(&self, adapter: &gpu::AdapterSummary) -> &CostModel {
        let Some(other) = &self.other_adapter else {
            return &self.cost;
        };
        let calibrated = *self
            .calibrated_adapter_present
            .get_or_init(|| self.cost.gpu_adapter == Some(adapter.calibration_name()));
        if calibrated {
            &self.cost
        } else {
            other
        }
    }

    /// The figures that may hold for the GPU, to screen a call with before
    /// looking at the device: those for its adapter once it is open, and
    /// before that, the calibrated ones and, when they were calibrated, the
    /// built-in ones too. A GPU calibrated as slow must not keep `Auto`
    /// from a faster one that has replaced it.
    fn models(&self) -> impl Iterator<Item = &CostModel> {
        let open = gpu::device::opened().map(|d| self.model_for(&d.summary));
        let before_open = match open {
            Some(_) => None,
            None => Some(std::iter::once(&self.cost).chain(&self.other_adapter)),
        };
        open.into_iter().chain(before_open.into_iter().flatten())
    }

    /// Where a new array of `n` values lives, recorded as a dispatch of
    /// `op`: placed for a typical kernel on it, one read and one write of an
    /// `f32` per element and little arithmetic.
    pub(crate) fn place_array(&self, op: &'static str, n: usize) -> Backend {
        let typical = Workload {
            n,
            bytes_in: 4.0,
            bytes_out: 4.0,
            work: 2.0,
        };
        self.place(
            op,
            n,
            self.cost.cpu_plan(&typical),
            GpuWork::Kernel(&typical),
        )
    }

    /// Where a new image of `pixels` pixels lives when it is not kept on
    /// both devices, recorded as a dispatch of `op`: placed for a small
    /// Gaussian blur on it (σ = 1, seven taps each
    /// way). On the H200, placing for a lighter filter (a 3×3 box) kept
    /// 1024×768 images on the CPU, where the GPU ran every bench filter
    /// faster.
    pub(crate) fn place_image(&self, op: &'static str, pixels: usize) -> Backend {
        let blur = [crate::filter::Filter::GaussianBlur { sigma: 1.0 }];
        let (cpu, gpu) = self.filter_estimates(&blur, pixels);
        self.place(op, pixels, cpu, gpu)
    }

    /// The CPU's plan for `filters` over `pixels` (threads and seconds),
    /// and the GPU's workload.
    fn filter_estimates<'a>(
        &self,
        filters: &'a [crate::filter::Filter],
        pixels: usize,
    ) -> ((usize, f64), GpuWork<'a>) {
        (
            self.cost.cpu_filter_plan(filters, pixels),
            GpuWork::Filters(filters, pixels),
        )
    }

    /// Where data of `n` elements lives, for a kernel whose CPU plan
    /// (threads and seconds) is `cpu` and whose workload on the GPU (data
    /// on the device) is `gpu`.
    fn place(&self, op: &'static str, n: usize, cpu: (usize, f64), gpu: GpuWork) -> Backend {
        let (backend, reason) = match self.backend {
            Backend::Auto => match self.choose(None, cpu, gpu) {
                (choice, _, _) if choice.backend == Backend::Gpu => (
                    Backend::Gpu,
                    Reason::DeviceResident {
                        adapter: gpu::device::shared()
                            .map(|d| d.summary.name.clone())
                            .unwrap_or_default(),
                    },
                ),
                (choice, _, reason) => (choice.backend, reason),
            },
            b => (b, Reason::Requested),
        };
        let threads = match backend {
            Backend::Cpu => rayon::current_num_threads(),
            Backend::Scalar => 1,
            _ => 0,
        };
        self.record(op, &Kernel::identity(), backend, threads, n, reason);
        backend
    }

    /// `f` applied to every element of `x`, in a new vector.
    ///
    /// ```
    /// let ctx = gpu::Context::new(gpu::Backend::Auto)?;
    /// assert_eq!(ctx.map(&[4.0, 9.0], |v| v.sqrt())?, vec![2.0, 3.0]);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn map(&self, x: &[f32], f: impl FnOnce(Expr) -> Expr) -> Result<Vec<f32>> {
        let kernel = Kernel::unary(f)?;
        let mut out = crate::host_pool::zeroed(x.len());
        self.run_kernel("map", &kernel, &[x], &mut out)?;
        Ok(out)
    }

    /// `f` applied to pairs of elements of `a` and `b`, which must have the
    /// same length.
    ///
    /// ```
    /// let ctx = gpu::Context::new(gpu::Backend::Cpu)?;
    /// let z = ctx.map2(&[1.0, -2.0], &[3.0, 4.0], |a, b| (a * b).max(0.0))?;
    /// assert_eq!(z, vec![3.0, 0.0]);
    /// assert!(ctx.map2(&[1.0], &[1.0, 2.0], |a, b| a + b).is_err());
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn map2(
        &self,
        a: &[f32],
        b: &[f32],
        f: impl FnOnce(Expr, Expr) -> Expr,
    ) -> Result<Vec<f32>> {
        check_lengths("map2", "a", a.len(), "b", b.len())?;
        let kernel = Kernel::binary(f)?;
        let mut out = crate::host_pool::zeroed(a.len());
        self.run_kernel("map2", &kernel, &[a, b], &mut out)?;
        Ok(out)
    }

    /// `f` applied to every element of `x`, written into `out` (same length).
    ///
    /// ```
    /// let ctx = gpu::Context::new(gpu::Backend::Cpu)?;
    /// let mut out = vec![0.0; 2];
    /// ctx.map_into(&[0.0, 1.0], &mut out, |v| v.exp())?;
    /// assert_eq!(out[0], 1.0);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn map_into(&self, x: &[f32], out: &mut [f32], f: impl FnOnce(Expr) -> Expr) -> Result<()> {
        check_lengths("map_into", "x", x.len(), "out", out.len())?;
        let kernel = Kernel::unary(f)?;
        self.run_kernel("map_into", &kernel, &[x], out)
    }

    /// `f` applied to pairs of elements of `a` and `b`, written into `out`;
    /// all three have the same length.
    ///
    /// ```
    /// let ctx = gpu::Context::new(gpu::Backend::Cpu)?;
    /// let mut out = vec![0.0; 2];
    /// ctx.map2_into(&[1.0, 2.0], &[10.0, 20.0], &mut out, |a, b| a + b)?;
    /// assert_eq!(out, vec![11.0, 22.0]);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn map2_into(
        &self,
        a: &[f32],
        b: &[f32],
        out: &mut [f32],
        f: impl FnOnce(Expr, Expr) -> Expr,
    ) -> Result<()> {
        check_lengths("map2_into", "a", a.len(), "b", b.len())?;
        check_lengths("map2_into", "a", a.len(), "out", out.len())?;
        let kernel = Kernel::binary(f)?;
        self.run_kernel("map2_into", &kernel, &[a, b], out)
    }

    /// Runs an already traced kernel: `out[i] = kernel(inputs[0][i], …)`.
    ///
    /// ```
    /// let k = gpu::Kernel::binary(|a, b| a - b)?;
    /// let ctx = gpu::Context::new(gpu::Backend::Scalar)?;
    /// let mut out = vec![0.0; 2];
    /// ctx.run(&k, &[&[5.0, 6.0], &[1.0, 1.0]], &mut out)?;
    /// assert_eq!(out, vec![4.0, 5.0]);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn run(&self, kernel: &Kernel, inputs: &[&[f32]], out: &mut [f32]) -> Result<()> {
        if inputs.len() != kernel.arity() {
            return Err(Error::ArityMismatch {
                op: "run",
                expected: kernel.arity(),
                given: inputs.len(),
            });
        }
        for input in inputs {
            check_lengths("run", "an input", input.len(), "out", out.len())?;
        }
        self.run_kernel("run", kernel, inputs, out)
    }

    /// Reduces `x` with `op`. See [`Reduce`] for empty inputs, NaN and
    /// accuracy.
    ///
    /// ```
    /// use gpu::{Backend, Context, Reduce};
    /// let ctx = Context::new(Backend::Cpu)?;
    /// assert_eq!(ctx.reduce(&[3.0, 1.0, 2.0], Reduce::Max)?, 3.0);
    /// assert_eq!(ctx.reduce(&[], Reduce::Sum)?, 0.0);
    /// assert!(ctx.reduce(&[], Reduce::Min).is_err());
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn reduce(&self, x: &[f32], op: Reduce) -> Result<f32> {
        self.reduce_kernel(op.name(), &Kernel::identity(), &[x], op)
    }

    /// The sum of `x` (`0.0` when empty).
    ///
    /// ```
    /// let ctx = gpu::Context::new(gpu::Backend::Cpu)?;
    /// assert_eq!(ctx.sum(&[1.0, 2.0, 3.5])?, 6.5);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn sum(&self, x: &[f32]) -> Result<f32> {
        self.reduce(x, Reduce::Sum)
    }

    /// The smallest element (NaN if any is NaN; an error when empty).
    ///
    /// ```
    /// let ctx = gpu::Context::new(gpu::Backend::Scalar)?;
    /// assert_eq!(ctx.min(&[2.0, -1.0])?, -1.0);
    /// assert!(ctx.min(&[1.0, f32::NAN])?.is_nan());
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn min(&self, x: &[f32]) -> Result<f32> {
        self.reduce(x, Reduce::Min)
    }

    /// The largest element (NaN if any is NaN; an error when empty).
    ///
    /// ```
    /// let ctx = gpu::Context::new(gpu::Backend::Cpu)?;
    /// assert_eq!(ctx.max(&[2.0, -1.0])?, 2.0);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn max(&self, x: &[f32]) -> Result<f32> {
        self.reduce(x, Reduce::Max)
    }

    /// The product of `x` (`1.0` when empty).
    ///
    /// ```
    /// let ctx = gpu::Context::new(gpu::Backend::Cpu)?;
    /// assert_eq!(ctx.product(&[2.0, 3.0, 0.5])?, 3.0);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn product(&self, x: &[f32]) -> Result<f32> {
        self.reduce(x, Reduce::Product)
    }

    /// The arithmetic mean (the sum divided by the length; an error when
    /// empty).
    ///
    /// ```
    /// let ctx = gpu::Context::new(gpu::Backend::Cpu)?;
    /// assert_eq!(ctx.mean(&[1.0, 2.0, 6.0])?, 3.0);
    /// assert!(ctx.mean(&[]).is_err());
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn mean(&self, x: &[f32]) -> Result<f32> {
        if x.is_empty() {
            return Err(Error::EmptyInput { op: "mean" });
        }
        Ok(self.reduce_kernel("mean", &Kernel::identity(), &[x], Reduce::Sum)? / x.len() as f32)
    }

    /// `f` applied to every element of `x`, then reduced with `op`, in one
    /// pass: the mapped values are never stored.
    ///
    /// ```
    /// let ctx = gpu::Context::new(gpu::Backend::Cpu)?;
    /// let sum_of_squares = ctx.map_reduce(&[1.0, 2.0, 3.0], |v| v * v, gpu::Reduce::Sum)?;
    /// assert_eq!(sum_of_squares, 14.0);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn map_reduce(&self, x: &[f32], f: impl FnOnce(Expr) -> Expr, op: Reduce) -> Result<f32> {
        let kernel = Kernel::unary(f)?;
        self.reduce_kernel("map_reduce", &kernel, &[x], op)
    }

    /// `f` applied to pairs of elements of `a` and `b` (same length), then
    /// reduced with `op`, in one pass. A dot product is one call.
    ///
    /// ```
    /// let ctx = gpu::Context::new(gpu::Backend::Cpu)?;
    /// let dot = ctx.map2_reduce(&[1.0, 2.0], &[3.0, 4.0], |a, b| a * b, gpu::Reduce::Sum)?;
    /// assert_eq!(dot, 11.0);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn map2_reduce(
        &self,
        a: &[f32],
        b: &[f32],
        f: impl FnOnce(Expr, Expr) -> Expr,
        op: Reduce,
    ) -> Result<f32> {
        check_lengths("map2_reduce", "a", a.len(), "b", b.len())?;
        let kernel = Kernel::binary(f)?;
        self.reduce_kernel("map2_reduce", &kernel, &[a, b], op)
    }

    /// Reduces an already traced kernel over its inputs.
    ///
    /// ```
    /// let k = gpu::Kernel::binary(|a, b| (a - b).abs())?;
    /// let ctx = gpu::Context::new(gpu::Backend::Scalar)?;
    /// let worst = ctx.run_reduce(&k, &[&[1.0, 5.0], &[2.0, 2.0]], gpu::Reduce::Max)?;
    /// assert_eq!(worst, 3.0);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn run_reduce(&self, kernel: &Kernel, inputs: &[&[f32]], op: Reduce) -> Result<f32> {
        if inputs.len() != kernel.arity() || inputs.is_empty() {
            return Err(Error::ArityMismatch {
                op: "run_reduce",
                expected: kernel.arity(),
                given: inputs.len(),
            });
        }
        for input in &inputs[1..] {
            check_lengths(
                "run_reduce",
                "the first input",
                inputs[0].len(),
                "another input",
                input.len(),
            )?;
        }
        self.reduce_kernel("run_reduce", kernel, inputs, op)
    }

    fn reduce_kernel(
        &self,
        name: &'static str,
        kernel: &Kernel,
        inputs: &[&[f32]],
        op: Reduce,
    ) -> Result<f32> {
        let n = inputs[0].len();
        let workload = Workload::reduce(kernel, inputs.len(), n);
        let (choice, threads, reason) = self.decide("reduce on host", &workload);
        self.record(name, kernel, choice.backend, threads, n, reason);
        if n == 0 {
            return op.empty_result().ok_or(Error::EmptyInput { op: name });
        }
        choice.run(|| {
            Ok(match choice.backend {
                Backend::Scalar => scalar::reduce(kernel, inputs, n, op),
                Backend::Gpu => gpu::reduce::reduce(
                    gpu::device::shared()?,
                    kernel,
                    inputs,
                    n,
                    op,
                    self.gpu_subgroups,
                )?,
                Backend::Cpu | Backend::Auto => {
                    let program = (!kernel.is_identity()).then(|| cpu::program(kernel));
                    cpu::reduce::reduce(program.as_deref(), inputs, n, op, threads > 1)
                }
            })
        })
    }

    /// `filter` applied to `img`. See [`Filter`](crate::filter::Filter) for
    /// each filter's definition.
    ///
    /// ```
    /// use gpu::filter::Filter;
    /// let ctx = gpu::Context::new(gpu::Backend::Cpu)?;
    /// let img = image::RgbaImage::from_pixel(5, 5, image::Rgba([100, 0, 0, 255]));
    /// let out = ctx.filter(&img, &"invert".parse()?)?;
    /// assert_eq!(out.get_pixel(0, 0).0, [155, 255, 255, 255]);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn filter(
        &self,
        img: &image::RgbaImage,
        filter: &crate::filter::Filter,
    ) -> Result<image::RgbaImage> {
        self.filter_chain(img, std::slice::from_ref(filter))
    }

    /// Applies `filters` in order. On the GPU the intermediate images stay
    /// on the device (for images that fit one storage binding).
    ///
    /// ```
    /// let ctx = gpu::Context::new(gpu::Backend::Cpu)?;
    /// let img = image::RgbaImage::from_pixel(5, 5, image::Rgba([100, 0, 0, 255]));
    /// let chain = gpu::filter::Filter::parse_chain("invert,invert")?;
    /// assert_eq!(ctx.filter_chain(&img, &chain)?, img);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn filter_chain(
        &self,
        img: &image::RgbaImage,
        filters: &[crate::filter::Filter],
    ) -> Result<image::RgbaImage> {
        for f in filters {
            f.validate()?;
        }
        let n = img.width() as usize * img.height() as usize;
        let (cpu, gpu) = self.filter_estimates(filters, n);
        let (choice, threads, reason) = self.decide_apart("filter on host", cpu, gpu);
        self.record(
            "filter",
            &Kernel::identity(),
            choice.backend,
            threads,
            n,
            reason,
        );
        if n == 0 || filters.is_empty() {
            return Ok(img.clone());
        }
        choice.run(|| match choice.backend {
            Backend::Gpu => crate::filter::gpu::apply_chain(img, filters),
            host => Ok(crate::filter::apply_chain_on_host(
                host,
                img,
                filters,
                threads > 1,
            )),
        })
    }

    fn record(
        &self,
        op: &'static str,
        kernel: &Kernel,
        backend: Backend,
        threads: usize,
        n: usize,
        reason: Reason,
    ) {
        let dispatch = Dispatch {
            op,
            backend,
            requested: self.backend,
            n,
            threads,
            reason,
        };
        tracing::debug!(target: "gpu::dispatch", kernel = %kernel, "{dispatch}");
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(dispatch);
    }

    fn run_kernel(
        &self,
        op: &'static str,
        kernel: &Kernel,
        inputs: &[&[f32]],
        out: &mut [f32],
    ) -> Result<()> {
        let n = out.len();
        let workload = Workload::map(kernel, inputs.len(), n);
        let (choice, threads, reason) = self.decide("map on host", &workload);
        self.record(op, kernel, choice.backend, threads, n, reason);
        choice.run(|| {
            match choice.backend {
                Backend::Scalar => scalar::map(kernel, inputs, out),
                Backend::Gpu => gpu::map::map(gpu::device::shared()?, kernel, inputs, out)?,
                Backend::Cpu | Backend::Auto => {
                    cpu::map(&cpu::program(kernel), inputs, out, threads > 1)
                }
            }
            Ok(())
        })
    }

    /// Where a call of the family `family` (a near-tie's name in
    /// `dispatch::ties`) runs, on how many CPU threads, and why.
    fn decide(&self, family: &'static str, w: &Workload) -> (Choice, usize, Reason) {
        match self.backend {
            Backend::Scalar => (Choice::fixed(Backend::Scalar), 1, Reason::Requested),
            Backend::Gpu => (Choice::fixed(Backend::Gpu), 0, Reason::Requested),
            _ => self.decide_apart(family, self.cost.cpu_plan(w), GpuWork::Kernel(w)),
        }
    }

    /// [`Context::decide`] for a call whose CPU plan (threads and seconds)
    /// is estimated apart from its GPU workload (filters).
    fn decide_apart(
        &self,
        family: &'static str,
        cpu: (usize, f64),
        gpu: GpuWork,
    ) -> (Choice, usize, Reason) {
        match self.backend {
            Backend::Scalar => (Choice::fixed(Backend::Scalar), 1, Reason::Requested),
            Backend::Gpu => (Choice::fixed(Backend::Gpu), 0, Reason::Requested),
            Backend::Cpu => (Choice::fixed(Backend::Cpu), cpu.0, Reason::Requested),
            Backend::Auto => self.choose(Some(family), cpu, gpu),
        }
    }

    /// Auto's choice: the CPU plan `cpu` (threads and seconds) against the
    /// GPU's estimate for `gpu`, for a call on host data whose near-ties
    /// are known as `host_family` (`dispatch::ties`; the transfers count),
    /// or with `None` for data placed on the device (no transfers, and no
    /// near-tie timed: a placement decides once). On host data, a GPU
    /// estimate within a near-tie of the CPU's (`ties::TIE_RATIO`) on a
    /// hardware GPU is a [`Reason::NearTie`], timed on each device now and
    /// then, even where the CPU's estimate is the lower.
    ///
    /// Inlined, with the estimates out of line: most calls `Auto` makes are
    /// small, and the screen that sends them to the CPU is one comparison.
    /// Made as a call, with the launch time folded over the models each
    /// time, it cost about 10 ns, 5–7 % of a host call on 2^10 values on
    /// the development machine (BENCHMARKS.md).
    #[inline]
    fn choose(
        &self,
        host_family: Option<&'static str>,
        cpu: (usize, f64),
        gpu: GpuWork,
    ) -> (Choice, usize, Reason) {
        if gpu.n() == 0 {
            return (Choice::fixed(Backend::Cpu), 1, Reason::Empty);
        }
        let (threads, cpu_s) = cpu;
        // A call the CPU finishes before a GPU call could even start (most
        // small calls; on host data, with a near-tie's margin) is decided
        // without estimating the GPU's side. The adapter is not known
        // before the device is opened, so the screen takes the fastest
        // figures of any adapter (`screen_launch_s`).
        if cpu_s * Self::tie_margin(host_family) <= self.screen_launch_s {
            return (
                Choice::fixed(Backend::Cpu),
                threads,
                Reason::CostModel { cpu_s, gpu_s: None },
            );
        }
        self.choose_by_estimates(host_family, cpu, gpu)
    }

    /// How much slower than the CPU's a GPU estimate may be and still be
    /// worked out: a near-tie's margin for host data, whose near-ties are
    /// timed, none for placements, which decide once.
    #[inline]
    fn tie_margin(host_family: Option<&'static str>) -> f64 {
        if host_family.is_some() {
            ties::TIE_RATIO
        } else {
            1.0
        }
    }

    /// [`Context::choose`] for a call the screen did not settle: the GPU's
    /// estimate, from the figures that hold for the adapter.
    #[inline(never)]
    fn choose_by_estimates(
        &self,
        host_family: Option<&'static str>,
        cpu: (usize, f64),
        gpu: GpuWork,
    ) -> (Choice, usize, Reason) {
        let gpu_estimate = |m: &CostModel| {
            let w = gpu.workload(m);
            if host_family.is_some() {
                m.gpu_seconds(&w)
            } else {
                m.gpu_resident_seconds(&w)
            }
        };
        let (threads, cpu_s) = cpu;
        let on_cpu = |reason| (Choice::fixed(Backend::Cpu), threads, reason);
        let gpu_s = self
            .models()
            .map(&gpu_estimate)
            .fold(f64::INFINITY, f64::min);
        if gpu_s >= cpu_s * Self::tie_margin(host_family) {
            return on_cpu(Reason::CostModel { cpu_s, gpu_s: None });
        }
        let device = match gpu::device::shared() {
            Ok(d) if d.summary.auto_may_use() => d,
            // A near-tie let through above, with no GPU to time it on.
            _ if gpu_s >= cpu_s => return on_cpu(Reason::CostModel { cpu_s, gpu_s: None }),
            Err(e) => return on_cpu(Reason::GpuUnavailable { why: e.to_string() }),
            Ok(d) => {
                return on_cpu(Reason::GpuIsSoftware {
                    adapter: d.summary.name.clone(),
                })
            }
        };
        // Calibrated GPU figures hold for the adapter they were measured
        // on; another one gets the built-in figures.
        let gpu_s = gpu_estimate(self.model_for(&device.summary));
        match host_family {
            Some(family) if ties::is_near_tie(cpu_s, gpu_s) => {
                let choice = ties().choose(family, gpu.n(), cpu_s, gpu_s);
                let threads = if choice.backend == Backend::Gpu {
                    0
                } else {
                    threads
                };
                let reason = Reason::NearTie {
                    cpu_s,
                    gpu_s,
                    timed: choice.is_trial(),
                };
                (choice, threads, reason)
            }
            _ if gpu_s >= cpu_s => on_cpu(Reason::CostModel {
                cpu_s,
                gpu_s: Some(gpu_s),
            }),
            _ => (
                Choice::fixed(Backend::Gpu),
                0,
                Reason::CostModel {
                    cpu_s,
                    gpu_s: Some(gpu_s),
                },
            ),
        }
    }
}

fn check_lengths(
    op: &'static str,
    left_name: &'static str,
    left: usize,
    right_name: &'static str,
    right: usize,
) -> Result<()> {
    if left == right {
        Ok(())
    } else {
        Err(Error::LengthMismatch {
            op,
            left_name,
            left,
            right_name,
            right,
        })
    }
}

/// The process-wide context the free functions ([`crate::map`] and friends)
/// use, created on first use from `GPU_BACKEND`.
///
/// An invalid `GPU_BACKEND` makes this (and every free function) return the
/// same [`Error::UnknownBackend`] each time.
///
/// ```
/// gpu::map(&[1.0], |v| v * 3.0)?;
/// let d = gpu::default_context()?.last_dispatch();
/// println!("{d:?}");
/// # Ok::<(), gpu::Error>(())
/// ```
pub fn default_context() -> Result<&'static Context> {
    static DEFAULT: OnceLock<Result<Context>> = OnceLock::new();
    DEFAULT
        .get_or_init(Context::from_env)
        .as_ref()
        .map_err(Clone::clone)
}

/// The GPU adapter the GPU backend uses, opening the device if it is not open
/// yet; an error if there is none.
///
/// ```
/// match gpu::adapter() {
///     Ok(a) => println!("GPU: {a}"),
///     Err(e) => println!("no GPU: {e}"),
/// }
/// ```
pub fn adapter() -> Result<gpu::AdapterSummary> {
    Ok(gpu::device::shared()?.summary.clone())
}

/// What a call would run on the GPU, for [`Context::choose`] to estimate
/// with each cost model it weighs (this context's, or the built-in GPU
/// figures for an adapter it was not calibrated on).
#[derive(Clone, Copy)]
enum GpuWork<'a> {
    /// A kernel's workload.
    Kernel(&'a Workload),
    /// Filters applied in turn to an image of this many pixels.
    Filters(&'a [crate::filter::Filter], usize),
}

impl GpuWork<'_> {
    /// The workload by `model`'s figures.
    fn workload(&self, model: &CostModel) -> Workload {
        match *self {
            GpuWork::Kernel(w) => *w,
            GpuWork::Filters(filters, pixels) => model.gpu_filter_workload(filters, pixels),
        }
    }

    /// Elements (values or pixels).
    fn n(&self) -> usize {
        match *self {
            GpuWork::Kernel(w) => w.n,
            GpuWork::Filters(_, pixels) => pixels,
        }
    }
}
