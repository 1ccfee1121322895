//! Finding an adapter and opening the process-wide GPU device.
//!
//! The device is opened on first use only ([`shared`]), so a program whose
//! calls all run on the CPU never loads a GPU driver. Adapters are ranked
//! discrete > integrated > virtual > other > software (lavapipe, llvmpipe);
//! the first one that yields a device is used, with the adapter's own limits
//! (larger buffers and bindings than wgpu's defaults) and the optional
//! features the library can use (`SUBGROUP`, `TIMESTAMP_QUERY`).

use crate::error::{Error, Result};
use std::sync::OnceLock;

/// What the library knows about the adapter it runs GPU kernels on.
#[derive(Clone, Debug)]
pub struct AdapterSummary {
    /// The adapter's name, for example `"NVIDIA H100 80GB HBM3"` or `"llvmpipe (LLVM 15.0.6, 256 bits)"`.
    pub name: String,
    /// The graphics API wgpu uses for it, for example `"vulkan"`.
    pub api: String,
    /// Discrete, integrated, virtual, other, or `Cpu` for software rasterisers.
    pub device_type: wgpu::DeviceType,
    /// The driver's name and version, as reported.
    pub driver: String,
    /// Whether subgroup operations are enabled on the device.
    pub subgroups: bool,
    /// Whether timestamp queries are enabled on the device.
    pub timestamps: bool,
    /// The largest storage binding the device accepts, in bytes.
    pub max_storage_binding: u64,
}

/// Set to `1`, lets `Auto` use a software adapter (lavapipe) as if it were
/// a hardware GPU: a testing aid, so that `Auto`'s GPU paths run in CI on
/// machines without a GPU. Never faster.
pub const AUTO_USES_SOFTWARE_GPU_ENV: &str = "GPU_COMPUTE_AUTO_USES_SOFTWARE_GPU";

impl AdapterSummary {
    /// Whether this is a software implementation running on the CPU
    /// (`device_type` is `Cpu`, as for lavapipe and llvmpipe).
    ///
    /// ```
    /// let mut a = gpu::AdapterSummary {
    ///     name: "llvmpipe (LLVM 15.0.6, 256 bits)".into(),
    ///     api: "vulkan".into(),
    ///     device_type: wgpu::DeviceType::Cpu,
    ///     driver: "Mesa 23.2.1".into(),
    ///     subgroups: true,
    ///     timestamps: true,
    ///     max_storage_binding: 1 << 27,
    /// };
    /// assert!(a.is_software());
    /// a.device_type = wgpu::DeviceType::DiscreteGpu;
    /// assert!(!a.is_software());
    /// ```
    pub fn is_software(&self) -> bool {
        self.device_type == wgpu::DeviceType::Cpu
    }

    /// Whether `Auto` may run calls on this adapter: any hardware adapter,
    /// and a software one only when [`AUTO_USES_SOFTWARE_GPU_ENV`] is `1`
    /// (for testing `Auto`'s GPU paths on machines without a GPU).
    pub(crate) fn auto_may_use(&self) -> bool {
        static OVERRIDE: OnceLock<bool> = OnceLock::new();
        !self.is_software()
            || *OVERRIDE
                .get_or_init(|| std::env::var(AUTO_USES_SOFTWARE_GPU_ENV).is_ok_and(|v| v == "1"))
    }

    /// The adapter and driver, as a calibration records them.
    ///
    /// ```
    /// if let Ok(a) = gpu::adapter() {
    ///     println!("{}", a.calibration_name());
    /// }
    /// ```
    pub fn calibration_name(&self) -> String {
        format!("{} ({})", self.name, self.driver)
    }
}

impl std::fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({:?}, {}", self.name, self.device_type, self.api)?;
        if !self.driver.is_empty() {
            write!(f, ", {}", self.driver)?;
        }
        f.write_str(")")
    }
}

