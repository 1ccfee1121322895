//! Compiled map pipelines, cached per kernel.
//!
//! Compiling WGSL and building a pipeline takes milliseconds; a loop calling
//! the same map must not pay that each time. Pipelines are keyed by the
//! [`Kernel`] and shared by every context. Compilation errors are caught with
//! an error scope and returned as [`Error::Gpu`], never as a panic.

use super::codegen;
use super::device::Device;
use crate::error::{Error, Result};
use crate::expr::Kernel;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Pipelines kept at most; beyond this the cache starts over.
const CACHE_CAPACITY: usize = 256;

/// A compiled map kernel with the layout it binds.
pub(crate) struct MapPipeline {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
}

/// The pipeline for `kernel`, compiled on first use.
pub(crate) fn map_pipeline(device: &Device, kernel: &Kernel) -> Result<Arc<MapPipeline>> {
    static CACHE: OnceLock<Mutex<HashMap<Kernel, Arc<MapPipeline>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(p) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(kernel) {
        return Ok(Arc::clone(p));
    }
    // Compile outside the lock: another thread may compile the same kernel
    // meanwhile, which only wastes a little work.
    let compiled = Arc::new(compile(device, kernel)?);
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() >= CACHE_CAPACITY {
        cache.clear();
    }
    Ok(Arc::clone(cache.entry(kernel.clone()).or_insert(compiled)))
}

fn storage_entry(binding: u32, read_only: bool) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only },
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

fn compile(device: &Device, kernel: &Kernel) -> Result<MapPipeline> {
    let source = codegen::map_shader(kernel);
    let d = &device.device;
    let scope = d.push_error_scope(wgpu::ErrorFilter::Validation);
    let module = d.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("gpu-compute map"),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    });
    let layout = d.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("gpu-compute map"),
        entries: &[
            wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            },
            storage_entry(1, true),
            storage_entry(2, true),
            storage_entry(3, false),
        ],
    });
    let pipeline_layout = d.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some("gpu-compute map"),
        bind_group_layouts: &[Some(&layout)],
        immediate_size: 0,
    });
    let pipeline = d.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some("gpu-compute map"),
        layout: Some(&pipeline_layout),
        module: &module,
        entry_point: Some("main"),
        compilation_options: Default::default(),
        cache: None,
    });
    if let Some(err) = pollster::block_on(scope.pop()) {
        return Err(Error::Gpu {
            what: format!("compiling the map kernel {kernel}"),
            reason: err.to_string(),
        });
    }
    Ok(MapPipeline { pipeline, layout })
}
