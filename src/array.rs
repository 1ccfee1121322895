//! [`Array`]: data that lives on a backend's device, with lazy maps that
//! fuse into one kernel.
//!
//! An array is made by [`Context::array`](crate::Context::array) (or
//! [`Context::array_from_vec`](crate::Context::array_from_vec)) and lives
//! where that context runs kernels: in GPU buffers for `Gpu`, in host
//! memory for `Cpu` and `Scalar`. `Auto` asks the cost model: large arrays
//! go to a hardware GPU, small ones stay on the host, and in between, where
//! the faster device depends on the operation, an array is kept on both and
//! each map or reduction on it runs where it is estimated faster (its result
//! then lives there), or at a near-tie of the estimates where its calls
//! were timed faster, first and then now and again (`dispatch::ties`).
//! Large host arrays recycle their memory through a pool, so a loop of maps
//! does not pay the operating system's page faults on every new array.
//!
//! [`Array::map`] and [`Array::map2`] compute nothing: they record the
//! kernel over the arrays they read. A chain of maps is one expression over
//! at most two stored arrays, so evaluating it is one pass. Reductions fuse
//! with the pending maps too, so `a.map(|v| v * v)?.sum()?` never stores the
//! squares. [`Array::eval`] computes and keeps the values (later uses read
//! them); [`Array::to_vec`] brings them to the host.

use crate::backend::{cpu, gpu, scalar, Backend};
use crate::dispatch::ties::{ties, Choice};
use crate::dispatch::{CostModel, Workload};
use crate::error::{Error, Result};
use crate::expr::{Expr, Kernel};
use crate::host_pool::{HostValues, HOST_POOL};
use crate::reduce::Reduce;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};

/// Element types an [`Array`] can hold. Sealed: only `f32` today, the one
/// type the kernels compute in.
pub trait Element: sealed::Sealed + Copy + Send + Sync + 'static {}

impl Element for f32 {}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
}

/// Values that live on one backend's device (or, for `Auto`, on both the
/// host and the GPU). Cloning is cheap (the data is shared); maps are lazy
/// and fuse.
///
/// ```
/// let ctx = gpu::Context::new(gpu::Backend::Cpu)?;
/// let x = ctx.array(&[1.0, 2.0, 3.0])?;
/// let y = x.map(|v| v * 2.0)?.map(|v| v + 1.0)?; // one fused kernel
/// assert_eq!(y.to_vec()?, vec![3.0, 5.0, 7.0]);
/// assert_eq!(y.sum()?, 15.0);
/// # Ok::<(), gpu::Error>(())
/// ```
#[derive(Clone)]
pub struct Array<T: Element = f32> {
    inner: Arc<Inner>,
    element: PhantomData<T>,
}

struct Inner {
    len: usize,
    /// `Gpu`, `Cpu` or `Scalar`: where the data lives and kernels run;
    /// `Auto`: kept on both the host and the GPU (or a pending map of such
    /// arrays), each operation choosing.
    backend: Backend,
    source: Source,
}

impl Drop for Inner {
    /// Host values go back to the pool that later arrays take theirs from.
    fn drop(&mut self) {
        if let Source::Stored(Stored::Host(values) | Stored::Both { host: values, .. }) =
            &mut self.source
        {
            HOST_POOL.give_back(std::mem::take(values));
        }
    }
}

enum Source {
    Stored(Stored),
    /// `kernel(inputs…)`, computed on first use and kept.
    Pending {
        kernel: Kernel,
        /// One or two stored arrays.
        inputs: Vec<Array>,
        value: OnceLock<Array>,
    },
}

enum Stored {
    Host(HostValues),
    Device(gpu::array::DeviceArray),
    /// The same values on the host and a hardware GPU (`Auto`); operations
    /// choose with `cost`, the figures of the context that made the array.
    Both {
        host: HostValues,
        device: gpu::array::DeviceArray,
        cost: Arc<CostModel>,
    },
}

impl std::fmt::Debug for Array {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Array");
        d.field("len", &self.len())
            .field("backend", &self.backend());
        match &self.inner.source {
            Source::Stored(_) => d.field("state", &"stored"),
            Source::Pending { kernel, .. } => d.field("pending", &kernel.to_string()),
        };
        d.finish()
    }
}

