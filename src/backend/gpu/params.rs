//! The uniform block every shader reads (`struct Params` in `shaders/ops.wgsl`).

/// Mirrors `struct Params` in `shaders/ops.wgsl`, field for field.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct Params {
    n: u32,
    row_stride: u32,
    inf: f32,
    nan: f32,
    zero_a: u32,
    zero_b: u32,
    zero_c: u32,
    pad: u32,
}

impl Params {
    /// `n` elements; `row_stride` invocations per row of the grid.
    pub fn new(n: u32, row_stride: u32) -> Params {
        Params {
            n,
            row_stride,
            inf: f32::INFINITY,
            nan: f32::NAN,
            zero_a: 0,
            zero_b: 0,
            zero_c: 0,
            pad: 0,
        }
    }
}
