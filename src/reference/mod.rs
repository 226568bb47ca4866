//! The float64 CPU reference of every kernel, written loop for loop like the shaders so the
//! two can be read side by side. Tests hold the GPU to it; it is also a slow fallback.
//! `graph` is the energy, this file the refinement (samplers, stop rules, projections),
//! `trace` the per-step summary, `weight_grad` dE/dtheta over a batch, `train` a training
//! step.

use crate::energy::Model;
use crate::kernels::constants::{
    DA_GAMMA, DA_KAPPA, DA_MU, DA_T0, WALKER_DIRECTION, WALKER_DOWN, WALKER_TRIPS_SHIFT, WALKER_UP,
};
use crate::refine::config::{boundaries, span_at, RefineConfig, Sampler, Span};
use crate::refine::rng::langevin_normals;

mod graph;
mod trace;
mod train;
mod weight_grad;

use graph::row;
pub use graph::{energy_and_grad, energy_and_grad_at, energy_and_grads, eval, eval_at};
pub use trace::summarise;
pub use train::{train_step, TrainState};
pub use weight_grad::weight_grad;

/// K steps of (Langevin) refinement for every chain; returns final y `[n, y_dim]` and the
/// final energies including the prior. Chain `c` draws the same noise as on the GPU.
pub fn refine(model: &Model, x: &[f32], y0: &[f32], config: &RefineConfig) -> (Vec<f64>, Vec<f64>) {
    refine_fixed(model, x, y0, None, config)
}

/// As [`refine`], with the coordinates where `fixed` (`[n, y_dim]`) is true kept at y0.
pub fn refine_fixed(
    model: &Model,
    x: &[f32],
    y0: &[f32],
    fixed: Option<&[bool]>,
    config: &RefineConfig,
) -> (Vec<f64>, Vec<f64>) {
    let run = refine_full(model, x, y0, fixed, config);
    (run.y, run.energy)
}

/// Everything a reference refinement gives: the twin of [`crate::Refinement`].
#[derive(Clone, Debug, PartialEq)]
pub struct ReferenceRun {
    /// Final y, `[n, y_dim]`.
    pub y: Vec<f64>,
    /// Final energy with the prior, `[n]`.
    pub energy: Vec<f64>,
    /// Steps each chain took before it stopped (K if it never did), `[n]`.
    pub steps_taken: Vec<u32>,
    /// Accepted proposals per chain (MALA, keep-if-lower; steps taken otherwise), `[n]`.
    pub accepted: Vec<u32>,
    /// Each chain's final step-size multiplier, `[n]`.
    pub step_scale: Vec<f64>,
    /// Proposals each chain accepted during MALA's warm-up, `[n]`.
    pub warmup_accepted: Vec<u32>,
    /// With `config.trace`: per step, (energy, gradient norm) of every chain before it, `[K][n]`,
    /// a stopped chain keeping the values it stopped with.
    pub trace: Vec<Vec<(f64, f64)>>,
}

/// What the energy of one step is: U = E(x, y, t) + (lambda / 2) |y|^2 + offset, with the
/// prior of a row of the kernels' table (`RefineConfig::checked_table`, the vertex
/// penalty's w folded in), the landscape t and the clamp range of the step's run
/// (`RefineConfig::spans`).
#[derive(Clone, Copy)]
struct Prior {
    lambda: f64,
    offset: f64,
    landscape: f64,
    clamp: Option<(f32, f32)>,
    take_every_step: bool,
}

impl Prior {
    fn of(row: &[f32; 4], groups: f64, span: Span) -> Prior {
        Prior {
            lambda: f64::from(row[2]),
            offset: f64::from(row[3]) * groups,
            landscape: f64::from(span.landscape),
            clamp: span.clamp,
            take_every_step: span.take_every_step,
        }
    }
}

/// Keep-if-lower's test (bindings.wgsl's `kept_if_lower`): the proposal's energy `u_next`
/// did not rise above `u`, or it is finite and rose by at most `rise_tolerance` |u|.
fn kept_if_lower(u_next: f64, u: f64, rise_tolerance: f32) -> bool {
    let tolerance = f64::from(rise_tolerance);
    u_next <= u || (tolerance > 0.0 && u_next.is_finite() && u_next - u <= tolerance * u.abs())
}

