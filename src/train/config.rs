//! What a training run is: its objective, optimiser, batch and negatives.

use crate::error::{Error, Result};
use crate::refine::config::RefineConfig;

/// The most steps whose statistics the GPU keeps between read-backs (32 bytes each).
pub const MAX_LOG_EVERY: u32 = 1 << 20;

/// What training minimises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Objective {
    /// Contrastive divergence: mean E(x, y+) - mean E(x, y-) + alpha (mean E(x, y+)^2 +
    /// mean E(x, y-)^2) (Du & Mordatch 2019), with negatives y- from the sampler.
    ContrastiveDivergence,
    /// Noise-contrastive estimation against the noise distribution q (a Gaussian per
    /// coordinate with the data's mean and standard deviation): logit s = -E - log q,
    /// loss = mean softplus(-s(y+)) + mean softplus(s(y-)) with y- drawn from q.
    NoiseContrastive,
}

impl Objective {
    /// The name used on the command line and in checkpoints: `cd` or `nce`.
    pub fn name(self) -> &'static str {
        match self {
            Objective::ContrastiveDivergence => "cd",
            Objective::NoiseContrastive => "nce",
        }
    }
}

/// How the weights move.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Optimizer {
    /// Adam with decoupled weight decay (PyTorch's AdamW).
    Adam {
        /// Decay of the first moment.
        beta1: f32,
        /// Decay of the second moment.
        beta2: f32,
        /// Added to the second moment's root.
        eps: f32,
    },
    /// Plain gradient descent with decoupled weight decay: theta -= lr (g + decay theta).
    Sgd,
}

impl Optimizer {
    /// Adam with PyTorch's defaults (0.9, 0.999, 1e-8).
    pub const ADAM: Optimizer = Optimizer::Adam {
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
    };

    /// The name used on the command line and in checkpoints: `adam` or `sgd`.
    pub fn name(self) -> &'static str {
        match self {
            Optimizer::Adam { .. } => "adam",
            Optimizer::Sgd => "sgd",
        }
    }
}

/// The settings of a training run ([`crate::Trainer`]).
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// The loss.
    pub objective: Objective,
    /// Contrastive divergence: the weight of the energy-square regulariser.
    pub alpha: f32,
    /// The optimiser.
    pub optimizer: Optimizer,
    /// Its step size.
    pub learning_rate: f32,
    /// Decoupled weight decay (0: none).
    pub weight_decay: f32,
    /// The gradient is scaled to at most this global L2 norm (None: never).
    pub clip_grad_norm: Option<f32>,
    /// Positives per step, drawn from the data with replacement; as many negatives.
    pub batch: usize,
    /// Contrastive divergence: how the negatives are refined (steps, step size,
    /// temperature, sampler and its options). Its `seed` is unused: each step's is drawn
    /// from [`TrainConfig::seed`].
    pub negatives: RefineConfig,
    /// Contrastive divergence: slots of the replay buffer of persistent negatives (0: every
    /// step's negatives start from noise, short-run).
    pub replay: usize,
    /// The share of a step's negatives restarted from noise instead of their slot.
    pub reinit: f32,
    /// Seeds every draw of the run: batches, negatives, the replay buffer's start.
    pub seed: u64,
    /// Statistics come back every this many steps (and at the end of each
    /// [`crate::Trainer::run`]); at most 2^20.
    pub log_every: u32,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            objective: Objective::ContrastiveDivergence,
            alpha: 1.0,
            optimizer: Optimizer::ADAM,
            learning_rate: 1e-3,
            weight_decay: 0.0,
            clip_grad_norm: Some(1.0),
            batch: 256,
            negatives: RefineConfig {
                steps: 20,
                step_size: 0.01,
                temperature: 1.0,
                ..RefineConfig::default()
            },
            replay: 10_000,
            reinit: 0.05,
            seed: 0,
            log_every: 100,
        }
    }
}

impl TrainConfig {
    /// Checks every setting, naming the first bad one.
    pub fn validate(&self) -> Result<()> {
        let positive = |field: &'static str, v: f32| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(Error::config(
                    field,
                    format!("{v} must be finite and above 0"),
                ))
            }
        };
        let at_least_zero = |field: &'static str, v: f32| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(Error::config(
                    field,
                    format!("{v} must be finite and at least 0"),
                ))
            }
        };
        positive("TrainConfig::learning_rate", self.learning_rate)?;
        at_least_zero("TrainConfig::weight_decay", self.weight_decay)?;
        at_least_zero("TrainConfig::alpha", self.alpha)?;
        if let Some(c) = self.clip_grad_norm {
            positive("TrainConfig::clip_grad_norm", c)?;
        }
        if let Optimizer::Adam { beta1, beta2, eps } = self.optimizer {
            for (field, beta) in [
                ("TrainConfig::optimizer (beta1)", beta1),
                ("TrainConfig::optimizer (beta2)", beta2),
            ] {
                if !(0.0..1.0).contains(&beta) {
                    return Err(Error::config(field, format!("{beta} must be in [0, 1)")));
                }
            }
            positive("TrainConfig::optimizer (eps)", eps)?;
        }
        if self.batch == 0 {
            return Err(Error::config("TrainConfig::batch", "must be at least 1"));
        }
        if !(0.0..=1.0).contains(&self.reinit) {
            return Err(Error::config(
                "TrainConfig::reinit",
                format!("{} must be a share in [0, 1]", self.reinit),
            ));
        }
        if !(1..=MAX_LOG_EVERY).contains(&self.log_every) {
            return Err(Error::config(
                "TrainConfig::log_every",
                format!(
                    "{} must be from 1 to {MAX_LOG_EVERY} (the GPU keeps that many steps' statistics between read-backs)",
                    self.log_every
                ),
            ));
        }
        if self.objective == Objective::ContrastiveDivergence {
            if self.replay > 0 && self.replay < self.batch {
                return Err(Error::config(
                    "TrainConfig::replay",
                    format!(
                        "{} slots cannot give a batch of {} distinct negatives; use at least the batch, or 0 for negatives from noise",
                        self.replay, self.batch
                    ),
                ));
            }
            if self.negatives.exchange.is_some() {
                return Err(Error::config(
                    "TrainConfig::negatives",
                    "the negatives' sampler has no replica exchange; leave RefineConfig::exchange unset",
                ));
            }
            if self.negatives.chain_offset != 0 {
                return Err(Error::config(
                    "TrainConfig::negatives",
                    "the negatives' chains are the training batch's own; leave RefineConfig::chain_offset at 0",
                ));
            }
            if self.negatives.trace {
                return Err(Error::config(
                    "TrainConfig::negatives",
                    "the negatives' sampler keeps no trace; leave RefineConfig::trace off",
                ));
            }
            self.negatives.validate().map_err(|e| match e {
                Error::Config { field, message } => {
                    Error::config("TrainConfig::negatives", format!("{field}: {message}"))
                }
                other => other,
            })?;
        }
        Ok(())
    }

    /// The replay buffer's slots the run keeps (none for NCE).
    pub(crate) fn replay_slots(&self) -> usize {
        match self.objective {
            Objective::ContrastiveDivergence => self.replay,
            Objective::NoiseContrastive => 0,
        }
    }
}
