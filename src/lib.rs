//! # gpu-compute
//!
//! Data-parallel compute on whatever hardware you have. Write an elementwise
//! kernel once, as an ordinary Rust closure; it runs as a WGSL compute shader
//! through wgpu, as SIMD code on every CPU core through rayon, or as a plain
//! scalar loop, and a dispatcher picks the fastest for each call.
//!
//! ```
//! let x: Vec<f32> = (0..1000).map(|i| i as f32).collect();
//! let y = gpu::map(&x, |v| v * 2.0 + 1.0)?;
//! assert_eq!(y[10], 21.0);
//!
//! let z = gpu::map2(&x, &y, |a, b| (a * b).max(0.0))?;
//! let mut out = vec![0.0; x.len()];
//! gpu::map_into(&x, &mut out, |v| v.sin() * (-v).exp())?;
//!
//! // Reductions, fused with a map in one pass.
//! let total = gpu::sum(&x)?;
//! let sum_of_squares = gpu::map_reduce(&x, |v| v * v, gpu::Reduce::Sum)?;
//! let dot = gpu::map2_reduce(&x, &y, |a, b| a * b, gpu::Reduce::Sum)?;
//! assert_eq!(total, 499_500.0);
//!
//! // Choose a backend explicitly, and see what ran and why.
//! let ctx = gpu::Context::new(gpu::Backend::Cpu)?;
//! let y = ctx.map(&x, |v| v * v + v.sin())?;
//! println!("{}", ctx.last_dispatch().unwrap());
//! # Ok::<(), gpu::Error>(())
//! ```
//!
//! ## How it works
//!
//! The closure receives [`Expr`] handles and is called once: every operation
//! on them records a node, so the closure becomes a [`Kernel`], a small
//! expression tree that is data (printable, hashable, comparable). From that
//! one tree the GPU backend generates WGSL (from the templates in
//! `shaders/`), the CPU backend compiles a register program of *chains* (runs
//! of steps on one running value, executed as vectorised loops over blocks of
//! 8192 elements, with neighbouring constant steps such as `* 2` and `+ 1`
//! fused into one pass), and the
//! scalar backend interprets it element by element as the reference. Compiled
//! forms are cached per kernel, so calling the same map in a loop compiles
//! once.
//!
//! ## Backends
//!
//! | [`Backend`] | runs | chosen by `Auto` when |
//! |---|---|---|
//! | `Gpu` | WGSL through wgpu (Vulkan, Metal, DX12) | the cost model, transfers included, says it wins, on a hardware adapter |
//! | `Cpu` | rayon across cores + SIMD (AVX-512, AVX2, SSE4.2 or NEON, picked at run time) | otherwise; on one thread for small inputs |
//! | `Scalar` | one element at a time | never: it is the reference, and for tests |
//!
//! `Auto` never fails for lack of a GPU, and never picks a software adapter
//! (lavapipe, llvmpipe) over the CPU backend. An explicit `Backend::Gpu`
//! without a usable adapter is an error. See [`Dispatch`] for the record of
//! each decision.
//!
//! ## Data that stays on the device, files, and calibration
//!
//! * [`Array`] and [`Image`] hold values and RGBA8 images where a context
//!   runs kernels (GPU buffers for `Gpu`); maps on arrays are lazy and fuse
//!   into one kernel, reductions fuse with them, and filters keep images on
//!   the device until they are read back. `Auto` keeps mid-size arrays and
//!   images on both the host and a hardware GPU, and runs each operation
//!   or filter chain on them where it is estimated faster.
//! * [`io::Loader`] loads many files or async streams concurrently (raw
//!   `f32`, `.npy`, PNG, JPEG) into arrays and images; [`io::Batch`] reads,
//!   computes and writes many files with the stages overlapped.
//! * [`calibrate`] measures this machine for the dispatcher and saves the
//!   figures for later processes.
//!
//! ```
//! let ctx = gpu::Context::new(gpu::Backend::Cpu)?;
//! let x = ctx.array(&[1.0, 2.0, 3.0])?;
//! let y = x.map(|v| v * 2.0)?.map(|v| v + 1.0)?;   // one fused kernel, not run yet
//! assert_eq!(y.map(|v| v * v)?.sum()?, 83.0);       // fused with the reduction
//! assert_eq!(y.to_vec()?, vec![3.0, 5.0, 7.0]);
//! # Ok::<(), gpu::Error>(())
//! ```
//!
//! ## Environment
//!
//! * `GPU_BACKEND` = `auto` | `gpu` | `cpu` | `scalar`: the backend of the
//!   default context used by the free functions (default `auto`).
//! * `WGPU_BACKEND` (e.g. `vulkan`, `gl`): which graphics APIs wgpu may use.
//! * `GPU_REQUIRE_ADAPTER=1` (tests only): a missing adapter fails the GPU
//!   tests instead of skipping them.
//! * `GPU_COMPUTE_CACHE_DIR`: where calibrations and the GPU pipeline cache
//!   are saved (default: the user's cache folder, `gpu-compute/`).
//! * `GPU_COMPUTE_AUTO_USES_SOFTWARE_GPU=1` (testing aid): `Auto` treats a
//!   software adapter like a hardware GPU, so its GPU paths run without one.
//! * `GPU_COMPUTE_HUGE_PAGES=0` (Linux): large host buffers are not advised
//!   onto transparent huge pages. They are by default, which made large
//!   arrays 7–24 % faster on the development machine, but where the
//!   kernel's `transparent_hugepage/defrag` is `madvise` or `always` a fault
//!   on a fragmented machine may wait for memory to be compacted.
//!
//! ## Semantics and accuracy
//!
//! Every operation means what the same `f32` method means in Rust (see
//! [`expr::ops`] for the conventions on comparisons, `select`, `clamp` and
//! NaN), on every backend, including for NaN, infinities and signed zeros,
//! with these differences in rounding, all tested:
//!
//! | operation | Scalar (libm) | Cpu | Gpu |
//! |---|---|---|---|
//! | `+ - *`, `neg abs floor ceil min max clamp select`, comparisons | exact | bit-exact with Scalar | within 1 ulp of Scalar\* |
//! | `/`, `sqrt` | correctly rounded | bit-exact with Scalar | within 1 ulp of Scalar\* (a Newton step refines WGSL's 2.5 ulp; divisors above 2¹²⁶ are pre-scaled) |
//! | `sin cos` (\|x\| ≤ 8192) | 1 ulp | 2 ulp; near zeros 2.4·10⁻¹⁰·(1+\|x\|) absolute | 2⁻¹¹ absolute (Vulkan's bound, after reduction to [-π, π]) |
//! | `tan` | 1 ulp | 4 ulp; near zeros as `sin` | from `sin`/`cos`: 2⁻¹⁰·(1+tan²x) absolute |
//! | `exp` | 1 ulp | 1 ulp | 3 + 2·\|x\| ulp (Vulkan's bound) |
//! | `ln` | 1 ulp | 1 ulp | 3 ulp; 2⁻²¹ absolute on [0.5, 2] (Vulkan's bound) |
//! | `tanh` | 3 ulp | 2 ulp | 8 ulp + 2⁻²⁰ absolute |
//! | `powf` | libm | bit-exact with Scalar | `exp2(y·log2 x)`: 4 ulp + relative 2⁻²¹·(1 + \|y\| + 2\|y·log2 x\|) |
//!
//! The first two columns are measured against an `f64` reference by the
//! accuracy tests (`tests/accuracy.rs`), which assert these bounds; the GPU
//! column is what the Vulkan precision table (which WGSL defers to)
//! guarantees, and what the tests hold every adapter to. On lavapipe the
//! measured GPU errors are far smaller.
//!
//! \* GPUs may flush subnormal inputs and results to zero (WGSL allows it;
//! lavapipe does): on the GPU backend a subnormal may read or come back as a
//! zero of either sign. WGSL also lets shader compilers simplify as if NaN
//! and infinities did not exist (lavapipe folds `x - x` to 0); the generated
//! shaders hide every operand behind an opaque integer OR, so no such
//! identity (and no multiply-add contraction) can apply and the library's
//! semantics hold. Compound expressions are compared against the oracle with
//! error bounds that follow each operation's rounding.
//!
//! CPU `sin`, `cos`, `tan` fall back to libm for |x| > 8192, `exp` outside
//! [-87, 88] and `ln` off the positive normal range, so edge inputs are
//! exactly libm's.

