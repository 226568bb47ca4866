//! Training an energy model on the GPU it runs on: [`Trainer`] over an [`Engine`], whose
//! weights it updates in place, so the negatives' sampler (and every `eval` or `refine`
//! of the engine) always runs the current ones and the weights never leave the device
//! between read-backs.
//!
//! One step, recorded as one submission that reads nothing back (engine/training.rs):
//! the negatives' start (a replay slot, or a draw of the noise), K steps of the fused
//! sampler (contrastive divergence), the refined negatives back into the replay buffer,
//! back-propagation over negatives and positives, the loss and dLoss/dE of every chain,
//! the weight gradient summed in a fixed order, its global norm and clipping, and Adam or
//! SGD. Statistics come back every [`TrainConfig::log_every`] steps; a loss, gradient or
//! weight that is not finite stops every later update on the GPU and comes back as
//! [`Error::Diverged`] naming the step.
//!
//! Inside: `config` (the settings), `draws` (the host's keyed draws), `checkpoint` (the
//! file a run resumes from). The float64 twin of a step is `reference::train_step`.

mod checkpoint;
mod config;
pub(crate) mod draws;
pub mod toy;

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

pub use crate::engine::WeightGrad;
pub use checkpoint::Checkpoint;
pub use config::{Objective, Optimizer, TrainConfig};

use crate::energy::tensors::check_finite;
use crate::energy::Model;
use crate::engine::completion::check_marked;
use crate::engine::{Engine, StepInputs, TrainingShape, TrainingState};
use crate::error::{Error, Result};
use crate::kernels::constants::{
    row_mark, FLAG_GRAD, FLAG_LOSS, FLAG_WEIGHTS, HALTED_AT, HALTED_FLAGS, OBJECTIVE_CD,
    OBJECTIVE_NCE, OPTIMIZER_ADAM, OPTIMIZER_SGD, ROW_CLIP_SCALE, ROW_ENERGY_NEG, ROW_ENERGY_POS,
    ROW_FLAGS, ROW_GRAD_NORM, ROW_LOSS, ROW_MARK, ROW_WEIGHT_NORM, RUNNING, STATS_HEADER,
    STATS_ROW,
};
use crate::kernels::train::{OptimParams, TrainParams};
use crate::plan::path::KernelPath;

/// The data a model is trained on: y `[n, y_dim]` and, for a conditional model, x
/// `[n, x_dim]` (empty for x_dim = 0). Negatives are drawn per x.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrainData {
    /// The answers, `[n, y_dim]`.
    pub y: Vec<f32>,
    /// What each answer is conditioned on, `[n, x_dim]`.
    pub x: Vec<f32>,
}

/// One training step's statistics, computed on the GPU.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainStats {
    /// The step (from 0).
    pub step: u64,
    /// The loss of the step's batch.
    pub loss: f32,
    /// Mean energy of the positives (the data).
    pub energy_pos: f32,
    /// Mean energy of the negatives.
    pub energy_neg: f32,
    /// Global L2 norm of the weight gradient, before clipping.
    pub grad_norm: f32,
    /// Global L2 norm of the weights, before the update.
    pub weight_norm: f32,
    /// The factor the gradient was scaled by (1: not clipped).
    pub clip_scale: f32,
}

/// Where a [`Trainer::run`] stands, given to its callback after every step.
#[derive(Clone, Debug)]
pub struct TrainProgress<'a> {
    /// Steps taken since the trainer began (a resumed run counts the checkpoint's).
    pub step: u64,
    /// The step this call of `run` ends at.
    pub end: u64,
    /// The statistics read back after this step (every `log_every` steps; else empty).
    pub stats: &'a [TrainStats],
    /// Time since this call of `run` began.
    pub elapsed: Duration,
}

