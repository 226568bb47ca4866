//! The device side of training: the buffers of a training run (the step's batch, the
//! replay buffer of negatives, the optimiser's moments, the statistics) and the recording of
//! one training step as one submission that reads nothing back: the negatives' start, the
//! fused sampler, back-propagation over negatives and positives, the loss and its weights,
//! the weight gradient, its norm and the update, which writes the engine's own weights, so
//! that the next step's sampler (and every later `eval` or `refine`) runs the new ones.
//! `crate::train` drives it.

use super::workspace::Buffers;
use super::Engine;
use crate::energy::Model;
use crate::error::{Error, Resource, Result};
use crate::gpu::bindings::{bind_group, has_dynamic, Used};
use crate::gpu::readback::{binding_limit, check_kept, empty_buffer, read_back};
use crate::kernels::bindings::BINDINGS;
use crate::kernels::constants::{STATS_HEADER, STATS_ROW};
use crate::kernels::params::{ChainState, Params};
use crate::kernels::train::{
    grid, one_group, per_negative, OptimParams, TrainParams, OPTIMIZER_BINDINGS, TRAIN_BINDINGS,
};
use crate::kernels::weight_grad::{dispatches as weight_grad_dispatches, MAX_CHAINS_PER_SUM};
use crate::kernels::{Dispatch, Kernel};
use crate::plan::{self, KernelPath};
use crate::refine::config::RefineConfig;

/// What the device state of a training run is made for.
pub(crate) struct TrainingShape<'a> {
    /// Positives (and negatives) per step.
    pub batch: usize,
    /// Slots of the replay buffer (0: none).
    pub replay: usize,
    /// Statistics rows kept between read-backs.
    pub rows: u32,
    /// The negatives' sampler (None: negatives are the noise's draws, as for NCE).
    pub sampler: Option<&'a RefineConfig>,
}

/// The buffers of a training run, their bind groups, and the sampler's plan.
pub(crate) struct TrainingState {
    batch: u32,
    replay_slots: u64,
    rows: u32,
    /// The chains' buffers (a call's workspace's, sized for the step's 2 B chains).
    b: Buffers,
    train: wgpu::Buffer,
    optim: wgpu::Buffer,
    param_grads: wgpu::Buffer,
    replay: wgpu::Buffer,
    stats: wgpu::Buffer,
    moments: wgpu::Buffer,
    /// The sampler's dispatches (empty without a sampler), and the uniform block its
    /// settings give.
    sampler: Vec<Dispatch>,
    base: Params,
    path: Option<KernelPath>,
    /// Every dispatch of a step, in order, with its pipeline: made once, with the state.
    runs: Vec<StepRun>,
}

/// One dispatch of a training step.
struct StepRun {
    pipeline: wgpu::ComputePipeline,
    /// Its bind groups: the chains', the energy's and the training group, or the
    /// optimiser's own; each of the bindings it uses.
    bind_groups: Vec<wgpu::BindGroup>,
    /// Its uniform block's offset in group 0, where it binds one.
    block: Option<u32>,
    groups: (u32, u32),
}

/// What makes a step's bind groups for the bindings a kernel uses: group 0 over the
/// state's chains, the training group, the optimiser's group.
struct StepGroups<'a> {
    chains: &'a dyn Fn(Used) -> wgpu::BindGroup,
    training: &'a dyn Fn(Used) -> wgpu::BindGroup,
    optimiser: &'a dyn Fn(Used) -> wgpu::BindGroup,
}

/// What one step writes before it runs: the batch and the uniform blocks' step fields.
pub(crate) struct StepInputs {
    /// The positives' x, `[batch, x_dim]`.
    pub x: Vec<f32>,
    /// The positives' y, `[batch, y_dim]`.
    pub y: Vec<f32>,
    /// The negatives' sampler seed for this step.
    pub sampler_seed: u64,
    pub train: TrainParams,
    pub optim: OptimParams,
}

impl TrainingState {
    /// The kernel path the negatives' sampler runs on.
    pub fn sampler_path(&self) -> Option<KernelPath> {
        self.path
    }

    /// Rows of statistics kept between read-backs.
    pub fn rows(&self) -> u32 {
        self.rows
    }
}

