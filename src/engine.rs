//! A model resident on a GPU context: weights uploaded once, pipelines specialised for its
//! activation and output, and `eval` / `refine` over batches of any size.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{mpsc, Mutex};

use crate::config::{RefineConfig, Sampler};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::params::{ChainState, LayerDesc, Params, RUNNING, STOP_BELOW, STOP_CHANGE, STOP_GRAD};
use crate::plan::{self, Dispatch, KernelPath, PathChoice, WORKGROUP_SIZE};
use crate::shader::{check_module_workgroup_memory, specialise, Kernel};
use crate::tensors::check_finite;
use crate::timer::KernelTimer;
use crate::trace::{TraceRow, TraceSums};
/// Relative L2 error above which the start-up self-check rejects an adapter: float32
/// results land near 1e-6, a miscompiled kernel near 1.
const SELF_CHECK_TOLERANCE: f64 = 1e-3;
/// Largest binding `ebm` asks for, so every index in the shaders fits a u32.
const MAX_BINDING_BYTES: u64 = 1 << 31;

/// Energies and gradients of a batch.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// E(x, y) per chain, `[n]`.
    pub energy: Vec<f32>,
    /// dE/dy per chain, `[n, y_dim]` row-major.
    pub grad: Vec<f32>,
}

/// The outcome of a refinement.
#[derive(Clone, Debug, PartialEq)]
pub struct Refinement {
    /// Final y per chain, `[n, y_dim]` row-major.
    pub y: Vec<f32>,
    /// Final energy per chain, the prior (lambda/2)|y|^2 included, `[n]`.
    pub energy: Vec<f32>,
    /// GPU time of the kernels alone, summed over chunks, where the device has timestamps.
    pub gpu_seconds: Option<f64>,
    /// The kernel path that ran.
    pub path: KernelPath,
    /// The step each chain stopped before (early stopping), K for those that never
    /// stopped: the steps it took, `[n]`.
    pub stopped_at: Vec<u32>,
    /// Steps each chain took, `[n]`; for MALA and keep-if-lower, the proposals it accepted.
    pub accepted: Vec<u32>,
    /// Each chain's final step-size multiplier, `[n]`: 1 but for keep-if-lower (which
    /// shrinks it) and MALA's warm-up (which adapts it).
    pub step_scale: Vec<f32>,
    /// With `RefineConfig::trace`: per step, the batch's min / mean / max energy and mean
    /// gradient norm, reduced on the GPU.
    pub trace: Option<Vec<TraceRow>>,
}

impl Refinement {
    /// Per chain, the share of its steps whose proposal was accepted (MALA,
    /// keep-if-lower; 1 for Langevin), 1 for a chain that took no step.
    pub fn acceptance_rate(&self) -> Vec<f32> {
        self.accepted
            .iter()
            .zip(&self.stopped_at)
            .map(|(&a, &k)| if k == 0 { 1.0 } else { a as f32 / k as f32 })
            .collect()
    }
}

/// Scratch layout of one chain, in units (floats).
struct ScratchLayout {
    layers: Vec<LayerDesc>,
    units: u32,
    delta_a: u32,
    delta_b: u32,
    xpart: u32,
    /// y and dE/dy saved while a proposal is evaluated (accept rules).
    save: u32,
}

