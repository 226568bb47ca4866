//! The planner's choices and dispatch sequences.

use super::*;
use crate::kernels::Kernel;
use crate::{Activation, Model, ModelSpec, Output};

/// The r1 model of the standard workloads.
fn r1_spec() -> ModelSpec {
    ModelSpec {
        x_dim: 32,
        y_dim: 32,
        hidden: vec![256, 256, 256],
        outputs: 1,
        activation: Activation::Silu,
        output: Output::Identity,
    }
}

fn r1() -> Compiled {
    Compiled::new(&Model::random(&r1_spec(), 0).unwrap()).unwrap()
}

fn plan(path: KernelPath, compiled: &Compiled, m: u32, spd: u32, rule: bool) -> RefinePlan<'_> {
    RefinePlan {
        path,
        compiled,
        chains: m,
        steps_per_dispatch: spd,
        accept_rule: rule,
        trace: true,
        exchange: None,
        boundaries: &[],
    }
}

fn whole(path: KernelPath, model: &Compiled, m: u32, steps: u32, spd: u32) -> Vec<Dispatch> {
    RefinePlan {
        trace: false,
        ..plan(path, model, m, spd, false)
    }
    .segment(0..steps, true)
}

#[test]
fn fused_paths_take_one_dispatch_per_refinement_off_llvmpipe() {
    let model = r1();
    for path in [KernelPath::Chain, KernelPath::Tile { chains: 16 }] {
        let plan = whole(path, &model, 8192, 1000, u32::MAX);
        assert_eq!(plan.len(), 1, "{path}");
        assert_eq!((plan[0].steps, plan[0].write_energy), (1000, true));
    }
    let layered = whole(KernelPath::Layered, &model, 8192, 10, u32::MAX);
    // Per step the forward pass, the energy, the backward pass and the update; the forward
    // pass and the energy at the end; the x-only part once.
    let l = &model.layered;
    let (pre, forward, backward) = (l.pre.len(), l.forward.len(), l.backward.len());
    assert_eq!(
        layered.len(),
        10 * (forward + 1 + backward + 1) + forward + 1 + pre
    );
    // An MLP's layered pass is a product per layer, with a run of its activations between.
    assert_eq!(
        l.forward
            .iter()
            .filter(|s| matches!(s, crate::kernels::table::LayeredStep::Product { .. }))
            .count(),
        4
    );
}

#[test]
fn runs_of_steps_cover_every_step_once() {
    let model = r1();
    let plan = whole(KernelPath::Tile { chains: 4 }, &model, 10, 10, 3);
    let runs: Vec<_> = plan.iter().map(|d| (d.step_offset, d.steps)).collect();
    assert_eq!(runs, [(0, 3), (3, 3), (6, 3), (9, 1), (10, 0)]);
    assert!(plan.iter().rev().skip(1).all(|d| !d.write_energy));
    assert!(plan.last().unwrap().write_energy);
}

/// Submissions over consecutive step ranges make the same dispatches as one submission,
/// in order, whatever the split: the path the results come from does not change.
#[test]
fn segments_cover_the_refinement_like_one_submission() {
    let model = r1();
    for path in [
        KernelPath::Chain,
        KernelPath::Tile { chains: 8 },
        KernelPath::Layered,
    ] {
        for rule in [false, true] {
            let one = plan(path, &model, 100, 2, rule).segment(0..7, true);
            let mut split = Vec::new();
            for (range, finish) in [(0..3, false), (3..4, false), (4..7, true)] {
                split.extend(plan(path, &model, 100, 2, rule).segment(range, finish));
            }
            let key = |d: &Dispatch| (d.kernel, d.step_offset, d.layer, d.write_energy);
            let steps = |plan: &[Dispatch]| -> Vec<u32> {
                let mut covered: Vec<u32> = plan
                    .iter()
                    .filter(|d| d.kernel != Kernel::TraceReduce)
                    .flat_map(|d| d.step_offset..d.step_offset + d.steps)
                    .collect();
                covered.dedup();
                covered
            };
            assert_eq!(steps(&one), steps(&split), "{path} rule {rule}");
            if path == KernelPath::Layered {
                let one: Vec<_> = one.iter().map(key).collect();
                let split: Vec<_> = split.iter().map(key).collect();
                assert_eq!(one, split, "{path} rule {rule}");
            }
            // The trace is reduced once, at the end, over every step.
            let reduce: Vec<_> = split
                .iter()
                .filter(|d| d.kernel == Kernel::TraceReduce)
                .collect();
            assert_eq!(reduce.len(), 1);
            assert_eq!(reduce[0].steps, 7);
        }
    }
    // A refinement cancelled before its first step still gets its energy (and its x-only
    // part: loading x, W_x x + b).
    let cancelled = plan(KernelPath::Layered, &model, 100, 2, true).segment(0..0, true);
    assert_eq!(cancelled[0].kernel, Kernel::LayeredPointwise);
    assert_eq!(cancelled[1].kernel, Kernel::LayeredProduct);
    assert!(cancelled.last().unwrap().write_energy);
    assert!(cancelled.iter().all(|d| d.kernel != Kernel::TraceReduce));
    // Cancelled after 5 steps: the energy, and the trace of those 5 steps.
    let fused = plan(KernelPath::Chain, &model, 100, u32::MAX, false).segment(5..5, true);
    assert_eq!(fused.len(), 2);
    assert_eq!((fused[1].kernel, fused[1].steps), (Kernel::TraceReduce, 5));
    assert_eq!(
        (fused[0].step_offset, fused[0].steps, fused[0].write_energy),
        (5, 0, true)
    );
}

