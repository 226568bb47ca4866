//! Training learns what it is shown, on lavapipe, at a fixed budget: on 2-D distributions
//! whose density is known (`ebm::train::toy`), the learned density exp(-E)/Z, normalised by
//! quadrature on a grid, is close to the true one, and samples of the trained model match
//! held-out data; on y = ±sqrt(x) + noise, the trained energy's refinement finds both
//! answers of each x in proportion, which a mean-squared-error regressor cannot.
//!
//! Measures and thresholds are stated with each test; the budgets (steps, batch, widths)
//! are fixed, and every run is seeded, so a test's numbers repeat on the same adapter.

mod common;

use common::ctx;
use ebm::train::toy::{self, Grid, Toy};
use ebm::{
    Activation, Engine, Model, ModelSpec, Objective, Output, RefineConfig, Sampler, TrainConfig,
    TrainData, Trainer,
};

/// An unconditional or conditional MLP energy, SiLU, one identity output.
fn mlp(x_dim: usize, y_dim: usize, hidden: &[usize]) -> Model {
    let spec = ModelSpec {
        x_dim,
        y_dim,
        hidden: hidden.to_vec(),
        outputs: 1,
        activation: Activation::Silu,
        output: Output::Identity,
    };
    Model::random(&spec, 0).unwrap()
}

/// Trains `model` on `data` for `steps` steps of `config`; the engine with the new weights.
fn train(model: &Model, data: TrainData, config: &TrainConfig, steps: u64) -> Engine {
    let engine = Engine::new(&ctx(), model).unwrap();
    let mut trainer = Trainer::new(engine, data, config).unwrap();
    let stats = trainer.run(steps, None).unwrap();
    assert_eq!(stats.len() as u64, steps);
    assert!(stats.iter().all(|s| s.loss.is_finite()));
    trainer.into_engine().unwrap()
}

/// KL(true || learned) in nats on a 96 x 96 grid over the toy's box.
fn kl_on_grid(engine: &Engine, toy: &Toy) -> f64 {
    let grid = Grid::covering(toy, 96);
    let energy = engine.eval(&[], &grid.points()).unwrap().energy;
    toy::kl_divergence(
        &grid.density_of(toy),
        &grid.boltzmann(&energy),
        grid.cell_area(),
    )
}

/// Samples of the trained model: 600 steps of MALA (exact for exp(-E) whatever the step
/// size) from `y0`.
fn samples(engine: &Engine, y0: &[f32]) -> Vec<f32> {
    let config = RefineConfig {
        steps: 600,
        step_size: 0.01,
        temperature: 1.0,
        sampler: Sampler::Mala {
            adapt_steps: 0,
            target_accept: 0.574,
        },
        seed: 12,
        ..RefineConfig::default()
    };
    engine.refine(&[], y0, &config).unwrap().y
}

/// `n` points uniform over the toy's box.
fn uniform_starts(toy: &Toy, n: usize) -> Vec<f32> {
    let (lo, hi) = toy.bounds();
    let mut rng = ebm::rng::HostRng::new(11, 0);
    (0..n)
        .flat_map(|_| [0, 1])
        .map(|k| (lo[k] + (hi[k] - lo[k]) * 0.5 * (rng.symmetric() + 1.0)) as f32)
        .collect()
}

/// Noise-contrastive estimation's settings for the 2-D toys.
fn nce() -> TrainConfig {
    TrainConfig {
        objective: Objective::NoiseContrastive,
        batch: 256,
        learning_rate: 1e-2,
        log_every: 500,
        seed: 1,
        ..TrainConfig::default()
    }
}

/// The untrained model's KL, for the record of what training gained.
fn untrained_kl(model: &Model, toy: &Toy) -> f64 {
    kl_on_grid(&Engine::new(&ctx(), model).unwrap(), toy)
}

/// Contrastive divergence on y = ±sqrt(x) + 0.05 N(0, 1), x in [0.25, 1]: gradient descent
/// on the trained energy from 600 starts drawn from N(0, 0.5^2) ends on a branch (within
/// 0.2 of +sqrt(x) or -sqrt(x)) for at least 85% of the starts, and each branch takes 30%
/// to 70% of them. A mean-squared-error regressor predicts E[y | x] = 0, on neither branch.
#[test]
fn contrastive_divergence_finds_both_answers_of_each_x() {
    let (x, y) = toy::sqrt_branches(4000, 0.05, 1);
    let model = mlp(1, 1, &[32, 32]);
    let config = TrainConfig {
        batch: 128,
        learning_rate: 3e-3,
        alpha: 0.1,
        replay: 2000,
        log_every: 500,
        seed: 2,
        ..TrainConfig::default()
    };
    let engine = train(
        &model,
        TrainData {
            y: y.clone(),
            x: x.clone(),
        },
        &config,
        1500,
    );
    // The least-squares regressor on features (1, x): its predictions at the test x.
    let n = x.len() as f64;
    let (mx, my) = (
        x.iter().map(|&v| f64::from(v)).sum::<f64>() / n,
        y.iter().map(|&v| f64::from(v)).sum::<f64>() / n,
    );
    let sxy: f64 = x
        .iter()
        .zip(&y)
        .map(|(&a, &b)| (f64::from(a) - mx) * (f64::from(b) - my))
        .sum();
    let sxx: f64 = x.iter().map(|&a| (f64::from(a) - mx).powi(2)).sum();
    let slope = sxy / sxx;
    let (tx, _) = toy::sqrt_branches(600, 0.05, 9);
    let mut rng = ebm::rng::HostRng::new(4, 0);
    let y0: Vec<f32> = tx.iter().map(|_| (0.5 * rng.normal()) as f32).collect();
    let descent = RefineConfig {
        steps: 400,
        step_size: 0.005,
        temperature: 0.0,
        ..RefineConfig::default()
    };
    let found = engine.refine(&tx, &y0, &descent).unwrap().y;
    let (plus, minus, neither) = toy::branch_shares(&tx, &found, 0.2);
    let regressed: Vec<f32> = tx
        .iter()
        .map(|&v| (my + slope * (f64::from(v) - mx)) as f32)
        .collect();
    let (_, _, regressor_misses) = toy::branch_shares(&tx, &regressed, 0.15);
    eprintln!("branches: + {plus:.3}, - {minus:.3}, neither {neither:.3}; regressor on neither: {regressor_misses:.3}");
    assert!(
        neither < 0.15,
        "{neither} of the refinements end on no branch"
    );
    assert!(
        (0.3..=0.7).contains(&plus) && (0.3..=0.7).contains(&minus),
        "shares {plus} and {minus}"
    );
    assert!(
        regressor_misses > 0.95,
        "the regressor found a branch: {regressor_misses}"
    );
}

