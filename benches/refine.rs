//! Criterion benchmarks of whole refinements on each kernel path, and of evaluations,
//! sized to finish on a software adapter too; `ebm bench` runs the full standard workloads.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ebm::rng::HostRng;
use ebm::{Context, Engine, KernelPath, Model, PathChoice, RefineConfig};

/// The standard workloads, as `ebm bench` runs them.
#[path = "../src/bin/ebm/workloads.rs"]
#[allow(dead_code)]
mod workloads;

use workloads::{uniform_inputs, workloads};

fn refine(c: &mut Criterion) {
    let ctx = Context::new().expect("a GPU adapter");
    let toy = workloads().into_iter().find(|w| w.name == "toy2d").unwrap();
    let model = Model::random(&toy.spec, 0).unwrap();
    let batch = 4096;
    let mut rng = HostRng::new(1, 0);
    let x = uniform_inputs(&mut rng, batch * model.x_dim);
    let y0 = uniform_inputs(&mut rng, batch * model.y_dim);
    let config = RefineConfig {
        steps: 100,
        ..toy.config.clone()
    };

    let mut group = c.benchmark_group(format!("toy2d on {}", ctx.adapter_info().name));
    group.sample_size(10);
    group.throughput(Throughput::Elements(
        (batch as u64) * u64::from(config.steps),
    ));
    for choice in [
        PathChoice::Exactly(KernelPath::Chain),
        PathChoice::AnyTile,
        PathChoice::Exactly(KernelPath::Layered),
    ] {
        let engine = Engine::with_path(&ctx, &model, choice).unwrap();
        let path = engine.path_for(batch).unwrap();
        group.bench_function(format!("refine 4096 chains x 100 steps, {path}"), |b| {
            b.iter(|| engine.refine(&x, &y0, &config).unwrap())
        });
    }
    let engine = Engine::new(&ctx, &model).unwrap();
    group.throughput(Throughput::Elements(batch as u64));
    group.bench_function("eval 4096 chains", |b| {
        b.iter(|| engine.eval(&x, &y0).unwrap())
    });
    group.finish();
}

criterion_group!(benches, refine);
criterion_main!(benches);
