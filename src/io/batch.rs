//! [`Batch`]: read, compute and write many files, with the three stages
//! overlapped.
//!
//! Each result goes to the output folder under its input's file name, in
//! the input's format (`.npy` keeps its shape); two inputs with the same
//! file name are an error for the second, never a silent overwrite.
//!
//! Files are read by a [`Loader`] (`concurrency` in flight, tokio for the
//! disk, rayon's pool for decoding); each loaded file is computed (a
//! filter chain or a map: on rayon's pool on the CPU, on tokio's blocking
//! pool on the GPU, whose calls wait for the device) and written (encoded
//! on rayon's pool; written to a temporary name and renamed on the
//! blocking pool) while the next files are being read and computed. At
//! most `concurrency` files are being read and `concurrency` computed or
//! written at once, so memory grows with the concurrency, not with the
//! number of files.
//!
//! That is the memory the batch holds. What the process's resident memory
//! shows also depends on the allocator: glibc's raises its mmap threshold
//! the first time a large buffer is freed, then keeps freed image buffers
//! in its heaps, and over a long batch the resident memory creeps up (with
//! 0.15-megapixel images, concurrency 8, on a 2-core machine: about 24 MiB
//! after 32 files, 34 MiB after 256 and 40 MiB after 1024, while the batch
//! held at most 13–18 MiB each time). A fixed threshold
//! (`mallopt(M_MMAP_THRESHOLD, 65536)`, or `MALLOC_MMAP_THRESHOLD_=65536`
//! in the environment), as the `batch` example sets, keeps it at 19–24 MiB
//! for all three; a cap on tokio's blocking pool (a few threads per file
//! in flight) stops the pool's own slow growth.
//!
//! A file that fails is reported with its path and reason, and the others
//! go on. Dropping the future of [`Batch::run`] stops the work: no new file
//! is started, and writes already under way finish or leave nothing (no
//! partial files). A setup already under way (making the output folder,
//! opening the GPU device) finishes.

use super::cpu_task::{on_cores, timed, waiting};
use super::image_file::{encode, write_atomic};
use super::loader::{file_error, Format, Item, Loader};
use super::npy;
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::expr::Kernel;
use crate::filter::Filter;
use futures_util::stream::{self, StreamExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a batch does to each file.
#[derive(Clone, Debug)]
pub enum Job {
    /// A chain of filters on each image (PNG or JPEG), written in the
    /// input's format.
    Filters(Vec<Filter>),
    /// A one-input map on each array file (`.npy` or raw `f32`), written as
    /// `f32` in the input's format (`.npy` files as `<f4`, version 1.0, or
    /// 2.0 for a header past 64 KiB).
    Map(Kernel),
}

/// One file's outcome.
#[derive(Debug)]
pub struct FileReport {
    /// The input file.
    pub input: PathBuf,
    /// Where its result goes (the input's file name in the output folder).
    pub output: PathBuf,
    /// `Ok` once the output is written; the error names the file at fault.
    pub result: Result<()>,
}

/// Time spent in each stage, summed over files (stages of different files
/// overlap, so the sum can exceed the wall time). Each stage's time runs
/// from its start to its end, waits for the disk and for a free core
/// included; its busy time is the part a worker spent on it (a file that
/// fails in a stage adds its time, but no busy time, for that stage).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct StageTimes {
    /// Reading and decoding.
    pub read: Duration,
    /// The filter chain or map.
    pub compute: Duration,
    /// Encoding and writing.
    pub write: Duration,
    /// Of `read`, decoding images or converting values (reading itself,
    /// on tokio, not included).
    pub read_busy: Duration,
    /// Of `compute`, the filters or the map, from when a worker took them
    /// up (on the GPU, the wait for its results included). A filter splits
    /// its image across the cores, and the worker that waits for the other
    /// parts meanwhile runs other queued work (rayon's work stealing), so
    /// this includes some decoding and encoding of other files (which run
    /// whole on one worker: their busy times are their own).
    pub compute_busy: Duration,
    /// Of `write`, encoding, and the write call (which waits for the disk
    /// to confirm the file).
    pub write_busy: Duration,
}

impl std::ops::AddAssign for StageTimes {
    fn add_assign(&mut self, other: StageTimes) {
        self.read += other.read;
        self.compute += other.compute;
        self.write += other.write;
        self.read_busy += other.read_busy;
        self.compute_busy += other.compute_busy;
        self.write_busy += other.write_busy;
    }
}

/// What a batch did.
#[derive(Debug, Default)]
pub struct BatchSummary {
    /// Files written.
    pub succeeded: usize,
    /// Files that failed, with why.
    pub failed: Vec<(PathBuf, Error)>,
    /// From start to the last file's end.
    pub wall: Duration,
    /// Time in each stage.
    pub stages: StageTimes,
}

