//! Compute pipelines, specialised (override constants, sizes written into the source) and
//! made once per key, then cached; each with a layout of only the bindings its entry point
//! uses, and the bind group layouts of those subsets, shared by every pipeline that binds
//! the same subset of the same table.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

use super::bindings::{self, Binding, Used};
use super::module::{check_workgroup_memory, specialise, Specialised};
use crate::error::{Error, Resource, Result};
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

/// A pipeline and the bindings of each of its groups it binds.
#[derive(Clone)]
pub(crate) struct Pipeline {
    pub pipeline: wgpu::ComputePipeline,
    /// Per group, the bindings of its table the entry point uses.
    pub used: Vec<Used>,
}

/// The bind group layouts of the subsets of binding tables kernels use, made once each.
#[derive(Default)]
pub(crate) struct GroupLayouts {
    made: Mutex<HashMap<(usize, Used), wgpu::BindGroupLayout>>,
}

impl GroupLayouts {
    /// The layout of the bindings of `table` that `used` names.
    pub(crate) fn get(
        &self,
        ctx: &Context,
        table: &'static [Binding],
        used: Used,
    ) -> wgpu::BindGroupLayout {
        let key = (table.as_ptr() as usize, used);
        let mut made = self.made.lock().unwrap_or_else(|e| e.into_inner());
        made.entry(key)
            .or_insert_with(|| bindings::layout(ctx.device(), table[0].name, table, used))
            .clone()
    }
}

/// The pipelines over one sequence of binding tables (groups 0, 1, ...), by key.
pub(crate) struct PipelineCache<K> {
    groups: &'static [&'static [Binding]],
    made: Mutex<HashMap<K, Pipeline>>,
    /// Whether modules get wgpu's runtime bounds checks (tests) or are trusted.
    runtime_checks: bool,
}

impl<K: Hash + Eq + Copy> PipelineCache<K> {
    /// An empty cache for pipelines over the binding tables `groups`.
    pub(crate) fn new(groups: &'static [&'static [Binding]]) -> Self {
        PipelineCache {
            groups,
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

    /// The pipeline of `key`, made from `source()` on first use, with a layout of the
    /// bindings it uses (from `layouts`). Its module's workgroup memory and storage buffers
    /// are checked against the device's limits first.
    pub(crate) fn get(
        &self,
        ctx: &Context,
        layouts: &GroupLayouts,
        key: K,
        source: impl FnOnce() -> Result<PipelineSource>,
    ) -> Result<Pipeline> {
        let mut made = self.made.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = made.get(&key) {
            return Ok(p.clone());
        }
        let PipelineSource {
            entry,
            source,
            constants,
        } = source()?;
        // The module goes to wgpu as the naga IR parsed and specialised here (its override
        // constants resolved), not as WGSL: wgpu need not parse it again, and with
        // `WGPU_DEBUG` it has no source text to write into the SPIR-V's debug info, whose
        // WGSL source-language operand Vulkan validation layers before 1.3.250 reject.
        let Specialised {
            module,
            bindings: uses,
        } = specialise(entry, &source, entry, &constants)?;
        let limits = ctx.limits();
        check_workgroup_memory(entry, &module, &limits)?;
        let used: Vec<Used> = (0..self.groups.len() as u32)
            .map(|g| {
                uses.iter()
                    .filter(|(group, _)| *group == g)
                    .fold(0, |m, (_, b)| m | (1 << b))
            })
            .collect();
        if let Some((group, binding)) = uses.iter().find(|(g, b)| {
            *g as usize >= self.groups.len() || *b as usize >= self.groups[*g as usize].len()
        }) {
            return Err(Error::Gpu {
                stage: entry,
                message: format!(
                    "binds group {group} binding {binding}, which none of its binding tables has"
                ),
            });
        }
        let storage: u32 = self
            .groups
            .iter()
            .zip(&used)
            .map(|(table, used)| bindings::storage_count(table, *used))
            .sum();
        if storage > limits.max_storage_buffers_per_shader_stage {
            return Err(Error::limit(
                format!("kernel {entry}"),
                Resource::StorageBuffers,
                u64::from(storage),
                u64::from(limits.max_storage_buffers_per_shader_stage),
            ));
        }
        let group_layouts: Vec<wgpu::BindGroupLayout> = self
            .groups
            .iter()
            .zip(&used)
            .map(|(table, used)| layouts.get(ctx, table, *used))
            .collect();
        let group_refs: Vec<Option<&wgpu::BindGroupLayout>> =
            group_layouts.iter().map(Some).collect();
        let device = ctx.device();
        let layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(entry),
            bind_group_layouts: &group_refs,
            immediate_size: 0,
        });
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let desc = wgpu::ShaderModuleDescriptor {
            label: Some(entry),
            source: wgpu::ShaderSource::Naga(Cow::Owned(module)),
        };
        let shader = if self.runtime_checks {
            // wgpu's bounds checks (indices clamped into their arrays) and loop bounding:
            // the build the tests hold to the same reference as the trusted one.
            device.create_shader_module(desc)
        } else {
            // SAFETY: the only modules made here are the crate's kernels (crate::kernels),
            // which index only within sizes the host checks before any dispatch: batch and
            // chunk sizes (engine), the program table and scratch layout made from a
            // validated model (kernels::program, kernels::table), the tile kernel's
            // registers and workgroup memory (kernels::tile::misfit against the sizes
            // src/kernels/constants.rs writes into the source, and check_workgroup_memory
            // above). Divisors are tensor widths, never 0. So the runtime bounds checks and
            // loop bounding wgpu would add can go; the tests run every kernel on
            // NaN-poisoned buffers, in this build and the checked one.
            unsafe {
                device.create_shader_module_trusted(desc, wgpu::ShaderRuntimeChecks::unchecked())
            }
        };
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(entry),
            layout: Some(&layout),
            module: &shader,
            entry_point: Some(entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: &[],
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
        let made_pipeline = Pipeline { pipeline, used };
        made.insert(key, made_pipeline.clone());
        Ok(made_pipeline)
    }
}
