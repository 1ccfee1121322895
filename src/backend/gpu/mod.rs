//! The GPU backend: WGSL compute shaders through wgpu.
//!
//! * [`device`]: adapter choice and the process-wide device, opened lazily.
//! * [`codegen`]: a kernel becomes WGSL, from the template in `shaders/`.
//! * [`pipelines`]: compiled pipelines, cached per kernel.
//! * [`buffers`]: device buffers reused between calls.
//! * [`map`]: running a map over host slices, chunked to any length.
//! * [`reduce`]: grid-stride reductions, fused with a map kernel.
//! * [`array`]: arrays that live on the device, and kernels run on them.
//! * [`profile`]: a map call's time split into its steps (for the bench).

pub(crate) mod array;
pub(crate) mod buffers;
pub(crate) mod codegen;
pub(crate) mod device;
mod dispatch;
pub(crate) mod map;
mod params;
pub(crate) mod pipelines;
pub(crate) mod profile;
pub(crate) mod reduce;
pub(crate) mod transfer;

pub use device::AdapterSummary;
