//! Every kernel path (one chain per invocation, workgroup tiles of each size, layered) held
//! to the float64 reference on lavapipe, forced one by one.

mod common;

use common::{assert_close, check_refine_on, ctx, data, model, paths};
use ebm::refine::{parse_stages, Shape};
use ebm::{reference, Activation, Engine, KernelPath, Output, PathChoice, RefineConfig, Schedule};

fn langevin() -> RefineConfig {
    RefineConfig {
        steps: 12,
        step_size: 0.02,
        temperature: 0.5,
        seed: 0xDEAD_BEEF_1234,
        prior_l2: 0.7,
        clamp: Some((-0.8, 0.9)),
        ..Default::default()
    }
}

/// Every schedule shape and staged schedules, with noise, on every path: eta and T change
/// at every step exactly as in the reference.
#[test]
fn every_path_follows_step_size_and_temperature_schedules() {
    let m = model(2, 5, &[24, 12], Activation::Tanh, Output::Identity, 31);
    let mut schedules: Vec<(String, Schedule)> = [Shape::Linear, Shape::Cosine, Shape::Geometric]
        .into_iter()
        .map(|shape| {
            let schedule = Schedule {
                shape,
                step_size_end: Some(0.005),
                temperature_end: Some(0.01),
                ..Default::default()
            };
            (shape.to_string(), schedule)
        })
        .collect();
    schedules.push((
        "stages".into(),
        Schedule {
            stages: parse_stages("4:0.08:1,4:0.02:0.1,2:0.01:0").unwrap(),
            ..Default::default()
        },
    ));
    for (name, schedule) in schedules {
        let cfg = RefineConfig {
            steps: 10,
            step_size: 0.08,
            temperature: 1.0,
            schedule,
            seed: 4,
            ..Default::default()
        };
        for path in paths(&m) {
            check_refine_on(
                PathChoice::Exactly(path),
                &m,
                21,
                &cfg,
                &format!("{path} {name}"),
            );
        }
    }
}

#[test]
fn every_path_matches_reference_with_noise_prior_and_clamp() {
    let m = model(3, 7, &[21, 10], Activation::Silu, Output::Softplus, 3);
    let all = paths(&m);
    assert_eq!(
        all[2..],
        [
            KernelPath::Tile { chains: 4 },
            KernelPath::Tile { chains: 32 }
        ],
        "lavapipe should fit tile4 to tile32 for this small model"
    );
    for path in all {
        // 99 chains: a ragged last tile for every tile size.
        let out = check_refine_on(
            PathChoice::Exactly(path),
            &m,
            99,
            &langevin(),
            &format!("{path}"),
        );
        assert_eq!(out.path, path);
    }
}

#[test]
fn every_path_matches_reference_on_every_activation_and_output() {
    for (i, act) in Activation::ALL.into_iter().enumerate() {
        let out = Output::ALL[i % Output::ALL.len()];
        let m = model(4, 6, &[33, 19], act, out, 60 + i as u64);
        let cfg = RefineConfig {
            steps: 6,
            step_size: 0.05,
            ..Default::default()
        };
        for path in [KernelPath::Tile { chains: 8 }, KernelPath::Layered] {
            check_refine_on(
                PathChoice::Exactly(path),
                &m,
                37,
                &cfg,
                &format!("{path} {act}/{out}"),
            );
        }
    }
}

#[test]
fn every_path_handles_odd_sizes_and_unconditional_models() {
    let cases: &[(usize, usize, &[usize], usize)] = &[
        (0, 1, &[1], 5),
        (0, 3, &[3, 17], 65),
        (17, 3, &[257], 13),
        (1, 17, &[3, 1, 257], 9),
        (2, 2, &[], 64),
    ];
    let cfg = RefineConfig {
        steps: 5,
        step_size: 0.05,
        temperature: 0.1,
        seed: 11,
        ..Default::default()
    };
    for (k, &(x_dim, y_dim, hidden, n)) in cases.iter().enumerate() {
        let m = model(
            x_dim,
            y_dim,
            hidden,
            Activation::Gelu,
            Output::Square,
            40 + k as u64,
        );
        for path in paths(&m) {
            let what = format!("{path} x{x_dim} y{y_dim} {hidden:?} n{n}");
            check_refine_on(PathChoice::Exactly(path), &m, n, &cfg, &what);
        }
    }
}

