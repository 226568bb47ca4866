//! Models at the edges of what the kernels hold: models that fill the tile kernel's
//! per-thread arrays to their limits (MAX_REGS vec4 registers of the energy's tensors
//! exactly, with tensors MAX_UNITS vec4s per thread wide as far as the adapter's workgroup
//! memory allows) on every tile size, as pre-norm residual graphs (run) and MLPs
//! (planned), and one register past them refused by name; deep and narrow models on every
//! path; and a model too large for llvmpipe's loop limit in one pass. Each runs in the
//! trusted build and in one with wgpu's runtime bounds checks (indices clamped into their
//! arrays), both held to the float64 reference: an index past an array, as the tile
//! kernel's `saved` once was at 32 chains per workgroup, changes the gradient and fails
//! here.

mod common;

use common::{assert_close, ctx, data, spec};
use ebm::testing::{
    fitting_paths, is_llvmpipe, tile, Compiled, MAX_REGS, MAX_UNITS, TILE_CHAINS, TILE_THREADS,
};
use ebm::{
    reference, Activation, Engine, GraphBuilder, Head, KernelPath, Layer, Model, Output,
    PathChoice, RefineConfig,
};

/// A random model whose layers keep their signal: PyTorch's initialisation scaled by
/// `gain`, so that the gradient through many layers neither vanishes nor explodes.
fn deep(
    x_dim: usize,
    y_dim: usize,
    hidden: &[usize],
    act: Activation,
    gain: f32,
    seed: u64,
) -> Model {
    let mut m = Model::random(&spec(x_dim, y_dim, hidden, act, Output::Identity), seed).unwrap();
    scale_weights(&mut m, gain);
    m
}

/// Every linear weight of `m` times `gain` (biases, norms' gains stay).
fn scale_weights(m: &mut Model, gain: f32) {
    let weights: Vec<usize> = m
        .nodes
        .iter()
        .filter_map(|n| match n.op {
            ebm::energy::Op::Linear { weight, .. } => Some(weight),
            _ => None,
        })
        .collect();
    for w in weights {
        m.params[w].data.iter_mut().for_each(|v| *v *= gain);
    }
}

/// Lanes (threads per group of 4 chains) of a tile of `chains`.
fn lanes(chains: u32) -> usize {
    (TILE_THREADS / (chains / 4)) as usize
}

/// The models that fill a tile's registers: tensors as wide as the tile allows (`units`
/// vec4s per thread), `wide` layers or blocks over them, then `narrow` tanh layers or
/// nodes over tensors one vec4 per thread wide (`lanes.min(32)`), which fine-tune the
/// count one register at a time.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Family {
    /// An MLP: `wide` tanh layers, then `narrow` tanh layers.
    Mlp,
    /// A pre-norm residual net: h = W [x, y]; `wide` blocks h += W tanh(LayerNorm(h));
    /// z = W h narrow; `narrow` tanh nodes over z in turn; E = w . z plus 0.1 |y|^2.
    Residual,
}

