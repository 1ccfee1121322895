//! Every WGSL file in `shaders/` and every shader the code generator emits
//! must compile: parsed and validated by naga, the front end wgpu itself
//! uses. No adapter is needed, so these run everywhere.

use gpu::__private::{map_shader, reduce_shader, strip_region, OPS};
use gpu::expr::{BinaryOp, UnaryOp};
use gpu::Kernel;
use wgpu::naga;

/// Parses and validates `source`, with the capabilities the library may request.
pub fn validate(name: &str, source: &str) {
    validate_with(name, source, naga::valid::Capabilities::SUBGROUP)
}

/// Parses and validates `source` with exactly `capabilities`.
pub fn validate_with(name: &str, source: &str, capabilities: naga::valid::Capabilities) {
    let module = naga::front::wgsl::parse_str(source)
        .unwrap_or_else(|e| panic!("{name} does not parse:\n{}", e.emit_to_string(source)));
    naga::valid::Validator::new(naga::valid::ValidationFlags::all(), capabilities)
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name} does not validate:\n{}", e.emit_to_string(source)));
}

#[test]
fn every_wgsl_file_compiles() {
    let mut dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    if !dir.exists() {
        // A prebuilt test binary run from a copy of the repository elsewhere.
        dir = std::path::PathBuf::from("shaders");
    }
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "wgsl") {
            let source = std::fs::read_to_string(&path).unwrap();
            let name = path.display().to_string();
            // Entry files say so in their header; every other file is a shader on its own.
            if !source.contains("Appended to ops.wgsl") {
                validate(&name, &source);
            } else {
                // Entry files are compiled appended to ops.wgsl, as the library does,
                // and without their subgroup regions on adapters that lack them.
                validate(&name, &format!("{OPS}\n{source}"));
                let portable = format!("{OPS}\n{}", strip_region(&source, "subgroups"));
                validate_with(
                    &format!("{name} without subgroups"),
                    &portable,
                    naga::valid::Capabilities::empty(),
                );
            }
            count += 1;
        }
    }
    assert!(
        count >= 3,
        "expected ops, map and reduce in {}, found {count} files",
        dir.display()
    );
}

#[test]
fn generated_shaders_compile_for_every_operation_and_constant() {
    let mut kernels = Vec::new();
    for op in UnaryOp::ALL {
        kernels.push(Kernel::unary(|v| crate::properties::unary_expr(op, v)).unwrap());
    }
    for op in BinaryOp::ALL {
        kernels.push(Kernel::binary(|a, b| crate::conformance::binary_expr(op, a, b)).unwrap());
    }
    kernels.push(Kernel::binary(|c, v| c.select(v, 2.0).clamp(-1.0, v)).unwrap());
    for c in [
        0.0,
        -0.0,
        1e-40,
        -1e-45,
        f32::MAX,
        f32::MIN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        0.1,
        -7.5,
    ] {
        kernels.push(Kernel::unary(|v| v + c).unwrap());
    }
    kernels.push(Kernel::unary(|_| gpu::Expr::constant(3.0)).unwrap());
    kernels.push(Kernel::binary(|_, b| b).unwrap());
    for k in &kernels {
        validate(&format!("the map shader for `{k}`"), &map_shader(k));
        validate(
            &format!("the reduce shader for `{k}`"),
            &reduce_shader(k, true),
        );
        validate_with(
            &format!("the portable reduce shader for `{k}`"),
            &reduce_shader(k, false),
            naga::valid::Capabilities::empty(),
        );
    }
}
