//! Filters on the GPU backend: `shaders/filter.wgsl`, one band of rows at a
//! time.
//!
//! An image is processed in bands of rows small enough that every buffer
//! fits one storage binding (and the dispatch grid its limits), so images of
//! any size work; each band carries the halo of rows its kernel reads.
//! Separable filters run the row kernel through a workgroup-memory tile into
//! an `f32` intermediate, then the column kernel. A chain of filters keeps
//! its intermediate images on the device when the image fits one band.

use super::kernels::{gaussian, mean};
use super::output;
use super::Filter;
use crate::backend::gpu::buffers::{Pooled, POOL};
use crate::backend::gpu::device::{shared, Device};
use crate::backend::gpu::map::chunk_elements;
use crate::backend::gpu::transfer;
use crate::error::{Error, Result};
use image::RgbaImage;
use std::sync::OnceLock;

/// The filter shader, as shipped.
pub const FILTER_SHADER: &str = include_str!("../../shaders/filter.wgsl");

/// Threads per workgroup (`WORKGROUP` in the shader).
const WORKGROUP: u32 = 256;
/// Widest row kernel radius the shader's tile holds (`MAX_RADIUS`).
const MAX_TILE_RADIUS: usize = 256;

/// Mirrors `FilterParams` in `shaders/filter.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    width: u32,
    height: u32,
    src_row0: u32,
    src_rows: u32,
    dst_row0: u32,
    dst_rows: u32,
    radius_x: u32,
    radius_y: u32,
    mode: u32,
    column_weights: u32,
    amount: f32,
    contrast: f32,
    brightness: f32,
    pad: [u32; 3],
}

/// The compiled entry points and their layout.
struct Pipelines {
    layout: wgpu::BindGroupLayout,
    rows: wgpu::ComputePipeline,
    rows_wide: wgpu::ComputePipeline,
    columns: wgpu::ComputePipeline,
    convolve: wgpu::ComputePipeline,
    sobel: wgpu::ComputePipeline,
    point: wgpu::ComputePipeline,
}

/// The filter pipelines, compiled on first use. A failed compile is not
/// kept: the next call tries again (two threads may both compile, which
/// only wastes a little work).
fn pipelines(device: &Device) -> Result<&'static Pipelines> {
    static PIPELINES: OnceLock<Pipelines> = OnceLock::new();
    if let Some(p) = PIPELINES.get() {
        return Ok(p);
    }
    let compiled = compile(device)?;
    Ok(PIPELINES.get_or_init(|| compiled))
}

fn compile(device: &Device) -> Result<Pipelines> {
    let d = &device.device;
    device.compile(
        || "compiling shaders/filter.wgsl".into(),
        || {
            let module = d.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some("gpu-compute filters"),
                source: wgpu::ShaderSource::Wgsl(FILTER_SHADER.into()),
            });
            let entry = |binding: u32, ty: wgpu::BufferBindingType| wgpu::BindGroupLayoutEntry {
                binding,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty,
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            };
            use wgpu::BufferBindingType::{Storage, Uniform};
            let layout = d.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some("gpu-compute filters"),
                entries: &[
                    entry(0, Uniform),
                    entry(1, Storage { read_only: true }),
                    entry(2, Storage { read_only: false }),
                    entry(3, Storage { read_only: false }),
                    entry(4, Storage { read_only: true }),
                ],
            });
            let pipeline_layout = d.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some("gpu-compute filters"),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            });
            let make = |name: &str| {
                d.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(name),
                    layout: Some(&pipeline_layout),
                    module: &module,
                    entry_point: Some(name),
                    compilation_options: Default::default(),
                    cache: device.pipeline_cache.as_ref().map(|c| &c.cache),
                })
            };
            Pipelines {
                rows: make("rows"),
                rows_wide: make("rows_wide"),
                columns: make("columns"),
                convolve: make("convolve"),
                sobel: make("sobel"),
                point: make("point"),
                layout,
            }
        },
    )
}

/// How a filter runs on the GPU.
enum Plan {
    /// Row kernel then column kernel; `mode` 0 rounds, 1 sharpens.
    Separable {
        h: Vec<f32>,
        v: Vec<f32>,
        mode: u32,
        amount: f32,
    },
    /// A square kernel of side `2r + 1`.
    Convolve { weights: Vec<f32>, radius: usize },
    /// Sobel magnitude of luma.
    Sobel,
    /// A colour filter (`mode` 0 grayscale, 1 invert, 2 brightness/contrast).
    Point {
        mode: u32,
        contrast: f32,
        brightness: f32,
    },
}

