//! Criterion benches for maps, grouped by kernel and size, every backend side
//! by side on the same input, with `Throughput::Bytes` (8 bytes per element:
//! one f32 read, one written); and tracing a closure on its own.

mod common;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gpu::{Backend, Expr};

type NamedKernel = (&'static str, fn(Expr) -> Expr);

fn kernels() -> [NamedKernel; 2] {
    [
        ("map_affine", |v| v * 2.0 + 1.0),
        ("map_transcend", |v| v.sin() * (-v).exp()),
    ]
}

fn map_benches(c: &mut Criterion) {
    let contexts = common::contexts(&[Backend::Scalar, Backend::Cpu, Backend::Gpu, Backend::Auto]);
    for (name, f) in kernels() {
        for n in [1usize << 10, 1 << 16, 1 << 20] {
            let mut group = c.benchmark_group(format!("{name}/{n}"));
            group.throughput(Throughput::Bytes(8 * n as u64));
            let x: Vec<f32> = (0..n).map(|i| (i % 1000) as f32 / 1000.0).collect();
            let mut out = vec![0.0f32; n];
            for (backend, ctx) in &contexts {
                group.bench_function(BenchmarkId::from_parameter(backend), |b| {
                    b.iter(|| ctx.map_into(&x, &mut out, f).unwrap())
                });
            }
            group.finish();
        }
    }
}

/// Tracing a closure into a kernel, which every call with a closure pays
/// before any backend runs.
fn trace_benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("trace");
    for (name, f) in kernels() {
        group.bench_function(name, |b| {
            b.iter(|| gpu::Kernel::unary(f).unwrap());
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = map_benches, trace_benches
}
criterion_main!(benches);
