//! Shared by the `batch` and `bench` examples: input images made from the
//! embedded sample photo, and the process's CPU time and peak memory.

use anyhow::{Context as _, Result};
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The sample photo (CC0), built into the examples.
pub const SAMPLE: &[u8] = include_bytes!("../../assets/coffee.png");

/// Writes `count` PNGs into `dir`, the sample scaled to `sizes` sizes spread
/// evenly from `min_mp` to `max_mp` megapixels (image `i` has size
/// `i % sizes`), and returns their paths. Files already there (same name,
/// so same size) are kept, so reruns are quick.
pub fn generate(
    dir: &Path,
    count: usize,
    sizes: usize,
    min_mp: f64,
    max_mp: f64,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let sample = image::load_from_memory(SAMPLE)?.to_rgba8();
    let aspect = sample.width() as f64 / sample.height() as f64;
    (0..count)
        .into_par_iter()
        .map(|i| {
            let step = i % sizes.max(1);
            let t = if sizes > 1 {
                step as f64 / (sizes - 1) as f64
            } else {
                0.0
            };
            let pixels = (min_mp + (max_mp - min_mp) * t) * 1e6;
            let h = (pixels / aspect).sqrt().round().max(1.0) as u32;
            let w = (h as f64 * aspect).round().max(1.0) as u32;
            let path = dir.join(format!("coffee_{i:03}_{w}x{h}.png"));
            if !path.exists() {
                let img =
                    image::imageops::resize(&sample, w, h, image::imageops::FilterType::Triangle);
                gpu::io::save_image(&img, &path)?;
            }
            Ok(path)
        })
        .collect()
}

/// The files in `dir`, sorted by name.
pub fn files_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// A tokio runtime for a batch with `concurrency` files in flight. Its
/// blocking pool, which waits on file reads and writes (and on the GPU),
/// is capped at two threads per file in flight and two more: uncapped,
/// tokio starts a thread whenever none is idle at that instant, and over a
/// long batch the pool creeps up (17 threads in all after 32 small files,
/// 26 after 1024), each with its stack and its share of the allocator's
/// heaps.
pub fn runtime(concurrency: usize) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(2 * concurrency + 2)
        .build()
}

/// User plus system CPU time of this process so far, and its peak resident
/// memory in bytes (Linux; `None` elsewhere). The peak is the kernel's
/// high-water mark for this program (`VmHWM`): unlike `getrusage`'s
/// `ru_maxrss`, it does not carry over a parent's peak into a child process.
pub fn usage() -> Option<(Duration, u64)> {
    #[cfg(target_os = "linux")]
    {
        let mut u = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: getrusage fills the struct it is given.
        let u = unsafe {
            if libc::getrusage(libc::RUSAGE_SELF, u.as_mut_ptr()) != 0 {
                return None;
            }
            u.assume_init()
        };
        let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some((tv(u.ru_utime) + tv(u.ru_stime), kib * 1024))
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}