/// U = E + (lambda / 2) |y|^2 + offset, and the model's dE/dy.
fn potential(model: &Model, x: &[f64], y: &[f64], prior: Prior) -> (f64, Vec<f64>) {
    let (e, g) = energy_and_grad_at(model, x, y, prior.landscape);
    let square = 0.5 * prior.lambda * y.iter().map(|v| v * v).sum::<f64>();
    (e + square + prior.offset, g)
}

/// The uniform number in (0, 1] MALA's accept test of `chain` at `step` draws
/// (shaders/philox.wgsl's accept_log_uniform takes its log).
pub fn accept_uniform(seed: u64, chain: u32, step: u32) -> f64 {
    crate::refine::rng::uniform(
        crate::refine::rng::philox4x32_10([0, step, chain, 1], crate::refine::rng::key(seed))[0],
    )
}

/// The uniform number in (0, 1] the replica-exchange swap of the pair whose colder chain is
/// `chain` draws at swap step `step` (shaders/exchange.wgsl's swap_log_uniform takes its log).
pub fn swap_uniform(seed: u64, chain: u32, step: u32) -> f64 {
    crate::refine::rng::uniform(
        crate::refine::rng::philox4x32_10([0, step, chain, 2], crate::refine::rng::key(seed))[0],
    )
}

/// The reference refinement with every option: the sampler's accept rule, early stopping,
/// the trace, replica exchange. Written step for step like the kernels (see
/// shaders/step.wgsl and shaders/exchange.wgsl).
pub fn refine_full(
    model: &Model,
    x: &[f32],
    y0: &[f32],
    fixed: Option<&[bool]>,
    config: &RefineConfig,
) -> ReferenceRun {
    refine_exchange(model, x, y0, fixed, config).0
}

