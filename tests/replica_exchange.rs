//! Replica exchange (parallel tempering) on the GPU: held to the float64 reference on every
//! path and sampler, independent of chunking and of how the steps are split into
//! dispatches, exact on a double well (each temperature's marginal against quadrature), and
//! faster to mix there than MALA alone. Bad settings are refused by name.

mod common;

use common::{assert_close, ctx, data, model};
use ebm::refine::{Exchange, Ladder};
use ebm::{
    reference, Activation, Engine, Error, Layer, Model, Output, PathChoice, RefineConfig, Sampler,
    StopRule,
};

/// Groups of `r` replicas: x repeated within a group, y0 random, and (with `fix`) the same
/// coordinates fixed at the same values in every replica of a group.
fn replica_batch(
    m: &Model,
    groups: usize,
    r: usize,
    fix: bool,
) -> (Vec<f32>, Vec<f32>, Option<Vec<bool>>) {
    let xs = data(groups * m.x_dim, 1.0, 31);
    let x: Vec<f32> = (0..groups * r)
        .flat_map(|c| xs[(c / r) * m.x_dim..(c / r + 1) * m.x_dim].to_vec())
        .collect();
    let mut y0 = data(groups * r * m.y_dim, 1.0, 32);
    let fixed = fix.then(|| {
        let mut f = vec![false; groups * r * m.y_dim];
        for c in 0..groups * r {
            let g = c / r;
            let k = g % m.y_dim;
            f[c * m.y_dim + k] = true;
            y0[c * m.y_dim + k] = 0.25 + g as f32 * 0.1;
        }
        f
    });
    (x, y0, fixed)
}

fn exchange(replicas: u32, every: u32) -> Exchange {
    Exchange {
        replicas,
        every,
        ladder: Ladder::Geometric {
            coldest: 1.0,
            hottest: 6.0,
        },
    }
}

/// Every path and sampler, with fixed coordinates and early stopping: y, energies, stops,
/// acceptances and every swap count match the reference exactly, and swaps both happened
/// and were refused.
#[test]
fn exchange_matches_the_reference_on_every_path() {
    let m = model(3, 6, &[20, 12], Activation::Silu, Output::Softplus, 41);
    let (groups, r) = (5, 4);
    let (x, y0, fixed) = replica_batch(&m, groups, r, true);
    let base = RefineConfig {
        steps: 30,
        step_size: 0.05,
        temperature: 0.05,
        seed: 77,
        prior_l2: 0.1,
        exchange: Some(exchange(r as u32, 3)),
        ..Default::default()
    };
    let samplers = [
        Sampler::Langevin,
        Sampler::Mala {
            adapt_steps: 0,
            target_accept: 0.574,
        },
        Sampler::KeepIfLower {
            shrink: 0.5,
            rise_tolerance: 0.0,
        },
    ];
    for path in common::paths(&m) {
        let mut engine = Engine::with_path(&ctx(), &m, PathChoice::Exactly(path)).unwrap();
        engine.poison_outputs(true);
        for sampler in samplers {
            let stop = match sampler {
                Sampler::Langevin => StopRule {
                    below: Some(-1.0),
                    ..Default::default()
                },
                _ => StopRule::default(),
            };
            // Keep-if-lower takes few large steps: near a minimum its energy changes fall
            // under float32's resolution, where float32 and float64 may decide differently.
            let step_size = match sampler {
                Sampler::KeepIfLower { .. } => 0.3,
                _ => base.step_size,
            };
            let cfg = RefineConfig {
                sampler,
                stop,
                step_size,
                ..base.clone()
            };
            let what = format!("{path} {sampler:?}");
            let gpu = engine
                .refine_fixed(&x, &y0, fixed.as_deref(), &cfg)
                .unwrap();
            let (want, swaps, trips) =
                reference::refine_exchange(&m, &x, &y0, fixed.as_deref(), &cfg);
            assert_eq!(gpu.steps_taken, want.steps_taken, "{what}: stopped at");
            assert_eq!(gpu.accepted, want.accepted, "{what}: accepted");
            assert_close(&format!("{what}: y"), &gpu.y, &want.y);
            assert_close(&format!("{what}: energy"), &gpu.energy, &want.energy);
            let report = gpu.exchange.expect("an exchange report");
            let proposed: Vec<u32> = swaps.iter().map(|s| s.0).collect();
            let accepted: Vec<u32> = swaps.iter().map(|s| s.1).collect();
            assert_eq!(report.proposed, proposed, "{what}: swaps proposed");
            assert_eq!(report.accepted, accepted, "{what}: swaps accepted");
            assert_eq!(report.round_trips, trips, "{what}: round trips");
            let (a, p): (u32, u32) = (accepted.iter().sum(), proposed.iter().sum());
            assert!(a > 0 && a < p, "{what}: {a} of {p} swaps accepted");
        }
    }
}

