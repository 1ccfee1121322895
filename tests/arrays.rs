//! `gpu::Array`: device-resident values with lazy, fusing maps, run once
//! per backend against the same calls on host slices.

use crate::support::{context, random};
use gpu::dispatch::Reason;
use gpu::{Array, Backend, Context, Error, Reduce};

/// Sizes around the workgroup size and a prime.
const SIZES: [usize; 6] = [1, 2, 255, 257, 1000, 65_537];

/// Relative closeness for kernels that a backend may evaluate fused or in
/// steps (a GPU compiler may contract `a * b + c`).
fn close(a: f32, b: f32) -> bool {
    a == b || (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1e-30)
}

pub fn chains_fuse_and_match_host_calls(ctx: &Context) {
    for n in SIZES {
        let x = random(n, n as u64, -3.0, 3.0);
        let a = ctx.array(&x).unwrap();
        assert_eq!(a.len(), n);
        assert!(!a.is_pending());
        let y = a.map(|v| v * 2.0).unwrap().map(|v| v + 1.0).unwrap();
        assert!(y.is_pending(), "maps are recorded, not run");
        let shown = format!("{y:?}");
        assert!(shown.contains("x0 * 2 + 1"), "one fused kernel: {shown}");
        let host = ctx.map(&x, |v| v * 2.0 + 1.0).unwrap();
        assert_eq!(y.to_vec().unwrap(), host, "fused chain of {n}");
        // Evaluated once; clones share the values.
        let stored = y.eval().unwrap();
        assert!(!y.is_pending());
        assert_eq!(stored.to_vec().unwrap(), host);
        // A map of an evaluated array reads its values.
        let z = y.map(|v| v - 1.0).unwrap().to_vec().unwrap();
        for (i, (&z, &h)) in z.iter().zip(&host).enumerate() {
            assert!(close(z, h - 1.0), "element {i} of {n}: {z} vs {}", h - 1.0);
        }
    }
}

pub fn map2_fuses_shared_and_distinct_inputs(ctx: &Context) {
    let n = 1001;
    let (xa, xb, xc) = (
        random(n, 1, -2.0, 2.0),
        random(n, 2, -2.0, 2.0),
        random(n, 3, -2.0, 2.0),
    );
    let (a, b, c) = (
        ctx.array(&xa).unwrap(),
        ctx.array(&xb).unwrap(),
        ctx.array(&xc).unwrap(),
    );
    // a·(a+1): one stored input, shared by both sides.
    let shared = a.map2(&a.map(|v| v + 1.0).unwrap(), |p, q| p * q).unwrap();
    // (a+b)·(b−c): three stored inputs, so the right side is computed first.
    let left = a.map2(&b, |p, q| p + q).unwrap();
    let right = b.map2(&c, |p, q| p - q).unwrap();
    let three = left.map2(&right, |p, q| p * q).unwrap();
    let (shared, three) = (shared.to_vec().unwrap(), three.to_vec().unwrap());
    for i in 0..n {
        let want = xa[i] * (xa[i] + 1.0);
        assert!(
            close(shared[i], want),
            "a(a+1)[{i}]: {} vs {want}",
            shared[i]
        );
        let want = (xa[i] + xb[i]) * (xb[i] - xc[i]);
        assert!(
            close(three[i], want),
            "(a+b)(b-c)[{i}]: {} vs {want}",
            three[i]
        );
    }
}

pub fn reductions_fuse_with_pending_maps(ctx: &Context) {
    for n in SIZES {
        let x = random(n, 7 + n as u64, -2.0, 2.0);
        let a = ctx.array(&x).unwrap();
        let squares = a.map(|v| v * v).unwrap();
        for op in Reduce::ALL {
            let got = squares.reduce(op).unwrap();
            let want = ctx.map_reduce(&x, |v| v * v, op).unwrap();
            let tolerance = match op {
                Reduce::Min | Reduce::Max => 0.0,
                Reduce::Product => 4.0 * n as f32 * f32::EPSILON * want.abs(),
                _ => 1e-5 * want.abs(),
            };
            assert!(
                got == want || (got - want).abs() <= tolerance,
                "{op} of {n} squares: array {got}, host {want}"
            );
        }
        assert!(squares.is_pending(), "a reduction stores nothing");
        let mean = a.mean().unwrap();
        let want = ctx.mean(&x).unwrap();
        assert!((mean - want).abs() <= 1e-5, "mean of {n}: {mean} vs {want}");
    }
}

