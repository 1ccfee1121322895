//! Where a host-mode GPU map spends its time: compiling (first call only),
//! uploading, the kernel (GPU timestamps where the adapter has them) and
//! downloading, each step submitted and waited for on its own. For the
//! benchmark report; a real call overlaps nothing more, but does not wait
//! between steps.

use super::buffers::POOL;
use super::device::Device;
use super::dispatch::Bindings;
use super::map::{chunk_elements, grid, WORKGROUP_SIZE};
use super::params::Params;
use super::pipelines::{pipeline, Family};
use super::transfer;
use super::transfer::read_back;
use crate::error::{Error, Result};
use crate::expr::Kernel;
use std::time::Instant;

/// The parts of one host-mode map call, in seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MapProfile {
    /// Compiling the pipeline (0 when it was cached already).
    pub compile_s: f64,
    /// Copying the input to the device, submit to done.
    pub upload_s: f64,
    /// The kernel, submit to done.
    pub kernel_s: f64,
    /// The kernel by the GPU's own clock (timestamp queries), when the
    /// adapter has them.
    pub kernel_timestamp_s: Option<f64>,
    /// Copying the output back and mapping it.
    pub download_s: f64,
}

fn wait(device: &Device, submission: wgpu::SubmissionIndex) -> Result<()> {
    device
        .device
        .poll(wgpu::PollType::Wait {
            submission_index: Some(submission),
            timeout: None,
        })
        .map(|_| ())
        .map_err(|e| Error::Gpu {
            what: "profiling a map".into(),
            reason: e.to_string(),
        })
}

/// A set of GPU timestamps and the buffers that bring them back.
struct Timestamps {
    set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    read: wgpu::Buffer,
    count: u32,
}

impl Timestamps {
    fn new(device: &Device, count: u32) -> Timestamps {
        use wgpu::BufferUsages as U;
        let d = &device.device;
        let buffer = |label, usage| {
            d.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: u64::from(count) * 8,
                usage,
                mapped_at_creation: false,
            })
        };
        Timestamps {
            set: d.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("gpu-compute profile"),
                ty: wgpu::QueryType::Timestamp,
                count,
            }),
            resolve: buffer(
                "gpu-compute profile resolve",
                U::QUERY_RESOLVE | U::COPY_SRC,
            ),
            read: buffer("gpu-compute profile read", U::MAP_READ | U::COPY_DST),
            count,
        }
    }

    /// Writes for a compute pass: `at` when it begins, `at + 1` when it ends.
    fn around_pass(&self, at: u32) -> wgpu::ComputePassTimestampWrites<'_> {
        wgpu::ComputePassTimestampWrites {
            query_set: &self.set,
            beginning_of_pass_write_index: Some(at),
            end_of_pass_write_index: Some(at + 1),
        }
    }

    /// Records bringing every timestamp back; call last in the encoder.
    fn resolve(&self, encoder: &mut wgpu::CommandEncoder) {
        encoder.resolve_query_set(&self.set, 0..self.count, &self.resolve, 0);
        encoder.copy_buffer_to_buffer(&self.resolve, 0, &self.read, 0, u64::from(self.count) * 8);
    }

    /// Seconds between timestamps `at` and `at + 1`, for every `at` in
    /// `starts`, once `submission` (which resolved them) has run.
    fn seconds(
        &self,
        device: &Device,
        submission: wgpu::SubmissionIndex,
        starts: impl Iterator<Item = u32>,
    ) -> Result<Vec<f64>> {
        let mut words = vec![0.0f32; self.count as usize * 2];
        read_back(device, &self.read, submission, &mut words)?;
        let ticks: &[u64] = bytemuck::cast_slice(&words);
        let period_s = f64::from(device.queue.get_timestamp_period()) * 1e-9;
        Ok(starts
            .map(|at| ticks[at as usize + 1].saturating_sub(ticks[at as usize]) as f64 * period_s)
            .collect())
    }
}