/// The same refinement in chunks of two groups, and in dispatches of 2 steps, gives the
/// same bits: the swap draws are keyed by chain and step, not by batch or dispatch.
#[test]
fn exchange_does_not_depend_on_chunks_or_dispatches() {
    let m = model(2, 5, &[16], Activation::Tanh, Output::Softplus, 5);
    let (groups, r) = (6, 4);
    let (x, y0, _) = replica_batch(&m, groups, r, false);
    let cfg = RefineConfig {
        steps: 21,
        step_size: 0.05,
        temperature: 0.1,
        seed: 3,
        exchange: Some(exchange(r as u32, 2)),
        ..Default::default()
    };
    let ctx = ctx();
    let whole = Engine::new(&ctx, &m)
        .unwrap()
        .refine(&x, &y0, &cfg)
        .unwrap();
    let mut split = Engine::new(&ctx, &m).unwrap();
    split.set_max_chunk(9).unwrap();
    split.set_steps_per_dispatch(2);
    let parts = split.refine(&x, &y0, &cfg).unwrap();
    assert_eq!(whole.y, parts.y);
    assert_eq!(whole.exchange, parts.exchange);
    let report = whole.exchange.unwrap();
    assert!(report.accepted.iter().sum::<u32>() > 0);
}

/// U(y) = 4 (relu(y) + relu(-2 y) - 1)^2 + y^2 / 2: wells at y = 1 and y = -1/2 (the
/// left one deeper and narrower), a barrier of height 4 at 0.
fn double_well() -> Model {
    Model::mlp(
        0,
        1,
        vec![
            Layer {
                n_in: 1,
                n_out: 2,
                weight: vec![1.0, -2.0],
                bias: vec![0.0, 0.0],
            },
            Layer {
                n_in: 2,
                n_out: 1,
                weight: vec![2.0, 2.0],
                bias: vec![-2.0],
            },
        ],
        Activation::Relu,
        Output::Square,
    )
    .unwrap()
}

const PRIOR: f64 = 1.0;

fn well_energy(y: f64) -> f64 {
    let f = 2.0 * (y.max(0.0) + (-2.0 * y).max(0.0)) - 2.0;
    f * f + 0.5 * PRIOR * y * y
}

/// Bins of width 0.25 over [-2, 2.5], and the Boltzmann probability of each at temperature
/// t (with the left well's share), by the midpoint rule on 20000 points per bin.
const BINS: (f64, f64, usize) = (-2.0, 2.5, 18);

fn boltzmann_bins(t: f64) -> (Vec<f64>, f64) {
    let (lo, hi, n) = BINS;
    let width = (hi - lo) / n as f64;
    let per = 20_000;
    let mut mass = vec![0.0; n];
    let mut left = 0.0;
    for (b, m) in mass.iter_mut().enumerate() {
        for i in 0..per {
            let y = lo + width * (b as f64 + (i as f64 + 0.5) / per as f64);
            let p = (-well_energy(y) / t).exp();
            *m += p;
            if y < 0.0 {
                left += p;
            }
        }
    }
    let z: f64 = mass.iter().sum();
    (mass.iter().map(|m| m / z).collect(), left / z)
}

