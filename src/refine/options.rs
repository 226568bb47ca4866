//! A refinement as a front end takes it (the command line's flags, the Python package's
//! keywords): each setting given or left out, made into a checked [`RefineConfig`] with the
//! defaults every front end shares, so the same options give the same bits whichever front
//! end made them. How a front end spells and relates its options (a flag that needs
//! another, two that exclude each other) stays with it; what a setting left out becomes is
//! decided here, once.

use crate::error::{Error, Result};
use crate::refine::config::DEFAULT_DISPATCH_MS;
use crate::refine::config::{Exchange, Ladder, RefineConfig, Sampler, StopRule, VertexPenalty};
use crate::refine::schedule::{Schedule, Shape, Stage};

/// [`Exchange::every`] when [`RefineOptions::swap_every`] is left out.
pub const DEFAULT_SWAP_EVERY: u32 = 10;
/// The hottest factor of the geometric ladder when [`RefineOptions::ladder`] is left out
/// (the coldest is 1).
pub const DEFAULT_HOTTEST: f32 = 10.0;
/// MALA's [`Sampler::Mala::target_accept`] when [`SamplerOptions::target_accept`] is left
/// out (optimal for smooth targets).
pub const DEFAULT_TARGET_ACCEPT: f32 = 0.574;
/// Keep-if-lower's [`Sampler::KeepIfLower::shrink`] when [`SamplerOptions::shrink`] is left
/// out.
pub const DEFAULT_SHRINK: f32 = 0.5;

/// [`RefineConfig::dispatch_ms`] for a front end's budget: the default budget when left
/// out, one dispatch for all steps at 0.
pub fn dispatch_budget(ms: Option<f32>) -> Option<f32> {
    match ms {
        Some(0.0) => None,
        Some(ms) => Some(ms),
        None => Some(DEFAULT_DISPATCH_MS),
    }
}

/// The sampler's options, shared by a refinement and a training run's negatives.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SamplerOptions {
    /// [`RefineConfig::prior_l2`].
    pub prior_l2: f32,
    /// [`RefineConfig::clamp`].
    pub clamp: Option<(f32, f32)>,
    /// [`RefineConfig::clip_grad`].
    pub clip_grad: Option<f32>,
    /// [`RefineConfig::simplex`].
    pub simplex: Option<u32>,
    /// [`Sampler::Mala`] (before `keep_if_lower`, which a front end does not allow beside it).
    pub mala: bool,
    /// [`Sampler::Mala::adapt_steps`]; 0 when left out.
    pub adapt_steps: Option<u32>,
    /// [`Sampler::Mala::target_accept`]; [`DEFAULT_TARGET_ACCEPT`] when left out.
    pub target_accept: Option<f32>,
    /// [`Sampler::KeepIfLower`].
    pub keep_if_lower: bool,
    /// [`Sampler::KeepIfLower::shrink`]; [`DEFAULT_SHRINK`] when left out.
    pub shrink: Option<f32>,
    /// [`Sampler::KeepIfLower::rise_tolerance`]; 0 when left out.
    pub rise_tolerance: Option<f32>,
}

impl SamplerOptions {
    /// The sampler these options choose: MALA, keep-if-lower, or plain Langevin.
    pub fn sampler(&self) -> Sampler {
        if self.mala {
            Sampler::Mala {
                adapt_steps: self.adapt_steps.unwrap_or(0),
                target_accept: self.target_accept.unwrap_or(DEFAULT_TARGET_ACCEPT),
            }
        } else if self.keep_if_lower {
            Sampler::KeepIfLower {
                shrink: self.shrink.unwrap_or(DEFAULT_SHRINK),
                rise_tolerance: self.rise_tolerance.unwrap_or(0.0),
            }
        } else {
            Sampler::Langevin
        }
    }

    /// `config` with these options: the sampler, the prior, the clamp, the gradient clip
    /// and the simplex (unchecked: [`RefineConfig::validate`] checks the whole).
    pub fn apply(&self, config: RefineConfig) -> RefineConfig {
        RefineConfig {
            sampler: self.sampler(),
            prior_l2: self.prior_l2,
            clamp: self.clamp,
            clip_grad: self.clip_grad,
            simplex: self.simplex,
            ..config
        }
    }
}