impl Array {
    pub(crate) fn stored_host(backend: Backend, values: HostValues) -> Array {
        Array::new(values.len(), backend, Source::Stored(Stored::Host(values)))
    }

    pub(crate) fn stored_both(
        host: HostValues,
        device: gpu::array::DeviceArray,
        cost: Arc<CostModel>,
    ) -> Array {
        Array::new(
            host.len(),
            Backend::Auto,
            Source::Stored(Stored::Both { host, device, cost }),
        )
    }

    pub(crate) fn stored_device(values: gpu::array::DeviceArray) -> Array {
        Array::new(
            values.len(),
            Backend::Gpu,
            Source::Stored(Stored::Device(values)),
        )
    }

    fn new(len: usize, backend: Backend, source: Source) -> Array {
        Array {
            inner: Arc::new(Inner {
                len,
                backend,
                source,
            }),
            element: PhantomData,
        }
    }

    /// Number of values.
    ///
    /// ```
    /// let ctx = gpu::Context::new(gpu::Backend::Cpu)?;
    /// assert_eq!(ctx.array(&[1.0, 2.0])?.len(), 2);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.inner.len
    }

    /// Whether the array has no values.
    ///
    /// ```
    /// let ctx = gpu::Context::new(gpu::Backend::Cpu)?;
    /// assert!(ctx.array(&[])?.is_empty());
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.inner.len == 0
    }

    /// Where the values live and kernels on them run: `Gpu`, `Cpu` or
    /// `Scalar`; `Auto` for an array kept on both the host and the GPU (see
    /// [`Context::array`](crate::Context::array)), and for maps that read
    /// only such arrays until they are computed (by [`Array::eval`],
    /// [`Array::to_vec`] or [`Array::wait`]; then where they ran).
    ///
    /// ```
    /// let ctx = gpu::Context::new(gpu::Backend::Scalar)?;
    /// assert_eq!(ctx.array(&[1.0])?.backend(), gpu::Backend::Scalar);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn backend(&self) -> Backend {
        match &self.inner.source {
            Source::Pending { value, .. } => value.get().map_or(self.inner.backend, Array::backend),
            Source::Stored(_) => self.inner.backend,
        }
    }

    /// Whether maps are recorded but not computed yet.
    ///
    /// ```
    /// let ctx = gpu::Context::new(gpu::Backend::Cpu)?;
    /// let y = ctx.array(&[1.0])?.map(|v| v + 1.0)?;
    /// assert!(y.is_pending());
    /// assert!(!y.eval()?.is_pending());
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn is_pending(&self) -> bool {
        match &self.inner.source {
            Source::Stored(_) => false,
            Source::Pending { value, .. } => value.get().is_none(),
        }
    }

    /// The kernel this array would run, over the stored arrays it reads:
    /// the identity over itself when it is stored (or already computed).
    fn expression(&self) -> (Kernel, Vec<Array>) {
        match &self.inner.source {
            Source::Pending {
                kernel,
                inputs,
                value,
            } => match value.get() {
                Some(v) => (Kernel::identity(), vec![v.clone()]),
                None => (kernel.clone(), inputs.clone()),
            },
            Source::Stored(_) => (Kernel::identity(), vec![self.clone()]),
        }
    }

    /// `f` applied to every value: recorded, computed when needed. Chains of
    /// maps fuse into one kernel.
    ///
    /// ```
    /// let ctx = gpu::Context::new(gpu::Backend::Cpu)?;
    /// let y = ctx.array(&[0.0, 1.0])?.map(|v| v.exp())?.map(|v| v - 1.0)?;
    /// assert_eq!(y.to_vec()?, vec![0.0, std::f32::consts::E - 1.0]);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn map(&self, f: impl FnOnce(Expr) -> Expr) -> Result<Array> {
        let (kernel, inputs) = self.expression();
        let fused = Kernel::trace(inputs.len() as u8, |xs| f(kernel.apply(xs)))?;
        Ok(Array::pending(self.len(), fused, inputs))
    }

    /// `f` applied to pairs of values of `self` and `other` (same length, same
    /// backend, or one of them `Auto`: kept on both devices, or a map not yet
    /// computed of such arrays): recorded, computed when needed. It fuses
    /// with the pending maps of both while they read at most two stored
    /// arrays between them; past that, `other` is computed first (and then
    /// `self`, if still needed), on the other operand's device. Such a
    /// computation is not kept when it was forced onto one device, so a map
    /// of arrays kept on both stays `Auto`.
    ///
    /// ```
    /// let ctx = gpu::Context::new(gpu::Backend::Cpu)?;
    /// let a = ctx.array(&[1.0, 2.0])?;
    /// let b = ctx.array(&[3.0, 4.0])?;
    /// let dot = a.map2(&b, |x, y| x * y)?.sum()?;
    /// assert_eq!(dot, 11.0);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn map2(&self, other: &Array, f: impl FnOnce(Expr, Expr) -> Expr) -> Result<Array> {
        // The expressions first, and the check on what they read: another
        // thread may compute a shared pending map meanwhile, and its
        // backend is then where that ran.
        let (mut ka, mut ia) = self.expression();
        let (mut kb, mut ib) = other.expression();
        check_pair(
            "map2",
            (backend_of(&ia), self.len()),
            (backend_of(&ib), other.len()),
        )?;
        let mut inputs = union(&ia, &ib);
        // An operand computed apart runs where the other one lives, so that
        // an array kept on both never meets the other device's.
        let on = |xs: &[Array]| Some(backend_of(xs)).filter(|&b| b != Backend::Auto);
        if inputs.len() > 2 {
            (kb, ib) = (Kernel::identity(), vec![other.eval_on(on(&ia))?]);
            inputs = union(&ia, &ib);
        }
        if inputs.len() > 2 {
            (ka, ia) = (Kernel::identity(), vec![self.eval_on(on(&ib))?]);
            inputs = union(&ia, &ib);
        }
        let pick = |of: &[Array], xs: &[Expr]| -> Vec<Expr> {
            of.iter()
                .map(|a| {
                    let i = inputs
                        .iter()
                        .position(|s| Arc::ptr_eq(&s.inner, &a.inner))
                        .expect("every input is in the union");
                    xs[i]
                })
                .collect()
        };
        let fused = Kernel::trace(inputs.len() as u8, |xs| {
            f(ka.apply(&pick(&ia, xs)), kb.apply(&pick(&ib, xs)))
        })?;
        if let [a, b] = inputs.as_slice() {
            check_pair("map2", (a.backend(), a.len()), (b.backend(), b.len()))?;
        }
        Ok(Array::pending(self.len(), fused, inputs))
    }

    /// `kernel` over the stored `inputs` (on one device, or kept on both),
    /// not computed yet: on their device, or `Auto` when every input is kept
    /// on both.
    fn pending(len: usize, kernel: Kernel, inputs: Vec<Array>) -> Array {
        let backend = backend_of(&inputs);
        Array::new(
            len,
            backend,
            Source::Pending {
                kernel,
                inputs,
                value: OnceLock::new(),
            },
        )
    }

    /// Computes the pending maps (once; clones share the result) and returns
    /// the array of their values. A stored array returns itself.
    ///
    /// ```
    /// let ctx = gpu::Context::new(gpu::Backend::Cpu)?;
    /// let y = ctx.array(&[2.0])?.map(|v| v * v)?;
    /// let stored = y.eval()?;
    /// assert_eq!(stored.to_vec()?, vec![4.0]);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn eval(&self) -> Result<Array> {
        self.eval_on(None)
    }

    /// [`Array::eval`], on `device` when the array is a map of arrays kept on
    /// both. A value computed on a device it was forced onto is returned,
    /// not kept: the array stays `Auto`.
    fn eval_on(&self, device: Option<Backend>) -> Result<Array> {
        let Source::Pending {
            kernel,
            inputs,
            value,
        } = &self.inner.source
        else {
            return Ok(self.clone());
        };
        if let Some(v) = value.get() {
            if device.is_none_or(|d| d == v.backend()) {
                return Ok(v.clone());
            }
        }
        let forced = self.inner.backend == Backend::Auto && device.is_some();
        let backend = match self.inner.backend {
            Backend::Auto => device.unwrap_or(Backend::Auto),
            b => b,
        };
        let computed = run_map(backend, self.len(), kernel, inputs)?;
        if forced {
            return Ok(computed);
        }
        Ok(value.get_or_init(|| computed).clone())
    }

    /// The values, on the host (computing pending maps first).
    ///
    /// ```
    /// let ctx = gpu::Context::new(gpu::Backend::Scalar)?;
    /// assert_eq!(ctx.array(&[1.5])?.map(|v| -v)?.to_vec()?, vec![-1.5]);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn to_vec(&self) -> Result<Vec<f32>> {
        let stored = self.eval()?;
        match stored.stored() {
            Stored::Host(v) | Stored::Both { host: v, .. } => Ok(v.to_vec()),
            Stored::Device(d) => d.to_vec(),
        }
    }

    fn stored(&self) -> &Stored {
        match &self.inner.source {
            Source::Stored(s) => s,
            Source::Pending { .. } => unreachable!("eval returns stored arrays"),
        }
    }

    /// The device buffers of a stored GPU array, or the device half of one
    /// kept on both (for the benchmark).
    pub(crate) fn device(&self) -> Option<&gpu::array::DeviceArray> {
        match &self.inner.source {
            Source::Stored(Stored::Device(d) | Stored::Both { device: d, .. }) => Some(d),
            _ => None,
        }
    }

    /// Reduces the values with `op`, fused with the pending maps (their
    /// results are never stored). Empty arrays: see [`Reduce::empty_result`].
    ///
    /// ```
    /// let ctx = gpu::Context::new(gpu::Backend::Cpu)?;
    /// let x = ctx.array(&[3.0, -4.0])?;
    /// assert_eq!(x.map(|v| v * v)?.reduce(gpu::Reduce::Max)?, 16.0);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn reduce(&self, op: Reduce) -> Result<f32> {
        let n = self.len();
        if n == 0 {
            return op.empty_result().ok_or(Error::EmptyInput { op: op.name() });
        }
        let (kernel, inputs) = self.expression();
        let choice = reduce_device(&kernel, &inputs, n);
        choice.run(|| {
            Ok(match choice.backend {
                Backend::Gpu => {
                    let devices = device_inputs(&inputs);
                    gpu::array::DeviceArray::reduce(&kernel, &devices, op, true)?
                }
                Backend::Scalar => scalar::reduce(&kernel, &host_inputs(&inputs), n, op),
                Backend::Cpu | Backend::Auto => {
                    let program = (!kernel.is_identity()).then(|| cpu::program(&kernel));
                    let parallel = cpu_parallel(n, &kernel, inputs.len(), 0.0, 1.0);
                    cpu::reduce::reduce(program.as_deref(), &host_inputs(&inputs), n, op, parallel)
                }
            })
        })
    }

    /// The sum of the values (0 for an empty array).
    ///
    /// ```
    /// let ctx = gpu::Context::new(gpu::Backend::Cpu)?;
    /// assert_eq!(ctx.array(&[1.0, 2.0])?.sum()?, 3.0);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn sum(&self) -> Result<f32> {
        self.reduce(Reduce::Sum)
    }

    /// The smallest value (NaN if any value is NaN); an error when empty.
    ///
    /// ```
    /// let ctx = gpu::Context::new(gpu::Backend::Cpu)?;
    /// assert_eq!(ctx.array(&[1.0, -2.0])?.min()?, -2.0);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn min(&self) -> Result<f32> {
        self.reduce(Reduce::Min)
    }

    /// The largest value (NaN if any value is NaN); an error when empty.
    ///
    /// ```
    /// let ctx = gpu::Context::new(gpu::Backend::Cpu)?;
    /// assert_eq!(ctx.array(&[1.0, -2.0])?.max()?, 1.0);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn max(&self) -> Result<f32> {
        self.reduce(Reduce::Max)
    }

    /// The mean of the values; an error when empty.
    ///
    /// ```
    /// let ctx = gpu::Context::new(gpu::Backend::Cpu)?;
    /// assert_eq!(ctx.array(&[1.0, 2.0])?.mean()?, 1.5);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn mean(&self) -> Result<f32> {
        if self.is_empty() {
            return Err(Error::EmptyInput { op: "mean" });
        }
        Ok(self.sum()? / self.len() as f32)
    }
}

