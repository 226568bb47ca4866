//! The inference options inside the GPU loop, on every kernel path, held to the float64
//! reference (`reference::refine_full`): keep-if-lower descent, MALA's accept test and
//! step-size adaptation, early stopping by each test, and the per-step trace.

mod common;

use common::{check_options_on, ctx, model};
use ebm::{
    Activation, Engine, KernelPath, Model, Output, PathChoice, RefineConfig, Sampler, StopRule,
};

/// Chain, layered, and the smallest and largest tile this adapter fits for `m`.
fn paths(m: &Model) -> Vec<PathChoice> {
    common::paths(m)
        .into_iter()
        .map(PathChoice::Exactly)
        .collect()
}

fn test_model() -> Model {
    model(3, 6, &[20, 12], Activation::Silu, Output::Softplus, 41)
}

/// Keep-if-lower with and without noise: refused steps leave y as it was and shrink the
/// chain's step size, accepted ones grow it back (up to the given size); accepted counts and step sizes match the reference exactly. Few,
/// large steps: near a minimum the energy change falls under float32's resolution, where
/// float32 and float64 may decide differently.
#[test]
fn keep_if_lower_matches_the_reference_on_every_path() {
    let m = model(3, 6, &[20, 12], Activation::Tanh, Output::Identity, 43);
    for temperature in [0.0, 0.05] {
        let cfg = RefineConfig {
            steps: 5,
            step_size: 8.0,
            temperature,
            seed: 9,
            prior_l2: 0.3,
            sampler: Sampler::KeepIfLower {
                shrink: 0.5,
                rise_tolerance: 0.0,
            },
            ..Default::default()
        };
        for path in paths(&m) {
            let what = format!("keep-if-lower T={temperature} on {path:?}");
            let (gpu, want) = check_options_on(path, &m, 37, &cfg, None, &what);
            // The step is large enough that some steps are refused, but not all.
            let refused: u32 = gpu.accepted.iter().map(|&a| cfg.steps - a).sum();
            assert!(refused > 0, "{what}: no step was refused");
            assert!(gpu.accepted.iter().any(|&a| a > 0), "{what}: no step kept");
            assert!(want.step_scale.iter().any(|&s| s < 1.0));
            // Accepted steps grew some shrunk step size back: by 1 / sqrt(0.5), so its
            // multiplier is an odd power of sqrt(2), not a power of 2.
            assert!(
                gpu.step_scale
                    .iter()
                    .any(|&s| s < 1.0 && (f64::from(s).log2() * 2.0).round() as i64 % 2 != 0),
                "{what}: no step size grew back: {:?}",
                gpu.step_scale
            );
        }
    }
}

/// An energy far from 0, as IRED's are: |f|^2 with f's outputs offset by 30, so U is about
/// 3600 and float32 resolves it only to about 2e-4, while f's rounding moves it by more.
fn offset_energy() -> Model {
    let mut m = model(3, 6, &[20, 12], Activation::Tanh, Output::Square, 43);
    let bias = common::last_linear(&mut m)
        .pop()
        .expect("the last linear's bias");
    bias.data.iter_mut().for_each(|b| *b += 30.0);
    m
}

/// Keep-if-lower with a rise tolerance on an energy far from 0, on every path against the
/// reference (float64, which resolves every step). Small steps lower U by about as much as
/// float32's rounding of it: with the tolerance every one is kept, as the reference keeps
/// it (without it float32 refuses some by rounding, and this test fails: checked with a
/// tolerance of 0). Large steps overshoot the prior's minimum and raise U by far more than
/// the tolerance: still refused.
#[test]
fn keep_if_lower_rise_tolerance_matches_the_reference_on_every_path() {
    let m = offset_energy();
    let rise_tolerance = 1e-6;
    for (step_size, all_kept) in [(2e-6, true), (8.0, false)] {
        let cfg = RefineConfig {
            steps: 8,
            step_size,
            seed: 9,
            prior_l2: 0.3,
            sampler: Sampler::KeepIfLower {
                shrink: 0.5,
                rise_tolerance,
            },
            ..Default::default()
        };
        for path in paths(&m) {
            let what = format!(
                "keep-if-lower, step size {step_size}, tolerance {rise_tolerance} on {path:?}"
            );
            let (gpu, _) = check_options_on(path, &m, 37, &cfg, None, &what);
            let refused: u32 = gpu.accepted.iter().map(|&a| cfg.steps - a).sum();
            assert_eq!(refused == 0, all_kept, "{what}: {refused} steps refused");
        }
    }
}

