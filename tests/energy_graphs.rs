//! Energy graphs on every path, held to the float64 reference: every op alone, graphs of
//! the kinds people train (pre-norm residual, FiLM, gated, JEM, unconditional residual),
//! every sampler and option, both builds (checked and trusted), outputs poisoned.

mod common;

use common::{assert_close, check_options_on, check_refine_on, ctx, data, paths};
use ebm::energy::samples;
use ebm::refine::{Exchange, Ladder};
use ebm::{
    reference, Activation, Engine, GraphBuilder, Head, KernelPath, Model, PathChoice, RefineConfig,
    Sampler, StopRule,
};

fn langevin(steps: u32) -> RefineConfig {
    RefineConfig {
        steps,
        step_size: 0.02,
        temperature: 0.01,
        prior_l2: 0.05,
        seed: 9,
        ..Default::default()
    }
}

/// Evaluation and refinement of `m` on every path, against the reference.
fn check_every_path(m: &Model, n: usize, what: &str) {
    let ctx = ctx();
    let x = data(n * m.x_dim, 1.0, 3);
    let y = data(n * m.y_dim, 1.0, 4);
    let mut engine = Engine::new(&ctx, m).unwrap();
    engine.poison_outputs(true);
    let got = engine.eval(&x, &y).unwrap();
    let (energy, grad) = reference::eval(m, &x, &y);
    assert_close(&format!("{what}: eval energy"), &got.energy, &energy);
    assert_close(&format!("{what}: eval dE/dy"), &got.grad, &grad);
    for path in paths(m) {
        check_refine_on(
            PathChoice::Exactly(path),
            m,
            n,
            &langevin(12),
            &format!("{what} on {path}"),
        );
    }
}

/// A graph of one op of each kind, with linear layers around it so that its input varies
/// with y and its output reaches the energy.
fn one_op(name: &str) -> Model {
    let mut g = GraphBuilder::new(3, 4, 21);
    let h = g.linear(&[g.x(), g.y()], 6, true);
    let k = g.linear(&[g.y()], 6, false);
    let t = match name {
        "linear without bias" => g.linear(&[h, g.x()], 5, false),
        "affine" => g.affine(h, -1.5, 0.25),
        "add" => g.add(h, k),
        "sub" => g.sub(h, k),
        "mul" => g.mul(h, k),
        "layer_norm" => g.layer_norm(h, 1e-5, true),
        "layer_norm without affine" => g.layer_norm(h, 1e-3, false),
        "rms_norm" => g.rms_norm(h, 1e-6, true),
        "rms_norm without affine" => g.rms_norm(h, 1e-2, false),
        "concat" => g.concat(&[h, g.y(), k]),
        "slice" => g.slice(h, 2, 3),
        act => {
            let a = Activation::ALL
                .into_iter()
                .find(|a| a.name() == act)
                .unwrap();
            g.activation(h, a)
        }
    };
    let o = g.linear(&[t], 2, true);
    g.energy(Head::SumSquares, o, 1.0);
    g.build().unwrap()
}

#[test]
fn every_op_alone_matches_the_reference_on_every_path() {
    let mut names: Vec<&str> = vec![
        "linear without bias",
        "affine",
        "add",
        "sub",
        "mul",
        "layer_norm",
        "layer_norm without affine",
        "rms_norm",
        "rms_norm without affine",
        "concat",
        "slice",
    ];
    names.extend(Activation::ALL.iter().map(|a| a.name()));
    for name in names {
        check_every_path(&one_op(name), 37, name);
    }
}

#[test]
fn every_head_matches_the_reference_on_every_path() {
    for head in Head::ALL {
        for scale in [1.0, -0.5] {
            let mut g = GraphBuilder::new(2, 3, 5);
            let h = g.linear(&[g.x(), g.y()], 7, true);
            let h = g.activation(h, Activation::Tanh);
            let o = g.linear(&[h], 5, true);
            g.energy(head, o, scale);
            let m = g.build().unwrap();
            check_every_path(&m, 29, &format!("{head} x {scale}"));
        }
    }
}

