//! The instruction sets hot CPU functions are compiled for.
//!
//! [`simd_fn!`] wraps a function in `multiversion` with one list of targets:
//! AVX-512 (F/BW/CD/DQ/VL), AVX2 + FMA and SSE4.2 on x86-64, NEON on
//! aarch64, and plain code elsewhere. The best version for the running CPU
//! is chosen once, at run time, so a `cargo build --release` without any
//! `target-cpu` flag runs AVX-512 code where the CPU has it.

/// Defines a function compiled for every SIMD target, dispatched at run time.
macro_rules! simd_fn {
    ($(#[$meta:meta])* $vis:vis fn $($rest:tt)*) => {
        $(#[$meta])*
        #[multiversion::multiversion(targets(
            "x86_64+avx512f+avx512bw+avx512cd+avx512dq+avx512vl+avx2+fma",
            "x86_64+avx2+fma",
            "x86_64+sse4.2",
            "aarch64+neon"
        ))]
        $vis fn $($rest)*
    };
}

pub(crate) use simd_fn;