pub fn empty_arrays_and_bad_pairs(ctx: &Context) {
    let empty = ctx.array(&[]).unwrap();
    assert!(empty.is_empty());
    assert_eq!(empty.sum().unwrap(), 0.0);
    assert_eq!(empty.reduce(Reduce::Product).unwrap(), 1.0);
    assert_eq!(
        empty.map(|v| v + 1.0).unwrap().to_vec().unwrap(),
        Vec::<f32>::new()
    );
    let err = empty.min().unwrap_err();
    assert!(matches!(err, Error::EmptyInput { .. }), "{err}");
    let a = ctx.array(&[1.0, 2.0]).unwrap();
    let b = ctx.array(&[1.0, 2.0, 3.0]).unwrap();
    let err = a.map2(&b, |p, q| p + q).unwrap_err();
    assert!(
        err.to_string().contains("2") && err.to_string().contains("3"),
        "{err}"
    );
    let other = if a.backend() == Backend::Scalar {
        Backend::Cpu
    } else {
        Backend::Scalar
    };
    let c = Context::new(other).unwrap().array(&[1.0, 2.0]).unwrap();
    let err = a.map2(&c, |p, q| p + q).unwrap_err();
    assert!(matches!(err, Error::BackendMismatch { .. }), "{err}");
}

/// More than one 128 MiB storage binding: GPU arrays are stored in chunks.
pub fn arrays_larger_than_one_binding(ctx: &Context) {
    let n = (1usize << 25) + 17;
    let value = |i: usize| (i % 4093) as f32 - 2000.0;
    let mut x: Vec<f32> = (0..n).map(value).collect();
    // The largest value sits in the last, 17-element chunk.
    x[n - 3] = 1e6;
    let a = ctx.array_from_vec(x).unwrap();
    let y = a.map(|v| v * 0.5 - 3.0).unwrap();
    let host = y.to_vec().unwrap();
    for (i, &got) in host.iter().enumerate() {
        let v = if i == n - 3 { 1e6 } else { value(i) };
        assert_eq!(got, v * 0.5 - 3.0, "element {i} of {n}");
    }
    let doubled = a.map2(&a, |p, q| p + q).unwrap();
    assert_eq!(doubled.max().unwrap(), 2e6);
}

macro_rules! array_suite {
    ($module:ident, $backend:expr) => {
        mod $module {
            use super::*;

            fn ctx(test: &str) -> Option<Context> {
                context($backend, test)
            }

            #[test]
            fn chains_fuse_and_match_host_calls() {
                if let Some(c) = ctx("arrays::chains_fuse_and_match_host_calls") {
                    super::chains_fuse_and_match_host_calls(&c)
                }
            }
            #[test]
            fn map2_fuses_shared_and_distinct_inputs() {
                if let Some(c) = ctx("arrays::map2_fuses_shared_and_distinct_inputs") {
                    super::map2_fuses_shared_and_distinct_inputs(&c)
                }
            }
            #[test]
            fn reductions_fuse_with_pending_maps() {
                if let Some(c) = ctx("arrays::reductions_fuse_with_pending_maps") {
                    super::reductions_fuse_with_pending_maps(&c)
                }
            }
            #[test]
            fn empty_arrays_and_bad_pairs() {
                if let Some(c) = ctx("arrays::empty_arrays_and_bad_pairs") {
                    super::empty_arrays_and_bad_pairs(&c)
                }
            }
            #[test]
            fn arrays_larger_than_one_binding() {
                if let Some(c) = ctx("arrays::arrays_larger_than_one_binding") {
                    super::arrays_larger_than_one_binding(&c)
                }
            }
        }
    };
}

