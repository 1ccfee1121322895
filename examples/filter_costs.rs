//! Every CPU filter (and with `--gpu`, every GPU filter) timed against the
//! dispatcher's estimate of it: how far `Auto` can trust its figures for
//! filters on this machine.
//!
//! ```text
//! cargo run --release --example filter_costs                 # measures this machine first
//! cargo run --release --example filter_costs -- --saved      # uses the saved calibration
//! cargo run --release --example filter_costs -- --gpu        # the GPU's filters too
//! ```
//!
//! Each line is one filter (or a chain, estimated as its filters' sum) on
//! one image size, on one thread and on rayon's
//! pool (as many threads as the context's plan uses there): the median of
//! 15 calls, the estimate (`CostModel::cpu_filter` on one thread,
//! `CostModel::cpu_filter_plan` on the pool), and their ratio. With
//! `--gpu`, a line more on the GPU, the image on the device and the output
//! left there (`CostModel::gpu_resident_seconds` of
//! `CostModel::gpu_filter_workload`: the filters' measured costs on a
//! calibrated hardware GPU, arithmetic weights otherwise). Measuring first (the default) saves a fresh calibration, as
//! `gpu::calibrate()` does, so that both come from the machine in one
//! state: on a shared machine whose speed drifts, figures from another hour
//! compare the hours, not the model.

#[path = "support/sample_image.rs"]
mod sample_image;

use anyhow::Result;
use clap::Parser;
use gpu::dispatch::CostModel;
use gpu::filter::Filter;
use gpu::{Backend, Context};
use std::time::Instant;

#[derive(Parser)]
#[command(about = "Time every CPU filter against the dispatcher's estimate")]
struct Args {
    /// Use the saved calibration instead of measuring this machine first.
    #[arg(long)]
    saved: bool,
    /// Time the GPU's filters too (images on the device).
    #[arg(long)]
    gpu: bool,
    /// Image sizes, WIDTHxHEIGHT, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = ["256x256".to_string(), "1024x768".to_string(), "1920x1080".to_string()])]
    image: Vec<String>,
}

/// The filters timed: every kind, at a few sizes of kernel, then chains
/// (estimated as the sum of their filters).
const FILTERS: [&str; 18] = [
    "blur:1",
    "blur:2",
    "blur:3",
    "blur:5",
    "box:1",
    "box:2",
    "box:7",
    "box:10",
    "sobel",
    "sharpen:1:1",
    "grayscale",
    "invert",
    "bc:1.2:10",
    "conv:3:0,0,0,0,1,0,0,0,0",
    "conv:5:0,0,0,0,0,0,0,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,0,0",
    "blur:3,sobel",
    "grayscale,invert",
    "box:1,box:1,box:1,box:1",
];

fn main() -> Result<()> {
    let args = Args::parse();
    if args.saved {
        match gpu::calibration::saved() {
            Some(c) => println!("saved calibration: {c}"),
            None => println!("no saved calibration: the built-in figures"),
        }
    } else {
        println!("calibration: {}", gpu::calibrate()?);
    }
    let model = CostModel::default();
    let ctx = Context::new(Backend::Cpu)?;
    let all = rayon::current_num_threads();
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let gpu_ctx = if args.gpu {
        let ctx = Context::new(Backend::Gpu)?;
        println!("GPU adapter: {}", gpu::adapter()?);
        Some(ctx)
    } else {
        None
    };
    println!(
        "\n{:<10} {:<24} {:>7} {:>10} {:>10} {:>9}",
        "image", "filter", "threads", "measured", "estimate", "ratio"
    );
    for size in &args.image {
        let (w, h) = sample_image::parse_size(size)?;
        let img = sample_image::anchors_image(w, h);
        let pixels = w as usize * h as usize;
        let on_gpu = gpu_ctx.as_ref().map(|c| c.image(&img)).transpose()?;
        for text in FILTERS {
            let chain = Filter::parse_chain(text)?;
            let chain = &chain[..];
            let pools: &[Option<&rayon::ThreadPool>] = if all > 1 {
                &[Some(&one), None]
            } else {
                &[None]
            };
            for pool in pools {
                let time = || -> Result<f64> {
                    ctx.filter_chain(&img, chain)?;
                    let mut t = Vec::with_capacity(15);
                    for _ in 0..15 {
                        let start = Instant::now();
                        std::hint::black_box(ctx.filter_chain(&img, chain)?);
                        t.push(start.elapsed().as_secs_f64());
                    }
                    t.sort_by(f64::total_cmp);
                    Ok(t[t.len() / 2])
                };
                let measured = match pool {
                    Some(pool) => pool.install(time)?,
                    None => time()?,
                };
                // On rayon's own pool the context picks one thread or all,
                // as its plan says, and the plan's estimate is for that.
                let (threads, estimate) = match pool {
                    Some(_) => (
                        1,
                        chain
                            .iter()
                            .map(|f| model.cpu_filter.seconds_per_pixel(f))
                            .sum::<f64>()
                            * pixels as f64,
                    ),
                    None => model.cpu_filter_plan(chain, pixels),
                };
                print_line(size, text, &threads.to_string(), measured, estimate);
            }
            if let Some(on_gpu) = &on_gpu {
                // An idle GPU runs at a low clock: timed after 0.3 s of work.
                gpu::__private::wake_gpu(std::time::Duration::from_millis(300))?;
                on_gpu.filter_chain(chain)?.wait()?;
                let mut t = Vec::with_capacity(15);
                for _ in 0..15 {
                    let start = Instant::now();
                    on_gpu.filter_chain(chain)?.wait()?;
                    t.push(start.elapsed().as_secs_f64());
                }
                t.sort_by(f64::total_cmp);
                let estimate =
                    model.gpu_resident_seconds(&model.gpu_filter_workload(chain, pixels));
                print_line(size, text, "gpu", t[t.len() / 2], estimate);
            }
        }
    }
    Ok(())
}

/// One line of the table: `filter` (a chain: each filter's name and first
/// argument) on an image of `size`, on `threads` (a count, or `gpu`).
fn print_line(size: &str, filter: &str, threads: &str, measured: f64, estimate: f64) {
    let name = filter
        .split(',')
        .filter(|f| !f.starts_with(|c: char| c.is_ascii_digit()))
        .map(|f| f.split(':').take(2).collect::<Vec<_>>().join(":"))
        .collect::<Vec<_>>()
        .join(",");
    println!(
        "{size:<10} {name:<24} {threads:>7} {:>7.3} ms {:>7.3} ms {:>9.2}",
        measured * 1e3,
        estimate * 1e3,
        measured / estimate
    );
}
