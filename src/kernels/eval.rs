//! The evaluation (shaders/eval.wgsl): energy and dE/dy of every chain, one chain per
//! invocation; or on the layered path (for models whose one-chain kernel would pass
//! llvmpipe's loop limit, see `plan::eval_path`) W_x x + b, the forward and the backward
//! pass.

use super::layered::Layered;
use super::{Dispatch, Kernel};
use crate::constants::WORKGROUP_SIZE;
use crate::model::Model;
use crate::path::KernelPath;

/// The dispatches of an evaluation of `m` chains on `path`.
pub fn dispatches(path: KernelPath, model: &Model, m: u32) -> Vec<Dispatch> {
    if path != KernelPath::Layered {
        return vec![Dispatch {
            write_energy: true,
            ..Dispatch::of(Kernel::Eval, (m.div_ceil(WORKGROUP_SIZE), 1))
        }];
    }
    let layered = Layered { model, m };
    let mut out = vec![layered.xpart()];
    layered.passes(&mut out, 0);
    out
}
