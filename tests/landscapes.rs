//! Energies E(x, y, t) of a landscape index t, and schedules whose stages set t and the
//! clamp range: every path held to the float64 reference across stage boundaries, both a
//! boundary inside one submission and boundaries between submissions, with Langevin and
//! keep-if-lower (which compares energies of one landscape only).

mod common;

use common::{assert_close, check_options_on, ctx, data, paths};
use ebm::energy::samples;
use ebm::refine::{Schedule, Stage};
use ebm::{reference, Engine, GraphBuilder, Head, Model, PathChoice, RefineConfig, Sampler};

/// IRED's energy scaled down: FiLM of hidden layers of concat(x, y) by an embedding of t.
fn film_by_t() -> Model {
    samples::film_by_t(3, 4, 12, 5)
}

/// Three stages: two set their own landscape and clamp range, the last takes the
/// refinement's; with keep-if-lower, the second landscape begins with a step taken
/// whatever it does to the energy (as IRED's denoising step).
fn staged(sampler: Sampler, dispatch_ms: Option<f32>) -> RefineConfig {
    let stage = |steps, step_size, temperature, landscape, clamp| Stage {
        steps,
        step_size,
        temperature,
        landscape,
        clamp,
        take_every_step: false,
    };
    let keep_if_lower = matches!(sampler, Sampler::KeepIfLower { .. });
    RefineConfig {
        steps: 9 + u32::from(keep_if_lower),
        seed: 4,
        sampler,
        landscape: 0.25,
        clamp: Some((-1.5, 1.5)),
        schedule: Schedule {
            stages: [
                stage(3, 0.05, 0.01, Some(2.0), Some((-0.8, 0.8))),
                Stage {
                    take_every_step: true,
                    ..stage(1, 0.2, 0.01, Some(1.0), Some((-0.5, 0.5)))
                },
                stage(4, 0.03, 0.01, Some(1.0), Some((-0.5, 0.5))),
                // Noise in every stage: without it, keep-if-lower's shrunk steps change
                // the energy by less than float32 resolves, and whether such a step is
                // kept is rounding's choice, float32's and float64's apart.
                stage(2, 0.02, 0.005, None, None),
            ]
            .into_iter()
            .enumerate()
            .filter(|(i, _)| *i != 1 || keep_if_lower)
            .map(|(_, s)| s)
            .collect(),
            ..Default::default()
        },
        dispatch_ms,
        ..Default::default()
    }
}

#[test]
fn an_energy_of_t_evaluates_as_the_reference_at_every_t() {
    let m = film_by_t();
    assert!(m.reads_landscape());
    let n = 9;
    let x = data(n * m.x_dim, 1.0, 1);
    let y = data(n * m.y_dim, 1.0, 2);
    let mut engine = Engine::new(&ctx(), &m).unwrap();
    engine.poison_outputs(true);
    let mut energies = Vec::new();
    for t in [0.0, 0.5, -3.0, 7.0] {
        let got = engine.eval_at(&x, &y, t).unwrap();
        let (energy, grad) = reference::eval_at(&m, &x, &y, t);
        assert_close(&format!("energy at t = {t}"), &got.energy, &energy);
        assert_close(&format!("dE/dy at t = {t}"), &got.grad, &grad);
        energies.push(got.energy);
    }
    // t is read: the energies differ from one landscape to the next.
    assert!(energies.windows(2).all(|w| w[0] != w[1]));
    assert_eq!(
        engine.eval(&x, &y).unwrap().energy,
        energies[0],
        "eval is eval_at t = 0"
    );
}

