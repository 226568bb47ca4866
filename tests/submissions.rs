//! A refinement runs as submissions of at most `RefineConfig::dispatch_ms` (watchdogs kill
//! longer ones on display GPUs): results are bit-identical whatever the split, on every
//! path and for every sampler; progress is reported between submissions and can cancel,
//! returning what was done with each chain's steps told truly; a lost device is an error,
//! never a hang or a panic.

mod common;

use std::ops::ControlFlow;

use common::{ctx, data, model, paths};
use ebm::{
    Activation, Context, Engine, Error, KernelPath, Output, PathChoice, Progress, RefineConfig,
    Refinement, Sampler, StopRule,
};

fn configs() -> Vec<(&'static str, RefineConfig)> {
    let base = RefineConfig {
        steps: 9,
        step_size: 0.05,
        temperature: 0.3,
        seed: 77,
        prior_l2: 0.2,
        trace: true,
        dispatch_ms: None,
        ..Default::default()
    };
    vec![
        (
            "langevin, clamp, stop-change",
            RefineConfig {
                clamp: Some((-0.9, 0.9)),
                stop: StopRule {
                    change: Some(1e-4),
                    ..Default::default()
                },
                ..base.clone()
            },
        ),
        (
            "mala with adaptation",
            RefineConfig {
                sampler: Sampler::Mala {
                    adapt_steps: 4,
                    target_accept: 0.6,
                },
                ..base.clone()
            },
        ),
        (
            "keep-if-lower, stop-below",
            RefineConfig {
                step_size: 2.0,
                sampler: Sampler::KeepIfLower {
                    shrink: 0.5,
                    rise_tolerance: 0.0,
                },
                stop: StopRule {
                    below: Some(0.5),
                    ..Default::default()
                },
                ..base
            },
        ),
    ]
}

/// Everything a refinement returns, compared bit for bit.
fn assert_identical(a: &Refinement, b: &Refinement, what: &str) {
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a.y), bits(&b.y), "{what}: y");
    assert_eq!(bits(&a.energy), bits(&b.energy), "{what}: energy");
    assert_eq!(a.steps_taken, b.steps_taken, "{what}: stopped at");
    assert_eq!(a.accepted, b.accepted, "{what}: accepted");
    assert_eq!(
        bits(&a.step_scale),
        bits(&b.step_scale),
        "{what}: step scale"
    );
    assert_eq!(a.trace, b.trace, "{what}: trace");
    assert_eq!(a.non_finite_at, b.non_finite_at, "{what}: non-finite");
}

#[test]
fn results_do_not_depend_on_how_a_refinement_is_split() {
    let m = model(2, 6, &[24, 12], Activation::Silu, Output::Softplus, 61);
    let n = 45;
    let x = data(n * m.x_dim, 1.0, 62);
    let y0 = data(n * m.y_dim, 1.0, 63);
    for path in paths(&m) {
        let mut engine = Engine::with_path(&ctx(), &m, PathChoice::Exactly(path)).unwrap();
        engine.poison_outputs(true);
        for (name, cfg) in configs() {
            let whole = engine.refine(&x, &y0, &cfg).unwrap();
            assert!(!whole.cancelled);
            // Every submission one step: the smallest budget there is.
            let mut reports = 0;
            let tiny = RefineConfig {
                dispatch_ms: Some(1e-6),
                ..cfg.clone()
            };
            let mut count = |_: &Progress| {
                reports += 1;
                ControlFlow::Continue(())
            };
            let split = engine
                .refine_with(&x, &y0, None, &tiny, Some(&mut count))
                .unwrap();
            assert_identical(
                &whole,
                &split,
                &format!("{path} {name}, one step a submission"),
            );
            assert_eq!(reports, cfg.steps, "{path} {name}: a report per submission");
            let budget = RefineConfig {
                dispatch_ms: Some(0.5),
                ..cfg.clone()
            };
            let paced = engine.refine(&x, &y0, &budget).unwrap();
            assert_identical(&whole, &paced, &format!("{path} {name}, 0.5 ms budget"));
            // Fused paths: several dispatches in one submission too.
            for steps in [1, 4] {
                engine.set_steps_per_dispatch(steps);
                let runs = engine.refine(&x, &y0, &budget).unwrap();
                assert_identical(
                    &whole,
                    &runs,
                    &format!("{path} {name}, {steps} steps a dispatch"),
                );
            }
            engine.set_steps_per_dispatch(0);
        }
    }
}

