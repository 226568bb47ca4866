//! Options of a refinement, shared by the GPU path and the float64 reference.

use crate::error::{Error, Result};
use crate::kernels::constants::{RULE_KEEP_IF_LOWER, RULE_LANGEVIN, RULE_MALA};
use crate::refine::schedule::{fraction, Schedule, Shape};

/// Whether each proposed step is taken.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Sampler {
    /// Every step is taken: unadjusted Langevin, or gradient descent at T = 0.
    #[default]
    Langevin,
    /// Metropolis-adjusted Langevin: each step is a proposal, accepted per chain with the
    /// exact MALA ratio, so the chains sample exp(-U / T) without discretisation bias.
    /// Needs T > 0 at every step; refuses clamping, clipping and simplex projection (they
    /// would change the proposal density). During the first `adapt_steps` steps each
    /// chain's step size moves toward `target_accept` (then it stays fixed, and the
    /// sampler is exact again).
    Mala {
        /// Warm-up steps during which each chain's step size adapts by dual averaging, as
        /// Stan's does (0: no adaptation); it ends on the average of the warm-up's log step
        /// sizes. `Refinement::warmup_and_after_acceptance` tells the two parts apart.
        adapt_steps: u32,
        /// Acceptance rate the adaptation aims at (0.574 is optimal for smooth targets).
        target_accept: f32,
    },
    /// Keep-if-lower descent: a step that raises a chain's energy U (by more than
    /// `rise_tolerance` |U|) is refused, and that chain's step size is multiplied by
    /// `shrink`; an accepted step grows it again by 1 / sqrt(shrink) (two accepted steps
    /// undo one refusal), never past the schedule's own size.
    KeepIfLower {
        /// Factor in (0, 1] a refused step multiplies the chain's step size by (1: refuse
        /// without shrinking, as IRED's opt_step).
        shrink: f32,
        /// A step is refused only where U' > U + rise_tolerance |U| (0: wherever the energy
        /// rises at all, as IRED's opt_step). float32 resolves U only to about 6e-8 |U|
        /// per rounding, more through a network: where steps change an energy far from 0
        /// by less, rounding alone decides them. About 1e-6 takes such steps as a float64
        /// run would (on IRED's matrix-inverse energy float32 refused steps that lowered U
        /// by up to 3.9e-7 |U|; benches/RESULTS.md). Near U = 0 it changes nothing.
        rise_tolerance: f32,
    },
}

impl Sampler {
    /// The `RULE` override constant of the kernels (`RULE_*` in src/constants.rs).
    pub(crate) fn rule_id(&self) -> u32 {
        match self {
            Sampler::Langevin => RULE_LANGEVIN,
            Sampler::Mala { .. } => RULE_MALA,
            Sampler::KeepIfLower { .. } => RULE_KEEP_IF_LOWER,
        }
    }
}

/// The temperature factors of replica exchange's ladder, coldest first: replica r of each
/// x runs at `ladder[r]` times the schedule's temperature T(t).
#[derive(Clone, Debug, PartialEq)]
pub enum Ladder {
    /// Factors spaced geometrically from `coldest` to `hottest` over the replicas.
    Geometric {
        /// The factor of replica 0 (1 keeps the schedule's temperature).
        coldest: f32,
        /// The factor of the last replica.
        hottest: f32,
    },
    /// One factor per replica, increasing.
    Explicit(Vec<f32>),
}

impl Ladder {
    /// The factor of each of `replicas` replicas, coldest first.
    pub fn factors(&self, replicas: u32) -> Vec<f32> {
        match self {
            Ladder::Explicit(factors) => factors.clone(),
            Ladder::Geometric { coldest, hottest } => (0..replicas)
                .map(|r| {
                    let t = fraction(r, replicas);
                    Shape::Geometric.at(f64::from(*coldest), f64::from(*hottest), t) as f32
                })
                .collect(),
        }
    }
}

/// Replica exchange (parallel tempering): the chains of each x are groups of `replicas`
/// consecutive chains (several groups per x are independent ensembles), replica r running at
/// `ladder` factor r times the schedule's temperature. After every `every` steps (never after
/// the last), neighbouring replicas (r, r + 1) of each group, the pairs with r even and odd by
/// turns, propose to swap their states, accepted with the exact Metropolis probability
/// min(1, exp((1/T_r - 1/T_r+1)(U_r - U_r+1))). The draws are keyed by seed, chain and step
/// like the noise, so results do not depend on batch size or chunking. A swap moves a
/// chain's y, energy and gradient; its temperature, step size and counts stay with the
/// replica. Chains that stopped early take no part. The replicas of a group must fix the
/// same coordinates at the same values.
#[derive(Clone, Debug, PartialEq)]
pub struct Exchange {
    /// Replicas per group (at least 2).
    pub replicas: u32,
    /// Steps between swap rounds (at least 1).
    pub every: u32,
    /// The temperature factors.
    pub ladder: Ladder,
}

