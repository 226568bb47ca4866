//! `Trainer`: trains a model's weights on the GPU (contrastive divergence or
//! noise-contrastive estimation), as `ebm train` does.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use ebm::refine::SamplerOptions;
use ebm::train::Checkpoint;
use ebm::{Objective, Optimizer, PathChoice, RefineConfig, TrainConfig, TrainData};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyAny;

use crate::arrays::rows;
use crate::context::Context;
use crate::engine::with_progress;
use crate::errors::{plain, to_py, EbmError, Inputs, NEGATIVES};
use crate::model::Model;
use crate::options::check_sampler;

/// A training run: the model's weights live on the GPU and are updated in place; one
/// step is one submission that reads nothing back but the statistics every `log_every`
/// steps.
#[pyclass(module = "ebm_wgpu", frozen)]
pub struct Trainer {
    inner: Mutex<ebm::Trainer>,
    /// The step, readable while a run holds the trainer.
    step: AtomicU64,
}

fn errors(e: ebm::Error) -> PyErr {
    to_py(e, Inputs { y: Some("y") }, NEGATIVES)
}

/// The trainer is held by a run.
struct Busy;

fn busy(_: Busy) -> PyErr {
    EbmError::new_err(
        "the trainer is running (in another thread, or this is its progress callback); call this after run returns, or stop the run by returning False from the callback",
    )
}

impl Trainer {
    /// The trainer, or an error while a run holds it (from another thread, or from the
    /// run's own progress callback): waiting would deadlock the callback's case.
    fn held(&self) -> Result<MutexGuard<'_, ebm::Trainer>, Busy> {
        match self.inner.try_lock() {
            Ok(t) => Ok(t),
            Err(std::sync::TryLockError::Poisoned(e)) => Ok(e.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => Err(Busy),
        }
    }
}

