//! Shared test machinery: contexts per backend (with the GPU skip rule),
//! inputs, and the comparison against the scalar oracle.

pub mod bounds;

use gpu::{Backend, Context, Kernel};
use std::io::Write;
use std::sync::OnceLock;

pub use bounds::Model;

/// Whether a missing adapter must fail the GPU tests (`GPU_REQUIRE_ADAPTER=1`).
pub fn adapter_required() -> bool {
    std::env::var("GPU_REQUIRE_ADAPTER").is_ok_and(|v| v == "1")
}

/// Writes straight to the terminal, past libtest's output capture, so that a
/// skipped GPU case is visible in a passing run.
pub fn announce(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

/// A context for `backend`, or `None` (announced) when the GPU is missing
/// and not required. Panics when the GPU is required but missing.
pub fn context(backend: Backend, test: &str) -> Option<Context> {
    match Context::new(backend) {
        Ok(ctx) => Some(ctx),
        Err(e) if backend == Backend::Gpu && !adapter_required() => {
            static ONCE: OnceLock<()> = OnceLock::new();
            ONCE.get_or_init(|| {
                announce(&format!(
                    "note: no GPU adapter ({e}); GPU tests are SKIPPED"
                ))
            });
            announce(&format!("SKIPPED (no GPU adapter): {test}"));
            None
        }
        Err(e) => {
            panic!("{backend} backend unavailable: {e} (GPU_REQUIRE_ADAPTER=1 requires an adapter)")
        }
    }
}

/// The tolerance model for `backend`.
pub fn model(backend: Backend) -> Model {
    match backend {
        Backend::Scalar => bounds::SCALAR,
        Backend::Cpu => bounds::CPU,
        Backend::Gpu => bounds::GPU,
        Backend::Auto => bounds::GPU, // the loosest of the backends Auto may pick
    }
}

/// Values that break naive implementations.
pub fn edge_values() -> Vec<f32> {
    vec![
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        -0.5,
        2.0,
        3.0,
        -3.0,
        std::f32::consts::PI,
        -std::f32::consts::FRAC_PI_2,
        10.0,
        -100.0,
        88.5,
        89.0,
        -87.5,
        -104.0,
        8192.5,
        -1e5,
        1e30,
        -1e30,
        1e-30,
        f32::MAX,
        f32::MIN,
        f32::MIN_POSITIVE,
        f32::MIN_POSITIVE / 4.0, // subnormal
        -1e-40,                  // subnormal
        f32::from_bits(1),       // smallest subnormal
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        -f32::NAN,
    ]
}

/// Deterministic pseudo-random values in `[lo, hi)` (xorshift; no dependency).
pub fn random(n: usize, seed: u64, lo: f32, hi: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let u = (s >> 40) as f32 / (1u64 << 24) as f32;
            lo + (hi - lo) * u
        })
        .collect()
}

/// Runs `kernel` on `ctx` and checks every element against the scalar
/// oracle within the backend's bounds. Returns how many elements were
/// checked (the rest had undetermined results).
pub fn check(ctx: &Context, kernel: &Kernel, inputs: &[&[f32]]) -> usize {
    let n = inputs.first().map_or(0, |x| x.len());
    let mut out = vec![f32::from_bits(0x7fc0_1234); n];
    ctx.run(kernel, inputs, &mut out)
        .unwrap_or_else(|e| panic!("{} failed on {kernel}: {e}", ctx.backend()));
    let m = model(ctx.backend());
    let mut args = vec![0.0; inputs.len()];
    let mut checked = 0;
    let mut failures = Vec::new();
    for (i, &got) in out.iter().enumerate() {
        for (a, x) in args.iter_mut().zip(inputs) {
            *a = x[i];
        }
        let (want, d) = bounds::bound(kernel, &args, &m);
        if !d.is_finite() {
            continue;
        }
        checked += 1;
        if !bounds::accept(got, want, d) && failures.len() < 8 {
            failures.push(format!(
                "  [{i}] inputs {args:?}: got {got:e} ({:#010x}), oracle {want:e} ({:#010x}), allowed ±{d:e}",
                got.to_bits(),
                want.to_bits()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} backend disagrees with the scalar oracle on `{kernel}` ({n} elements):\n{}",
        ctx.backend(),
        failures.join("\n")
    );
    checked
}