/// A member of `family` for tiles of `chains`: with `random`, PyTorch-initialised
/// parameters (an MLP's linear weights scaled to keep the signal through the depth); else
/// zeros (the shape alone, for the search).
fn member(
    family: Family,
    chains: u32,
    units: usize,
    wide: usize,
    narrow: usize,
    random: bool,
) -> Model {
    let lanes = lanes(chains);
    let (w, n) = (units * lanes, lanes.min(32));
    let seed = u64::from(chains) + 100 * units as u64;
    if family == Family::Mlp {
        let mut hidden = vec![w; wide];
        hidden.extend(std::iter::repeat_n(n, narrow));
        if random {
            return deep(3, 5, &hidden, Activation::Tanh, 1.7, seed);
        }
        let mut widths = vec![3 + 5];
        widths.extend(&hidden);
        widths.push(1);
        let layers = widths
            .windows(2)
            .map(|p| Layer {
                n_in: p[0],
                n_out: p[1],
                weight: vec![0.0; p[0] * p[1]],
                bias: vec![0.0; p[1]],
            })
            .collect();
        return Model::mlp(3, 5, layers, Activation::Tanh, Output::Identity).unwrap();
    }
    let mut g = GraphBuilder::new(3, 5, seed);
    let linear = |g: &mut GraphBuilder, t: usize, out: usize| {
        if random {
            g.linear(&[t], out, true)
        } else {
            let n_in = g.width(t);
            g.linear_with(&[t], out, vec![0.0; out * n_in], Some(vec![0.0; out]))
        }
    };
    let xy = g.concat(&[g.x(), g.y()]);
    let mut h = linear(&mut g, xy, w);
    for _ in 0..wide {
        let ln = g.layer_norm(h, 1e-5, true);
        let a = g.activation(ln, Activation::Tanh);
        let r = linear(&mut g, a, w);
        h = g.add(h, r);
    }
    let mut z = linear(&mut g, h, n);
    for _ in 0..narrow {
        z = g.activation(z, Activation::Tanh);
    }
    let o = linear(&mut g, z, 1);
    g.energy(Head::Sum, o, 1.0);
    g.energy(Head::SumSquares, g.y(), 0.1);
    g.build().unwrap()
}

/// For a tile of `chains`: the member of `family` with the widest tensors the adapter's
/// workgroup memory allows (up to MAX_UNITS vec4s per thread), as many wide layers (an
/// MLP) or up to two wide blocks (a residual net) as stay within `target` vec4 registers
/// per thread, then as many narrow ones as make its tensors take exactly `target` (with
/// fewer wide ones if the narrow ones step over it). Returns the model (random parameters) and its (units, wide, narrow). None if
/// no member fits the tile (registers aside, past MAX_REGS).
fn filling_to(
    target: usize,
    family: Family,
    chains: u32,
    limits: &wgpu::Limits,
) -> Option<(Model, (usize, usize, usize))> {
    (1..=MAX_UNITS as usize).rev().find_map(|units| {
        let shape = |wide, narrow| member(family, chains, units, wide, narrow, false);
        let fits = |m: &Model| tile::misfit(m, chains, limits).is_none();
        if !fits(&shape(1, 0)) {
            return None;
        }
        let mut most = 1;
        while tile::registers(&shape(most + 1, 0), chains) <= target {
            most += 1;
        }
        // An MLP as few layers as may be; a residual net two blocks (as the samples),
        // its narrow tanh nodes cheap to compile and run.
        let most = if family == Family::Residual {
            most.min(2)
        } else {
            most
        };
        (1..=most).rev().find_map(|wide| {
            (0..=target)
                .find_map(|narrow| {
                    let m = shape(wide, narrow);
                    let regs = tile::registers(&m, chains);
                    if regs > target {
                        return Some(None);
                    }
                    let fitting = fits(&m) || regs > MAX_REGS as usize;
                    (regs == target && fitting).then_some(Some(narrow))
                })
                .flatten()
                .map(|narrow| {
                    let m = member(family, chains, units, wide, narrow, true);
                    (m, (units, wide, narrow))
                })
        })
    })
}

/// The member of `family` whose tensors take exactly MAX_REGS registers ([`filling_to`]).
fn filling(
    family: Family,
    chains: u32,
    limits: &wgpu::Limits,
) -> Option<(Model, (usize, usize, usize))> {
    filling_to(MAX_REGS as usize, family, chains, limits)
}