/// The progress callback of [`Trainer::run`]; `ControlFlow::Break` stops after the step.
pub type OnTrainProgress<'a> = &'a mut dyn FnMut(&TrainProgress<'_>) -> ControlFlow<()>;

/// Trains the model of an [`Engine`] in place (see the module documentation).
pub struct Trainer {
    engine: Engine,
    config: TrainConfig,
    data: TrainData,
    state: TrainingState,
    noise: Vec<f32>,
    step: u64,
    /// Steps whose statistics have come back.
    read_up_to: u64,
}

impl Trainer {
    /// A trainer of `engine`'s model on `data`, from step 0: the noise distribution is the
    /// data's (per coordinate of y), the replay buffer starts with its draws.
    pub fn new(engine: Engine, data: TrainData, config: &TrainConfig) -> Result<Trainer> {
        check_data(engine.model(), &data)?;
        check_config(engine.model(), config)?;
        let noise = draws::noise_of(&data.y, engine.model().y_dim);
        let replay = draws::first_replay(config.seed, config.replay_slots(), &noise);
        Trainer::start(engine, data, config, noise, replay, 0)
    }

    /// A trainer that goes on from `checkpoint`: with the data and settings of the run that
    /// wrote it, bit for bit as that run would have gone on. `engine` must run the
    /// checkpoint's model, and `config` have its seed, objective, optimiser and replay
    /// buffer size; other settings may change (and the run with them).
    pub fn resume(
        engine: Engine,
        data: TrainData,
        config: &TrainConfig,
        checkpoint: &Checkpoint,
    ) -> Result<Trainer> {
        check_data(engine.model(), &data)?;
        check_config(engine.model(), config)?;
        if engine.model() != &checkpoint.model {
            return Err(Error::config(
                "Trainer::resume",
                "the engine does not run the checkpoint's model: make it with Engine::new(ctx, &checkpoint.model)",
            ));
        }
        let differs = |field: &'static str, ours: String, theirs: &str| {
            Error::config(
                field,
                format!("{ours} differs from the checkpoint's {theirs}; a resumed run keeps it"),
            )
        };
        if config.seed != checkpoint.seed {
            return Err(differs(
                "TrainConfig::seed",
                config.seed.to_string(),
                &checkpoint.seed.to_string(),
            ));
        }
        if config.objective.name() != checkpoint.objective {
            return Err(differs(
                "TrainConfig::objective",
                config.objective.name().into(),
                &checkpoint.objective,
            ));
        }
        if config.optimizer.name() != checkpoint.optimizer {
            return Err(differs(
                "TrainConfig::optimizer",
                config.optimizer.name().into(),
                &checkpoint.optimizer,
            ));
        }
        check_checkpoint(checkpoint)?;
        let slots = checkpoint.replay.len() / checkpoint.model.y_dim;
        if config.replay_slots() != slots {
            return Err(differs(
                "TrainConfig::replay",
                config.replay_slots().to_string(),
                &format!("{slots} slots"),
            ));
        }
        let trainer = Trainer::start(
            engine,
            data,
            config,
            checkpoint.noise.clone(),
            checkpoint.replay.clone(),
            checkpoint.step,
        )?;
        trainer
            .engine
            .set_training_moments(&trainer.state, &checkpoint.moments);
        Ok(trainer)
    }

    fn start(
        engine: Engine,
        data: TrainData,
        config: &TrainConfig,
        noise: Vec<f32>,
        replay: Vec<f32>,
        step: u64,
    ) -> Result<Trainer> {
        let sampler =
            (config.objective == Objective::ContrastiveDivergence).then_some(&config.negatives);
        let shape = TrainingShape {
            batch: config.batch,
            replay: config.replay_slots(),
            rows: config.log_every,
            sampler,
        };
        let state = engine.guarded_training(|| engine.training_state(&shape, &noise, &replay))?;
        Ok(Trainer {
            engine,
            config: config.clone(),
            data,
            state,
            noise,
            step,
            read_up_to: step,
        })
    }

    /// Steps taken.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// The engine, whose kernels run the current weights (its `Engine::model` is the host
    /// copy as of the last [`Trainer::model`]).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The kernel path the negatives' sampler runs on (None for NCE).
    pub fn sampler_path(&self) -> Option<KernelPath> {
        self.state.sampler_path()
    }

    /// The settings.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Runs `steps` training steps, with no read-back but the statistics every
    /// `log_every` steps and after the last; returns every step's statistics. `progress`
    /// is called after every step, with the statistics as they come back, and may stop the
    /// run early. A loss, gradient or (updated) weight that is not finite ends it with
    /// [`Error::Diverged`] at the next read-back: the statistics of that call are then
    /// only those the callback was given, [`Trainer::step`] counts the steps submitted,
    /// and the weights are those before the step named.
    pub fn run(
        &mut self,
        steps: u64,
        mut progress: Option<OnTrainProgress<'_>>,
    ) -> Result<Vec<TrainStats>> {
        let end = self.step.saturating_add(steps);
        if end > u64::from(u32::MAX) {
            return Err(Error::config(
                "Trainer::run",
                format!("{end} steps in all; at most {} are supported", u32::MAX),
            ));
        }
        let started = Instant::now();
        let mut out = Vec::with_capacity(steps.min(1 << 20) as usize);
        let engine = &self.engine;
        // Split borrows: the closure below needs the engine and the rest of the trainer.
        let (config, data, state) = (&self.config, &self.data, &self.state);
        let mut step = self.step;
        let mut read_up_to = self.read_up_to;
        let result = engine.guarded_training(|| {
            while step < end {
                let inputs = step_inputs(engine.model(), config, data, state, step);
                engine.submit_training_step(state, &inputs)?;
                step += 1;
                let mut stats = Vec::new();
                if step % u64::from(config.log_every) == 0 || step == end {
                    stats = collect(engine, state, read_up_to, step)?;
                    read_up_to = step;
                }
                out.extend_from_slice(&stats);
                if let Some(callback) = progress.as_mut() {
                    let report = TrainProgress {
                        step,
                        end,
                        stats: &stats,
                        elapsed: started.elapsed(),
                    };
                    if callback(&report) == ControlFlow::Break(()) && step < end {
                        out.extend(collect(engine, state, read_up_to, step)?);
                        read_up_to = step;
                        break;
                    }
                }
            }
            Ok(())
        });
        self.step = step;
        self.read_up_to = read_up_to;
        result.map(|()| out)
    }

    /// The current weights, read back from the GPU (and kept as the engine's host copy).
    pub fn model(&mut self) -> Result<Model> {
        let params = self
            .engine
            .guarded_training(|| self.engine.training_params(&self.state))?;
        let model = self.engine.model().with_flat_params(&params);
        self.engine.set_host_model(model.clone());
        Ok(model)
    }

    /// The state to resume from: weights, optimiser moments, replay buffer, noise, step,
    /// seed. The statistics up to now are read first: a run that diverged has no
    /// checkpoint to give ([`Error::Diverged`]).
    pub fn checkpoint(&mut self) -> Result<Checkpoint> {
        let (engine, state) = (&self.engine, &self.state);
        collect(engine, state, self.read_up_to, self.step)?;
        self.read_up_to = self.step;
        let moments = engine.guarded_training(|| engine.training_moments(state))?;
        let replay = engine.guarded_training(|| engine.training_replay(state))?;
        let model = self.model()?;
        Ok(Checkpoint {
            model,
            moments,
            replay,
            noise: self.noise.clone(),
            step: self.step,
            seed: self.config.seed,
            objective: self.config.objective.name().into(),
            optimizer: self.config.optimizer.name().into(),
        })
    }

    /// The engine with the trained weights (its host copy of the model read back).
    pub fn into_engine(mut self) -> Result<Engine> {
        self.model()?;
        Ok(self.engine)
    }
}