/// As [`refine_full`], with replica exchange's swap counts: per group of
/// `config.exchange`'s replicas, (proposed, accepted) per pair `[groups, R - 1]` and the
/// round trips `[groups]` (empty without exchange).
pub fn refine_exchange(
    model: &Model,
    x: &[f32],
    y0: &[f32],
    fixed: Option<&[bool]>,
    config: &RefineConfig,
) -> (ReferenceRun, Vec<(u32, u32)>, Vec<u32>) {
    let n = y0.len() / model.y_dim;
    let steps = config.steps as usize;
    let table = config.checked_table().expect("a valid refinement config");
    let groups = config
        .simplex
        .map_or(0.0, |g| (model.y_dim / g as usize) as f64);
    let spans = config.spans();
    let prior = |row: u32| Prior::of(&table[row as usize], groups, span_at(&spans, row));
    // Where a new landscape begins, the accept rules compare with the energy there.
    let boundaries = boundaries(&spans);
    let enters = |step: u32| boundaries.contains(&step);
    let ladder = config
        .exchange
        .as_ref()
        .map(|x| x.ladder.factors(x.replicas));
    let mut chains: Vec<ChainWalk> = (0..n)
        .map(|c| {
            let fixed: Vec<bool> = (0..model.y_dim)
                .map(|k| fixed.is_some_and(|f| f[c * model.y_dim + k]))
                .collect();
            let (heat, walker) = match &ladder {
                Some(l) => {
                    let slot = c % l.len();
                    (f64::from(l[slot]), if slot == 0 { WALKER_UP } else { 0 })
                }
                None => (1.0, 0),
            };
            ChainWalk::new(
                model,
                row(x, model.x_dim, c),
                row(y0, model.y_dim, c),
                fixed,
                config.chain_offset + c as u32,
                heat,
                walker,
                prior(0),
                config,
            )
        })
        .collect();
    let step_of = |chain: &mut ChainWalk, step: u32| {
        let row = &table[step as usize];
        chain.step(model, step, row, prior(step), enters(step), config);
    };
    let mut swaps = Vec::new();
    match &config.exchange {
        None => {
            for chain in &mut chains {
                for step in 0..config.steps {
                    step_of(chain, step);
                }
            }
        }
        Some(x) => {
            let r = x.replicas as usize;
            swaps = vec![(0, 0); n / r * (r - 1)];
            for step in 0..config.steps {
                for chain in &mut chains {
                    step_of(chain, step);
                }
                let b = step + 1;
                if crate::kernels::exchange::swaps_after(b, x.every, config.steps) {
                    let [eta, noise] =
                        [table[step as usize][0], table[step as usize][1]].map(f64::from);
                    let temperature = noise * noise / (2.0 * eta);
                    for g in 0..n / r {
                        for slot in (0..r - 1).filter(|s| s % 2 == (b / x.every) as usize % 2) {
                            let (lo, hi) = chains.split_at_mut(g * r + slot + 1);
                            let (a, c) = (&mut lo[g * r + slot], &mut hi[0]);
                            let counts = &mut swaps[g * (r - 1) + slot];
                            if a.stopped || c.stopped {
                                continue;
                            }
                            let (ua, uc) =
                                (a.energy_now(model, prior(b)), c.energy_now(model, prior(b)));
                            counts.0 += 1;
                            let log_alpha = (1.0 / (a.heat * temperature)
                                - 1.0 / (c.heat * temperature))
                                * (ua - uc);
                            let u = swap_uniform(config.seed, a.chain, b);
                            if ua.is_finite() && uc.is_finite() && u.ln() < log_alpha {
                                counts.1 += 1;
                                ChainWalk::swap(a, c, slot as u32, x.replicas);
                            }
                        }
                    }
                }
            }
        }
    }
    let mut run = ReferenceRun {
        y: Vec::with_capacity(n * model.y_dim),
        energy: Vec::with_capacity(n),
        steps_taken: Vec::with_capacity(n),
        accepted: Vec::with_capacity(n),
        step_scale: Vec::with_capacity(n),
        warmup_accepted: Vec::with_capacity(n),
        trace: vec![Vec::with_capacity(n); if config.trace { steps } else { 0 }],
    };
    let mut trips = Vec::new();
    for chain in &chains {
        run.y.extend(&chain.y);
        run.energy
            .push(chain.energy_now(model, prior(config.steps)));
        run.steps_taken.push(chain.steps_taken);
        run.accepted.push(chain.accepted);
        run.step_scale.push(chain.step_scale);
        run.warmup_accepted.push(chain.warmup_accepted);
        for (s, rows) in run.trace.iter_mut().enumerate() {
            rows.push(chain.trace[s.min(chain.trace.len() - 1)]);
        }
    }
    if let Some(l) = &ladder {
        trips = chains
            .chunks(l.len())
            .map(|g| g.iter().map(|c| c.walker >> WALKER_TRIPS_SHIFT).sum())
            .collect();
    }
    (run, swaps, trips)
}

/// One chain of a reference refinement, step by step.
struct ChainWalk {
    x: Vec<f64>,
    y: Vec<f64>,
    fixed: Vec<bool>,
    chain: u32,
    /// U and the model's dE/dy: of the current y for the accept rules, of the last step's
    /// start for Langevin (as the kernels keep them).
    u: f64,
    d: Vec<f64>,
    change: f64,
    stopped: bool,
    steps_taken: u32,
    accepted: u32,
    step_scale: f64,
    warmup_accepted: u32,
    /// MALA's warm-up by dual averaging (bindings.wgsl's dual_average).
    adapt_error: f64,
    adapt_log_scale: f64,
    /// The factor of the schedule's temperature (replica exchange's ladder).
    heat: f64,
    /// Replica exchange's walker word (WALKER_*), which moves with y.
    walker: u32,
    trace: Vec<(f64, f64)>,
}

impl ChainWalk {
    #[allow(clippy::too_many_arguments)]
    fn new(
        model: &Model,
        x: Vec<f64>,
        y: Vec<f64>,
        fixed: Vec<bool>,
        chain: u32,
        heat: f64,
        walker: u32,
        prior: Prior,
        config: &RefineConfig,
    ) -> Self {
        let (u, d) = potential(model, &x, &y, prior);
        ChainWalk {
            x,
            y,
            fixed,
            chain,
            u,
            d,
            change: f64::from(f32::MAX),
            stopped: false,
            steps_taken: config.steps,
            accepted: 0,
            step_scale: 1.0,
            warmup_accepted: 0,
            adapt_error: 0.0,
            adapt_log_scale: 0.0,
            heat,
            walker,
            trace: Vec::new(),
        }
    }

