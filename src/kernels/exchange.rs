//! Replica exchange's swap rounds (shaders/exchange.wgsl): when they come, and the
//! dispatch of one.

use super::{Dispatch, Kernel};
use crate::kernels::constants::WORKGROUP_SIZE;

/// The swap round after `b` steps of a chunk of `m` chains in groups of `replicas`: one
/// invocation per neighbouring pair (the kernel keeps those of the round's parity).
pub(crate) fn round(m: u32, replicas: u32, b: u32) -> Dispatch {
    let pairs = (m / replicas) * (replicas - 1);
    Dispatch {
        step_offset: b,
        ..Dispatch::of(Kernel::Exchange, (pairs.div_ceil(WORKGROUP_SIZE), 1))
    }
}

/// Whether a swap round follows step `b - 1` of a refinement of `steps` steps that swaps
/// every `every` steps: after every `every` steps, never after the last step.
pub(crate) fn swaps_after(b: u32, every: u32, steps: u32) -> bool {
    b > 0 && b < steps && b % every == 0
}

/// `range` cut after every step a swap round follows.
pub(crate) fn pieces(
    range: std::ops::Range<u32>,
    every: u32,
    steps: u32,
) -> Vec<std::ops::Range<u32>> {
    let mut out = Vec::new();
    let mut start = range.start;
    for b in range.clone() {
        if b > start && swaps_after(b, every, steps) {
            out.push(start..b);
            start = b;
        }
    }
    out.push(start..range.end);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_end_where_rounds_come() {
        assert_eq!(pieces(0..10, 4, 10), vec![0..4, 4..8, 8..10]);
        assert_eq!(pieces(0..8, 4, 8), vec![0..4, 4..8]);
        assert_eq!(pieces(3..9, 4, 20), vec![3..4, 4..8, 8..9]);
        assert_eq!(pieces(4..8, 4, 20), vec![4..8]);
        assert_eq!(pieces(5..5, 4, 20), vec![5..5]);
        assert!(!swaps_after(8, 4, 8));
        assert!(swaps_after(8, 4, 9));
        assert!(!swaps_after(0, 4, 9));
    }
}
