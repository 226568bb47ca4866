//! The layered path (shaders/layered.wgsl with the generated energy_layered.wgsl): the
//! energy's program as a dispatch per matrix product, a tiled product over (chains x
//! units) of LAYERED_TILE x LAYERED_TILE workgroups, and a per-chain dispatch for each run
//! of the other instructions between them.

use super::compiled::Compiled;
use super::table::LayeredStep;
use super::{Dispatch, Kernel};
use crate::kernels::constants::{LAYERED_TILE, WORKGROUP_SIZE};

/// The layered path's dispatches.
pub(crate) struct Layered<'a> {
    pub compiled: &'a Compiled,
    /// Chains.
    pub m: u32,
}

impl Layered<'_> {
    fn d(
        &self,
        kernel: Kernel,
        layer: u32,
        groups: (u32, u32),
        step: u32,
        energy: bool,
    ) -> Dispatch {
        Dispatch {
            kernel,
            chains: 0,
            step_offset: step,
            steps: 1,
            write_energy: energy,
            layer,
            groups,
        }
    }

    fn per_chain(&self, kernel: Kernel, step: u32) -> Dispatch {
        self.d(kernel, 0, (self.m.div_ceil(WORKGROUP_SIZE), 1), step, false)
    }

    fn steps(&self, out: &mut Vec<Dispatch>, steps: &[LayeredStep], step: u32, energy: bool) {
        for s in steps {
            out.push(match *s {
                LayeredStep::Pointwise(i) => self.d(
                    Kernel::LayeredPointwise,
                    i,
                    (self.m.div_ceil(WORKGROUP_SIZE), 1),
                    step,
                    energy,
                ),
                LayeredStep::Product { index, cols } => self.d(
                    Kernel::LayeredProduct,
                    index,
                    (self.m.div_ceil(LAYERED_TILE), cols.div_ceil(LAYERED_TILE)),
                    step,
                    energy,
                ),
            });
        }
    }

    /// What depends on x and t alone, once per landscape (from step `step`).
    pub(crate) fn pre(&self, out: &mut Vec<Dispatch>, step: u32) {
        self.steps(out, &self.compiled.layered.pre, step, false);
    }

    /// The forward pass and the energy (`write_energy`: the final one, which covers
    /// stopped chains too).
    fn forward(&self, out: &mut Vec<Dispatch>, step: u32, write_energy: bool) {
        self.steps(out, &self.compiled.layered.forward, step, write_energy);
        let mut output = self.per_chain(Kernel::LayeredOutput, step);
        output.write_energy = write_energy;
        out.push(output);
    }

    /// The energy and dE/dy at the current y of every chain.
    pub(crate) fn passes(&self, out: &mut Vec<Dispatch>, step: u32) {
        self.forward(out, step, false);
        self.steps(out, &self.compiled.layered.backward, step, false);
    }

    /// The dispatches of steps `steps`, and with `finish` the final energy; at step 0 and
    /// at each of `boundaries` (where a new landscape begins) first what depends on x and
    /// t alone and, with an accept rule, the energy at the current y.
    pub(crate) fn segment(
        &self,
        steps: std::ops::Range<u32>,
        finish: bool,
        accept_rule: bool,
        boundaries: &[u32],
    ) -> Vec<Dispatch> {
        let mut out = Vec::new();
        if steps.start == 0 && steps.is_empty() {
            self.pre(&mut out, 0);
        }
        for step in steps.clone() {
            if step == 0 || boundaries.contains(&step) {
                self.pre(&mut out, step);
                if accept_rule {
                    self.passes(&mut out, step);
                    out.push(self.per_chain(Kernel::LayeredStart, step));
                }
            }
            if accept_rule {
                out.push(self.per_chain(Kernel::LayeredUpdate, step));
                self.passes(&mut out, step);
                out.push(self.per_chain(Kernel::LayeredSettle, step));
            } else {
                self.passes(&mut out, step);
                out.push(self.per_chain(Kernel::LayeredUpdate, step));
            }
        }
        if finish {
            self.forward(&mut out, steps.end, true);
        }
        out
    }
}
