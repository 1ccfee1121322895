//! The bench's `--gpu-state-probe`: the same GPU work timed after different
//! histories in one process (fresh, after the CPU was busy, after the GPU
//! sat idle, after it was kept busy, after the buffer pools filled up the
//! way the bench fills them, and interleaved with CPU calls the way
//! `median_pair` times `Auto`), to find what slows GPU work inside the
//! bench. One JSON line per phase, with the Unix time in milliseconds so
//! that clock samples taken beside it (`nvidia-smi`) line up.

use anyhow::Result;
use gpu::{Backend, Context};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn unix_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// The bench's median, in milliseconds.
fn median_ms(reps: usize, f: impl FnMut() -> Result<()>) -> Result<f64> {
    Ok(super::median(reps, f)? * 1e3)
}

/// Runs the probe and prints its lines.
pub fn run() -> Result<()> {
    let gpu_ctx = Context::new(Backend::Gpu)?;
    let cpu_ctx = Context::new(Backend::Cpu)?;
    let img = image::RgbaImage::from_fn(1920, 1080, |i, j| {
        image::Rgba([(i * 7 + j * 13) as u8, (i ^ j) as u8, (i * j) as u8, 255])
    });
    let big = image::RgbaImage::from_fn(3840, 2160, |i, j| {
        image::Rgba([(i * 7 + j * 13) as u8, (i ^ j) as u8, (i * j) as u8, 255])
    });
    let boxf: gpu::filter::Filter = "box:2".parse()?;
    let on_gpu = gpu_ctx.image(&img)?;
    let big_gpu = gpu_ctx.image(&big)?;
    let on_cpu = cpu_ctx.image(&img)?;
    let x: Vec<f32> = (0..1 << 22).map(|i| (i % 1000) as f32 * 1e-3).collect();
    let xa = gpu_ctx.array(&x)?;
    // Warm every pipeline first, so no phase pays a compile.
    on_gpu.filter(&boxf)?.wait()?;
    big_gpu.filter(&boxf)?.wait()?;
    xa.map(|v| v * 2.0 + 1.0)?.eval()?.wait()?;
    xa.sum()?;
    gpu::__private::profile_resident(1 << 24)?;

    let measure = |phase: &str| -> Result<()> {
        let start = unix_ms();
        let box_ms = median_ms(11, || Ok(on_gpu.filter(&boxf)?.wait()?))?;
        let box4k_ms = median_ms(11, || Ok(big_gpu.filter(&boxf)?.wait()?))?;
        let map_ms = median_ms(21, || Ok(xa.map(|v| v * 2.0 + 1.0)?.eval()?.wait()?))?;
        let sum_ms = median_ms(21, || {
            std::hint::black_box(xa.sum()?);
            Ok(())
        })?;
        let p = gpu::__private::profile_resident(1 << 24)?;
        let gbs = |s: f64| 8.0 * (1u64 << 24) as f64 / s / 1e9;
        println!(
            "{{\"phase\":\"{phase}\",\"start_ms\":{start},\"end_ms\":{},\"box_1080p_ms\":{box_ms:.4},\"box_4k_ms\":{box4k_ms:.4},\"map_2e22_ms\":{map_ms:.4},\"sum_2e22_ms\":{sum_ms:.4},\"kernel_shader_copy_2e24_gbs\":{:.0},\"kernel_map_affine_2e24_gbs\":{:.0}}}",
            unix_ms(),
            gbs(p.shader_copy_s),
            gbs(p.map_affine_s)
        );
        Ok(())
    };

    measure("fresh")?;
    measure("fresh_again")?;
    // The CPU busy for two seconds on every core, the GPU idle meanwhile.
    let y: Vec<f32> = (0..1 << 24).map(|i| i as f32).collect();
    let mut out = vec![0.0f32; y.len()];
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(2) {
        cpu_ctx.map_into(&y, &mut out, |v| (v * 1e-7).sin())?;
    }
    measure("after_cpu_busy_2s")?;
    std::thread::sleep(Duration::from_secs(2));
    measure("after_idle_2s")?;
    // The GPU kept busy for about 300 ms just before.
    let t = Instant::now();
    while t.elapsed() < Duration::from_millis(300) {
        for _ in 0..20 {
            big_gpu.filter(&boxf)?;
        }
        big_gpu.filter(&boxf)?.wait()?;
    }
    measure("after_gpu_busy_300ms")?;
    // The pools filled the way the bench fills them: arrays of every size,
    // images of every size.
    for p in (10..=24).step_by(2) {
        let v: Vec<f32> = (0..1usize << p).map(|i| i as f32).collect();
        let a = gpu_ctx.array(&v)?;
        for _ in 0..5 {
            a.map(|v| v.sin() * 2.0)?.eval()?.wait()?;
            a.sum()?;
        }
        gpu_ctx.map(&v, |v| v + 1.0)?;
    }
    for (w, h) in [(256, 256), (1024, 768), (1920, 1080), (3840, 2160)] {
        let i = gpu_ctx.image(&image::RgbaImage::new(w, h))?;
        for f in ["blur:3", "box:2", "sobel"] {
            i.filter(&f.parse()?)?.wait()?;
            gpu_ctx.filter(&image::RgbaImage::new(w, h), &f.parse()?)?;
        }
    }
    measure("after_pool_fill")?;
    // Interleaved with CPU filter calls, as median_pair times Auto.
    let start = unix_ms();
    let (mut g, mut c) = (Vec::new(), Vec::new());
    for _ in 0..11 {
        let s = Instant::now();
        on_cpu.filter(&boxf)?.wait()?;
        c.push(s.elapsed().as_secs_f64() * 1e3);
        let s = Instant::now();
        on_gpu.filter(&boxf)?.wait()?;
        g.push(s.elapsed().as_secs_f64() * 1e3);
    }
    g.sort_by(f64::total_cmp);
    c.sort_by(f64::total_cmp);
    println!(
        "{{\"phase\":\"interleaved_with_cpu\",\"start_ms\":{start},\"end_ms\":{},\"box_1080p_ms\":{:.4},\"cpu_box_1080p_ms\":{:.4}}}",
        unix_ms(),
        g[5],
        c[5]
    );
    measure("final")?;
    Ok(())
}