/// What step `step` writes: its positives, seeds and uniform blocks.
fn step_inputs(
    model: &Model,
    config: &TrainConfig,
    data: &TrainData,
    state: &TrainingState,
    step: u64,
) -> StepInputs {
    let (x_dim, y_dim) = (model.x_dim, model.y_dim);
    let t = step as u32;
    let n = data.y.len() / y_dim;
    let rows = draws::batch_rows(config.seed, t, n, config.batch);
    let mut x = Vec::with_capacity(rows.len() * x_dim);
    let mut y = Vec::with_capacity(rows.len() * y_dim);
    for &r in &rows {
        x.extend_from_slice(&data.x[r * x_dim..(r + 1) * x_dim]);
        y.extend_from_slice(&data.y[r * y_dim..(r + 1) * y_dim]);
    }
    let row = t % state.rows();
    let slots = config.replay_slots();
    let train = TrainParams {
        batch: config.batch as u32,
        objective: match config.objective {
            Objective::ContrastiveDivergence => OBJECTIVE_CD,
            Objective::NoiseContrastive => OBJECTIVE_NCE,
        },
        replay_size: slots as u32,
        replay_offset: draws::replay_offset(config.seed, t, slots),
        reinit: config.reinit,
        alpha: config.alpha,
        step: t,
        row,
        seed_lo: config.seed as u32,
        seed_hi: (config.seed >> 32) as u32,
        ..Default::default()
    };
    let (kind, beta1, beta2, eps) = match config.optimizer {
        Optimizer::Adam { beta1, beta2, eps } => (OPTIMIZER_ADAM, beta1, beta2, eps),
        Optimizer::Sgd => (OPTIMIZER_SGD, 0.0, 0.0, 0.0),
    };
    let (bias1, bias2) = bias_corrections(beta1, beta2, step);
    let optim = OptimParams {
        n_params: model.param_count() as u32,
        kind,
        step: t,
        row,
        lr: config.learning_rate,
        beta1,
        beta2,
        eps,
        weight_decay: config.weight_decay,
        clip: config.clip_grad_norm.unwrap_or(0.0),
        bias1,
        bias2,
        ..Default::default()
    };
    StepInputs {
        x,
        y,
        sampler_seed: draws::sampler_seed(config.seed, t),
        train,
        optim,
    }
}

