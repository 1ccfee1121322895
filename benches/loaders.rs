//! Criterion benches for the loaders and the batch pipeline: 16 `.npy`
//! files loaded into arrays on each backend, and a small batch of images
//! through a filter chain, sequential and pipelined, with
//! `Throughput::Bytes` (bytes of the files).

mod common;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures_util::StreamExt;
use gpu::io::{Batch, Job, Loader};
use gpu::Backend;

fn loader_benches(c: &mut Criterion) {
    let dir =
        std::env::temp_dir().join(format!("gpu-compute-bench-loaders-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let values: Vec<f32> = (0..1 << 18).map(|i| i as f32).collect();
    let paths: Vec<_> = (0..16)
        .map(|i| {
            let p = dir.join(format!("a{i}.npy"));
            std::fs::write(&p, gpu::__private::encode_npy_f32(&values, &[values.len()])).unwrap();
            p
        })
        .collect();
    let bytes: u64 = paths
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut group = c.benchmark_group("load_npy/16x1MiB");
    group.throughput(Throughput::Bytes(bytes));
    for (backend, _) in common::contexts(&[Backend::Scalar, Backend::Cpu, Backend::Gpu]) {
        let loader = Loader::new(backend).unwrap().concurrency(8);
        group.bench_function(BenchmarkId::from_parameter(backend), |b| {
            b.iter(|| {
                let loaded: Vec<_> = rt.block_on(loader.load_paths(paths.clone()).collect());
                assert!(loaded.iter().all(|l| l.result.is_ok()));
            })
        });
    }
    group.finish();
    let images: Vec<_> = (0..8)
        .map(|i| {
            let p = dir.join(format!("img{i}.png"));
            let img = image::RgbaImage::from_fn(640, 480, |x, y| {
                image::Rgba([(x + i) as u8, y as u8, (x ^ y) as u8, 255])
            });
            gpu::io::save_image(&img, &p).unwrap();
            p
        })
        .collect();
    let bytes: u64 = 8 * 8 * 640 * 480;
    let chain = gpu::filter::Filter::parse_chain("blur:2,sobel").unwrap();
    let batch = Batch::new(Job::Filters(chain), dir.join("out")).backend(Backend::Cpu);
    let mut group = c.benchmark_group("batch/8x640x480");
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("sequential", |b| {
        b.iter(|| {
            rt.block_on(batch.run_sequential(images.clone(), |_| {}))
                .unwrap()
        })
    });
    group.bench_function("pipeline", |b| {
        b.iter(|| rt.block_on(batch.run(images.clone(), |_| {})).unwrap())
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = loader_benches
}
criterion_main!(benches);
