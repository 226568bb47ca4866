//! The keyword arguments of `Engine.refine`, made into a `RefineConfig` exactly as
//! `ebm refine` makes its flags into one, so the same options give the same bits.

use ebm::{
    parse_stages, Exchange, Ladder, RefineConfig, Sampler, Schedule, Shape, StopRule,
    VertexPenalty, DEFAULT_DISPATCH_MS,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::errors::plain;

/// `swap_every` when not given (as `--swap-every`).
const DEFAULT_SWAP_EVERY: u32 = 10;
/// The hottest factor of `ladder` when not given (as `--ladder`).
const DEFAULT_HOTTEST: f32 = 10.0;
/// `target_accept` when not given (as `--target-accept`).
const DEFAULT_TARGET_ACCEPT: f32 = 0.574;
/// `shrink` when not given (as `--shrink`).
const DEFAULT_SHRINK: f32 = 0.5;

/// Every option of a refinement, as Python gives them.
#[derive(Default)]
pub struct RefineOptions {
    pub steps: u32,
    pub step_size: Option<f32>,
    pub temperature: f32,
    pub schedule: String,
    pub step_size_end: Option<f32>,
    pub temperature_end: Option<f32>,
    pub stages: Option<String>,
    pub seed: Option<u64>,
    pub chain_offset: u32,
    pub sampler: SamplerOptions,
    pub replicas: Option<u32>,
    pub ladder: Option<(f32, f32)>,
    pub ladder_factors: Option<Vec<f32>>,
    pub swap_every: Option<u32>,
    pub vertex_penalty: Option<(f32, f32)>,
    pub vertex_penalty_schedule: Option<String>,
    pub decode: bool,
    pub stop_grad: Option<f32>,
    pub stop_change: Option<f32>,
    pub stop_below: Option<f32>,
    pub trace: bool,
    pub dispatch_ms: Option<f32>,
    pub keep_non_finite: bool,
}

/// The sampler's options (shared by a refinement and a training run's negatives).
#[derive(Default)]
pub struct SamplerOptions {
    pub prior_l2: f32,
    pub clamp: Option<(f32, f32)>,
    pub clip_grad: Option<f32>,
    pub simplex: Option<u32>,
    pub mala: bool,
    pub adapt_steps: Option<u32>,
    pub target_accept: Option<f32>,
    pub keep_if_lower: bool,
    pub shrink: Option<f32>,
}

fn shape(name: &str, s: &str) -> PyResult<Shape> {
    s.parse::<Shape>()
        .map_err(|e| PyValueError::new_err(format!("invalid option {name}: {e}")))
}

/// An option that only means something beside another.
fn needs(given: bool, name: &str, other: &str) -> PyResult<()> {
    match given {
        true => Err(PyValueError::new_err(format!(
            "invalid option {name}: only with {other}"
        ))),
        false => Ok(()),
    }
}

impl SamplerOptions {
    /// `config` with these options: the sampler, prior, clamp, gradient clip and simplex.
    pub fn apply(&self, config: RefineConfig) -> PyResult<RefineConfig> {
        if self.mala && self.keep_if_lower {
            return Err(PyValueError::new_err(
                "invalid option mala: not with keep_if_lower (one sampler at a time)",
            ));
        }
        needs(
            !self.mala && (self.adapt_steps.is_some() || self.target_accept.is_some()),
            "adapt_steps / target_accept",
            "mala=True",
        )?;
        needs(
            self.target_accept.is_some() && self.adapt_steps.is_none(),
            "target_accept",
            "adapt_steps",
        )?;
        needs(
            !self.keep_if_lower && self.shrink.is_some(),
            "shrink",
            "keep_if_lower=True",
        )?;
        let sampler = if self.mala {
            Sampler::Mala {
                adapt_steps: self.adapt_steps.unwrap_or(0),
                target_accept: self.target_accept.unwrap_or(DEFAULT_TARGET_ACCEPT),
            }
        } else if self.keep_if_lower {
            Sampler::KeepIfLower {
                shrink: self.shrink.unwrap_or(DEFAULT_SHRINK),
            }
        } else {
            Sampler::Langevin
        };
        Ok(RefineConfig {
            sampler,
            prior_l2: self.prior_l2,
            clamp: self.clamp,
            clip_grad: self.clip_grad,
            simplex: self.simplex,
            ..config
        })
    }
}

impl RefineOptions {
    /// The refinement these options ask for, checked (as `ebm refine` checks its flags).
    pub fn config(&self) -> PyResult<RefineConfig> {
        let stages = match &self.stages {
            Some(s) => {
                if self.step_size.is_some() || self.temperature != 0.0 {
                    return Err(PyValueError::new_err(
                        "invalid option stages: sets every step's step size and temperature; leave step_size and temperature out",
                    ));
                }
                Some(
                    parse_stages(s).map_err(|e| {
                        PyValueError::new_err(format!("invalid option stages: {e}"))
                    })?,
                )
            }
            None => {
                if self.step_size.is_none() {
                    return Err(PyValueError::new_err(
                        "invalid option step_size: give step_size (or stages)",
                    ));
                }
                None
            }
        };
        needs(
            self.replicas.is_none()
                && (self.ladder.is_some()
                    || self.ladder_factors.is_some()
                    || self.swap_every.is_some()),
            "ladder / ladder_factors / swap_every",
            "replicas",
        )?;
        if self.ladder.is_some() && self.ladder_factors.is_some() {
            return Err(PyValueError::new_err(
                "invalid option ladder: give ladder or ladder_factors, not both",
            ));
        }
        needs(
            self.vertex_penalty.is_none() && self.vertex_penalty_schedule.is_some(),
            "vertex_penalty_schedule",
            "vertex_penalty",
        )?;
        let config = RefineConfig {
            steps: self.steps,
            step_size: self.step_size.unwrap_or(RefineConfig::default().step_size),
            temperature: self.temperature,
            schedule: Schedule {
                shape: shape("schedule", &self.schedule)?,
                step_size_end: self.step_size_end,
                temperature_end: self.temperature_end,
                stages: stages.unwrap_or_default(),
            },
            seed: self.seed.unwrap_or(0),
            chain_offset: self.chain_offset,
            stop: StopRule {
                grad: self.stop_grad,
                change: self.stop_change,
                below: self.stop_below,
            },
            trace: self.trace,
            exchange: self.replicas.map(|replicas| Exchange {
                replicas,
                every: self.swap_every.unwrap_or(DEFAULT_SWAP_EVERY),
                ladder: match (&self.ladder_factors, self.ladder) {
                    (Some(factors), _) => Ladder::Explicit(factors.clone()),
                    (None, Some((coldest, hottest))) => Ladder::Geometric { coldest, hottest },
                    (None, None) => Ladder::Geometric {
                        coldest: 1.0,
                        hottest: DEFAULT_HOTTEST,
                    },
                },
            }),
            vertex_penalty: match self.vertex_penalty {
                Some((start, end)) => Some(VertexPenalty {
                    start,
                    end,
                    shape: match &self.vertex_penalty_schedule {
                        Some(s) => shape("vertex_penalty_schedule", s)?,
                        None => Shape::Linear,
                    },
                }),
                None => None,
            },
            decode: self.decode,
            dispatch_ms: match self.dispatch_ms {
                Some(0.0) => None,
                Some(ms) => Some(ms),
                None => Some(DEFAULT_DISPATCH_MS),
            },
            keep_non_finite: self.keep_non_finite,
            ..RefineConfig::default()
        };
        let config = self.sampler.apply(config)?;
        config.validate().map_err(plain)?;
        let noiseless = config.step_table().map_err(plain)?;
        if self.seed.is_some() && noiseless.iter().all(|[_, noise]| *noise == 0.0) {
            return Err(PyValueError::new_err(
                "invalid option seed: would be ignored: no step has noise (the temperature is 0 throughout)",
            ));
        }
        Ok(config)
    }
}