/// The distinct arrays of `a` and `b`, in order.
fn union(a: &[Array], b: &[Array]) -> Vec<Array> {
    let mut all: Vec<Array> = a.to_vec();
    for x in b {
        if !all.iter().any(|s| Arc::ptr_eq(&s.inner, &x.inner)) {
            all.push(x.clone());
        }
    }
    all
}

fn host_inputs(inputs: &[Array]) -> Vec<&[f32]> {
    inputs
        .iter()
        .map(|a| match a.stored() {
            Stored::Host(v) | Stored::Both { host: v, .. } => &**v,
            Stored::Device(_) => unreachable!("host backends store on the host"),
        })
        .collect()
}

fn device_inputs(inputs: &[Array]) -> Vec<&gpu::array::DeviceArray> {
    inputs
        .iter()
        .map(|a| a.device().expect("GPU arrays store on the device"))
        .collect()
}

/// Whether a CPU kernel over `n` values is worth rayon's pool (decided as
/// the context decides for host slices, so both run alike).
fn cpu_parallel(n: usize, kernel: &Kernel, inputs: usize, bytes_out: f64, extra: f64) -> bool {
    let workload = Workload {
        n,
        bytes_in: 4.0 * inputs as f64,
        bytes_out,
        work: kernel.work_per_element() + extra,
    };
    // The shared model, not a copy of it: this runs on every operation.
    crate::calibration::current_model().cpu_plan(&workload).0 > 1
}

