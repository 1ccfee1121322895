use gpu::__private::math;
fn ulp(x: f64) -> f64 {
    let f = (x as f32).abs();
    if f == 0.0 || !f.is_finite() {
        return f32::from_bits(1) as f64;
    };
    (f32::from_bits(f.to_bits() + 1) - f) as f64
}
fn main() {
    let fns: [(&str, fn(f32) -> f32, fn(f64) -> f64, f32, f32); 6] = [
        ("sin", math::sin, f64::sin, -8192.0, 8192.0),
        ("cos", math::cos, f64::cos, -8192.0, 8192.0),
        ("tan", math::tan, f64::tan, -100.0, 100.0),
        ("exp", math::exp, f64::exp, -87.0, 88.0),
        ("ln", math::ln, f64::ln, 1e-30, 1e30),
        ("tanh", math::tanh, f64::tanh, -12.0, 12.0),
    ];
    for (name, f, r, lo, hi) in fns {
        let (mut worst_ulp, mut worst_abs, mut at) = (0f64, 0f64, 0f32);
        let (mut wu_std, mut wa_std) = (0f64, 0f64);
        let n = 4_000_000;
        for i in 0..n {
            let x = if name == "ln" {
                (lo.ln() + (hi.ln() - lo.ln()) * i as f32 / n as f32).exp()
            } else {
                lo + (hi - lo) * (i as f32 / n as f32)
            };
            let e = r(x as f64);
            let got = f(x) as f64;
            let err = (got - e).abs();
            let u = err / ulp(e);
            if e.abs() > 1e-3 && u > worst_ulp {
                worst_ulp = u;
                at = x;
            }
            if e.abs() <= 1e-3 {
                worst_abs = worst_abs.max(err / (1.0 + (x as f64).abs()));
            }
            let std = match name {
                "sin" => x.sin(),
                "cos" => x.cos(),
                "tan" => x.tan(),
                "exp" => x.exp(),
                "ln" => x.ln(),
                _ => x.tanh(),
            } as f64;
            wu_std = wu_std.max((std - e).abs() / ulp(e));
            wa_std = wa_std.max((std - e).abs());
        }
        // Also ulp error ignoring points where |e| < 1e-3 (near zeros)
        println!("{name}: max ulp {worst_ulp:.2} at {at}, max abs/(1+|x|) {worst_abs:e}; std: {wu_std:.2} ulp");
    }
}
