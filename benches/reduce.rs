//! Criterion benches for reductions, grouped by kernel and size, every
//! backend side by side on the same input, with `Throughput::Bytes` (4 bytes
//! per element read); and `Cpu` sums at three alignments.

mod common;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gpu::{Backend, Reduce};
use std::hint::black_box;

fn reduce_benches(c: &mut Criterion) {
    let contexts = common::contexts(&[Backend::Scalar, Backend::Cpu, Backend::Gpu, Backend::Auto]);
    for name in ["reduce_sum", "reduce_max", "sum_squares"] {
        for n in [1usize << 10, 1 << 16, 1 << 20] {
            let mut group = c.benchmark_group(format!("{name}/{n}"));
            group.throughput(Throughput::Bytes(4 * n as u64));
            let x: Vec<f32> = (0..n).map(|i| (i % 1000) as f32 / 1000.0).collect();
            for (backend, ctx) in &contexts {
                group.bench_function(BenchmarkId::from_parameter(backend), |b| {
                    b.iter(|| {
                        let r = match name {
                            "reduce_sum" => ctx.sum(&x),
                            "reduce_max" => ctx.max(&x),
                            _ => ctx.map_reduce(&x, |v| v * v, Reduce::Sum),
                        };
                        black_box(r.unwrap())
                    })
                });
            }
            group.finish();
        }
    }
}

/// `Cpu` sums of the same values starting on a cache line and 4 or 9
/// values past one: host slices come at any alignment.
fn alignment_benches(c: &mut Criterion) {
    let ctx = gpu::Context::new(Backend::Cpu).expect("the CPU backend is always there");
    let buf: Vec<f32> = (0..40_000).map(|i| (i % 97) as f32).collect();
    let line = (0..16)
        .find(|&k| (buf[k..].as_ptr() as usize).is_multiple_of(64))
        .expect("a 64-byte boundary within 16 values of a 4-byte aligned start");
    for n in [1usize << 10, 1 << 13] {
        let mut group = c.benchmark_group(format!("reduce_sum_alignment/{n}"));
        group.throughput(Throughput::Bytes(4 * n as u64));
        for offset in [0usize, 4, 9] {
            let x = &buf[line + offset..line + offset + n];
            group.bench_function(BenchmarkId::new("values_past_a_line", offset), |b| {
                b.iter(|| black_box(ctx.sum(black_box(x)).unwrap()))
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = reduce_benches, alignment_benches
}
criterion_main!(benches);