/// The device of stored `inputs`: the first one's that is not `Auto` (kept
/// on both), else `Auto`.
fn backend_of(inputs: &[Array]) -> Backend {
    inputs
        .iter()
        .map(Array::backend)
        .find(|&b| b != Backend::Auto)
        .unwrap_or(Backend::Auto)
}

/// Whether two operands of `op`, each `(backend, length)`, can be combined:
/// the same length, and the same backend unless one is `Auto`.
fn check_pair(op: &'static str, left: (Backend, usize), right: (Backend, usize)) -> Result<()> {
    let ((a, la), (b, lb)) = (left, right);
    if a != b && a != Backend::Auto && b != Backend::Auto {
        return Err(Error::BackendMismatch {
            op,
            left: a,
            right: b,
        });
    }
    if la != lb {
        return Err(Error::LengthMismatch {
            op,
            left_name: "self",
            left: la,
            right_name: "other",
            right: lb,
        });
    }
    Ok(())
}

/// Where a reduction of `kernel(inputs…)` over `n` values runs.
fn reduce_device(kernel: &Kernel, inputs: &[Array], n: usize) -> Choice {
    resolve("reduce", backend_of(inputs), inputs, || {
        Workload::reduce(kernel, inputs.len(), n)
    })
}

/// Where an operation `op` on `inputs` runs: `backend`, unless it is `Auto`
/// (every input kept on both devices), when it is the device the inputs'
/// figures estimate faster for the operation's `workload` (only then
/// worked out), or at a near-tie the one timed faster (`dispatch::ties`).
/// That choice is a `tracing` debug event (target `gpu::dispatch`).
fn resolve(
    op: &'static str,
    backend: Backend,
    inputs: &[Array],
    workload: impl FnOnce() -> Workload,
) -> Choice {
    if backend != Backend::Auto {
        return Choice::fixed(backend);
    }
    let workload = &workload();
    let Some((cpu_s, gpu_s)) = both_estimates(inputs, workload) else {
        return Choice::fixed(Backend::Cpu);
    };
    let choice = ties().choose(op, workload.n, cpu_s, gpu_s);
    tracing::debug!(
        target: "gpu::dispatch",
        "{op} of {} values kept on both devices on {}: cost model: cpu {cpu_s:.2e} s vs gpu {gpu_s:.2e} s{}",
        workload.n,
        choice.backend,
        if choice.is_trial() { " (a near-tie, timed)" } else { "" }
    );
    choice
}

