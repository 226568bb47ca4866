//! What `Engine::eval` and `Engine::refine` return, and the error for chains that became
//! non-finite.

use crate::error::{Error, Result};
use crate::plan::path::KernelPath;
use crate::refine::trace::TraceRow;

/// Chains a [`crate::Error::NonFinite`] names.
const NAMED_NON_FINITE: usize = 5;

/// Energies and gradients of a batch.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// E(x, y) per chain, `[n]`.
    pub energy: Vec<f32>,
    /// dE/dy per chain, `[n, y_dim]` row-major.
    pub grad: Vec<f32>,
}

/// The outcome of a refinement.
#[derive(Clone, Debug, PartialEq)]
pub struct Refinement {
    /// Final y per chain, `[n, y_dim]` row-major.
    pub y: Vec<f32>,
    /// Final energy per chain, the prior (lambda/2)|y|^2 included, `[n]`.
    pub energy: Vec<f32>,
    /// GPU time of the kernels alone, summed over chunks, where the device has timestamps.
    pub gpu_seconds: Option<f64>,
    /// The kernel path that ran.
    pub path: KernelPath,
    /// The step each chain stopped before (early stopping), K for those that never
    /// stopped, the steps done for those a cancellation stopped: the steps it took, `[n]`.
    pub steps_taken: Vec<u32>,
    /// Proposals each chain accepted, `[n]` (MALA, keep-if-lower; for Langevin every step
    /// it took).
    pub accepted: Vec<u32>,
    /// Each chain's final step-size multiplier, `[n]`: 1 but for keep-if-lower (which
    /// shrinks it and grows it back) and MALA's warm-up (which adapts it).
    pub step_scale: Vec<f32>,
    /// Proposals each chain accepted during MALA's warm-up (`Sampler::Mala::adapt_steps`),
    /// `[n]`; 0 for the other samplers.
    pub warmup_accepted: Vec<u32>,
    /// With `RefineConfig::trace`: per step, the batch's min / mean / max energy and mean
    /// gradient norm, reduced on the GPU (a cancelled refinement: the steps every chunk
    /// reached).
    pub trace: Option<Vec<TraceRow>>,
    /// Per chain, the step whose result first held a NaN or infinity; a chain whose y stayed
    /// finite but whose final energy is not gets the steps it took. None: finite throughout.
    /// Only returned with `RefineConfig::keep_non_finite`; otherwise such chains are an
    /// error.
    pub non_finite_at: Vec<Option<u32>>,
    /// Whether a progress callback stopped the refinement before its last step.
    pub cancelled: bool,
    /// With `RefineConfig::exchange`: how the swaps went.
    pub exchange: Option<ExchangeReport>,
    /// With `RefineConfig::decode`: each chain's y rounded to the vertices of its simplex
    /// groups, and the model's energy there.
    pub decoded: Option<Decoded>,
}

/// Relaxed answers rounded to discrete ones: each simplex group of y set to the vertex of
/// its largest coordinate (the first on ties), groups holding a fixed coordinate left as
/// they are.
#[derive(Clone, Debug, PartialEq)]
pub struct Decoded {
    /// The rounded y per chain, `[n, y_dim]`.
    pub y: Vec<f32>,
    /// E(x, rounded y) per chain, the model alone (no prior, no penalty), `[n]`: for a
    /// constraint energy, 0 where the rounded answer meets every constraint.
    pub energy: Vec<f32>,
}

/// `y` (`[n, y_dim]`) with each group of `g` coordinates set to the vertex of its largest
/// coordinate (the first on ties; NaN counts as smallest), except groups where `fixed` holds
/// a coordinate.
pub fn round_to_vertices(y: &[f32], g: usize, fixed: Option<&[bool]>) -> Vec<f32> {
    let mut out = y.to_vec();
    for (b, group) in out.chunks_mut(g).enumerate() {
        if fixed.is_some_and(|f| f[b * g..(b + 1) * g].iter().any(|&h| h)) {
            continue;
        }
        let mut best = 0;
        for k in 1..group.len() {
            if group[k] > group[best] || group[best].is_nan() && !group[k].is_nan() {
                best = k;
            }
        }
        for (k, v) in group.iter_mut().enumerate() {
            *v = f32::from(u8::from(k == best));
        }
    }
    out
}