/// An open device and its queue.
pub(crate) struct Device {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub summary: AdapterSummary,
    pub limits: wgpu::Limits,
    /// The driver's compiled pipelines, kept between processes where the
    /// adapter has `PIPELINE_CACHE` (Vulkan).
    pub pipeline_cache: Option<PipelineCacheFile>,
}

impl Device {
    /// Waits until everything submitted so far has finished; `what` names
    /// the work in the error.
    pub fn wait_idle(&self, what: &str) -> Result<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| Error::Gpu {
                what: what.to_string(),
                reason: e.to_string(),
            })
    }

    /// Runs `f`, and turns any validation or out-of-memory error the device
    /// reports meanwhile on this thread (a buffer it could not allocate, a
    /// dispatch it refused) into [`Error::Gpu`] naming `what`. Outside such
    /// a scope wgpu only reports them to the uncaptured-error handler, and
    /// the work would go on with invalid buffers and return stale data.
    pub(crate) fn checked<T>(
        &self,
        what: impl FnOnce() -> String,
        f: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        match scoped(&self.device, f) {
            (result, None) => result,
            (result, Some(e)) => {
                // The failed work's buffers go back to the pool, then the
                // idle ones are freed: device memory may be what it lacked.
                drop(result);
                super::buffers::POOL.release_idle();
                Err(Error::Gpu {
                    what: what(),
                    reason: e.to_string(),
                })
            }
        }
    }
}

impl Device {
    /// Pipelines `make` builds, or the error the device reported building
    /// them (out of memory included: a pipeline made without memory would
    /// be kept, failing every later call), named `what`; saves the pipeline
    /// cache after a success.
    pub(crate) fn compile<T>(
        &self,
        what: impl FnOnce() -> String,
        make: impl FnOnce() -> T,
    ) -> Result<T> {
        match scoped(&self.device, make) {
            (_, Some(e)) => Err(Error::Gpu {
                what: what(),
                reason: e.to_string(),
            }),
            (made, None) => {
                if let Some(cache) = &self.pipeline_cache {
                    cache.save();
                }
                Ok(made)
            }
        }
    }
}

/// `f`'s result, and the first out-of-memory or validation error the device
/// reported on this thread while it ran (wgpu's error scopes are per thread).
pub(crate) fn scoped<T>(device: &wgpu::Device, f: impl FnOnce() -> T) -> (T, Option<wgpu::Error>) {
    let memory = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
    let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let result = f();
    // Popped in the reverse order of pushing.
    let invalid = pollster::block_on(validation.pop());
    let out_of_memory = pollster::block_on(memory.pop());
    (result, out_of_memory.or(invalid))
}

/// A wgpu pipeline cache and the file it is saved in
/// (`<cache dir>/gpu-compute/wgpu_pipeline_cache_<backend>_<vendor>_<device>`).
pub(crate) struct PipelineCacheFile {
    pub cache: wgpu::PipelineCache,
    path: std::path::PathBuf,
    /// Bytes read from the file when the device opened (0: a cold start).
    pub loaded_bytes: usize,
    /// A digest of what the file holds, as this process last read or saved
    /// it (`None`: no file); held while saving, so that saves from several
    /// threads take turns.
    saved: std::sync::Mutex<Option<u64>>,
}

/// A digest of pipeline cache contents, to tell whether they changed.
fn digest(data: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    data.hash(&mut h);
    h.finish()
}

impl PipelineCacheFile {
    /// Opens the saved cache for `info`, or an empty one.
    fn open(device: &wgpu::Device, info: &wgpu::AdapterInfo) -> Option<PipelineCacheFile> {
        let key = wgpu::util::pipeline_cache_key(info)?;
        let path = crate::calibration::cache_dir()?.join(key);
        let data = std::fs::read(&path).ok();
        // SAFETY: the data is what `get_data` returned in an earlier process
        // (written atomically, so never partial); wgpu checks its header
        // against this adapter and driver, and `fallback` starts an empty
        // cache when it does not match.
        let cache = unsafe {
            device.create_pipeline_cache(&wgpu::PipelineCacheDescriptor {
                label: Some("gpu-compute pipelines"),
                data: data.as_deref(),
                fallback: true,
            })
        };
        // What the file holds: a save writes only cache contents that
        // differ from it. A file wgpu refused (another driver's, or damaged)
        // never matches what the cache holds, so the next save replaces it;
        // a driver that serialises an imported cache in another order
        // writes once, then matches.
        let on_disk = data.as_deref().map(digest);
        Some(PipelineCacheFile {
            cache,
            path,
            loaded_bytes: data.map_or(0, |d| d.len()),
            saved: std::sync::Mutex::new(on_disk),
        })
    }