/// Keep-if-lower never lets a chain's energy rise (noise off), on the fused default path.
#[test]
fn keep_if_lower_never_raises_the_energy() {
    let m = test_model();
    let engine = Engine::new(&ctx(), &m).unwrap();
    let n = 64;
    let x = common::data(n * m.x_dim, 1.0, 3);
    let y0 = common::data(n * m.y_dim, 1.0, 4);
    let start = engine.eval(&x, &y0).unwrap().energy;
    let cfg = RefineConfig {
        steps: 30,
        step_size: 2.0,
        sampler: Sampler::KeepIfLower {
            shrink: 0.5,
            rise_tolerance: 0.0,
        },
        ..Default::default()
    };
    let out = engine.refine(&x, &y0, &cfg).unwrap();
    for (c, (&e0, &e)) in start.iter().zip(&out.energy).enumerate() {
        assert!(e <= e0, "chain {c}: energy rose from {e0} to {e}");
    }
}

/// MALA with adaptation on: the accept decisions, acceptance counts and adapted step sizes
/// match the reference draw for draw.
#[test]
fn mala_matches_the_reference_on_every_path() {
    let m = test_model();
    let cfg = RefineConfig {
        steps: 12,
        step_size: 0.05,
        temperature: 0.2,
        seed: 77,
        prior_l2: 0.5,
        sampler: Sampler::Mala {
            adapt_steps: 6,
            target_accept: 0.574,
        },
        ..Default::default()
    };
    for path in paths(&m) {
        let what = format!("MALA on {path:?}");
        let (gpu, _) = check_options_on(path, &m, 29, &cfg, None, &what);
        let rate: f32 = gpu.acceptance_rate().iter().sum::<f32>() / 29.0;
        assert!(rate > 0.05 && rate < 0.999, "{what}: acceptance {rate}");
    }
}

/// Each stop test alone, and all three with keep-if-lower, with held coordinates: some
/// chains stop early and some do not, at the same step as in the reference, and stopped
/// chains keep the y they stopped with.
#[test]
fn early_stopping_matches_the_reference_on_every_path() {
    let m = test_model();
    let n = 40;
    let fixed: Vec<bool> = (0..n * m.y_dim).map(|i| i % 7 == 3).collect();
    let base = RefineConfig {
        steps: 25,
        step_size: 0.3,
        prior_l2: 0.4,
        ..Default::default()
    };
    // Thresholds placed inside the range the chains go through, from a reference run.
    let probe = ebm::reference::refine_full(
        &m,
        &common::data(n * m.x_dim, 1.0, 17),
        &common::data(n * m.y_dim, 1.0, 18),
        Some(&fixed),
        &RefineConfig {
            trace: true,
            ..base.clone()
        },
    );
    // Medians over the chains at the last step: about half the chains get there. Midway
    // between the two middle chains, never one chain's own value, so that no chain's
    // decision turns on float32 rounding (a median equal to a chain's energy did on
    // SwiftShader).
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (0.5 * (v[v.len() / 2 - 1] + v[v.len() / 2])) as f32
    };
    let (last, before) = (&probe.trace[24], &probe.trace[23]);
    let below = median(last.iter().map(|t| t.0).collect());
    let grad = median(last.iter().map(|t| t.1).collect());
    let change = median(
        last.iter()
            .zip(before)
            .map(|(a, b)| (a.0 - b.0).abs())
            .collect(),
    );
    let rules = [
        (
            "grad",
            StopRule {
                grad: Some(grad),
                ..Default::default()
            },
            Sampler::Langevin,
        ),
        (
            "change",
            StopRule {
                change: Some(change),
                ..Default::default()
            },
            Sampler::Langevin,
        ),
        (
            "below",
            StopRule {
                below: Some(below),
                ..Default::default()
            },
            Sampler::Langevin,
        ),
        (
            "all three, keep-if-lower",
            StopRule {
                grad: Some(grad),
                change: Some(change),
                below: Some(below),
            },
            Sampler::KeepIfLower {
                shrink: 0.5,
                rise_tolerance: 0.0,
            },
        ),
    ];
    for (name, stop, sampler) in rules {
        let cfg = RefineConfig {
            stop,
            sampler,
            trace: true,
            ..base.clone()
        };
        for path in paths(&m) {
            let what = format!("stop on {name}, {path:?}");
            let (gpu, _) = check_options_on(path, &m, n, &cfg, Some(&fixed), &what);
            let stopped = gpu.steps_taken.iter().filter(|&&s| s < cfg.steps).count();
            assert!(
                stopped > 0 && stopped < n,
                "{what}: {stopped} of {n} chains stopped"
            );
        }
    }
}

