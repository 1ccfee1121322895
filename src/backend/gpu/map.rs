//! Running a map kernel on host slices: upload, dispatch, read back, in
//! chunks.
//!
//! Inputs are processed in chunks of at most [`MAX_CHUNK_BYTES`] per array
//! (and never more than the device's storage-binding limit), so any length
//! works, including arrays larger than one binding. Each chunk's dispatch is
//! a 2D grid when it needs more workgroups than one dimension allows.

use super::device::Device;
use super::dispatch::{encode, Streamed};
use super::params::Params;
use super::pipelines::{pipeline, Family};
use super::transfer;
use crate::error::Result;
use crate::expr::Kernel;

/// Threads per workgroup; must match `@workgroup_size` in `shaders/map.wgsl`
/// and `WORKGROUP` in `shaders/reduce.wgsl`.
pub(crate) const WORKGROUP_SIZE: u32 = 256;

/// Largest chunk per array, in bytes: wgpu's default storage-binding limit.
/// Bigger chunks gain nothing measurable and would make pooled buffers huge.
pub(crate) const MAX_CHUNK_BYTES: u64 = 128 << 20;

/// Elements per chunk on `device`.
pub(crate) fn chunk_elements(device: &Device) -> usize {
    let bytes = MAX_CHUNK_BYTES
        .min(device.limits.max_storage_buffer_binding_size)
        .min(device.limits.max_buffer_size);
    (bytes / 4) as usize
}

/// Values each map invocation computes (see `shaders/map.wgsl`): four
/// loads in flight per invocation rather than one.
pub(crate) const VALUES_PER_INVOCATION: usize = 4;

/// The dispatch grid for a map over `n` values, one invocation per
/// [`VALUES_PER_INVOCATION`]: `(x, y)` workgroups with `x <= max_per_dimension`.
pub(crate) fn grid(n: usize, max_per_dimension: u32) -> (u32, u32) {
    let invocations = n.div_ceil(VALUES_PER_INVOCATION);
    let groups = invocations.div_ceil(WORKGROUP_SIZE as usize).max(1);
    let x = groups.min(max_per_dimension as usize);
    let y = groups.div_ceil(x);
    (x as u32, y as u32)
}

/// `out[i] = kernel(inputs[0][i], …)` on the GPU. Inputs are as long as `out`.
pub(crate) fn map(
    device: &Device,
    kernel: &Kernel,
    inputs: &[&[f32]],
    out: &mut [f32],
) -> Result<()> {
    let n = out.len();
    let what = || format!("the map {kernel} of {n} values");
    device.checked(what, || map_unchecked(device, kernel, inputs, out))
}

fn map_unchecked(
    device: &Device,
    kernel: &Kernel,
    inputs: &[&[f32]],
    out: &mut [f32],
) -> Result<()> {
    let n = out.len();
    if n == 0 {
        return Ok(());
    }
    let pipeline = pipeline(device, kernel, Family::Map)?;
    let chunk = chunk_elements(device).min(n);
    let bytes = (chunk * 4) as u64;
    let bufs = Streamed::acquire(device, inputs.len(), bytes, bytes)?;
    let bind_group = bufs.bindings().bind_group(device, &pipeline);
    let max_groups = device.limits.max_compute_workgroups_per_dimension;
    for start in (0..n).step_by(chunk) {
        let end = (start + chunk).min(n);
        let len = end - start;
        let (gx, gy) = grid(len, max_groups);
        bufs.upload(device, inputs, start..end)?;
        let params = Params::new(len as u32, gx * WORKGROUP_SIZE);
        let encoder = encode(
            device,
            &pipeline,
            &bind_group,
            &bufs.uniform,
            params,
            (gx, gy),
        );
        transfer::download(
            device,
            encoder,
            &bufs.out,
            0,
            bytemuck::cast_slice_mut(&mut out[start..end]),
        )?;
    }
    Ok(())
}
