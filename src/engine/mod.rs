//! A model resident on a GPU context: weights uploaded once, pipelines specialised for its
//! activation and output, and `eval` / `refine` over batches of any size. This file is the
//! public [`Engine`] and its input checks. Beside it: `best_of` (R chains per x, the best
//! kept), `call` (one call: chunks, submissions, progress, read-back), `submission` (what
//! one submission records), `workspace` (a call's buffers, kept between calls),
//! `self_check` (new engines held to the reference), `weight_grad` (dE/dtheta over a batch),
//! `hooks` (the tests' settings).

mod best_of;
mod call;
pub(crate) mod completion;
mod hooks;
pub(crate) mod progress;
mod self_check;
mod submission;
mod training;
mod weight_grad;
mod workspace;

use std::collections::HashMap;
use std::sync::Mutex;

pub use best_of::{pick_best, BestOf};
use call::Job;
pub(crate) use training::{StepInputs, TrainingShape, TrainingState};
pub use weight_grad::WeightGrad;
use workspace::{Room, Workspace};

use crate::energy::tensors::check_finite;
use crate::energy::Model;
use crate::engine::progress::OnProgress;
use crate::error::{Error, Resource, Result};
use crate::gpu::bindings::{bind_group, Used};
use crate::gpu::context::Context;
use crate::gpu::pipelines::{GroupLayouts, Pipeline, PipelineCache, PipelineSource};
use crate::gpu::pool::Pool;
use crate::gpu::readback::{binding_limit, buffer_with, storage_init};
use crate::kernels::bindings::ENERGY_BINDINGS;
use crate::kernels::compiled::Compiled;
use crate::kernels::constants::WORKGROUP_SIZE;
use crate::kernels::params::{Params, RUNNING};
use crate::kernels::{tile, Kernel};
use crate::plan::{self, KernelPath, PathChoice};
use crate::refine::config::RefineConfig;
use crate::refine::outputs::{
    check_non_finite, round_to_vertices, Decoded, Evaluation, ExchangeReport, Refinement,
};

/// Device bytes of workspaces an engine keeps between calls.
const WORKSPACE_BUDGET: u64 = 256 << 20;

/// A pipeline: its kernel, chains per workgroup (tile kernel), accept rule.
type PipelineKey = (Kernel, u32, u32);

