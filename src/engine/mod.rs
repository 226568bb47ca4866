//! A model resident on a GPU context: weights uploaded once, pipelines specialised for its
//! activation and output, and `eval` / `refine` over batches of any size (run by `run`).

mod run;

pub(crate) use run::read_back;
use run::{binding_limit, check_non_finite, storage_init};

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Mutex;

use crate::config::RefineConfig;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::params::{LayerDesc, Params, RUNNING};
use crate::plan::{self, KernelPath, PathChoice, WORKGROUP_SIZE};
use crate::progress::OnProgress;
use crate::shader::{check_module_workgroup_memory, specialise, Kernel};
use crate::tensors::check_finite;
use crate::trace::TraceRow;
/// Relative L2 error above which the start-up self-check rejects an adapter: float32
/// results land near 1e-6, a miscompiled kernel near 1.
const SELF_CHECK_TOLERANCE: f64 = 1e-3;

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
    /// stopped, the steps done for those a cancellation stopped: the steps it took, `[n]`.
    pub steps_taken: Vec<u32>,
    /// Steps each chain took, `[n]`; for MALA and keep-if-lower, the proposals it accepted.
    pub accepted: Vec<u32>,
    /// Each chain's final step-size multiplier, `[n]`: 1 but for keep-if-lower (which
    /// shrinks it) and MALA's warm-up (which adapts it).
    pub step_scale: Vec<f32>,
    /// With `RefineConfig::trace`: per step, the batch's min / mean / max energy and mean
    /// gradient norm, reduced on the GPU (a cancelled refinement: the steps every chunk
    /// reached).
    pub trace: Option<Vec<TraceRow>>,
    /// Per chain, the step whose result first held a NaN or infinity; a chain whose y stayed
    /// finite but whose final energy is not gets the steps it took. None: finite throughout.
    /// Only returned with `RefineConfig::keep_non_finite`; otherwise such chains are an
    /// error.
    pub non_finite_at: Vec<Option<u32>>,
    /// Whether a progress callback stopped the refinement before its last step.
    pub cancelled: bool,
}