/// Profiles `kernel` (one input) over `x`, at most one chunk long.
pub fn profile_map(device: &Device, kernel: &Kernel, x: &[f32]) -> Result<MapProfile> {
    let n = x.len();
    if n == 0 || n > chunk_elements(device) || kernel.arity() != 1 {
        return Err(Error::Gpu {
            what: "profiling a map".into(),
            reason: format!(
                "needs a one-input kernel and 1..={} elements; got arity {} and {n}",
                chunk_elements(device),
                kernel.arity()
            ),
        });
    }
    use wgpu::BufferUsages as U;
    let (d, max) = (&device.device, device.limits.max_buffer_size);
    let t = Instant::now();
    let p = pipeline(device, kernel, Family::Map)?;
    let compile_s = t.elapsed().as_secs_f64();
    let bytes = (n * 4) as u64;
    let uniform = POOL.acquire(
        d,
        std::mem::size_of::<Params>() as u64,
        U::UNIFORM | U::COPY_DST,
        max,
    )?;
    let input = POOL.acquire(d, bytes, U::STORAGE | U::COPY_DST, max)?;
    let output = POOL.acquire(d, bytes, U::STORAGE | U::COPY_SRC, max)?;
    let bind_group = Bindings {
        uniform: &uniform,
        in0: &input,
        in1: None,
        out: &output,
    }
    .bind_group(device, &p);
    let (gx, gy) = grid(n, device.limits.max_compute_workgroups_per_dimension);
    let params = Params::new(n as u32, gx * WORKGROUP_SIZE);
    device
        .queue
        .write_buffer(&uniform, 0, bytemuck::bytes_of(&params));
    // Upload.
    let t = Instant::now();
    transfer::upload(device, &input, 0, bytemuck::cast_slice(x))?;
    wait(device, device.queue.submit([]))?;
    let upload_s = t.elapsed().as_secs_f64();
    // Kernel, with timestamps around the pass where the adapter has them.
    let queries = device
        .summary
        .timestamps
        .then(|| Timestamps::new(device, 2));
    let mut encoder = d.create_command_encoder(&wgpu::CommandEncoderDescriptor {
        label: Some("gpu-compute profile"),
    });
    {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("gpu-compute profile"),
            timestamp_writes: queries.as_ref().map(|q| q.around_pass(0)),
        });
        pass.set_pipeline(&p.pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        pass.dispatch_workgroups(gx, gy, 1);
    }
    if let Some(q) = &queries {
        q.resolve(&mut encoder);
    }
    let t = Instant::now();
    wait(device, device.queue.submit([encoder.finish()]))?;
    let kernel_s = t.elapsed().as_secs_f64();
    let kernel_timestamp_s = match &queries {
        Some(q) => Some(q.seconds(device, device.queue.submit([]), std::iter::once(0))?[0]),
        None => None,
    };
    // Download.
    let t = Instant::now();
    let encoder = d.create_command_encoder(&wgpu::CommandEncoderDescriptor {
        label: Some("gpu-compute profile download"),
    });
    let mut out = vec![0.0f32; n];
    transfer::download(
        device,
        encoder,
        &output,
        0,
        bytemuck::cast_slice_mut(&mut out),
    )?;
    let download_s = t.elapsed().as_secs_f64();
    Ok(MapProfile {
        compile_s,
        upload_s,
        kernel_s,
        kernel_timestamp_s,
        download_s,
    })
}

/// Kernel times of resident work on one chunk of `n` values, by the GPU's
/// own clock (timestamp queries), each the median of several repetitions:
/// what the card does without the cost of submitting and waiting. For the
/// benchmark's fraction-of-copy figures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ResidentProfile {
    /// Values per operation.
    pub n: usize,
    /// `copy_buffer_to_buffer` of the values (the copy engine's path), when
    /// the adapter can write timestamps between commands.
    pub copy_s: Option<f64>,
    /// The map kernel `x0` (a copy by a compute shader).
    pub shader_copy_s: f64,
    /// The map kernel `x0 * 2 + 1`.
    pub map_affine_s: f64,
    /// The sum reduction (one pass; the workgroups' results stay on the device).
    pub reduce_sum_s: f64,
}

/// Repetitions per operation in [`profile_resident`].
const RESIDENT_REPS: u32 = 9;