impl std::fmt::Display for BatchSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.stages;
        write!(
            f,
            "{} succeeded, {} failed in {:.2} s (summed over files, busy of all: read {:.2} of {:.2} s, compute {:.2} of {:.2} s, write {:.2} of {:.2} s)",
            self.succeeded,
            self.failed.len(),
            self.wall.as_secs_f64(),
            s.read_busy.as_secs_f64(),
            s.read.as_secs_f64(),
            s.compute_busy.as_secs_f64(),
            s.compute.as_secs_f64(),
            s.write_busy.as_secs_f64(),
            s.write.as_secs_f64()
        )
    }
}

/// A batch job: what to do, where to write, on which backend, how many
/// files at once.
///
/// Each result goes to the output folder under its input's file name,
/// written to a temporary name and renamed. An input fails alone, with an
/// error naming it, when it cannot be read or computed, when an earlier
/// input has the same file name, or when its result would replace the
/// input itself (the output folder is the input's).
///
/// ```
/// use gpu::io::{Batch, Job};
/// let dir = std::env::temp_dir().join("gpu-compute-doctest-batch");
/// std::fs::create_dir_all(&dir)?;
/// let img = image::RgbaImage::from_pixel(8, 8, image::Rgba([10, 20, 30, 255]));
/// gpu::io::save_image(&img, dir.join("a.png"))?;
/// let batch = Batch::new(Job::Filters(vec!["invert".parse()?]), dir.join("out"))
///     .backend(gpu::Backend::Cpu)
///     .concurrency(4);
/// let rt = tokio::runtime::Runtime::new()?;
/// let inputs = vec![dir.join("a.png"), dir.join("missing.png")];
/// let summary = rt.block_on(batch.run(inputs, |report| println!("{report:?}")))?;
/// assert_eq!((summary.succeeded, summary.failed.len()), (1, 1));
/// assert_eq!(gpu::io::load_image(dir.join("out/a.png"))?.get_pixel(0, 0).0, [245, 235, 225, 255]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Batch {
    job: Arc<Job>,
    out_dir: PathBuf,
    backend: Backend,
    concurrency: usize,
}

impl Batch {
    /// Runs `job` on each file, writing results into `out_dir` (created if
    /// missing); `Auto` backend, 8 files at a time.
    ///
    /// ```
    /// let batch = gpu::io::Batch::new(gpu::io::Job::Filters(vec![]), "out");
    /// let text = format!("{batch:?}");
    /// assert!(text.contains("backend: Auto") && text.contains("concurrency: 8"), "{text}");
    /// ```
    pub fn new(job: Job, out_dir: impl Into<PathBuf>) -> Batch {
        Batch {
            job: Arc::new(job),
            out_dir: out_dir.into(),
            backend: Backend::Auto,
            concurrency: 8,
        }
    }

    /// The backend that computes (and holds loaded arrays).
    ///
    /// ```
    /// let batch = gpu::io::Batch::new(gpu::io::Job::Filters(vec![]), "out").backend(gpu::Backend::Cpu);
    /// assert!(format!("{batch:?}").contains("backend: Cpu"));
    /// ```
    pub fn backend(mut self, backend: Backend) -> Batch {
        self.backend = backend;
        self
    }

    /// At most `n` files being read, and `n` being computed or written, at
    /// once (at least 1).
    ///
    /// ```
    /// let batch = gpu::io::Batch::new(gpu::io::Job::Filters(vec![]), "out").concurrency(16);
    /// assert!(format!("{batch:?}").contains("concurrency: 16"));
    /// let none = gpu::io::Batch::new(gpu::io::Job::Filters(vec![]), "out").concurrency(0);
    /// assert!(format!("{none:?}").contains("concurrency: 1"));
    /// ```
    pub fn concurrency(mut self, n: usize) -> Batch {
        self.concurrency = n.max(1);
        self
    }

    fn prepare(&self) -> Result<Loader> {
        match &*self.job {
            Job::Filters(chain) => {
                for f in chain {
                    f.validate()?;
                }
            }
            Job::Map(kernel) if kernel.arity() != 1 => {
                return Err(Error::ArityMismatch {
                    op: "Batch with Job::Map",
                    expected: kernel.arity(),
                    given: 1,
                })
            }
            Job::Map(_) => {}
        }
        std::fs::create_dir_all(&self.out_dir)
            .map_err(|e| file_error(&self.out_dir.display().to_string(), e))?;
        Ok(Loader::new(self.backend)?.concurrency(self.concurrency))
    }

