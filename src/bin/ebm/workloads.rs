//! The standard benchmark workloads (`ebm bench`, the criterion benches, the adapter-profile
//! tests). Depends only on the public `ebm` API, so benches and tests include this file
//! with `#[path = "../src/bin/ebm/workloads.rs"] mod workloads;`.

use ebm::rng::HostRng;
use ebm::{Activation, ModelSpec, Output, RefineConfig};

/// A named benchmark job: a model shape with random weights (seed 0) and a refinement.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Name, as `ebm bench --workload` takes it.
    pub name: &'static str,
    /// The model, built with random weights from seed 0.
    pub spec: ModelSpec,
    /// Chains.
    pub batch: usize,
    /// The refinement.
    pub config: RefineConfig,
}

/// The r1 model: x_dim 32, y_dim 32, hidden [256, 256, 256], silu, one identity output.
pub fn r1_spec() -> ModelSpec {
    ModelSpec {
        x_dim: 32,
        y_dim: 32,
        hidden: vec![256, 256, 256],
        outputs: 1,
        activation: Activation::Silu,
        output: Output::Identity,
    }
}

fn config(steps: u32) -> RefineConfig {
    RefineConfig {
        steps,
        step_size: 0.01,
        temperature: 0.001,
        ..Default::default()
    }
}

/// Every standard workload, in the order `ebm bench` runs them.
pub fn workloads() -> Vec<Workload> {
    let toy2d = ModelSpec {
        x_dim: 2,
        y_dim: 2,
        hidden: vec![64, 64],
        ..r1_spec()
    };
    vec![
        Workload {
            name: "r1",
            spec: r1_spec(),
            batch: 1024,
            config: config(100),
        },
        Workload {
            name: "r1",
            spec: r1_spec(),
            batch: 8192,
            config: config(100),
        },
        Workload {
            name: "latency",
            spec: r1_spec(),
            batch: 64,
            config: config(1000),
        },
        Workload {
            name: "toy2d",
            spec: toy2d,
            batch: 65536,
            config: config(1000),
        },
    ]
}

/// The jobs of `ebm bench --suite`: every standard workload, and r1 at batch 65536 (the
/// batch of the FMA-peak target).
pub fn suite() -> Vec<Workload> {
    let mut jobs = workloads();
    jobs.push(Workload {
        name: "r1",
        spec: r1_spec(),
        batch: 65536,
        config: config(100),
    });
    jobs
}

/// `n` values uniform in [-1, 1) from `rng`: the inputs of benchmark jobs.
pub fn uniform_inputs(rng: &mut HostRng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.symmetric() as f32).collect()
}