impl Refinement {
    /// Per chain, the share of its steps whose proposal was accepted (MALA,
    /// keep-if-lower; 1 for Langevin), 1 for a chain that took no step.
    pub fn acceptance_rate(&self) -> Vec<f32> {
        self.accepted
            .iter()
            .zip(&self.steps_taken)
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
    /// y and dE/dy saved while a proposal is evaluated, then whether the proposal held a
    /// NaN or infinity (accept rules).
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
    let units = save + 2 * model.y_dim + 1;
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
    /// Whether kernels are built with wgpu's runtime bounds checks (tests); trusted
    /// otherwise, since the host checks every size first.
    runtime_checks: bool,
    /// The limits the planner reads, where a test stands in another adapter's (the real
    /// device's limits still bound every pipeline).
    planning_limits: Option<wgpu::Limits>,
    /// Measured seconds per chain-step of each path on this device: sizes the next calls'
    /// chunks and first submissions.
    rates: Mutex<HashMap<KernelPath, f64>>,
    /// Forces the steps of one fused dispatch (tests); 0: the planner's choice.
    forced_steps_per_dispatch: u32,
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
        ctx.check_alive()?;
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
        let weights_buf = storage_init(ctx, "weights", bytemuck::cast_slice(&weights));
        let layer_table = storage_init(ctx, "layer table", bytemuck::cast_slice(&scratch.layers));
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
            runtime_checks: false,
            planning_limits: None,
            rates: Mutex::new(HashMap::new()),
            forced_steps_per_dispatch: 0,
        };
        engine.self_check()?;
        Ok(engine)
    }

    /// The limits the planner works with: the device's, unless a test stands in another's.
    fn plan_limits(&self) -> wgpu::Limits {
        self.planning_limits
            .clone()
            .unwrap_or_else(|| self.ctx.limits())
    }

    /// The pipeline of `kernel` (with `chains` chains per workgroup for the tile kernel)
    /// for accept rule `rule` (`Sampler::rule_id`), specialised for this model and made on
    /// first use.
    fn pipeline(&self, kernel: Kernel, chains: u32, rule: u32) -> Result<wgpu::ComputePipeline> {
        let mut cache = self.pipelines.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = cache.get(&(kernel, chains, rule)) {
            return Ok(p.clone());
        }
        let limits = self.plan_limits();
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
        // The real device's workgroup memory, whatever limits the planner was given.
        check_module_workgroup_memory(kernel.entry_point(), &module, &self.ctx.limits())?;
        let device = &self.ctx.device;
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let desc = wgpu::ShaderModuleDescriptor {
            label: Some(kernel.entry_point()),
            source: wgpu::ShaderSource::Wgsl(Cow::Owned(kernel.source_for(&all))),
        };
        let module = if self.runtime_checks {
            // wgpu's bounds checks (indices clamped into their arrays) and loop bounding:
            // the build the tests hold to the same reference as the trusted one.
            device.create_shader_module(desc)
        } else {
            // SAFETY: the kernels index only within sizes the host has checked before any
            // dispatch: batch and chunk sizes (check_batch, run), the layer table built from
            // a validated model (scratch_layout), the tile kernel's registers and workgroup
            // memory (plan::tile_misfit against the sizes src/constants.rs writes into the
            // source, and check_module_workgroup_memory above). Divisors are layer widths,
            // never 0. So the runtime bounds checks and loop bounding wgpu would add can go;
            // the tests run every kernel on NaN-poisoned buffers, in this build and in the
            // checked one.
            unsafe {
                device.create_shader_module_trusted(desc, wgpu::ShaderRuntimeChecks::unchecked())
            }
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
            &self.plan_limits(),
        )
    }

    /// The path evaluations run on.
    pub fn eval_path(&self) -> KernelPath {
        plan::eval_path(&self.model, self.ctx.adapter_info())
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
        let eval_path = self.eval_path();
        let evaluation = self.run(None, n, &x, &y, None, eval_path, None)?;
        let (energy, grad) = crate::reference::eval(&self.model, &x, &y);
        self.compare_to_reference(
            &format!("eval on the {eval_path} path"),
            evaluation.energy.iter().chain(&evaluation.grad),
            energy.iter().chain(&grad),
        )?;
        let info = self.ctx.adapter_info();
        let limits = self.plan_limits();
        for path in plan::candidates(self.choice, &self.model, info, &limits) {
            // A refinement that spans more than one dispatch, as long ones do on some drivers:
            // a full run of steps (which the driver must not cut short), then one more.
            let steps = match plan::steps_per_dispatch(info, &limits, &self.model, path, None) {
                u32::MAX => 4,
                spd => spd.saturating_add(1).min(2001),
            };
            let config = RefineConfig {
                steps,
                step_size: 1e-3,
                ..Default::default()
            };
            let refined = self.run(Some(&config), n, &x, &y, None, path, None)?;
            let (y_ref, e_ref) = crate::reference::refine(&self.model, &x, &y, &config);
            self.compare_to_reference(
                &format!("refine ({steps} steps) on the {path} path"),
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
            let info = self.ctx.adapter_info();
            return Err(Error::Gpu {
                stage: "self-check",
                message: format!(
                    "{what} of a model with {}, on adapter {:?} ({:?}, driver {:?} {:?}), differs from the float64 reference by a relative L2 error of {err:.2e} (tolerance {SELF_CHECK_TOLERANCE:e}); ebm refuses to run it there rather than return wrong answers",
                    self.model.shape(),
                    info.name,
                    info.backend,
                    info.driver,
                    info.driver_info
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
            return Err(Error::config("Engine::set_max_chunk", "must be at least 1"));
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

    /// Builds every kernel with wgpu's runtime bounds checks (or back without), and checks
    /// the kernels again; for testing that no kernel indexes out of bounds.
    #[doc(hidden)]
    pub fn set_runtime_checks(&mut self, on: bool) -> Result<()> {
        self.runtime_checks = on;
        self.rebuild()
    }

    /// Drops the pipelines made so far (a setting they were built with changed) and checks
    /// the kernels again.
    fn rebuild(&mut self) -> Result<()> {
        self.pipelines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.self_check()
    }

    /// Plans as if the adapter had `limits` (another adapter's, e.g. from
    /// [`crate::profiles`]), and checks the kernels again; pipelines must still fit the
    /// real device. For testing the choices other GPUs will make.
    #[doc(hidden)]
    pub fn set_planning_limits(&mut self, limits: wgpu::Limits) -> Result<()> {
        self.planning_limits = Some(limits);
        self.rebuild()
    }

    /// Runs every fused dispatch for at most `steps` steps (0: as planned); for testing
    /// that results do not depend on the split.
    #[doc(hidden)]
    pub fn set_steps_per_dispatch(&mut self, steps: u32) {
        self.forced_steps_per_dispatch = steps;
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
        let out = self.run(None, n, x, y, None, self.eval_path(), None)?;
        Ok(Evaluation {
            energy: out.energy,
            grad: out.grad,
        })
    }

    /// Refines every chain from `y0` (`[n, y_dim]`) given `x` (`[n, x_dim]`), all steps on
    /// the GPU with no read-back in between.
    pub fn refine(&self, x: &[f32], y0: &[f32], config: &RefineConfig) -> Result<Refinement> {
        self.refine_with(x, y0, None, config, None)
    }

    /// As [`Engine::refine`], with coordinates fixed at their start values: `fixed` is
    /// `[n, y_dim]`, true where y never moves (e.g. the given clues of a puzzle). Held
    /// coordinates do not count in the gradient-clipping norm.
    pub fn refine_fixed(
        &self,
        x: &[f32],
        y0: &[f32],
        fixed: Option<&[bool]>,
        config: &RefineConfig,
    ) -> Result<Refinement> {
        self.refine_with(x, y0, fixed, config, None)
    }

    /// As [`Engine::refine_fixed`], calling `progress` after every submission (about every
    /// `config.dispatch_ms`), which can stop the refinement: it then returns what it has,
    /// `cancelled`, with `steps_taken` telling each chain's steps.
    pub fn refine_with(
        &self,
        x: &[f32],
        y0: &[f32],
        fixed: Option<&[bool]>,
        config: &RefineConfig,
        progress: Option<OnProgress<'_>>,
    ) -> Result<Refinement> {
        config.validate()?;
        let n = self.check_batch(x, y0)?;
        if let Some(g) = config.simplex {
            if self.model.y_dim % g as usize != 0 {
                return Err(Error::config(
                    "RefineConfig::simplex",
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
        let out = self.run(Some(config), n, x, y0, fixed.as_deref(), path, progress)?;
        let y_dim = self.model.y_dim;
        let non_finite_at: Vec<Option<u32>> = out
            .states
            .iter()
            .enumerate()
            .map(|(c, s)| {
                let finite = out.energy[c].is_finite()
                    && out.y[c * y_dim..(c + 1) * y_dim]
                        .iter()
                        .all(|v| v.is_finite());
                match s.non_finite_at {
                    RUNNING if finite => None,
                    RUNNING => Some(s.steps_taken),
                    step => Some(step),
                }
            })
            .collect();
        if !config.keep_non_finite {
            check_non_finite(&non_finite_at)?;
        }
        Ok(Refinement {
            y: out.y,
            energy: out.energy,
            gpu_seconds: out.gpu_seconds,
            path,
            steps_taken: out.states.iter().map(|s| s.steps_taken).collect(),
            accepted: out.states.iter().map(|s| s.accepted).collect(),
            step_scale: out.states.iter().map(|s| s.scale).collect(),
            trace: out.trace.map(|t| t.rows()),
            non_finite_at,
            cancelled: out.cancelled,
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
}

/// Whether the tile kernel can sum over lanes with subgroup operations on this device.
fn subgroups_usable(ctx: &Context) -> bool {
    plan::subgroup_lane_sums(
        ctx.features().contains(wgpu::Features::SUBGROUP),
        ctx.adapter_info().subgroup_min_size,
    )
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
