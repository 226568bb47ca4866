//! The float64 twin of the GPU trace: per step, the batch's min / mean / max energy and
//! mean gradient norm.

use crate::refine::trace::TraceRow;

/// The rows of a reference trace (`[K][n]` of (energy, gradient norm)).
pub fn summarise(per_chain: &[Vec<(f64, f64)>]) -> Vec<TraceRow> {
    per_chain
        .iter()
        .enumerate()
        .map(|(s, chains)| {
            let n = chains.len() as f64;
            TraceRow {
                step: s as u32,
                min_energy: chains.iter().map(|c| c.0).fold(f64::INFINITY, f64::min),
                mean_energy: chains.iter().map(|c| c.0).sum::<f64>() / n,
                max_energy: chains.iter().map(|c| c.0).fold(f64::NEG_INFINITY, f64::max),
                mean_grad_norm: chains.iter().map(|c| c.1).sum::<f64>() / n,
            }
        })
        .collect()
}
