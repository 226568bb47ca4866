//! Annealed Langevin over a noise-conditional energy with a known answer: a mixture of
//! Gaussians whose energy at noise level sigma is the mixture convolved with N(0, sigma^2),
//! in closed form, written as a graph of the landscape index t (the level). Walking the
//! sigma ladder from broad to sharp, the chains must land in the components in proportion
//! to the mixture's weights; Langevin at the sharpest level alone, from the same start,
//! does not (the chains stay in the basin they start in).

mod common;

use common::ctx;
use ebm::refine::{Schedule, Stage};
use ebm::rng::HostRng;
use ebm::{reference, Engine, GraphBuilder, Head, Model, RefineConfig};

/// Component means, their standard deviation (one for all), and weights.
const MEANS: [[f64; 2]; 3] = [[-2.5, 0.0], [2.5, 0.0], [0.0, 3.0]];
const SPREAD: f64 = 0.3;
const WEIGHTS: [f64; 3] = [0.6, 0.3, 0.1];
/// The noise levels, broad to sharp: level t has sigma = SIGMAS[t].
const SIGMAS: [f64; 8] = [4.0, 2.5, 1.6, 1.0, 0.6, 0.35, 0.15, 0.02];

/// Each component's variance at a level: its own, and the level's noise.
fn variance(level: usize) -> f64 {
    SPREAD * SPREAD + SIGMAS[level] * SIGMAS[level]
}

/// -log sum_k w_k N(y; mu_k, (s^2 + sigma_t^2) I), in float64.
fn exact_energy(y: [f64; 2], level: usize) -> f64 {
    let p: f64 = (0..3)
        .map(|k| {
            let v = variance(level);
            let d2 = (y[0] - MEANS[k][0]).powi(2) + (y[1] - MEANS[k][1]).powi(2);
            WEIGHTS[k] * (-d2 / (2.0 * v)).exp() / (2.0 * std::f64::consts::PI * v)
        })
        .sum();
    -p.ln()
}

/// The same energy as a graph of (y, t): the level's coefficients picked by hat functions
/// of t, relu(1 - |t - l|), exact at the integer levels; then
/// E = -logsumexp_k(a_k(t) |y - mu_k|^2 + b_k(t)), a_k = -1 / (2 v_k), b_k = log w_k - log(2 pi v_k).
fn mixture_graph() -> Model {
    let levels = SIGMAS.len();
    let mut g = GraphBuilder::new(0, 2, 1);
    // (t - l) and (l - t) for each level, then relu(1 - relu(t - l) - relu(l - t)).
    let mut w = Vec::new();
    let mut b = Vec::new();
    for l in 0..levels {
        w.extend([1.0, -1.0]);
        b.extend([-(l as f32), l as f32]);
    }
    let sides: Vec<f32> = (0..2 * levels).map(|i| w[i]).collect();
    let d = g.linear_with(&[g.t()], 2 * levels, sides, Some(b));
    let d = g.activation(d, ebm::Activation::Relu);
    let mut fold = vec![0.0; levels * 2 * levels];
    for l in 0..levels {
        fold[l * 2 * levels + 2 * l] = -1.0;
        fold[l * 2 * levels + 2 * l + 1] = -1.0;
    }
    let hat = g.linear_with(&[d], levels, fold, Some(vec![1.0; levels]));
    let hat = g.activation(hat, ebm::Activation::Relu);
    let coefficient = |f: &dyn Fn(usize, usize) -> f64| -> Vec<f32> {
        (0..3)
            .flat_map(|k| (0..levels).map(move |l| (k, l)))
            .map(|(k, l)| f(k, l) as f32)
            .collect()
    };
    let a = coefficient(&|_, l| -1.0 / (2.0 * variance(l)));
    let a = g.linear_with(&[hat], 3, a, None);
    let b = coefficient(&|k, l| WEIGHTS[k].ln() - (2.0 * std::f64::consts::PI * variance(l)).ln());
    let b = g.linear_with(&[hat], 3, b, None);
    // |y - mu_k|^2 = |y|^2 - 2 mu_k . y + |mu_k|^2, one linear over [y, y * y].
    let sq = g.mul(g.y(), g.y());
    let mut dist = Vec::new();
    for m in MEANS {
        dist.extend([-2.0 * m[0] as f32, -2.0 * m[1] as f32, 1.0, 1.0]);
    }
    let norms: Vec<f32> = MEANS
        .iter()
        .map(|m| (m[0] * m[0] + m[1] * m[1]) as f32)
        .collect();
    let dist = g.linear_with(&[g.y(), sq], 3, dist, Some(norms));
    let logits = g.mul(a, dist);
    let logits = g.add(logits, b);
    g.energy(Head::LogSumExp, logits, -1.0);
    g.build().unwrap()
}

