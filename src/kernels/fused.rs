//! The fused paths, chain (shaders/chain.wgsl, one chain per invocation) and tile
//! (shaders/tile.wgsl, `kernels::tile`): every step of a submission in runs of one
//! dispatch each, and the chain kernel's loop count on llvmpipe.

use super::compiled::Compiled;
use super::{Dispatch, Kernel};
use crate::kernels::constants::WORKGROUP_SIZE;
use crate::plan::path::KernelPath;

/// A fused path's dispatches for `steps`: runs of at most `steps_per_dispatch` steps, and
/// with `finish` the final energy, in the last run where it spans the rest of the
/// refinement in one dispatch, else in a dispatch of its own.
pub(crate) fn dispatches(
    path: KernelPath,
    m: u32,
    steps: std::ops::Range<u32>,
    finish: bool,
    steps_per_dispatch: u32,
) -> Vec<Dispatch> {
    let (kernel, chains) = match path {
        KernelPath::Tile { chains } => (Kernel::Tile, chains),
        _ => (Kernel::Chain, 0),
    };
    let per_group = if chains == 0 { WORKGROUP_SIZE } else { chains };
    let run = |first: u32, count: u32, write_energy: bool| Dispatch {
        kernel,
        chains,
        step_offset: first,
        steps: count,
        write_energy,
        layer: 0,
        groups: (m.div_ceil(per_group), 1),
    };
    if steps_per_dispatch == u32::MAX && !steps.is_empty() {
        return vec![run(steps.start, steps.len() as u32, finish)];
    }
    let mut out: Vec<Dispatch> = steps
        .clone()
        .step_by(steps_per_dispatch.max(1) as usize)
        .map(|first| run(first, steps_per_dispatch.min(steps.end - first), false))
        .collect();
    if finish {
        out.push(run(steps.end, 0, true));
    }
    out
}

/// Loop iterations of one step of chain.wgsl for one chain: its energy's forward and
/// backward pass (as codegen counts them) and the update.
pub(crate) fn chain_loop_iterations(compiled: &Compiled) -> u64 {
    let loops = compiled.loops;
    let y_dim = compiled.infer.y_dim as u64;
    // Update: per block of 4 coordinates, 10 Philox rounds and up to 4 updates.
    let update = (y_dim / 4 + 1) * 15 + y_dim + 1;
    loops.forward + loops.backward + update + 1
}