fn scratch_layout(model: &Model) -> Result<(ScratchLayout, Vec<f32>)> {
    let mut weights = Vec::new();
    let mut layers = Vec::new();
    let mut cursor = 0usize;
    let last = model.layers.len() - 1;
    for (l, layer) in model.layers.iter().enumerate() {
        let weight = weights.len();
        weights.extend_from_slice(&layer.weight);
        let bias = weights.len();
        weights.extend_from_slice(&layer.bias);
        let act = cursor;
        cursor += layer.n_out;
        let dact = if l == last { 0 } else { cursor };
        if l != last {
            cursor += layer.n_out;
        }
        layers.push([layer.n_in, layer.n_out, weight, bias, act, dact, 0]);
    }
    // Transposed copies, [n_in, n_out] row-major: the forward passes of the tile and
    // layered paths read them along rows.
    for (l, layer) in model.layers.iter().enumerate() {
        layers[l][6] = weights.len();
        for i in 0..layer.n_in {
            weights.extend((0..layer.n_out).map(|j| layer.weight[j * layer.n_in + i]));
        }
    }
    let widest = model.layers.iter().map(|l| l.n_out).max().unwrap();
    let delta_a = cursor;
    let delta_b = cursor + widest;
    let xpart = delta_b + widest;
    let save = xpart + model.layers[0].n_out;
    let units = save + 2 * model.y_dim;
    let fits = |v: usize| u32::try_from(v).ok();
    let too_big = || Error::Model("the model is too large for 32-bit indexing".into());
    let layers = layers
        .into_iter()
        .map(|v| {
            Ok(LayerDesc {
                n_in: fits(v[0]).ok_or_else(too_big)?,
                n_out: fits(v[1]).ok_or_else(too_big)?,
                weight: fits(v[2]).ok_or_else(too_big)?,
                bias: fits(v[3]).ok_or_else(too_big)?,
                act: fits(v[4]).ok_or_else(too_big)?,
                dact: fits(v[5]).ok_or_else(too_big)?,
                weight_t: fits(v[6]).ok_or_else(too_big)?,
                ..Default::default()
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((
        ScratchLayout {
            layers,
            units: fits(units).ok_or_else(too_big)?,
            delta_a: delta_a as u32,
            delta_b: delta_b as u32,
            xpart: xpart as u32,
            save: save as u32,
        },
        weights,
    ))
}

/// A model uploaded to a GPU context, ready to evaluate and refine batches.
pub struct Engine {
    ctx: Context,
    model: Model,
    scratch: ScratchLayout,
    weights: wgpu::Buffer,
    layer_table: wgpu::Buffer,
    bind_layout: wgpu::BindGroupLayout,
    pipeline_layout: wgpu::PipelineLayout,
    /// Pipelines made so far, by kernel, chains per workgroup (tile kernel) and accept rule.
    pipelines: Mutex<HashMap<(Kernel, u32, u32), wgpu::ComputePipeline>>,
    choice: PathChoice,
    /// Whether the tile kernel sums over lanes with subgroup operations.
    subgroups: bool,
    max_chunk: usize,
    params_stride: u64,
    poison: bool,
}

/// Per-chunk device buffers of one call.
struct RunBuffers {
    params: wgpu::Buffer,
    x: wgpu::Buffer,
    y: wgpu::Buffer,
    energy: wgpu::Buffer,
    grad: wgpu::Buffer,
    scratch: wgpu::Buffer,
    fixed: wgpu::Buffer,
    chain_state: wgpu::Buffer,
    trace: wgpu::Buffer,
    readback: wgpu::Buffer,
    timer: Option<KernelTimer>,
    bind_group: wgpu::BindGroup,
}

struct ChunkOutput {
    y: Vec<f32>,
    energy: Vec<f32>,
    grad: Vec<f32>,
    states: Vec<ChainState>,
    /// trace_reduce's per-step sums of this chunk, `[K][4]`.
    trace: Vec<f32>,
    gpu_seconds: Option<f64>,
}

/// What a call gives: the chunks' outputs joined.
struct RunOutput {
    y: Vec<f32>,
    energy: Vec<f32>,
    grad: Vec<f32>,
    states: Vec<ChainState>,
    /// The trace's per-step sums over every chunk, with `RefineConfig::trace`.
    trace: Option<TraceSums>,
    gpu_seconds: Option<f64>,
}

/// Storage buffers a kernel binds (bindings.wgsl); the device must allow as many per stage.
const STORAGE_BINDINGS: u32 = 11;

impl Engine {
    /// Validates the model, uploads its weights and checks the kernels it will run against
    /// the float64 reference (see [`Engine::with_path`]).
    pub fn new(ctx: &Context, model: &Model) -> Result<Engine> {
        Engine::with_path(ctx, model, PathChoice::Auto)
    }

    /// As [`Engine::new`], with the kernel path chosen by `choice` (for testing and
    /// benchmarking a path; `PathChoice::Auto` picks per call from the batch).
    pub fn with_path(ctx: &Context, model: &Model, choice: PathChoice) -> Result<Engine> {
        model.validate()?;
        let device = &ctx.device;
        let limits = ctx.limits();
        let (scratch, weights) = scratch_layout(model)?;
        let weight_bytes = (weights.len() * 4) as u64;
        let binding_limit = binding_limit(&limits);
        if weight_bytes > binding_limit {
            return Err(Error::Limit {
                kernel: "weights",
                resource: "storage buffer binding",
                needed: weight_bytes,
                limit: binding_limit,
            });
        }
        if limits.max_storage_buffers_per_shader_stage < STORAGE_BINDINGS {
            return Err(Error::Limit {
                kernel: "refine",
                resource: "storage buffers per shader stage",
                needed: u64::from(STORAGE_BINDINGS),
                limit: u64::from(limits.max_storage_buffers_per_shader_stage),
            });
        }
        if limits.max_compute_invocations_per_workgroup < WORKGROUP_SIZE
            || limits.max_compute_workgroup_size_x < WORKGROUP_SIZE
        {
            return Err(Error::Limit {
                kernel: "refine",
                resource: "invocations per workgroup",
                needed: u64::from(WORKGROUP_SIZE),
                limit: u64::from(limits.max_compute_invocations_per_workgroup),
            });
        }
        let weights_buf = storage_init(device, "weights", bytemuck::cast_slice(&weights));
        let layer_table =
            storage_init(device, "layer table", bytemuck::cast_slice(&scratch.layers));
        let bind_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("ebm mlp"),
            entries: &bind_layout_entries(),
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("ebm mlp"),
            bind_group_layouts: &[Some(&bind_layout)],
            immediate_size: 0,
        });
        let per_chain = 4 * u64::from(
            scratch
                .units
                .max(model.x_dim as u32)
                .max(model.y_dim as u32),
        );
        let max_chunk = (binding_limit / per_chain).min(u64::from(u32::MAX)) as usize;
        if max_chunk == 0 {
            return Err(Error::Limit {
                kernel: "refine",
                resource: "storage buffer binding (scratch of one chain)",
                needed: per_chain,
                limit: binding_limit,
            });
        }
        let params_stride = (std::mem::size_of::<Params>() as u64)
            .next_multiple_of(u64::from(limits.min_uniform_buffer_offset_alignment));
        let engine = Engine {
            ctx: ctx.clone(),
            model: model.clone(),
            scratch,
            weights: weights_buf,
            layer_table,
            bind_layout,
            pipeline_layout,
            pipelines: Mutex::new(HashMap::new()),
            choice,
            subgroups: subgroups_usable(ctx),
            max_chunk,
            params_stride,
            poison: false,
        };
        engine.self_check()?;
        Ok(engine)
    }

    /// The pipeline of `kernel` (with `chains` chains per workgroup for the tile kernel)
    /// for accept rule `rule` (`Sampler::rule_id`), specialised for this model and made on
    /// first use.
    fn pipeline(&self, kernel: Kernel, chains: u32, rule: u32) -> Result<wgpu::ComputePipeline> {
        let mut cache = self.pipelines.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = cache.get(&(kernel, chains, rule)) {
            return Ok(p.clone());
        }
        let limits = self.ctx.limits();
        let (workgroup_size, extra) = if matches!(kernel, Kernel::Tile | Kernel::TileSubgroup) {
            let width = plan::tile_width(&self.model);
            if let Some(why) = plan::tile_misfit(&self.model, chains, &limits) {
                return Err(Error::Gpu {
                    stage: "tile",
                    message: why,
                });
            }
            (
                plan::TILE_THREADS,
                vec![
                    ("CHAINS", f64::from(chains)),
                    ("WIDTH", f64::from(width)),
                    (
                        "K_TILE",
                        f64::from(plan::tile_k(&self.model, chains, &limits)),
                    ),
                ],
            )
        } else {
            (WORKGROUP_SIZE, vec![])
        };
        let mut all = vec![
            ("ACTIVATION", f64::from(self.model.activation.shader_id())),
            ("OUTPUT", f64::from(self.model.output.shader_id())),
            ("WORKGROUP_SIZE", f64::from(workgroup_size)),
            ("RULE", f64::from(rule)),
        ];
        all.extend(extra);
        let constants = kernel.constants(&all);
        let (module, _) = specialise(kernel, &all)?;
        check_module_workgroup_memory(kernel.entry_point(), &module, &limits)?;
        let device = &self.ctx.device;
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let desc = wgpu::ShaderModuleDescriptor {
            label: Some(kernel.entry_point()),
            source: wgpu::ShaderSource::Wgsl(Cow::Owned(kernel.source_for(&all))),
        };
        // SAFETY: the kernels index only within sizes the host has checked before any
        // dispatch: batch and chunk sizes (check_batch, run), the layer table built from a
        // validated model (scratch_layout), the tile kernel's registers and workgroup
        // memory (plan::tile_misfit, and check_module_workgroup_memory above). Divisors are
        // layer widths, never 0. So the runtime bounds checks and loop bounding wgpu would
        // add can go; the tests run every kernel on NaN-poisoned buffers.
        let module = unsafe {
            device.create_shader_module_trusted(desc, wgpu::ShaderRuntimeChecks::unchecked())
        };
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(kernel.entry_point()),
            layout: Some(&self.pipeline_layout),
            module: &module,
            entry_point: Some(kernel.entry_point()),
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
        cache.insert((kernel, chains, rule), pipeline.clone());
        Ok(pipeline)
    }

    /// The path a refinement of `n` chains runs on.
    pub fn path_for(&self, n: usize) -> Result<KernelPath> {
        plan::choose(
            self.choice,
            &self.model,
            n,
            self.ctx.adapter_info(),
            &self.ctx.limits(),
        )
    }

    /// Evaluates a few probe chains and refines them on every path this engine may take,
    /// and compares the results with the float64 reference, so that a driver that
    /// miscomputes this model fails here instead of returning wrong answers.
    fn self_check(&self) -> Result<()> {
        // A forced path that cannot run this model is refused here, by name.
        self.path_for(1)?;
        let n = 3;
        let mut rng = crate::rng::HostRng::new(0x5E1F, 1);
        let mut draw =
            |len: usize| -> Vec<f32> { (0..len).map(|_| rng.symmetric() as f32).collect() };
        let x = draw(n * self.model.x_dim);
        let y = draw(n * self.model.y_dim);
        let evaluation = self.run(None, n, &x, &y, KernelPath::Chain)?;
        let (energy, grad) = crate::reference::eval(&self.model, &x, &y);
        self.compare_to_reference(
            "eval",
            evaluation.energy.iter().chain(&evaluation.grad),
            energy.iter().chain(&grad),
        )?;
        let info = self.ctx.adapter_info();
        for path in plan::candidates(self.choice, &self.model, info, &self.ctx.limits()) {
            // A refinement that spans more than one dispatch, as long ones do on some drivers:
            // a full run of steps (which the driver must not cut short), then one more.
            let steps =
                match plan::steps_per_dispatch(info, &self.ctx.limits(), &self.model, path, None) {
                    u32::MAX => 4,
                    spd => spd.saturating_add(1).min(2001),
                };
            let config = RefineConfig {
                steps,
                step_size: 1e-3,
                ..Default::default()
            };
            let refined = self.run(Some(&config), n, &x, &y, path)?;
            let (y_ref, e_ref) = crate::reference::refine(&self.model, &x, &y, &config);
            self.compare_to_reference(
                &format!("refine on the {path} path"),
                refined.y.iter().chain(&refined.energy),
                y_ref.iter().chain(&e_ref),
            )?;
        }
        Ok(())
    }

    fn compare_to_reference<'a>(
        &self,
        what: &str,
        got: impl Iterator<Item = &'a f32>,
        expected: impl Iterator<Item = &'a f64>,
    ) -> Result<()> {
        let (mut num, mut den) = (0.0f64, 0.0f64);
        for (g, e) in got.zip(expected) {
            num += (f64::from(*g) - e).powi(2);
            den += e * e;
        }
        let err = (num / den.max(f64::MIN_POSITIVE)).sqrt();
        if err.is_nan() || err >= SELF_CHECK_TOLERANCE {
            return Err(Error::Gpu {
                stage: "self-check",
                message: format!(
                    "adapter {:?} computed {what} for this model with results that differ from the float64 reference (relative error {err:.2e}); they would be wrong, so ebm refuses to run it there. Known case: Mesa's llvmpipe ends every loop of a kernel after 65,535 iterations in all, which models of a few hundred thousand weights exceed",
                    self.ctx.adapter_info().name
                ),
            });
        }
        Ok(())
    }

    /// The model this engine runs.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The most chains one submission takes; larger batches are split into chunks.
    pub fn max_chunk(&self) -> usize {
        self.max_chunk
    }

    /// Lowers the chunk size (e.g. to bound memory); results do not depend on it.
    pub fn set_max_chunk(&mut self, chains: usize) -> Result<()> {
        if chains == 0 {
            return Err(Error::option("--chunk", "must be at least 1"));
        }
        self.max_chunk = self.max_chunk.min(chains);
        Ok(())
    }

    /// Whether the tile kernel uses subgroup operations (where the device has them; the
    /// portable version otherwise).
    pub fn uses_subgroups(&self) -> bool {
        self.subgroups
    }

    /// Turns the tile kernel's subgroup operations off (or back on, where the device has
    /// them), and checks the kernels again; for testing the portable version.
    #[doc(hidden)]
    pub fn set_subgroups(&mut self, on: bool) -> Result<()> {
        self.subgroups = on && subgroups_usable(&self.ctx);
        self.self_check()
    }

    /// Fills every output and scratch buffer with NaN before each dispatch, so that a value
    /// a kernel fails to write shows up in tests.
    #[doc(hidden)]
    pub fn poison_outputs(&mut self, on: bool) {
        self.poison = on;
    }

    /// Energies and dE/dy of a batch: `x` is `[n, x_dim]`, `y` is `[n, y_dim]`.
    pub fn eval(&self, x: &[f32], y: &[f32]) -> Result<Evaluation> {
        let n = self.check_batch(x, y)?;
        let out = self.run(None, n, x, y, KernelPath::Chain)?;
        Ok(Evaluation {
            energy: out.energy,
            grad: out.grad,
        })
    }

    /// Refines every chain from `y0` (`[n, y_dim]`) given `x` (`[n, x_dim]`), all steps on
    /// the GPU with no read-back in between.
    pub fn refine(&self, x: &[f32], y0: &[f32], config: &RefineConfig) -> Result<Refinement> {
        self.refine_fixed(x, y0, None, config)
    }

    /// As [`Engine::refine`], with coordinates held at their start values: `fixed` is
    /// `[n, y_dim]`, true where y never moves (e.g. the given clues of a puzzle). Held
    /// coordinates do not count in the gradient-clipping norm.
    pub fn refine_fixed(
        &self,
        x: &[f32],
        y0: &[f32],
        fixed: Option<&[bool]>,
        config: &RefineConfig,
    ) -> Result<Refinement> {
        config.validate()?;
        let n = self.check_batch(x, y0)?;
        if let Some(g) = config.simplex {
            if self.model.y_dim % g as usize != 0 {
                return Err(Error::option(
                    "--simplex",
                    format!(
                        "groups of {g} do not divide the model's y_dim {}",
                        self.model.y_dim
                    ),
                ));
            }
        }
        let fixed: Option<Vec<u32>> = match fixed {
            Some(f) if f.len() != y0.len() => {
                return Err(Error::input(
                    "fixed",
                    format!(
                        "holds {} values; {n} chains of y_dim {} need {}",
                        f.len(),
                        self.model.y_dim,
                        y0.len()
                    ),
                ))
            }
            Some(f) => Some(f.iter().map(|&b| u32::from(b)).collect()),
            None => None,
        };
        let path = self.path_for(n)?;
        let out = self.run_with(Some(config), n, x, y0, fixed.as_deref(), path)?;
        let steps = config.steps;
        Ok(Refinement {
            y: out.y,
            energy: out.energy,
            gpu_seconds: out.gpu_seconds,
            path,
            stopped_at: out
                .states
                .iter()
                .map(|s| {
                    if s.stopped_at == RUNNING {
                        steps
                    } else {
                        s.stopped_at
                    }
                })
                .collect(),
            accepted: out.states.iter().map(|s| s.accepted).collect(),
            step_scale: out.states.iter().map(|s| s.scale).collect(),
            trace: out.trace.map(|t| t.rows(n)),
        })
    }

    fn check_batch(&self, x: &[f32], y: &[f32]) -> Result<usize> {
        let (x_dim, y_dim) = (self.model.x_dim, self.model.y_dim);
        if y.is_empty() {
            return Err(Error::input(
                "y",
                "empty batch: at least one chain is needed",
            ));
        }
        if y.len() % y_dim != 0 {
            return Err(Error::input(
                "y",
                format!(
                    "holds {} values, not a multiple of the model's y_dim {y_dim}",
                    y.len()
                ),
            ));
        }
        let n = y.len() / y_dim;
        if x.len() != n * x_dim {
            return Err(Error::input(
                "x",
                format!(
                    "holds {} values; the model's x_dim is {x_dim}, so {n} chains need {}",
                    x.len(),
                    n * x_dim
                ),
            ));
        }
        if u32::try_from(n).is_err() {
            return Err(Error::input(
                "y",
                format!("{n} chains; at most {} are supported", u32::MAX),
            ));
        }
        check_finite("x", x).map_err(|m| Error::input("x", m))?;
        check_finite("y", y).map_err(|m| Error::input("y", m))?;
        Ok(n)
    }

    /// Runs an evaluation (`config` None, on the chain path) or a refinement of `n` chains
    /// on `path`, chunk by chunk.
    fn run(
        &self,
        config: Option<&RefineConfig>,
        n: usize,
        x: &[f32],
        y: &[f32],
        path: KernelPath,
    ) -> Result<RunOutput> {
        self.run_with(config, n, x, y, None, path)
    }

    /// As `run`, with held coordinates (`fixed`, `[n, y_dim]`, nonzero where held).
    fn run_with(
        &self,
        config: Option<&RefineConfig>,
        n: usize,
        x: &[f32],
        y: &[f32],
        fixed: Option<&[u32]>,
        path: KernelPath,
    ) -> Result<RunOutput> {
        let device = &self.ctx.device;
        let path = match config {
            Some(_) => path,
            None => KernelPath::Chain,
        };
        let per_group = match path {
            KernelPath::Chain => WORKGROUP_SIZE,
            KernelPath::Tile { chains } => chains,
            KernelPath::Layered => plan::LAYERED_TILE,
        };
        let max_groups = self.ctx.limits().max_compute_workgroups_per_dimension as usize;
        let mut chunk = n.min(self.max_chunk).min(max_groups * per_group as usize);
        let steps = config.map(|c| c.steps);
        let trace = config.is_some_and(|c| c.trace && c.steps > 0);
        if trace {
            // The trace holds 8 bytes per chain and step, within one binding.
            let limits = self.ctx.limits();
            let binding = binding_limit(&limits);
            let k = u64::from(config.map_or(0, |c| c.steps));
            let fits = binding.saturating_sub(16 * k) / (8 * k);
            if fits == 0 {
                return Err(Error::option(
                    "--trace",
                    format!("{k} steps need more than the device's largest buffer ({binding} bytes) for one chain's trace"),
                ));
            }
            chunk = chunk.min(fits as usize);
        }
        let rule = config.map_or(0, |c| c.sampler.rule_id());
        let spd = plan::steps_per_dispatch(
            self.ctx.adapter_info(),
            &self.ctx.limits(),
            &self.model,
            path,
            config,
        );
        let plan_for =
            |m: usize| plan::dispatches(path, &self.model, m as u32, steps, spd, rule != 0, trace);
        let dispatches = plan_for(chunk);
        let pipelines = dispatches
            .iter()
            .map(|d| match d.kernel {
                Kernel::Tile if self.subgroups => {
                    self.pipeline(Kernel::TileSubgroup, d.chains, rule)
                }
                kernel => self.pipeline(kernel, d.chains, rule),
            })
            .collect::<Result<Vec<_>>>()?;
        let oom = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let table = match config {
            Some(c) => c.step_table()?,
            None => Vec::new(),
        };
        // Bindings may not be empty: an evaluation (or K = 0) gets one unused entry.
        let table = if table.is_empty() {
            vec![[0.0; 2]]
        } else {
            table
        };
        let schedule = storage_init(device, "schedule", bytemuck::cast_slice(&table));
        let trace_steps = if trace { steps.unwrap_or(0) } else { 0 };
        let buffers = self.buffers(chunk, dispatches.len() as u32, &schedule, trace_steps);
        let (x_dim, y_dim) = (self.model.x_dim, self.model.y_dim);
        let mut out = RunOutput {
            y: Vec::with_capacity(n * y_dim),
            energy: Vec::with_capacity(n),
            grad: Vec::with_capacity(n * y_dim),
            states: Vec::with_capacity(n),
            trace: config.filter(|c| c.trace).map(|c| TraceSums::new(c.steps)),
            gpu_seconds: buffers.timer.as_ref().map(|_| 0.0),
        };
        let mut result = Ok(());
        for start in (0..n).step_by(chunk) {
            let m = chunk.min(n - start);
            let part = self.run_chunk(
                &plan_for(m),
                &pipelines,
                &buffers,
                start,
                chunk,
                &x[start * x_dim..(start + m) * x_dim],
                &y[start * y_dim..(start + m) * y_dim],
                fixed.map(|f| &f[start * y_dim..(start + m) * y_dim]),
                config,
            );
            match part {
                Ok(part) => {
                    out.y.extend(part.y);
                    out.energy.extend(part.energy);
                    out.grad.extend(part.grad);
                    out.states.extend(part.states);
                    if let Some(sums) = &mut out.trace {
                        sums.add(&part.trace);
                    }
                    if let (Some(total), Some(s)) = (&mut out.gpu_seconds, part.gpu_seconds) {
                        *total += s;
                    }
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        let validation = pollster::block_on(scope.pop());
        let memory = pollster::block_on(oom.pop());
        if let Some(e) = validation.or(memory) {
            return Err(Error::Gpu {
                stage: if config.is_some() { "refine" } else { "eval" },
                message: e.to_string(),
            });
        }
        result.map(|()| out)
    }

    /// Buffers for chunks of up to `chunk` chains; `trace_steps` > 0 sizes a trace.
    fn buffers(
        &self,
        chunk: usize,
        dispatches: u32,
        schedule: &wgpu::Buffer,
        trace_steps: u32,
    ) -> RunBuffers {
        let device = &self.ctx.device;
        let (x_dim, y_dim) = (self.model.x_dim as u64, self.model.y_dim as u64);
        let n = chunk as u64;
        let storage = wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_DST
            | wgpu::BufferUsages::COPY_SRC;
        let buffer = |label, floats: u64, usage| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                // Bindings may not be empty: x of an unconditional model gets one word.
                size: 4 * floats.max(1),
                usage,
                mapped_at_creation: false,
            })
        };
        let params = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("params"),
            size: self.params_stride * u64::from(dispatches),
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let x = buffer("x", n * x_dim, storage);
        let y = buffer("y", n * y_dim, storage);
        let energy = buffer("energy", n, storage);
        let grad = buffer("grad", n * y_dim, storage);
        let scratch = buffer(
            "scratch",
            n * u64::from(self.scratch.units),
            wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        );
        let fixed = buffer("fixed", n * y_dim, storage);
        let state_words = (std::mem::size_of::<ChainState>() / 4) as u64;
        let chain_state = buffer("chain state", n * state_words, storage);
        let k = u64::from(trace_steps);
        let trace = buffer("trace", k * (2 * n + 4), storage);
        let readback = buffer(
            "readback",
            n * (2 * y_dim + 1 + state_words) + 4 * k,
            wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        );
        let timer = KernelTimer::new(&self.ctx);
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("ebm mlp"),
            layout: &self.bind_layout,
            entries: &[
                wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &params,
                    offset: 0,
                    size: wgpu::BufferSize::new(std::mem::size_of::<Params>() as u64),
                }),
                self.weights.as_entire_binding(),
                self.layer_table.as_entire_binding(),
                x.as_entire_binding(),
                y.as_entire_binding(),
                energy.as_entire_binding(),
                grad.as_entire_binding(),
                scratch.as_entire_binding(),
                schedule.as_entire_binding(),
                fixed.as_entire_binding(),
                chain_state.as_entire_binding(),
                trace.as_entire_binding(),
            ]
            .into_iter()
            .enumerate()
            .map(|(i, resource)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource,
            })
            .collect::<Vec<_>>(),
        });
        RunBuffers {
            params,
            x,
            y,
            energy,
            grad,
            scratch,
            fixed,
            chain_state,
            trace,
            readback,
            timer,
            bind_group,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn run_chunk(
        &self,
        dispatches: &[Dispatch],
        pipelines: &[wgpu::ComputePipeline],
        b: &RunBuffers,
        start: usize,
        stride: usize,
        x: &[f32],
        y: &[f32],
        fixed: Option<&[u32]>,
        config: Option<&RefineConfig>,
    ) -> Result<ChunkOutput> {
        let (device, queue) = (&self.ctx.device, &self.ctx.queue);
        let m = y.len() / self.model.y_dim;
        let default = RefineConfig::default();
        let cfg = config.unwrap_or(&default);
        let clamp = cfg.clamp.unwrap_or((0.0, 0.0));
        let params = Params {
            n_chains: m as u32,
            chain_offset: start as u32,
            x_dim: self.model.x_dim as u32,
            y_dim: self.model.y_dim as u32,
            n_layers: self.scratch.layers.len() as u32,
            stride: stride as u32,
            seed_lo: cfg.seed as u32,
            seed_hi: (cfg.seed >> 32) as u32,
            delta_a: self.scratch.delta_a,
            delta_b: self.scratch.delta_b,
            xpart: self.scratch.xpart,
            prior_l2: cfg.prior_l2,
            use_clamp: u32::from(cfg.clamp.is_some()),
            clamp_lo: clamp.0,
            clamp_hi: clamp.1,
            clip_norm: cfg.clip_grad.unwrap_or(0.0),
            use_fixed: u32::from(fixed.is_some()),
            simplex: cfg.simplex.unwrap_or(0),
            save: self.scratch.save,
            trace: u32::from(cfg.trace),
            trace_summary: 2 * (stride as u32) * cfg.steps,
            ..Default::default()
        };
        let params = with_sampler_and_stop(params, cfg);
        // One Params block per dispatch: its step range, layer and whether it writes the
        // energy.
        let stride = self.params_stride as usize;
        let mut blocks = vec![0u8; stride * dispatches.len()];
        for (i, d) in dispatches.iter().enumerate() {
            let block = Params {
                step_offset: d.step_offset,
                steps: d.steps,
                write_energy: u32::from(d.write_energy),
                layer: d.layer,
                ..params
            };
            let at = i * stride;
            blocks[at..at + std::mem::size_of::<Params>()]
                .copy_from_slice(bytemuck::bytes_of(&block));
        }
        queue.write_buffer(&b.params, 0, &blocks);
        if !x.is_empty() {
            queue.write_buffer(&b.x, 0, bytemuck::cast_slice(x));
        }
        queue.write_buffer(&b.y, 0, bytemuck::cast_slice(y));
        if let Some(f) = fixed {
            queue.write_buffer(&b.fixed, 0, bytemuck::cast_slice(f));
        }
        queue.write_buffer(
            &b.chain_state,
            0,
            bytemuck::cast_slice(&vec![ChainState::start(); m]),
        );
        if self.poison {
            for buffer in [&b.energy, &b.grad, &b.scratch, &b.trace, &b.readback] {
                let nan = vec![f32::NAN; (buffer.size() / 4) as usize];
                queue.write_buffer(buffer, 0, bytemuck::cast_slice(&nan));
            }
        }

        let mut encoder = device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("ebm"),
                timestamp_writes: b.timer.as_ref().map(KernelTimer::writes),
            });
            for (i, (d, pipeline)) in dispatches.iter().zip(pipelines).enumerate() {
                pass.set_pipeline(pipeline);
                pass.set_bind_group(0, &b.bind_group, &[i as u32 * self.params_stride as u32]);
                pass.dispatch_workgroups(d.groups.0, d.groups.1, 1);
            }
        }
        let y_bytes = (y.len() * 4) as u64;
        let e_bytes = (m * 4) as u64;
        let state_bytes = (m * std::mem::size_of::<ChainState>()) as u64;
        let summary_at = 4 * u64::from(params.trace_summary);
        let summary_bytes = if cfg.trace {
            16 * u64::from(cfg.steps)
        } else {
            0
        };
        let mut copied = 0;
        for (src, at, bytes) in [
            (&b.y, 0, y_bytes),
            (&b.energy, 0, e_bytes),
            (&b.grad, 0, y_bytes),
            (&b.chain_state, 0, state_bytes),
            (&b.trace, summary_at, summary_bytes),
        ] {
            if bytes > 0 {
                encoder.copy_buffer_to_buffer(src, at, &b.readback, copied, bytes);
            }
            copied += bytes;
        }
        if let Some(timer) = &b.timer {
            timer.resolve(&mut encoder);
        }
        queue.submit([encoder.finish()]);

        let data: Vec<f32> = read_back(device, &b.readback, copied)?;
        let gpu_seconds = match &b.timer {
            Some(timer) => Some(timer.seconds(&self.ctx)?),
            None => None,
        };
        let (ys, rest) = data.split_at(y.len());
        let (energy, rest) = rest.split_at(m);
        let (grad, rest) = rest.split_at(y.len());
        let (states, trace) = rest.split_at(state_bytes as usize / 4);
        Ok(ChunkOutput {
            y: ys.to_vec(),
            energy: energy.to_vec(),
            grad: grad.to_vec(),
            states: bytemuck::pod_collect_to_vec(states),
            trace: trace.to_vec(),
            gpu_seconds,
        })
    }
}