impl Exchange {
    /// Checks the settings against a refinement's step table, naming the one at fault; gives
    /// the ladder's factors.
    pub(crate) fn checked_factors(&self, table: &[[f32; 2]]) -> Result<Vec<f32>> {
        if self.replicas < 2 {
            return Err(Error::config(
                "Exchange::replicas",
                format!("needs at least 2 replicas to swap, got {}", self.replicas),
            ));
        }
        if self.every == 0 {
            return Err(Error::config(
                "Exchange::every",
                "swap rounds need at least 1 step between them",
            ));
        }
        let factors = self.ladder.factors(self.replicas);
        if let Ladder::Geometric { coldest, hottest } = self.ladder {
            if !(coldest.is_finite() && hottest.is_finite() && coldest > 0.0 && coldest < hottest) {
                return Err(Error::config(
                    "Ladder::Geometric",
                    format!(
                        "needs 0 < coldest < hottest, both finite, got {coldest} and {hottest}"
                    ),
                ));
            }
        }
        if factors.len() != self.replicas as usize {
            return Err(Error::config(
                "Ladder::Explicit",
                format!(
                    "gives {} factors for {} replicas",
                    factors.len(),
                    self.replicas
                ),
            ));
        }
        if !factors.iter().all(|f| f.is_finite() && *f > 0.0)
            || factors.windows(2).any(|w| w[0] >= w[1])
        {
            return Err(Error::config(
                "Ladder::Explicit",
                format!("factors must be finite, positive and increasing, got {factors:?}"),
            ));
        }
        if let Some(step) = table.iter().position(|[_, noise]| *noise <= 0.0) {
            return Err(Error::config(
                "RefineConfig::temperature",
                format!("replica exchange needs a temperature above 0 at every step; step {step} has none"),
            ));
        }
        let hottest = factors[factors.len() - 1];
        if table
            .iter()
            .any(|[_, noise]| !(noise * hottest.sqrt()).is_finite())
        {
            return Err(Error::config(
                "Exchange::ladder",
                format!("the hottest factor {hottest} makes the noise overflow float32"),
            ));
        }
        Ok(factors)
    }
}

/// A penalty that pushes each simplex group toward a vertex (a one-hot point): w(t) times
/// the sum over groups of 1 - |y_group|^2, which is 0 at a vertex and largest at the
/// group's centre. It is part of the energy U every step uses (the drift, the stop tests,
/// keep-if-lower's comparison, replica exchange's swaps) and of the final energy, at the
/// weight of that step (the last step's for the final energy). Keep-if-lower takes only a
/// constant weight: it compares energies of different steps. The weight w moves from `start` to `end` over the steps by `shape`
/// (t = step / (K - 1)), so that it can grow from 0 while the temperature anneals.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VertexPenalty {
    /// w at the first step.
    pub start: f32,
    /// w at the last step.
    pub end: f32,
    /// How w moves between them (geometric needs both > 0).
    pub shape: Shape,
}

impl VertexPenalty {
    /// w at `step` of `steps`.
    fn weight(&self, step: u32, steps: u32) -> f64 {
        let t = fraction(step, steps);
        self.shape.at(f64::from(self.start), f64::from(self.end), t)
    }

    fn validate(&self, simplex: Option<u32>) -> Result<()> {
        let field = "RefineConfig::vertex_penalty";
        if simplex.is_none() {
            return Err(Error::config(
                field,
                "pushes simplex groups to their vertices: set RefineConfig::simplex too",
            ));
        }
        let (a, b) = (self.start, self.end);
        if !(a.is_finite() && b.is_finite() && a >= 0.0 && b >= 0.0) {
            return Err(Error::config(
                field,
                format!("weights must be numbers >= 0, got start {a} and end {b}"),
            ));
        }
        if self.shape == Shape::Geometric && !(a > 0.0 && b > 0.0) {
            return Err(Error::config(
                field,
                format!("a geometric weight needs start and end > 0, got {a} and {b}"),
            ));
        }
        Ok(())
    }
}