/// Adam's bias corrections at `step` (from 0): 1 - beta^(step + 1), in float64.
pub(crate) fn bias_corrections(beta1: f32, beta2: f32, step: u64) -> (f32, f32) {
    let power = (step + 1).min(i32::MAX as u64) as i32;
    let c = |beta: f32| (1.0 - f64::from(beta).powi(power)) as f32;
    (c(beta1), c(beta2))
}

/// Reads the statistics of steps `from..to` back; a halted run is [`Error::Diverged`].
fn collect(engine: &Engine, state: &TrainingState, from: u64, to: u64) -> Result<Vec<TrainStats>> {
    if from == to {
        return Ok(Vec::new());
    }
    let words = engine.training_stats(state)?;
    let halted = words[HALTED_AT as usize];
    if halted != RUNNING {
        return Err(Error::Diverged {
            step: u64::from(halted),
            quantity: what_failed(words[HALTED_FLAGS as usize]),
        });
    }
    let f = |w: u32| f32::from_bits(w);
    let row_at = |step: u64| (STATS_HEADER + (step as u32 % state.rows()) * STATS_ROW) as usize;
    check_marked(
        "training steps",
        from,
        (from..to).map(|step| words[row_at(step) + ROW_MARK as usize] == row_mark(step as u32)),
        engine.context().adapter_info().backend,
    )?;
    Ok((from..to)
        .map(|step| {
            let at = row_at(step);
            let row = &words[at..at + STATS_ROW as usize];
            debug_assert_eq!(row[ROW_FLAGS as usize], 0);
            TrainStats {
                step,
                loss: f(row[ROW_LOSS as usize]),
                energy_pos: f(row[ROW_ENERGY_POS as usize]),
                energy_neg: f(row[ROW_ENERGY_NEG as usize]),
                grad_norm: f(row[ROW_GRAD_NORM as usize]),
                weight_norm: f(row[ROW_WEIGHT_NORM as usize]),
                clip_scale: f(row[ROW_CLIP_SCALE as usize]),
            }
        })
        .collect())
}

