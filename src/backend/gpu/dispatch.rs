//! Binding and dispatching a compiled kernel: the steps every GPU call
//! shares, whatever holds its data (host slices streamed through pooled
//! buffers, or arrays already on the device).

use super::buffers::{Pooled, POOL};
use super::device::Device;
use super::params::Params;
use super::pipelines::Pipeline;
use super::transfer;
use crate::error::Result;

/// The buffers a kernel binds (see `shaders/ops.wgsl`).
pub(crate) struct Bindings<'a> {
    pub uniform: &'a wgpu::Buffer,
    pub in0: &'a wgpu::Buffer,
    /// Absent for one-input kernels, which never read it; `in0` is bound there.
    pub in1: Option<&'a wgpu::Buffer>,
    pub out: &'a wgpu::Buffer,
}

impl Bindings<'_> {
    /// The bind group for `pipeline`.
    pub fn bind_group(&self, device: &Device, pipeline: &Pipeline) -> wgpu::BindGroup {
        fn entry(binding: u32, buffer: &wgpu::Buffer) -> wgpu::BindGroupEntry<'_> {
            wgpu::BindGroupEntry {
                binding,
                resource: buffer.as_entire_binding(),
            }
        }
        device.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("gpu-compute kernel"),
            layout: &pipeline.layout,
            entries: &[
                entry(0, self.uniform),
                entry(1, self.in0),
                entry(2, self.in1.unwrap_or(self.in0)),
                entry(3, self.out),
            ],
        })
    }
}

/// Writes `params` and records one dispatch of `pipeline` on a `(x, y)` grid
/// into a new encoder, which the caller may extend (copies) and submit.
pub(crate) fn encode(
    device: &Device,
    pipeline: &Pipeline,
    bind_group: &wgpu::BindGroup,
    uniform: &wgpu::Buffer,
    params: Params,
    grid: (u32, u32),
) -> wgpu::CommandEncoder {
    device
        .queue
        .write_buffer(uniform, 0, bytemuck::bytes_of(&params));
    let mut encoder = device
        .device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("gpu-compute kernel"),
        });
    {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("gpu-compute kernel"),
            timestamp_writes: None,
        });
        pass.set_pipeline(&pipeline.pipeline);
        pass.set_bind_group(0, bind_group, &[]);
        pass.dispatch_workgroups(grid.0, grid.1, 1);
    }
    encoder
}

/// Pooled buffers for streaming host slices through a kernel chunk by chunk:
/// the parameters, up to two inputs and the output.
pub(crate) struct Streamed {
    pub uniform: Pooled<'static>,
    pub in0: Pooled<'static>,
    pub in1: Option<Pooled<'static>>,
    pub out: Pooled<'static>,
}

impl Streamed {
    /// Buffers for `inputs` input arrays of `input_bytes` per chunk and an
    /// output of `output_bytes`.
    pub fn acquire(
        device: &Device,
        inputs: usize,
        input_bytes: u64,
        output_bytes: u64,
    ) -> Result<Streamed> {
        use wgpu::BufferUsages as U;
        let (d, max) = (&device.device, device.limits.max_buffer_size);
        let uniform = std::mem::size_of::<Params>() as u64;
        Ok(Streamed {
            uniform: POOL.acquire(d, uniform, U::UNIFORM | U::COPY_DST, max)?,
            in0: POOL.acquire(d, input_bytes, U::STORAGE | U::COPY_DST, max)?,
            in1: (inputs > 1)
                .then(|| POOL.acquire(d, input_bytes, U::STORAGE | U::COPY_DST, max))
                .transpose()?,
            out: POOL.acquire(d, output_bytes, U::STORAGE | U::COPY_SRC, max)?,
        })
    }

    /// The kernel's bindings over these buffers.
    pub fn bindings(&self) -> Bindings<'_> {
        Bindings {
            uniform: &self.uniform,
            in0: &self.in0,
            in1: self.in1.as_deref(),
            out: &self.out,
        }
    }

    /// Uploads elements `range` of every input (see [`transfer::upload`]).
    pub fn upload(
        &self,
        device: &Device,
        inputs: &[&[f32]],
        range: std::ops::Range<usize>,
    ) -> Result<()> {
        transfer::upload(
            device,
            &self.in0,
            0,
            bytemuck::cast_slice(&inputs[0][range.clone()]),
        )?;
        if let Some(in1) = &self.in1 {
            transfer::upload(device, in1, 0, bytemuck::cast_slice(&inputs[1][range]))?;
        }
        Ok(())
    }
}