#![deny(missing_docs)]

mod array;
mod backend;
pub mod calibration;
mod context;
pub mod dispatch;
mod error;
pub mod expr;
pub mod filter;
mod host_pool;
pub mod io;
mod reduce;
mod resident_image;

pub use array::{Array, Element};
pub use backend::gpu::AdapterSummary;
pub use backend::Backend;
pub use calibration::{calibrate, Calibration};
pub use context::{adapter, default_context, Context, BACKEND_ENV};
pub use dispatch::{Dispatch, Reason};
pub use error::{Error, Result};
pub use expr::{Expr, Kernel};
pub use reduce::Reduce;
pub use resident_image::Image;

#[doc(hidden)]
pub mod __private {
    //! Internals exposed for the crate's own tests and benches; not part of
    //! the API and free to change.
    pub use crate::array::{device_copy, map_backend, reduce_backend, wake_gpu};
    pub use crate::backend::gpu::profile::{MapProfile, ResidentProfile};
    pub use crate::io::encode_npy_f32;
    pub use crate::resident_image::filters_backend;

    /// Times a host-mode GPU map step by step (see `MapProfile`).
    pub fn profile_map(kernel: &crate::Kernel, x: &[f32]) -> crate::Result<MapProfile> {
        crate::backend::gpu::profile::profile_map(crate::backend::gpu::device::shared()?, kernel, x)
    }
    /// Times resident kernels on the GPU's clock (see `ResidentProfile`).
    pub fn profile_resident(n: usize) -> crate::Result<ResidentProfile> {
        crate::backend::gpu::profile::profile_resident(crate::backend::gpu::device::shared()?, n)
    }
    pub use crate::backend::cpu::math;
    pub use crate::backend::gpu::codegen::{
        kernel_function, map_shader, reduce_shader, strip_region, MAP_ENTRY, OPS, REDUCE_ENTRY,
    };
    pub use crate::backend::gpu::device::pipeline_cache_loaded_bytes;
    pub use crate::backend::gpu::device::touched as gpu_touched;
    pub use crate::filter::gpu::FILTER_SHADER;
    pub use crate::host_pool::advised_onto_huge_pages;
}

