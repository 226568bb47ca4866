//! The standard benchmark workloads and how a refinement is timed: warm-up excluded,
//! median of several whole refinements, GPU timestamps where the adapter has them.

use std::time::Instant;

use crate::plan::{fitting_paths, KernelPath};
use crate::rng::HostRng;
use crate::{
    Activation, Context, Engine, Model, ModelSpec, Output, PathChoice, RefineConfig, Result,
};

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

/// Every kernel path the adapter can run `spec` on: chain, each tile size that fits its
/// limits, layered.
pub fn eligible_paths(ctx: &Context, spec: &ModelSpec) -> Result<Vec<KernelPath>> {
    Ok(fitting_paths(&Model::random(spec, 0)?, &ctx.limits()))
}

/// One measured row.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Record {
    /// Adapter name.
    pub adapter: String,
    /// Driver name and version, as the adapter reports them.
    pub driver: String,
    /// Backend (Vulkan, Metal, Dx12...).
    pub backend: String,
    /// Workload name.
    pub workload: String,
    /// Kernel path that ran.
    pub kernel: String,
    /// Chains.
    pub batch: usize,
    /// Steps K.
    pub steps: u32,
    /// Median seconds of one refinement, by `timer`.
    pub seconds: f64,
    /// `gpu` (timestamps around the kernels) or `wall` (the whole call, transfers included).
    pub timer: String,
    /// Median wall-clock seconds of the whole call, upload and read-back included.
    pub wall_seconds: f64,
    /// batch * steps / seconds.
    pub chain_steps_per_s: f64,
    /// 4 P FLOPs per chain-step (P = multiply-adds of one forward pass) / seconds / 1e9.
    pub gflops: f64,
    /// Timed runs the median is over.
    pub runs: usize,
    /// GFLOP/s as a share of the adapter's measured float32 FMA peak (`--peak`).
    pub peak_share: Option<f64>,
    /// The adapter's measured float32 FMA peak in GFLOP/s (`--peak`).
    pub peak_gflops: Option<f64>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// `n` values uniform in [-1, 1) from `rng`: the inputs of benchmark jobs.
pub fn uniform_inputs(rng: &mut HostRng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.symmetric() as f32).collect()
}

/// Times `workload` on the path `choice` gives: a one-step warm-up at full batch
/// (pipelines, allocations), then `runs` whole refinements. `dispatch_ms` is the
/// refinement's submission budget (`RefineConfig::dispatch_ms`).
pub fn run(
    ctx: &Context,
    workload: &Workload,
    runs: usize,
    choice: PathChoice,
    dispatch_ms: Option<f32>,
) -> Result<Record> {
    let model = Model::random(&workload.spec, 0)?;
    let engine = Engine::with_path(ctx, &model, choice)?;
    let n = workload.batch;
    let mut rng = HostRng::new(1, 0);
    let x = uniform_inputs(&mut rng, n * model.x_dim);
    let y0 = uniform_inputs(&mut rng, n * model.y_dim);
    let config = RefineConfig {
        dispatch_ms,
        ..workload.config.clone()
    };
    let warm = RefineConfig {
        steps: 1,
        ..config.clone()
    };
    engine.refine(&x, &y0, &warm)?;
    let (mut wall, mut gpu) = (Vec::new(), Vec::new());
    let mut path = engine.path_for(n)?;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        let out = engine.refine(&x, &y0, &config)?;
        wall.push(t.elapsed().as_secs_f64());
        gpu.extend(out.gpu_seconds);
        path = out.path;
    }
    let wall_seconds = median(wall);
    let (seconds, timer) = if gpu.is_empty() {
        (wall_seconds, "wall")
    } else {
        (median(gpu), "gpu")
    };
    let chain_steps = (n as f64) * f64::from(workload.config.steps);
    let info = ctx.adapter_info();
    Ok(Record {
        adapter: info.name.clone(),
        driver: format!("{} {}", info.driver, info.driver_info)
            .trim()
            .to_string(),
        backend: format!("{:?}", info.backend),
        workload: workload.name.to_string(),
        kernel: path.to_string(),
        batch: n,
        steps: workload.config.steps,
        seconds,
        timer: timer.into(),
        wall_seconds,
        chain_steps_per_s: chain_steps / seconds,
        gflops: 4.0 * model.multiply_adds() as f64 * chain_steps / seconds / 1e9,
        runs: runs.max(1),
        peak_share: None,
        peak_gflops: None,
    })
}
