//! The fused paths, chain (shaders/chain.wgsl, one chain per invocation) and tile
//! (shaders/tile.wgsl, `kernels::tile`): every step of a submission in runs of one
//! dispatch each, and the chain kernel's loop count on llvmpipe.

use super::{Dispatch, Kernel};
use crate::constants::WORKGROUP_SIZE;
use crate::model::Model;
use crate::path::KernelPath;

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

/// Loop iterations of one step of chain.wgsl (dot products unrolled by 8).
pub(crate) fn chain_loop_iterations(model: &Model) -> u64 {
    let dot = |n: usize| (n / 8 + n % 8 + 2) as u64;
    let (mut forward, mut backward) = (0u64, 0u64);
    for (l, layer) in model.layers.iter().enumerate() {
        let inner = if l == 0 {
            dot(model.x_dim) + dot(model.y_dim)
        } else {
            dot(layer.n_in)
        };
        forward += 1 + layer.n_out as u64 * (inner + 1);
        if l > 0 {
            backward += 1 + layer.n_in as u64 * (dot(layer.n_out) + 1);
        }
    }
    let y_dim = model.y_dim as u64;
    forward += model.layers.last().map_or(0, |l| l.n_out as u64) + 1;
    backward += y_dim * (dot(model.layers[0].n_out) + 1);
    // Update: per block of 4 coordinates, 10 Philox rounds and up to 4 updates.
    let update = (y_dim / 4 + 1) * 15 + y_dim + 1;
    forward + backward + update + 1
}