    /// U of the current y.
    fn energy_now(&self, model: &Model, prior: Prior) -> f64 {
        potential(model, &self.x, &self.y, prior).0
    }

    /// Replica exchange's swap of neighbours `a` (replica `slot`) and `b` (`slot + 1`) of
    /// `replicas`: y, U, dE/dy, the last change and the walker move; the rest stays.
    fn swap(a: &mut ChainWalk, b: &mut ChainWalk, slot: u32, replicas: u32) {
        std::mem::swap(&mut a.y, &mut b.y);
        std::mem::swap(&mut a.u, &mut b.u);
        std::mem::swap(&mut a.d, &mut b.d);
        std::mem::swap(&mut a.change, &mut b.change);
        let walker = a.walker;
        a.walker = arrived(b.walker, slot, replicas);
        b.walker = arrived(walker, slot + 1, replicas);
    }

    /// Step `step`, whose row of the kernels' table is `row` and prior `prior` (nothing
    /// once stopped); `enters` where it is the first of a new landscape.
    fn step(
        &mut self,
        model: &Model,
        step: u32,
        row: &[f32; 4],
        prior: Prior,
        enters: bool,
        config: &RefineConfig,
    ) {
        if self.stopped {
            return;
        }
        let lambda = prior.lambda;
        let (x, fixed, chain) = (&self.x, &self.fixed, self.chain);
        if enters && config.sampler != Sampler::Langevin {
            (self.u, self.d) = potential(model, x, &self.y, prior);
        }
        if step > 0 && config.sampler == Sampler::Langevin {
            let (u_new, d_new) = potential(model, x, &self.y, prior);
            self.change = (u_new - self.u).abs();
            (self.u, self.d) = (u_new, d_new);
        }
        // dE/dy + lambda y at the current y, with this step's lambda.
        let u = self.u;
        let d: Vec<f64> = self
            .d
            .iter()
            .zip(&self.y)
            .map(|(g, y)| g + lambda * y)
            .collect();
        let norm = d
            .iter()
            .zip(fixed)
            .filter(|(_, h)| !**h)
            .map(|(v, _)| v * v)
            .sum::<f64>()
            .sqrt();
        if config.trace {
            self.trace.push((u, norm));
        }
        let stop = config.stop;
        if stop.grad.is_some_and(|t| norm <= f64::from(t))
            || stop.change.is_some_and(|t| self.change <= f64::from(t))
            || stop.below.is_some_and(|t| u <= f64::from(t))
        {
            self.steps_taken = step;
            self.stopped = true;
            return;
        }
        let [eta, noise] = [row[0], row[1]].map(f64::from);
        let (eta, noise) = (
            eta * self.step_scale,
            noise * (self.step_scale * self.heat).sqrt(),
        );
        let clip = match config.clip_grad.map(f64::from) {
            Some(c) if norm > c => c / norm,
            _ => 1.0,
        };
        let mut next = self.y.clone();
        for (k, v) in next.iter_mut().enumerate() {
            if fixed[k] {
                continue;
            }
            *v -= eta * (d[k] * clip);
            if noise > 0.0 {
                *v += noise * langevin_normals(config.seed, chain, step, (k / 4) as u32)[k % 4];
            }
            if let Some((lo, hi)) = prior.clamp {
                *v = v.clamp(f64::from(lo), f64::from(hi));
            }
        }
        if let Some(g) = config.simplex {
            for (b, group) in next.chunks_mut(g as usize).enumerate() {
                let first = b * g as usize;
                if !fixed[first..first + g as usize].iter().any(|&h| h) {
                    project_simplex(group);
                }
            }
        }
        match config.sampler {
            Sampler::Langevin => {
                self.y = next;
                self.accepted += 1;
            }
            Sampler::KeepIfLower {
                shrink,
                rise_tolerance,
            } => {
                let (u_next, d_next) = potential(model, x, &next, prior);
                // A stage that takes every step compares nothing, and leaves the scale.
                let taken = prior.take_every_step;
                if kept_if_lower(u_next, u, rise_tolerance) || taken {
                    self.change = (u_next - u).abs();
                    (self.y, self.u, self.d) = (next, u_next, d_next);
                    self.accepted += 1;
                    if !taken {
                        // Grown back by 1 / sqrt(shrink), up to the schedule's own size.
                        self.step_scale = (self.step_scale / f64::from(shrink).sqrt()).min(1.0);
                    }
                } else {
                    self.step_scale *= f64::from(shrink);
                }
            }
            Sampler::Mala {
                adapt_steps,
                target_accept,
            } => {
                let (u_next, d_next) = potential(model, x, &next, prior);
                // log q(y | y') - log q(y' | y), both N(mean, noise^2 I) over the moving
                // coordinates, and the Boltzmann factor at T = heat noise^2 / (2 eta).
                let mut ratio = 0.0;
                for k in (0..self.y.len()).filter(|&k| !fixed[k]) {
                    let forward = next[k] - self.y[k] + eta * d[k];
                    let reverse = self.y[k] - next[k] + eta * (d_next[k] + lambda * next[k]);
                    ratio += reverse * reverse - forward * forward;
                }
                let [eta0, noise0] = [row[0], row[1]].map(f64::from);
                let temperature = self.heat * noise0 * noise0 / (2.0 * eta0);
                let log_alpha = -(u_next - u) / temperature - ratio / (2.0 * noise * noise);
                let accept = accept_uniform(config.seed, chain, step).ln() < log_alpha;
                if accept {
                    self.change = (u_next - u).abs();
                    (self.y, self.u, self.d) = (next, u_next, d_next);
                    self.accepted += 1;
                    if step < adapt_steps {
                        self.warmup_accepted += 1;
                    }
                }
                if step < adapt_steps {
                    let prob = if log_alpha.is_nan() {
                        0.0
                    } else {
                        log_alpha.min(0.0).exp()
                    };
                    let m = f64::from(step + 1);
                    let w = 1.0 / (m + f64::from(DA_T0));
                    self.adapt_error =
                        (1.0 - w) * self.adapt_error + w * (f64::from(target_accept) - prob);
                    let log_scale =
                        f64::from(DA_MU) - m.sqrt() / f64::from(DA_GAMMA) * self.adapt_error;
                    let k = m.powf(-f64::from(DA_KAPPA));
                    self.adapt_log_scale = k * log_scale + (1.0 - k) * self.adapt_log_scale;
                    self.step_scale = if step + 1 == adapt_steps {
                        self.adapt_log_scale.exp()
                    } else {
                        log_scale.exp()
                    };
                }
            }
        }
    }
}

