//! Helpers shared by the integration tests.
#![allow(dead_code)]

use ebm::rng::HostRng;
use ebm::{
    reference, Activation, Context, Engine, KernelPath, Model, ModelSpec, Output, PathChoice,
    RefineConfig,
};

/// The GPU context; a missing adapter fails the test (it never skips).
pub fn ctx() -> Context {
    Context::new().expect("a GPU adapter is required (on CI: lavapipe from mesa-vulkan-drivers)")
}

/// The paths to test `m` on: chain, layered, and the smallest and the largest tile this
/// adapter's workgroup memory allows for it. Each tile pipeline takes seconds to compile on
/// lavapipe, so the sizes between are left to the tests that name them.
pub fn paths(m: &Model) -> Vec<KernelPath> {
    let fits = ebm::testing::tile::fitting(m, &ctx().limits());
    let mut out = vec![KernelPath::Chain, KernelPath::Layered];
    if let (Some(&small), Some(&large)) = (fits.first(), fits.last()) {
        out.push(KernelPath::Tile { chains: small });
        if large != small {
            out.push(KernelPath::Tile { chains: large });
        }
    }
    out
}

pub fn spec(
    x_dim: usize,
    y_dim: usize,
    hidden: &[usize],
    act: Activation,
    out: Output,
) -> ModelSpec {
    ModelSpec {
        x_dim,
        y_dim,
        hidden: hidden.to_vec(),
        outputs: if out == Output::Square { 4 } else { 1 },
        activation: act,
        output: out,
    }
}

pub fn model(
    x_dim: usize,
    y_dim: usize,
    hidden: &[usize],
    act: Activation,
    out: Output,
    seed: u64,
) -> Model {
    Model::random(&spec(x_dim, y_dim, hidden, act, out), seed).unwrap()
}

/// The parameters of the last linear node of `m` (its weight, and its bias if any).
pub fn last_linear(m: &mut Model) -> Vec<&mut ebm::energy::Param> {
    let node = m
        .nodes
        .iter()
        .rev()
        .find(|n| matches!(n.op, ebm::energy::Op::Linear { .. }))
        .expect("a linear node");
    let ebm::energy::Op::Linear { weight, bias } = node.op else {
        unreachable!()
    };
    let wanted: Vec<usize> = std::iter::once(weight).chain(bias).collect();
    m.params
        .iter_mut()
        .enumerate()
        .filter(|(i, _)| wanted.contains(i))
        .map(|(_, p)| p)
        .collect()
}

/// `m` with its last linear node's weight and bias zeroed: the energy is then constant
/// (the last bias, 0), while every pass still runs in full.
pub fn zero_last_layer(m: &mut Model) {
    for p in last_linear(m) {
        p.data.fill(0.0);
    }
}

/// An MLP from its layers (x_dim, y_dim, activation, output).
pub fn mlp(
    x_dim: usize,
    y_dim: usize,
    activation: Activation,
    output: Output,
    layers: Vec<ebm::Layer>,
) -> Model {
    Model::mlp(x_dim, y_dim, layers, activation, output).unwrap()
}

/// Uniform values in [-scale, scale), never all zero.
pub fn data(n: usize, scale: f64, seed: u64) -> Vec<f32> {
    let mut rng = HostRng::new(seed, 99);
    (0..n).map(|_| (scale * rng.symmetric()) as f32).collect()
}

/// ||a - b|| / ||b||.
pub fn rel_l2(a: &[f32], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    let num: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - y).powi(2))
        .sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    assert!(
        den > 0.0,
        "reference is all zeros: the test would prove nothing"
    );
    (num / den).sqrt()
}

pub fn assert_close(what: &str, gpu: &[f32], reference: &[f64]) {
    assert!(
        gpu.iter().all(|v| v.is_finite()),
        "{what}: non-finite GPU output"
    );
    let err = rel_l2(gpu, reference);
    assert!(err < 1e-4, "{what}: relative L2 error {err:e}");
}

/// Refines `n` random chains on `path` (buffers poisoned) and holds y and the final energy
/// to the float64 reference; returns the engine's result.
pub fn check_refine_on(
    path: PathChoice,
    m: &Model,
    n: usize,
    cfg: &RefineConfig,
    what: &str,
) -> ebm::Refinement {
    let ctx = ctx();
    let mut engine = Engine::with_path(&ctx, m, path).unwrap();
    engine.poison_outputs(true);
    let x = data(n * m.x_dim, 1.0, 7);
    let y0 = data(n * m.y_dim, 1.0, 8);
    let gpu = engine.refine(&x, &y0, cfg).unwrap();
    let (y, energy) = reference::refine(m, &x, &y0, cfg);
    assert_close(&format!("{what}: y"), &gpu.y, &y);
    assert_close(&format!("{what}: energy"), &gpu.energy, &energy);
    // The trajectory really moved.
    let moved: f64 = y0
        .iter()
        .zip(&y)
        .map(|(a, b)| (f64::from(*a) - b).abs())
        .sum();
    assert!(moved > 1e-3 * n as f64, "{what}: y barely moved ({moved})");
    gpu
}

/// Refines `n` random chains on `path` with every option of `cfg` (buffers poisoned) and
/// holds the result to `reference::refine_full`: y and the energy to 1e-4, the step each
/// chain stopped at and its accepted count exactly, its step-size multiplier and the trace
/// to 1e-4. Returns both.
pub fn check_options_on(
    path: PathChoice,
    m: &Model,
    n: usize,
    cfg: &RefineConfig,
    fixed: Option<&[bool]>,
    what: &str,
) -> (ebm::Refinement, reference::ReferenceRun) {
    let mut engine = Engine::with_path(&ctx(), m, path).unwrap();
    engine.poison_outputs(true);
    let x = data(n * m.x_dim, 1.0, 17);
    let y0 = data(n * m.y_dim, 1.0, 18);
    let gpu = engine.refine_fixed(&x, &y0, fixed, cfg).unwrap();
    let want = reference::refine_full(m, &x, &y0, fixed, cfg);
    assert_close(&format!("{what}: y"), &gpu.y, &want.y);
    assert_close(&format!("{what}: energy"), &gpu.energy, &want.energy);
    assert_eq!(gpu.steps_taken, want.steps_taken, "{what}: stopped at");
    assert_eq!(gpu.accepted, want.accepted, "{what}: accepted");
    assert_close(
        &format!("{what}: step scale"),
        &gpu.step_scale,
        &want.step_scale,
    );
    match (&gpu.trace, cfg.trace) {
        (Some(rows), true) => {
            let expected = ebm::reference::summarise(&want.trace);
            assert_eq!(rows.len(), expected.len(), "{what}: trace rows");
            let flat = |r: &ebm::refine::TraceRow| {
                [r.min_energy, r.mean_energy, r.max_energy, r.mean_grad_norm]
            };
            let got: Vec<f32> = rows
                .iter()
                .flat_map(|r| flat(r).map(|v| v as f32))
                .collect();
            let want: Vec<f64> = expected.iter().flat_map(flat).collect();
            assert_close(&format!("{what}: trace"), &got, &want);
        }
        (None, false) => {}
        (got, _) => panic!("{what}: trace {got:?} with config.trace {}", cfg.trace),
    }
    (gpu, want)
}
