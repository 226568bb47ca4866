//! Weight gradients (shaders/backprop.wgsl, shaders/weight_grad.wgsl): sum over chains c of
//! w_c dE_c/dtheta for every parameter. `backprop` runs one chain per invocation and
//! leaves each layer's dE/dz in scratch; `weight_grad` runs one parameter per invocation
//! and sums over the chunk's chains in order (no atomics: the result does not depend on
//! scheduling). Both read the main binding table (group 0); `weight_grad` also its own
//! (group 1).

use super::{Dispatch, Kernel};
use crate::constants::WORKGROUP_SIZE;
use crate::gpu::bindings::{Access, Binding};

/// Group 1 of the weight-gradient kernels, in binding order.
pub const TRAIN_BINDINGS: [Binding; 2] = [
    Binding {
        name: "chain_weights",
        access: Access::Read,
    },
    Binding {
        name: "param_grads",
        access: Access::ReadWrite,
    },
];

/// The most chains one `weight_grad` invocation sums (its loop stays far inside llvmpipe's
/// 65,535 loop iterations); larger batches are summed chunk by chunk, in order.
pub const MAX_CHAINS_PER_SUM: usize = 16384;

/// Workgroups in x of a dispatch over many items, at most this many per row.
const MAX_GROUPS_X: u32 = 65535;

/// The dispatches that add the chunk's (`m` chains) weighted weight gradients of `params`
/// parameters to `param_grads`.
pub(crate) fn dispatches(m: u32, params: u32) -> [Dispatch; 2] {
    let groups = params.div_ceil(WORKGROUP_SIZE);
    [
        Dispatch::of(Kernel::Backprop, (m.div_ceil(WORKGROUP_SIZE), 1)),
        Dispatch::of(
            Kernel::WeightGrad,
            (groups.min(MAX_GROUPS_X), groups.div_ceil(MAX_GROUPS_X)),
        ),
    ]
}
