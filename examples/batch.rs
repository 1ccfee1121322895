//! Many images through a filter chain, with reading, filtering and writing
//! overlapped.
//!
//! ```text
//! cargo run --release --example batch                       # a generated folder of sample photos
//! cargo run --release --example batch -- in_dir out_dir blur:3,sobel --concurrency 8 --backend auto
//! cargo run --release --example batch -- --sequential       # the same batch one file at a time
//! ```
//!
//! With no folders it writes 24 copies of the embedded sample photo, scaled
//! to 0.5–2 megapixels, into a folder in the system's temp directory and
//! filters them into another. It shows a progress bar, then the summary:
//! files done and failed (each failure with its path and reason), wall
//! time, each stage's time, and how busy the CPU cores were. The exit code
//! is 1 when any file failed.

#[path = "support/batch_inputs.rs"]
mod batch_inputs;

use anyhow::Result;
use clap::Parser;
use gpu::filter::Filter;
use gpu::io::{Batch, Job};
use gpu::Backend;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "Filter a folder of images, reading, computing and writing at once")]
struct Args {
    /// Folder of input images (default: a generated folder of sample photos).
    input: Option<PathBuf>,
    /// Folder for the results (default: beside the generated inputs).
    output: Option<PathBuf>,
    /// Filter chain.
    #[arg(default_value = "blur:3,sobel")]
    filters: String,
    /// Files in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Backend: auto, gpu, cpu or scalar.
    #[arg(long, default_value = "auto")]
    backend: Backend,
    /// One file at a time (read, filter, write, then the next), to compare.
    #[arg(long)]
    sequential: bool,
    /// How many images to generate when no input folder is given.
    #[arg(long, default_value_t = 24)]
    count: usize,
}

fn main() -> Result<ExitCode> {
    keep_memory_bounded();
    let args = Args::parse();
    batch_inputs::runtime(args.concurrency.max(1))?.block_on(run(args))
}

async fn run(args: Args) -> Result<ExitCode> {
    let base = std::env::temp_dir().join("gpu-compute-batch");
    let (inputs, out_dir) = match (&args.input, &args.output) {
        (Some(i), Some(o)) => (batch_inputs::files_in(i)?, o.clone()),
        (None, None) => {
            let dir = base.join("in");
            println!(
                "generating {} sample images in {} ...",
                args.count,
                dir.display()
            );
            (
                batch_inputs::generate(&dir, args.count, args.count, 0.5, 2.0)?,
                base.join("out"),
            )
        }
        _ => anyhow::bail!("give both folders (IN_DIR OUT_DIR) or neither"),
    };
    let chain = Filter::parse_chain(&args.filters)?;
    let batch = Batch::new(Job::Filters(chain), &out_dir)
        .backend(args.backend)
        .concurrency(args.concurrency);
    let bar = ProgressBar::new(inputs.len() as u64).with_style(ProgressStyle::with_template(
        "{bar:40} {pos}/{len} files, {elapsed} elapsed, about {eta} to go",
    )?);
    let on_file = |report: &gpu::io::FileReport| {
        if let Err(e) = &report.result {
            bar.println(format!("failed: {e}"));
        }
        bar.inc(1);
    };
    let before = batch_inputs::usage();
    let summary = if args.sequential {
        batch.run_sequential(inputs, on_file).await?
    } else {
        batch.run(inputs, on_file).await?
    };
    bar.finish_and_clear();
    let mode = if args.sequential {
        "sequential".to_string()
    } else {
        format!("pipeline, {} in flight", args.concurrency)
    };
    println!("{mode}, backend {}: {summary}", args.backend);
    println!("results in {}", out_dir.display());
    if let (Some((cpu0, _)), Some((cpu1, peak))) = (before, batch_inputs::usage()) {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let busy = (cpu1 - cpu0).as_secs_f64() / (summary.wall.as_secs_f64() * cores as f64);
        println!(
            "CPU busy {:.0} % of {cores} cores; peak memory {:.0} MiB",
            busy * 100.0,
            peak as f64 / (1 << 20) as f64
        );
    }
    for (path, e) in &summary.failed {
        eprintln!("failed: {}: {e}", path.display());
    }
    Ok(if summary.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// glibc raises its mmap threshold the first time a large buffer is freed,
/// and from then on keeps freed image buffers in its heaps, scattered across
/// threads: over a long batch the process's memory then grows with the
/// number of files, though what it holds does not (BENCHMARKS.md, batch
/// pipeline). A fixed threshold hands buffers of 64 KiB and more back to
/// the system when they are freed.
fn keep_memory_bounded() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's settings, under its
    // own lock.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 * 1024);
    }
}