/// Noise is keyed by (seed, chain, step) on every path: the batch run whole, split into
/// chunks, or on another path draws the same numbers (bit-identical within a path).
#[test]
fn every_path_is_reproducible_and_independent_of_chunking() {
    let ctx = ctx();
    let m = model(2, 5, &[16], Activation::Tanh, Output::Identity, 9);
    let n = 150;
    let x = data(n * 2, 1.0, 1);
    let y0 = data(n * 5, 1.0, 2);
    let cfg = RefineConfig {
        steps: 8,
        step_size: 0.01,
        temperature: 1.0,
        seed: 42,
        ..Default::default()
    };
    let chain = Engine::with_path(&ctx, &m, PathChoice::Exactly(KernelPath::Chain))
        .unwrap()
        .refine(&x, &y0, &cfg)
        .unwrap();
    for path in paths(&m) {
        let mut engine = Engine::with_path(&ctx, &m, PathChoice::Exactly(path)).unwrap();
        let whole = engine.refine(&x, &y0, &cfg).unwrap();
        assert_eq!(whole.y, engine.refine(&x, &y0, &cfg).unwrap().y, "{path}");
        engine.set_max_chunk(37).unwrap();
        let split = engine.refine(&x, &y0, &cfg).unwrap();
        assert_eq!(whole.y, split.y, "{path}: chunking changed the result");
        assert_eq!(whole.energy, split.energy, "{path}");
        let diff = whole
            .y
            .iter()
            .zip(&chain.y)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(diff < 1e-4, "{path} drew other noise than chain: {diff}");
    }
}

/// The tile kernel's sums over lanes (narrow outputs, a narrow y, gradient clipping) with
/// subgroup operations and with the portable workgroup-memory version give the reference's
/// answer.
#[test]
fn tile_kernel_matches_reference_with_and_without_subgroups() {
    let ctx = ctx();
    let m = model(3, 3, &[40, 24], Activation::Silu, Output::Identity, 21);
    let n = 45;
    let x = data(n * 3, 1.0, 7);
    let y0 = data(n * 3, 1.0, 8);
    // Clipping sums over lanes too (with every thread as owner).
    let cfg = RefineConfig {
        clip_grad: Some(0.02),
        ..langevin()
    };
    let (y, energy) = reference::refine(&m, &x, &y0, &cfg);
    for chains in [4, 16] {
        let path = PathChoice::Exactly(KernelPath::Tile { chains });
        let mut engine = Engine::with_path(&ctx, &m, path).unwrap();
        engine.poison_outputs(true);
        let mut modes = vec![engine.uses_subgroups()];
        if engine.uses_subgroups() {
            engine.set_subgroups(false).unwrap();
            modes.push(false);
        }
        for subgroups in modes {
            engine.set_subgroups(subgroups).unwrap();
            assert_eq!(engine.uses_subgroups(), subgroups);
            let gpu = engine.refine(&x, &y0, &cfg).unwrap();
            let what = format!("tile{chains}, subgroups {subgroups}");
            assert_close(&format!("{what}: y"), &gpu.y, &y);
            assert_close(&format!("{what}: energy"), &gpu.energy, &energy);
        }
    }
}

/// Gradient clipping by per-chain norm on every path (with noise): the same trajectories
/// as the reference; and without noise, no step moves a chain further than eta * clip.
/// (This model's gradient norms are 0.018 to 0.033 at y0.)
#[test]
fn every_path_clips_gradients_per_chain() {
    let ctx = ctx();
    let m = model(2, 6, &[20, 12], Activation::Silu, Output::Square, 17);
    let clipped = RefineConfig {
        steps: 8,
        step_size: 0.05,
        temperature: 0.2,
        seed: 3,
        clip_grad: Some(0.025),
        ..Default::default()
    };
    let n = 23;
    let x = data(n * 2, 1.0, 7);
    let y0 = data(n * 6, 1.0, 8);
    for path in paths(&m) {
        check_refine_on(
            PathChoice::Exactly(path),
            &m,
            n,
            &clipped,
            &format!("{path} clipped"),
        );
        let engine = Engine::with_path(&ctx, &m, PathChoice::Exactly(path)).unwrap();
        let one = RefineConfig {
            steps: 1,
            temperature: 0.0,
            ..clipped.clone()
        };
        let unclipped = engine
            .refine(
                &x,
                &y0,
                &RefineConfig {
                    clip_grad: None,
                    ..one.clone()
                },
            )
            .unwrap();
        let stepped = engine.refine(&x, &y0, &one).unwrap();
        let norm = |a: &[f32], c: usize| -> f64 {
            (0..6)
                .map(|k| f64::from(a[c * 6 + k] - y0[c * 6 + k]).powi(2))
                .sum::<f64>()
                .sqrt()
        };
        let bound = 0.05 * 0.025;
        let mut clipped_chains = 0;
        for c in 0..n {
            assert!(
                norm(&stepped.y, c) <= bound * (1.0 + 1e-4),
                "{path} chain {c}"
            );
            if norm(&unclipped.y, c) > bound * 1.01 {
                clipped_chains += 1;
            }
        }
        // This clip binds for some chains and not others: both branches run.
        assert!(
            (3..n - 3).contains(&clipped_chains),
            "{path}: the clip binds for {clipped_chains} chains of {n}"
        );
    }
}