/// Every chain stopping before its first step (whole tiles and workgroups of stopped
/// chains skip their work): y stays y0 bit for bit, and the final energies are still
/// computed for every chain.
#[test]
fn chains_stopped_at_the_start_keep_y0_on_every_path() {
    let m = test_model();
    let n = 40;
    let cfg = RefineConfig {
        steps: 6,
        step_size: 0.3,
        stop: StopRule {
            below: Some(1e6),
            ..Default::default()
        },
        trace: true,
        ..Default::default()
    };
    for path in paths(&m) {
        let what = format!("all stopped on {path:?}");
        let (gpu, _) = check_options_on(path, &m, n, &cfg, None, &what);
        assert!(gpu.steps_taken.iter().all(|&s| s == 0), "{what}");
        assert_eq!(gpu.y, common::data(n * m.y_dim, 1.0, 18), "{what}: y moved");
    }
}

/// The trace with noise on: step 0 is the start, energies and gradient norms follow the
/// reference step by step.
#[test]
fn trace_matches_the_reference_on_every_path() {
    let m = test_model();
    let cfg = RefineConfig {
        steps: 9,
        step_size: 0.1,
        temperature: 0.05,
        seed: 5,
        prior_l2: 0.2,
        trace: true,
        ..Default::default()
    };
    for path in paths(&m) {
        let what = format!("trace on {path:?}");
        let (gpu, _) = check_options_on(path, &m, 70, &cfg, None, &what);
        let rows = gpu.trace.unwrap();
        assert_eq!(rows.len(), 9);
        assert!(rows
            .iter()
            .all(|r| r.min_energy <= r.mean_energy && r.mean_energy <= r.max_energy));
        assert!(
            rows[8].mean_energy < rows[0].mean_energy,
            "{what}: descent did not descend"
        );
    }
}

/// A batch split into chunks gives the same trace and stops as one dispatch.
#[test]
fn chunked_batches_give_the_same_options_results() {
    let m = test_model();
    let cfg = RefineConfig {
        steps: 10,
        step_size: 0.3,
        sampler: Sampler::KeepIfLower {
            shrink: 0.5,
            rise_tolerance: 0.0,
        },
        stop: StopRule {
            change: Some(1e-3),
            ..Default::default()
        },
        trace: true,
        ..Default::default()
    };
    let ctx = ctx();
    let n = 50;
    let x = common::data(n * m.x_dim, 1.0, 1);
    let y0 = common::data(n * m.y_dim, 1.0, 2);
    let whole = Engine::new(&ctx, &m)
        .unwrap()
        .refine(&x, &y0, &cfg)
        .unwrap();
    let mut chunked = Engine::new(&ctx, &m).unwrap();
    chunked.set_max_chunk(16).unwrap();
    let parts = chunked.refine(&x, &y0, &cfg).unwrap();
    assert_eq!(whole.y, parts.y);
    assert_eq!(whole.steps_taken, parts.steps_taken);
    assert_eq!(whole.accepted, parts.accepted);
    let (a, b) = (whole.trace.unwrap(), parts.trace.unwrap());
    for (r, s) in a.iter().zip(&b) {
        assert_eq!((r.min_energy, r.max_energy), (s.min_energy, s.max_energy));
        assert!((r.mean_energy - s.mean_energy).abs() <= 1e-6 * r.mean_energy.abs().max(1.0));
    }
}

