//! Image filters from the command line.
//!
//! ```text
//! cargo run --release --example filter                 # every filter on the embedded sample photo
//! cargo run --release --example filter -- in.png out.png blur:3,sobel --backend gpu
//! ```
//!
//! With no arguments it filters the embedded sample (a CC0 photo of coffee)
//! with each filter in turn, writes one PNG per filter into a folder it
//! names, and prints each filter's time and the backend that ran it. With
//! arguments it applies a chain of filters (text form: `blur:SIGMA`,
//! `box:RADIUS`, `sharpen:AMOUNT:SIGMA`, `sobel`, `grayscale`, `invert`,
//! `bc:CONTRAST:BRIGHTNESS`, `conv:SIZE:WEIGHTS`, `sep:H:V`) to one image.

use anyhow::{Context as _, Result};
use clap::Parser;
use gpu::filter::Filter;
use gpu::{Backend, Context};
use std::path::PathBuf;
use std::time::Instant;

/// The sample photo, built into the example.
const SAMPLE: &[u8] = include_bytes!("../assets/coffee.png");

/// Filters shown when no chain is given.
const SHOWCASE: [&str; 9] = [
    "blur:3",
    "box:2",
    "sharpen:1.5:2",
    "sobel",
    "grayscale",
    "invert",
    "bc:1.3:-20",
    "conv:3:-2,-1,0,-1,1,1,0,1,2",
    "sep:0.25,0.5,0.25:1,2,1",
];

#[derive(Parser)]
#[command(about = "Apply image filters on the CPU or GPU")]
struct Args {
    /// Input image (PNG or JPEG); default: the embedded sample photo.
    input: Option<PathBuf>,
    /// Output image (.png or .jpg); required with an input.
    output: Option<PathBuf>,
    /// Filter chain, e.g. `blur:3,sobel`.
    filters: Option<String>,
    /// Backend: auto, gpu, cpu or scalar.
    #[arg(long, default_value = "auto")]
    backend: Backend,
    /// Folder for the showcase's images (default: a folder in the system's temp directory).
    #[arg(long)]
    out_dir: Option<PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let ctx = Context::new(args.backend)?;
    match (&args.input, &args.output, &args.filters) {
        (None, None, None) => showcase(&ctx, args.out_dir),
        (Some(input), Some(output), Some(chain)) => {
            let filters = Filter::parse_chain(chain)?;
            let img = gpu::io::load_image(input)?;
            let t = Instant::now();
            let out = ctx.filter_chain(&img, &filters)?;
            let elapsed = t.elapsed();
            gpu::io::save_image(&out, output)?;
            let d = ctx.last_dispatch().context("a filter ran")?;
            println!(
                "{} → {}: {} ({}×{}) in {:.2} ms [{d}]",
                input.display(),
                output.display(),
                chain,
                img.width(),
                img.height(),
                elapsed.as_secs_f64() * 1e3
            );
            Ok(())
        }
        _ => anyhow::bail!("give no arguments, or all three: INPUT OUTPUT FILTERS (e.g. in.png out.png blur:3,sobel)"),
    }
}

/// Every showcase filter on the sample photo, one PNG each.
fn showcase(ctx: &Context, out_dir: Option<PathBuf>) -> Result<()> {
    let img = image::load_from_memory(SAMPLE)?.to_rgba8();
    let dir = out_dir.unwrap_or_else(|| std::env::temp_dir().join("gpu-compute-filters"));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    println!(
        "sample photo {}×{}, backend {}; writing to {}\n",
        img.width(),
        img.height(),
        ctx.backend(),
        dir.display()
    );
    for text in SHOWCASE {
        let filter: Filter = text.parse()?;
        // The first call may compile kernels; the second shows the steady state.
        let t0 = Instant::now();
        ctx.filter(&img, &filter)?;
        let first = t0.elapsed();
        let t1 = Instant::now();
        let out = ctx.filter(&img, &filter)?;
        let second = t1.elapsed();
        let name = text.split(':').next().unwrap_or(text);
        let path = dir.join(format!("{name}.png"));
        gpu::io::save_image(&out, &path)?;
        let d = ctx.last_dispatch().context("a filter ran")?;
        println!(
            "{text:<30} first {:>8.2} ms, then {:>8.2} ms  → {}  [{d}]",
            first.as_secs_f64() * 1e3,
            second.as_secs_f64() * 1e3,
            path.display()
        );
    }
    Ok(())
}