#[test]
fn stages_that_set_the_landscape_match_the_reference_on_every_path() {
    let m = film_by_t();
    let samplers = [
        Sampler::Langevin,
        Sampler::KeepIfLower {
            shrink: 1.0,
            rise_tolerance: 0.0,
        },
        Sampler::KeepIfLower {
            shrink: 0.5,
            rise_tolerance: 0.0,
        },
    ];
    for path in paths(&m) {
        for sampler in samplers {
            // None: every step in one submission (the boundaries inside it); 1e-6: each
            // step a submission of its own (the boundaries between submissions).
            for dispatch_ms in [None, Some(1e-6)] {
                let cfg = staged(sampler, dispatch_ms);
                let (gpu, _) = check_options_on(
                    PathChoice::Exactly(path),
                    &m,
                    10,
                    &cfg,
                    None,
                    &format!("{path}, {sampler:?}, dispatch_ms {dispatch_ms:?}"),
                );
                // The stages' clamp ranges hold: the last stage's is the refinement's.
                assert!(gpu.y.iter().all(|v| v.abs() <= 1.5));
            }
        }
    }
}

#[test]
fn the_landscape_changes_the_refinement() {
    let m = film_by_t();
    let n = 6;
    let x = data(n * m.x_dim, 1.0, 7);
    let y0 = data(n * m.y_dim, 1.0, 8);
    let engine = Engine::new(&ctx(), &m).unwrap();
    let staged = staged(Sampler::Langevin, None);
    let mut flat = staged.clone();
    for s in &mut flat.schedule.stages {
        s.landscape = None;
    }
    let a = engine.refine(&x, &y0, &staged).unwrap();
    let b = engine.refine(&x, &y0, &flat).unwrap();
    let differ: f32 = a.y.iter().zip(&b.y).map(|(p, q)| (p - q).abs()).sum();
    assert!(
        differ > 1e-3,
        "the stages' landscapes changed nothing ({differ})"
    );
}

/// E(y, t) = t |y|^2.
fn t_times_square() -> Model {
    let mut g = GraphBuilder::new(0, 4, 1);
    let tt = g.linear_with(&[g.t()], 4, vec![1.0; 4], None);
    let ty = g.mul(tt, g.y());
    let e = g.mul(ty, g.y());
    g.energy(Head::Sum, e, 1.0);
    g.build().unwrap()
}

/// With E = |y|^2, a step of size 1.5 sends y to -2 y, which raises the energy: a stage
/// that takes every step takes it (and leaves the step size), the next stage refuses the
/// same step (and shrinks the step size).
#[test]
fn a_stage_that_takes_every_step_takes_one_that_raises_the_energy() {
    let m = t_times_square();
    let overshoot = |take_every_step| Stage {
        steps: 1,
        step_size: 1.5,
        temperature: 0.0,
        landscape: Some(1.0),
        take_every_step,
        ..Default::default()
    };
    let cfg = RefineConfig {
        steps: 2,
        sampler: Sampler::KeepIfLower {
            shrink: 0.5,
            rise_tolerance: 0.0,
        },
        schedule: Schedule {
            stages: vec![overshoot(true), overshoot(false)],
            ..Default::default()
        },
        ..Default::default()
    };
    let n = 3;
    let y0 = data(n * m.y_dim, 1.0, 5);
    let twice: Vec<f64> = y0.iter().map(|v| -2.0 * f64::from(*v)).collect();
    for path in paths(&m) {
        let engine = Engine::with_path(&ctx(), &m, PathChoice::Exactly(path)).unwrap();
        let gpu = engine.refine(&[], &y0, &cfg).unwrap();
        assert_close(&format!("{path}: y"), &gpu.y, &twice);
        assert_eq!(gpu.accepted, vec![1; n], "{path}");
        assert_eq!(gpu.step_scale, vec![0.5; n], "{path}");
        let want = reference::refine_full(&m, &[], &y0, None, &cfg);
        assert_eq!((want.accepted, want.step_scale), (vec![1; n], vec![0.5; n]));
    }
    let langevin = RefineConfig {
        sampler: Sampler::Langevin,
        ..cfg
    };
    let err = Engine::new(&ctx(), &m)
        .unwrap()
        .refine(&[], &y0, &langevin)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Schedule::stages") && err.contains("KeepIfLower"),
        "{err}"
    );
}

