//! The keyword arguments of `Engine.refine`, checked as `ebm refine` checks its flags (an
//! option that needs another, two that exclude each other), then made into a `RefineConfig`
//! by the library's `RefineOptions`, as the command line's are, so the same options give
//! the same bits.

use ebm::refine::{parse_stages, SamplerOptions, Shape};
use ebm::RefineConfig;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

use crate::errors::plain;

/// One stage of a schedule (the library's `ebm::refine::Stage`, whose fields it reads):
/// `steps` steps of step size `step_size` at temperature `temperature`, on landscape
/// `landscape` (None: `refine`'s `landscape`), clamped to `clamp` (None: `refine`'s
/// `clamp`); under keep-if-lower, `take_every_step` takes every step of the stage, none
/// compared (IRED's denoising step).
#[pyclass(module = "ebm_wgpu", frozen, eq, from_py_object)]
#[derive(Clone, Debug, PartialEq)]
pub struct Stage(pub ebm::refine::Stage);

#[pymethods]
impl Stage {
    #[new]
    #[pyo3(signature = (steps, step_size, temperature=0.0, *, landscape=None, clamp=None, take_every_step=false))]
    fn new(
        steps: u32,
        step_size: f32,
        temperature: f32,
        landscape: Option<f32>,
        clamp: Option<(f32, f32)>,
        take_every_step: bool,
    ) -> Self {
        Stage(ebm::refine::Stage {
            steps,
            step_size,
            temperature,
            landscape,
            clamp,
            take_every_step,
        })
    }

    #[getter]
    fn steps(&self) -> u32 {
        self.0.steps
    }

    #[getter]
    fn step_size(&self) -> f32 {
        self.0.step_size
    }

    #[getter]
    fn temperature(&self) -> f32 {
        self.0.temperature
    }

    #[getter]
    fn landscape(&self) -> Option<f32> {
        self.0.landscape
    }

    #[getter]
    fn clamp(&self) -> Option<(f32, f32)> {
        self.0.clamp
    }

    #[getter]
    fn take_every_step(&self) -> bool {
        self.0.take_every_step
    }

    fn __repr__(&self) -> String {
        let s = &self.0;
        let mut out = format!("Stage({}, {:?}, {:?}", s.steps, s.step_size, s.temperature);
        if let Some(t) = s.landscape {
            out += &format!(", landscape={t:?}");
        }
        if let Some((lo, hi)) = s.clamp {
            out += &format!(", clamp=({lo:?}, {hi:?})");
        }
        if s.take_every_step {
            out += ", take_every_step=True";
        }
        out + ")"
    }

    /// Pickling (Ray sends refine's options to its actors this way): its fields.
    fn __reduce__(&self, py: Python<'_>) -> PyResult<(Py<PyAny>, Py<PyAny>)> {
        let rebuild = py.import("ebm_wgpu")?.getattr("_rebuild_stage")?;
        let s = &self.0;
        let args = (
            s.steps,
            s.step_size,
            s.temperature,
            s.landscape,
            s.clamp,
            s.take_every_step,
        )
            .into_pyobject(py)?;
        Ok((rebuild.unbind(), args.into_any().unbind()))
    }
}

/// `refine`'s `stages`: a list of `Stage`, or the command line's spelling
/// "STEPS:ETA:T[:LANDSCAPE[:LO:HI]][:take],...".
pub enum Stages {
    Spelled(String),
    Listed(Vec<Stage>),
}

impl Stages {
    /// `refine`'s `stages` argument read: a TypeError naming the keyword and the first item
    /// that is not a `Stage`.
    pub fn read(value: &Bound<'_, PyAny>) -> PyResult<Stages> {
        if let Ok(text) = value.extract::<String>() {
            return Ok(Stages::Spelled(text));
        }
        let expected = |what: String| {
            PyTypeError::new_err(format!(
                "invalid option stages: expected a list of ebm_wgpu.Stage (or --stages' text), {what}"
            ))
        };
        let type_name = |v: &Bound<'_, PyAny>| {
            v.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_else(|_| "?".into())
        };
        let items = value
            .try_iter()
            .map_err(|_| expected(format!("got {}", type_name(value))))?;
        let mut out = Vec::new();
        for (i, item) in items.enumerate() {
            let item = item?;
            let stage = item
                .extract::<Stage>()
                .map_err(|_| expected(format!("got {} at index {i}", type_name(&item))))?;
            out.push(stage);
        }
        if out.is_empty() {
            return Err(PyValueError::new_err(
                "invalid option stages: give at least one Stage (or leave stages out)",
            ));
        }
        Ok(Stages::Listed(out))
    }
}

/// `Engine.refine`'s keywords: the library's options, and the three Python may give as text
/// (parsed here, so that their errors name the keyword).
pub struct RefineKeywords<'a> {
    /// Every option but `schedule`, `stages` and `vertex_penalty_schedule` (left at their
    /// defaults there: `config` sets them from the text below).
    pub options: ebm::refine::RefineOptions,
    /// "constant", "linear", "cosine" or "geometric".
    pub schedule: &'a str,
    /// A list of `Stage`, or "STEPS:ETA:T[:LANDSCAPE[:LO:HI]][:take],..." as `--stages`.
    pub stages: Option<Stages>,
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
            Some(stages) => {
                if options.step_size.is_some() || options.temperature != 0.0 {
                    return Err(PyValueError::new_err(
                        "invalid option stages: sets every step's step size and temperature; leave step_size and temperature out",
                    ));
                }
                match stages {
                    Stages::Spelled(s) => parse_stages(&s).map_err(|e| {
                        PyValueError::new_err(format!("invalid option stages: {e}"))
                    })?,
                    Stages::Listed(list) => list.into_iter().map(|s| s.0).collect(),
                }
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
