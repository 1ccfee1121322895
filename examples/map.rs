//! Runs a few elementwise maps on every backend and shows, for each call,
//! which backend ran it, why, and how long it took.
//!
//! ```text
//! cargo run --release --example map                 # 2^22 elements, every backend
//! cargo run --release --example map -- --n 1000 --backend auto
//! ```
//! Set `RUST_LOG=gpu=debug` to see the dispatcher's events as well.

use anyhow::Result;
use clap::Parser;
use gpu::{Backend, Context, Expr};
use std::time::Instant;

#[derive(Parser)]
#[command(about = "Elementwise maps on every backend, with the dispatcher's decisions")]
struct Args {
    /// Elements per array.
    #[arg(long, default_value_t = 1 << 22)]
    n: usize,
    /// Run only this backend (auto, gpu, cpu, scalar); default: all of them.
    #[arg(long)]
    backend: Option<Backend>,
}

type Job = (&'static str, fn(Expr) -> Expr);

const JOBS: [Job; 3] = [
    ("x * 2 + 1", |v| v * 2.0 + 1.0),
    ("sin(x) * exp(-x)", |v| v.sin() * (-v).exp()),
    ("relu(x * x - 0.25).sqrt()", |v| {
        (v * v - 0.25).max(0.0).sqrt()
    }),
];

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let x: Vec<f32> = (0..args.n).map(|i| (i % 1000) as f32 / 1000.0).collect();
    let backends = match args.backend {
        Some(b) => vec![b],
        None => vec![Backend::Auto, Backend::Cpu, Backend::Scalar, Backend::Gpu],
    };
    println!("{} elements\n", args.n);
    for backend in backends {
        let ctx = match Context::new(backend) {
            Ok(ctx) => ctx,
            Err(e) => {
                println!("{backend:>6}: unavailable: {e}\n");
                continue;
            }
        };
        if backend == Backend::Gpu {
            println!("{backend:>6}: adapter {}", gpu::adapter()?);
        }
        let mut out = vec![0.0f32; args.n];
        for (name, f) in JOBS {
            // The first call compiles the kernel; the second shows the steady state.
            let t0 = Instant::now();
            ctx.map_into(&x, &mut out, f)?;
            let first = t0.elapsed();
            let t1 = Instant::now();
            ctx.map_into(&x, &mut out, f)?;
            let second = t1.elapsed();
            let d = ctx.last_dispatch().expect("a call was made");
            println!(
                "{backend:>6}: {name:<28} first {:>9.3} ms, then {:>9.3} ms  [{d}]",
                first.as_secs_f64() * 1e3,
                second.as_secs_f64() * 1e3
            );
        }
        println!();
    }
    Ok(())
}
