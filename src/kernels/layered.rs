//! The layered path (shaders/layered.wgsl): a dispatch per layer and step, each a tiled
//! matrix product over (chains x units) of LAYERED_TILE x LAYERED_TILE workgroups.

use super::{Dispatch, Kernel};
use crate::constants::{LAYERED_TILE, WORKGROUP_SIZE};
use crate::model::Model;

/// The layered path's dispatches.
pub(crate) struct Layered<'a> {
    pub model: &'a Model,
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

    fn chain_tiles(&self) -> u32 {
        self.m.div_ceil(LAYERED_TILE)
    }

    fn per_chain(&self, kernel: Kernel, step: u32) -> Dispatch {
        self.d(kernel, 0, (self.m.div_ceil(WORKGROUP_SIZE), 1), step, false)
    }

    /// W_x x + b of layer 0, once per refinement.
    pub(crate) fn xpart(&self) -> Dispatch {
        let units = (self.model.layers[0].n_out as u32).div_ceil(LAYERED_TILE);
        self.d(
            Kernel::LayeredXpart,
            0,
            (self.chain_tiles(), units),
            0,
            false,
        )
    }

    /// The forward pass and the energy (`write_energy`: the final one, which covers
    /// stopped chains too).
    fn forward(&self, out: &mut Vec<Dispatch>, step: u32, write_energy: bool) {
        for (l, layer) in self.model.layers.iter().enumerate() {
            let groups = (
                self.chain_tiles(),
                (layer.n_out as u32).div_ceil(LAYERED_TILE),
            );
            out.push(self.d(Kernel::LayeredForward, l as u32, groups, step, write_energy));
        }
        let mut output = self.per_chain(Kernel::LayeredOutput, step);
        output.write_energy = write_energy;
        out.push(output);
    }

    /// The energy and dE/dy at the current y of every chain.
    pub(crate) fn passes(&self, out: &mut Vec<Dispatch>, step: u32) {
        self.forward(out, step, false);
        for l in (0..self.model.layers.len()).rev() {
            let layer = &self.model.layers[l];
            let cols = if l == 0 { self.model.y_dim } else { layer.n_in };
            let groups = (self.chain_tiles(), (cols as u32).div_ceil(LAYERED_TILE));
            out.push(self.d(Kernel::LayeredBackward, l as u32, groups, step, false));
        }
    }

    pub(crate) fn segment(
        &self,
        steps: std::ops::Range<u32>,
        finish: bool,
        accept_rule: bool,
    ) -> Vec<Dispatch> {
        let mut out = Vec::new();
        if steps.start == 0 {
            out.push(self.xpart());
            if accept_rule && !steps.is_empty() {
                self.passes(&mut out, 0);
                out.push(self.per_chain(Kernel::LayeredStart, 0));
            }
        }
        for step in steps.clone() {
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