/// The largest buffer `ebm` binds on this device.
fn binding_limit(limits: &wgpu::Limits) -> u64 {
    limits
        .max_storage_buffer_binding_size
        .min(limits.max_buffer_size)
        .min(MAX_BINDING_BYTES)
}

/// `params` with the sampler's and the stop rule's fields of `cfg`.
fn with_sampler_and_stop(params: Params, cfg: &RefineConfig) -> Params {
    let mut p = params;
    match cfg.sampler {
        Sampler::Langevin => {}
        Sampler::Mala {
            adapt_steps,
            target_accept,
        } => {
            p.adapt_steps = adapt_steps;
            p.target_accept = target_accept;
        }
        Sampler::KeepIfLower { shrink } => p.shrink = shrink,
    }
    let stop = cfg.stop;
    for (bit, value, field) in [
        (STOP_GRAD, stop.grad_norm, &mut p.stop_grad),
        (STOP_CHANGE, stop.energy_change, &mut p.stop_change),
        (STOP_BELOW, stop.energy_below, &mut p.stop_below),
    ] {
        if let Some(v) = value {
            *field = v;
            p.stop_flags |= bit;
        }
    }
    p
}

/// Subgroup operations serve the tile kernel where the device has them and its subgroups
/// have at least 8 invocations (lane_sum_subgroup.wgsl sizes its slots for that).
fn subgroups_usable(ctx: &Context) -> bool {
    ctx.features().contains(wgpu::Features::SUBGROUP) && ctx.adapter_info().subgroup_min_size >= 8
}