#[pymethods]
impl Trainer {
    /// A trainer of `model` on data `y` `[n, y_dim]` (and `x` `[n, x_dim]` for a
    /// conditional model), from step 0, or from the checkpoint file `resume` (written by
    /// `save_checkpoint` or `ebm train`). Options as `ebm train`'s flags: `objective` "cd"
    /// or "nce", `optimizer` "adam" or "sgd", `replay` the replay buffer's slots (`--buffer`;
    /// 0: negatives from noise), `negative_steps`, `negative_step_size`,
    /// `negative_temperature` and the sampler options for the negatives.
    #[new]
    #[pyo3(signature = (
        model, y, x=None, *, context=None, kernel="auto", resume=None, objective="cd",
        alpha=1.0, optimizer="adam", learning_rate=1e-3, weight_decay=0.0,
        clip_grad_norm=Some(1.0), batch=256, replay=10_000, reinit=0.05, seed=0,
        log_every=100, negative_steps=20, negative_step_size=0.01, negative_temperature=1.0,
        prior_l2=0.0, clamp=None, clip_grad=None, simplex=None, mala=false,
        adapt_steps=None, target_accept=None, keep_if_lower=false, shrink=None, rise_tolerance=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        model: &Model,
        y: &Bound<'_, PyAny>,
        x: Option<&Bound<'_, PyAny>>,
        context: Option<&Context>,
        kernel: &str,
        resume: Option<std::path::PathBuf>,
        objective: &str,
        alpha: f32,
        optimizer: &str,
        learning_rate: f32,
        weight_decay: f32,
        clip_grad_norm: Option<f32>,
        batch: usize,
        replay: usize,
        reinit: f32,
        seed: u64,
        log_every: u32,
        negative_steps: u32,
        negative_step_size: f32,
        negative_temperature: f32,
        prior_l2: f32,
        clamp: Option<(f32, f32)>,
        clip_grad: Option<f32>,
        simplex: Option<u32>,
        mala: bool,
        adapt_steps: Option<u32>,
        target_accept: Option<f32>,
        keep_if_lower: bool,
        shrink: Option<f32>,
        rise_tolerance: Option<f32>,
    ) -> PyResult<Trainer> {
        let objective = match objective {
            "cd" => Objective::ContrastiveDivergence,
            "nce" => Objective::NoiseContrastive,
            other => {
                return Err(PyValueError::new_err(format!(
                    "invalid option objective: {other:?}; expected \"cd\" or \"nce\""
                )))
            }
        };
        let optimizer = match optimizer {
            "adam" => Optimizer::ADAM,
            "sgd" => Optimizer::Sgd,
            other => {
                return Err(PyValueError::new_err(format!(
                    "invalid option optimizer: {other:?}; expected \"adam\" or \"sgd\""
                )))
            }
        };
        let sampler = SamplerOptions {
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
        };
        check_sampler(&sampler)?;
        let negatives = sampler.apply(RefineConfig {
            steps: negative_steps,
            step_size: negative_step_size,
            temperature: negative_temperature,
            ..TrainConfig::default().negatives
        });
        let config = TrainConfig {
            objective,
            alpha,
            optimizer,
            learning_rate,
            weight_decay,
            clip_grad_norm,
            batch,
            negatives,
            replay,
            reinit,
            seed,
            log_every,
        };
        let m = &model.inner;
        let (y, n) = rows(py, "y", y, m.y_dim, "the model's y_dim")?;
        let x = match (x, m.x_dim) {
            (None, _) => Vec::new(),
            (Some(x), d) => {
                let (values, rows_x) = rows(py, "x", x, d, "the model's x_dim")?;
                if rows_x != n {
                    return Err(PyValueError::new_err(format!(
                        "x: {rows_x} rows; expected {n}, one per row of y"
                    )));
                }
                values
            }
        };
        let choice: PathChoice = kernel
            .parse()
            .map_err(|e| PyValueError::new_err(format!("invalid option kernel: {e}")))?;
        let ctx = match context {
            Some(c) => c.inner.clone(),
            None => py.detach(ebm::Context::new).map_err(plain)?,
        };
        let model = m.clone();
        let data = TrainData { y, x };
        let trainer = py
            .detach(|| {
                match resume {
                    // The run goes on from the checkpoint's weights, as `ebm train --resume`.
                    Some(path) => {
                        let checkpoint = Checkpoint::load(&path)?;
                        let engine = ebm::Engine::with_path(&ctx, &checkpoint.model, choice)?;
                        ebm::Trainer::resume(engine, data, &config, &checkpoint)
                    }
                    None => ebm::Engine::with_path(&ctx, &model, choice)
                        .and_then(|engine| ebm::Trainer::new(engine, data, &config)),
                }
            })
            .map_err(errors)?;
        Ok(Trainer {
            step: AtomicU64::new(trainer.step()),
            inner: Mutex::new(trainer),
        })
    }

    /// Runs `steps` training steps; returns every step's statistics as float arrays
    /// `step`, `loss`, `energy_pos`, `energy_neg`, `grad_norm`, `weight_norm`,
    /// `clip_scale`. `progress(p)` is called after each step with a `Progress`
    /// (`steps_done` counts from the trainer's start); returning False stops after it.
    #[pyo3(signature = (steps, progress=None))]
    fn run(
        &self,
        py: Python<'_>,
        steps: u64,
        progress: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<HashMap<String, Py<PyAny>>> {
        let stats = with_progress(py, progress, |report| {
            let mut trainer = self.held()?;
            let mut on = |p: &ebm::train::TrainProgress<'_>| {
                self.step.store(p.step, Ordering::SeqCst);
                report(p.step, p.end, p.elapsed.as_secs_f64())
            };
            let out = trainer.run(steps, Some(&mut on));
            self.step.store(trainer.step(), Ordering::SeqCst);
            Ok(out)
        })?
        .map_err(busy)?
        .map_err(errors)?;
        let column = |f: fn(&ebm::train::TrainStats) -> f64| {
            numpy::PyArray1::from_vec(py, stats.iter().map(f).collect::<Vec<f64>>())
                .into_any()
                .unbind()
        };
        Ok(HashMap::from([
            ("step".to_string(), column(|s| s.step as f64)),
            ("loss".to_string(), column(|s| f64::from(s.loss))),
            (
                "energy_pos".to_string(),
                column(|s| f64::from(s.energy_pos)),
            ),
            (
                "energy_neg".to_string(),
                column(|s| f64::from(s.energy_neg)),
            ),
            ("grad_norm".to_string(), column(|s| f64::from(s.grad_norm))),
            (
                "weight_norm".to_string(),
                column(|s| f64::from(s.weight_norm)),
            ),
            (
                "clip_scale".to_string(),
                column(|s| f64::from(s.clip_scale)),
            ),
        ]))
    }

    /// Steps taken since the run began (a resumed run counts its checkpoint's).
    #[getter]
    fn step(&self) -> u64 {
        self.step.load(Ordering::SeqCst)
    }

    /// The current weights, read back from the GPU.
    fn model(&self, py: Python<'_>) -> PyResult<Model> {
        let model = py
            .detach(|| self.held().map(|mut t| t.model()))
            .map_err(busy)?
            .map_err(errors)?;
        Ok(Model { inner: model })
    }

    /// Writes the state to resume from (weights, optimiser moments, replay buffer, step,
    /// seed) as a safetensors file; `Trainer(..., resume=path)` goes on from it.
    fn save_checkpoint(&self, py: Python<'_>, path: std::path::PathBuf) -> PyResult<()> {
        py.detach(|| {
            self.held()
                .map(|mut t| t.checkpoint().and_then(|c| c.save(&path)))
        })
        .map_err(busy)?
        .map_err(errors)
    }
}