impl Engine {
    /// The device state of a training run of `shape`, with the noise distribution
    /// `noise` (per coordinate of y its mean, then its standard deviation) and the replay
    /// buffer's first contents `replay` (`[shape.replay, y_dim]`).
    pub(crate) fn training_state(
        &self,
        shape: &TrainingShape<'_>,
        noise: &[f32],
        replay: &[f32],
    ) -> Result<TrainingState> {
        let (x_dim, y_dim) = (self.model.x_dim as u64, self.model.y_dim as u64);
        let b = shape.batch as u64;
        let chains = 2 * b;
        let params_count = u64::from(self.compiled.params);
        let limit = binding_limit(&self.ctx.limits());
        if chains as usize > MAX_CHAINS_PER_SUM {
            return Err(Error::config(
                "TrainConfig::batch",
                format!(
                    "{b} is over the most one step takes, {}",
                    MAX_CHAINS_PER_SUM / 2
                ),
            ));
        }
        let words = |w: u64| 4 * w.max(1);
        // The negatives' sampler and the training kernels share the scratch: the larger of
        // the two programs' (with the sampler's save area).
        let scratch_units = u64::from(self.compiled.train_units.max(self.compiled.units));
        let sizes = [
            ("training's scratch", words(chains * scratch_units)),
            (
                "training's replay buffer",
                words(shape.replay as u64 * y_dim),
            ),
            ("the optimiser's moment buffer", words(2 * params_count)),
        ];
        for (what, bytes) in sizes {
            if bytes > limit {
                return Err(Error::limit(what, Resource::BindingBytes, bytes, limit));
            }
        }
        let device = self.ctx.device();
        let storage_usage = wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_DST
            | wgpu::BufferUsages::COPY_SRC;
        let make = |label: &str, size, usage| empty_buffer(&self.ctx, label, size, usage);
        let storage = |label: &str, size: u64| make(label, size, storage_usage);
        let (path, sampler, rule, base) = match shape.sampler {
            Some(config) => {
                let path = self.path_for(shape.batch)?;
                let steps_per_dispatch = self.steps_per_dispatch(path, config);
                let dispatches = plan::RefinePlan {
                    path,
                    compiled: &self.compiled,
                    chains: shape.batch as u32,
                    steps_per_dispatch,
                    accept_rule: config.sampler.rule_id() != 0,
                    trace: false,
                    exchange: None,
                    boundaries: &[],
                }
                .segment(0..config.steps, true);
                let base = self
                    .compiled
                    .params(&self.model, chains as usize)
                    .with_settings(config);
                (Some(path), dispatches, config.sampler.rule_id(), base)
            }
            None => (
                None,
                Vec::new(),
                0,
                self.compiled.params(&self.model, chains as usize),
            ),
        };
        let table = match shape.sampler {
            Some(config) => config.checked_table()?,
            None => Vec::new(),
        };
        let controls = storage("controls", 16 * (table.len() as u64).max(1));
        if !table.is_empty() {
            self.ctx
                .queue()
                .write_buffer(&controls, 0, bytemuck::cast_slice(&table));
        }
        let stats_bytes = 4 * u64::from(STATS_HEADER + shape.rows * STATS_ROW);
        let blocks = sampler.len() as u64 + 1;
        let st_words = (std::mem::size_of::<ChainState>() / 4) as u64;
        let x = storage("x", words(chains * x_dim));
        let y = storage("y", words(chains * y_dim));
        let scratch = storage("scratch", words(chains * scratch_units));
        let chain_state = storage("chain state", words(chains * st_words));
        let trace = storage("trace", 16);
        let uniform = wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST;
        let params = make("params", self.params_stride * blocks, uniform);
        let train = make(
            "train params",
            std::mem::size_of::<TrainParams>() as u64,
            uniform,
        );
        let optim = make(
            "optimiser params",
            std::mem::size_of::<OptimParams>() as u64,
            uniform,
        );
        let chain_weights = storage("chain weights", words(chains));
        let param_grads = storage("parameter gradients", words(params_count));
        let replay_buffer = storage("replay buffer", words(shape.replay as u64 * y_dim));
        let noise_buffer = storage("noise", words(2 * y_dim));
        let stats = storage("training statistics", stats_bytes);
        let moments = storage("optimiser moments", words(2 * params_count));
        let readback_bytes = [
            stats_bytes,
            words(params_count),
            words(2 * params_count),
            words(shape.replay as u64 * y_dim),
        ]
        .into_iter()
        .max()
        .unwrap_or(4)
        // Room for the check of the buffers below, a word each.
        .max(64);
        let readback = make(
            "training readback",
            readback_bytes,
            wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        );
        // Not trusted because creating them returned (a driver may refuse an allocation and
        // say nothing): each is checked to hold a word written to it.
        let kept = [
            ("x", &x),
            ("y", &y),
            ("scratch", &scratch),
            ("controls", &controls),
            ("chain state", &chain_state),
            ("chain weights", &chain_weights),
            ("parameter gradients", &param_grads),
            ("replay buffer", &replay_buffer),
            ("noise", &noise_buffer),
            ("training statistics", &stats),
            ("optimiser moments", &moments),
        ];
        let bytes = kept.iter().map(|(_, b)| b.size()).sum();
        check_kept(
            &self.ctx,
            &kept,
            &readback,
            (2 * shape.batch, 2 * shape.batch, bytes),
        )?;
        let queue = self.ctx.queue();
        if self.poison {
            for buffer in [&y, &scratch, &chain_weights, &param_grads] {
                let nan = vec![f32::NAN; (buffer.size() / 4) as usize];
                queue.write_buffer(buffer, 0, bytemuck::cast_slice(&nan));
            }
        }
        queue.write_buffer(&noise_buffer, 0, bytemuck::cast_slice(noise));
        if !replay.is_empty() {
            queue.write_buffer(&replay_buffer, 0, bytemuck::cast_slice(replay));
        }
        queue.write_buffer(&moments, 0, &vec![0u8; words(2 * params_count) as usize]);
        let mut header = vec![0u32; (stats_bytes / 4) as usize];
        header[crate::kernels::constants::HALTED_AT as usize] = crate::kernels::constants::RUNNING;
        queue.write_buffer(&stats, 0, bytemuck::cast_slice(&header));
        let b = Buffers {
            x,
            y,
            scratch,
            controls,
            chain_state,
            trace,
            readback,
            params,
        };
        let training = |used| {
            let layout = self.layouts.get(&self.ctx, &TRAIN_BINDINGS, used);
            bind_group(
                device,
                "ebm training",
                &layout,
                &TRAIN_BINDINGS,
                used,
                |binding| match binding.name {
                    "train" => train.as_entire_binding(),
                    "chain_weights" => chain_weights.as_entire_binding(),
                    "param_grads" => param_grads.as_entire_binding(),
                    "replay" => replay_buffer.as_entire_binding(),
                    "noise" => noise_buffer.as_entire_binding(),
                    other => {
                        debug_assert_eq!(other, "train_stats");
                        stats.as_entire_binding()
                    }
                },
            )
        };
        let optimiser = |used| {
            let layout = self.layouts.get(&self.ctx, &OPTIMIZER_BINDINGS, used);
            bind_group(
                device,
                "ebm optimiser",
                &layout,
                &OPTIMIZER_BINDINGS,
                used,
                |binding| match binding.name {
                    "optim" => optim.as_entire_binding(),
                    "weights" => self.weights.as_entire_binding(),
                    "param_grads" => param_grads.as_entire_binding(),
                    "moments" => moments.as_entire_binding(),
                    "train_stats" => stats.as_entire_binding(),
                    other => {
                        debug_assert_eq!(other, "program");
                        self.program.as_entire_binding()
                    }
                },
            )
        };
        let groups = StepGroups {
            chains: &|used| self.chains_group_over(&b, used),
            training: &training,
            optimiser: &optimiser,
        };
        let runs = self.step_runs(&sampler, rule, shape.batch as u32, &groups)?;
        Ok(TrainingState {
            batch: shape.batch as u32,
            replay_slots: shape.replay as u64,
            rows: shape.rows,
            b,
            train,
            optim,
            param_grads,
            replay: replay_buffer,
            stats,
            moments,
            sampler,
            base,
            path,
            runs,
        })
    }

