//! `ebm`: the command line over the library. Every subcommand is a thin layer: read files,
//! check them against the model, call the library, write the result.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ebm::{bench, npy, Context, Engine, Error, Model, RefineConfig, Result};

#[derive(Parser)]
#[command(
    name = "ebm",
    version,
    about = "Energy-based model inference on the GPU"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List every GPU adapter, the one chosen, its backend, features and limits.
    Info,
    /// Energies and dE/dy of a batch: writes tensors `energy` [B] and `grad` [B, y_dim].
    Eval {
        /// Model file (safetensors, see the README for the format).
        #[arg(long)]
        model: PathBuf,
        /// Observed inputs, float32 .npy [B, x_dim] (omit for x_dim = 0).
        #[arg(long)]
        x: Option<PathBuf>,
        /// Answers to evaluate, float32 .npy [B, y_dim].
        #[arg(long)]
        y: PathBuf,
        /// Output safetensors file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Refine y0 by K steps of gradient descent (T = 0) or Langevin dynamics:
    /// y <- clamp(y - eta * (dE/dy + lambda * y) + sqrt(2 eta T) * N(0, I)).
    /// Writes tensors `y` [B, y_dim] and `energy` [B] (the prior included).
    Refine {
        /// Model file (safetensors).
        #[arg(long)]
        model: PathBuf,
        /// Observed inputs, float32 .npy [B, x_dim] (omit for x_dim = 0).
        #[arg(long)]
        x: Option<PathBuf>,
        /// Starting answers, float32 .npy [B, y_dim].
        #[arg(long)]
        y0: PathBuf,
        /// Number of steps K.
        #[arg(long)]
        steps: u32,
        /// Step size eta.
        #[arg(long, allow_negative_numbers = true)]
        step_size: f32,
        /// Temperature T (0: plain gradient descent).
        #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
        temperature: f32,
        /// Seed of the noise; the same seed gives bit-identical output on the same GPU.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// lambda of the prior (lambda/2)|y|^2 added to the energy.
        #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
        prior_l2: f32,
        /// Clamp every coordinate of y to [LO, HI] after each step, e.g. `--clamp=-1,1`.
        #[arg(long, value_parser = parse_clamp, allow_hyphen_values = true)]
        clamp: Option<(f32, f32)>,
        /// Most chains per dispatch (larger batches are split; results do not change).
        #[arg(long)]
        chunk: Option<usize>,
        /// Output safetensors file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Time whole refinements of the standard workloads.
    Bench {
        /// Only this workload (r1, latency, toy2d).
        #[arg(long)]
        workload: Option<String>,
        /// Override the batch size.
        #[arg(long)]
        batch: Option<usize>,
        /// Override the number of steps.
        #[arg(long)]
        steps: Option<u32>,
        /// Timed runs per workload (the median is reported).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn parse_clamp(s: &str) -> std::result::Result<(f32, f32), String> {
    let (lo, hi) = s
        .split_once(',')
        .ok_or_else(|| format!("expected LO,HI, got {s:?}"))?;
    let num = |v: &str| {
        v.trim()
            .parse::<f32>()
            .map_err(|_| format!("{v:?} is not a number"))
    };
    Ok((num(lo)?, num(hi)?))
}

fn main() -> ExitCode {
    env_logger::init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Info => info(),
        Command::Eval { model, x, y, out } => {
            let (model_data, n, xs, ys) = read_job(&model, x.as_deref(), &y, "--y", &out)?;
            let engine = Engine::new(&Context::new()?, &model_data)?;
            let result = engine.eval(&xs, &ys)?;
            ebm::write_safetensors(
                &out,
                &[
                    ("energy", vec![n], &result.energy),
                    ("grad", vec![n, model_data.y_dim], &result.grad),
                ],
                None,
            )
        }
        Command::Refine {
            model,
            x,
            y0,
            steps,
            step_size,
            temperature,
            seed,
            prior_l2,
            clamp,
            chunk,
            out,
        } => {
            let config = RefineConfig {
                steps,
                step_size,
                temperature,
                seed,
                prior_l2,
                clamp,
            };
            config.validate()?;
            let (model_data, n, xs, ys) = read_job(&model, x.as_deref(), &y0, "--y0", &out)?;
            let mut engine = Engine::new(&Context::new()?, &model_data)?;
            if let Some(c) = chunk {
                engine.set_max_chunk(c)?;
            }
            let result = engine.refine(&xs, &ys, &config)?;
            ebm::write_safetensors(
                &out,
                &[
                    ("y", vec![n, model_data.y_dim], &result.y),
                    ("energy", vec![n], &result.energy),
                ],
                None,
            )
        }
        Command::Bench {
            workload,
            batch,
            steps,
            runs,
            json,
        } => run_bench(workload, batch, steps, runs, json),
    }
}

/// Checks the output path, loads the model and reads the batch it is given.
fn read_job(
    model: &Path,
    x: Option<&Path>,
    y: &Path,
    y_flag: &str,
    out: &Path,
) -> Result<(Model, usize, Vec<f32>, Vec<f32>)> {
    check_out(out, &[model, y], x)?;
    let model = Model::load(model)?;
    let (n, xs, ys) = read_inputs(&model, x, y, y_flag)?;
    Ok((model, n, xs, ys))
}

/// Refuses an output path that is one of the inputs: nothing a user gave is overwritten.
fn check_out(out: &Path, inputs: &[&Path], x: Option<&Path>) -> Result<()> {
    let resolve = |p: &Path| {
        std::fs::canonicalize(p)
            .unwrap_or_else(|_| std::path::absolute(p).unwrap_or(p.to_path_buf()))
    };
    let target = resolve(out);
    for input in inputs.iter().copied().chain(x) {
        if resolve(input) == target {
            return Err(Error::option(
                "--out",
                format!(
                    "{} is also an input; choose another output path",
                    out.display()
                ),
            ));
        }
    }
    Ok(())
}

fn read_inputs(
    model: &Model,
    x: Option<&Path>,
    y: &Path,
    y_flag: &str,
) -> Result<(usize, Vec<f32>, Vec<f32>)> {
    let (n, ys) = npy::read_batch(y, model.y_dim)?;
    let xs = match (x, model.x_dim) {
        (None, 0) => Vec::new(),
        (None, d) => {
            return Err(Error::option(
                "--x",
                format!("is required: the model's x_dim is {d}"),
            ))
        }
        (Some(p), 0) => {
            return Err(Error::input(
                p.display().to_string(),
                "the model is unconditional (x_dim 0): leave out --x",
            ))
        }
        (Some(p), d) => {
            let (nx, xs) = npy::read_batch(p, d)?;
            if nx != n {
                return Err(Error::input(
                    p.display().to_string(),
                    format!("has {nx} rows but {y_flag} {} has {n}", y.display()),
                ));
            }
            xs
        }
    };
    Ok((n, xs, ys))
}

fn info() -> Result<()> {
    let (adapters, chosen) = ebm::adapters();
    println!("adapters seen ({}):", adapters.len());
    for (i, a) in adapters.iter().enumerate() {
        let mark = if Some(i) == chosen { "*" } else { " " };
        println!(
            " {mark} [{i}] {} ({:?}, {:?}, driver {} {})",
            a.name, a.backend, a.device_type, a.driver, a.driver_info
        );
    }
    let ctx = Context::new()?;
    let info = ctx.adapter_info();
    let l = ctx.limits();
    println!("chosen: {} on {:?}", info.name, info.backend);
    println!("features: {:?}", ctx.features());
    println!("limits:");
    println!(
        "  max_storage_buffer_binding_size  {}",
        l.max_storage_buffer_binding_size
    );
    println!("  max_buffer_size                  {}", l.max_buffer_size);
    println!(
        "  max_compute_workgroup_storage    {}",
        l.max_compute_workgroup_storage_size
    );
    println!(
        "  max_invocations_per_workgroup    {}",
        l.max_compute_invocations_per_workgroup
    );
    println!(
        "  max_workgroups_per_dimension     {}",
        l.max_compute_workgroups_per_dimension
    );
    println!(
        "  max_storage_buffers_per_stage    {}",
        l.max_storage_buffers_per_shader_stage
    );
    println!(
        "  subgroup size                    {}..{}",
        info.subgroup_min_size, info.subgroup_max_size
    );
    Ok(())
}

fn run_bench(
    workload: Option<String>,
    batch: Option<usize>,
    steps: Option<u32>,
    runs: usize,
    json: bool,
) -> Result<()> {
    let mut jobs = bench::workloads();
    if let Some(name) = &workload {
        jobs.retain(|w| w.name == name);
        if jobs.is_empty() {
            return Err(Error::option(
                "--workload",
                format!("unknown workload {name:?}; expected r1, latency or toy2d"),
            ));
        }
    }
    if let Some(b) = batch {
        if b == 0 {
            return Err(Error::option("--batch", "must be at least 1"));
        }
        jobs.iter_mut().for_each(|w| w.batch = b);
        jobs.dedup_by(|a, b| a.name == b.name && a.batch == b.batch);
    }
    if let Some(k) = steps {
        jobs.iter_mut().for_each(|w| w.config.steps = k);
    }
    let ctx = Context::new()?;
    let mut records = Vec::new();
    if !json {
        println!(
            "{:<28} {:<8} {:<9} {:<12} {:>7} {:>6} {:>10} {:>5} {:>14} {:>9}",
            "adapter",
            "backend",
            "workload",
            "kernel",
            "batch",
            "steps",
            "seconds",
            "timer",
            "chain-steps/s",
            "GFLOP/s"
        );
    }
    for job in &jobs {
        let r = bench::run(&ctx, job, runs)?;
        if !json {
            println!(
                "{:<28} {:<8} {:<9} {:<12} {:>7} {:>6} {:>10.4} {:>5} {:>14.0} {:>9.2}",
                r.adapter,
                r.backend,
                r.workload,
                r.kernel,
                r.batch,
                r.steps,
                r.seconds,
                r.timer,
                r.chain_steps_per_s,
                r.gflops
            );
        }
        records.push(r);
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&records).expect("records serialise")
        );
    }
    Ok(())
}
