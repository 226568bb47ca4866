//! Langevin is a sampler, so it is tested as one: on the quadratic-prior energy (the MLP's
//! last layer zero) each coordinate is an AR(1) chain y' = (1 - eta lambda) y + sqrt(2 eta T) n
//! whose stationary variance is T / (lambda (1 - eta lambda / 2)) and mean 0. MALA's accept
//! test removes that bias: its stationary variance is T / lambda at the same step size, and
//! on a double well its chains split between the wells by the Boltzmann weights.

mod common;

use common::{ctx, data, model, zero_last_layer};
use ebm::{Activation, Engine, Layer, Model, Output, PathChoice, RefineConfig, Sampler};

/// An engine for the quadratic-prior energy: an MLP (x 2, y 4) whose last layer is zero, so
/// E + (lambda/2)|y|^2 is the prior alone, while every pass still runs in full.
fn quadratic_prior_engine(seed: u64) -> Engine {
    let mut m = model(2, 4, &[16], Activation::Silu, Output::Identity, seed);
    zero_last_layer(&mut m);
    Engine::new(&ctx(), &m).unwrap()
}

/// Sample mean and variance.
fn moments(samples: &[f32]) -> (f64, f64) {
    let n = samples.len() as f64;
    let mean = samples.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = samples
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / (n - 1.0);
    (mean, var)
}

/// The quadratic-prior energy at eta = 0.5, lambda = 1, T = 0.3, where unadjusted
/// Langevin's variance is T / 0.75 = 0.4: MALA's is T / lambda = 0.3.
#[test]
fn mala_samples_the_quadratic_prior_without_discretisation_bias() {
    let engine = quadratic_prior_engine(12);
    let (eta, lambda, temperature) = (0.5f64, 1.0f64, 0.3f64);
    let chains = 8192;
    let y0 = data(chains * 4, 3.0, 5);
    let x = data(chains * 2, 1.0, 6);
    let cfg = RefineConfig {
        steps: 200,
        step_size: eta as f32,
        temperature: temperature as f32,
        prior_l2: lambda as f32,
        seed: 77,
        sampler: Sampler::Mala {
            adapt_steps: 0,
            target_accept: 0.574,
        },
        ..Default::default()
    };
    let out = engine.refine(&x, &y0, &cfg).unwrap();
    let (mean, var) = moments(&out.y);
    let n = out.y.len() as f64;
    let expected = temperature / lambda;
    let se_var = expected * (2.0 / (n - 1.0)).sqrt();
    assert!(mean.abs() < 5.0 * (expected / n).sqrt(), "mean {mean}");
    assert!(
        (var - expected).abs() < 5.0 * se_var,
        "variance {var}, expected {expected} +- {}",
        5.0 * se_var
    );
    let biased = temperature / (lambda * (1.0 - eta * lambda / 2.0));
    assert!(
        (var - biased).abs() > 20.0 * se_var,
        "test cannot tell MALA from unadjusted Langevin"
    );
    let rate: f32 = out.acceptance_rate().iter().sum::<f32>() / chains as f32;
    assert!(rate > 0.3 && rate < 0.99, "acceptance rate {rate}");
}

/// E(y) = (softplus(2y) + softplus(-3y) - 2.5)^2: wells near y = -0.8 and y = 1.2 of
/// different widths, a barrier of about 1.33 at y = 0.156.
fn double_well() -> Model {
    Model::mlp(
        0,
        1,
        vec![
            Layer {
                n_in: 1,
                n_out: 2,
                weight: vec![2.0, -3.0],
                bias: vec![0.0, 0.0],
            },
            Layer {
                n_in: 2,
                n_out: 1,
                weight: vec![1.0, 1.0],
                bias: vec![-2.5],
            },
        ],
        Activation::Softplus,
        Output::Square,
    )
    .unwrap()
}

/// Every chain starts in the right-hand well; after MALA the share in the left-hand well
/// is the Boltzmann weight exp(-E / T) of y below the barrier, by quadrature of the
/// reference energy.
#[test]
fn mala_splits_a_double_well_by_its_boltzmann_weights() {
    let m = double_well();
    let temperature = 0.5;
    let energy = |y: f64| ebm::reference::energy_and_grad(&m, &[], &[y]).0;
    // The barrier top between the wells, and the weights by the midpoint rule on [-6, 6].
    let h = 1e-4;
    let grid: Vec<f64> = (0..120_000).map(|i| -6.0 + (i as f64 + 0.5) * h).collect();
    let saddle = grid
        .iter()
        .copied()
        .filter(|&y| y > -0.5 && y < 1.0)
        .max_by(|a, b| energy(*a).total_cmp(&energy(*b)))
        .unwrap();
    let weight = |y: f64| (-energy(y) / temperature).exp();
    let left: f64 = grid
        .iter()
        .filter(|&&y| y < saddle)
        .map(|&y| weight(y))
        .sum();
    let all: f64 = grid.iter().map(|&y| weight(y)).sum();
    let expected = left / all;
    assert!(expected > 0.3 && expected < 0.6, "weights {expected}");

    let engine = Engine::with_path(&ctx(), &m, PathChoice::Auto).unwrap();
    let chains = 4096;
    let y0: Vec<f32> = data(chains, 0.1, 8).iter().map(|v| 1.2 + v).collect();
    let cfg = RefineConfig {
        steps: 2500,
        step_size: 0.05,
        temperature: temperature as f32,
        seed: 3,
        sampler: Sampler::Mala {
            adapt_steps: 0,
            target_accept: 0.574,
        },
        ..Default::default()
    };
    let out = engine.refine(&[], &y0, &cfg).unwrap();
    let share = out.y.iter().filter(|&&y| f64::from(y) < saddle).count() as f64 / chains as f64;
    let se = (expected * (1.0 - expected) / chains as f64).sqrt();
    assert!(
        (share - expected).abs() < 5.0 * se,
        "left-well share {share}, Boltzmann weight {expected} +- {}",
        5.0 * se
    );
}

#[test]
fn stationary_variance_matches_the_discretisation() {
    let engine = quadratic_prior_engine(11);

    let (eta, lambda, temperature) = (0.5f64, 1.0f64, 0.3f64);
    let chains = 8192;
    // Start far from equilibrium: 60 steps shrink the start's influence by 0.5^60.
    let y0 = data(chains * 4, 3.0, 1);
    let x = data(chains * 2, 1.0, 2);
    let cfg = RefineConfig {
        steps: 60,
        step_size: eta as f32,
        temperature: temperature as f32,
        prior_l2: lambda as f32,
        seed: 2024,
        clamp: None,
        ..Default::default()
    };
    let out = engine.refine(&x, &y0, &cfg).unwrap();
    let (mean, var) = moments(&out.y);
    let n = out.y.len() as f64;

    let expected = temperature / (lambda * (1.0 - eta * lambda / 2.0));
    // Coordinates and chains are independent: standard errors of the sample mean and
    // variance of n Gaussian draws; 5 of them is a tolerance a correct sampler fails once
    // in millions of runs, while the continuous-time value T / lambda is 8 away.
    let se_mean = (expected / n).sqrt();
    let se_var = expected * (2.0 / (n - 1.0)).sqrt();
    assert!(
        mean.abs() < 5.0 * se_mean,
        "mean {mean}, tolerance {}",
        5.0 * se_mean
    );
    assert!(
        (var - expected).abs() < 5.0 * se_var,
        "variance {var}, expected {expected} +- {}",
        5.0 * se_var
    );
    assert!(
        (var - temperature / lambda).abs() > 5.0 * se_var,
        "test cannot tell the discretisation apart"
    );
}