/// What replica exchange did, per group of replicas (group g holds chains g R .. g R + R).
#[derive(Clone, Debug, PartialEq)]
pub struct ExchangeReport {
    /// Replicas per group, R.
    pub replicas: u32,
    /// Each replica's factor of the schedule's temperature, coldest first, `[R]`.
    pub ladder: Vec<f32>,
    /// Swaps proposed between replicas r and r + 1 of each group, `[groups, R - 1]`.
    pub proposed: Vec<u32>,
    /// ... and accepted, `[groups, R - 1]`.
    pub accepted: Vec<u32>,
    /// Round trips (a walker's way from the coldest replica to the hottest and back) made in
    /// each group, `[groups]`.
    pub round_trips: Vec<u32>,
}

impl ExchangeReport {
    /// The report of the final chain states of a refinement in groups of `ladder.len()`.
    pub(crate) fn from_states(
        ladder: Vec<f32>,
        states: &[crate::kernels::params::ChainState],
    ) -> Self {
        let r = ladder.len();
        let mut report = ExchangeReport {
            replicas: r as u32,
            ladder,
            proposed: Vec::new(),
            accepted: Vec::new(),
            round_trips: Vec::new(),
        };
        for group in states.chunks(r) {
            for s in &group[..r - 1] {
                report.proposed.push(s.swaps_proposed);
                report.accepted.push(s.swaps_accepted);
            }
            report
                .round_trips
                .push(group.iter().map(|s| s.round_trips()).sum());
        }
        report
    }

    /// Per pair (r, r + 1), the share of proposed swaps accepted over every group, `[R - 1]`
    /// (NaN where none was proposed).
    pub fn pair_acceptance(&self) -> Vec<f32> {
        let pairs = self.replicas as usize - 1;
        (0..pairs)
            .map(|p| {
                let (mut a, mut n) = (0u64, 0u64);
                for g in 0..self.round_trips.len() {
                    a += u64::from(self.accepted[g * pairs + p]);
                    n += u64::from(self.proposed[g * pairs + p]);
                }
                if n == 0 {
                    f32::NAN
                } else {
                    a as f32 / n as f32
                }
            })
            .collect()
    }

    /// Round trips over every group.
    pub fn total_round_trips(&self) -> u64 {
        self.round_trips.iter().map(|&t| u64::from(t)).sum()
    }
}

impl Refinement {
    /// MALA with a warm-up of `adapt_steps`: per chain, the share of proposals accepted
    /// during the warm-up and after it (where the step size no longer moves, so the
    /// acceptance the adaptation reached); NaN for a chain that took no step in a part.
    pub fn warmup_and_after_acceptance(&self, adapt_steps: u32) -> (Vec<f32>, Vec<f32>) {
        let share = |a: u32, k: u32| {
            if k == 0 {
                f32::NAN
            } else {
                a as f32 / k as f32
            }
        };
        self.steps_taken
            .iter()
            .zip(self.accepted.iter().zip(&self.warmup_accepted))
            .map(|(&k, (&a, &w))| {
                let in_warmup = k.min(adapt_steps);
                (share(w, in_warmup), share(a - w, k - in_warmup))
            })
            .unzip()
    }

    /// Per chain, the share of its steps whose proposal was accepted (MALA,
    /// keep-if-lower; 1 for Langevin), 1 for a chain that took no step.
    pub fn acceptance_rate(&self) -> Vec<f32> {
        self.accepted
            .iter()
            .zip(&self.steps_taken)
            .map(|(&a, &k)| if k == 0 { 1.0 } else { a as f32 / k as f32 })
            .collect()
    }
}

/// An error naming the chains that became non-finite, if any did.
pub(crate) fn check_non_finite(non_finite_at: &[Option<u32>]) -> Result<()> {
    let bad: Vec<(usize, u32)> = non_finite_at
        .iter()
        .enumerate()
        .filter_map(|(c, s)| s.map(|s| (c, s)))
        .collect();
    if bad.is_empty() {
        return Ok(());
    }
    let mut first: Vec<String> = bad
        .iter()
        .take(NAMED_NON_FINITE)
        .map(|(c, s)| format!("chain {c} at step {s}"))
        .collect();
    if bad.len() > NAMED_NON_FINITE {
        first.push("...".into());
    }
    Err(Error::NonFinite {
        count: bad.len(),
        total: non_finite_at.len(),
        first: first.join(", "),
    })
}