/// Every option of a refinement, each given or left out.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RefineOptions {
    /// [`RefineConfig::steps`].
    pub steps: u32,
    /// [`RefineConfig::step_size`]; left out with `stages`, which set every step's.
    pub step_size: Option<f32>,
    /// [`RefineConfig::temperature`] (0 when left out).
    pub temperature: f32,
    /// [`Schedule::shape`].
    pub schedule: Shape,
    /// [`Schedule::step_size_end`].
    pub step_size_end: Option<f32>,
    /// [`Schedule::temperature_end`].
    pub temperature_end: Option<f32>,
    /// [`Schedule::stages`] (none: the schedule's shape).
    pub stages: Vec<Stage>,
    /// [`RefineConfig::landscape`] (0 when left out).
    pub landscape: f32,
    /// [`RefineConfig::seed`]; given with no noise at any step, it is refused as ignored.
    pub seed: Option<u64>,
    /// [`RefineConfig::chain_offset`].
    pub chain_offset: u32,
    /// The sampler and what shapes each step.
    pub sampler: SamplerOptions,
    /// [`Exchange::replicas`]: replica exchange when given.
    pub replicas: Option<u32>,
    /// The geometric ladder's (coldest, hottest) factors; (1, [`DEFAULT_HOTTEST`]) when
    /// both it and `ladder_factors` are left out.
    pub ladder: Option<(f32, f32)>,
    /// An explicit ladder's factors (before `ladder`, which a front end does not allow
    /// beside it).
    pub ladder_factors: Option<Vec<f32>>,
    /// [`Exchange::every`]; [`DEFAULT_SWAP_EVERY`] when left out.
    pub swap_every: Option<u32>,
    /// The vertex penalty's (start, end) weights.
    pub vertex_penalty: Option<(f32, f32)>,
    /// The vertex penalty's shape; linear when left out.
    pub vertex_penalty_schedule: Option<Shape>,
    /// [`RefineConfig::decode`].
    pub decode: bool,
    /// [`StopRule::grad`].
    pub stop_grad: Option<f32>,
    /// [`StopRule::change`].
    pub stop_change: Option<f32>,
    /// [`StopRule::below`].
    pub stop_below: Option<f32>,
    /// [`RefineConfig::trace`].
    pub trace: bool,
    /// The dispatch budget in milliseconds, as [`dispatch_budget`] reads it.
    pub dispatch_ms: Option<f32>,
    /// [`RefineConfig::keep_non_finite`].
    pub keep_non_finite: bool,
}