#[test]
fn graphs_of_every_kind_match_the_reference_on_every_path() {
    for (name, m) in samples::every_kind() {
        check_every_path(&m, 41, name);
    }
}

#[test]
fn wide_graphs_match_the_reference_on_every_path() {
    // Widths past a tile's lanes (several units per thread) and past the narrow products.
    let m = samples::pre_norm_residual(5, 6, 72, 8);
    check_every_path(&m, 20, "wide pre-norm residual");
    let m = samples::film(3, 9, 40, 9);
    check_every_path(&m, 20, "wide FiLM");
}

/// Every sampler and option on a FiLM and a JEM graph, on every path.
#[test]
fn every_sampler_and_option_runs_graphs_on_every_path() {
    let film = samples::film(2, 4, 6, 12);
    let jem = samples::jem(3, 4, 8, 5, 13);
    let configs = [
        (
            "mala",
            RefineConfig {
                sampler: Sampler::Mala {
                    adapt_steps: 4,
                    target_accept: 0.6,
                },
                ..langevin(10)
            },
        ),
        (
            "keep-if-lower",
            RefineConfig {
                sampler: Sampler::KeepIfLower {
                    shrink: 0.5,
                    rise_tolerance: 0.0,
                },
                temperature: 0.0,
                ..langevin(10)
            },
        ),
        (
            "stops, trace, clamp, clip",
            RefineConfig {
                stop: StopRule {
                    below: Some(-0.5),
                    ..Default::default()
                },
                trace: true,
                clamp: Some((-1.5, 1.5)),
                clip_grad: Some(0.5),
                ..langevin(10)
            },
        ),
    ];
    for (gname, m) in [("FiLM", &film), ("JEM", &jem)] {
        for path in paths(m) {
            for (cname, cfg) in &configs {
                check_options_on(
                    PathChoice::Exactly(path),
                    m,
                    23,
                    cfg,
                    None,
                    &format!("{gname}, {cname} on {path}"),
                );
            }
            // Fixed coordinates.
            let fixed: Vec<bool> = (0..23 * m.y_dim).map(|i| i % 3 == 0).collect();
            let (got, _) = check_options_on(
                PathChoice::Exactly(path),
                m,
                23,
                &langevin(8),
                Some(&fixed),
                &format!("{gname}, fixed on {path}"),
            );
            let y0 = data(23 * m.y_dim, 1.0, 18);
            for (i, f) in fixed.iter().enumerate() {
                if *f {
                    assert_eq!(got.y[i], y0[i], "{gname} on {path}: fixed coordinate {i}");
                }
            }
        }
    }
}

#[test]
fn simplex_projection_and_replica_exchange_run_graphs_on_every_path() {
    let m = samples::gated(0, 6, 5, 14);
    for path in paths(&m) {
        let cfg = RefineConfig {
            simplex: Some(3),
            ..langevin(8)
        };
        check_options_on(
            PathChoice::Exactly(path),
            &m,
            19,
            &cfg,
            None,
            &format!("simplex on {path}"),
        );
        let cfg = RefineConfig {
            exchange: Some(Exchange {
                replicas: 4,
                every: 3,
                ladder: Ladder::Geometric {
                    coldest: 1.0,
                    hottest: 4.0,
                },
            }),
            ..langevin(9)
        };
        check_options_on(
            PathChoice::Exactly(path),
            &m,
            16,
            &cfg,
            None,
            &format!("replica exchange on {path}"),
        );
    }
}

