//! Compiled pipelines, cached per kernel and kernel family.
//!
//! Compiling WGSL and building a pipeline takes milliseconds; a loop calling
//! the same map must not pay that each time. Pipelines are keyed by the
//! [`Kernel`] and the [`Family`] (map, or reduction with its operation and
//! subgroup choice) and shared by every context. Compilation errors are
//! caught with an error scope and returned as [`Error::Gpu`], never as a
//! panic.

use super::codegen;
use super::device::Device;
use crate::error::Result;
use crate::expr::Kernel;
use crate::reduce::Reduce;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Pipelines kept at most; beyond this the cache starts over.
const CACHE_CAPACITY: usize = 256;

/// Which entry point a pipeline runs the kernel in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Family {
    /// `shaders/map.wgsl`.
    Map,
    /// `shaders/reduce.wgsl`, with or without subgroup operations.
    Reduce { op: Reduce, subgroups: bool },
}

/// A compiled kernel with the layout it binds.
pub(crate) struct Pipeline {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
}

/// The pipeline for `kernel` in `family`, compiled on first use.
pub(crate) fn pipeline(device: &Device, kernel: &Kernel, family: Family) -> Result<Arc<Pipeline>> {
    type Cache = HashMap<(Kernel, Family), Arc<Pipeline>>;
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let key = (kernel.clone(), family);
    if let Some(p) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(Arc::clone(p));
    }
    // Compile outside the lock: another thread may compile the same kernel
    // meanwhile, which only wastes a little work.
    let compiled = Arc::new(compile(device, kernel, family)?);
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() >= CACHE_CAPACITY {
        cache.clear();
    }
    Ok(Arc::clone(cache.entry(key).or_insert(compiled)))
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

fn compile(device: &Device, kernel: &Kernel, family: Family) -> Result<Pipeline> {
    let (source, constants): (String, Vec<(&str, f64)>) = match family {
        Family::Map => (codegen::map_shader(kernel), Vec::new()),
        Family::Reduce { op, subgroups } => {
            let code = match op {
                Reduce::Sum => 0.0,
                Reduce::Min => 1.0,
                Reduce::Max => 2.0,
                Reduce::Product => 3.0,
            };
            (
                codegen::reduce_shader(kernel, subgroups),
                vec![("OP", code)],
            )
        }
    };
    let d = &device.device;
    let what = || format!("compiling the {family:?} kernel {kernel}");
    device.compile(what, || {
        let module = d.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("gpu-compute kernel"),
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
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: &constants,
                ..Default::default()
            },
            cache: device.pipeline_cache.as_ref().map(|c| &c.cache),
        });
        Pipeline { pipeline, layout }
    })
}