/// When a chain stops early. Each test is made before every step on the chain's current
/// y; a stopped chain takes no more steps and keeps its y.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StopRule {
    /// Stop once |dE/dy + lambda y| (over the coordinates that move) is at most this.
    pub grad: Option<f32>,
    /// Stop once the energy changed by at most this over the last step taken (for MALA
    /// and keep-if-lower: the last accepted step).
    pub change: Option<f32>,
    /// Stop once the energy (the prior included) is at most this.
    pub below: Option<f32>,
}

impl StopRule {
    /// Whether any test is set.
    pub fn any(&self) -> bool {
        self.grad.is_some() || self.change.is_some() || self.below.is_some()
    }
}

/// How to refine: K steps of y <- y - eta * dE/dy + sqrt(2 eta T) * N(0, I), then clamp;
/// eta and T follow `schedule` from `step_size` and `temperature`.
#[derive(Clone, Debug, PartialEq)]
pub struct RefineConfig {
    /// Number of steps K (0 only evaluates the energy of y0).
    pub steps: u32,
    /// Step size eta (at the first step, with a schedule).
    pub step_size: f32,
    /// Temperature T (at the first step, with a schedule); 0 is plain gradient descent.
    pub temperature: f32,
    /// How eta and T change over the steps (constant by default).
    pub schedule: Schedule,
    /// Seed of the noise: the same seed gives bit-identical results on the same device.
    pub seed: u64,
    /// Global index of this batch's first chain: chain c draws the noise chain
    /// `chain_offset + c` of a whole run would, so the shards of a batch refined on several
    /// engines (with their offsets) give the bits one engine refining all of it gives. 0 by
    /// default; with replica exchange, a multiple of `Exchange::replicas`.
    pub chain_offset: u32,
    /// lambda of the prior (lambda / 2) |y|^2 added to the energy; 0 for none.
    pub prior_l2: f32,
    /// Box [lo, hi] every coordinate of y is clamped to after each step (a stage may set
    /// its own: [`crate::refine::Stage::clamp`]).
    pub clamp: Option<(f32, f32)>,
    /// The landscape index t an energy E(x, y, t) is refined at (0 by default; a stage may
    /// set its own: [`crate::refine::Stage::landscape`]). An energy that does not read t
    /// ignores it.
    pub landscape: f32,
    /// Largest norm of a chain's step direction dE/dy + lambda y: longer ones are scaled
    /// down to it (per chain, per step), before the step size and the noise.
    pub clip_grad: Option<f32>,
    /// Project every group of this many consecutive coordinates of y onto the probability
    /// simplex {v >= 0, sum v = 1} after each step (a one-hot relaxation; groups holding a
    /// fixed coordinate are left alone). y_dim must be a multiple of it.
    pub simplex: Option<u32>,
    /// The penalty toward the vertices of the simplex groups (needs `simplex`).
    pub vertex_penalty: Option<VertexPenalty>,
    /// After the last step, round each simplex group to its vertex (a one for its largest
    /// coordinate, zeros elsewhere; groups holding a fixed coordinate stay as they are) and
    /// evaluate the model there ([`crate::Refinement::decoded`]); best-of-R then picks by
    /// that energy. Needs `simplex`.
    pub decode: bool,
    /// Whether each proposed step is taken (Langevin, MALA, keep-if-lower).
    pub sampler: Sampler,
    /// Replica exchange between the chains of each x, at a ladder of temperatures.
    pub exchange: Option<Exchange>,
    /// Per-chain early stopping.
    pub stop: StopRule,
    /// Record, per step, the min / mean / max energy and the mean gradient norm over the
    /// batch (reduced on the GPU; [`crate::Refinement::trace`]).
    pub trace: bool,
    /// The longest one GPU submission of the refinement should run, in milliseconds (100
    /// by default): the refinement is split into submissions of about this long, so that
    /// no display watchdog (Windows TDR: 2 s) kills it, and progress is reported between
    /// them. None runs all steps in one dispatch: only for GPUs that drive no display.
    /// The split never changes a result.
    pub dispatch_ms: Option<f32>,
    /// Return chains whose y or energy became NaN or infinite instead of failing with
    /// [`crate::Error::NonFinite`] ([`crate::Refinement::non_finite_at`] says which).
    pub keep_non_finite: bool,
}

/// A run of steps in one landscape and clamp range, each step taken or compared alike
/// ([`RefineConfig::spans`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Span {
    /// Its first step.
    pub start: u32,
    /// The landscape index t.
    pub landscape: f32,
    /// The clamp range.
    pub clamp: Option<(f32, f32)>,
    /// [`crate::refine::Stage::take_every_step`].
    pub take_every_step: bool,
}

