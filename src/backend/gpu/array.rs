//! Arrays that live on the GPU: `f32` data in device buffers, split into
//! chunks of at most one storage binding so that any length works, and the
//! kernels run on them without host transfers. [`crate::Array`] is built on
//! this; so is the benchmark's resident mode.
//!
//! Maps are submitted without waiting: the queue runs submissions in order,
//! so a later map, reduction or read-back sees the result. Only reductions
//! and [`DeviceArray::to_vec`] wait, for the values they return.

use super::buffers::{Pooled, POOL};
use super::device::Device;
use super::dispatch::{encode, Bindings};
use super::map::{chunk_elements, grid, WORKGROUP_SIZE};
use super::params::Params;
use super::pipelines::{pipeline, Family};
use super::reduce::{encode_reduce_pass, MAX_GROUPS};
use super::transfer;
use super::transfer::read_back;
use crate::error::Result;
use crate::expr::Kernel;
use crate::reduce::Reduce;
use wgpu::BufferUsages as U;

/// The usages every array chunk has, so pooled chunks are interchangeable.
const CHUNK_USAGE: U = U::STORAGE.union(U::COPY_DST).union(U::COPY_SRC);

/// `len` values in chunks of [`chunk_elements`] (the last one shorter).
pub(crate) struct DeviceArray {
    device: &'static Device,
    len: usize,
    chunks: Vec<Pooled<'static>>,
}

impl std::fmt::Debug for DeviceArray {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceArray")
            .field("len", &self.len)
            .field("chunks", &self.chunks.len())
            .finish()
    }
}

impl DeviceArray {
    /// Device buffers for `len` values, contents unspecified; an error when
    /// the device cannot allocate them, even once the pool's idle buffers
    /// are freed (see [`BufferPool::acquire`](super::buffers::BufferPool::acquire)).
    fn allocate(device: &'static Device, len: usize) -> Result<DeviceArray> {
        let per = chunk_elements(device);
        let chunks = (0..len)
            .step_by(per.max(1))
            .map(|start| {
                let n = per.min(len - start);
                POOL.acquire(
                    &device.device,
                    (n * 4) as u64,
                    CHUNK_USAGE,
                    device.limits.max_buffer_size,
                )
            })
            .collect::<Result<_>>()?;
        Ok(DeviceArray {
            device,
            len,
            chunks,
        })
    }

    /// Copies `data` to the device (see [`transfer::upload`]: it happens
    /// before any later submission runs).
    pub fn upload(device: &'static Device, data: &[f32]) -> Result<DeviceArray> {
        let what = || format!("uploading {} values to {}", data.len(), device.summary.name);
        device.checked(what, || {
            let array = DeviceArray::allocate(device, data.len())?;
            for (chunk, range) in array.chunks.iter().zip(array.ranges()) {
                transfer::upload(device, chunk, 0, bytemuck::cast_slice(&data[range]))?;
            }
            Ok(array)
        })
    }

    /// Device buffers for `len` values, to be filled with [`DeviceArray::write`].
    pub fn with_len(device: &'static Device, len: usize) -> Result<DeviceArray> {
        DeviceArray::allocate(device, len)
    }

    /// Queues a copy of `values` to positions `offset..offset + values.len()`
    /// through wgpu's staging memory; [`DeviceArray::flush`] sends what is
    /// queued to the device. An error where the device refuses it (no
    /// staging memory left).
    pub fn write(&self, offset: usize, values: &[f32]) -> Result<()> {
        if values.is_empty() {
            return Ok(());
        }
        let per = chunk_elements(self.device);
        self.device.checked(
            || format!("writing {} values to the GPU", values.len()),
            || {
                let mut done = 0;
                while done < values.len() {
                    let at = offset + done;
                    let (chunk, within) = (at / per, at % per);
                    let n = (per - within).min(values.len() - done);
                    self.device.queue.write_buffer(
                        &self.chunks[chunk],
                        (within * 4) as u64,
                        bytemuck::cast_slice(&values[done..done + n]),
                    );
                    done += n;
                }
                Ok(())
            },
        )
    }

    /// Submits the queued writes (an empty submission carries them), which
    /// frees their staging memory once the device has copied them; an error
    /// where the device refuses the submission.
    pub fn flush(&self) -> Result<()> {
        self.device.checked(
            || "submitting writes to the GPU".to_string(),
            || {
                self.device.queue.submit([]);
                Ok(())
            },
        )
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The element range each chunk holds.
    fn ranges(&self) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
        let per = chunk_elements(self.device);
        (0..self.chunks.len()).map(move |c| c * per..((c + 1) * per).min(self.len))
    }