impl RefineOptions {
    /// The refinement these options ask for, checked: [`RefineConfig::validate`], and a
    /// seed given where no step has noise is refused (it would be ignored).
    pub fn config(&self) -> Result<RefineConfig> {
        let config = self.sampler.apply(RefineConfig {
            steps: self.steps,
            step_size: self.step_size.unwrap_or(RefineConfig::default().step_size),
            temperature: self.temperature,
            schedule: Schedule {
                shape: self.schedule,
                step_size_end: self.step_size_end,
                temperature_end: self.temperature_end,
                stages: self.stages.clone(),
            },
            seed: self.seed.unwrap_or(0),
            chain_offset: self.chain_offset,
            landscape: self.landscape,
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
            vertex_penalty: self.vertex_penalty.map(|(start, end)| VertexPenalty {
                start,
                end,
                shape: self.vertex_penalty_schedule.unwrap_or(Shape::Linear),
            }),
            decode: self.decode,
            dispatch_ms: dispatch_budget(self.dispatch_ms),
            keep_non_finite: self.keep_non_finite,
            ..RefineConfig::default()
        });
        config.validate()?;
        if self.seed.is_some() && config.step_table()?.iter().all(|[_, noise]| *noise == 0.0) {
            return Err(Error::config(
                "RefineConfig::seed",
                "would be ignored: no step has noise (the temperature is 0 throughout)",
            ));
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatch_budget_defaults_and_zero_means_one_dispatch() {
        assert_eq!(dispatch_budget(Some(0.0)), None);
        assert_eq!(dispatch_budget(Some(5.0)), Some(5.0));
        assert_eq!(dispatch_budget(None), Some(DEFAULT_DISPATCH_MS));
    }

    #[test]
    fn left_out_settings_take_the_shared_defaults() {
        let options = RefineOptions {
            steps: 40,
            step_size: Some(0.05),
            temperature: 0.3,
            replicas: Some(4),
            vertex_penalty: Some((0.1, 2.0)),
            sampler: SamplerOptions {
                simplex: Some(2),
                ..SamplerOptions::default()
            },
            ..RefineOptions::default()
        };
        let config = options.config().unwrap();
        assert_eq!(
            config.exchange,
            Some(Exchange {
                replicas: 4,
                every: DEFAULT_SWAP_EVERY,
                ladder: Ladder::Geometric {
                    coldest: 1.0,
                    hottest: DEFAULT_HOTTEST
                },
            })
        );
        assert_eq!(
            config.vertex_penalty,
            Some(VertexPenalty {
                start: 0.1,
                end: 2.0,
                shape: Shape::Linear
            })
        );
        assert_eq!(config.sampler, Sampler::Langevin);
        assert_eq!(config.dispatch_ms, Some(DEFAULT_DISPATCH_MS));
        assert_eq!(
            (config.steps, config.step_size, config.temperature),
            (40, 0.05, 0.3)
        );
        let keep_if_lower = SamplerOptions {
            keep_if_lower: true,
            ..SamplerOptions::default()
        };
        assert_eq!(
            keep_if_lower.sampler(),
            Sampler::KeepIfLower {
                shrink: DEFAULT_SHRINK,
                rise_tolerance: 0.0
            }
        );
        let mala = SamplerOptions {
            mala: true,
            ..SamplerOptions::default()
        };
        assert_eq!(
            mala.sampler(),
            Sampler::Mala {
                adapt_steps: 0,
                target_accept: DEFAULT_TARGET_ACCEPT
            }
        );
    }

    #[test]
    fn given_settings_win_over_the_defaults() {
        let options = RefineOptions {
            steps: 10,
            step_size: Some(0.02),
            temperature: 0.5,
            replicas: Some(2),
            ladder: Some((1.0, 3.0)),
            ladder_factors: Some(vec![1.0, 2.5]),
            swap_every: Some(3),
            vertex_penalty: Some((0.0, 1.0)),
            vertex_penalty_schedule: Some(Shape::Cosine),
            sampler: SamplerOptions {
                simplex: Some(2),
                ..SamplerOptions::default()
            },
            dispatch_ms: Some(0.0),
            ..RefineOptions::default()
        };
        let config = options.config().unwrap();
        let exchange = config.exchange.unwrap();
        assert_eq!(exchange.every, 3);
        assert_eq!(exchange.ladder, Ladder::Explicit(vec![1.0, 2.5]));
        assert_eq!(config.vertex_penalty.unwrap().shape, Shape::Cosine);
        assert_eq!(config.dispatch_ms, None);
    }

    #[test]
    fn a_seed_without_noise_is_refused_and_bad_settings_name_their_field() {
        let quiet = RefineOptions {
            steps: 10,
            step_size: Some(0.1),
            seed: Some(7),
            ..RefineOptions::default()
        };
        match quiet.config() {
            Err(Error::Config { field, message }) => {
                assert_eq!(field, "RefineConfig::seed");
                assert!(message.starts_with("would be ignored"), "{message}");
            }
            other => panic!("expected the seed refused, got {other:?}"),
        }
        let noisy = RefineOptions {
            temperature: 0.2,
            ..quiet.clone()
        };
        assert_eq!(noisy.config().unwrap().seed, 7);
        let negative = RefineOptions {
            step_size: Some(-0.1),
            ..noisy
        };
        match negative.config() {
            Err(Error::Config { field, .. }) => assert_eq!(field, "RefineConfig::step_size"),
            other => panic!("expected the step size refused, got {other:?}"),
        }
    }
}
