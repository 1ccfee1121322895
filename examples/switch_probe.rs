//! How a host image's Gaussian blur costs on each device depending on what
//! ran just before: every call's time, in runs like a near-tie's look
//! (five on one device, then five on the other), back to back, and in the
//! bench's pairs. A diagnostic for `dispatch::ties`, run on a lent GPU.
//!
//! ```text
//! cargo run --release --example switch_probe
//! ```

use anyhow::Result;
use gpu::{Backend, Context};
use std::hint::black_box;
use std::time::{Duration, Instant};

fn main() -> Result<()> {
    let cpu = Context::new(Backend::Cpu)?;
    let gpu_ctx = Context::new(Backend::Gpu)?;
    let filter: gpu::filter::Filter = "blur:3".parse()?;
    for (w, h) in [(1920u32, 1080u32), (3840, 2160)] {
        let img = image::RgbaImage::from_fn(w, h, |x, y| {
            image::Rgba([(x * 7 + y) as u8, (x ^ y) as u8, (y * 3 + x / 5) as u8, 255])
        });
        let time = |ctx: &Context| -> Result<f64> {
            let t = Instant::now();
            black_box(ctx.filter(&img, &filter)?);
            Ok(t.elapsed().as_secs_f64() * 1e3)
        };
        gpu::__private::wake_gpu(Duration::from_millis(300))?;
        for _ in 0..3 {
            time(&cpu)?;
            time(&gpu_ctx)?;
        }
        // Looks: 5 calls a device, in turns, every call printed.
        for order in [["gpu", "cpu"], ["cpu", "gpu"]] {
            let mut firsts = Vec::new();
            for cycle in 0..6 {
                let mut line = format!("{w}x{h} look {} cycle {cycle}:", order.join("-"));
                for name in order {
                    let ctx = if name == "gpu" { &gpu_ctx } else { &cpu };
                    let t: Vec<f64> = (0..5).map(|_| time(ctx)).collect::<Result<_>>()?;
                    firsts.push(t[0]);
                    line += &format!(
                        " {name} [{}]",
                        t.iter()
                            .map(|v| format!("{v:.3}"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    );
                }
                println!("{line}");
            }
        }
        // Back to back.
        for (name, ctx) in [("gpu", &gpu_ctx), ("cpu", &cpu), ("gpu", &gpu_ctx)] {
            let mut t: Vec<f64> = (0..30).map(|_| time(ctx)).collect::<Result<_>>()?;
            let shown: Vec<String> = t.iter().map(|v| format!("{v:.2}")).collect();
            t.sort_by(f64::total_cmp);
            println!(
                "{w}x{h} back-to-back {name}: min {:.3} median {:.3} max {:.3} [{}]",
                t[0],
                t[15],
                t[29],
                shown.join(" ")
            );
        }
        // Alternating single calls.
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..30 {
            a.push(time(&gpu_ctx)?);
            b.push(time(&cpu)?);
        }
        a.sort_by(f64::total_cmp);
        b.sort_by(f64::total_cmp);
        println!(
            "{w}x{h} alternating: gpu min {:.3} median {:.3}; cpu min {:.3} median {:.3}",
            a[0], a[15], b[0], b[15]
        );
    }
    Ok(())
}
