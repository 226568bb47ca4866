//! Compute pipelines, specialised (override constants, sizes written into the source) and
//! made once per key, then cached.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

use super::module::{check_workgroup_memory, specialise};
use crate::error::{Error, Result};
use crate::gpu::context::Context;

/// What one pipeline is made from.
pub(crate) struct PipelineSource {
    /// The entry point, which also names the pipeline in errors.
    pub entry: &'static str,
    /// The complete WGSL module.
    pub source: String,
    /// Values of the override constants the module declares.
    pub constants: Vec<(&'static str, f64)>,
}

/// The pipelines of one bind group layout, by key.
pub(crate) struct PipelineCache<K> {
    layout: wgpu::PipelineLayout,
    made: Mutex<HashMap<K, wgpu::ComputePipeline>>,
    /// Whether modules get wgpu's runtime bounds checks (tests) or are trusted.
    runtime_checks: bool,
}

impl<K: Hash + Eq + Copy> PipelineCache<K> {
    /// An empty cache for pipelines over `bind_layouts` (bind groups 0, 1, ...).
    pub(crate) fn new(ctx: &Context, label: &str, bind_layouts: &[&wgpu::BindGroupLayout]) -> Self {
        let groups: Vec<Option<&wgpu::BindGroupLayout>> =
            bind_layouts.iter().map(|l| Some(*l)).collect();
        let layout = ctx
            .device()
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(label),
                bind_group_layouts: &groups,
                immediate_size: 0,
            });
        PipelineCache {
            layout,
            made: Mutex::new(HashMap::new()),
            runtime_checks: false,
        }
    }

    /// Builds every later pipeline with wgpu's runtime bounds checks (or without), and
    /// drops those made so far.
    pub(crate) fn set_runtime_checks(&mut self, on: bool) {
        self.runtime_checks = on;
        self.clear();
    }

    /// Drops the pipelines made so far (a setting they were built with changed).
    pub(crate) fn clear(&mut self) {
        self.made.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// The pipeline of `key`, made from `source()` on first use. Its module's workgroup
    /// memory is checked against the device's limit first.
    pub(crate) fn get(
        &self,
        ctx: &Context,
        key: K,
        source: impl FnOnce() -> Result<PipelineSource>,
    ) -> Result<wgpu::ComputePipeline> {
        let mut made = self.made.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = made.get(&key) {
            return Ok(p.clone());
        }
        let PipelineSource {
            entry,
            source,
            constants,
        } = source()?;
        let (module, constants) = specialise(entry, &source, entry, &constants)?;
        check_workgroup_memory(entry, &module, &ctx.limits())?;
        let device = ctx.device();
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let desc = wgpu::ShaderModuleDescriptor {
            label: Some(entry),
            source: wgpu::ShaderSource::Wgsl(Cow::Owned(source)),
        };
        let module = if self.runtime_checks {
            // wgpu's bounds checks (indices clamped into their arrays) and loop bounding:
            // the build the tests hold to the same reference as the trusted one.
            device.create_shader_module(desc)
        } else {
            // SAFETY: the only modules made here are the crate's kernels (crate::kernels),
            // which index only within sizes the host checks before any dispatch: batch and
            // chunk sizes (engine), the layer table built from a validated model
            // (kernels::layout), the tile kernel's registers and workgroup memory
            // (kernels::tile::misfit against the sizes src/constants.rs writes into the
            // source, and check_workgroup_memory above). Divisors are layer widths, never 0.
            // So the runtime bounds checks and loop bounding wgpu would add can go; the
            // tests run every kernel on NaN-poisoned buffers, in this build and the checked
            // one.
            unsafe {
                device.create_shader_module_trusted(desc, wgpu::ShaderRuntimeChecks::unchecked())
            }
        };
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(entry),
            layout: Some(&self.layout),
            module: &module,
            entry_point: Some(entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: &constants,
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::Gpu {
                stage: "pipeline creation",
                message: e.to_string(),
            });
        }
        made.insert(key, pipeline.clone());
        Ok(pipeline)
    }
}
