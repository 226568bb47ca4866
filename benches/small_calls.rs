//! Calls per second of small refinements, the regime of an application that embeds `ebm`
//! and refines a few chains many times a second: what each call costs beyond its kernels
//! (buffers, bind groups, uploads, the read-back), on a small model.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ebm::{Activation, Context, Engine, Model, ModelSpec, Output, RefineConfig};

fn small_calls(c: &mut Criterion) {
    let ctx = Context::new().expect("a GPU adapter");
    let spec = ModelSpec {
        x_dim: 4,
        y_dim: 4,
        hidden: vec![32, 32],
        outputs: 1,
        activation: Activation::Silu,
        output: Output::Softplus,
    };
    let model = Model::random(&spec, 0).unwrap();
    let engine = Engine::new(&ctx, &model).unwrap();
    let mut group = c.benchmark_group(format!("small calls on {}", ctx.adapter_info().name));
    group.sample_size(30);
    group.throughput(Throughput::Elements(1));
    for batch in [1usize, 64] {
        let x: Vec<f32> = (0..batch * 4).map(|i| (i as f32 * 0.37).sin()).collect();
        let y0: Vec<f32> = (0..batch * 4).map(|i| (i as f32 * 0.73).cos()).collect();
        for steps in [1u32, 10] {
            let config = RefineConfig {
                steps,
                step_size: 0.01,
                ..Default::default()
            };
            group.bench_function(format!("refine batch {batch}, K {steps}"), |b| {
                b.iter(|| engine.refine(&x, &y0, &config).unwrap())
            });
        }
    }
    group.finish();
}

criterion_group!(benches, small_calls);
criterion_main!(benches);