impl Plan {
    fn of(filter: &Filter) -> Plan {
        let f32s = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect::<Vec<f32>>();
        match filter {
            Filter::GaussianBlur { sigma } => {
                let k = f32s(gaussian(*sigma));
                Plan::Separable {
                    h: k.clone(),
                    v: k,
                    mode: 0,
                    amount: 0.0,
                }
            }
            Filter::BoxBlur { radius } => {
                let k = f32s(mean(*radius));
                Plan::Separable {
                    h: k.clone(),
                    v: k,
                    mode: 0,
                    amount: 0.0,
                }
            }
            Filter::Separable {
                horizontal,
                vertical,
            } => Plan::Separable {
                h: horizontal.clone(),
                v: vertical.clone(),
                mode: 0,
                amount: 0.0,
            },
            Filter::Sharpen { amount, sigma } => {
                let k = f32s(gaussian(*sigma));
                Plan::Separable {
                    h: k.clone(),
                    v: k,
                    mode: 1,
                    amount: *amount,
                }
            }
            Filter::Convolve { size, weights } => Plan::Convolve {
                weights: weights.clone(),
                radius: *size as usize / 2,
            },
            Filter::Sobel => Plan::Sobel,
            Filter::Grayscale => Plan::Point {
                mode: 0,
                contrast: 0.0,
                brightness: 0.0,
            },
            Filter::Invert => Plan::Point {
                mode: 1,
                contrast: 0.0,
                brightness: 0.0,
            },
            Filter::BrightnessContrast {
                contrast,
                brightness,
            } => Plan::Point {
                mode: 2,
                contrast: *contrast,
                brightness: *brightness,
            },
        }
    }

    /// Rows of halo above and below a band.
    fn halo(&self) -> usize {
        match self {
            Plan::Separable { v, .. } => v.len() / 2,
            Plan::Convolve { radius, .. } => *radius,
            Plan::Sobel => 1,
            Plan::Point { .. } => 0,
        }
    }

    /// All weights, row kernel first.
    fn weights(&self) -> Vec<f32> {
        match self {
            Plan::Separable { h, v, .. } => h.iter().chain(v).copied().collect(),
            Plan::Convolve { weights, .. } => weights.clone(),
            _ => vec![0.0],
        }
    }
}

/// Buffers for one band (or a whole chain).
struct Buffers<'a> {
    uniform: Pooled<'a>,
    a: Pooled<'a>,
    b: Pooled<'a>,
    mid: Pooled<'a>,
    weights: Pooled<'a>,
}

fn buffers(
    device: &Device,
    pixels: usize,
    mid_pixels: usize,
    weights: usize,
) -> Result<Buffers<'static>> {
    use wgpu::BufferUsages as U;
    let d = &device.device;
    let max = device.limits.max_buffer_size;
    let px = (pixels.max(1) * 4) as u64;
    Ok(Buffers {
        uniform: POOL.acquire(
            d,
            std::mem::size_of::<Params>() as u64,
            U::UNIFORM | U::COPY_DST,
            max,
        )?,
        a: POOL.acquire(d, px, U::STORAGE | U::COPY_DST | U::COPY_SRC, max)?,
        b: POOL.acquire(d, px, U::STORAGE | U::COPY_DST | U::COPY_SRC, max)?,
        mid: POOL.acquire(d, (mid_pixels.max(1) * 16) as u64, U::STORAGE, max)?,
        weights: POOL.acquire(
            d,
            (weights.max(1) * 4) as u64,
            U::STORAGE | U::COPY_DST,
            max,
        )?,
    })
}

/// Most rows per band for an image `width` pixels wide with `halo` rows of
/// halo either side: every buffer within one storage binding, and the grid
/// within the per-dimension workgroup limit.
fn band_rows(device: &Device, width: usize, halo: usize) -> Result<usize> {
    let binding = chunk_elements(device) * 4; // bytes
    let by_mid = binding / (width * 16);
    let by_grid = device.limits.max_compute_workgroups_per_dimension as usize;
    let rows = by_mid.min(by_grid).saturating_sub(2 * halo);
    if rows == 0 {
        return Err(Error::Gpu {
            what: "filtering an image on the GPU".into(),
            reason: format!("a row of {width} pixels with a halo of {halo} rows does not fit one storage binding"),
        });
    }
    Ok(rows)
}

/// Whether filters with a halo of up to `halo` rows run on a `width`×`height`
/// image on the device in one band, without passing it through the host.
pub(crate) fn fits_one_band(device: &Device, width: u32, height: u32, halo: usize) -> bool {
    band_rows(device, width as usize, halo).is_ok_and(|rows| rows >= height as usize)
}