#[test]
fn every_tile_size_filled_to_its_register_limits() {
    let limits = ctx().limits();
    let mut ran = 0;
    // Residual graphs run here; MLPs at the limit are held to it statically (below): on
    // lavapipe they take either tens of layers or wide products whose loop iterations per
    // step pass llvmpipe's limit (deep_narrow_models_on_every_path runs MLPs on tiles).
    let family = Family::Residual;
    for chains in TILE_CHAINS {
        let Some((m, (units, wide, narrow))) = filling(family, chains, &limits) else {
            continue;
        };
        assert_eq!(tile::registers(&m, chains), MAX_REGS as usize);
        assert_eq!(tile::misfit(&m, chains, &limits), None);
        let what = format!(
            "{family:?} on tile{chains}: {wide} wide blocks of {units} vec4s per thread, {narrow} narrow ones, {MAX_REGS} registers"
        );
        println!("{what}");
        // A ragged last tile.
        check_both_builds(
            &m,
            KernelPath::Tile { chains },
            2 * chains as usize + 3,
            &what,
        );
        ran += 1;
    }
    assert_eq!(ran, TILE_CHAINS.len(), "every tile size fits such a model");
}

/// The planner takes a model at exactly MAX_REGS registers and refuses one register more,
/// by name, on every tile size (MLPs and graphs); a tensor wider than MAX_UNITS vec4s per
/// thread too.
#[test]
fn one_past_the_register_limits_is_refused() {
    let limits = ctx().limits();
    for family in [Family::Mlp, Family::Residual] {
        for chains in TILE_CHAINS {
            let what = format!("{family:?} on tile{chains}");
            let (at, shape) = filling(family, chains, &limits)
                .unwrap_or_else(|| panic!("{what}: no model at the register limit"));
            assert_eq!(
                tile::registers(&at, chains),
                MAX_REGS as usize,
                "{what}: {shape:?}"
            );
            assert_eq!(tile::misfit(&at, chains, &limits), None, "{what}");
            assert!(tile::fitting(&at, &limits).contains(&chains), "{what}");
            // The same family, one register more.
            let (over, shape) = filling_to(MAX_REGS as usize + 1, family, chains, &limits)
                .unwrap_or_else(|| panic!("{what}: no model one register past the limit"));
            assert_eq!(
                tile::registers(&over, chains),
                MAX_REGS as usize + 1,
                "{what}: {shape:?}"
            );
            let why = tile::misfit(&over, chains, &limits).expect("refused");
            assert!(
                why.contains(&format!("{} vec4 registers", MAX_REGS + 1))
                    && why.contains(&format!("more than {MAX_REGS}"))
                    && why.contains(&format!("{chains} chains per workgroup")),
                "{what}: {why}"
            );
            assert!(!tile::fitting(&over, &limits).contains(&chains), "{what}");
            if chains == 32 {
                let err = Engine::with_path(
                    &ctx(),
                    &over,
                    PathChoice::Exactly(KernelPath::Tile { chains }),
                )
                .err()
                .expect("refused")
                .to_string();
                assert!(
                    err.contains("PathChoice") && err.contains("tile32"),
                    "{what}: {err}"
                );
            }
        }
    }
    let chains = 32;
    let wide = deep(
        3,
        5,
        &[(MAX_UNITS as usize + 1) * lanes(chains)],
        Activation::Tanh,
        1.0,
        1,
    );
    let why = tile::misfit(
        &wide,
        chains,
        &wgpu::Limits {
            max_compute_workgroup_storage_size: 1 << 20,
            ..limits.clone()
        },
    )
    .expect("refused");
    assert!(
        why.contains(&format!("more than {MAX_UNITS} vec4")),
        "{why}"
    );
}