/// Where each run of `spans` after the first begins: the steps that start a new landscape
/// (or clamp range), where the energy and what depends on x and t alone are computed anew.
pub(crate) fn boundaries(spans: &[Span]) -> Vec<u32> {
    spans[1..].iter().map(|s| s.start).collect()
}

/// The run of `spans` that step `step` lies in (the last for the energy after the last
/// step).
pub(crate) fn span_at(spans: &[Span], step: u32) -> Span {
    let i = spans.partition_point(|s| s.start <= step);
    spans[i.saturating_sub(1)]
}

/// The default of [`RefineConfig::dispatch_ms`].
pub const DEFAULT_DISPATCH_MS: f32 = 100.0;

impl Default for RefineConfig {
    fn default() -> Self {
        RefineConfig {
            steps: 100,
            step_size: 0.01,
            temperature: 0.0,
            schedule: Schedule::default(),
            seed: 0,
            chain_offset: 0,
            prior_l2: 0.0,
            clamp: None,
            landscape: 0.0,
            clip_grad: None,
            simplex: None,
            vertex_penalty: None,
            decode: false,
            sampler: Sampler::Langevin,
            exchange: None,
            stop: StopRule::default(),
            trace: false,
            dispatch_ms: Some(DEFAULT_DISPATCH_MS),
            keep_non_finite: false,
        }
    }
}

impl RefineConfig {
    /// Checks every setting, naming the one at fault.
    pub fn validate(&self) -> Result<()> {
        self.checked_table().map(drop)
    }

    /// Checks every setting, and gives the kernels' table: per step (eta, sqrt(2 eta T),
    /// the prior's lambda, the vertex penalty's weight w), the step table (`step_table`)
    /// the checks computed beside what the vertex penalty adds. The penalty's w (1 - |y|^2)
    /// per group is lambda' = prior_l2 - 2 w on |y|^2 / 2, and w per group as a constant.
    /// One row more than the steps: the prior of the energy after the last step (the last
    /// step's; the first's with no steps).
    pub(crate) fn checked_table(&self) -> Result<Vec<[f32; 4]>> {
        let table = self.checked_steps()?;
        if let Some(x) = &self.exchange {
            if x.replicas > 0 && self.chain_offset % x.replicas != 0 {
                return Err(Error::config(
                    "RefineConfig::chain_offset",
                    format!(
                        "{} is not a multiple of Exchange::replicas = {}: a shard must hold whole groups of replicas",
                        self.chain_offset, x.replicas
                    ),
                ));
            }
        }
        if let Some(p) = &self.vertex_penalty {
            p.validate(self.simplex)?;
            let moves = p.shape != Shape::Constant && p.start != p.end;
            if moves && matches!(self.sampler, Sampler::KeepIfLower { .. }) {
                return Err(Error::config(
                    "RefineConfig::vertex_penalty",
                    "a weight that moves cannot be used with Sampler::KeepIfLower: it compares energies of different steps, which the moving weight would make unequal (use start = end, or Langevin)",
                ));
            }
        }
        if self.decode && self.simplex.is_none() {
            return Err(Error::config(
                "RefineConfig::decode",
                "rounds simplex groups to their vertices: set RefineConfig::simplex too",
            ));
        }
        let prior = |step: u32| {
            let w = self
                .vertex_penalty
                .map_or(0.0, |p| p.weight(step, self.steps));
            [(f64::from(self.prior_l2) - 2.0 * w) as f32, w as f32]
        };
        let mut rows: Vec<[f32; 4]> = table
            .iter()
            .zip(0..)
            .map(|([eta, noise], step)| {
                let [lambda, w] = prior(step);
                [*eta, *noise, lambda, w]
            })
            .collect();
        let [lambda, w] = prior(self.steps.saturating_sub(1));
        rows.push([0.0, 0.0, lambda, w]);
        if rows.iter().any(|r| !r[2].is_finite()) {
            return Err(Error::config(
                "RefineConfig::vertex_penalty",
                "the weight overflows float32",
            ));
        }
        Ok(rows)
    }