    /// Saves the cache for later processes (after new pipelines were
    /// compiled) when its contents changed since the file was last read or
    /// written (a driver whose cache holds no pipelines never writes).
    /// Threads take turns, each taking the cache's contents once it has the
    /// turn, so that a snapshot taken before another thread's pipeline is
    /// never the last one written. Failing to save costs only speed, so it
    /// is logged.
    pub fn save(&self) {
        let mut saved = self.saved.lock().unwrap_or_else(|e| e.into_inner());
        let Some(data) = self.cache.get_data() else {
            return;
        };
        let now = digest(&data);
        if *saved == Some(now) {
            return;
        }
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        match crate::io::write_atomic(&self.path, &data) {
            Ok(()) => *saved = Some(now),
            Err(e) => tracing::warn!("could not save the GPU pipeline cache: {e}"),
        }
    }
}

/// The process-wide device, opened on first call. A failure is remembered, so
/// later calls fail fast with the same error.
pub(crate) fn shared() -> Result<&'static Device> {
    DEVICE.get_or_init(open).as_ref().map_err(Clone::clone)
}

static DEVICE: OnceLock<Result<Device>> = OnceLock::new();

/// Bytes of saved pipeline cache the open device started from: `None`
/// where the device has no pipeline cache (or is not open), `Some(0)` on a
/// cold start.
pub fn pipeline_cache_loaded_bytes() -> Option<usize> {
    DEVICE
        .get()?
        .as_ref()
        .ok()?
        .pipeline_cache
        .as_ref()
        .map(|c| c.loaded_bytes)
}

/// The process-wide device if it has been opened, without opening it.
pub(crate) fn opened() -> Option<&'static Device> {
    DEVICE.get()?.as_ref().ok()
}

/// Whether anything has tried to open the GPU device yet in this process.
pub fn touched() -> bool {
    DEVICE.get().is_some()
}

fn rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

fn open() -> Result<Device> {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    // OpenGL lacks what compute needs on many drivers; use it only if asked for.
    if wgpu::Backends::from_env().is_none() {
        desc.backends = wgpu::Backends::PRIMARY;
    }
    let backends = desc.backends;
    let instance = wgpu::Instance::new(desc);
    let mut adapters = pollster::block_on(instance.enumerate_adapters(backends));
    if adapters.is_empty() {
        return Err(Error::NoAdapter {
            tried: format!(
                "no adapter found on backends {backends:?} (set WGPU_BACKEND to try others; \
                 on Linux without a GPU, install mesa-vulkan-drivers for lavapipe)"
            ),
        });
    }
    adapters.sort_by_key(|a| rank(a.get_info().device_type));
    let mut failures = Vec::new();
    for adapter in adapters {
        let info = adapter.get_info();
        match open_adapter(&adapter, &info) {
            Ok(device) => {
                tracing::debug!(adapter = %device.summary, "GPU device opened");
                return Ok(device);
            }
            Err(e) => failures.push(format!("{} ({:?}): {e}", info.name, info.backend)),
        }
    }
    Err(Error::NoAdapter {
        tried: format!("every adapter failed: {}", failures.join("; ")),
    })
}

