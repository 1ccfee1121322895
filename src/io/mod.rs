//! Reading and writing files: images now; the asynchronous loaders and the
//! batch pipeline will live here too.
//!
//! Every error names the path at fault. Writes are atomic: the data goes to
//! a temporary file in the destination's folder, which is renamed over the
//! destination only once complete, so a failed or interrupted write never
//! leaves a partial file behind.

mod image_file;

pub use image_file::{load_image, save_image};
