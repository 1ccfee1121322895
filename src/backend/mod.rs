//! The three backends and the [`Backend`] choice users make.
//!
//! * [`scalar`]: the reference, one element at a time; always available.
//! * [`cpu`]: rayon across cores, runtime-selected SIMD within each.
//! * [`gpu`]: WGSL through wgpu, on whatever adapter the machine has.

pub(crate) mod cpu;
pub(crate) mod gpu;
pub(crate) mod scalar;

use crate::error::{Error, Result};
use std::fmt;
use std::str::FromStr;

/// Which backend a [`Context`](crate::Context) runs kernels on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Backend {
    /// Choose per call, by availability and a cost model (the default).
    #[default]
    Auto,
    /// WGSL compute shaders through wgpu. Fails if no adapter can be opened.
    Gpu,
    /// rayon across all cores, SIMD in each core.
    Cpu,
    /// One thread, one element at a time: the reference.
    Scalar,
}

impl Backend {
    /// The lower-case name used by `GPU_BACKEND` and in reports; it parses
    /// back to the same backend.
    ///
    /// ```
    /// use gpu::Backend;
    /// assert_eq!(Backend::Scalar.name(), "scalar");
    /// for b in [Backend::Auto, Backend::Gpu, Backend::Cpu, Backend::Scalar] {
    ///     assert_eq!(b.name().parse::<Backend>()?, b);
    /// }
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Backend::Auto => "auto",
            Backend::Gpu => "gpu",
            Backend::Cpu => "cpu",
            Backend::Scalar => "scalar",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = Error;

    /// Parses `auto`, `gpu`, `cpu` or `scalar` (any case, surrounding spaces ignored).
    ///
    /// ```
    /// use gpu::Backend;
    /// assert_eq!("CPU".parse::<Backend>()?, Backend::Cpu);
    /// assert!("cuda".parse::<Backend>().is_err());
    /// # Ok::<(), gpu::Error>(())
    /// ```
    fn from_str(s: &str) -> Result<Backend> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Backend::Auto),
            "gpu" => Ok(Backend::Gpu),
            "cpu" => Ok(Backend::Cpu),
            "scalar" => Ok(Backend::Scalar),
            _ => Err(Error::UnknownBackend {
                value: s.to_string(),
                source_note: "",
            }),
        }
    }
}