#[test]
fn best_of_picks_the_reference_best_on_graphs() {
    let m = samples::jem(2, 3, 6, 4, 15);
    let ctx = ctx();
    let engine = Engine::new(&ctx, &m).unwrap();
    let (n, r) = (5, 4);
    let x = data(n * m.x_dim, 1.0, 1);
    let y0 = data(n * r * m.y_dim, 1.0, 2);
    let cfg = langevin(10);
    let best = engine.refine_best_of(&x, &y0, r, None, &cfg).unwrap();
    let xs: Vec<f32> = (0..n * r)
        .flat_map(|c| x[(c / r) * m.x_dim..(c / r + 1) * m.x_dim].to_vec())
        .collect();
    let (_, energy) = reference::refine(&m, &xs, &y0, &cfg);
    for i in 0..n {
        let lowest = (0..r)
            .map(|k| energy[i * r + k])
            .fold(f64::INFINITY, f64::min);
        assert!(
            (f64::from(best.energy[i]) - lowest).abs() < 1e-4 * (1.0 + lowest.abs()),
            "x {i}: best {} against the reference's lowest {lowest}",
            best.energy[i]
        );
    }
}

#[test]
fn the_checked_build_matches_the_trusted_one_on_graphs() {
    for (name, m) in samples::every_kind() {
        let ctx = ctx();
        let n = 17;
        let x = data(n * m.x_dim, 1.0, 5);
        let y0 = data(n * m.y_dim, 1.0, 6);
        for path in paths(&m) {
            let mut trusted = Engine::with_path(&ctx, &m, PathChoice::Exactly(path)).unwrap();
            let mut checked = Engine::with_path(&ctx, &m, PathChoice::Exactly(path)).unwrap();
            checked.set_runtime_checks(true).unwrap();
            trusted.poison_outputs(true);
            checked.poison_outputs(true);
            let a = trusted.refine(&x, &y0, &langevin(6)).unwrap();
            let b = checked.refine(&x, &y0, &langevin(6)).unwrap();
            let (y, _) = reference::refine(&m, &x, &y0, &langevin(6));
            assert_close(&format!("{name} on {path}, checked"), &b.y, &y);
            assert_close(&format!("{name} on {path}, trusted"), &a.y, &y);
        }
    }
}

#[test]
fn weight_gradients_of_graphs_match_the_reference() {
    // Training, and so its weight gradients, runs energies E(x, y) only (an energy of t is
    // refused there: tests/landscapes.rs).
    for (name, m) in samples::every_kind()
        .into_iter()
        .filter(|(_, m)| !m.reads_landscape())
    {
        let ctx = ctx();
        let engine = Engine::new(&ctx, &m).unwrap();
        let n = 13;
        let x = data(n * m.x_dim, 1.0, 7);
        let y = data(n * m.y_dim, 1.0, 8);
        let w = data(n, 1.0, 9);
        let got = engine.weight_grad(&x, &y, &w).unwrap();
        let (energy, grads) = reference::weight_grad(&m, &x, &y, &w);
        assert_close(&format!("{name}: energy"), &got.energy, &energy);
        for (p, (g, want)) in got.params.iter().zip(&grads).enumerate() {
            assert_eq!(g.name, m.params[p].name);
            assert_close(&format!("{name}: d/d{}", g.name), &g.data, want);
        }
    }
}

/// The tile path keeps graphs' x-only work out of the step loop: a FiLM graph's scale and
/// shift are computed once, so a tile refinement of many steps costs no more per step than
/// the y path (checked structurally in tests/tile_structure.rs); here, that the planner
/// refuses a tile whose registers a graph would overflow, by name, before any work.
#[test]
fn a_graph_too_large_for_a_tile_is_refused_by_name() {
    let m = samples::pre_norm_residual(4, 4, 512, 3);
    let ctx = ctx();
    match Engine::with_path(
        &ctx,
        &m,
        PathChoice::Exactly(KernelPath::Tile { chains: 32 }),
    ) {
        Ok(_) => panic!("a 512-wide residual net ran at 32 chains per workgroup"),
        Err(e) => {
            let text = e.to_string();
            assert!(text.contains("tile32"), "{text}");
        }
    }
}
