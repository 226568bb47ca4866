//! The per-step diagnostics of a refinement (`RefineConfig::trace`, `ebm refine --trace`):
//! reduced over the batch on the GPU (shaders/trace.wgsl) and combined over chunks here.

/// The batch before one step: a stopped chain counts with the values it stopped with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TraceRow {
    /// The step (0-based): the values are those of the y the step starts from.
    pub step: u32,
    /// Lowest energy (the prior included) over the batch.
    pub min_energy: f64,
    /// Mean energy over the batch.
    pub mean_energy: f64,
    /// Highest energy over the batch.
    pub max_energy: f64,
    /// Mean over the batch of |dE/dy + lambda y| (over the coordinates that move).
    pub mean_grad_norm: f64,
}

/// Per-step partial sums over the chunks of a refinement, as trace_reduce leaves them:
/// (min, sum, max, sum of gradient norms), and how many chains each step covers.
pub(crate) struct TraceSums {
    sums: Vec<[f64; 4]>,
    chains: Vec<u64>,
    /// Steps every chunk reached (all of them, unless the refinement was cancelled).
    reached: usize,
}

impl TraceSums {
    pub(crate) fn new(steps: u32) -> Self {
        TraceSums {
            sums: vec![[f64::INFINITY, 0.0, f64::NEG_INFINITY, 0.0]; steps as usize],
            chains: vec![0; steps as usize],
            reached: steps as usize,
        }
    }

    /// Adds the summary of a chunk of `m` chains that ran `steps` steps (`[steps][4]`
    /// floats from the GPU).
    pub(crate) fn add(&mut self, chunk: &[f32], steps: u32, m: usize) {
        let steps = steps as usize;
        self.reached = self.reached.min(steps);
        let rows = self.sums.iter_mut().zip(&mut self.chains);
        for ((total, count), part) in rows.zip(chunk.chunks_exact(4)).take(steps) {
            let part: [f64; 4] = std::array::from_fn(|i| f64::from(part[i]));
            total[0] = total[0].min(part[0]);
            total[1] += part[1];
            total[2] = total[2].max(part[2]);
            total[3] += part[3];
            *count += m as u64;
            // min/max drop NaN: keep it visible.
            if part[0].is_nan() || part[2].is_nan() {
                total[0] = f64::NAN;
                total[2] = f64::NAN;
            }
        }
    }

    /// The rows of the steps every chunk reached, means over the batch.
    pub(crate) fn rows(&self) -> Vec<TraceRow> {
        self.sums
            .iter()
            .zip(&self.chains)
            .take(self.reached)
            .enumerate()
            .map(|(s, (t, &n))| {
                let n = n as f64;
                TraceRow {
                    step: s as u32,
                    min_energy: t[0],
                    mean_energy: t[1] / n,
                    max_energy: t[2],
                    mean_grad_norm: t[3] / n,
                }
            })
            .collect()
    }
}