/// Cancelling after s steps gives what s steps of the same refinement give (the noise is
/// keyed by the global step), marked cancelled; chunks not started keep y0 and took no step.
#[test]
fn a_cancelled_refinement_returns_what_it_did() {
    let m = model(3, 5, &[16], Activation::Tanh, Output::Identity, 71);
    let n = 30;
    let x = data(n * m.x_dim, 1.0, 72);
    let y0 = data(n * m.y_dim, 1.0, 73);
    let cfg = RefineConfig {
        steps: 40,
        step_size: 0.05,
        temperature: 0.2,
        seed: 5,
        trace: true,
        dispatch_ms: Some(1e-6),
        ..Default::default()
    };
    for path in [
        KernelPath::Chain,
        KernelPath::Layered,
        KernelPath::Tile { chains: 8 },
    ] {
        let mut engine = Engine::with_path(&ctx(), &m, PathChoice::Exactly(path)).unwrap();
        let mut seen = Vec::new();
        let mut stop_at_7 = |p: &Progress| {
            seen.push(*p);
            if p.steps_done >= 7 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        };
        let cut = engine
            .refine_with(&x, &y0, None, &cfg, Some(&mut stop_at_7))
            .unwrap();
        assert!(cut.cancelled, "{path}");
        assert!(
            cut.steps_taken.iter().all(|&s| s == 7),
            "{path}: {:?}",
            cut.steps_taken
        );
        assert_eq!(seen.len(), 7, "{path}");
        assert!(seen.iter().all(|p| p.steps_total == 40), "{path}");
        assert!(seen.windows(2).all(|w| w[0].steps_done < w[1].steps_done));
        assert!(seen.windows(2).all(|w| w[0].elapsed <= w[1].elapsed));
        let seven = engine
            .refine(
                &x,
                &y0,
                &RefineConfig {
                    steps: 7,
                    ..cfg.clone()
                },
            )
            .unwrap();
        assert!(!seven.cancelled);
        assert_identical(&seven, &cut, &format!("{path}: cancelled at 7 vs 7 steps"));

        // Three chunks; cancelled in the first: the others never start.
        engine.set_max_chunk(10).unwrap();
        let mut stop = |p: &Progress| {
            assert_eq!(p.steps_total, 120);
            if p.steps_done >= 3 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        };
        let cut = engine
            .refine_with(&x, &y0, None, &cfg, Some(&mut stop))
            .unwrap();
        assert!(cut.cancelled);
        assert!(cut.steps_taken[..10].iter().all(|&s| s == 3), "{path}");
        assert!(cut.steps_taken[10..].iter().all(|&s| s == 0), "{path}");
        assert_eq!(
            cut.y[10 * m.y_dim..],
            y0[10 * m.y_dim..],
            "{path}: untouched chunks"
        );
        // The trace covers the steps every chunk reached: none.
        assert_eq!(cut.trace.as_ref().map(Vec::len), Some(0));
        let start = engine
            .refine(
                &x,
                &y0,
                &RefineConfig {
                    steps: 0,
                    trace: false,
                    ..cfg.clone()
                },
            )
            .unwrap();
        assert_eq!(cut.energy[10..], start.energy[10..], "{path}: energy of y0");
    }
}

/// Destroying the device in the middle of a refinement (as a driver reset or a watchdog
/// would) gives an error that says so, then and on every later call; never a hang.
#[test]
fn a_lost_device_is_an_error() {
    let ctx = Context::new().unwrap();
    let m = model(2, 4, &[16], Activation::Silu, Output::Identity, 81);
    let engine = Engine::new(&ctx, &m).unwrap();
    let n = 20;
    let x = data(n * m.x_dim, 1.0, 82);
    let y0 = data(n * m.y_dim, 1.0, 83);
    let cfg = RefineConfig {
        steps: 50,
        dispatch_ms: Some(1e-6),
        ..Default::default()
    };
    let device = ctx.device().clone();
    let mut destroy = |p: &Progress| {
        if p.steps_done == 2 {
            device.destroy();
        }
        ControlFlow::Continue(())
    };
    let err = engine
        .refine_with(&x, &y0, None, &cfg, Some(&mut destroy))
        .unwrap_err();
    assert!(matches!(err, Error::DeviceLost { .. }), "{err}");
    assert!(err.to_string().contains("was lost"), "{err}");
    assert!(ctx.lost().is_some());
    let again = engine.refine(&x, &y0, &cfg).unwrap_err();
    assert!(matches!(again, Error::DeviceLost { .. }), "{again}");
    let eval = engine.eval(&x, &y0).unwrap_err();
    assert!(matches!(eval, Error::DeviceLost { .. }), "{eval}");
    let fresh = Engine::new(&ctx, &m)
        .err()
        .expect("a lost device refuses new engines");
    assert!(matches!(fresh, Error::DeviceLost { .. }), "{fresh}");
}

/// A step size that sends every chain to infinity is an error naming how many chains, which
/// and at which step; asked for, the chains come back with the step each diverged at.
#[test]
fn non_finite_chains_are_reported_on_every_path() {
    let m = model(2, 6, &[20, 12], Activation::Silu, Output::Softplus, 91);
    let n = 21;
    let x = data(n * m.x_dim, 1.0, 92);
    let y0 = data(n * m.y_dim, 1.0, 93);
    // y <- (1 - eta lambda) y - eta dE/dy: |y| grows by about 1e30 a step, past float32's
    // range at the second step.
    let cfg = RefineConfig {
        steps: 5,
        step_size: 1e30,
        prior_l2: 1.0,
        ..Default::default()
    };
    for path in paths(&m) {
        let engine = Engine::with_path(&ctx(), &m, PathChoice::Exactly(path)).unwrap();
        let err = engine.refine(&x, &y0, &cfg).unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(
                err,
                Error::NonFinite {
                    count: 21,
                    total: 21,
                    ..
                }
            ),
            "{path}: {text}"
        );
        assert!(text.contains("chain 0 at step 1"), "{path}: {text}");
        let kept = engine
            .refine(
                &x,
                &y0,
                &RefineConfig {
                    keep_non_finite: true,
                    ..cfg.clone()
                },
            )
            .unwrap();
        assert!(
            kept.non_finite_at.iter().all(|&s| s == Some(1)),
            "{path}: {:?}",
            kept.non_finite_at
        );
        // Small steps stay finite.
        let fine = engine
            .refine(
                &x,
                &y0,
                &RefineConfig {
                    step_size: 0.01,
                    ..cfg.clone()
                },
            )
            .unwrap();
        assert!(fine.non_finite_at.iter().all(Option::is_none), "{path}");
    }
}