    /// Processes `inputs` with the stages overlapped; `on_file` hears of each
    /// file as it finishes (in completion order). Larger files start first,
    /// so that the batch does not end with one large file running alone on
    /// one core while the others idle (longest-first scheduling).
    ///
    /// An error only when the batch cannot start (the output folder cannot
    /// be made, the backend is unavailable, a filter is invalid); a file's
    /// failure is in the summary.
    ///
    /// Needs a tokio runtime with the blocking pool (any multi-thread or
    /// current-thread runtime).
    pub async fn run(
        &self,
        inputs: Vec<PathBuf>,
        mut on_file: impl FnMut(&FileReport),
    ) -> Result<BatchSummary> {
        let start = Instant::now();
        let (loader, inputs, mut summary) = self.begin(inputs, &mut on_file).await?;
        let n = self.concurrency;
        let inputs = largest_first(inputs).await;
        let loads = stream::iter(inputs)
            .map(|path| {
                let loader = loader.clone();
                async move {
                    let (item, read) = timed_load(&loader, &path).await;
                    (path, item, read)
                }
            })
            .buffer_unordered(n);
        let mut done = loads
            .map(|(path, item, read)| self.finish(path, item, read))
            .buffer_unordered(n);
        while let Some((report, stages)) = done.next().await {
            summary.add(&report, stages);
            on_file(&report);
        }
        summary.wall = start.elapsed();
        Ok(summary)
    }

    /// The same work one file at a time, each read, computed and written
    /// before the next is read: the loop the pipeline is measured against.
    pub async fn run_sequential(
        &self,
        inputs: Vec<PathBuf>,
        mut on_file: impl FnMut(&FileReport),
    ) -> Result<BatchSummary> {
        let start = Instant::now();
        let (loader, inputs, mut summary) = self.begin(inputs, &mut on_file).await?;
        for path in inputs {
            let (item, read) = timed_load(&loader, &path).await;
            let (report, stages) = self.finish(path, item, read).await;
            summary.add(&report, stages);
            on_file(&report);
        }
        summary.wall = start.elapsed();
        Ok(summary)
    }

    /// The compute and write stages of one loaded file (`read` holds how
    /// long loading took), and its report.
    async fn finish(
        &self,
        path: PathBuf,
        item: Result<Item>,
        read: StageTimes,
    ) -> (FileReport, StageTimes) {
        let mut stages = read;
        let output = self.output_for(&path);
        let result = match (item, &output) {
            (Ok(item), Ok(out)) => {
                process(self.job.clone(), &path, item, out.clone(), &mut stages).await
            }
            (Err(e), _) => Err(e),
            (_, Err(e)) => Err(e.clone()),
        };
        let report = FileReport {
            output: output.unwrap_or_default(),
            input: path,
            result,
        };
        (report, stages)
    }

    /// What both ways of running do first: check the job, make the output
    /// folder and the loader, and report inputs whose result would replace
    /// an input or an earlier input's result. Returns the loader, the
    /// inputs left, and the summary so far. The setup waits on the disk
    /// (and, for the GPU, on opening the device): it runs on tokio's
    /// blocking pool, not on an async worker.
    async fn begin(
        &self,
        inputs: Vec<PathBuf>,
        on_file: &mut impl FnMut(&FileReport),
    ) -> Result<(Loader, Vec<PathBuf>, BatchSummary)> {
        let batch = self.clone();
        let folder = self.out_dir.display().to_string();
        let (loader, (inputs, clashes)) = waiting(&folder, move || {
            let loader = batch.prepare()?;
            Ok((loader, batch.without_clashes(inputs)))
        })
        .await?;
        let mut summary = BatchSummary::default();
        for report in clashes {
            summary.add(&report, StageTimes::default());
            on_file(&report);
        }
        Ok((loader, inputs, summary))
    }

    /// Inputs whose results can be written, and failure reports for the
    /// others, made before anything is read:
    /// * an input whose result would replace an input file (itself, when the
    ///   output folder is its folder, or another input in the output folder,
    ///   also through symbolic links);
    /// * an input whose file name an earlier input already has (their
    ///   results would overwrite each other in the output folder).
    fn without_clashes(&self, inputs: Vec<PathBuf>) -> (Vec<PathBuf>, Vec<FileReport>) {
        use std::collections::HashSet;
        let originals: HashSet<PathBuf> = inputs
            .iter()
            .filter_map(|p| std::fs::canonicalize(p).ok())
            .collect();
        let out_dir = std::fs::canonicalize(&self.out_dir).unwrap_or(self.out_dir.clone());
        let mut seen = HashSet::new();
        let mut refused = Vec::new();
        let kept = inputs
            .into_iter()
            .filter_map(|input| {
                let Ok(out) = self.output_for(&input) else {
                    return Some(input); // reported when it is processed
                };
                // The output folder resolved, and the name a rename replaces.
                let target = out.file_name().map(|name| out_dir.join(name));
                let first = seen.insert(out.clone());
                let reason = match target.filter(|t| originals.contains(t)) {
                    Some(t) if std::fs::canonicalize(&input).is_ok_and(|i| i == t) => format!(
                        "its result would replace it: the output folder {} holds the input",
                        self.out_dir.display()
                    ),
                    Some(t) => format!("its result would replace the input {}", t.display()),
                    None if !first => format!(
                        "an earlier input has the same file name; its result already goes to {}",
                        out.display()
                    ),
                    None => return Some(input),
                };
                refused.push(FileReport {
                    result: Err(file_error(&input.display().to_string(), reason)),
                    output: out,
                    input,
                });
                None
            })
            .collect();
        (kept, refused)
    }