/// `f` applied to every element of `x`, on the default context's backend.
///
/// ```
/// let y = gpu::map(&[1.0, 2.0], |v| v * 2.0 + 1.0)?;
/// assert_eq!(y, vec![3.0, 5.0]);
/// # Ok::<(), gpu::Error>(())
/// ```
pub fn map(x: &[f32], f: impl FnOnce(Expr) -> Expr) -> Result<Vec<f32>> {
    default_context()?.map(x, f)
}

/// `f` applied to pairs of elements of `a` and `b` (same length).
///
/// ```
/// let z = gpu::map2(&[1.0, 2.0], &[3.0, 4.0], |a, b| a * b)?;
/// assert_eq!(z, vec![3.0, 8.0]);
/// # Ok::<(), gpu::Error>(())
/// ```
pub fn map2(a: &[f32], b: &[f32], f: impl FnOnce(Expr, Expr) -> Expr) -> Result<Vec<f32>> {
    default_context()?.map2(a, b, f)
}

/// `f` applied to every element of `x`, written into `out` (same length).
///
/// ```
/// let mut out = vec![0.0; 3];
/// gpu::map_into(&[1.0, 4.0, 9.0], &mut out, |v| v.sqrt())?;
/// assert_eq!(out, vec![1.0, 2.0, 3.0]);
/// # Ok::<(), gpu::Error>(())
/// ```
pub fn map_into(x: &[f32], out: &mut [f32], f: impl FnOnce(Expr) -> Expr) -> Result<()> {
    default_context()?.map_into(x, out, f)
}