/// On llvmpipe a long refinement runs as several dispatches (its loop limit): the chain
/// state, the kept energy and gradient of accept rules, stops and the trace carry across
/// them exactly as in one.
#[test]
fn options_carry_across_dispatches() {
    let m = model(4, 8, &[96, 96], Activation::Silu, Output::Softplus, 44);
    let ctx = ctx();
    let path = KernelPath::Chain;
    let base = RefineConfig {
        step_size: 0.2,
        temperature: 0.02,
        seed: 12,
        prior_l2: 0.2,
        stop: StopRule {
            change: Some(1e-4),
            ..Default::default()
        },
        trace: true,
        ..Default::default()
    };
    for sampler in [
        Sampler::Langevin,
        Sampler::KeepIfLower {
            shrink: 0.5,
            rise_tolerance: 0.0,
        },
        Sampler::Mala {
            adapt_steps: 4,
            target_accept: 0.574,
        },
    ] {
        let mut cfg = RefineConfig {
            sampler,
            ..base.clone()
        };
        let spd = ebm::testing::steps_per_dispatch(
            ctx.adapter_info(),
            &ctx.limits(),
            &ebm::testing::Compiled::new(&m).unwrap(),
            path,
            &cfg,
        );
        cfg.steps = if spd == u32::MAX { 20 } else { 2 * spd + 3 };
        if ebm::testing::is_llvmpipe(ctx.adapter_info()) {
            assert!(spd < cfg.steps / 2, "{spd} steps per dispatch: no split");
        }
        let what = format!("{sampler:?} over dispatches of {spd} steps");
        check_options_on(PathChoice::Exactly(path), &m, 16, &cfg, None, &what);
    }
}

/// MALA's warm-up by dual averaging settles in tens of steps: from a step size 300 times
/// too small (acceptance near 1), about right, or 10 times too large (near 0), 50 warm-up
/// steps bring the acceptance of the 300 steps after them to within 0.1 of the 0.574
/// target, averaged over 256 chains (lavapipe: 0.62 to 0.65 after, and the three reach
/// step sizes within 7% of each other).
#[test]
fn mala_warmup_reaches_the_target_acceptance_in_tens_of_steps() {
    let m = test_model();
    let engine = Engine::new(&ctx(), &m).unwrap();
    let n = 256;
    let x = common::data(n * m.x_dim, 1.0, 5);
    let y0 = common::data(n * m.y_dim, 1.0, 6);
    // A step size that MALA accepts about 0.57 of the time here, then far from it both ways.
    for step_size in [0.002, 0.6, 6.0] {
        let cfg = RefineConfig {
            steps: 350,
            step_size,
            temperature: 0.1,
            // A prior that confines every chain: where the energy alone is flat (its
            // softplus output saturated), any step would be accepted at any size.
            prior_l2: 1.0,
            seed: 21,
            sampler: Sampler::Mala {
                adapt_steps: 50,
                target_accept: 0.574,
            },
            ..Default::default()
        };
        let out = engine.refine(&x, &y0, &cfg).unwrap();
        let (during, after) = out.warmup_and_after_acceptance(50);
        let mean = |v: &[f32]| v.iter().map(|&a| f64::from(a)).sum::<f64>() / v.len() as f64;
        let (during, after) = (mean(&during), mean(&after));
        let reached = out
            .step_scale
            .iter()
            .map(|&a| f64::from(a).ln())
            .sum::<f64>()
            / n as f64;
        let reached = f64::from(step_size) * reached.exp();
        eprintln!("step size {step_size}: acceptance {during:.3} in the warm-up, {after:.3} after, step size reached {reached:.3} (geometric mean)");
        assert!(
            (after - 0.574).abs() < 0.1,
            "step size {step_size}: acceptance {after} after the warm-up"
        );
        assert!(out.warmup_accepted.iter().all(|&w| w <= 50));
    }
}