/// E(y, t) = t |y|^2: gradient descent with a small step lowers it within a landscape, so
/// keep-if-lower takes every step, the first of a sharper landscape too, whose energy is
/// compared with the energy at the same y in that landscape (not with the lower one the
/// previous landscape gave it).
#[test]
fn keep_if_lower_compares_energies_within_one_landscape() {
    let m = t_times_square();
    let stage = |landscape| Stage {
        steps: 3,
        step_size: 0.01,
        temperature: 0.0,
        landscape: Some(landscape),
        ..Default::default()
    };
    let n = 5;
    let y0 = data(n * m.y_dim, 1.0, 3);
    for path in paths(&m) {
        for dispatch_ms in [None, Some(1e-6)] {
            let cfg = RefineConfig {
                steps: 6,
                sampler: Sampler::KeepIfLower {
                    shrink: 1.0,
                    rise_tolerance: 0.0,
                },
                schedule: Schedule {
                    stages: vec![stage(1.0), stage(10.0)],
                    ..Default::default()
                },
                dispatch_ms,
                ..Default::default()
            };
            let engine = Engine::with_path(&ctx(), &m, PathChoice::Exactly(path)).unwrap();
            let gpu = engine.refine(&[], &y0, &cfg).unwrap();
            assert_eq!(
                gpu.accepted,
                vec![6; n],
                "{path}, dispatch_ms {dispatch_ms:?}"
            );
            let want = reference::refine_full(&m, &[], &y0, None, &cfg);
            assert_eq!(want.accepted, vec![6; n]);
            assert_close(&format!("{path}: y"), &gpu.y, &want.y);
            // The final energy is the last landscape's: 10 |y|^2.
            let ten: Vec<f64> = gpu
                .y
                .chunks(4)
                .map(|y| 10.0 * y.iter().map(|v| f64::from(v * v)).sum::<f64>())
                .collect();
            assert_close(&format!("{path}: final energy"), &gpu.energy, &ten);
        }
    }
}

#[test]
fn a_graph_with_t_round_trips_through_its_file() {
    let m = film_by_t();
    let dir = std::env::temp_dir().join(format!("ebm-landscape-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("film.safetensors");
    m.save(&path).unwrap();
    let back = Model::load(&path).unwrap();
    assert_eq!(back, m);
    assert!(m.graph_json().contains("\"t\""));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_landscapes_and_stage_clamps_are_refused_by_name() {
    let m = film_by_t();
    let engine = Engine::new(&ctx(), &m).unwrap();
    let (x, y) = (data(3, 1.0, 1), data(4, 1.0, 2));
    let err = engine.eval_at(&x, &y, f32::NAN).unwrap_err().to_string();
    assert!(err.contains("landscape"), "{err}");
    let mut cfg = staged(Sampler::Langevin, None);
    cfg.landscape = f32::INFINITY;
    let err = engine.refine(&x, &y, &cfg).unwrap_err().to_string();
    assert!(err.contains("RefineConfig::landscape"), "{err}");
    let mut cfg = staged(Sampler::Langevin, None);
    cfg.schedule.stages[1].clamp = Some((1.0, -1.0));
    let err = engine.refine(&x, &y, &cfg).unwrap_err().to_string();
    assert!(
        err.contains("Schedule::stages") && err.contains("LO <= HI"),
        "{err}"
    );
    let mut cfg = staged(Sampler::Langevin, None);
    cfg.schedule.stages[0].landscape = Some(f32::NAN);
    let err = engine.refine(&x, &y, &cfg).unwrap_err().to_string();
    assert!(err.contains("Schedule::stages"), "{err}");
    let cfg = RefineConfig {
        sampler: Sampler::KeepIfLower {
            shrink: 1.5,
            rise_tolerance: 0.0,
        },
        ..Default::default()
    };
    let err = engine.refine(&x, &y, &cfg).unwrap_err().to_string();
    assert!(err.contains("Sampler::KeepIfLower::shrink"), "{err}");
    // Training and its weight gradients run E(x, y) only: an energy of t is refused.
    let err = engine.weight_grad(&x, &y, &[1.0]).unwrap_err().to_string();
    assert!(err.contains("landscape index t"), "{err}");
}