/// Each component's share of the chains: each y goes to its nearest mean.
fn shares(y: &[f32]) -> [f64; 3] {
    let mut counts = [0usize; 3];
    for p in y.chunks(2) {
        let dist =
            |m: [f64; 2]| (f64::from(p[0]) - m[0]).powi(2) + (f64::from(p[1]) - m[1]).powi(2);
        let k = (0..3)
            .min_by(|&a, &b| dist(MEANS[a]).total_cmp(&dist(MEANS[b])))
            .unwrap();
        counts[k] += 1;
    }
    let n = (y.len() / 2) as f64;
    counts.map(|c| c as f64 / n)
}

#[test]
fn the_graph_is_the_convolved_mixture_at_every_level() {
    let m = mixture_graph();
    let mut rng = HostRng::new(3, 0);
    let y: Vec<f32> = (0..40).map(|_| (4.0 * rng.symmetric()) as f32).collect();
    for level in 0..SIGMAS.len() {
        let (energy, _) = reference::eval_at(&m, &[], &y, level as f32);
        for (c, e) in energy.iter().enumerate() {
            let want = exact_energy([f64::from(y[2 * c]), f64::from(y[2 * c + 1])], level);
            assert!(
                (e - want).abs() < 1e-5 * (1.0 + want.abs()),
                "level {level}, chain {c}: graph {e}, closed form {want}"
            );
        }
    }
}

#[test]
fn annealed_langevin_recovers_the_mixture_weights() {
    let m = mixture_graph();
    let engine = Engine::new(&ctx(), &m).unwrap();
    let n = 4000;
    let mut rng = HostRng::new(11, 0);
    // A broad start, centred between the components.
    let y0: Vec<f32> = (0..2 * n).map(|_| (4.0 * rng.normal()) as f32).collect();
    // Per level: steps with eta proportional to the level's smallest variance (Song and
    // Ermon's annealed Langevin), at temperature 1 (sampling exp(-E)).
    let steps_per_level = 200;
    let stages: Vec<Stage> = (0..SIGMAS.len())
        .map(|level| Stage {
            steps: steps_per_level,
            step_size: (0.05 * variance(level)) as f32,
            temperature: 1.0,
            landscape: Some(level as f32),
            ..Default::default()
        })
        .collect();
    let annealed = RefineConfig {
        steps: steps_per_level * SIGMAS.len() as u32,
        seed: 5,
        schedule: Schedule {
            stages,
            ..Default::default()
        },
        ..Default::default()
    };
    let got = shares(&engine.refine(&[], &y0, &annealed).unwrap().y);
    for k in 0..3 {
        assert!(
            (got[k] - WEIGHTS[k]).abs() < 0.03,
            "component {k}: {:.3} of the chains, weight {} (all: {got:?})",
            got[k],
            WEIGHTS[k]
        );
    }
    // Without the ladder: as many steps at the sharpest level only.
    let sharpest = SIGMAS.len() - 1;
    let flat = RefineConfig {
        steps: annealed.steps,
        step_size: (0.05 * variance(sharpest)) as f32,
        temperature: 1.0,
        landscape: sharpest as f32,
        seed: 5,
        ..Default::default()
    };
    let stuck = shares(&engine.refine(&[], &y0, &flat).unwrap().y);
    assert!(
        (stuck[0] - WEIGHTS[0]).abs() > 0.1,
        "without annealing the shares should follow the start, not the weights: {stuck:?}"
    );
}