#[test]
fn evaluations_run_one_pass() {
    let model = r1();
    assert_eq!(evaluation(KernelPath::Chain, &model, 100).len(), 1);
    let layered = evaluation(KernelPath::Layered, &model, 100);
    // The x-only part, the forward pass, the output, the backward pass.
    let l = &model.layered;
    assert_eq!(
        layered.len(),
        l.pre.len() + l.forward.len() + 1 + l.backward.len()
    );
    assert!(layered.iter().all(|d| d.kernel != Kernel::LayeredUpdate));
}

#[test]
fn choice_follows_batch_and_width() {
    let model = r1();
    let limits = wgpu::Limits::default();
    let gpu = wgpu::AdapterInfo::new(wgpu::DeviceType::DiscreteGpu, wgpu::Backend::Vulkan);
    let pick = |n| choose(PathChoice::Auto, &model, n, &gpu, &limits).unwrap();
    // r1 needs 4 (256 x (chains + 8)) bytes and 4 KiB of lane sums: more than
    // WebGPU's default 16 KiB even at 4 chains.
    assert_eq!(pick(64), KernelPath::Layered);
    // With 32 KiB (lavapipe): up to 16 chains.
    let mid = wgpu::Limits {
        max_compute_workgroup_storage_size: 32 << 10,
        ..limits.clone()
    };
    let pick = |n| choose(PathChoice::Auto, &model, n, &gpu, &mid).unwrap();
    assert_eq!(pick(64), KernelPath::Tile { chains: 4 });
    assert_eq!(pick(8192), KernelPath::Tile { chains: 16 });
    // With 48 KiB (NVIDIA through Vulkan): the 32-chain tile from 4096 chains up.
    let big = wgpu::Limits {
        max_compute_workgroup_storage_size: 48 << 10,
        ..limits.clone()
    };
    let pick = |n| choose(PathChoice::Auto, &model, n, &gpu, &big).unwrap();
    assert_eq!(pick(64), KernelPath::Tile { chains: 4 });
    assert_eq!(pick(1024), KernelPath::Tile { chains: 8 });
    assert_eq!(pick(8192), KernelPath::Tile { chains: 32 });
    assert_eq!(pick(65536), KernelPath::Tile { chains: 32 });
    // Small tiles stage more weight rows per round, within the same memory.
    let k_tile = |chains, limits| tile::Sizes::for_program(&model, chains, limits).k_tile;
    assert_eq!(k_tile(32, &big), 8);
    assert_eq!(k_tile(16, &big), 16);
    assert_eq!(k_tile(4, &big), 32);
    assert_eq!(k_tile(4, &mid), 16);
    let wide = Model::random(
        &ModelSpec {
            hidden: vec![4096],
            ..r1_spec()
        },
        0,
    )
    .unwrap();
    let wide = Compiled::new(&wide).unwrap();
    assert_eq!(
        choose(PathChoice::Auto, &wide, 8192, &gpu, &limits).unwrap(),
        KernelPath::Layered
    );
    let cpu = wgpu::AdapterInfo::new(wgpu::DeviceType::Cpu, wgpu::Backend::Vulkan);
    assert_eq!(
        choose(PathChoice::Auto, &model, 8192, &cpu, &limits).unwrap(),
        KernelPath::Chain
    );
    let forced = choose(PathChoice::AnyTile, &wide, 8192, &gpu, &limits).unwrap_err();
    assert!(forced.to_string().contains("PathChoice"), "{forced}");
}

/// A fused path whose one step passes llvmpipe's loop limit is refused before any work,
/// with the reason; the layered path and other adapters still take it. (Five 256-wide SiLU
/// layers on the chain path returned steps unlike the reference's there, and the start-up
/// self-check, whose probe steps are small, did not see it.)
#[test]
fn fused_paths_too_long_for_llvmpipe_are_refused_by_name() {
    let deep = Model::random(
        &ModelSpec {
            x_dim: 16,
            y_dim: 16,
            hidden: vec![256; 5],
            outputs: 1,
            activation: Activation::Silu,
            output: Output::Square,
        },
        0,
    )
    .unwrap();
    let deep = Compiled::new(&deep).unwrap();
    let lavapipe = crate::gpu::profiles::lavapipe();
    let (info, limits) = (lavapipe.info(), &lavapipe.limits);
    let refused = |path| {
        choose(PathChoice::Exactly(path), &deep, 64, &info, limits)
            .unwrap_err()
            .to_string()
    };
    let why = refused(KernelPath::Chain);
    assert!(
        why.contains("chain on llvmpipe") && why.contains("65535") && why.contains("layered"),
        "{why}"
    );
    // A tile splits a step's loops over its lanes: this one's fit.
    assert!(llvmpipe::one_step_too_long(&deep, KernelPath::Tile { chains: 4 }).is_none());
    assert_eq!(
        choose(
            PathChoice::Exactly(KernelPath::Layered),
            &deep,
            64,
            &info,
            limits
        )
        .unwrap(),
        KernelPath::Layered
    );
    assert_eq!(
        choose(PathChoice::Auto, &deep, 64, &info, limits).unwrap(),
        KernelPath::Layered
    );
    // Another adapter has no such limit.
    let gpu = wgpu::AdapterInfo::new(wgpu::DeviceType::DiscreteGpu, wgpu::Backend::Vulkan);
    assert_eq!(
        choose(
            PathChoice::Exactly(KernelPath::Chain),
            &deep,
            64,
            &gpu,
            limits
        )
        .unwrap(),
        KernelPath::Chain
    );
    // The r1 model's step fits: its chain path stays.
    assert!(choose(
        PathChoice::Exactly(KernelPath::Chain),
        &r1(),
        64,
        &info,
        limits
    )
    .is_ok());
}