/// Refines `n` chains by plain gradient descent on `path`, in the trusted and the checked
/// build, and holds y, the displacement y - y0 (which the gradient alone makes) and the
/// energy to the reference.
fn check_both_builds(m: &Model, path: KernelPath, n: usize, what: &str) {
    let cfg = RefineConfig {
        steps: 3,
        step_size: 0.05,
        prior_l2: 0.1,
        ..Default::default()
    };
    let x = data(n * m.x_dim, 1.0, 41);
    let y0 = data(n * m.y_dim, 1.0, 42);
    let (y_ref, e_ref) = reference::refine(m, &x, &y0, &cfg);
    let moved_ref: Vec<f64> = y_ref
        .iter()
        .zip(&y0)
        .map(|(y, a)| y - f64::from(*a))
        .collect();
    let norm = |v: &[f64]| v.iter().map(|d| d * d).sum::<f64>().sqrt();
    let y0_norm = norm(&y0.iter().map(|&v| f64::from(v)).collect::<Vec<_>>());
    assert!(
        norm(&moved_ref) > 1e-2 * y0_norm,
        "{what}: the gradient barely moves y ({:e} of |y0|); the test would prove little",
        norm(&moved_ref) / y0_norm
    );
    for checked in [false, true] {
        let build = if checked { "checked" } else { "trusted" };
        let what = format!("{what}, {path}, {build} build");
        let mut engine = Engine::with_path(&ctx(), m, PathChoice::Exactly(path))
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        engine
            .set_runtime_checks(checked)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        engine.poison_outputs(true);
        let got = engine.refine(&x, &y0, &cfg).unwrap();
        assert_eq!(got.path, path, "{what}");
        let moved: Vec<f32> = got.y.iter().zip(&y0).map(|(y, a)| y - a).collect();
        assert_close(&format!("{what}: y"), &got.y, &y_ref);
        assert_close(&format!("{what}: y - y0"), &moved, &moved_ref);
        assert_close(&format!("{what}: energy"), &got.energy, &e_ref);
    }
}

/// Deep, narrow models (the 7 hidden tanh layers 128 wide of the issue that found the
/// mismatch, and 8 silu layers 64 wide without x) on every path the adapter allows.
#[test]
fn deep_narrow_models_on_every_path() {
    let limits = ctx().limits();
    let models = [
        (
            "7 x 128 tanh",
            deep(4, 6, &[128; 7], Activation::Tanh, 1.7, 7),
        ),
        (
            "8 x 64 silu, no x",
            deep(0, 9, &[64; 8], Activation::Silu, 2.2, 8),
        ),
    ];
    for (name, m) in models {
        let paths = fitting_paths(&Compiled::new(&m).unwrap(), &limits);
        assert!(
            paths.contains(&KernelPath::Tile { chains: 32 }),
            "{name}: tile32 fits lavapipe"
        );
        for path in paths {
            check_both_builds(&m, path, 37, name);
        }
    }
}

/// A model of five hidden silu layers 256 wide (about 330k weights), whose one pass on one
/// chain runs past llvmpipe's loop limit: every call on the automatic choice still runs
/// here (evaluation included, on the layered path), so the tests reach the models GPUs run.
#[test]
fn a_model_past_llvmpipe_loop_limit_runs_evaluation_and_refinement() {
    let m = deep(16, 16, &[256; 5], Activation::Silu, 1.0, 5);
    let engine = Engine::new(&ctx(), &m).unwrap();
    let n = 9;
    let x = data(n * m.x_dim, 1.0, 51);
    let y = data(n * m.y_dim, 1.0, 52);
    let got = engine.eval(&x, &y).unwrap();
    let (energy, grad) = reference::eval(&m, &x, &y);
    assert_close("eval energy", &got.energy, &energy);
    assert_close("eval grad", &got.grad, &grad);
    let cfg = RefineConfig {
        steps: 4,
        step_size: 0.05,
        temperature: 0.01,
        ..Default::default()
    };
    let out = engine.refine(&x, &y, &cfg).unwrap();
    let (y_ref, e_ref) = reference::refine(&m, &x, &y, &cfg);
    assert_close("refine y", &out.y, &y_ref);
    assert_close("refine energy", &out.energy, &e_ref);
    let info = ctx().adapter_info().clone();
    if is_llvmpipe(&info) {
        assert_eq!(engine.eval_path(), KernelPath::Layered);
    }
}
