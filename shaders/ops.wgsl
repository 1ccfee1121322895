// Shared by every kernel family: the parameters, the bindings, the `op_*`
// helpers, and the traced expression `kernel`.
//
// A shader is this file, with the function `kernel` (from its `fn kernel`
// line to the end of the file) replaced by the traced expression, followed
// by an entry file (map.wgsl, reduce.wgsl). Those entry files are not
// shaders on their own; the tests compile each of them appended to this one.
//
// The `op_*` helpers give every operation the library's semantics (those of
// Rust's f32, see src/expr/ops.rs) where WGSL leaves NaN, infinity or
// precision to the implementation. NaN tests are done on the bits, so that no
// compiler can assume them away.
//
// WGSL also lets shader compilers simplify as if NaN and infinity did not
// exist (lavapipe folds `x - x` to 0 and `x * 0` to 0, which are NaN for
// infinite x). The generated kernel therefore passes every operand through
// `oa`/`ob`/`oc`, an OR with a zero the host supplies at run time: the
// compiler cannot see through it, so it can neither apply such identities
// nor fuse a multiply and an add into one rounding. Each operand slot has
// its own zero, so that equal operands stay distinct values.

struct Params {
    // Elements in this dispatch.
    n: u32,
    // Invocations per row of the dispatch grid (workgroups in x * 256): maps
    // use grids taller than one row when more than 65535 workgroups are
    // needed; reductions use it as the stride of their grid-stride loop.
    row_stride: u32,
    // +infinity and NaN, supplied by the host: WGSL cannot spell them as constants.
    inf: f32,
    nan: f32,
    // Zeros the compiler cannot know, one per operand slot (see above).
    zero_a: u32,
    zero_b: u32,
    zero_c: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> in0: array<f32>;
@group(0) @binding(2) var<storage, read> in1: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

fn oa(x: f32) -> f32 {
    return bitcast<f32>(bitcast<u32>(x) | params.zero_a);
}

fn ob(x: f32) -> f32 {
    return bitcast<f32>(bitcast<u32>(x) | params.zero_b);
}

fn oc(x: f32) -> f32 {
    return bitcast<f32>(bitcast<u32>(x) | params.zero_c);
}

fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

fn is_inf(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) == 0x7f800000u;
}

