//! Criterion benches for image filters, grouped by filter and image size,
//! every backend side by side on the same image, with `Throughput::Bytes`
//! (8 bytes per pixel: RGBA read and written).

mod common;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gpu::filter::Filter;
use gpu::Backend;
use image::RgbaImage;
use std::hint::black_box;

fn filter_benches(c: &mut Criterion) {
    let contexts = common::contexts(&[Backend::Scalar, Backend::Cpu, Backend::Gpu, Backend::Auto]);
    for text in ["blur:3", "box:2", "sobel", "sharpen:1.5:2"] {
        let filter: Filter = text.parse().expect("a valid filter");
        for (w, h) in [(256u32, 256u32), (1920, 1080)] {
            let img = RgbaImage::from_fn(w, h, |x, y| {
                image::Rgba([(x * 7 + y * 13) as u8, (x ^ y) as u8, (x * y) as u8, 255])
            });
            let mut group = c.benchmark_group(format!("{text}/{w}x{h}"));
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

/// Small images on the CPU backend, where the dispatcher's plan runs a
/// filter on the calling thread: waking rayon's pool would cost more than
/// it saves.
fn small_image_benches(c: &mut Criterion) {
    let contexts = common::contexts(&[Backend::Cpu]);
    for text in ["blur:1", "box:2", "grayscale"] {
        let filter: Filter = text.parse().expect("a valid filter");
        for (w, h) in [(32u32, 32u32), (96, 96)] {
            let img = RgbaImage::from_fn(w, h, |x, y| {
                image::Rgba([(x * 7 + y * 13) as u8, (x ^ y) as u8, (x * y) as u8, 255])
            });
            let mut group = c.benchmark_group(format!("small/{text}/{w}x{h}"));
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