/// Profiles copy, shader copy, `map_affine` and `reduce_sum` over `n`
/// values (1 ..= one chunk) already on the device. Needs timestamp queries.
pub fn profile_resident(device: &Device, n: usize) -> Result<ResidentProfile> {
    use super::reduce::MAX_GROUPS;
    use crate::reduce::Reduce;
    use wgpu::BufferUsages as U;
    let fail = |reason: String| Error::Gpu {
        what: "profiling resident kernels".into(),
        reason,
    };
    if !device.summary.timestamps {
        return Err(fail(format!(
            "the adapter {} has no timestamp queries",
            device.summary.name
        )));
    }
    if n == 0 || n > chunk_elements(device) {
        return Err(fail(format!(
            "needs 1..={} values; got {n}",
            chunk_elements(device)
        )));
    }
    let (d, max) = (&device.device, device.limits.max_buffer_size);
    let bytes = (n * 4) as u64;
    let usage = U::STORAGE | U::COPY_SRC | U::COPY_DST;
    let input = POOL.acquire(d, bytes, usage, max)?;
    let output = POOL.acquire(d, bytes, usage, max)?;
    let partials = POOL.acquire(d, (MAX_GROUPS * 4) as u64, U::STORAGE | U::COPY_SRC, max)?;
    let values: Vec<f32> = (0..n).map(|i| (i % 1000) as f32 * 1e-3).collect();
    device
        .queue
        .write_buffer(&input, 0, bytemuck::cast_slice(&values));
    drop(values);
    let uniform = |params: Params| {
        let u = POOL.acquire(
            d,
            std::mem::size_of::<Params>() as u64,
            U::UNIFORM | U::COPY_DST,
            max,
        )?;
        device
            .queue
            .write_buffer(&u, 0, bytemuck::bytes_of(&params));
        Ok::<_, crate::Error>(u)
    };
    let (gx, gy) = grid(n, device.limits.max_compute_workgroups_per_dimension);
    let map_uniform = uniform(Params::new(n as u32, gx * WORKGROUP_SIZE))?;
    let groups = super::reduce::groups_for(n);
    let reduce_uniform = uniform(Params::new(n as u32, groups * WORKGROUP_SIZE))?;
    let copy_kernel = Kernel::identity();
    let affine_kernel = Kernel::unary(|v| v * 2.0 + 1.0)?;
    let passes = [
        (
            pipeline(device, &copy_kernel, Family::Map)?,
            &map_uniform,
            &output,
            (gx, gy),
        ),
        (
            pipeline(device, &affine_kernel, Family::Map)?,
            &map_uniform,
            &output,
            (gx, gy),
        ),
        (
            pipeline(
                device,
                &Kernel::identity(),
                Family::Reduce {
                    op: Reduce::Sum,
                    subgroups: device.summary.subgroups,
                },
            )?,
            &reduce_uniform,
            &partials,
            (groups, 1),
        ),
    ];
    let inside = device
        .device
        .features()
        .contains(wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS);
    // Two timestamps per repetition of each of the three passes and the copy.
    let queries = Timestamps::new(device, 2 * RESIDENT_REPS * 4);
    let mut encoder = d.create_command_encoder(&wgpu::CommandEncoderDescriptor {
        label: Some("gpu-compute resident profile"),
    });
    for rep in 0..RESIDENT_REPS {
        for (k, (p, uniform, out, (x, y))) in passes.iter().enumerate() {
            let bind_group = Bindings {
                uniform,
                in0: &input,
                in1: None,
                out,
            }
            .bind_group(device, p);
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("gpu-compute resident profile"),
                timestamp_writes: Some(queries.around_pass(2 * (rep * 4 + k as u32))),
            });
            pass.set_pipeline(&p.pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(*x, *y, 1);
        }
        if inside {
            let at = 2 * (rep * 4 + 3);
            encoder.write_timestamp(&queries.set, at);
            encoder.copy_buffer_to_buffer(&input, 0, &output, 0, bytes);
            encoder.write_timestamp(&queries.set, at + 1);
        }
    }
    queries.resolve(&mut encoder);
    let submission = device.queue.submit([encoder.finish()]);
    let times = queries.seconds(
        device,
        submission,
        (0..RESIDENT_REPS * 4).map(|slot| 2 * slot),
    )?;
    let median_of = |k: usize| {
        let mut mine: Vec<f64> = times.iter().skip(k).step_by(4).copied().collect();
        mine.sort_by(f64::total_cmp);
        mine[mine.len() / 2]
    };
    Ok(ResidentProfile {
        n,
        copy_s: inside.then(|| median_of(3)),
        shader_copy_s: median_of(0),
        map_affine_s: median_of(1),
        reduce_sum_s: median_of(2),
    })
}