fn is_finite(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

fn truth(b: bool) -> f32 {
    return select(0.0, 1.0, b);
}

// Division refined by one Newton step: WGSL only promises 2.5 ulp, and only
// for |b| in [2^-126, 2^126] (NVIDIA's a * (1 / b) flushes 1 / b to zero
// above that), so huge divisors are scaled down by 4 first, exactly.
fn op_div(a: f32, b: f32) -> f32 {
    let s = select(1.0, 0.25, abs(b) > 8.507059e37);
    let sa = a * s;
    let sb = b * s;
    let q = sa / sb;
    let r = fma(-q, sb, sa);
    let refined = q + r / sb;
    let usable = is_finite(q) && q != 0.0 && is_finite(refined);
    return select(q, refined, usable);
}

// Square root refined by one Newton step: WGSL allows sqrt as 1/inversesqrt.
fn op_sqrt(x: f32) -> f32 {
    let s = sqrt(x);
    let r = fma(-s, s, x);
    let refined = s + r * (0.5 / s);
    let usable = x > 0.0 && is_finite(x) && is_finite(refined);
    let exact_special = select(s, params.nan, x < 0.0 || is_nan(x));
    return select(exact_special, refined, usable);
}

fn op_min(a: f32, b: f32) -> f32 {
    return select(select(min(a, b), a, is_nan(b)), b, is_nan(a));
}

fn op_max(a: f32, b: f32) -> f32 {
    return select(select(max(a, b), a, is_nan(b)), b, is_nan(a));
}

fn op_clamp(v: f32, lo: f32, hi: f32) -> f32 {
    return select(op_min(op_max(v, lo), hi), v, is_nan(v));
}

fn op_select(c: f32, t: f32, f: f32) -> f32 {
    return select(f, t, c != 0.0 || is_nan(c));
}

fn op_lt(a: f32, b: f32) -> f32 {
    return truth(a < b && !is_nan(a) && !is_nan(b));
}

fn op_le(a: f32, b: f32) -> f32 {
    return truth(a <= b && !is_nan(a) && !is_nan(b));
}

fn op_gt(a: f32, b: f32) -> f32 {
    return truth(a > b && !is_nan(a) && !is_nan(b));
}

fn op_ge(a: f32, b: f32) -> f32 {
    return truth(a >= b && !is_nan(a) && !is_nan(b));
}

fn op_eq(a: f32, b: f32) -> f32 {
    return truth(a == b && !is_nan(a));
}

fn op_floor(x: f32) -> f32 {
    return select(floor(x), x, !is_finite(x));
}

fn op_ceil(x: f32) -> f32 {
    return select(ceil(x), x, !is_finite(x));
}

// Reduces |x| > pi by whole turns (two-part 2*pi) before the builtin, which
// the Vulkan spec only bounds on [-pi, pi].
fn reduce_turns(x: f32) -> f32 {
    let k = round(x * 0.15915494309189535);
    let r = fma(-k, 6.28125, x);
    let reduced = fma(-k, 0.0019353071795864769, r);
    return select(x, reduced, abs(x) > 3.1415927);
}

fn op_sin(x: f32) -> f32 {
    return select(sin(reduce_turns(x)), params.nan, !is_finite(x));
}

fn op_cos(x: f32) -> f32 {
    return select(cos(reduce_turns(x)), params.nan, !is_finite(x));
}

fn op_tan(x: f32) -> f32 {
    let r = reduce_turns(x);
    return select(sin(r) / cos(r), params.nan, !is_finite(x));
}

fn op_exp(x: f32) -> f32 {
    var y = exp(x);
    y = select(y, params.inf, x > 88.72284);
    y = select(y, 0.0, x < -103.97208);
    return select(y, x, is_nan(x));
}

fn op_ln(x: f32) -> f32 {
    var y = log(x);
    y = select(y, -params.inf, x == 0.0);
    y = select(y, params.inf, is_inf(x) && x > 0.0);
    return select(y, params.nan, x < 0.0 || is_nan(x));
}

fn op_tanh(x: f32) -> f32 {
    // tanh(±10) rounds to ±1 in f32; clamping keeps exp-based builtins in range.
    return select(tanh(clamp(x, -10.0, 10.0)), x, is_nan(x));
}

// f32::powf semantics (C99 powf special cases) around exp2(b * log2(|a|)).
fn op_pow(a: f32, b: f32) -> f32 {
    let abs_a = abs(a);
    let b_integral = is_finite(b) && floor(b) == b;
    let b_odd = b_integral && abs(b) < 16777216.0 && fract(b * 0.5) != 0.0;
    var mag = exp2(b * log2(abs_a));
    // Zero and infinite bases, and infinite exponents, without relying on the builtins.
    mag = select(mag, select(0.0, params.inf, b < 0.0), abs_a == 0.0);
    mag = select(mag, select(0.0, params.inf, b > 0.0), is_inf(a));
    mag = select(mag, select(0.0, params.inf, (abs_a > 1.0) == (b > 0.0)), is_inf(b) && abs_a != 1.0);
    var y = select(mag, -mag, b_odd && bitcast<u32>(a) >= 0x80000000u);
    y = select(y, params.nan, a < 0.0 && is_finite(a) && !b_integral && is_finite(b));
    y = select(y, params.nan, is_nan(a) || is_nan(b));
    y = select(y, 1.0, a == 1.0 || b == 0.0 || (a == -1.0 && is_inf(b)));
    return y;
}

fn kernel(x0: f32, x1: f32) -> f32 {
    return x0;
}
