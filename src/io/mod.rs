//! Files and streams: images, the asynchronous loaders, and the batch
//! pipeline.
//!
//! * [`load_image`] and [`save_image`]: one image file.
//! * [`Loader`]: many files (or any tokio `AsyncRead` sources) loaded
//!   concurrently, as a `Stream` in completion order, into [`Array`]s on a
//!   backend's device or into images.
//! * [`Batch`]: read, compute (a filter chain or a map) and write many
//!   files, the three stages overlapped.
//!
//! Formats read: PNG and JPEG images (decoded to RGBA8); raw little-endian
//! `f32`; NumPy `.npy`, whose element types convert to `f32` as follows:
//!
//! | `.npy` type | conversion |
//! |---|---|
//! | `f4` (either byte order) | none |
//! | `f8` | rounded to the nearest `f32`; beyond its range, ±infinity |
//! | `f2`, `i1`, `i2`, `u1`, `u2` | exact |
//! | `i4`, `i8`, `u4`, `u8` | rounded to the nearest `f32` (exact up to 2²⁴ in magnitude) |
//! | `b1` (bool) | 0 or 1 |
//!
//! Other types (complex, strings, objects, dates) and Fortran-order arrays
//! are errors that name the file and the type.
//!
//! Every error names the path at fault. Writes are atomic: the data goes to
//! a temporary file in the destination's folder, which is renamed over the
//! destination only once complete, so a failed or interrupted write never
//! leaves a partial file behind.
//!
//! [`Array`]: crate::Array

mod batch;
mod cpu_task;
mod image_file;
mod loader;
mod npy;

pub use batch::{Batch, BatchSummary, FileReport, Job, StageTimes};
pub(crate) use image_file::write_atomic;
pub use image_file::{load_image, save_image};
pub use loader::{Format, Item, Loaded, Loader};
#[doc(hidden)]
pub use npy::encode_f32 as encode_npy_f32;
pub(crate) use npy::{convert as convert_npy, Dtype as NpyDtype};
