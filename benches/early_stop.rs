//! Early stopping saves work: the same refinement with a growing share of chains that stop
//! at their first step (their start is already below the energy threshold). The stopped
//! chains are either the first ones of the batch (contiguous: whole workgroups, or whole
//! SIMD groups on a CPU adapter, go idle) or every other chain (interleaved: each group
//! keeps working for its running half), on the path `ebm` picks and on the tile kernel.
//!
//! The energy is the toy2d model with its last layer zeroed, so E + (lambda/2)|y|^2 is the
//! prior alone: a chain started at 0.01 stops at once below the threshold 0.01, one started
//! at 3 never gets there in these steps; the passes cost the same as the full model's.

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use ebm::rng::HostRng;
use ebm::{Context, Engine, Model, PathChoice, RefineConfig, StopRule};

/// The standard workloads, as `ebm bench` runs them.
#[path = "../src/bin/ebm/workloads.rs"]
#[allow(dead_code)]
mod workloads;

use workloads::{uniform_inputs, workloads};

fn early_stop(c: &mut Criterion) {
    let ctx = Context::new().expect("a GPU adapter");
    let toy = workloads().into_iter().find(|w| w.name == "toy2d").unwrap();
    let mut model = Model::random(&toy.spec, 0).unwrap();
    // The last linear node's weight and bias (what tests/common's zero_last_layer zeroes).
    let (weight, bias) = model
        .nodes
        .iter()
        .rev()
        .find_map(|n| match n.op {
            ebm::energy::Op::Linear { weight, bias } => Some((weight, bias)),
            _ => None,
        })
        .expect("toy2d has a linear node");
    for p in std::iter::once(weight).chain(bias) {
        model.params[p].data.fill(0.0);
    }
    let batch = 2048;
    let steps = 50;
    let x = uniform_inputs(&mut HostRng::new(1, 0), batch * model.x_dim);
    let config = RefineConfig {
        steps,
        step_size: 0.001,
        prior_l2: 1.0,
        stop: StopRule {
            below: Some(0.01),
            ..Default::default()
        },
        ..Default::default()
    };
    let y_dim = model.y_dim;
    let starts = |share: f64, interleaved: bool| -> Vec<f32> {
        let stopped = (share * batch as f64).round() as usize;
        (0..batch)
            .flat_map(|c| {
                // Interleaved: evenly spread, exactly `stopped` of them.
                let stops = if interleaved {
                    (c + 1) * stopped / batch > c * stopped / batch
                } else {
                    c < stopped
                };
                std::iter::repeat_n(if stops { 0.01 } else { 3.0 }, y_dim)
            })
            .collect()
    };
    for choice in [PathChoice::Auto, PathChoice::AnyTile] {
        let engine = Engine::with_path(&ctx, &model, choice).unwrap();
        let path = engine.path_for(batch).unwrap();
        let mut group = c.benchmark_group(format!(
            "early stop, toy2d {batch} chains x {steps} steps, {path} on {}",
            ctx.adapter_info().name
        ));
        // Whole refinements take seconds on a software adapter: a fixed count of runs each.
        group.sampling_mode(SamplingMode::Flat);
        group.sample_size(10);
        group.throughput(Throughput::Elements((batch * steps as usize) as u64));
        for interleaved in [false, true] {
            for share in [0.0, 0.25, 0.5, 0.75, 1.0] {
                let y0 = starts(share, interleaved);
                // The share really stops, and the others really run.
                let out = engine.refine(&x, &y0, &config).unwrap();
                let stopped = out.steps_taken.iter().filter(|&&s| s == 0).count();
                assert_eq!(stopped, (share * batch as f64).round() as usize);
                let layout = if interleaved {
                    "interleaved"
                } else {
                    "contiguous"
                };
                group.bench_with_input(
                    BenchmarkId::new(layout, format!("{:.0}% stopped", share * 100.0)),
                    &y0,
                    |b, y0| b.iter(|| engine.refine(&x, y0, &config).unwrap()),
                );
            }
        }
        group.finish();
    }
}

criterion_group!(benches, early_stop);
criterion_main!(benches);