/// The estimates on the CPU and on the GPU of `workload` on `inputs`, from
/// the figures of the first input kept on both devices (`None` when none
/// is).
fn both_estimates(inputs: &[Array], workload: &Workload) -> Option<(f64, f64)> {
    let cost = inputs.iter().find_map(|a| match &a.inner.source {
        Source::Stored(Stored::Both { cost, .. }) => Some(cost),
        _ => None,
    })?;
    Some((
        cost.cpu_plan(workload).1,
        cost.gpu_resident_seconds(workload),
    ))
}

/// Computes `kernel(inputs…)` into a new stored array on `backend` (for
/// `Auto`, the device [`resolve`] picks).
fn run_map(backend: Backend, n: usize, kernel: &Kernel, inputs: &[Array]) -> Result<Array> {
    let choice = resolve("map", backend, inputs, || {
        Workload::map(kernel, inputs.len(), n)
    });
    let backend = choice.backend;
    choice.run(|| match backend {
        Backend::Gpu => {
            let devices = device_inputs(inputs);
            let out = gpu::array::DeviceArray::map(kernel, &devices)?;
            if choice.waits() {
                out.wait()?;
            }
            Ok(Array::stored_device(out))
        }
        Backend::Scalar => {
            let mut out = HOST_POOL.take(n);
            scalar::map(kernel, &host_inputs(inputs), &mut out);
            Ok(Array::stored_host(backend, out))
        }
        Backend::Cpu | Backend::Auto => {
            let mut out = HOST_POOL.take(n);
            let parallel = cpu_parallel(n, kernel, inputs.len(), 4.0, 0.0);
            cpu::map(
                &cpu::program(kernel),
                &host_inputs(inputs),
                &mut out,
                parallel,
            );
            Ok(Array::stored_host(backend, out))
        }
    })
}