/// Records `plan` over the band into `encoder`: reads `src`, writes `dst`.
#[allow(clippy::too_many_arguments)]
fn encode(
    device: &Device,
    pipes: &Pipelines,
    plan: &Plan,
    bufs: &Buffers<'_>,
    src: &wgpu::Buffer,
    dst: &wgpu::Buffer,
    mut params: Params,
    encoder: &mut wgpu::CommandEncoder,
) {
    let bind_group = device.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("gpu-compute filter"),
        layout: &pipes.layout,
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: bufs.uniform.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: src.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 2,
                resource: bufs.mid.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 3,
                resource: dst.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 4,
                resource: bufs.weights.as_entire_binding(),
            },
        ],
    });
    let groups_x = params.width.div_ceil(WORKGROUP);
    let mut passes: Vec<(&wgpu::ComputePipeline, u32)> = Vec::new();
    match plan {
        Plan::Separable {
            h, mode, amount, ..
        } => {
            params.radius_x = (h.len() / 2) as u32;
            params.radius_y = (plan.halo()) as u32;
            params.column_weights = h.len() as u32;
            params.mode = *mode;
            params.amount = *amount;
            let rows = if h.len() / 2 <= MAX_TILE_RADIUS {
                &pipes.rows
            } else {
                &pipes.rows_wide
            };
            passes.push((rows, params.src_rows));
            passes.push((&pipes.columns, params.dst_rows));
        }
        Plan::Convolve { radius, .. } => {
            params.radius_x = *radius as u32;
            passes.push((&pipes.convolve, params.dst_rows));
        }
        Plan::Sobel => passes.push((&pipes.sobel, params.dst_rows)),
        Plan::Point {
            mode,
            contrast,
            brightness,
        } => {
            params.mode = *mode;
            params.contrast = *contrast;
            params.brightness = *brightness;
            passes.push((&pipes.point, params.dst_rows));
        }
    }
    device
        .queue
        .write_buffer(&bufs.uniform, 0, bytemuck::bytes_of(&params));
    device
        .queue
        .write_buffer(&bufs.weights, 0, bytemuck::cast_slice(&plan.weights()));
    // One pass per dispatch: the column pass reads what the row pass wrote.
    for (pipeline, rows) in passes {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("gpu-compute filter"),
            timestamp_writes: None,
        });
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        pass.dispatch_workgroups(groups_x, rows, 1);
    }
}

/// An RGBA8 image in a device buffer, one `u32` per pixel: what
/// [`crate::Image`] holds on the GPU.
pub(crate) struct DeviceImage {
    device: &'static Device,
    width: usize,
    height: usize,
    pixels: Pooled<'static>,
}

impl std::fmt::Debug for DeviceImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceImage({}x{})", self.width, self.height)
    }
}

/// Usages of image buffers, so pooled ones are interchangeable.
fn image_buffer(device: &Device, pixels: usize) -> Result<Pooled<'static>> {
    use wgpu::BufferUsages as U;
    POOL.acquire(
        &device.device,
        (pixels.max(1) * 4) as u64,
        U::STORAGE | U::COPY_DST | U::COPY_SRC,
        device.limits.max_buffer_size,
    )
}

impl DeviceImage {
    /// Copies `img` (not empty) to the device.
    pub fn upload(img: &RgbaImage) -> Result<DeviceImage> {
        let device = shared()?;
        let (width, height) = (img.width() as usize, img.height() as usize);
        let bytes = (width * height * 4) as u64;
        if bytes > device.limits.max_buffer_size {
            return Err(Error::Gpu {
                what: format!("placing a {width}x{height} image on the GPU"),
                reason: format!(
                    "it needs {bytes} bytes; the adapter's largest buffer holds {}",
                    device.limits.max_buffer_size
                ),
            });
        }
        let what = || {
            format!(
                "placing a {width}x{height} image on {}",
                device.summary.name
            )
        };
        device.checked(what, || {
            let pixels = image_buffer(device, width * height)?;
            transfer::upload(device, &pixels, 0, img.as_raw())?;
            Ok(DeviceImage {
                device,
                width,
                height,
                pixels,
            })
        })
    }