    /// Checks every setting but the vertex penalty, and gives the step table.
    fn checked_steps(&self) -> Result<Vec<[f32; 2]>> {
        if !(self.step_size.is_finite() && self.step_size > 0.0) {
            return Err(Error::config(
                "RefineConfig::step_size",
                format!("must be a positive number, got {}", self.step_size),
            ));
        }
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err(Error::config(
                "RefineConfig::temperature",
                format!("must be a number >= 0, got {}", self.temperature),
            ));
        }
        if !(self.prior_l2.is_finite() && self.prior_l2 >= 0.0) {
            return Err(Error::config(
                "RefineConfig::prior_l2",
                format!("must be a number >= 0, got {}", self.prior_l2),
            ));
        }
        let stage_clamps = self.schedule.stages.iter().filter_map(|s| s.clamp);
        let clamps = (self.clamp.iter().map(|c| ("RefineConfig::clamp", "", *c)))
            .chain(stage_clamps.map(|c| ("Schedule::stages", "a stage's clamp range ", c)));
        for (flag, what, (lo, hi)) in clamps {
            if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
                return Err(Error::config(
                    flag,
                    format!("{what}needs finite LO <= HI, got {lo},{hi}"),
                ));
            }
        }
        if !self.landscape.is_finite() {
            return Err(Error::config(
                "RefineConfig::landscape",
                format!("must be a finite number, got {}", self.landscape),
            ));
        }
        if let Some(l) = self
            .schedule
            .stages
            .iter()
            .filter_map(|s| s.landscape)
            .find(|l| !l.is_finite())
        {
            return Err(Error::config(
                "Schedule::stages",
                format!("a stage's landscape must be a finite number, got {l}"),
            ));
        }
        if self.simplex == Some(0) {
            return Err(Error::config(
                "RefineConfig::simplex",
                "groups need at least 1 coordinate",
            ));
        }
        if let Some(c) = self.clip_grad {
            if !(c.is_finite() && c > 0.0) {
                return Err(Error::config(
                    "RefineConfig::clip_grad",
                    format!("must be a positive number, got {c}"),
                ));
            }
        }
        if !((2.0 * f64::from(self.step_size) * f64::from(self.temperature)).sqrt() as f32)
            .is_finite()
        {
            return Err(Error::config(
                "RefineConfig::temperature",
                "sqrt(2 * step-size * temperature) overflows float32",
            ));
        }
        if let Some(ms) = self.dispatch_ms {
            if !(ms.is_finite() && ms > 0.0) {
                return Err(Error::config(
                    "RefineConfig::dispatch_ms",
                    format!("must be a positive number of milliseconds, got {ms}"),
                ));
            }
        }
        let table = self.step_table()?;
        self.validate_sampler(&table)?;
        if let Some(exchange) = &self.exchange {
            exchange.checked_factors(&table)?;
        }
        for (flag, value) in [
            ("StopRule::grad", self.stop.grad),
            ("StopRule::change", self.stop.change),
        ] {
            if let Some(v) = value {
                if !(v.is_finite() && v >= 0.0) {
                    return Err(Error::config(
                        flag,
                        format!("must be a number >= 0, got {v}"),
                    ));
                }
            }
        }
        if let Some(v) = self.stop.below {
            if !v.is_finite() {
                return Err(Error::config(
                    "StopRule::below",
                    format!("must be a finite number, got {v}"),
                ));
            }
        }
        Ok(table)
    }

    fn validate_sampler(&self, table: &[[f32; 2]]) -> Result<()> {
        match self.sampler {
            Sampler::Langevin if self.schedule.stages.iter().any(|s| s.take_every_step) => {
                Err(Error::config(
                    "Schedule::stages",
                    "a stage that takes every step is for Sampler::KeepIfLower (Langevin takes every step already)",
                ))
            }
            Sampler::Langevin => Ok(()),
            Sampler::KeepIfLower {
                shrink,
                rise_tolerance,
            } => {
                if !(shrink.is_finite() && shrink > 0.0 && shrink <= 1.0) {
                    Err(Error::config(
                        "Sampler::KeepIfLower::shrink",
                        format!("must lie in (0, 1] (1 rejects without shrinking), got {shrink}"),
                    ))
                } else if !(rise_tolerance.is_finite() && rise_tolerance >= 0.0) {
                    Err(Error::config(
                        "Sampler::KeepIfLower::rise_tolerance",
                        format!("must be finite and at least 0 (0 refuses any rise), got {rise_tolerance}"),
                    ))
                } else {
                    Ok(())
                }
            }
            Sampler::Mala { target_accept, .. } => {
                if !(target_accept > 0.0 && target_accept < 1.0) {
                    return Err(Error::config(
                        "Sampler::Mala::target_accept",
                        format!("must lie strictly between 0 and 1, got {target_accept}"),
                    ));
                }
                let refuse = |flag: &'static str, why: &str| {
                    Err(Error::config(
                        flag,
                        format!("cannot be used with Sampler::Mala: {why} would make the acceptance ratio wrong"),
                    ))
                };
                if self.clamp.is_some() {
                    return refuse("RefineConfig::clamp", "clamping the proposal");
                }
                if self.schedule.stages.iter().any(|s| s.clamp.is_some()) {
                    return refuse("Schedule::stages", "a stage's clamp range");
                }
                if self.schedule.stages.iter().any(|s| s.take_every_step) {
                    return refuse("Schedule::stages", "a stage that takes every step");
                }
                if self.clip_grad.is_some() {
                    return refuse("RefineConfig::clip_grad", "clipping the drift");
                }
                if self.simplex.is_some() {
                    return refuse("RefineConfig::simplex", "projecting the proposal");
                }
                if let Some(step) = table.iter().position(|[_, noise]| *noise <= 0.0) {
                    return Err(Error::config(
                        "RefineConfig::temperature",
                        format!("Sampler::Mala needs a temperature above 0 at every step; step {step} has none"),
                    ));
                }
                Ok(())
            }
        }
    }

    /// The runs of steps in one landscape and clamp range, in order from step 0: one for a
    /// refinement whose stages set neither, and a new run wherever a stage changes either
    /// (or whether it takes every step).
    /// A dispatch never crosses from one run into the next (the energy and what depends on
    /// x and t alone are computed anew at each run's start).
    pub(crate) fn spans(&self) -> Vec<Span> {
        let mut out: Vec<Span> = Vec::new();
        let mut at = 0;
        for stage in &self.schedule.stages {
            let span = Span {
                start: at,
                landscape: stage.landscape.unwrap_or(self.landscape),
                clamp: stage.clamp.or(self.clamp),
                take_every_step: stage.take_every_step,
            };
            let key = |s: &Span| (s.landscape, s.clamp, s.take_every_step);
            let same = |last: &Span| key(last) == key(&span);
            if stage.steps > 0 && !out.last().is_some_and(same) {
                out.push(span);
            }
            at += stage.steps;
        }
        if out.is_empty() {
            out.push(Span {
                start: 0,
                landscape: self.landscape,
                clamp: self.clamp,
                take_every_step: false,
            });
        }
        out
    }

    /// The landscape index t of step `step` (of the energy after the last step, past the
    /// end): its stage's, else [`RefineConfig::landscape`].
    pub fn landscape_at(&self, step: u32) -> f32 {
        span_at(&self.spans(), step).landscape
    }

    /// (eta, sqrt(2 eta T)) of every step, in float32: what the kernels and the reference
    /// both use.
    pub fn step_table(&self) -> Result<Vec<[f32; 2]>> {
        self.schedule
            .table(self.steps, self.step_size, self.temperature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refine::schedule::parse_stages;

    fn staged(stages: &str, landscape: f32, clamp: Option<(f32, f32)>) -> RefineConfig {
        RefineConfig {
            steps: parse_stages(stages).unwrap().iter().map(|s| s.steps).sum(),
            landscape,
            clamp,
            schedule: Schedule {
                stages: parse_stages(stages).unwrap(),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// A run starts where the landscape or the clamp range changes, not at every stage;
    /// stages without steps start none; stages that set neither take the refinement's.
    #[test]
    fn spans_start_where_the_landscape_or_the_clamp_changes() {
        let span = |start, landscape, clamp| Span {
            start,
            landscape,
            clamp,
            take_every_step: false,
        };
        let c = Some((-1.0, 1.0));
        let cfg = staged(
            "2:0.1:0:3, 0:0.1:0:9, 3:0.2:0:3, 1:0.1:0:3:-2:2, 2:0.1:0",
            0.5,
            c,
        );
        assert_eq!(
            cfg.spans(),
            vec![
                span(0, 3.0, c),
                span(5, 3.0, Some((-2.0, 2.0))),
                span(6, 0.5, c)
            ]
        );
        assert_eq!(cfg.landscape_at(4), 3.0);
        assert_eq!(cfg.landscape_at(6), 0.5);
        assert_eq!(cfg.landscape_at(8), 0.5, "past the end: the last run's");
        let plain = RefineConfig {
            landscape: 2.0,
            ..Default::default()
        };
        assert_eq!(plain.spans(), vec![span(0, 2.0, None)]);
        assert_eq!(
            staged("3:0.1:0", 1.0, None).spans(),
            vec![span(0, 1.0, None)]
        );
    }
}
