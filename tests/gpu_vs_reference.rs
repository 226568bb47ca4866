//! Every kernel against the float64 reference on random models and inputs, with output
//! buffers poisoned so that a value the kernel fails to write shows up.

mod common;

use common::{assert_close, check_refine_on, ctx, data, last_linear, model};
use ebm::{reference, Activation, Engine, Model, Output, PathChoice, RefineConfig};

fn check_eval(engine: &Engine, model: &Model, n: usize, seed: u64, what: &str) {
    let x = data(n * model.x_dim, 1.5, seed);
    let y = data(n * model.y_dim, 1.5, seed + 1);
    let gpu = engine.eval(&x, &y).unwrap();
    let (energy, grad) = reference::eval(model, &x, &y);
    assert_close(&format!("{what}: energy"), &gpu.energy, &energy);
    assert_close(&format!("{what}: grad"), &gpu.grad, &grad);
}

#[test]
fn every_activation_and_output_matches_reference() {
    let ctx = ctx();
    for (i, act) in Activation::ALL.into_iter().enumerate() {
        for out in Output::ALL {
            let m = model(3, 5, &[17, 9], act, out, i as u64);
            let mut engine = Engine::new(&ctx, &m).unwrap();
            engine.poison_outputs(true);
            check_eval(&engine, &m, 67, 10 + i as u64, &format!("{act}/{out}"));
        }
    }
}

#[test]
fn odd_sizes_and_unconditional_models_match_reference() {
    let ctx = ctx();
    let cases: &[(usize, usize, &[usize], usize)] = &[
        (0, 1, &[1], 1),
        (0, 3, &[3, 17], 65),
        (17, 3, &[257], 130),
        (1, 17, &[3, 1, 257], 63),
        (2, 2, &[], 64),
    ];
    for (k, &(x_dim, y_dim, hidden, n)) in cases.iter().enumerate() {
        let m = model(
            x_dim,
            y_dim,
            hidden,
            Activation::Gelu,
            Output::Square,
            40 + k as u64,
        );
        let mut engine = Engine::new(&ctx, &m).unwrap();
        engine.poison_outputs(true);
        check_eval(
            &engine,
            &m,
            n,
            50 + k as u64,
            &format!("x{x_dim} y{y_dim} {hidden:?} n{n}"),
        );
    }
}

fn check_refine(m: &Model, n: usize, cfg: &RefineConfig, what: &str) {
    check_refine_on(PathChoice::Auto, m, n, cfg, what);
}

#[test]
fn gradient_descent_trajectories_match_reference() {
    for (i, act) in Activation::ALL.into_iter().enumerate() {
        let m = model(4, 6, &[33, 19], act, Output::Square, 60 + i as u64);
        let cfg = RefineConfig {
            steps: 25,
            step_size: 0.05,
            ..Default::default()
        };
        check_refine(&m, 70, &cfg, &format!("{act} T=0"));
    }
}

#[test]
fn langevin_trajectories_with_prior_and_clamp_match_reference() {
    let m = model(3, 7, &[21], Activation::Silu, Output::Softplus, 3);
    let cfg = RefineConfig {
        steps: 30,
        step_size: 0.02,
        temperature: 0.5,
        seed: 0xDEAD_BEEF_1234,
        prior_l2: 0.7,
        clamp: Some((-0.8, 0.9)),
        ..Default::default()
    };
    check_refine(&m, 99, &cfg, "langevin + prior + clamp");
    let unconditional = model(0, 5, &[16, 16], Activation::Tanh, Output::Identity, 4);
    let cfg = RefineConfig {
        steps: 40,
        step_size: 0.01,
        temperature: 2.0,
        seed: 5,
        ..Default::default()
    };
    check_refine(&unconditional, 33, &cfg, "unconditional langevin");
}

