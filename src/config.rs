//! Options of a refinement, shared by the GPU path and the float64 reference.

use crate::error::{Error, Result};
use crate::schedule::Schedule;

/// How to refine: K steps of y <- y - eta * dE/dy + sqrt(2 eta T) * N(0, I), then clamp;
/// eta and T follow `schedule` from `step_size` and `temperature`.
#[derive(Clone, Debug, PartialEq)]
pub struct RefineConfig {
    /// Number of steps K (0 only evaluates the energy of y0).
    pub steps: u32,
    /// Step size eta (at the first step, with a schedule).
    pub step_size: f32,
    /// Temperature T (at the first step, with a schedule); 0 is plain gradient descent.
    pub temperature: f32,
    /// How eta and T change over the steps (constant by default).
    pub schedule: Schedule,
    /// Seed of the noise: the same seed gives bit-identical results on the same device.
    pub seed: u64,
    /// lambda of the prior (lambda / 2) |y|^2 added to the energy; 0 for none.
    pub prior_l2: f32,
    /// Box [lo, hi] every coordinate of y is clamped to after each step.
    pub clamp: Option<(f32, f32)>,
    /// Largest norm of a chain's step direction dE/dy + lambda y: longer ones are scaled
    /// down to it (per chain, per step), before the step size and the noise.
    pub clip_grad: Option<f32>,
    /// Project every group of this many consecutive coordinates of y onto the probability
    /// simplex {v >= 0, sum v = 1} after each step (a one-hot relaxation; groups holding a
    /// fixed coordinate are left alone). y_dim must be a multiple of it.
    pub simplex: Option<u32>,
}

impl Default for RefineConfig {
    fn default() -> Self {
        RefineConfig {
            steps: 100,
            step_size: 0.01,
            temperature: 0.0,
            schedule: Schedule::default(),
            seed: 0,
            prior_l2: 0.0,
            clamp: None,
            clip_grad: None,
            simplex: None,
        }
    }
}

impl RefineConfig {
    /// Checks every option, naming the command-line flag at fault.
    pub fn validate(&self) -> Result<()> {
        if !(self.step_size.is_finite() && self.step_size > 0.0) {
            return Err(Error::option(
                "--step-size",
                format!("must be a positive number, got {}", self.step_size),
            ));
        }
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err(Error::option(
                "--temperature",
                format!("must be a number >= 0, got {}", self.temperature),
            ));
        }
        if !(self.prior_l2.is_finite() && self.prior_l2 >= 0.0) {
            return Err(Error::option(
                "--prior-l2",
                format!("must be a number >= 0, got {}", self.prior_l2),
            ));
        }
        if let Some((lo, hi)) = self.clamp {
            if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
                return Err(Error::option(
                    "--clamp",
                    format!("needs finite LO <= HI, got {lo},{hi}"),
                ));
            }
        }
        if self.simplex == Some(0) {
            return Err(Error::option(
                "--simplex",
                "groups need at least 1 coordinate",
            ));
        }
        if let Some(c) = self.clip_grad {
            if !(c.is_finite() && c > 0.0) {
                return Err(Error::option(
                    "--clip-grad",
                    format!("must be a positive number, got {c}"),
                ));
            }
        }
        if !((2.0 * f64::from(self.step_size) * f64::from(self.temperature)).sqrt() as f32)
            .is_finite()
        {
            return Err(Error::option(
                "--temperature",
                "sqrt(2 * step-size * temperature) overflows float32",
            ));
        }
        self.step_table().map(|_| ())
    }

    /// (eta, sqrt(2 eta T)) of every step, in float32: what the kernels and the reference
    /// both use.
    pub fn step_table(&self) -> Result<Vec<[f32; 2]>> {
        self.schedule
            .table(self.steps, self.step_size, self.temperature)
    }
}