/// A model uploaded to a GPU context, ready to evaluate and refine batches. One engine may
/// serve several threads at once.
///
/// The buffers of a call are kept for later calls of the same size class (up to 256 MiB
/// of device memory per engine), so repeated calls allocate nothing;
/// [`Engine::release_buffers`] (or dropping the engine) gives that memory back.
pub struct Engine {
    ctx: Context,
    model: Model,
    compiled: Compiled,
    weights: wgpu::Buffer,
    /// The energy's program table (kernels/table.rs).
    program: wgpu::Buffer,
    /// The bind group layouts of the subsets of binding tables the kernels use.
    layouts: GroupLayouts,
    /// The energy's bind groups (group 1: weights, program), by the bindings a kernel uses.
    energy_groups: Mutex<HashMap<Used, wgpu::BindGroup>>,
    /// The pipelines of refinement and evaluation (groups 0 and 1), of training (0, 1 and
    /// the training group 2) and of the optimiser (its own group).
    pipelines: PipelineCache<PipelineKey>,
    train_pipelines: PipelineCache<Kernel>,
    optim_pipelines: PipelineCache<Kernel>,
    /// The buffers of earlier calls, kept for later calls of the same size class.
    workspaces: Pool<Room, Workspace>,
    choice: PathChoice,
    /// Whether the tile kernel sums over lanes with subgroup operations.
    subgroups: bool,
    max_chunk: usize,
    params_stride: u64,
    poison: bool,
    /// The limits the planner reads, where a test stands in another adapter's (the real
    /// device's limits still bound every pipeline).
    planning_limits: Option<wgpu::Limits>,
    /// Measured seconds per chain-step of each path on this device: sizes the next calls'
    /// chunks and first submissions.
    rates: Mutex<HashMap<KernelPath, f64>>,
    /// Forces the steps of one fused dispatch (tests); 0: the planner's choice.
    forced_steps_per_dispatch: u32,
}

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
        let limits = ctx.limits();
        let compiled = Compiled::new(model)?;
        let weight_bytes = (compiled.weights.len() * 4) as u64;
        let binding_limit = binding_limit(&limits);
        if weight_bytes > binding_limit {
            return Err(Error::limit(
                "the weight buffer",
                Resource::BindingBytes,
                weight_bytes,
                binding_limit,
            ));
        }
        if limits.max_compute_invocations_per_workgroup < WORKGROUP_SIZE
            || limits.max_compute_workgroup_size_x < WORKGROUP_SIZE
        {
            return Err(Error::limit(
                "every kernel of one chain per invocation",
                Resource::Invocations,
                u64::from(WORKGROUP_SIZE),
                u64::from(
                    limits
                        .max_compute_invocations_per_workgroup
                        .min(limits.max_compute_workgroup_size_x),
                ),
            ));
        }
        let per_chain = 4 * u64::from(
            compiled
                .units
                .max(model.x_dim as u32)
                .max(model.y_dim as u32),
        );
        let max_chunk = (binding_limit / per_chain).min(u64::from(u32::MAX)) as usize;
        if max_chunk == 0 {
            return Err(Error::limit(
                "the scratch of one chain",
                Resource::BindingBytes,
                per_chain,
                binding_limit,
            ));
        }
        let engine = Engine {
            ctx: ctx.clone(),
            model: model.clone(),
            weights: buffer_with(
                ctx,
                "weights",
                bytemuck::cast_slice(&compiled.weights),
                wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            ),
            program: storage_init(ctx, "program", bytemuck::cast_slice(&compiled.table)),
            compiled,
            layouts: GroupLayouts::default(),
            energy_groups: Mutex::new(HashMap::new()),
            pipelines: PipelineCache::new(Kernel::Chain.binding_tables()),
            train_pipelines: PipelineCache::new(Kernel::Backprop.binding_tables()),
            optim_pipelines: PipelineCache::new(Kernel::Update.binding_tables()),
            workspaces: Pool::new(WORKSPACE_BUDGET),
            choice,
            subgroups: subgroups_usable(ctx),
            max_chunk,
            params_stride: (std::mem::size_of::<Params>() as u64)
                .next_multiple_of(u64::from(limits.min_uniform_buffer_offset_alignment)),
            poison: false,
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
    fn pipeline(&self, kernel: Kernel, chains: u32, rule: u32) -> Result<Pipeline> {
        self.pipelines
            .get(&self.ctx, &self.layouts, (kernel, chains, rule), || {
                self.pipeline_source(kernel, chains, rule)
            })
    }

    /// The energy's bind group (group 1) for a pipeline that uses `used` of its table.
    fn energy_group(&self, used: Used) -> wgpu::BindGroup {
        let mut made = self.energy_groups.lock().unwrap_or_else(|e| e.into_inner());
        made.entry(used)
            .or_insert_with(|| {
                let layout = self.layouts.get(&self.ctx, &ENERGY_BINDINGS, used);
                bind_group(
                    self.ctx.device(),
                    "ebm energy",
                    &layout,
                    &ENERGY_BINDINGS,
                    used,
                    |b| match b.name {
                        "weights" => self.weights.as_entire_binding(),
                        _ => self.program.as_entire_binding(),
                    },
                )
            })
            .clone()
    }

    /// What the pipeline of `kernel` is made from, for this model.
    fn pipeline_source(&self, kernel: Kernel, chains: u32, rule: u32) -> Result<PipelineSource> {
        let limits = self.plan_limits();
        let tiled = matches!(kernel, Kernel::Tile | Kernel::TileSubgroup);
        if tiled {
            if let Some(why) = tile::misfit_program(&self.compiled.infer, chains, &limits) {
                return Err(Error::Gpu {
                    stage: "tile",
                    message: why,
                });
            }
        }
        let chains = chains.max(4);
        let sizes = tile::Sizes::for_program(&self.compiled, chains, &limits);
        let workgroup_size = if tiled {
            crate::kernels::constants::TILE_THREADS
        } else {
            WORKGROUP_SIZE
        };
        Ok(PipelineSource {
            entry: kernel.entry_point(),
            source: kernel.source_for(&sizes, &self.compiled.files(kernel, chains))?,
            constants: vec![
                ("WORKGROUP_SIZE", f64::from(workgroup_size)),
                ("RULE", f64::from(rule)),
            ],
        })
    }

    /// Every kernel path the adapter of `ctx` can run `model` on: chain, each tile size that
    /// fits its limits, layered (what `ebm bench` times, and what `PathChoice::Exactly`
    /// accepts in [`Engine::with_path`]).
    pub fn fitting_paths(ctx: &Context, model: &Model) -> Vec<KernelPath> {
        match Compiled::new(model) {
            Ok(compiled) => plan::fitting_paths(&compiled, &ctx.limits()),
            Err(_) => Vec::new(),
        }
    }

    /// Every kernel path, and why the adapter of `ctx` cannot run `model` on it (None where
    /// it can): the tile sizes the graph's registers or widths or the adapter's workgroup
    /// memory rule out, by the planner's own checks (`ebm info --model`).
    pub fn path_report(ctx: &Context, model: &Model) -> Result<Vec<(KernelPath, Option<String>)>> {
        model.validate()?;
        let compiled = Compiled::new(model)?;
        let limits = ctx.limits();
        let mut out = vec![(KernelPath::Chain, None)];
        for chains in crate::kernels::constants::TILE_CHAINS {
            let why = tile::misfit_program(&compiled.infer, chains, &limits);
            out.push((KernelPath::Tile { chains }, why));
        }
        out.push((KernelPath::Layered, None));
        Ok(out)
    }

    /// The path a refinement of `n` chains runs on.
    pub fn path_for(&self, n: usize) -> Result<KernelPath> {
        plan::choose(
            self.choice,
            &self.compiled,
            n,
            self.ctx.adapter_info(),
            &self.plan_limits(),
        )
    }

    /// The path evaluations run on.
    pub fn eval_path(&self) -> KernelPath {
        plan::eval_path(&self.compiled, self.ctx.adapter_info())
    }

    /// The context (adapter, device, queue) this engine runs on.
    pub fn context(&self) -> &Context {
        &self.ctx
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
        self.workspaces.clear();
        Ok(())
    }

    /// Gives back the device memory of the buffers kept from earlier calls; the next call
    /// allocates afresh.
    pub fn release_buffers(&self) {
        self.workspaces.clear();
    }

    /// Whether the tile kernel uses subgroup operations (where the device has them; the
    /// portable version otherwise).
    pub fn uses_subgroups(&self) -> bool {
        self.subgroups
    }

    /// Energies and dE/dy of a batch: `x` is `[n, x_dim]`, `y` is `[n, y_dim]` (at
    /// landscape index t = 0 for an energy that reads one).
    pub fn eval(&self, x: &[f32], y: &[f32]) -> Result<Evaluation> {
        self.eval_at(x, y, 0.0)
    }

    /// Energies and dE/dy of a batch at landscape index `landscape` (an energy E(x, y, t)).
    pub fn eval_at(&self, x: &[f32], y: &[f32], landscape: f32) -> Result<Evaluation> {
        self.check_batch(x, y)?;
        if !landscape.is_finite() {
            return Err(Error::config(
                "landscape",
                format!("must be a finite number, got {landscape}"),
            ));
        }
        let job = Job::Eval { landscape };
        let out = self.run(&job, x, y, self.eval_path(), None)?;
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
    /// `[n, y_dim]`, true where y never moves (e.g. the given clues of a puzzle). Fixed
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
        let table = config.checked_table()?;
        let n = self.check_batch(x, y0)?;
        if u64::from(config.chain_offset) + n as u64 > u64::from(u32::MAX) + 1 {
            return Err(Error::config(
                "RefineConfig::chain_offset",
                format!(
                    "{} plus {n} chains passes the last chain index a noise key holds (2^32 - 1)",
                    config.chain_offset
                ),
            ));
        }
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
        let fixed_words: Option<Vec<u32>> = match fixed {
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
        if let Some(exchange) = &config.exchange {
            self.check_replicas(x, y0, fixed, exchange.replicas as usize)?;
        }
        let path = self.path_for(n)?;
        let job = Job::Refine {
            config,
            table: &table,
            fixed: fixed_words.as_deref(),
        };
        let out = self.run(&job, x, y0, path, progress)?;
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
        let decoded = match (config.decode, config.simplex) {
            (true, Some(g)) => {
                let y = round_to_vertices(&out.y, g as usize, fixed);
                // In the landscape of the last step.
                let energy = self
                    .eval_at(x, &y, config.landscape_at(config.steps))?
                    .energy;
                Some(Decoded { y, energy })
            }
            _ => None,
        };
        Ok(Refinement {
            y: out.y,
            energy: out.energy,
            gpu_seconds: out.gpu_seconds,
            path,
            steps_taken: out.states.iter().map(|s| s.steps_taken).collect(),
            accepted: out.states.iter().map(|s| s.accepted).collect(),
            step_scale: out.states.iter().map(|s| s.step_scale).collect(),
            warmup_accepted: out.states.iter().map(|s| s.warmup_accepted).collect(),
            trace: out.trace.map(|t| t.rows()),
            non_finite_at,
            cancelled: out.cancelled,
            exchange: config
                .exchange
                .as_ref()
                .map(|x| ExchangeReport::from_states(x.ladder.factors(x.replicas), &out.states)),
            decoded,
        })
    }

    /// Replica exchange swaps states between the chains of a group of `r`: they must be
    /// whole groups of one x, fixing the same coordinates at the same values.
    fn check_replicas(
        &self,
        x: &[f32],
        y0: &[f32],
        fixed: Option<&[bool]>,
        r: usize,
    ) -> Result<()> {
        let (x_dim, y_dim) = (self.model.x_dim, self.model.y_dim);
        let n = y0.len() / y_dim;
        if n % r != 0 {
            return Err(Error::input(
                "y",
                format!("{n} chains are not whole groups of Exchange::replicas = {r}"),
            ));
        }
        for g in 0..n / r {
            let first = g * r;
            for c in first + 1..first + r {
                if x[c * x_dim..(c + 1) * x_dim] != x[first * x_dim..(first + 1) * x_dim] {
                    return Err(Error::input(
                        "x",
                        format!("chains {first} and {c} are replicas of one group (Exchange::replicas = {r}) but their x differ"),
                    ));
                }
                let Some(f) = fixed else { continue };
                let differs = (0..y_dim).any(|k| {
                    let (i, j) = (first * y_dim + k, c * y_dim + k);
                    f[i] != f[j] || (f[i] && y0[i].to_bits() != y0[j].to_bits())
                });
                if differs {
                    return Err(Error::input(
                        "fixed",
                        format!("chains {first} and {c} are replicas of one group (Exchange::replicas = {r}) but fix different coordinates or values"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The chains of a batch, or an error naming the input that does not fit the model.
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
    tile::subgroup_lane_sums(
        ctx.features().contains(wgpu::Features::SUBGROUP),
        ctx.adapter_info().subgroup_min_size,
    )
}