/// With a zero last layer and no prior, one step adds exactly sqrt(2 eta T) times the
/// generator's normals: this compares the GPU's Philox and Box-Muller with the Rust twin.
#[test]
fn noise_matches_the_reference_generator() {
    let mut m = model(0, 9, &[8], Activation::Relu, Output::Identity, 1);
    // Only the weight: the bias keeps the energy off zero.
    last_linear(&mut m)[0].data.fill(0.0);
    let ctx = ctx();
    let engine = Engine::new(&ctx, &m).unwrap();
    let n = 513;
    let y0 = data(n * 9, 1.0, 2);
    let cfg = RefineConfig {
        steps: 1,
        step_size: 0.5,
        temperature: 1.0,
        seed: 77,
        ..Default::default()
    };
    let gpu = engine.refine(&[], &y0, &cfg).unwrap();
    for c in 0..n {
        for k in 0..9 {
            let normal = ebm::rng::langevin_normals(77, c as u32, 0, (k / 4) as u32)[k % 4];
            let got = f64::from(gpu.y[c * 9 + k] - y0[c * 9 + k]);
            assert!(
                (got - normal).abs() < 1e-4 * (1.0 + normal.abs()),
                "chain {c} coord {k}: {got} vs {normal}"
            );
        }
    }
}

#[test]
fn same_seed_is_bit_identical_and_independent_of_chunking() {
    let ctx = ctx();
    let m = model(2, 3, &[16], Activation::Silu, Output::Identity, 9);
    let n = 300;
    let x = data(n * 2, 1.0, 1);
    let y0 = data(n * 3, 1.0, 2);
    let cfg = RefineConfig {
        steps: 10,
        step_size: 0.01,
        temperature: 1.0,
        seed: 42,
        ..Default::default()
    };
    let engine = Engine::new(&ctx, &m).unwrap();
    let a = engine.refine(&x, &y0, &cfg).unwrap();
    let b = engine.refine(&x, &y0, &cfg).unwrap();
    assert_eq!(a.y, b.y);
    assert_eq!(a.energy, b.energy);

    let other = engine
        .refine(
            &x,
            &y0,
            &RefineConfig {
                seed: 43,
                ..cfg.clone()
            },
        )
        .unwrap();
    assert_ne!(a.y, other.y);

    let mut split = Engine::new(&ctx, &m).unwrap();
    split.set_max_chunk(37).unwrap();
    let c = split.refine(&x, &y0, &cfg).unwrap();
    assert_eq!(a.y, c.y, "splitting the batch changed the result");
    assert_eq!(a.energy, c.energy);

    // A chain's result does not depend on the chains around it... given its global index:
    // the first 100 chains of the batch, run alone, give the same numbers.
    let d = engine.refine(&x[..200], &y0[..300], &cfg).unwrap();
    assert_eq!(&a.y[..300], &d.y[..]);
}

/// Large models either match the reference on this adapter or are refused by the
/// start-up self-check: never a silently wrong answer.
#[test]
fn large_models_are_right_or_refused() {
    let ctx = ctx();
    let m = model(32, 32, &[256, 256], Activation::Silu, Output::Identity, 12);
    match Engine::new(&ctx, &m) {
        Ok(mut engine) => {
            engine.poison_outputs(true);
            check_eval(&engine, &m, 70, 3, "r1-sized model");
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains("self-check") && msg.contains("float64 reference"),
                "{msg}"
            );
        }
    }
}

/// Long refinements (which some drivers run as several dispatches) match the reference.
#[test]
fn long_refinements_match_reference() {
    let toy = model(2, 2, &[64, 64], Activation::Silu, Output::Identity, 0);
    let cfg = RefineConfig {
        steps: 200,
        step_size: 0.05,
        temperature: 0.01,
        seed: 3,
        ..Default::default()
    };
    check_refine(&toy, 64, &cfg, "toy2d-sized, 200 steps");
    // Square output: with identity the final energy of this random model is a near-zero sum
    // of cancelling terms (about -0.008), whose float32 relative error is ill-conditioned.
    let wide = model(
        32,
        32,
        &[256, 256, 256],
        Activation::Silu,
        Output::Square,
        0,
    );
    let cfg = RefineConfig {
        steps: 5,
        step_size: 0.05,
        ..Default::default()
    };
    check_refine(&wide, 64, &cfg, "r1-sized, 5 steps");
}