/// Noise-contrastive estimation learns a mixture of four Gaussians (radius 1.5, std 0.3):
/// KL(true || learned) under 0.1 nats (the untrained model's is above 1; lavapipe measured
/// 0.06), and 1000 MALA chains from uniform starts over the box (the four basins alike, by
/// symmetry) end within MMD^2 0.003 of held-out data (Gaussian kernel of bandwidth 0.5;
/// 0.002 measured; two samples of the data itself give about 0.001).
#[test]
fn nce_learns_a_mixture_of_gaussians_and_its_samples_match_the_data() {
    let toy = Toy::ring4();
    let model = mlp(0, 2, &[32, 32]);
    let data = TrainData {
        y: toy.sample(4000, 1),
        x: Vec::new(),
    };
    let before = untrained_kl(&model, &toy);
    let engine = train(&model, data, &nce(), 1500);
    let kl = kl_on_grid(&engine, &toy);
    let drawn = samples(&engine, &uniform_starts(&toy, 1000));
    let mmd = toy::mmd_rbf(&drawn, &toy.sample(1000, 2), 2, 0.5);
    eprintln!("ring4: KL {before:.3} -> {kl:.3} nats, MMD^2 {mmd:.4}");
    assert!(
        before > 1.0,
        "the untrained model is already close: {before}"
    );
    assert!(kl < 0.1, "KL(true || learned) {kl} nats");
    assert!(mmd < 0.003, "MMD^2 of samples against held-out data {mmd}");
}

/// Noise-contrastive estimation learns two moons: KL(true || learned) under 0.12 nats (the
/// untrained model's is above 1; lavapipe measured 0.09 at this budget, the learned moons
/// a little wider than the truth). Samples: 1000 MALA chains started on data points stay
/// within MMD^2 0.006 of other held-out data (0.004 measured; two samples of the data
/// itself give about 0.001). The moons' basins do not mix from uniform starts in any
/// affordable time, so the test holds the learned density stationary instead: a wrong one
/// pulls the chains off the moons.
#[test]
fn nce_learns_the_density_of_two_moons() {
    let toy = Toy::moons();
    let model = mlp(0, 2, &[32, 32]);
    let data = TrainData {
        y: toy.sample(4000, 1),
        x: Vec::new(),
    };
    let before = untrained_kl(&model, &toy);
    let engine = train(&model, data, &nce(), 3000);
    let kl = kl_on_grid(&engine, &toy);
    let drawn = samples(&engine, &toy.sample(1000, 3));
    let mmd = toy::mmd_rbf(&drawn, &toy.sample(1000, 2), 2, 0.5);
    eprintln!("moons: KL {before:.3} -> {kl:.3} nats, MMD^2 {mmd:.4}");
    assert!(
        before > 1.0,
        "the untrained model is already close: {before}"
    );
    assert!(kl < 0.12, "KL(true || learned) {kl} nats");
    assert!(mmd < 0.006, "MMD^2 of samples against held-out data {mmd}");
}

/// The same with an energy graph, a pre-norm residual net (a linear layer, two blocks
/// h += W gelu(LayerNorm(h)) with their gains and biases, one output, plus 0.1 |y|^2): its
/// weight gradients, norms' gains included, train it to the MLP's standard, KL(true ||
/// learned) under 0.1 nats on the four Gaussians at the same budget (lavapipe measured
/// 0.08; the MLP 0.06).
#[test]
fn nce_learns_a_mixture_of_gaussians_with_a_residual_layer_norm_energy() {
    let toy = Toy::ring4();
    let model = ebm::energy::samples::pre_norm_residual(0, 2, 32, 0);
    let data = TrainData {
        y: toy.sample(4000, 1),
        x: Vec::new(),
    };
    let before = untrained_kl(&model, &toy);
    let engine = train(&model, data, &nce(), 1500);
    let kl = kl_on_grid(&engine, &toy);
    eprintln!("ring4, residual LayerNorm energy: KL {before:.3} -> {kl:.3} nats");
    assert!(
        before > 1.0,
        "the untrained model is already close: {before}"
    );
    assert!(kl < 0.1, "KL(true || learned) {kl} nats");
}
