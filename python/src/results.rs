//! What a refinement and an evaluation give back, as NumPy arrays with the names of the
//! command line's output tensors.

use std::collections::HashMap;

use ebm::{BestOf as LibBestOf, Refinement as LibRefinement, Sampler};
use pyo3::prelude::*;

use crate::arrays::{f32_array, i32_array};

/// Energies and dE/dy of a batch (`Engine.eval`).
#[pyclass(module = "ebm_wgpu", frozen, get_all)]
pub struct Evaluation {
    /// E(x, y) per chain, float32 `[B]`.
    pub energy: Py<PyAny>,
    /// dE/dy per chain, float32 `[B, y_dim]`.
    pub grad: Py<PyAny>,
}

impl Evaluation {
    pub fn new(py: Python<'_>, e: ebm::Evaluation, y_dim: usize) -> PyResult<Self> {
        let n = e.energy.len();
        Ok(Evaluation {
            energy: f32_array(py, e.energy, &[n])?,
            grad: f32_array(py, e.grad, &[n, y_dim])?,
        })
    }
}

/// Every chain of a refinement (`Engine.refine`). Arrays are NumPy; counts are int32.
#[pyclass(module = "ebm_wgpu", frozen, get_all)]
pub struct Refinement {
    /// Final y, float32 `[B, y_dim]`.
    pub y: Py<PyAny>,
    /// Final energy with the prior (lambda/2)|y|^2, float32 `[B]`.
    pub energy: Py<PyAny>,
    /// Steps each chain took (fewer than `steps` where it stopped early), int32 `[B]`.
    pub steps_taken: Py<PyAny>,
    /// Proposals each chain accepted, int32 `[B]`.
    pub accepted: Py<PyAny>,
    /// The share of each chain's steps accepted (1 for plain Langevin), float32 `[B]`.
    pub acceptance: Py<PyAny>,
    /// Each chain's final step-size multiplier, float32 `[B]`.
    pub step_scale: Py<PyAny>,
    /// With `mala=True, adapt_steps=N`: acceptance in the first N steps and after them,
    /// float32 `[B]` each; else None.
    pub acceptance_warmup: Option<Py<PyAny>>,
    pub acceptance_after_warmup: Option<Py<PyAny>>,
    /// The step at which each chain became non-finite, or -1, int32 `[B]` (with
    /// `keep_non_finite=True`; else None).
    pub non_finite_at: Option<Py<PyAny>>,
    /// With `trace=True`: per step, `step`, `min_energy`, `mean_energy`, `max_energy`,
    /// `mean_grad_norm` over the batch (float64 arrays `[K]`); else None.
    pub trace: Option<HashMap<String, Py<PyAny>>>,
    /// With `decode=True`: each chain rounded to its simplex vertices, float32
    /// `[B, y_dim]`, and the energy there, float32 `[B]`; else None.
    pub decoded_y: Option<Py<PyAny>>,
    pub decoded_energy: Option<Py<PyAny>>,
    /// With `replicas=R`: each neighbouring pair's swap acceptance (float32 `[R - 1]`) and
    /// each group's round trips (int32 `[groups]`); else None.
    pub swap_acceptance: Option<Py<PyAny>>,
    pub round_trips: Option<Py<PyAny>>,
    /// With `replicas=R`: swaps proposed and accepted between replicas r and r + 1 of
    /// each group, int32 `[groups, R - 1]` (what `swap_acceptance` sums); else None.
    pub swaps_proposed: Option<Py<PyAny>>,
    pub swaps_accepted: Option<Py<PyAny>>,
    /// Whether a progress callback (or Ctrl-C) stopped it early.
    pub cancelled: bool,
    /// The kernel path that ran, e.g. "tile16".
    pub path: String,
    /// GPU time in seconds, where the adapter has timestamps.
    pub gpu_seconds: Option<f64>,
}

