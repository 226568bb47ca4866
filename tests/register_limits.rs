//! Models at the edges of what the kernels hold: models that fill the tile kernel's
//! per-thread arrays to their limits (MAX_SAVED exactly, MAX_UNITS as far as the adapter's
//! workgroup memory allows) on every tile size, deep and narrow models on every path, and
//! a model too large for llvmpipe's loop limit in one pass. Each runs in the trusted build
//! and in one with wgpu's runtime bounds checks (indices clamped into their arrays), both
//! held to the float64 reference: an index past an array, as the tile kernel's `saved`
//! once was at 32 chains per workgroup, changes the gradient and fails here.

mod common;

use common::{assert_close, ctx, data, spec};
use ebm::testing::{
    fitting_paths, is_llvmpipe, tile, MAX_SAVED, MAX_UNITS, TILE_CHAINS, TILE_THREADS,
};
use ebm::{reference, Activation, Engine, KernelPath, Model, Output, PathChoice, RefineConfig};

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
    for layer in &mut m.layers {
        layer.weight.iter_mut().for_each(|w| *w *= gain);
    }
    m
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

/// vec4s of act'(z) one thread of a `chains`-chain tile keeps for `m`'s hidden layers.
fn saved_per_thread(m: &Model, chains: u32) -> u32 {
    let lanes = TILE_THREADS / (chains / 4);
    m.layers[..m.layers.len() - 1]
        .iter()
        .map(|l| (l.n_out as u32).div_ceil(lanes))
        .sum()
}

/// For a tile of `chains`: the widest first layer the adapter's workgroup memory allows
/// (up to MAX_UNITS vec4s per thread), then layers of one vec4 per thread until the
/// thread keeps exactly MAX_SAVED vec4s of act'(z). None if no such model fits.
fn filling(chains: u32, limits: &wgpu::Limits) -> Option<(Model, u32)> {
    let lanes = (TILE_THREADS / (chains / 4)) as usize;
    let narrow = lanes.min(32);
    (1..=MAX_UNITS).rev().find_map(|units| {
        let mut hidden = vec![units as usize * lanes];
        hidden.extend(std::iter::repeat_n(narrow, (MAX_SAVED - units) as usize));
        let m = deep(3, 5, &hidden, Activation::Tanh, 1.7, u64::from(chains));
        tile::misfit(&m, chains, limits)
            .is_none()
            .then_some((m, units))
    })
}

#[test]
fn every_tile_size_filled_to_its_register_limits() {
    let limits = ctx().limits();
    let mut ran = 0;
    for chains in TILE_CHAINS {
        let Some((m, units)) = filling(chains, &limits) else {
            continue;
        };
        assert_eq!(saved_per_thread(&m, chains), MAX_SAVED);
        let what = format!(
            "tile{chains} with {units} vec4s per thread in its widest layer and {MAX_SAVED} of act'(z)"
        );
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

/// The planner refuses one vec4 of act'(z) more than the kernel keeps, by name.
#[test]
fn one_past_the_register_limits_is_refused() {
    let limits = ctx().limits();
    let chains = 32;
    let lanes = (TILE_THREADS / (chains / 4)) as usize;
    let over = deep(
        3,
        5,
        &vec![lanes; MAX_SAVED as usize + 1],
        Activation::Tanh,
        1.7,
        1,
    );
    let why = tile::misfit(&over, chains, &limits).expect("refused");
    assert!(why.contains(&format!("more than {MAX_SAVED}")), "{why}");
    let wide = deep(
        3,
        5,
        &[(MAX_UNITS as usize + 1) * lanes],
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
        "{err}"
    );
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
        let paths = fitting_paths(&m, &limits);
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