fn histogram(ys: &[f32]) -> Vec<f64> {
    let (lo, hi, n) = BINS;
    let mut counts = vec![0.0; n];
    for &y in ys {
        let b = ((f64::from(y) - lo) / (hi - lo) * n as f64).floor();
        if b >= 0.0 && (b as usize) < n {
            counts[b as usize] += 1.0;
        }
    }
    counts.iter().map(|c| c / ys.len() as f64).collect()
}

fn left_share(ys: &[f32]) -> f64 {
    ys.iter().filter(|&&y| y < 0.0).count() as f64 / ys.len() as f64
}

/// Every chain starts in the right well; the cold temperature 0.25 puts the barrier at 16 T.
fn well_config(steps: u32, exchange: Option<Exchange>) -> RefineConfig {
    RefineConfig {
        steps,
        step_size: 0.02,
        temperature: 0.25,
        prior_l2: PRIOR as f32,
        seed: 9,
        sampler: Sampler::Mala {
            adapt_steps: 0,
            target_accept: 0.574,
        },
        exchange,
        ..Default::default()
    }
}

const WELL_REPLICAS: u32 = 8;

fn well_ladder() -> Exchange {
    Exchange {
        replicas: WELL_REPLICAS,
        every: 2,
        ladder: Ladder::Geometric {
            coldest: 1.0,
            hottest: 16.0,
        },
    }
}

/// Exactness: 2048 groups of 8 replicas (temperatures 0.25 to 4), 1500 MALA steps with a
/// swap round every 2 from the right well; at every temperature the final samples' share in
/// the left well is within 0.04 of the quadrature's (3.5 standard errors), and their
/// histogram within 0.06 in total variation of the Boltzmann bins.
#[test]
fn each_temperature_samples_its_boltzmann_marginal() {
    let m = double_well();
    let engine = Engine::new(&ctx(), &m).unwrap();
    let groups = 2048;
    let r = WELL_REPLICAS as usize;
    let y0 = vec![1.0f32; groups * r];
    let cfg = well_config(1500, Some(well_ladder()));
    let out = engine.refine(&[], &y0, &cfg).unwrap();
    let report = out.exchange.as_ref().unwrap();
    let acceptance = report.pair_acceptance();
    assert!(
        acceptance.iter().all(|&a| a > 0.2),
        "swap acceptance per pair {acceptance:?}"
    );
    assert!(report.total_round_trips() > 0);
    for (slot, factor) in report.ladder.iter().enumerate() {
        let t = 0.25 * f64::from(*factor);
        let ys: Vec<f32> = (0..groups).map(|g| out.y[g * r + slot]).collect();
        let (want_bins, want_left) = boltzmann_bins(t);
        let got_left = left_share(&ys);
        let tv: f64 = 0.5
            * histogram(&ys)
                .iter()
                .zip(&want_bins)
                .map(|(a, b)| (a - b).abs())
                .sum::<f64>();
        assert!(
            (got_left - want_left).abs() < 0.04,
            "T = {t}: left well share {got_left}, quadrature {want_left}"
        );
        assert!(
            tv < 0.06,
            "T = {t}: total variation {tv} from the Boltzmann bins"
        );
    }
}

