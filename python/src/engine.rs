//! `Engine`: a model placed on a GPU, its specialised kernels checked, with `eval` and
//! `refine`. The GIL is released while the GPU works, so several Python threads can share
//! one engine (the library's engine is `Sync`).

use std::ops::ControlFlow;

use ebm::refine::SamplerOptions;
use ebm::PathChoice;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyAny;

use crate::arrays::{mask, rows};
use crate::context::Context;
use crate::errors::{plain, to_py, Inputs};
use crate::model::Model;
use crate::options::{RefineKeywords, Stages};
use crate::results::{BestOf, Evaluation, Refinement};

/// Where a refinement stands, given to the `progress` callback between submissions.
#[pyclass(module = "ebm_wgpu", frozen, get_all)]
pub struct Progress {
    /// Steps done (of every chunk of the batch).
    pub steps_done: u64,
    /// Steps in all.
    pub steps_total: u64,
    /// Seconds since the refinement began.
    pub elapsed: f64,
}

/// A model on a GPU, ready to evaluate and refine batches.
#[pyclass(module = "ebm_wgpu", frozen)]
pub struct Engine {
    pub(crate) inner: ebm::Engine,
}

/// Runs `work` without the GIL, calling `progress` (a Python callable, or None) with the
/// GIL between submissions: it cancels when the callable returns False, and Ctrl-C or an
/// exception in it cancels too and is raised once the GPU has stopped.
pub fn with_progress<T: Send>(
    py: Python<'_>,
    progress: Option<&Bound<'_, PyAny>>,
    work: impl FnOnce(&mut dyn FnMut(u64, u64, f64) -> ControlFlow<()>) -> T + Send,
) -> PyResult<T> {
    let callback: Option<Py<PyAny>> = progress.map(|p| p.clone().unbind());
    let mut raised: Option<PyErr> = None;
    let out = py.detach(|| {
        let mut report = |done: u64, total: u64, elapsed: f64| {
            Python::attach(|py| {
                if let Err(e) = py.check_signals() {
                    raised = Some(e);
                    return ControlFlow::Break(());
                }
                let Some(cb) = &callback else {
                    return ControlFlow::Continue(());
                };
                let p = Progress {
                    steps_done: done,
                    steps_total: total,
                    elapsed,
                };
                match cb.call1(py, (p,)) {
                    Ok(v)
                        if v.bind(py).is_instance_of::<pyo3::types::PyBool>()
                            && !v.bind(py).is_truthy().unwrap_or(true) =>
                    {
                        ControlFlow::Break(())
                    }
                    Ok(_) => ControlFlow::Continue(()),
                    Err(e) => {
                        raised = Some(e);
                        ControlFlow::Break(())
                    }
                }
            })
        };
        work(&mut report)
    });
    match raised {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

#[pymethods]
impl Engine {
    /// Places `model` on `context`'s GPU (a new `Context()` if None) and checks its kernels
    /// against the float64 reference. `kernel`: "auto", "chain", "tile", "tile4" ...
    /// "tile32" or "layered" (as `ebm refine --kernel`); `chunk`: the most chains one GPU
    /// pass holds (larger batches are split; the result does not depend on it).
    #[new]
    #[pyo3(signature = (model, context=None, *, kernel="auto", chunk=None))]
    fn new(
        py: Python<'_>,
        model: &Model,
        context: Option<&Context>,
        kernel: &str,
        chunk: Option<usize>,
    ) -> PyResult<Engine> {
        let choice: PathChoice = kernel
            .parse()
            .map_err(|e| PyValueError::new_err(format!("invalid option kernel: {e}")))?;
        let ctx = match context {
            Some(c) => c.inner.clone(),
            None => py.detach(ebm::Context::new).map_err(plain)?,
        };
        let model = model.inner.clone();
        let mut inner = py
            .detach(|| ebm::Engine::with_path(&ctx, &model, choice))
            .map_err(plain)?;
        if let Some(c) = chunk {
            inner.set_max_chunk(c).map_err(plain)?;
        }
        Ok(Engine { inner })
    }

    /// The model this engine runs (a copy).
    #[getter]
    fn model(&self) -> Model {
        Model {
            inner: self.inner.model().clone(),
        }
    }

    /// Every kernel path `model` can run on with `context`'s adapter (a new `Context()` if
    /// None): "chain", each tile size that fits its limits ("tile4" ... "tile32"), and
    /// "layered"; each is a `kernel=` choice of `Engine`.
    #[staticmethod]
    #[pyo3(signature = (model, context=None))]
    fn fitting_paths(
        py: Python<'_>,
        model: &Model,
        context: Option<&Context>,
    ) -> PyResult<Vec<String>> {
        let ctx = match context {
            Some(c) => c.inner.clone(),
            None => py.detach(ebm::Context::new).map_err(plain)?,
        };
        Ok(ebm::Engine::fitting_paths(&ctx, &model.inner)
            .into_iter()
            .map(|p| p.to_string())
            .collect())
    }

    /// The kernel path a batch of `chains` would run on.
    fn path_for(&self, chains: usize) -> PyResult<String> {
        Ok(self.inner.path_for(chains).map_err(plain)?.to_string())
    }

    /// E(x, y) and dE/dy for a batch: `x` `[B, x_dim]` (None when x_dim is 0), `y`
    /// `[B, y_dim]`; `landscape`: the landscape index t of an energy E(x, y, t).
    #[pyo3(signature = (x, y, *, landscape=0.0))]
    fn eval(
        &self,
        py: Python<'_>,
        x: Option<&Bound<'_, PyAny>>,
        y: &Bound<'_, PyAny>,
        landscape: f32,
    ) -> PyResult<Evaluation> {
        let m = self.inner.model();
        let (y, n) = rows(py, "y", y, m.y_dim, "the model's y_dim")?;
        let x = observed(py, x, m.x_dim, n, 1)?;
        let e = py
            .detach(|| self.inner.eval_at(&x, &y, landscape))
            .map_err(|e| to_py(e, Inputs { y: Some("y") }, &[]))?;
        Evaluation::new(py, e, m.y_dim)
    }

    /// Refines a batch: `steps` steps of y <- y - eta dE/dy + sqrt(2 eta T) N(0, I), with
    /// every option `ebm refine` has, as keyword arguments named like its flags
    /// (`--step-size` is `step_size`; `stages` is a list of `Stage`, or `--stages`' text;
    /// `landscape` is the landscape index t of an energy E(x, y, t), which a stage may set).
    /// `x` is `[B, x_dim]` (None when x_dim is 0) and `y0` `[B, y_dim]`; with `best_of=R`,
    /// `x` is `[m, x_dim]` and `y0` holds R starts per x (`[m R, y_dim]`) and a `BestOf`
    /// comes back, else a `Refinement`. `fixed`: a boolean mask like y0 of coordinates kept
    /// at their start. `progress(p)` is called between submissions with a `Progress`;
    /// returning False cancels (the result is marked `cancelled`). The GIL is released
    /// while the GPU works.
    #[pyo3(signature = (
        x, y0, *, steps, step_size=None, temperature=0.0, schedule="constant",
        step_size_end=None, temperature_end=None, stages=None, landscape=0.0, seed=None, chain_offset=0,
        prior_l2=0.0, clamp=None, clip_grad=None, simplex=None, fixed=None, best_of=None,
        mala=false, adapt_steps=None, target_accept=None, keep_if_lower=false, shrink=None,
        rise_tolerance=None, replicas=None, ladder=None, ladder_factors=None, swap_every=None,
        vertex_penalty=None, vertex_penalty_schedule=None, decode=false, stop_grad=None,
        stop_change=None, stop_below=None, trace=false, dispatch_ms=None, keep_non_finite=false,
        progress=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn refine(
        &self,
        py: Python<'_>,
        x: Option<&Bound<'_, PyAny>>,
        y0: &Bound<'_, PyAny>,
        steps: u32,
        step_size: Option<f32>,
        temperature: f32,
        schedule: &str,
        step_size_end: Option<f32>,
        temperature_end: Option<f32>,
        stages: Option<&Bound<'_, PyAny>>,
        landscape: f32,
        seed: Option<u64>,
        chain_offset: u32,
        prior_l2: f32,
        clamp: Option<(f32, f32)>,
        clip_grad: Option<f32>,
        simplex: Option<u32>,
        fixed: Option<&Bound<'_, PyAny>>,
        best_of: Option<usize>,
        mala: bool,
        adapt_steps: Option<u32>,
        target_accept: Option<f32>,
        keep_if_lower: bool,
        shrink: Option<f32>,
        rise_tolerance: Option<f32>,
        replicas: Option<u32>,
        ladder: Option<(f32, f32)>,
        ladder_factors: Option<Vec<f32>>,
        swap_every: Option<u32>,
        vertex_penalty: Option<(f32, f32)>,
        vertex_penalty_schedule: Option<String>,
        decode: bool,
        stop_grad: Option<f32>,
        stop_change: Option<f32>,
        stop_below: Option<f32>,
        trace: bool,
        dispatch_ms: Option<f32>,
        keep_non_finite: bool,
        progress: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let config = RefineKeywords {
            options: ebm::refine::RefineOptions {
                steps,
                step_size,
                temperature,
                step_size_end,
                temperature_end,
                landscape,
                seed,
                chain_offset,
                sampler: SamplerOptions {
                    prior_l2,
                    clamp,
                    clip_grad,
                    simplex,
                    mala,
                    adapt_steps,
                    target_accept,
                    keep_if_lower,
                    shrink,
                    rise_tolerance,
                },
                replicas,
                ladder,
                ladder_factors,
                swap_every,
                vertex_penalty,
                decode,
                stop_grad,
                stop_change,
                stop_below,
                trace,
                dispatch_ms,
                keep_non_finite,
                ..ebm::refine::RefineOptions::default()
            },
            schedule,
            stages: stages.map(Stages::read).transpose()?,
            vertex_penalty_schedule: vertex_penalty_schedule.as_deref(),
        }
        .config()?;
        if let (Some(r), Some(per_x)) = (replicas, best_of) {
            if r > 0 && per_x % r as usize != 0 {
                return Err(PyValueError::new_err(format!(
                    "invalid option replicas: {r} replicas do not divide the {per_x} chains per x of best_of"
                )));
            }
        }
        let per_x = best_of.unwrap_or(1);
        if per_x == 0 {
            return Err(PyValueError::new_err(
                "invalid option best_of: needs at least 1 chain per x",
            ));
        }
        let m = self.inner.model();
        let (y0, n) = rows(py, "y0", y0, m.y_dim, "the model's y_dim")?;
        let x = observed(py, x, m.x_dim, n, per_x)?;
        let fixed = match fixed {
            Some(f) => Some(mask(py, "fixed", f, n, m.y_dim)?),
            None => None,
        };
        let y_dim = m.y_dim;
        let engine = &self.inner;
        let config_ref = &config;
        let errors = |e| to_py(e, Inputs { y: Some("y0") }, &[]);
        match best_of {
            Some(r) => {
                let out = with_progress(py, progress, |report| {
                    let mut on = |p: &ebm::Progress| {
                        report(p.steps_done, p.steps_total, p.elapsed.as_secs_f64())
                    };
                    engine.refine_best_of_with(
                        &x,
                        &y0,
                        r,
                        fixed.as_deref(),
                        config_ref,
                        Some(&mut on),
                    )
                })?
                .map_err(errors)?;
                Ok(Py::new(py, BestOf::new(py, out, &config, y_dim)?)?.into_any())
            }
            None => {
                let out = with_progress(py, progress, |report| {
                    let mut on = |p: &ebm::Progress| {
                        report(p.steps_done, p.steps_total, p.elapsed.as_secs_f64())
                    };
                    engine.refine_with(&x, &y0, fixed.as_deref(), config_ref, Some(&mut on))
                })?
                .map_err(errors)?;
                Ok(Py::new(py, Refinement::new(py, out, &config, y_dim)?)?.into_any())
            }
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "Engine({} on {})",
            self.inner.model().shape(),
            self.inner.context().adapter_info().name
        )
    }
}

/// The x of a batch of `n` chains (`per_x` chains per row of x): `[n / per_x, x_dim]`, or
/// nothing for an unconditional model.
fn observed(
    py: Python<'_>,
    x: Option<&Bound<'_, PyAny>>,
    x_dim: usize,
    n: usize,
    per_x: usize,
) -> PyResult<Vec<f32>> {
    match (x, x_dim) {
        (None, 0) => Ok(Vec::new()),
        (None, d) => Err(PyValueError::new_err(format!(
            "x: missing; the model's x_dim is {d}, so x must be [B, {d}]"
        ))),
        (Some(x), d) => {
            let (values, rows_x) = rows(py, "x", x, d, "the model's x_dim")?;
            if rows_x * per_x != n {
                let want = if per_x == 1 {
                    format!("{n} rows, one per row of y0")
                } else {
                    format!(
                        "one row per {per_x} rows of y0 (best_of={per_x}): {}",
                        n / per_x
                    )
                };
                return Err(PyValueError::new_err(format!(
                    "x: {rows_x} rows; expected {want}"
                )));
            }
            Ok(values)
        }
    }
}
