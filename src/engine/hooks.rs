//! Settings for tests, hidden from the documentation: each changes how the engine builds or
//! runs its kernels, never what it computes, and the tests hold every setting to the same
//! reference.

use super::{subgroups_usable, Engine};
use crate::error::Result;

impl Engine {
    /// Turns the tile kernel's subgroup operations off (or back on, where the device has
    /// them), and checks the kernels again; for testing the portable version.
    #[doc(hidden)]
    pub fn set_subgroups(&mut self, on: bool) -> Result<()> {
        self.subgroups = on && subgroups_usable(&self.ctx);
        self.self_check()
    }

    /// Builds every kernel with wgpu's runtime bounds checks (or back without), and checks
    /// the kernels again; for testing that no kernel indexes out of bounds.
    #[doc(hidden)]
    pub fn set_runtime_checks(&mut self, on: bool) -> Result<()> {
        self.pipelines.set_runtime_checks(on);
        self.train_pipelines.set_runtime_checks(on);
        self.optim_pipelines.set_runtime_checks(on);
        self.rebuild()
    }

    /// Drops the pipelines made so far (a setting they were built with changed) and checks
    /// the kernels again.
    fn rebuild(&mut self) -> Result<()> {
        self.pipelines.clear();
        self.train_pipelines.clear();
        self.optim_pipelines.clear();
        self.self_check()
    }

    /// Plans as if the adapter had `limits` (another adapter's, e.g. from
    /// `crate::gpu::profiles`), and checks the kernels again; pipelines must still fit the
    /// real device. For testing the choices other GPUs will make.
    #[doc(hidden)]
    pub fn set_planning_limits(&mut self, limits: wgpu::Limits) -> Result<()> {
        self.planning_limits = Some(limits);
        self.rebuild()
    }

    /// Runs every fused dispatch for at most `steps` steps (0: as planned); for testing
    /// that results do not depend on the split.
    #[doc(hidden)]
    pub fn set_steps_per_dispatch(&mut self, steps: u32) {
        self.forced_steps_per_dispatch = steps;
    }

    /// Fills every output and scratch buffer with NaN before each dispatch, so that a value
    /// a kernel fails to write shows up in tests.
    #[doc(hidden)]
    pub fn poison_outputs(&mut self, on: bool) {
        self.poison = on;
    }
}
