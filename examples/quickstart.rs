//! Quickstart: refine 4096 answers at once on the GPU and see them reach the right answer.
//!
//! The energy is E(x, y) = |y - R x|^2 with R a rotation by 90 degrees: zero exactly when
//! y is x turned a quarter turn, larger the further y is from it. It is written as an
//! `ebm` energy graph (one linear node over [x, y] with weights [-R, I] and a
//! sum-of-squares term), the kind of graph a PyTorch user exports with
//! examples/export_pytorch.py.
//!
//! Run: `cargo run --release --example quickstart`

use ebm::rng::HostRng;
use ebm::{Context, Engine, GraphBuilder, Head, RefineConfig};

fn main() -> Result<(), ebm::Error> {
    env_logger::init();
    let ctx = Context::new()?;
    let info = ctx.adapter_info();
    println!("GPU: {} ({:?})", info.name, info.backend);

    // E(x, y) = |y - R x|^2 with R = [[0, -1], [1, 0]]: a linear node f = W [x, y] (the rows
    // of W read [x0, x1, y0, y1]) and a sum-of-squares energy term.
    let mut g = GraphBuilder::new(2, 2, 0);
    let weight = vec![0.0, 1.0, 1.0, 0.0, -1.0, 0.0, 0.0, 1.0];
    let f = g.linear_with(&[g.x(), g.y()], 2, weight, None);
    g.energy(Head::SumSquares, f, 1.0);
    let model = g.build()?;
    let engine = Engine::new(&ctx, &model)?;

    let chains = 4096;
    let mut rng = HostRng::new(7, 0);
    let mut draw =
        |n: usize| -> Vec<f32> { (0..n).map(|_| 2.0 * rng.symmetric() as f32).collect() };
    let x = draw(2 * chains);
    let y0 = draw(2 * chains);
    let start = engine.eval(&x, &y0)?;
    let mean = |v: &[f32]| v.iter().map(|&e| f64::from(e)).sum::<f64>() / v.len() as f64;
    println!(
        "\n{chains} chains, each an observed point x and a random guess y. Mean energy of the guesses: {:.3}",
        mean(&start.energy)
    );

    // Gradient descent: T = 0.
    let descent = RefineConfig {
        steps: 50,
        step_size: 0.1,
        ..Default::default()
    };
    let t = std::time::Instant::now();
    let out = engine.refine(&x, &y0, &descent)?;
    let elapsed = t.elapsed();
    let worst = (0..chains)
        .map(|c| {
            let (x0, x1) = (x[2 * c], x[2 * c + 1]);
            let (ty0, ty1) = (-x1, x0); // R x
            ((out.y[2 * c] - ty0).powi(2) + (out.y[2 * c + 1] - ty1).powi(2)).sqrt()
        })
        .fold(0.0f32, f32::max);
    println!(
        "Gradient descent, {} steps of size {} for all chains on the GPU, with no read-back between steps ({:.1} ms):",
        descent.steps,
        descent.step_size,
        elapsed.as_secs_f64() * 1e3
    );
    println!(
        "  mean energy now {:.2e}; every y is within {worst:.1e} of the exact answer R x.",
        mean(&out.energy)
    );

    // Langevin sampling: T > 0 keeps the chains jittering around the answer.
    let temperature = 0.02;
    let langevin = RefineConfig {
        steps: 200,
        step_size: 0.05,
        temperature,
        seed: 1,
        ..Default::default()
    };
    let out = engine.refine(&x, &y0, &langevin)?;
    let mut sq = 0.0f64;
    for c in 0..chains {
        sq += f64::from(out.y[2 * c] + x[2 * c + 1]).powi(2);
    }
    let eta = f64::from(langevin.step_size);
    let theory = f64::from(temperature) / (2.0 * (1.0 - eta));
    println!(
        "Langevin sampling at temperature {temperature}: the chains now spread around the answer with variance {:.4} per coordinate (theory for this step size: {theory:.4}).",
        sq / chains as f64
    );
    println!("\nNext: `cargo run --release -- refine --help` for the command line, README.md for your own models.");
    Ok(())
}
