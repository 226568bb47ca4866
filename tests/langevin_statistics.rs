//! Langevin is a sampler, so it is tested as one: on the quadratic-prior energy (the MLP's
//! last layer zero) each coordinate is an AR(1) chain y' = (1 - eta lambda) y + sqrt(2 eta T) n
//! whose stationary variance is T / (lambda (1 - eta lambda / 2)) and mean 0.

mod common;

use common::{ctx, data, model};
use ebm::{Activation, Engine, Output, RefineConfig};

#[test]
fn stationary_variance_matches_the_discretisation() {
    let mut m = model(2, 4, &[16], Activation::Silu, Output::Identity, 11);
    let last = m.layers.last_mut().unwrap();
    last.weight.iter_mut().for_each(|w| *w = 0.0);
    last.bias.iter_mut().for_each(|b| *b = 0.0);
    let engine = Engine::new(&ctx(), &m).unwrap();

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
    let samples: Vec<f64> = out.y.iter().map(|&v| f64::from(v)).collect();
    let n = samples.len() as f64;
    let mean = samples.iter().sum::<f64>() / n;
    let var = samples.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);

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