    /// Every dispatch of a step over `batch` positives and as many negatives, with its
    /// pipeline: the negatives' start, the `sampler`'s dispatches (accept rule `rule`),
    /// the negatives' store, backprop, the loss, the weight gradient, then the optimiser.
    /// The sampler's dispatch i reads uniform block i; the training kernels the block after.
    fn step_runs(
        &self,
        sampler: &[Dispatch],
        rule: u32,
        batch: u32,
        make: &StepGroups<'_>,
    ) -> Result<Vec<StepRun>> {
        let stride = self.params_stride as u32;
        let own = Some(sampler.len() as u32 * stride);
        let [backprop, weight_grad] = weight_grad_dispatches(2 * batch, self.compiled.params);
        let mut runs = vec![(per_negative(Kernel::DrawNegatives, batch), own)];
        runs.extend((0..).zip(sampler).map(|(i, d)| (*d, Some(i * stride))));
        runs.extend([
            (per_negative(Kernel::StoreNegatives, batch), own),
            (backprop, own),
            (one_group(Kernel::LossWeights), own),
            (weight_grad, own),
            (one_group(Kernel::GradNorm), None),
            (
                Dispatch::of(Kernel::Update, grid(self.compiled.params)),
                None,
            ),
        ]);
        runs.into_iter()
            .map(|(d, block)| {
                let pipeline = match d.kernel {
                    Kernel::Tile if self.subgroups => {
                        self.pipeline(Kernel::TileSubgroup, d.chains, rule)
                    }
                    Kernel::GradNorm | Kernel::Update => {
                        self.optim_pipelines
                            .get(&self.ctx, &self.layouts, d.kernel, || {
                                self.pipeline_source(d.kernel, 0, 0)
                            })
                    }
                    k @ (Kernel::DrawNegatives
                    | Kernel::StoreNegatives
                    | Kernel::Backprop
                    | Kernel::LossWeights
                    | Kernel::WeightGrad) => {
                        self.train_pipelines.get(&self.ctx, &self.layouts, k, || {
                            self.pipeline_source(k, 0, 0)
                        })
                    }
                    k => self.pipeline(k, d.chains, rule),
                }?;
                let bind_groups = match d.kernel {
                    Kernel::GradNorm | Kernel::Update => vec![(make.optimiser)(pipeline.used[0])],
                    _ => {
                        let mut groups = vec![
                            (make.chains)(pipeline.used[0]),
                            self.energy_group(pipeline.used[1]),
                        ];
                        if let Some(&used) = pipeline.used.get(2) {
                            groups.push((make.training)(used));
                        }
                        groups
                    }
                };
                let block = block.filter(|_| match d.kernel {
                    Kernel::GradNorm | Kernel::Update => false,
                    _ => has_dynamic(&BINDINGS, pipeline.used[0]),
                });
                Ok(StepRun {
                    pipeline: pipeline.pipeline,
                    bind_groups,
                    block,
                    groups: d.groups,
                })
            })
            .collect()
    }