array_suite!(scalar, Backend::Scalar);
array_suite!(cpu, Backend::Cpu);
array_suite!(gpu_backend, Backend::Gpu);

#[test]
fn auto_places_arrays_by_the_resident_cost_model() {
    let ctx = Context::new(Backend::Auto).unwrap();
    // Two values: the GPU's launch latency alone outweighs them anywhere.
    let small: Array = ctx.array(&[1.0, 2.0]).unwrap();
    let d = ctx.last_dispatch().unwrap();
    assert_eq!((d.op, d.n), ("array", 2));
    assert_eq!(small.backend(), Backend::Cpu, "{d}");
    assert!(matches!(d.reason, Reason::CostModel { .. }), "{d}");
    assert_eq!(small.map(|v| v * v).unwrap().sum().unwrap(), 5.0);
    // 2^24 values: a hardware GPU wins where the model says its resident
    // kernel beats the CPU; a software one never gets them.
    let n = 1 << 24;
    let big = ctx.array(&vec![0.5; n]).unwrap();
    let d = ctx.last_dispatch().unwrap();
    let m = ctx.cost_model();
    let w = gpu::dispatch::Workload {
        n,
        bytes_in: 4.0,
        bytes_out: 4.0,
        work: 2.0,
    };
    let gpu_wins = m.gpu_resident_seconds(&w) < m.cpu_plan(&w).1;
    match gpu::adapter() {
        // Where a reduction would still be faster on the CPU, the array is
        // kept on both devices instead.
        Ok(info) if !info.is_software() && gpu_wins => match big.backend() {
            Backend::Gpu => assert!(matches!(d.reason, Reason::DeviceResident { .. }), "{d}"),
            Backend::Auto => assert!(matches!(d.reason, Reason::KeptOnBoth { .. }), "{d}"),
            other => panic!("{other}: {d}"),
        },
        Ok(info) if info.is_software() && gpu_wins => {
            assert_eq!(big.backend(), Backend::Cpu, "{d}");
            assert!(matches!(d.reason, Reason::GpuIsSoftware { .. }), "{d}");
        }
        _ => assert_eq!(big.backend(), Backend::Cpu, "{d}"),
    }
    assert_eq!(big.sum().unwrap(), n as f32 / 2.0);
}

#[test]
fn gpu_device_copy_moves_the_values() {
    let Some(ctx) = context(Backend::Gpu, "arrays::gpu_device_copy") else {
        return;
    };
    let x = random(4097, 9, -1.0, 1.0);
    let a = ctx.array(&x).unwrap();
    gpu::__private::device_copy(&a).unwrap();
    assert_eq!(a.to_vec().unwrap(), x);
    let cpu = Context::new(Backend::Cpu).unwrap().array(&x).unwrap();
    assert!(gpu::__private::device_copy(&cpu).is_err());
}

/// Transfers of every shape the host-device copies take: at and past the
/// direct path's 1 MiB, one staging buffer (4 MiB) exactly, and more
/// pieces than the ring has buffers, ending in a short one. Through an
/// array (upload, then download) and a host-mode map (both in one call).
#[test]
fn gpu_transfers_round_trip_at_every_piece_boundary() {
    let Some(ctx) = context(Backend::Gpu, "arrays::gpu_transfers_round_trip") else {
        return;
    };
    let mib = (1 << 20) / 4; // values per MiB
    for n in [mib, mib + 1, 4 * mib, 13 * mib + 7] {
        // Distinct, exactly representable values: a misplaced piece shows.
        let x: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 1e6).collect();
        let back = ctx.array(&x).unwrap().to_vec().unwrap();
        if let Some(i) = (0..n).find(|&i| back[i].to_bits() != x[i].to_bits()) {
            panic!(
                "array of {n}: value {i} came back as {} not {}",
                back[i], x[i]
            );
        }
        let negated = ctx.map(&x, |v| -v).unwrap();
        if let Some(i) = (0..n).find(|&i| negated[i] != -x[i]) {
            panic!(
                "map of {n}: value {i} came back as {} not {}",
                negated[i], -x[i]
            );
        }
    }
}
