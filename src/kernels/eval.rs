//! The evaluation (shaders/eval.wgsl): energy and dE/dy of every chain, one chain per
//! invocation; or on the layered path (for models whose one-chain kernel would pass
//! llvmpipe's loop limit, see `plan::eval_path`) the x-only part, the forward and the
//! backward pass as the layered path runs them.

use super::compiled::Compiled;
use super::layered::Layered;
use super::{Dispatch, Kernel};
use crate::kernels::constants::WORKGROUP_SIZE;
use crate::plan::path::KernelPath;

/// The dispatches of an evaluation of `m` chains on `path`.
pub fn dispatches(path: KernelPath, compiled: &Compiled, m: u32) -> Vec<Dispatch> {
    if path != KernelPath::Layered {
        return vec![Dispatch {
            write_energy: true,
            ..Dispatch::of(Kernel::Eval, (m.div_ceil(WORKGROUP_SIZE), 1))
        }];
    }
    let layered = Layered { compiled, m };
    let mut out = Vec::new();
    layered.pre(&mut out, 0);
    layered.passes(&mut out, 0);
    out
}