/// Refines with held coordinates on every path (buffers poisoned), holds each result to
/// the float64 reference, and returns them for the caller's own checks.
fn refine_fixed_on_every_path(
    m: &ebm::Model,
    x: &[f32],
    y0: &[f32],
    fixed: &[bool],
    cfg: &RefineConfig,
    what: &str,
) -> Vec<(KernelPath, ebm::Refinement)> {
    let ctx = ctx();
    let (y, energy) = reference::refine_fixed(m, x, y0, Some(fixed), cfg);
    paths(m)
        .into_iter()
        .map(|path| {
            let mut engine = Engine::with_path(&ctx, m, PathChoice::Exactly(path)).unwrap();
            engine.poison_outputs(true);
            let gpu = engine.refine_fixed(x, y0, Some(fixed), cfg).unwrap();
            assert_close(&format!("{path} {what}: y"), &gpu.y, &y);
            assert_close(&format!("{path} {what}: energy"), &gpu.energy, &energy);
            (path, gpu)
        })
        .collect()
}

/// Held coordinates (a per-chain mask, like a puzzle's clues) never move, on every path, and
/// the free ones follow the reference, clipping and noise included.
#[test]
fn every_path_holds_fixed_coordinates() {
    let ctx = ctx();
    let m = model(2, 7, &[18, 9], Activation::Gelu, Output::Identity, 23);
    let n = 29;
    let x = data(n * 2, 1.0, 7);
    let y0 = data(n * 7, 1.0, 8);
    let mut rng = ebm::rng::HostRng::new(5, 5);
    let fixed: Vec<bool> = (0..n * 7).map(|_| rng.symmetric() > 0.3).collect();
    assert!(fixed.iter().any(|&f| f) && fixed.iter().any(|&f| !f));
    let cfg = RefineConfig {
        steps: 9,
        step_size: 0.05,
        temperature: 0.3,
        seed: 8,
        clip_grad: Some(0.02),
        ..Default::default()
    };
    for (path, gpu) in refine_fixed_on_every_path(&m, &x, &y0, &fixed, &cfg, "fixed") {
        for (i, held) in fixed.iter().enumerate() {
            if *held {
                assert_eq!(gpu.y[i], y0[i], "{path}: held coordinate {i} moved");
            }
        }
    }
    let err = Engine::new(&ctx, &m)
        .unwrap()
        .refine_fixed(&x, &y0, Some(&fixed[1..]), &cfg)
        .unwrap_err()
        .to_string();
    assert!(err.contains("fixed") && err.contains("need 203"), "{err}");
}

/// Simplex projection of groups of coordinates on every path: rows end on the simplex,
/// groups with a held coordinate stay as given, the rest follow the reference.
#[test]
fn every_path_projects_groups_onto_the_simplex() {
    let ctx = ctx();
    let m = model(3, 12, &[20, 10], Activation::Silu, Output::Softplus, 29);
    let n = 21;
    let x = data(n * 3, 1.0, 7);
    let y0 = data(n * 12, 1.0, 8);
    // Chain c holds its group c % 4 (of 3 coordinates) fixed.
    let fixed: Vec<bool> = (0..n * 12).map(|i| (i % 12) / 3 == (i / 12) % 4).collect();
    let cfg = RefineConfig {
        steps: 7,
        step_size: 0.05,
        temperature: 0.2,
        seed: 12,
        simplex: Some(3),
        ..Default::default()
    };
    for (path, gpu) in refine_fixed_on_every_path(&m, &x, &y0, &fixed, &cfg, "simplex") {
        for (b, group) in gpu.y.chunks(3).enumerate() {
            if fixed[3 * b] {
                assert_eq!(group, &y0[3 * b..3 * b + 3], "{path}: held group {b} moved");
            } else {
                let sum: f32 = group.iter().sum();
                assert!(group.iter().all(|&v| v >= 0.0), "{path}: {group:?}");
                assert!((sum - 1.0).abs() < 1e-5, "{path}: group {b} sums to {sum}");
            }
        }
    }
    let bad = RefineConfig {
        simplex: Some(5),
        ..cfg
    };
    let err = Engine::new(&ctx, &m)
        .unwrap()
        .refine(&x, &y0, &bad)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("RefineConfig::simplex") && err.contains("y_dim 12"),
        "{err}"
    );
}

#[test]
fn a_tile_that_does_not_fit_is_refused_by_name() {
    let ctx = ctx();
    let wide = model(4, 4, &[4000], Activation::Relu, Output::Identity, 1);
    let err = Engine::with_path(
        &ctx,
        &wide,
        PathChoice::Exactly(KernelPath::Tile { chains: 4 }),
    )
    .err()
    .expect("a 4000-wide layer does not fit the tile kernel")
    .to_string();
    assert!(err.contains("PathChoice") && err.contains("tile4"), "{err}");
    assert_eq!(
        "tile64".parse::<PathChoice>().unwrap_err(),
        "unknown kernel path \"tile64\"; expected auto, chain, tile, tile4, tile8, tile16, tile32 or layered"
    );
}
