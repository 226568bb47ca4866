//! The standard benchmark workloads (`ebm bench`, the criterion benches, the adapter-profile
//! tests). Depends only on the public `ebm` API, so benches and tests include this file
//! with `#[path = "../src/bin/ebm/workloads.rs"] mod workloads;`.

use ebm::rng::HostRng;
use ebm::{Activation, Model, ModelSpec, Output, RefineConfig, Result};

/// The kind of energy a workload runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The MLP of `spec`.
    Mlp,
    /// A pre-norm residual net over `spec`'s x_dim and y_dim, `spec.hidden[0]` wide
    /// (`ebm::energy::samples::pre_norm_residual`: a linear layer over [x, y], two blocks
    /// h += W gelu(LayerNorm(h)), one output, plus 0.1 |y|^2).
    PreNormResidual,
    /// The model in this file (`ebm bench --model`; `spec` is unused).
    File(std::path::PathBuf),
}

/// A named benchmark job: a model shape with random weights (seed 0) and a refinement.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Name, as `ebm bench --workload` takes it.
    pub name: &'static str,
    /// The model's dimensions (the MLP itself for Kind::Mlp), built with random weights
    /// from seed 0 by [`Workload::model`].
    pub spec: ModelSpec,
    /// The kind of energy.
    pub kind: Kind,
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

impl Workload {
    /// The workload's model, with random weights from seed 0.
    pub fn model(&self) -> Result<Model> {
        match &self.kind {
            Kind::Mlp => Model::random(&self.spec, 0),
            Kind::PreNormResidual => Ok(ebm::energy::samples::pre_norm_residual(
                self.spec.x_dim,
                self.spec.y_dim,
                self.spec.hidden[0],
                0,
            )),
            Kind::File(path) => Model::load(path),
        }
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
            kind: Kind::Mlp,
        },
        Workload {
            name: "r1",
            spec: r1_spec(),
            batch: 8192,
            config: config(100),
            kind: Kind::Mlp,
        },
        Workload {
            name: "latency",
            spec: r1_spec(),
            batch: 64,
            config: config(1000),
            kind: Kind::Mlp,
        },
        Workload {
            name: "toy2d",
            spec: toy2d,
            batch: 65536,
            config: config(1000),
            kind: Kind::Mlp,
        },
    ]
}

/// The jobs of `ebm bench --suite`: every standard workload, r1 at batch 65536 (the batch
/// of the FMA-peak target), and resln, a pre-norm residual LayerNorm net with r1's
/// dimensions and multiply-adds (the energy graphs' representative), at batch 8192.
pub fn suite() -> Vec<Workload> {
    let mut jobs = workloads();
    jobs.push(Workload {
        name: "r1",
        spec: r1_spec(),
        batch: 65536,
        config: config(100),
        kind: Kind::Mlp,
    });
    jobs.push(Workload {
        name: "resln",
        spec: ModelSpec {
            hidden: vec![256],
            ..r1_spec()
        },
        batch: 8192,
        config: config(100),
        kind: Kind::PreNormResidual,
    });
    jobs
}

/// The job `ebm bench --model FILE` runs: that model, 1024 chains, 100 steps of r1's
/// refinement (both overridable).
pub fn of_file(path: &std::path::Path) -> Workload {
    Workload {
        name: "model",
        spec: r1_spec(),
        batch: 1024,
        config: config(100),
        kind: Kind::File(path.to_path_buf()),
    }
}

/// `n` values uniform in [-1, 1) from `rng`: the inputs of benchmark jobs.
pub fn uniform_inputs(rng: &mut HostRng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.symmetric() as f32).collect()
}