impl Array {
    /// Blocks until the values of this array are computed. GPU maps run
    /// asynchronously after [`Array::eval`] returns (the device's queue keeps
    /// them in order, so later calls need not wait); on the host backends
    /// `eval` has already finished. For timing kernels.
    ///
    /// ```
    /// let ctx = gpu::Context::new(gpu::Backend::Cpu)?;
    /// let y = ctx.array(&[1.0])?.map(|v| v + 1.0)?.eval()?;
    /// y.wait()?;
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn wait(&self) -> Result<()> {
        match self.eval()?.device() {
            Some(d) => d.wait(),
            None => Ok(()),
        }
    }
}

/// Copies a stored GPU array on the device and waits: the benchmark's
/// yardstick for resident kernels (the card's copy bandwidth). Not API.
#[doc(hidden)]
pub fn device_copy(array: &Array) -> Result<()> {
    match array.device() {
        Some(d) => d.copy()?.wait(),
        None => Err(Error::Gpu {
            what: "device_copy".into(),
            reason: format!("the array lives on {}, not the GPU", array.backend()),
        }),
    }
}

/// Where a reduction of `array` runs (for the benchmark's `chose`
/// column: an array kept on both devices chooses per operation). Not API.
#[doc(hidden)]
pub fn reduce_backend(array: &Array) -> Backend {
    settled_backend(array, "reduce", Workload::reduce)
}

/// Where evaluating `array` (a map) runs, like [`reduce_backend`]. Not API.
#[doc(hidden)]
pub fn map_backend(array: &Array) -> Backend {
    settled_backend(array, "map", Workload::map)
}

/// Where the operation `op` over `array`'s expression runs once no more of
/// it is timed: for an array kept on both devices, the device the model or
/// the latest look at a near-tie settled on (`Ties::settled`), without
/// running or counting a call.
fn settled_backend(
    array: &Array,
    op: &'static str,
    workload: fn(&Kernel, usize, usize) -> Workload,
) -> Backend {
    let (kernel, inputs) = array.expression();
    let n = array.len();
    match backend_of(&inputs) {
        Backend::Auto => {
            let workload = workload(&kernel, inputs.len(), n);
            match both_estimates(&inputs, &workload) {
                Some((cpu_s, gpu_s)) => ties().settled(op, n, cpu_s, gpu_s),
                None => Backend::Cpu,
            }
        }
        b => b,
    }
}

