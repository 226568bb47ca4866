//! The keyword arguments of `Engine.refine`, checked as `ebm refine` checks its flags (an
//! option that needs another, two that exclude each other), then made into a `RefineConfig`
//! by the library's `RefineOptions`, as the command line's are, so the same options give
//! the same bits.

use ebm::refine::{parse_stages, SamplerOptions, Shape};
use ebm::RefineConfig;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::errors::plain;

/// `Engine.refine`'s keywords: the library's options, and the three Python gives as text
/// (parsed here, so that their errors name the keyword).
pub struct RefineKeywords<'a> {
    /// Every option but `schedule`, `stages` and `vertex_penalty_schedule` (left at their
    /// defaults there: `config` sets them from the text below).
    pub options: ebm::refine::RefineOptions,
    /// "constant", "linear", "cosine" or "geometric".
    pub schedule: &'a str,
    /// "STEPS:ETA:T[:LANDSCAPE[:LO:HI]],...", as `--stages`.
    pub stages: Option<&'a str>,
    /// The vertex penalty's shape, as `schedule`.
    pub vertex_penalty_schedule: Option<&'a str>,
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

/// Refuses sampler options that need or exclude others (as clap does `ebm`'s flags).
pub fn check_sampler(options: &SamplerOptions) -> PyResult<()> {
    if options.mala && options.keep_if_lower {
        return Err(PyValueError::new_err(
            "invalid option mala: not with keep_if_lower (one sampler at a time)",
        ));
    }
    needs(
        !options.mala && (options.adapt_steps.is_some() || options.target_accept.is_some()),
        "adapt_steps / target_accept",
        "mala=True",
    )?;
    needs(
        options.target_accept.is_some() && options.adapt_steps.is_none(),
        "target_accept",
        "adapt_steps",
    )?;
    needs(
        !options.keep_if_lower && options.shrink.is_some(),
        "shrink",
        "keep_if_lower=True",
    )?;
    needs(
        !options.keep_if_lower && options.rise_tolerance.is_some(),
        "rise_tolerance",
        "keep_if_lower=True",
    )
}

impl RefineKeywords<'_> {
    /// The refinement these keywords ask for, checked (as `ebm refine` checks its flags).
    pub fn config(self) -> PyResult<RefineConfig> {
        let mut options = self.options;
        options.stages = match self.stages {
            Some(s) => {
                if options.step_size.is_some() || options.temperature != 0.0 {
                    return Err(PyValueError::new_err(
                        "invalid option stages: sets every step's step size and temperature; leave step_size and temperature out",
                    ));
                }
                parse_stages(s)
                    .map_err(|e| PyValueError::new_err(format!("invalid option stages: {e}")))?
            }
            None => {
                if options.step_size.is_none() {
                    return Err(PyValueError::new_err(
                        "invalid option step_size: give step_size (or stages)",
                    ));
                }
                Vec::new()
            }
        };
        needs(
            options.replicas.is_none()
                && (options.ladder.is_some()
                    || options.ladder_factors.is_some()
                    || options.swap_every.is_some()),
            "ladder / ladder_factors / swap_every",
            "replicas",
        )?;
        if options.ladder.is_some() && options.ladder_factors.is_some() {
            return Err(PyValueError::new_err(
                "invalid option ladder: give ladder or ladder_factors, not both",
            ));
        }
        needs(
            options.vertex_penalty.is_none() && self.vertex_penalty_schedule.is_some(),
            "vertex_penalty_schedule",
            "vertex_penalty",
        )?;
        options.schedule = shape("schedule", self.schedule)?;
        options.vertex_penalty_schedule = match self.vertex_penalty_schedule {
            Some(s) => Some(shape("vertex_penalty_schedule", s)?),
            None => None,
        };
        check_sampler(&options.sampler)?;
        options.config().map_err(plain)
    }
}
