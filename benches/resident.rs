//! Criterion benches for device-resident data (`gpu::Array`, `gpu::Image`):
//! a fused chain of maps evaluated on the device, a reduction fused with a
//! map, and a filter chain on a resident image; every backend side by side
//! on the same input, with `Throughput::Bytes`.

mod common;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gpu::filter::Filter;
use gpu::Backend;

fn resident_benches(c: &mut Criterion) {
    let contexts = common::contexts(&[Backend::Scalar, Backend::Cpu, Backend::Gpu, Backend::Auto]);
    for n in [1usize << 16, 1 << 20] {
        let x: Vec<f32> = (0..n).map(|i| (i % 1000) as f32 / 1000.0).collect();
        let arrays: Vec<_> = contexts
            .iter()
            .map(|(b, ctx)| (*b, ctx.array(&x).unwrap()))
            .collect();
        let mut group = c.benchmark_group(format!("array_chain/{n}"));
        group.throughput(Throughput::Bytes(8 * n as u64));
        for (backend, a) in &arrays {
            group.bench_function(BenchmarkId::from_parameter(backend), |b| {
                b.iter(|| {
                    let y = a.map(|v| v * 2.0).unwrap().map(|v| v + 1.0).unwrap();
                    y.eval().unwrap().wait().unwrap()
                })
            });
        }
        group.finish();
        let mut group = c.benchmark_group(format!("array_sum_squares/{n}"));
        group.throughput(Throughput::Bytes(4 * n as u64));
        for (backend, a) in &arrays {
            group.bench_function(BenchmarkId::from_parameter(backend), |b| {
                b.iter(|| a.map(|v| v * v).unwrap().sum().unwrap())
            });
        }
        group.finish();
    }
    let (w, h) = (1024u32, 768u32);
    let img = image::RgbaImage::from_fn(w, h, |x, y| {
        image::Rgba([(x * 7 + y * 13) as u8, (x ^ y) as u8, (x * y) as u8, 255])
    });
    let chain = Filter::parse_chain("blur:2,sobel").unwrap();
    let mut group = c.benchmark_group(format!("image_chain/{w}x{h}"));
    group.throughput(Throughput::Bytes(8 * w as u64 * h as u64));
    for (backend, ctx) in contexts.iter().filter(|(b, _)| *b != Backend::Scalar) {
        let resident = ctx.image(&img).unwrap();
        group.bench_function(BenchmarkId::from_parameter(backend), |b| {
            b.iter(|| resident.filter_chain(&chain).unwrap().to_rgba().unwrap())
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = resident_benches
}
criterion_main!(benches);
