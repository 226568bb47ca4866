//! The kernels of a training step beside the weight gradients (shaders/train.wgsl: the
//! negatives' start and store, the loss and dLoss/dE per chain; shaders/optimizer.wgsl: the
//! gradient's norm and the update), their binding tables and uniform blocks.
//!
//! `train.wgsl` and `weight_grad.wgsl` bind the main table (group 0) and
//! [`TRAIN_BINDINGS`] (group 1); `optimizer.wgsl` binds only [`OPTIMIZER_BINDINGS`], since
//! it writes the weights every other kernel reads.

use bytemuck::{Pod, Zeroable};

use super::{Dispatch, Kernel};
use crate::gpu::bindings::{Access, Binding};
use crate::kernels::constants::WORKGROUP_SIZE;

/// Group 1 of the training kernels (shaders/train_bindings.wgsl), in binding order.
pub const TRAIN_BINDINGS: [Binding; 6] = [
    Binding::new("train", Access::Uniform),
    Binding::new("chain_weights", Access::ReadWrite),
    Binding::new("param_grads", Access::ReadWrite),
    Binding::new("replay", Access::ReadWrite),
    Binding::new("noise", Access::Read),
    Binding::new("train_stats", Access::ReadWrite),
];

/// Group 0 of the optimiser (shaders/optimizer.wgsl), in binding order.
pub const OPTIMIZER_BINDINGS: [Binding; 6] = [
    Binding::new("optim", Access::Uniform),
    Binding::new("weights", Access::ReadWrite),
    Binding::new("param_grads", Access::Read),
    Binding::new("moments", Access::ReadWrite),
    Binding::new("train_stats", Access::ReadWrite),
    Binding::new("program", Access::Read),
];

/// `TrainParams` in WGSL (shaders/train_bindings.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct TrainParams {
    pub batch: u32,
    pub objective: u32,
    pub replay_size: u32,
    pub replay_offset: u32,
    pub reinit: f32,
    pub alpha: f32,
    pub step: u32,
    pub row: u32,
    pub seed_lo: u32,
    pub seed_hi: u32,
    pub _pad0: u32,
    pub _pad1: u32,
}

/// `OptimParams` in WGSL (shaders/optimizer.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct OptimParams {
    pub n_params: u32,
    pub kind: u32,
    pub step: u32,
    pub row: u32,
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    pub clip: f32,
    pub bias1: f32,
    pub bias2: f32,
    pub _pad0: u32,
    pub _pad1: u32,
    pub _pad2: u32,
    pub _pad3: u32,
}

/// Workgroups in x of a dispatch over many items, at most this many per row.
const MAX_GROUPS_X: u32 = 65535;

/// A grid of workgroups of [`WORKGROUP_SIZE`] invocations over `items`, row by row.
pub(crate) fn grid(items: u32) -> (u32, u32) {
    let groups = items.div_ceil(WORKGROUP_SIZE).max(1);
    (groups.min(MAX_GROUPS_X), groups.div_ceil(MAX_GROUPS_X))
}

/// One invocation per negative of a batch of `batch` (draw_negatives, store_negatives).
pub(crate) fn per_negative(kernel: Kernel, batch: u32) -> Dispatch {
    Dispatch::of(kernel, (batch.div_ceil(WORKGROUP_SIZE), 1))
}

/// One workgroup (loss_weights, grad_norm).
pub(crate) fn one_group(kernel: Kernel) -> Dispatch {
    Dispatch::of(kernel, (1, 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::params::wgsl_layout_in as wgsl_layout;
    use std::mem::{offset_of, size_of};

    macro_rules! offsets {
        ($ty:ty; $($field:ident),*) => {
            vec![$((stringify!($field).to_string(), offset_of!($ty, $field) as u32)),*]
        };
    }

    #[test]
    fn train_params_match_wgsl() {
        let (size, members) = wgsl_layout("train_bindings.wgsl", "TrainParams");
        assert_eq!(size as usize, size_of::<TrainParams>());
        let host = offsets!(TrainParams; batch, objective, replay_size, replay_offset, reinit,
            alpha, step, row, seed_lo, seed_hi, _pad0, _pad1);
        assert_eq!(members, host);
    }

    #[test]
    fn optim_params_match_wgsl() {
        let (size, members) = wgsl_layout("optimizer.wgsl", "OptimParams");
        assert_eq!(size as usize, size_of::<OptimParams>());
        let host = offsets!(OptimParams; n_params, kind, step, row, lr, beta1, beta2,
            eps, weight_decay, clip, bias1, bias2, _pad0, _pad1, _pad2, _pad3);
        assert_eq!(members, host);
    }
}