fn storage_init(device: &wgpu::Device, label: &str, contents: &[u8]) -> wgpu::Buffer {
    use wgpu::util::DeviceExt;
    device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some(label),
        contents,
        usage: wgpu::BufferUsages::STORAGE,
    })
}

fn bind_layout_entries() -> Vec<wgpu::BindGroupLayoutEntry> {
    // Binding order as in shaders/bindings.wgsl: params, weights, layer table, x, y,
    // energy, grad, scratch, schedule, fixed, chain state, trace.
    let read_only = [
        true, true, true, false, false, false, false, true, true, false, false,
    ];
    let mut entries = vec![wgpu::BindGroupLayoutEntry {
        binding: 0,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            has_dynamic_offset: true,
            min_binding_size: None,
        },
        count: None,
    }];
    for (i, read_only) in read_only.into_iter().enumerate() {
        entries.push(wgpu::BindGroupLayoutEntry {
            binding: i as u32 + 1,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage { read_only },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        });
    }
    entries
}

/// Maps `bytes` of a MAP_READ buffer and copies them out as `T`s.
pub(crate) fn read_back<T: bytemuck::Pod>(
    device: &wgpu::Device,
    buffer: &wgpu::Buffer,
    bytes: u64,
) -> Result<Vec<T>> {
    let fail = |message: String| Error::Gpu {
        stage: "read-back",
        message,
    };
    let slice = buffer.slice(..bytes);
    let (tx, rx) = mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    device
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| fail(e.to_string()))?;
    rx.recv()
        .map_err(|e| fail(e.to_string()))?
        .map_err(|e| fail(e.to_string()))?;
    let data = {
        let view = slice.get_mapped_range().map_err(|e| fail(e.to_string()))?;
        bytemuck::pod_collect_to_vec(&view[..])
    };
    buffer.unmap();
    Ok(data)
}