/// Keeps the hardware GPU busy with resident maps for `duration`, so that
/// what is timed next runs at its working clocks: a GPU idle for a second
/// or two lowers its clock (an H200 drops its SM clock from 1980 to
/// 345 MHz), and its first few hundred milliseconds of work then run up to
/// three times slower (BENCHMARKS.md). Does nothing on a software adapter
/// or without one. For calibration and the benchmark. Not API.
#[doc(hidden)]
pub fn wake_gpu(duration: std::time::Duration) -> Result<()> {
    let hardware = gpu::device::shared().is_ok_and(|d| !d.summary.is_software());
    if !hardware {
        return Ok(());
    }
    let ctx = crate::Context::new(Backend::Gpu)?;
    let values = ctx.array(&vec![0.0f32; 1 << 24])?;
    let start = std::time::Instant::now();
    while start.elapsed() < duration {
        // Several maps queued before each wait: the GPU never waits on us.
        let mut last = values.clone();
        for _ in 0..8 {
            last = values.map(|v| v * 0.5 + 1.0)?.eval()?;
        }
        last.wait()?;
    }
    Ok(())
}

/// Fills a new stored array piece by piece: how the loaders stream a file
/// into device buffers while reading it (GPU), or into host memory.
pub(crate) struct ArrayBuilder {
    len: usize,
    filled: usize,
    backend: Backend,
    store: Building,
    /// Values queued for the device since the last flush.
    queued: usize,
}

/// Values queued through wgpu's staging memory before they are submitted:
/// bounds the staging memory one load holds.
const FLUSH_VALUES: usize = 4 << 20;

/// Where an [`ArrayBuilder`] puts the values (one device: loaded arrays
/// are never kept on both).
enum Building {
    Host(HostValues),
    Device(gpu::array::DeviceArray),
}

impl ArrayBuilder {
    /// A builder for `len` values of the file `name` on `backend` (`Gpu`,
    /// `Cpu` or `Scalar`). Host memory the machine cannot give is an
    /// [`Error::File`] naming the file, not an abort.
    pub fn new(backend: Backend, len: usize, name: &str) -> Result<ArrayBuilder> {
        debug_assert_ne!(backend, Backend::Auto, "loaded arrays live on one device");
        let store = match backend {
            Backend::Gpu => Building::Device(gpu::array::DeviceArray::with_len(
                gpu::device::shared()?,
                len,
            )?),
            _ => Building::Host(HOST_POOL.try_take_empty(len).map_err(|why| Error::File {
                path: name.to_string(),
                reason: format!("cannot hold its {len} values on the host: {why}"),
            })?),
        };
        Ok(ArrayBuilder {
            len,
            filled: 0,
            backend,
            store,
            queued: 0,
        })
    }

    /// Values still expected.
    pub fn remaining(&self) -> usize {
        self.len - self.filled
    }

    /// Appends `values`; the caller never passes more than
    /// [`ArrayBuilder::remaining`]. An error where the device refuses the
    /// copy (its staging memory ran out).
    pub fn push(&mut self, values: &[f32]) -> Result<()> {
        assert!(
            values.len() <= self.remaining(),
            "more values than the array holds"
        );
        match &mut self.store {
            Building::Host(v) => v.extend_from_slice(values),
            Building::Device(d) => {
                d.write(self.filled, values)?;
                self.queued += values.len();
                if self.queued >= FLUSH_VALUES {
                    d.flush()?;
                    self.queued = 0;
                }
            }
        }
        self.filled += values.len();
        Ok(())
    }

    /// Appends whole `dtype` elements from `bytes`, converted to `f32`
    /// (`scratch` is reused between calls). Little-endian `f32` on the host
    /// is copied straight into the array.
    pub fn push_elements(
        &mut self,
        dtype: crate::io::NpyDtype,
        big_endian: bool,
        bytes: &[u8],
        scratch: &mut Vec<f32>,
    ) -> Result<()> {
        if let (crate::io::NpyDtype::F32, false, Building::Host(v)) =
            (dtype, big_endian, &mut self.store)
        {
            let n = bytes.len() / 4;
            assert!(
                n <= self.len - self.filled,
                "more values than the array holds"
            );
            v.extend(
                bytes
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            );
            self.filled += n;
            return Ok(());
        }
        scratch.clear();
        crate::io::convert_npy(dtype, big_endian, bytes, scratch);
        self.push(scratch)
    }

    /// The array, once every value has been pushed (an error where the
    /// device refuses the last copies).
    pub fn finish(self) -> Result<Array> {
        assert_eq!(self.filled, self.len, "every value is pushed before finish");
        Ok(match self.store {
            Building::Host(v) => Array::stored_host(self.backend, v),
            Building::Device(d) => {
                d.flush()?;
                Array::stored_device(d)
            }
        })
    }
}
