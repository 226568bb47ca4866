//! The start-up self-check: a few probe chains evaluated and refined on every path an
//! engine may take, compared with the float64 reference, so that a driver that miscomputes
//! a model fails when the engine is made instead of returning wrong answers.

use super::call::Job;
use super::Engine;
use crate::error::{Error, Result};
use crate::plan;
use crate::refine::config::RefineConfig;

/// Relative L2 error above which the self-check rejects an adapter: float32 results land
/// near 1e-6, a miscompiled kernel near 1.
const SELF_CHECK_TOLERANCE: f64 = 1e-3;

impl Engine {
    /// Evaluates a few probe chains and refines them on every path this engine may take,
    /// and compares the results with the float64 reference, so that a driver that
    /// miscomputes this model fails here instead of returning wrong answers. A kernel
    /// beyond the adapter's limits is not probed: the call that needs it is refused.
    pub(super) fn self_check(&self) -> Result<()> {
        // A forced path that cannot run this model is refused here, by name.
        self.path_for(1)?;
        let n = 3;
        let mut rng = crate::refine::rng::HostRng::new(0x5E1F, 1);
        let mut draw =
            |len: usize| -> Vec<f32> { (0..len).map(|_| rng.symmetric() as f32).collect() };
        let x = draw(n * self.model.x_dim);
        let y = draw(n * self.model.y_dim);
        let eval_path = self.eval_path();
        // A landscape index other than 0, so that an energy E(x, y, t) is checked reading it.
        let landscape = 0.5;
        if let Some(evaluation) =
            unless_beyond_limits(self.run(&Job::Eval { landscape }, &x, &y, eval_path, None))?
        {
            let (energy, grad) = crate::reference::eval_at(&self.model, &x, &y, landscape);
            self.compare_to_reference(
                &format!("eval on the {eval_path} path"),
                evaluation.energy.iter().chain(&evaluation.grad),
                energy.iter().chain(&grad),
            )?;
        }
        let info = self.ctx.adapter_info();
        let limits = self.plan_limits();
        for path in plan::candidates(self.choice, &self.compiled, info, &limits) {
            // A refinement that spans more than one dispatch, as long ones do on some drivers:
            // a full run of steps (which the driver must not cut short), then one more.
            let langevin = RefineConfig::default();
            let steps =
                match plan::steps_per_dispatch(info, &limits, &self.compiled, path, &langevin) {
                    u32::MAX => 4,
                    spd => spd.saturating_add(1).min(2001),
                };
            let config = RefineConfig {
                steps,
                step_size: 1e-3,
                landscape,
                ..Default::default()
            };
            let table = config.checked_table()?;
            let job = Job::Refine {
                config: &config,
                table: &table,
                fixed: None,
            };
            let Some(refined) = unless_beyond_limits(self.run(&job, &x, &y, path, None))? else {
                continue;
            };
            let (y_ref, e_ref) = crate::reference::refine(&self.model, &x, &y, &config);
            self.compare_to_reference(
                &format!("refine ({steps} steps) on the {path} path"),
                refined.y.iter().chain(&refined.energy),
                y_ref.iter().chain(&e_ref),
            )?;
        }
        Ok(())
    }

    fn compare_to_reference<'a>(
        &self,
        what: &str,
        got: impl Iterator<Item = &'a f32>,
        expected: impl Iterator<Item = &'a f64>,
    ) -> Result<()> {
        let (mut num, mut den) = (0.0f64, 0.0f64);
        for (g, e) in got.zip(expected) {
            num += (f64::from(*g) - e).powi(2);
            den += e * e;
        }
        let err = (num / den.max(f64::MIN_POSITIVE)).sqrt();
        if err.is_nan() || err >= SELF_CHECK_TOLERANCE {
            let info = self.ctx.adapter_info();
            return Err(Error::Gpu {
                stage: "self-check",
                message: format!(
                    "{what} of a model with {}, on adapter {:?} ({:?}, driver {:?} {:?}), differs from the float64 reference by a relative L2 error of {err:.2e} (tolerance {SELF_CHECK_TOLERANCE:e}); ebm refuses to run it there rather than return wrong answers",
                    self.model.shape(),
                    info.name,
                    info.backend,
                    info.driver,
                    info.driver_info
                ),
            });
        }
        Ok(())
    }
}

/// A probe's result, or None where a kernel it needs is beyond the adapter's limits
/// ([`Error::Limit`]): a kernel that cannot be made cannot return wrong answers, and the
/// call that needs it reports the limit, naming the kernel. An engine only for evaluation
/// (`ebm eval`) or for training by NCE is not refused for a refinement kernel it never runs.
fn unless_beyond_limits<T>(result: Result<T>) -> Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(Error::Limit { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}