    /// The image, read back to the host.
    pub fn download(&self) -> Result<RgbaImage> {
        let d = self.device;
        let encoder = d
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("gpu-compute image download"),
            });
        let mut out = output::uninit(self.width * self.height * 4);
        transfer::download_uninit(d, encoder, &self.pixels, 0, &mut out)?;
        Ok(output::image_from(self.width, self.height, out))
    }

    /// Waits until every filter queued on the device has finished.
    pub fn wait(&self) -> Result<()> {
        self.device.wait_idle("waiting for the device's filters")
    }

    /// `filters` (validated) applied in order, into a new device image. When
    /// the image fits one band every filter runs on the device, ping-ponging
    /// two buffers, and nothing is waited for; taller images go band by
    /// band through the host.
    pub fn apply_chain(&self, filters: &[Filter]) -> Result<DeviceImage> {
        let what = || chain_text(filters, self.width, self.height);
        self.device
            .checked(what, || self.apply_chain_unchecked(filters))
    }

    fn apply_chain_unchecked(&self, filters: &[Filter]) -> Result<DeviceImage> {
        let device = self.device;
        let pipes = pipelines(device)?;
        let (w, h) = (self.width, self.height);
        let plans: Vec<Plan> = filters.iter().map(Plan::of).collect();
        let max_halo = plans.iter().map(Plan::halo).max().unwrap_or(0);
        if band_rows(device, w, max_halo)? < h {
            let mut current = self.download()?;
            for plan in &plans {
                current = apply_banded(device, pipes, &current, plan)?;
            }
            return DeviceImage::upload(&current);
        }
        let max_weights = plans.iter().map(|p| p.weights().len()).max().unwrap_or(1);
        let bufs = buffers(device, 1, w * h, max_weights)?;
        let mut targets = [image_buffer(device, w * h)?, image_buffer(device, w * h)?];
        let mut last = None;
        for (i, plan) in plans.iter().enumerate() {
            let src: &wgpu::Buffer = match last {
                None => &self.pixels,
                Some(j) => std::ops::Deref::deref(&targets[j]),
            };
            let dst: &wgpu::Buffer = std::ops::Deref::deref(&targets[i % 2]);
            let mut encoder =
                device
                    .device
                    .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                        label: Some("gpu-compute filter"),
                    });
            let params = Params {
                width: w as u32,
                height: h as u32,
                src_rows: h as u32,
                dst_rows: h as u32,
                ..Params::default()
            };
            encode(device, pipes, plan, &bufs, src, dst, params, &mut encoder);
            device.queue.submit([encoder.finish()]);
            last = Some(i % 2);
        }
        let [first, second] = &mut targets;
        let pixels = match last {
            Some(1) => std::mem::replace(second, image_buffer(device, 1)?),
            _ => std::mem::replace(first, image_buffer(device, 1)?),
        };
        Ok(DeviceImage {
            device,
            width: w,
            height: h,
            pixels,
        })
    }
}

/// What a filter chain on a `width`×`height` image is called in errors.
fn chain_text(filters: &[Filter], width: usize, height: usize) -> String {
    let names: Vec<String> = filters.iter().map(Filter::to_string).collect();
    format!(
        "the filters {} on a {width}x{height} image",
        names.join(",")
    )
}

/// `filters` applied in order to `img` (not empty; filters validated).
pub(crate) fn apply_chain(img: &RgbaImage, filters: &[Filter]) -> Result<RgbaImage> {
    let device = shared()?;
    let what = || chain_text(filters, img.width() as usize, img.height() as usize);
    device.checked(what, || apply_chain_unchecked(device, img, filters))
}

fn apply_chain_unchecked(
    device: &'static Device,
    img: &RgbaImage,
    filters: &[Filter],
) -> Result<RgbaImage> {
    let w = img.width() as usize;
    let max_halo = filters
        .iter()
        .map(|f| Plan::of(f).halo())
        .max()
        .unwrap_or(0);
    if band_rows(device, w, max_halo)? >= img.height() as usize {
        // The whole image in one band: upload once, every filter on the
        // device, download once.
        return DeviceImage::upload(img)?.apply_chain(filters)?.download();
    }
    // Larger images: each filter band by band, through the host.
    let pipes = pipelines(device)?;
    let mut current = img.clone();
    for f in filters {
        current = apply_banded(device, pipes, &current, &Plan::of(f))?;
    }
    Ok(current)
}

/// One filter over an image taller than one band.
fn apply_banded(
    device: &Device,
    pipes: &Pipelines,
    img: &RgbaImage,
    plan: &Plan,
) -> Result<RgbaImage> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let halo = plan.halo();
    let rows = band_rows(device, w, halo)?;
    let bufs = buffers(
        device,
        (rows + 2 * halo) * w,
        (rows + 2 * halo) * w,
        plan.weights().len(),
    )?;
    let mut out = output::uninit(w * h * 4);
    let raw = img.as_raw();
    for y0 in (0..h).step_by(rows) {
        let y1 = (y0 + rows).min(h);
        let (lo, hi) = (y0.saturating_sub(halo), (y1 + halo).min(h));
        transfer::upload(device, &bufs.a, 0, &raw[lo * w * 4..hi * w * 4])?;
        let params = Params {
            width: w as u32,
            height: h as u32,
            src_row0: lo as u32,
            src_rows: (hi - lo) as u32,
            dst_row0: y0 as u32,
            dst_rows: (y1 - y0) as u32,
            ..Params::default()
        };
        let mut encoder = device
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("gpu-compute filter"),
            });
        encode(
            device,
            pipes,
            plan,
            &bufs,
            &bufs.a,
            &bufs.b,
            params,
            &mut encoder,
        );
        transfer::download_uninit(
            device,
            encoder,
            &bufs.b,
            0,
            &mut out[y0 * w * 4..y1 * w * 4],
        )?;
    }
    // The bands cover every row.
    Ok(output::image_from(w, h, out))
}