    fn uniform(&self) -> Result<Pooled<'static>> {
        POOL.acquire(
            &self.device.device,
            std::mem::size_of::<Params>() as u64,
            U::UNIFORM | U::COPY_DST,
            self.device.limits.max_buffer_size,
        )
    }

    /// `kernel(inputs…)` into a new array, submitted without waiting. The
    /// inputs have `kernel.arity()` arrays of one length, on one device.
    pub fn map(kernel: &Kernel, inputs: &[&DeviceArray]) -> Result<DeviceArray> {
        let first = inputs[0];
        let device = first.device;
        let what = || format!("the map {kernel} of {} values", first.len);
        device.checked(what, || Self::map_unchecked(kernel, inputs))
    }

    fn map_unchecked(kernel: &Kernel, inputs: &[&DeviceArray]) -> Result<DeviceArray> {
        let first = inputs[0];
        let device = first.device;
        let out = DeviceArray::allocate(device, first.len)?;
        if first.len == 0 {
            return Ok(out);
        }
        let p = pipeline(device, kernel, Family::Map)?;
        let max_groups = device.limits.max_compute_workgroups_per_dimension;
        let mut uniforms = Vec::with_capacity(out.chunks.len());
        let mut commands = Vec::with_capacity(out.chunks.len());
        for (c, range) in out.ranges().enumerate() {
            let uniform = out.uniform()?;
            let bind_group = Bindings {
                uniform: &uniform,
                in0: &inputs[0].chunks[c],
                in1: inputs.get(1).map(|a| &*a.chunks[c]),
                out: &out.chunks[c],
            }
            .bind_group(device, &p);
            let (gx, gy) = grid(range.len(), max_groups);
            let params = Params::new(range.len() as u32, gx * WORKGROUP_SIZE);
            commands.push(encode(device, &p, &bind_group, &uniform, params, (gx, gy)).finish());
            uniforms.push(uniform);
        }
        device.queue.submit(commands);
        Ok(out)
    }

    /// Reduces `kernel(inputs…)` with `op` over `n > 0` values; only the
    /// workgroups' results (at most 4 KiB a chunk) come back to the host.
    /// Every chunk is dispatched in one submission, with one read-back.
    pub fn reduce(
        kernel: &Kernel,
        inputs: &[&DeviceArray],
        op: Reduce,
        subgroups: bool,
    ) -> Result<f32> {
        let first = inputs[0];
        let what = || format!("the {op:?} reduction of {kernel} over {} values", first.len);
        first.device.checked(what, || {
            Self::reduce_unchecked(kernel, inputs, op, subgroups)
        })
    }

    fn reduce_unchecked(
        kernel: &Kernel,
        inputs: &[&DeviceArray],
        op: Reduce,
        subgroups: bool,
    ) -> Result<f32> {
        let first = inputs[0];
        let device = first.device;
        let subgroups = subgroups && device.summary.subgroups;
        let p = pipeline(device, kernel, Family::Reduce { op, subgroups })?;
        let (d, max) = (&device.device, device.limits.max_buffer_size);
        let per_chunk = (MAX_GROUPS * 4) as u64;
        let chunks = first.chunks.len();
        let readback =
            POOL.acquire(d, per_chunk * chunks as u64, U::MAP_READ | U::COPY_DST, max)?;
        // Each chunk's parameters and results, alive until the submission.
        let mut held = Vec::with_capacity(chunks);
        let mut groups = Vec::with_capacity(chunks);
        let mut commands = Vec::with_capacity(chunks);
        for (c, range) in first.ranges().enumerate() {
            let uniform = first.uniform()?;
            let partials = POOL.acquire(d, per_chunk, U::STORAGE | U::COPY_SRC, max)?;
            let bind_group = Bindings {
                uniform: &uniform,
                in0: &inputs[0].chunks[c],
                in1: inputs.get(1).map(|a| &*a.chunks[c]),
                out: &partials,
            }
            .bind_group(device, &p);
            let (encoder, g) = encode_reduce_pass(
                device,
                &p,
                &bind_group,
                &uniform,
                &partials,
                &readback,
                c as u64 * per_chunk,
                range.len(),
            );
            commands.push(encoder.finish());
            groups.push(g);
            held.push((uniform, partials));
        }
        let submission = device.queue.submit(commands);
        let mut all = vec![0.0f32; chunks * MAX_GROUPS];
        read_back(device, &readback, submission, &mut all)?;
        drop(held);
        let parts: Vec<f32> = groups
            .iter()
            .enumerate()
            .map(|(c, &g)| op.combine_pairwise(&all[c * MAX_GROUPS..c * MAX_GROUPS + g]))
            .collect();
        Ok(op.combine_pairwise(&parts))
    }

    /// A device-side copy (the yardstick for resident kernels: the card's
    /// copy bandwidth), submitted without waiting.
    pub fn copy(&self) -> Result<DeviceArray> {
        let what = || {
            format!(
                "copying {} values on {}",
                self.len, self.device.summary.name
            )
        };
        self.device.checked(what, || {
            let out = DeviceArray::allocate(self.device, self.len)?;
            let mut encoder = self.encoder("gpu-compute array copy");
            for ((from, to), range) in self.chunks.iter().zip(&out.chunks).zip(self.ranges()) {
                encoder.copy_buffer_to_buffer(from, 0, to, 0, (range.len() * 4) as u64);
            }
            self.device.queue.submit([encoder.finish()]);
            Ok(out)
        })
    }

    fn encoder(&self, label: &'static str) -> wgpu::CommandEncoder {
        self.device
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) })
    }

    /// Waits until every submitted kernel and copy has finished.
    pub fn wait(&self) -> Result<()> {
        self.device.wait_idle("waiting for the device")
    }

    /// The values, read back to the host (waits for the kernels that make them).
    pub fn to_vec(&self) -> Result<Vec<f32>> {
        let mut host = crate::host_pool::zeroed(self.len);
        for (chunk, range) in self.chunks.iter().zip(self.ranges()) {
            let encoder = self.encoder("gpu-compute array download");
            transfer::download(
                self.device,
                encoder,
                chunk,
                0,
                bytemuck::cast_slice_mut(&mut host[range]),
            )?;
        }
        Ok(host)
    }
}
