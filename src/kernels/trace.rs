//! The trace's reduction (shaders/trace.wgsl): per step, the batch's min / mean / max
//! energy and mean gradient norm, from the per-chain values the refinement kernels wrote.

use super::{Dispatch, Kernel};

/// Workgroups of trace_reduce (each takes every this-many-th step).
const MAX_TRACE_GROUPS: u32 = 4096;

/// The reduction of a trace of `steps` steps.
pub(crate) fn reduction(steps: u32) -> Dispatch {
    Dispatch {
        steps,
        ..Dispatch::of(Kernel::TraceReduce, (steps.min(MAX_TRACE_GROUPS), 1))
    }
}

/// Bytes of the trace buffer of `chains` chains over `steps` steps: (energy, gradient
/// norm) per chain and step, then the summary's 4 values per step.
pub(crate) fn buffer_bytes(chains: u64, steps: u64) -> u64 {
    4 * steps * (2 * chains + 4)
}

/// Where the summary starts in the trace buffer, in floats.
pub(crate) fn summary_offset(chains: u32, steps: u32) -> u32 {
    2 * chains * steps
}