    /// Records and submits one training step; nothing is read back.
    pub(crate) fn submit_training_step(
        &self,
        st: &TrainingState,
        inputs: &StepInputs,
    ) -> Result<wgpu::SubmissionIndex> {
        let (x_dim, y_dim) = (self.model.x_dim, self.model.y_dim);
        let b = st.batch as usize;
        let queue = self.ctx.queue();
        // Negatives first (each with its positive's x), then the positives.
        if x_dim > 0 {
            queue.write_buffer(&st.b.x, 0, bytemuck::cast_slice(&inputs.x));
            queue.write_buffer(
                &st.b.x,
                (4 * b * x_dim) as u64,
                bytemuck::cast_slice(&inputs.x),
            );
        }
        queue.write_buffer(
            &st.b.y,
            (4 * b * y_dim) as u64,
            bytemuck::cast_slice(&inputs.y),
        );
        queue.write_buffer(&st.train, 0, bytemuck::bytes_of(&inputs.train));
        queue.write_buffer(&st.optim, 0, bytemuck::bytes_of(&inputs.optim));
        // One uniform block per sampler dispatch (its steps, layer, energy), then the
        // block of the training kernels (every chain of the step).
        let stride = self.params_stride as usize;
        let seeded = Params {
            seed_lo: inputs.sampler_seed as u32,
            seed_hi: (inputs.sampler_seed >> 32) as u32,
            ..st.base
        };
        let mut blocks = vec![0u8; stride * (st.sampler.len() + 1)];
        for (i, d) in st.sampler.iter().enumerate() {
            let block = Params {
                n_chains: st.batch,
                step_offset: d.step_offset,
                steps: d.steps,
                write_energy: u32::from(d.write_energy),
                layer: d.layer,
                ..seeded
            };
            blocks[i * stride..i * stride + std::mem::size_of::<Params>()]
                .copy_from_slice(bytemuck::bytes_of(&block));
        }
        let own = st.sampler.len() * stride;
        let whole = Params {
            n_chains: 2 * st.batch,
            ..seeded
        };
        blocks[own..own + std::mem::size_of::<Params>()]
            .copy_from_slice(bytemuck::bytes_of(&whole));
        queue.write_buffer(&st.b.params, 0, &blocks);
        let mut encoder = self
            .ctx
            .device()
            .create_command_encoder(&Default::default());
        encoder.clear_buffer(&st.param_grads, 0, None);
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("ebm training step"),
                timestamp_writes: None,
            });
            for run in &st.runs {
                pass.set_pipeline(&run.pipeline);
                for (i, group) in run.bind_groups.iter().enumerate() {
                    match (i, run.block) {
                        (0, Some(offset)) => pass.set_bind_group(0, group, &[offset]),
                        _ => pass.set_bind_group(i as u32, group, &[]),
                    }
                }
                pass.dispatch_workgroups(run.groups.0, run.groups.1, 1);
            }
        }
        Ok(queue.submit([encoder.finish()]))
    }

    /// Copies `bytes` of `from` back to the host (waiting for every step submitted).
    fn read_training(
        &self,
        st: &TrainingState,
        from: &wgpu::Buffer,
        bytes: u64,
    ) -> Result<Vec<u32>> {
        let mut encoder = self
            .ctx
            .device()
            .create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(from, 0, &st.b.readback, 0, bytes);
        self.ctx.queue().submit([encoder.finish()]);
        read_back(&self.ctx, &st.b.readback, bytes)
    }

    /// The statistics: the header, then the rows.
    pub(crate) fn training_stats(&self, st: &TrainingState) -> Result<Vec<u32>> {
        self.read_training(st, &st.stats, st.stats.size())
    }

    /// The parameters as the model packs them (every layer's weight then bias).
    pub(crate) fn training_params(&self, st: &TrainingState) -> Result<Vec<f32>> {
        let words = self.read_training(st, &self.weights, 4 * u64::from(self.compiled.params))?;
        Ok(bytemuck::cast_slice(&words).to_vec())
    }

    /// Adam's moments: first, then second, per parameter.
    pub(crate) fn training_moments(&self, st: &TrainingState) -> Result<Vec<f32>> {
        let words = self.read_training(st, &st.moments, 8 * u64::from(self.compiled.params))?;
        Ok(bytemuck::cast_slice(&words).to_vec())
    }

    /// The replay buffer, `[slots, y_dim]`.
    pub(crate) fn training_replay(&self, st: &TrainingState) -> Result<Vec<f32>> {
        let bytes = 4 * st.replay_slots * self.model.y_dim as u64;
        let words = self.read_training(st, &st.replay, bytes)?;
        Ok(bytemuck::cast_slice(&words).to_vec())
    }

    /// Restores Adam's moments (a resumed run).
    pub(crate) fn set_training_moments(&self, st: &TrainingState, moments: &[f32]) {
        self.ctx
            .queue()
            .write_buffer(&st.moments, 0, bytemuck::cast_slice(moments));
    }

    /// Runs `work` inside the context's error scopes, as one training stage.
    pub(crate) fn guarded_training<T>(&self, work: impl FnOnce() -> Result<T>) -> Result<T> {
        self.ctx.guarded("training", work)
    }

    /// Replaces the host copy of the model by the trained one read back (the same shapes).
    pub(crate) fn set_host_model(&mut self, model: Model) {
        debug_assert_eq!(model.shape(), self.model.shape());
        self.model = model;
    }
}
