//! Training on the GPU (`Trainer`: train.wgsl, the fused sampler, backprop.wgsl,
//! weight_grad.wgsl, optimizer.wgsl) held to the float64 reference step for step; the same
//! seed giving bit-identical weights; a resumed run giving the uninterrupted run's weights;
//! divergence stopped with an error that names the step; bad data and settings refused
//! with errors that name them.

mod common;

use common::{assert_close, ctx, data, model};
use ebm::reference::{train_step, TrainState};
use ebm::train::Checkpoint;
use ebm::{
    Activation, Engine, Error, Model, Objective, Optimizer, Output, RefineConfig, TrainConfig,
    TrainData, Trainer,
};

fn params(m: &Model) -> Vec<f32> {
    m.flat_params()
}

/// How far the parameters moved from `start`.
fn moved(now: &[f32], start: &[f32]) -> Vec<f32> {
    now.iter().zip(start).map(|(a, b)| a - b).collect()
}

/// Data of `n` rows for `m`, never zeros.
fn train_data(m: &Model, n: usize, seed: u64) -> TrainData {
    TrainData {
        y: data(n * m.y_dim, 1.5, seed),
        x: data(n * m.x_dim, 1.0, seed + 1),
    }
}

/// A few settings that exercise every kernel of a step on a small batch.
fn small(objective: Objective, optimizer: Optimizer) -> TrainConfig {
    TrainConfig {
        objective,
        optimizer,
        alpha: 0.5,
        learning_rate: 0.01,
        weight_decay: 0.1,
        clip_grad_norm: Some(0.5),
        batch: 7,
        negatives: RefineConfig {
            steps: 4,
            step_size: 0.02,
            temperature: 0.5,
            ..RefineConfig::default()
        },
        replay: 11,
        reinit: 0.3,
        seed: 5,
        log_every: 2,
    }
}

/// `steps` steps on the GPU against the reference, weights compared after each `run`.
fn check_against_reference(what: &str, m: &Model, config: &TrainConfig, steps: u64) {
    let ctx = ctx();
    let data = train_data(m, 23, 3);
    let mut engine = Engine::new(&ctx, m).unwrap();
    engine.poison_outputs(true);
    let mut trainer = Trainer::new(engine, data.clone(), config).unwrap();
    let mut reference = TrainState::new(m, &data, config);
    for step in 0..steps {
        let stats = trainer.run(1, None).unwrap();
        let loss = train_step(&mut reference, &data, config, step);
        assert_eq!(stats.len(), 1);
        let got = trainer.model().unwrap();
        // The update is small beside the weights: compare what moved, not only where it is.
        let start = params(m);
        let want: Vec<f64> = reference
            .params
            .iter()
            .zip(&start)
            .map(|(r, s)| r - f64::from(*s))
            .collect();
        assert_close(
            &format!("{what}: weights' change after step {step}"),
            &moved(&params(&got), &start),
            &want,
        );
        let err = (f64::from(stats[0].loss) - loss).abs() / loss.abs().max(1e-3);
        assert!(
            err < 1e-3,
            "{what}: loss {} against {loss} at step {step}",
            stats[0].loss
        );
    }
}

#[test]
fn contrastive_divergence_with_adam_matches_the_reference() {
    let m = model(2, 3, &[5, 7], Activation::Silu, Output::Softplus, 1);
    let config = small(Objective::ContrastiveDivergence, Optimizer::ADAM);
    check_against_reference("cd adam", &m, &config, 4);
}

#[test]
fn short_run_negatives_and_every_sampler_match_the_reference() {
    let m = model(0, 2, &[9], Activation::Tanh, Output::Identity, 2);
    for sampler in [
        ebm::Sampler::Langevin,
        ebm::Sampler::Mala {
            adapt_steps: 2,
            target_accept: 0.6,
        },
        ebm::Sampler::KeepIfLower {
            shrink: 0.5,
            rise_tolerance: 0.0,
        },
    ] {
        let mut config = small(Objective::ContrastiveDivergence, Optimizer::Sgd);
        config.replay = 0;
        config.negatives.sampler = sampler;
        check_against_reference(&format!("short-run {sampler:?}"), &m, &config, 3);
    }
}