fn open_adapter(adapter: &wgpu::Adapter, info: &wgpu::AdapterInfo) -> Result<Device> {
    let wanted = wgpu::Features::SUBGROUP
        | wgpu::Features::TIMESTAMP_QUERY
        | wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS
        | wgpu::Features::PIPELINE_CACHE;
    let features = adapter.features() & wanted;
    let limits = adapter.limits();
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("gpu-compute"),
        required_features: features,
        required_limits: limits.clone(),
        ..Default::default()
    }))
    .map_err(|e| Error::DeviceCreation {
        adapter: info.name.clone(),
        reason: e.to_string(),
    })?;
    // The default handler panics; errors are caught with error scopes where
    // they can happen, so anything left over is only logged.
    device.on_uncaptured_error(std::sync::Arc::new(|e: wgpu::Error| {
        tracing::error!("uncaptured wgpu error: {e}");
    }));
    let summary = AdapterSummary {
        name: info.name.clone(),
        api: info.backend.to_str().to_string(),
        device_type: info.device_type,
        driver: [info.driver.as_str(), info.driver_info.as_str()]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" "),
        subgroups: features.contains(wgpu::Features::SUBGROUP),
        timestamps: features.contains(wgpu::Features::TIMESTAMP_QUERY),
        max_storage_binding: limits.max_storage_buffer_binding_size,
    };
    let pipeline_cache = features
        .contains(wgpu::Features::PIPELINE_CACHE)
        .then(|| PipelineCacheFile::open(&device, info))
        .flatten();
    Ok(Device {
        device,
        queue,
        summary,
        limits,
        pipeline_cache,
    })
}

#[cfg(test)]
mod tests {
    /// The device for a test, or `None` (announced) when there is no
    /// adapter and none is required (`GPU_REQUIRE_ADAPTER=1`).
    fn device_or_skip(test: &str) -> Option<&'static super::Device> {
        match super::shared() {
            Ok(d) => Some(d),
            Err(e) if std::env::var("GPU_REQUIRE_ADAPTER").as_deref() != Ok("1") => {
                eprintln!("SKIPPED (no GPU adapter: {e}): {test}");
                None
            }
            Err(e) => panic!("no GPU adapter, and GPU_REQUIRE_ADAPTER=1: {e}"),
        }
    }

    #[test]
    fn errors_the_device_reports_inside_checked_are_returned() {
        let Some(device) = device_or_skip("errors_the_device_reports_inside_checked") else {
            return;
        };
        // An idle buffer in the pool, freed after the error below.
        let pool = &super::super::buffers::POOL;
        let usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
        drop(
            pool.acquire(&device.device, 1 << 16, usage, u64::MAX)
                .unwrap(),
        );
        assert!(pool.idle_bytes() >= 1 << 16);
        // Mapped both ways: a usage wgpu refuses (a validation error).
        let refused = device.checked(
            || "making a buffer".into(),
            || {
                let _ = device.device.create_buffer(&wgpu::BufferDescriptor {
                    label: None,
                    size: 16,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::MAP_WRITE,
                    mapped_at_creation: false,
                });
                Ok(1)
            },
        );
        let err = refused.unwrap_err().to_string();
        assert!(err.starts_with("GPU error in making a buffer: "), "{err}");
        assert_eq!(pool.idle_bytes(), 0);
        // A buffer the pool fails to make is an error, and never pooled
        // (a later borrower would get an invalid buffer).
        let refused_usage = wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::MAP_WRITE;
        let err = pool
            .acquire(&device.device, 1 << 16, refused_usage, u64::MAX)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("GPU error in allocating 65536 bytes on the GPU: "),
            "{err}"
        );
        assert_eq!(pool.idle_bytes(), 0);
        // Nothing reported: the closure's own result, error or not.
        assert_eq!(device.checked(|| unreachable!(), || Ok(7)).unwrap(), 7);
        let own = device.checked(
            || unreachable!(),
            || -> crate::Result<()> { Err(crate::Error::EmptyInput { op: "min" }) },
        );
        assert!(matches!(own, Err(crate::Error::EmptyInput { op: "min" })));
    }
}
