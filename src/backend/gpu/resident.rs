//! Arrays already on the device, and kernels run on them without host
//! transfers: what the benchmark's `resident` mode measures (kernel speed).
//! The public device-resident array builds on this.

use super::device::{shared, Device};
use super::dispatch::{encode, Bindings};
use super::map::{chunk_elements, grid, read_back, WORKGROUP_SIZE};
use super::params::Params;
use super::pipelines::{pipeline, Family};
use super::reduce::{reduce_pass, MAX_GROUPS};
use crate::error::{Error, Result};
use crate::expr::Kernel;
use crate::reduce::Reduce;

/// Input arrays uploaded once, with an output array, all on the device.
pub struct GpuResident {
    device: &'static Device,
    n: usize,
    inputs: Vec<wgpu::Buffer>,
    out: wgpu::Buffer,
    partials: wgpu::Buffer,
    readback: wgpu::Buffer,
    uniform: wgpu::Buffer,
}

impl GpuResident {
    /// Uploads `inputs` (equal lengths, at most one storage binding each).
    pub fn upload(inputs: &[&[f32]]) -> Result<GpuResident> {
        let device = shared()?;
        let n = inputs.first().map_or(0, |x| x.len());
        let limit = chunk_elements(device);
        if n == 0 || n > limit || inputs.iter().any(|x| x.len() != n) {
            return Err(Error::Gpu {
                what: "uploading resident arrays".into(),
                reason: format!(
                    "need 1..={limit} elements per array, all the same length; got {n}"
                ),
            });
        }
        use wgpu::BufferUsages as U;
        let d = &device.device;
        let make = |label, size: u64, usage| {
            d.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage,
                mapped_at_creation: false,
            })
        };
        let bytes = (n * 4) as u64;
        let uploaded = inputs
            .iter()
            .map(|x| {
                let b = make(
                    "gpu-compute resident input",
                    bytes,
                    U::STORAGE | U::COPY_DST | U::COPY_SRC,
                );
                device.queue.write_buffer(&b, 0, bytemuck::cast_slice(x));
                b
            })
            .collect();
        let groups = (MAX_GROUPS * 4) as u64;
        Ok(GpuResident {
            device,
            n,
            inputs: uploaded,
            out: make(
                "gpu-compute resident output",
                bytes,
                U::STORAGE | U::COPY_SRC | U::COPY_DST,
            ),
            partials: make(
                "gpu-compute resident partials",
                groups,
                U::STORAGE | U::COPY_SRC,
            ),
            readback: make(
                "gpu-compute resident readback",
                groups,
                U::MAP_READ | U::COPY_DST,
            ),
            uniform: make(
                "gpu-compute resident params",
                std::mem::size_of::<Params>() as u64,
                U::UNIFORM | U::COPY_DST,
            ),
        })
    }

    /// Elements per array.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether the arrays are empty (never: uploads need at least one element).
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    fn bindings<'a>(&'a self, out: &'a wgpu::Buffer) -> Bindings<'a> {
        Bindings {
            uniform: &self.uniform,
            in0: &self.inputs[0],
            in1: self.inputs.get(1),
            out,
        }
    }

    fn wait(&self, submission: wgpu::SubmissionIndex) -> Result<()> {
        self.device
            .device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(submission),
                timeout: None,
            })
            .map(|_| ())
            .map_err(|e| Error::Gpu {
                what: "waiting for a resident kernel".into(),
                reason: e.to_string(),
            })
    }

    /// Runs the map `kernel` into the device-side output and waits for it.
    pub fn map(&self, kernel: &Kernel) -> Result<()> {
        let p = pipeline(self.device, kernel, Family::Map)?;
        let bind_group = self.bindings(&self.out).bind_group(self.device, &p);
        let (gx, gy) = grid(
            self.n,
            self.device.limits.max_compute_workgroups_per_dimension,
        );
        let params = Params::new(self.n as u32, gx * WORKGROUP_SIZE);
        let encoder = encode(
            self.device,
            &p,
            &bind_group,
            &self.uniform,
            params,
            (gx, gy),
        );
        let submission = self.device.queue.submit([encoder.finish()]);
        self.wait(submission)
    }

    /// Copies the first input to the output on the device and waits: the
    /// yardstick for resident kernels (the card's copy bandwidth).
    pub fn copy(&self) -> Result<()> {
        let mut encoder =
            self.device
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("gpu-compute resident copy"),
                });
        encoder.copy_buffer_to_buffer(&self.inputs[0], 0, &self.out, 0, (self.n * 4) as u64);
        let submission = self.device.queue.submit([encoder.finish()]);
        self.wait(submission)
    }

    /// Reads the output of the last [`GpuResident::map`] back to the host.
    pub fn output(&self) -> Result<Vec<f32>> {
        let bytes = (self.n * 4) as u64;
        let staging = self.device.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("gpu-compute resident download"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder =
            self.device
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("gpu-compute resident download"),
                });
        encoder.copy_buffer_to_buffer(&self.out, 0, &staging, 0, bytes);
        let submission = self.device.queue.submit([encoder.finish()]);
        let mut host = vec![0.0f32; self.n];
        read_back(self.device, &staging, bytes, submission, &mut host)?;
        Ok(host)
    }

    /// Reduces `kernel` over the resident inputs; only the workgroups'
    /// results (at most 4 KiB) come back to the host.
    pub fn reduce(&self, kernel: &Kernel, op: Reduce, subgroups: bool) -> Result<f32> {
        let subgroups = subgroups && self.device.summary.subgroups;
        let p = pipeline(self.device, kernel, Family::Reduce { op, subgroups })?;
        let bind_group = self.bindings(&self.partials).bind_group(self.device, &p);
        let part = reduce_pass(
            self.device,
            &p,
            &bind_group,
            &self.uniform,
            &self.partials,
            &self.readback,
            self.n,
        )?;
        Ok(op.combine_pairwise(&part))
    }
}