/// The quantities a row's flags name.
fn what_failed(flags: u32) -> String {
    let names: Vec<&str> = [
        (FLAG_LOSS, "loss"),
        (FLAG_GRAD, "weight gradient"),
        (FLAG_WEIGHTS, "weights"),
    ]
    .into_iter()
    .filter(|(bit, _)| flags & bit != 0)
    .map(|(_, name)| name)
    .collect();
    names.join(", ")
}

/// A checkpoint's state fits its model (one built in code need not have come through
/// `Checkpoint::load`'s checks).
fn check_checkpoint(c: &Checkpoint) -> Result<()> {
    let d = c.model.y_dim;
    let params = c.model.param_count();
    let bad = |field: &'static str, message: String| Err(Error::config(field, message));
    if c.moments.len() != 2 * params {
        return bad(
            "Checkpoint::moments",
            format!(
                "holds {} values; the model's {params} parameters need {}",
                c.moments.len(),
                2 * params
            ),
        );
    }
    if c.replay.len() % d != 0 {
        return bad(
            "Checkpoint::replay",
            format!(
                "holds {} values, not a multiple of the model's y_dim {d}",
                c.replay.len()
            ),
        );
    }
    if c.noise.len() != 2 * d || c.noise[d..].iter().any(|sd| !(sd.is_finite() && *sd > 0.0)) {
        return bad(
            "Checkpoint::noise",
            format!(
                "needs {} values (y_dim means, then as many standard deviations above 0)",
                2 * d
            ),
        );
    }
    for (field, data) in [
        ("Checkpoint::moments", &c.moments),
        ("Checkpoint::replay", &c.replay),
        ("Checkpoint::noise", &c.noise),
    ] {
        check_finite(field, data).map_err(|m| Error::config(field, m))?;
    }
    Ok(())
}

/// The settings are valid, and the negatives' simplex groups divide the model's y.
fn check_config(model: &Model, config: &TrainConfig) -> Result<()> {
    config.validate()?;
    model.check_no_landscape("training")?;
    let negatives = &config.negatives;
    if negatives.landscape != 0.0
        || negatives
            .schedule
            .stages
            .iter()
            .any(|s| s.landscape.is_some() || s.clamp.is_some() || s.take_every_step)
    {
        return Err(Error::config(
            "TrainConfig::negatives",
            "RefineConfig::landscape and a stage's landscape, clamp range or take are not used by training's sampler: leave them unset",
        ));
    }
    if let (Objective::ContrastiveDivergence, Some(g)) =
        (config.objective, config.negatives.simplex)
    {
        if model.y_dim % g as usize != 0 {
            return Err(Error::config(
                "TrainConfig::negatives",
                format!(
                    "RefineConfig::simplex: groups of {g} do not divide the model's y_dim {}",
                    model.y_dim
                ),
            ));
        }
    }
    Ok(())
}

/// The data fit the model: shapes, rows of x and y alike, finite values.
fn check_data(model: &Model, data: &TrainData) -> Result<()> {
    let (x_dim, y_dim) = (model.x_dim, model.y_dim);
    if data.y.is_empty() {
        return Err(Error::input(
            "TrainData::y",
            "is empty: training needs at least one row",
        ));
    }
    if data.y.len() % y_dim != 0 {
        return Err(Error::input(
            "TrainData::y",
            format!(
                "holds {} values, not a multiple of the model's y_dim {y_dim}",
                data.y.len()
            ),
        ));
    }
    let n = data.y.len() / y_dim;
    if data.x.len() != n * x_dim {
        return Err(Error::input(
            "TrainData::x",
            format!(
                "holds {} values; the model's x_dim is {x_dim}, so {n} rows of y need {}",
                data.x.len(),
                n * x_dim
            ),
        ));
    }
    check_finite("y", &data.y).map_err(|m| Error::input("TrainData::y", m))?;
    check_finite("x", &data.x).map_err(|m| Error::input("TrainData::x", m))?;
    Ok(())
}