impl Refinement {
    pub fn new(
        py: Python<'_>,
        r: LibRefinement,
        config: &ebm::RefineConfig,
        y_dim: usize,
    ) -> PyResult<Self> {
        let n = r.energy.len();
        let f32s = |v: Vec<f32>, shape: &[usize]| f32_array(py, v, shape);
        let counts =
            |v: &[u32], shape: &[usize]| i32_array(py, v.iter().map(|&k| i64::from(k)), shape);
        let (warmup, after) = match config.sampler {
            Sampler::Mala { adapt_steps, .. } if adapt_steps > 0 => {
                let (w, a) = r.warmup_and_after_acceptance(adapt_steps);
                (Some(f32s(w, &[n])?), Some(f32s(a, &[n])?))
            }
            _ => (None, None),
        };
        let trace = match &r.trace {
            Some(rows) => {
                let column = |f: fn(&ebm::refine::TraceRow) -> f64| {
                    numpy::PyArray1::from_vec(py, rows.iter().map(f).collect::<Vec<f64>>())
                        .into_any()
                        .unbind()
                };
                Some(HashMap::from([
                    ("step".to_string(), column(|t| f64::from(t.step))),
                    ("min_energy".to_string(), column(|t| t.min_energy)),
                    ("mean_energy".to_string(), column(|t| t.mean_energy)),
                    ("max_energy".to_string(), column(|t| t.max_energy)),
                    ("mean_grad_norm".to_string(), column(|t| t.mean_grad_norm)),
                ]))
            }
            None => None,
        };
        let (decoded_y, decoded_energy) = match &r.decoded {
            Some(d) => (
                Some(f32s(d.y.clone(), &[n, y_dim])?),
                Some(f32s(d.energy.clone(), &[n])?),
            ),
            None => (None, None),
        };
        let (mut swap_acceptance, mut round_trips) = (None, None);
        let (mut swaps_proposed, mut swaps_accepted) = (None, None);
        if let Some(x) = &r.exchange {
            let pairs = x.pair_acceptance();
            let len = pairs.len();
            let grid = [x.round_trips.len(), len];
            swap_acceptance = Some(f32s(pairs, &[len])?);
            round_trips = Some(counts(&x.round_trips, &grid[..1])?);
            swaps_proposed = Some(counts(&x.proposed, &grid)?);
            swaps_accepted = Some(counts(&x.accepted, &grid)?);
        }
        Ok(Refinement {
            acceptance: f32s(r.acceptance_rate(), &[n])?,
            steps_taken: counts(&r.steps_taken, &[n])?,
            accepted: counts(&r.accepted, &[n])?,
            step_scale: f32s(r.step_scale.clone(), &[n])?,
            acceptance_warmup: warmup,
            acceptance_after_warmup: after,
            non_finite_at: config
                .keep_non_finite
                .then(|| {
                    let steps = r.non_finite_at.iter().map(|s| s.map_or(-1, i64::from));
                    i32_array(py, steps, &[n])
                })
                .transpose()?,
            trace,
            decoded_y,
            decoded_energy,
            swap_acceptance,
            round_trips,
            swaps_proposed,
            swaps_accepted,
            cancelled: r.cancelled,
            path: r.path.to_string(),
            gpu_seconds: r.gpu_seconds,
            y: f32s(r.y, &[n, y_dim])?,
            energy: f32s(r.energy, &[n])?,
        })
    }
}

#[pymethods]
impl Refinement {
    fn __repr__(&self, py: Python<'_>) -> String {
        let n = self.energy.bind(py).len().unwrap_or(0);
        format!(
            "Refinement({n} chains on {}{})",
            self.path,
            if self.cancelled { ", cancelled" } else { "" }
        )
    }
}

/// The best of R chains per x (`Engine.refine(..., best_of=R)`).
#[pyclass(module = "ebm_wgpu", frozen, get_all)]
pub struct BestOf {
    /// The lowest-energy final y per x (with `decode=True`: the rounded y of the chain
    /// whose rounded y has the lowest energy), float32 `[m, y_dim]`.
    pub y: Py<PyAny>,
    /// Its energy, float32 `[m]`.
    pub energy: Py<PyAny>,
    /// Which of the R chains of each x it is, int32 `[m]`.
    pub best: Py<PyAny>,
    /// Highest minus lowest final (or decoded) energy among each x's R chains, float32 `[m]`.
    pub spread: Py<PyAny>,
    /// Every chain (chain r of x i is row i R + r).
    pub all: Py<Refinement>,
}

impl BestOf {
    pub fn new(
        py: Python<'_>,
        b: LibBestOf,
        config: &ebm::RefineConfig,
        y_dim: usize,
    ) -> PyResult<Self> {
        let m = b.energy.len();
        Ok(BestOf {
            y: f32_array(py, b.y, &[m, y_dim])?,
            energy: f32_array(py, b.energy, &[m])?,
            best: i32_array(py, b.best.iter().map(|&k| i64::from(k)), &[m])?,
            spread: f32_array(py, b.spread, &[m])?,
            all: Py::new(py, Refinement::new(py, b.all, config, y_dim)?)?,
        })
    }
}
