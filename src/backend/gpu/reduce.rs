//! Reductions on the GPU, fused with the map kernel: every invocation folds a
//! grid-stride run of `kernel(inputs…)`, every workgroup folds its
//! invocations (with subgroup operations where the adapter has them), and
//! the host combines the workgroups' results pairwise.
//!
//! Inputs are processed in chunks (as for maps) so any length works; at most
//! [`MAX_GROUPS`] workgroups run per chunk, so the grid never exceeds the
//! per-dimension limit however long the input.

use super::device::Device;
use super::dispatch::{encode, Bindings};
use super::map::{chunk_elements, read_back, POOL, WORKGROUP_SIZE};
use super::params::Params;
use super::pipelines::{pipeline, Family};
use crate::error::Result;
use crate::expr::Kernel;
use crate::reduce::Reduce;

/// Most workgroups per chunk: enough to fill a large GPU, few enough that
/// reading back and combining their results costs nothing.
pub(crate) const MAX_GROUPS: usize = 1024;

/// Reduces `kernel(inputs…)` over `n > 0` elements with `op`.
pub(crate) fn reduce(
    device: &Device,
    kernel: &Kernel,
    inputs: &[&[f32]],
    n: usize,
    op: Reduce,
    subgroups: bool,
) -> Result<f32> {
    let subgroups = subgroups && device.summary.subgroups;
    let pipeline = pipeline(device, kernel, Family::Reduce { op, subgroups })?;
    let d = &device.device;
    let chunk = chunk_elements(device).min(n);
    let bytes = (chunk * 4) as u64;
    let max = device.limits.max_buffer_size;
    use wgpu::BufferUsages as U;
    let uniform = POOL.acquire(
        d,
        std::mem::size_of::<Params>() as u64,
        U::UNIFORM | U::COPY_DST,
        max,
    );
    let in0 = POOL.acquire(d, bytes, U::STORAGE | U::COPY_DST, max);
    let in1 = (inputs.len() > 1).then(|| POOL.acquire(d, bytes, U::STORAGE | U::COPY_DST, max));
    let groups_bytes = (MAX_GROUPS * 4) as u64;
    let result = POOL.acquire(d, groups_bytes, U::STORAGE | U::COPY_SRC, max);
    let readback = POOL.acquire(d, groups_bytes, U::MAP_READ | U::COPY_DST, max);
    let bindings = Bindings {
        uniform: &uniform,
        in0: &in0,
        in1: in1.as_deref(),
        out: &result,
    };
    let bind_group = bindings.bind_group(device, &pipeline);
    let mut partials = Vec::new();
    for start in (0..n).step_by(chunk) {
        let end = (start + chunk).min(n);
        let len = end - start;
        let groups = len.div_ceil(WORKGROUP_SIZE as usize).clamp(1, MAX_GROUPS);
        let q = &device.queue;
        q.write_buffer(&in0, 0, bytemuck::cast_slice(&inputs[0][start..end]));
        if let Some(in1) = &in1 {
            q.write_buffer(in1, 0, bytemuck::cast_slice(&inputs[1][start..end]));
        }
        let params = Params::new(len as u32, groups as u32 * WORKGROUP_SIZE);
        let mut encoder = encode(
            device,
            &pipeline,
            &bind_group,
            &uniform,
            params,
            (groups as u32, 1),
        );
        let result_bytes = (groups * 4) as u64;
        encoder.copy_buffer_to_buffer(&result, 0, &readback, 0, result_bytes);
        let submission = q.submit([encoder.finish()]);
        let mut part = vec![0.0f32; groups];
        read_back(device, &readback, result_bytes, submission, &mut part)?;
        partials.push(op.combine_pairwise(&part));
    }
    Ok(op.combine_pairwise(&partials))
}
