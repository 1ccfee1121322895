//! Reductions on the GPU, fused with the map kernel: every invocation folds a
//! grid-stride run of `kernel(inputs…)`, every workgroup folds its
//! invocations (with subgroup operations where the adapter has them), and
//! the host combines the workgroups' results pairwise.
//!
//! Inputs are processed in chunks (as for maps) so any length works; at most
//! [`MAX_GROUPS`] workgroups run per chunk, so the grid never exceeds the
//! per-dimension limit however long the input.

use super::device::Device;
use super::dispatch::{encode, Streamed};
use super::map::{chunk_elements, WORKGROUP_SIZE};
use super::params::Params;
use super::pipelines::{pipeline, Family, Pipeline};
use super::transfer::read_back;
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
    let what = || format!("the {op:?} reduction of {kernel} over {n} values");
    device.checked(what, || {
        reduce_unchecked(device, kernel, inputs, n, op, subgroups)
    })
}

fn reduce_unchecked(
    device: &Device,
    kernel: &Kernel,
    inputs: &[&[f32]],
    n: usize,
    op: Reduce,
    subgroups: bool,
) -> Result<f32> {
    let subgroups = subgroups && device.summary.subgroups;
    let pipeline = pipeline(device, kernel, Family::Reduce { op, subgroups })?;
    let chunk = chunk_elements(device).min(n);
    let bufs = Streamed::acquire(
        device,
        inputs.len(),
        (chunk * 4) as u64,
        (MAX_GROUPS * 4) as u64,
    )?;
    let bind_group = bufs.bindings().bind_group(device, &pipeline);
    let readback = super::buffers::POOL.acquire(
        &device.device,
        (MAX_GROUPS * 4) as u64,
        wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        device.limits.max_buffer_size,
    )?;
    let mut partials = Vec::new();
    for start in (0..n).step_by(chunk) {
        let end = (start + chunk).min(n);
        let len = end - start;
        bufs.upload(device, inputs, start..end)?;
        let part = reduce_pass(
            device,
            &pipeline,
            &bind_group,
            &bufs.uniform,
            &bufs.out,
            &readback,
            len,
        )?;
        partials.push(op.combine_pairwise(&part));
    }
    Ok(op.combine_pairwise(&partials))
}

/// Workgroups one reduction dispatch over `len` elements uses: one per
/// [`WORKGROUP_SIZE`] elements, at most [`MAX_GROUPS`].
pub(crate) fn groups_for(len: usize) -> u32 {
    len.div_ceil(WORKGROUP_SIZE as usize).clamp(1, MAX_GROUPS) as u32
}

/// Records one reduction dispatch over `len` elements already bound into a
/// new encoder: the workgroups write their results to `partials`, which are
/// copied to `readback` at byte `offset`. Returns the encoder (to extend
/// or submit) and how many results there are.
#[allow(clippy::too_many_arguments)]
pub(crate) fn encode_reduce_pass(
    device: &Device,
    pipeline: &Pipeline,
    bind_group: &wgpu::BindGroup,
    uniform: &wgpu::Buffer,
    partials: &wgpu::Buffer,
    readback: &wgpu::Buffer,
    offset: u64,
    len: usize,
) -> (wgpu::CommandEncoder, usize) {
    let groups = groups_for(len);
    let params = Params::new(len as u32, groups * WORKGROUP_SIZE);
    let mut encoder = encode(device, pipeline, bind_group, uniform, params, (groups, 1));
    encoder.copy_buffer_to_buffer(partials, 0, readback, offset, u64::from(groups) * 4);
    (encoder, groups as usize)
}

/// One reduction dispatch over `len` elements already bound: at most
/// [`MAX_GROUPS`] workgroups write their results to `partials`, which come
/// back through `readback`. Returns the workgroups' results.
pub(crate) fn reduce_pass(
    device: &Device,
    pipeline: &Pipeline,
    bind_group: &wgpu::BindGroup,
    uniform: &wgpu::Buffer,
    partials: &wgpu::Buffer,
    readback: &wgpu::Buffer,
    len: usize,
) -> Result<Vec<f32>> {
    let (encoder, groups) = encode_reduce_pass(
        device, pipeline, bind_group, uniform, partials, readback, 0, len,
    );
    let submission = device.queue.submit([encoder.finish()]);
    let mut part = vec![0.0f32; groups];
    read_back(device, readback, submission, &mut part)?;
    Ok(part)
}