/// Reduces `x` with `op` on the default context. See [`Reduce`] for the
/// semantics.
///
/// ```
/// assert_eq!(gpu::reduce(&[1.0, 5.0, 2.0], gpu::Reduce::Max)?, 5.0);
/// # Ok::<(), gpu::Error>(())
/// ```
pub fn reduce(x: &[f32], op: Reduce) -> Result<f32> {
    default_context()?.reduce(x, op)
}

/// The sum of `x` (`0.0` when empty), accumulated blockwise and pairwise.
///
/// ```
/// assert_eq!(gpu::sum(&[1.0, 2.0, 3.0])?, 6.0);
/// # Ok::<(), gpu::Error>(())
/// ```
pub fn sum(x: &[f32]) -> Result<f32> {
    default_context()?.sum(x)
}

/// The smallest element; NaN if any is NaN; an error when empty.
///
/// ```
/// assert_eq!(gpu::min(&[4.0, -2.0])?, -2.0);
/// assert!(gpu::min(&[]).is_err());
/// # Ok::<(), gpu::Error>(())
/// ```
pub fn min(x: &[f32]) -> Result<f32> {
    default_context()?.min(x)
}

/// The largest element; NaN if any is NaN; an error when empty.
///
/// ```
/// assert_eq!(gpu::max(&[4.0, -2.0])?, 4.0);
/// # Ok::<(), gpu::Error>(())
/// ```
pub fn max(x: &[f32]) -> Result<f32> {
    default_context()?.max(x)
}

/// The product of `x` (`1.0` when empty).
///
/// ```
/// assert_eq!(gpu::product(&[4.0, -2.0])?, -8.0);
/// # Ok::<(), gpu::Error>(())
/// ```
pub fn product(x: &[f32]) -> Result<f32> {
    default_context()?.product(x)
}

/// The arithmetic mean; an error when empty.
///
/// ```
/// assert_eq!(gpu::mean(&[1.0, 2.0])?, 1.5);
/// # Ok::<(), gpu::Error>(())
/// ```
pub fn mean(x: &[f32]) -> Result<f32> {
    default_context()?.mean(x)
}

/// `f` applied to every element, then reduced with `op`, in one pass.
///
/// ```
/// let ss = gpu::map_reduce(&[3.0, 4.0], |v| v * v, gpu::Reduce::Sum)?;
/// assert_eq!(ss.sqrt(), 5.0);
/// # Ok::<(), gpu::Error>(())
/// ```
pub fn map_reduce(x: &[f32], f: impl FnOnce(Expr) -> Expr, op: Reduce) -> Result<f32> {
    default_context()?.map_reduce(x, f, op)
}

/// `f` applied to pairs of elements of `a` and `b`, then reduced with `op`,
/// in one pass; a dot product is one call.
///
/// ```
/// let dot = gpu::map2_reduce(&[1.0, 2.0], &[3.0, 4.0], |a, b| a * b, gpu::Reduce::Sum)?;
/// assert_eq!(dot, 11.0);
/// # Ok::<(), gpu::Error>(())
/// ```
pub fn map2_reduce(
    a: &[f32],
    b: &[f32],
    f: impl FnOnce(Expr, Expr) -> Expr,
    op: Reduce,
) -> Result<f32> {
    default_context()?.map2_reduce(a, b, f, op)
}

/// `f` applied to pairs of elements of `a` and `b`, written into `out`.
///
/// ```
/// let mut out = vec![0.0; 2];
/// gpu::map2_into(&[1.0, 2.0], &[1.0, 1.0], &mut out, |a, b| a - b)?;
/// assert_eq!(out, vec![0.0, 1.0]);
/// # Ok::<(), gpu::Error>(())
/// ```
pub fn map2_into(
    a: &[f32],
    b: &[f32],
    out: &mut [f32],
    f: impl FnOnce(Expr, Expr) -> Expr,
) -> Result<()> {
    default_context()?.map2_into(a, b, out, f)
}