#[test]
fn noise_contrastive_estimation_with_sgd_matches_the_reference() {
    let m = model(1, 2, &[6, 3], Activation::Gelu, Output::Square, 4);
    let config = small(Objective::NoiseContrastive, Optimizer::Sgd);
    check_against_reference("nce sgd", &m, &config, 4);
}

/// The weights after `steps` steps of `config` from a fresh engine.
fn trained(m: &Model, data: &TrainData, config: &TrainConfig, steps: u64) -> Vec<f32> {
    let engine = Engine::new(&ctx(), m).unwrap();
    let mut trainer = Trainer::new(engine, data.clone(), config).unwrap();
    trainer.run(steps, None).unwrap();
    params(&trainer.model().unwrap())
}

#[test]
fn the_same_seed_gives_bit_identical_weights_and_another_seed_others() {
    let m = model(1, 2, &[16, 16], Activation::Silu, Output::Identity, 3);
    let data = train_data(&m, 200, 8);
    let config = TrainConfig {
        batch: 32,
        replay: 64,
        log_every: 3,
        ..small(Objective::ContrastiveDivergence, Optimizer::ADAM)
    };
    let a = trained(&m, &data, &config, 8);
    let b = trained(&m, &data, &config, 8);
    assert_eq!(a, b, "two runs of one seed differ");
    let c = trained(&m, &data, &TrainConfig { seed: 6, ..config }, 8);
    assert_ne!(a, c, "another seed gave the same weights");
    assert_ne!(a, params(&m), "training moved nothing");
}

#[test]
fn a_resumed_run_ends_with_the_uninterrupted_runs_weights() {
    let m = model(2, 3, &[12, 5], Activation::Relu, Output::Softplus, 9);
    let data = train_data(&m, 100, 4);
    let dir = tempfile::tempdir().unwrap();
    for config in [
        TrainConfig {
            batch: 16,
            replay: 40,
            ..small(Objective::ContrastiveDivergence, Optimizer::ADAM)
        },
        small(Objective::NoiseContrastive, Optimizer::Sgd),
    ] {
        let whole = trained(&m, &data, &config, 9);
        let engine = Engine::new(&ctx(), &m).unwrap();
        let mut first = Trainer::new(engine, data.clone(), &config).unwrap();
        first.run(4, None).unwrap();
        let path = dir.path().join("run.ckpt.safetensors");
        first.checkpoint().unwrap().save(&path).unwrap();
        drop(first);
        let checkpoint = Checkpoint::load(&path).unwrap();
        assert_eq!(checkpoint.step, 4);
        // A checkpoint is a model file too.
        assert_eq!(Model::load(&path).unwrap(), checkpoint.model);
        let engine = Engine::new(&ctx(), &checkpoint.model).unwrap();
        let mut second = Trainer::resume(engine, data.clone(), &config, &checkpoint).unwrap();
        second.run(5, None).unwrap();
        assert_eq!(second.step(), 9);
        assert_eq!(
            params(&second.model().unwrap()),
            whole,
            "{:?}: resumed run differs",
            config.objective
        );
        // Settings a resumed run must keep are refused with their names.
        let engine = Engine::new(&ctx(), &checkpoint.model).unwrap();
        let err = Trainer::resume(
            engine,
            data.clone(),
            &TrainConfig {
                seed: 99,
                ..config.clone()
            },
            &checkpoint,
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("TrainConfig::seed"), "{err}");
        // A checkpoint built in code is checked too.
        let mut short = checkpoint.clone();
        short.moments.pop();
        let engine = Engine::new(&ctx(), &checkpoint.model).unwrap();
        let err = Trainer::resume(engine, data.clone(), &config, &short)
            .err()
            .unwrap();
        assert!(err.to_string().contains("Checkpoint::moments"), "{err}");
        let engine = Engine::new(&ctx(), &m).unwrap();
        let err = Trainer::resume(engine, data.clone(), &config, &checkpoint)
            .err()
            .unwrap();
        assert!(err.to_string().contains("checkpoint's model"), "{err}");
    }
}