/// The walker's word after it arrived in replica `slot` of `replicas` (shaders/exchange.wgsl's
/// arrived).
fn arrived(walker: u32, slot: u32, replicas: u32) -> u32 {
    let direction = walker & WALKER_DIRECTION;
    let mut trips = walker >> WALKER_TRIPS_SHIFT;
    let mut next = direction;
    if slot == 0 {
        if direction == WALKER_DOWN {
            trips += 1;
        }
        next = WALKER_UP;
    } else if slot + 1 == replicas && direction == WALKER_UP {
        next = WALKER_DOWN;
    }
    (trips << WALKER_TRIPS_SHIFT) | next
}

/// Projects v onto the probability simplex {v >= 0, sum v = 1} in place, by Michelot's
/// algorithm, round for round as the kernels do: tau from the sum of all, then from the
/// coordinates above tau, len(v) rounds (the set above tau stops changing by then).
pub fn project_simplex(v: &mut [f64]) {
    let n = v.len() as f64;
    let mut tau = (v.iter().sum::<f64>() - 1.0) / n;
    for _ in 0..v.len() {
        let (above, count) = v
            .iter()
            .filter(|&&x| x > tau)
            .fold((0.0, 0.0), |(s, c), &x| (s + x, c + 1.0));
        tau = (above - 1.0) / count;
    }
    v.iter_mut().for_each(|x| *x = (*x - tau).max(0.0));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Activation, ModelSpec, Output};

    /// Keep-if-lower's test: a rise is refused unless within the tolerance, of |U| (so
    /// also for a negative U), and a tolerance of 0 refuses any rise, however small.
    #[test]
    fn keep_if_lower_refuses_rises_beyond_the_tolerance() {
        assert!(kept_if_lower(99.0, 100.0, 0.0));
        assert!(kept_if_lower(100.0, 100.0, 0.0));
        assert!(!kept_if_lower(100.0 + 1e-12, 100.0, 0.0));
        assert!(kept_if_lower(100.0 + 9e-5, 100.0, 1e-6));
        assert!(!kept_if_lower(100.0 + 1.1e-4, 100.0, 1e-6));
        assert!(kept_if_lower(-100.0 + 9e-5, -100.0, 1e-6));
        assert!(!kept_if_lower(-100.0 + 1.1e-4, -100.0, 1e-6));
        // An infinite energy is left for any finite one; a NaN proposal is never kept.
        assert!(kept_if_lower(1e30, f64::INFINITY, 0.0));
        assert!(kept_if_lower(1e30, f64::INFINITY, 1e-6));
        assert!(!kept_if_lower(f64::NAN, 1.0, 1e-6));
        // An infinite proposal is never kept by the tolerance, however large or the energy.
        assert!(!kept_if_lower(f64::INFINITY, 1e30, 1e30));
        assert!(!kept_if_lower(f64::INFINITY, f64::NEG_INFINITY, 1e-6));
    }

    /// The projection lands on the simplex, and is the closest point there: moving along
    /// the simplex in any feasible direction does not get closer to v.
    #[test]
    fn simplex_projection_is_the_nearest_point() {
        let mut rng = crate::refine::rng::HostRng::new(3, 3);
        for n in [1, 2, 3, 9, 17] {
            for _ in 0..50 {
                let v: Vec<f64> = (0..n).map(|_| 2.0 * rng.symmetric()).collect();
                let mut p = v.clone();
                project_simplex(&mut p);
                assert!(p.iter().all(|&x| x >= 0.0));
                assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12, "{p:?}");
                let dist = |q: &[f64]| q.iter().zip(&v).map(|(a, b)| (a - b).powi(2)).sum::<f64>();
                for i in 0..n {
                    for j in 0..n {
                        let step = 1e-3f64.min(p[j]);
                        if i == j || step <= 0.0 {
                            continue;
                        }
                        let mut q = p.clone();
                        q[i] += step;
                        q[j] -= step;
                        assert!(dist(&q) >= dist(&p) - 1e-15, "not nearest: {v:?} -> {p:?}");
                    }
                }
            }
        }
    }

    /// The reference gradient against central finite differences of its own energy.
    #[test]
    fn gradient_matches_finite_differences() {
        for (i, act) in Activation::ALL.into_iter().enumerate() {
            for out in Output::ALL {
                let spec = ModelSpec {
                    x_dim: 3,
                    y_dim: 4,
                    hidden: vec![7, 5],
                    outputs: if out == Output::Square { 3 } else { 1 },
                    activation: act,
                    output: out,
                };
                let model = Model::random(&spec, i as u64).unwrap();
                let mut rng = crate::refine::rng::HostRng::new(i as u64, 5);
                let x: Vec<f64> = (0..3).map(|_| rng.symmetric() * 1.5).collect();
                let y: Vec<f64> = (0..4).map(|_| rng.symmetric() * 1.5).collect();
                let (_, grad) = energy_and_grad(&model, &x, &y);
                let h = 1e-6;
                for k in 0..4 {
                    let (mut up, mut down) = (y.clone(), y.clone());
                    up[k] += h;
                    down[k] -= h;
                    let fd = (energy_and_grad(&model, &x, &up).0
                        - energy_and_grad(&model, &x, &down).0)
                        / (2.0 * h);
                    assert!(
                        (fd - grad[k]).abs() < 1e-6 * (1.0 + fd.abs()),
                        "{act}/{out} coordinate {k}: analytic {} vs finite difference {fd}",
                        grad[k]
                    );
                }
                assert!(
                    grad.iter().any(|g| g.abs() > 1e-3),
                    "{act}/{out}: gradient is ~0"
                );
            }
        }
    }
}
