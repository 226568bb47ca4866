//! Weight gradients (shaders/backprop.wgsl, shaders/weight_grad.wgsl): sum over chains c of
//! w_c dE_c/dtheta for every parameter. `backprop` runs one chain per invocation and
//! leaves each layer's dE/dz in scratch; `weight_grad` runs one parameter per invocation
//! and sums over the chunk's chains in order (no atomics: the result does not depend on
//! scheduling). Both read the main binding table (group 0); `weight_grad` also the training
//! table (group 1, `kernels::train::TRAIN_BINDINGS`).

use super::{Dispatch, Kernel};
use crate::kernels::constants::WORKGROUP_SIZE;

/// The most chains one `weight_grad` invocation sums (its loop stays far inside llvmpipe's
/// 65,535 loop iterations); larger batches are summed chunk by chunk, in order.
pub const MAX_CHAINS_PER_SUM: usize = 16384;

/// The dispatches that add the chunk's (`m` chains) weighted weight gradients of `params`
/// parameters to `param_grads`.
pub(crate) fn dispatches(m: u32, params: u32) -> [Dispatch; 2] {
    [
        Dispatch::of(Kernel::Backprop, (m.div_ceil(WORKGROUP_SIZE), 1)),
        Dispatch::of(Kernel::WeightGrad, super::train::grid(params)),
    ]
}
