//! Criterion benches for image filters, grouped by filter and image size,
//! every backend side by side on the same image, with `Throughput::Bytes`
//! (8 bytes per pixel: RGBA read and written).

mod common;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gpu::filter::Filter;
use gpu::Backend;
use image::RgbaImage;
use std::hint::black_box;

/// One group per filter and image size (named `{prefix}{filter}/{w}x{h}`),
/// each of `backends` side by side on the same image.
fn bench_filters(
    c: &mut Criterion,
    prefix: &str,
    backends: &[Backend],
    filters: &[&str],
    sizes: &[(u32, u32)],
) {
    let contexts = common::contexts(backends);
    for text in filters {
        let filter: Filter = text.parse().expect("a valid filter");
        for &(w, h) in sizes {
            let img = RgbaImage::from_fn(w, h, |x, y| {
                image::Rgba([(x * 7 + y * 13) as u8, (x ^ y) as u8, (x * y) as u8, 255])
            });
            let mut group = c.benchmark_group(format!("{prefix}{text}/{w}x{h}"));
            group.throughput(Throughput::Bytes(8 * w as u64 * h as u64));
            for (backend, ctx) in &contexts {
                group.bench_function(BenchmarkId::from_parameter(backend), |b| {
                    b.iter(|| black_box(ctx.filter(&img, &filter).unwrap()))
                });
            }
            group.finish();
        }
    }
}

fn filter_benches(c: &mut Criterion) {
    bench_filters(
        c,
        "",
        &[Backend::Scalar, Backend::Cpu, Backend::Gpu, Backend::Auto],
        &["blur:3", "box:2", "sobel", "sharpen:1.5:2"],
        &[(256, 256), (1920, 1080)],
    );
}

/// Small images on the CPU backend, where the dispatcher's plan runs a
/// filter on the calling thread: waking rayon's pool would cost more than
/// it saves.
fn small_image_benches(c: &mut Criterion) {
    bench_filters(
        c,
        "small/",
        &[Backend::Cpu],
        &["blur:1", "box:2", "grayscale"],
        &[(32, 32), (96, 96)],
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = filter_benches
}
criterion_group! {
    name = small;
    config = Criterion::default();
    targets = small_image_benches
}
criterion_main!(benches, small);