    /// Where `input`'s result goes: its file name in the output folder.
    fn output_for(&self, input: &Path) -> Result<PathBuf> {
        input
            .file_name()
            .map(|file| self.out_dir.join(file))
            .ok_or_else(|| file_error(&input.display().to_string(), "not a file name"))
    }
}

impl BatchSummary {
    fn add(&mut self, report: &FileReport, stages: StageTimes) {
        match &report.result {
            Ok(()) => self.succeeded += 1,
            Err(e) => self.failed.push((report.input.clone(), e.clone())),
        }
        self.stages += stages;
    }
}

/// Loads `path`; the stage times hold its read stage.
async fn timed_load(loader: &Loader, path: &Path) -> (Result<Item>, StageTimes) {
    let t = Instant::now();
    let mut busy = Duration::ZERO;
    let item = loader.load_path(path, &mut busy).await;
    let read = StageTimes {
        read: t.elapsed(),
        read_busy: busy,
        ..StageTimes::default()
    };
    (item, read)
}

/// `inputs` ordered by file size, largest first (files that cannot be
/// examined first of all: they fail at once).
async fn largest_first(inputs: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut sized = Vec::with_capacity(inputs.len());
    for path in inputs {
        let size = tokio::fs::metadata(&path)
            .await
            .map_or(u64::MAX, |m| m.len());
        sized.push((size, path));
    }
    // Stable: equal sizes keep the caller's order.
    sized.sort_by_key(|s| std::cmp::Reverse(s.0));
    sized.into_iter().map(|(_, path)| path).collect()
}

/// What the compute stage hands the write stage.
enum Computed {
    Image(image::RgbaImage),
    /// Values, their shape, and whether they came from a `.npy` file.
    Values(Vec<f32>, Vec<usize>, bool),
}

/// Computes and writes one loaded file.
async fn process(
    job: Arc<Job>,
    input: &Path,
    item: Item,
    output: PathBuf,
    stages: &mut StageTimes,
) -> Result<()> {
    let name = input.display().to_string();
    let t = Instant::now();
    let named = name.clone();
    let on_gpu = match &item {
        Item::Values { array, .. } => array.backend() == Backend::Gpu,
        Item::Image(img) => img.backend() == Backend::Gpu,
    };
    let compute = move || match (&*job, item) {
        (Job::Filters(chain), Item::Image(img)) => {
            Ok(Computed::Image(img.filter_chain(chain)?.into_rgba()?))
        }
        (
            Job::Map(kernel),
            Item::Values {
                array,
                shape,
                format,
            },
        ) => {
            let mapped = array.map(|v| kernel.apply(&[v]))?;
            Ok(Computed::Values(
                mapped.to_vec()?,
                shape,
                format == Format::Npy,
            ))
        }
        (Job::Filters(_), Item::Values { .. }) => Err(file_error(
            &named,
            "holds values, but the job is a filter chain (images only)",
        )),
        (Job::Map(_), Item::Image(_)) => Err(file_error(
            &named,
            "is an image, but the job is a map (.npy or raw f32 only)",
        )),
    };
    // GPU calls wait for the device: keep them off the cores' workers.
    let (computed, computing) = if on_gpu {
        // Its staging copies stay on the waiting thread (see
        // `with_serial_copies`).
        let compute = move || crate::backend::gpu::transfer::with_serial_copies(compute);
        waiting(&name, timed(compute)).await?
    } else {
        on_cores(&name, timed(compute)).await?
    };
    stages.compute = t.elapsed();
    stages.compute_busy = computing;
    let t = Instant::now();
    let path = output.clone();
    let (bytes, encoding) = on_cores(
        &name,
        timed(move || match computed {
            Computed::Image(img) => encode(&img, &path),
            Computed::Values(values, shape, true) => Ok(npy::encode_f32(&values, &shape)),
            Computed::Values(values, _, false) => {
                Ok(bytemuck::cast_slice::<f32, u8>(&values).to_vec())
            }
        }),
    )
    .await?;
    let ((), writing) = waiting(&name, timed(move || write_atomic(&output, &bytes))).await?;
    stages.write_busy = encoding + writing;
    stages.write = t.elapsed();
    Ok(())
}
