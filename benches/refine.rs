//! Criterion benchmarks of whole refinements and evaluations, sized to finish on a
//! software adapter too; `ebm bench` runs the full standard workloads.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ebm::bench::workloads;
use ebm::rng::HostRng;
use ebm::{Context, Engine, Model, RefineConfig};

fn refine(c: &mut Criterion) {
    let ctx = Context::new().expect("a GPU adapter");
    let toy = workloads().into_iter().find(|w| w.name == "toy2d").unwrap();
    let model = Model::random(&toy.spec, 0).unwrap();
    let engine = Engine::new(&ctx, &model).unwrap();
    let batch = 4096;
    let mut rng = HostRng::new(1, 0);
    let x: Vec<f32> = (0..batch * model.x_dim)
        .map(|_| rng.symmetric() as f32)
        .collect();
    let y0: Vec<f32> = (0..batch * model.y_dim)
        .map(|_| rng.symmetric() as f32)
        .collect();
    let config = RefineConfig {
        steps: 100,
        ..toy.config.clone()
    };

    let mut group = c.benchmark_group(format!("toy2d on {}", ctx.adapter_info().name));
    group.sample_size(10);
    group.throughput(Throughput::Elements(
        (batch as u64) * u64::from(config.steps),
    ));
    group.bench_function("refine 4096 chains x 100 steps", |b| {
        b.iter(|| engine.refine(&x, &y0, &config).unwrap())
    });
    group.throughput(Throughput::Elements(batch as u64));
    group.bench_function("eval 4096 chains", |b| {
        b.iter(|| engine.eval(&x, &y0).unwrap())
    });
    group.finish();
}

criterion_group!(benches, refine);
criterion_main!(benches);