#[test]
fn divergence_stops_training_with_the_step_and_keeps_the_weights_before_it() {
    let m = model(0, 2, &[8], Activation::Silu, Output::Identity, 2);
    let data = train_data(&m, 50, 1);
    // Plain gradient descent with a huge step and no clipping: the weights overflow.
    let config = TrainConfig {
        learning_rate: 1e30,
        clip_grad_norm: None,
        log_every: 5,
        ..small(Objective::ContrastiveDivergence, Optimizer::Sgd)
    };
    let engine = Engine::new(&ctx(), &m).unwrap();
    let mut trainer = Trainer::new(engine, data, &config).unwrap();
    let err = trainer
        .run(20, None)
        .expect_err("training at lr 1e30 went on");
    let Error::Diverged { step, quantity } = &err else {
        panic!("not a divergence: {err}")
    };
    assert!(*step < 5, "halted at step {step}");
    assert!(!quantity.is_empty());
    let message = err.to_string();
    assert!(message.contains(&format!("step {step}")), "{message}");
    let kept = params(&trainer.model().unwrap());
    assert!(
        kept.iter().all(|v| v.is_finite()),
        "the weights kept are not finite"
    );
    // They are those of the step before the one named, bit for bit.
    let data = train_data(&m, 50, 1);
    assert_eq!(
        kept,
        trained(&m, &data, &config, *step),
        "not the weights before step {step}"
    );
    assert!(
        trainer.checkpoint().is_err(),
        "a diverged run gave a checkpoint"
    );
    assert!(trainer.run(1, None).is_err(), "a diverged run went on");
}

#[test]
fn bad_data_and_settings_are_refused_with_their_names() {
    let m = model(1, 2, &[4], Activation::Silu, Output::Identity, 2);
    let good = train_data(&m, 10, 1);
    let cases: Vec<(TrainData, TrainConfig, &str)> = vec![
        (
            TrainData {
                y: vec![],
                x: vec![],
            },
            TrainConfig::default(),
            "TrainData::y",
        ),
        (
            TrainData {
                y: vec![1.0; 5],
                x: good.x.clone(),
            },
            TrainConfig::default(),
            "TrainData::y",
        ),
        (
            TrainData {
                y: good.y.clone(),
                x: vec![1.0; 3],
            },
            TrainConfig::default(),
            "TrainData::x",
        ),
        (
            TrainData {
                y: [&[f32::NAN][..], &good.y[1..]].concat(),
                x: good.x.clone(),
            },
            TrainConfig::default(),
            "non-finite",
        ),
        (
            good.clone(),
            TrainConfig {
                learning_rate: 0.0,
                ..Default::default()
            },
            "TrainConfig::learning_rate",
        ),
        (
            good.clone(),
            TrainConfig {
                batch: 0,
                ..Default::default()
            },
            "TrainConfig::batch",
        ),
        (
            good.clone(),
            TrainConfig {
                replay: 3,
                batch: 8,
                ..Default::default()
            },
            "TrainConfig::replay",
        ),
        (
            good.clone(),
            TrainConfig {
                reinit: 1.5,
                ..Default::default()
            },
            "TrainConfig::reinit",
        ),
        (
            good.clone(),
            TrainConfig {
                alpha: f32::NAN,
                ..Default::default()
            },
            "TrainConfig::alpha",
        ),
        (
            good.clone(),
            TrainConfig {
                negatives: RefineConfig {
                    step_size: -1.0,
                    ..Default::default()
                },
                ..Default::default()
            },
            "TrainConfig::negatives",
        ),
        (
            good.clone(),
            TrainConfig {
                log_every: u32::MAX,
                ..Default::default()
            },
            "TrainConfig::log_every",
        ),
        (
            good.clone(),
            TrainConfig {
                batch: 20_000,
                replay: 0,
                ..Default::default()
            },
            "TrainConfig::batch",
        ),
    ];
    for (data, config, name) in cases {
        let engine = Engine::new(&ctx(), &m).unwrap();
        let err = Trainer::new(engine, data, &config).err().expect(name);
        assert!(err.to_string().contains(name), "{name}: {err}");
    }
}