/// Mixing: at the coldest temperature the left well's share is within 0.05 of the
/// quadrature's after 400 steps with replica exchange, while MALA alone at that temperature
/// (the same chains' count, the same step size) is still more than 0.3 away after 1600.
#[test]
fn exchange_reaches_the_cold_well_shares_before_mala_alone() {
    let m = double_well();
    let engine = Engine::new(&ctx(), &m).unwrap();
    let groups = 1024;
    let r = WELL_REPLICAS as usize;
    let y0 = vec![1.0f32; groups * r];
    let (_, want_left) = boltzmann_bins(0.25);
    let tempered = engine
        .refine(&[], &y0, &well_config(400, Some(well_ladder())))
        .unwrap();
    let cold: Vec<f32> = (0..groups).map(|g| tempered.y[g * r]).collect();
    let with_exchange = left_share(&cold);
    let alone = engine.refine(&[], &y0, &well_config(1600, None)).unwrap();
    let without = left_share(&alone.y);
    assert!(
        (with_exchange - want_left).abs() < 0.05,
        "replica exchange, 400 steps: left share {with_exchange}, quadrature {want_left}"
    );
    assert!(
        (without - want_left).abs() > 0.3,
        "MALA alone, 1600 steps: left share {without}, quadrature {want_left}"
    );
}

/// Each bad setting or batch is refused, naming what is at fault.
#[test]
fn bad_exchange_settings_are_refused_by_name() {
    let m = model(2, 3, &[8], Activation::Tanh, Output::Softplus, 2);
    let engine = Engine::new(&ctx(), &m).unwrap();
    let (x, y0, fixed) = replica_batch(&m, 2, 4, true);
    let good = RefineConfig {
        steps: 6,
        temperature: 0.1,
        exchange: Some(exchange(4, 2)),
        ..Default::default()
    };
    let with = |e: Exchange| RefineConfig {
        exchange: Some(e),
        ..good.clone()
    };
    let field_of = |cfg: &RefineConfig, x: &[f32], y: &[f32], f: Option<&[bool]>| match engine
        .refine_fixed(x, y, f, cfg)
    {
        Err(Error::Config { field, .. }) => field.to_string(),
        Err(Error::Input { name, .. }) => name,
        other => panic!("accepted: {other:?}"),
    };
    let cases: Vec<(RefineConfig, &str)> = vec![
        (
            with(Exchange {
                replicas: 1,
                ..exchange(4, 2)
            }),
            "Exchange::replicas",
        ),
        (
            with(Exchange {
                every: 0,
                ..exchange(4, 2)
            }),
            "Exchange::every",
        ),
        (
            with(Exchange {
                ladder: Ladder::Geometric {
                    coldest: 2.0,
                    hottest: 1.0,
                },
                ..exchange(4, 2)
            }),
            "Ladder::Geometric",
        ),
        (
            with(Exchange {
                ladder: Ladder::Explicit(vec![1.0, 2.0, 3.0]),
                ..exchange(4, 2)
            }),
            "Ladder::Explicit",
        ),
        (
            with(Exchange {
                ladder: Ladder::Explicit(vec![1.0, 3.0, 2.0, 4.0]),
                ..exchange(4, 2)
            }),
            "Ladder::Explicit",
        ),
        (
            RefineConfig {
                temperature: 0.0,
                ..good.clone()
            },
            "RefineConfig::temperature",
        ),
    ];
    for (cfg, field) in cases {
        assert_eq!(field_of(&cfg, &x, &y0, fixed.as_deref()), field);
    }
    // Not whole groups; x differing within a group; fixed values differing within a group.
    let y_dim = m.y_dim;
    assert_eq!(
        field_of(&good, &x[..7 * m.x_dim], &y0[..7 * y_dim], None),
        "y"
    );
    let mut x_bad = x.clone();
    x_bad[m.x_dim] += 1.0;
    assert_eq!(field_of(&good, &x_bad, &y0, fixed.as_deref()), "x");
    let mut y_bad = y0.clone();
    let f = fixed.as_deref().unwrap();
    let k = (0..y_dim).find(|&k| f[y_dim + k]).unwrap();
    y_bad[y_dim + k] += 1.0;
    assert_eq!(field_of(&good, &x, &y_bad, fixed.as_deref()), "fixed");
    assert!(engine
        .refine_fixed(&x, &y0, fixed.as_deref(), &good)
        .is_ok());
}
