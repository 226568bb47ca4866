//! `ebm`: the command line over the library. Every subcommand is a thin layer: read files,
//! check them against the model, call the library, write the result.
//!
//! Exit codes: 0 success; 1 the run failed (no adapter, a GPU error, a lost device, out of
//! memory, chains that became non-finite); 2 bad input (a flag, a file, a value: nothing
//! ran); 130 interrupted by Ctrl-C (the output was still written, marked cancelled).

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use ebm::{
    bench, npy, parse_stages, Context, Engine, Error, Model, PathChoice, Progress, RefineConfig,
    Result, Sampler, Schedule, Shape, StopRule,
};

#[derive(Parser)]
#[command(
    name = "ebm",
    version,
    about = "Energy-based model inference on the GPU",
    after_help = "Exit codes: 0 success; 1 the run failed (no adapter, GPU error, lost device, out of memory, non-finite chains); 2 bad input (flags, files, values); 130 interrupted by Ctrl-C (output written, marked cancelled)."
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
        /// Write energies or gradients that are NaN or infinite instead of failing.
        #[arg(long)]
        keep_non_finite: bool,
    },
    /// Refine y0 by K steps of gradient descent (T = 0) or Langevin dynamics:
    /// y <- clamp(y - eta * (dE/dy + lambda * y) + sqrt(2 eta T) * N(0, I)).
    /// Writes tensors `y` [B, y_dim] and `energy` [B] (the prior included), and per chain
    /// `steps_taken` (fewer than K where it stopped early), `acceptance` (the share of its
    /// steps accepted by --mala or --keep-if-lower, 1 otherwise) and `step_scale` (its final
    /// step-size multiplier).
    Refine(Box<RefineArgs>),
    /// Time whole refinements of the standard workloads.
    Bench(BenchArgs),
}

#[derive(Args)]
struct RefineArgs {
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
    /// Step size eta (at the first step, with a schedule); required unless --stages.
    #[arg(
        long,
        allow_negative_numbers = true,
        required_unless_present = "stages",
        conflicts_with = "stages"
    )]
    step_size: Option<f32>,
    /// Temperature T (at the first step, with a schedule; 0, the default: plain gradient
    /// descent).
    #[arg(long, allow_negative_numbers = true, conflicts_with = "stages")]
    temperature: Option<f32>,
    /// How eta and T go from --step-size / --temperature to --step-size-end /
    /// --temperature-end over the steps: constant, linear, cosine or geometric (the same
    /// ratio every step; annealing).
    #[arg(long, default_value = "constant")]
    schedule: Shape,
    /// eta at the last step (default: --step-size).
    #[arg(long, allow_negative_numbers = true)]
    step_size_end: Option<f32>,
    /// T at the last step (default: --temperature).
    #[arg(long, allow_negative_numbers = true)]
    temperature_end: Option<f32>,
    /// Stages STEPS:ETA:T,STEPS:ETA:T,... run in order instead of a schedule; their steps
    /// must add up to --steps.
    #[arg(long)]
    stages: Option<String>,
    /// Seed of the noise (default 0); the same seed gives bit-identical output on the same
    /// GPU.
    #[arg(long)]
    seed: Option<u64>,
    /// lambda of the prior (lambda/2)|y|^2 added to the energy.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    prior_l2: f32,
    /// Clamp every coordinate of y to [LO, HI] after each step, e.g. `--clamp=-1,1`.
    #[arg(long, value_parser = parse_clamp, allow_hyphen_values = true)]
    clamp: Option<(f32, f32)>,
    /// Project every group of G consecutive coordinates of y onto the probability simplex
    /// after each step (a one-hot relaxation; y_dim must be a multiple of G).
    #[arg(long, value_name = "G")]
    simplex: Option<u32>,
    /// R chains per row of --x: --y0 (and --fixed) hold R starts per row, rows i*R..i*R+R
    /// for x row i; writes the lowest-energy chain of each x (`y`, `energy`), which one
    /// it was (`best`) and the spread of the R final energies (`spread`).
    #[arg(long, value_name = "R")]
    best_of: Option<usize>,
    /// Coordinates held at their start values: float32 .npy [B, y_dim], nonzero where fixed.
    #[arg(long)]
    fixed: Option<PathBuf>,
    /// Scale each chain's step direction dE/dy + lambda y down to at most this norm.
    #[arg(long, allow_negative_numbers = true)]
    clip_grad: Option<f32>,
    /// Metropolis-adjusted Langevin: each step is a proposal that each chain accepts or
    /// refuses with the exact MALA ratio, so the chains sample exp(-E / T) with no
    /// step-size bias. Needs --temperature > 0; not with --clamp, --clip-grad or
    /// --simplex. Writes each chain's acceptance rate (`acceptance`).
    #[arg(long, conflicts_with = "keep_if_lower")]
    mala: bool,
    /// With --mala: adapt each chain's step size toward --target-accept during the first
    /// N steps (then it stays fixed, and sampling is exact again).
    #[arg(long, value_name = "N", requires = "mala")]
    adapt_steps: Option<u32>,
    /// With --mala --adapt-steps: the acceptance rate to adapt toward (default 0.574).
    #[arg(long, allow_negative_numbers = true, requires = "adapt_steps")]
    target_accept: Option<f32>,
    /// Keep-if-lower descent: a step that raises a chain's energy is refused, and that
    /// chain's step size is multiplied by --shrink.
    #[arg(long)]
    keep_if_lower: bool,
    /// With --keep-if-lower: the factor in (0, 1) a refused step shrinks the step size by.
    #[arg(
        long,
        default_value_t = 0.5,
        allow_negative_numbers = true,
        requires = "keep_if_lower"
    )]
    shrink: f32,
    /// Stop a chain once |dE/dy + lambda y| is at most TOL (tested before every step).
    #[arg(long, value_name = "TOL", allow_negative_numbers = true)]
    stop_grad: Option<f32>,
    /// Stop a chain once its last step changed its energy by at most TOL.
    #[arg(long, value_name = "TOL", allow_negative_numbers = true)]
    stop_change: Option<f32>,
    /// Stop a chain once its energy (the prior included) is at most E.
    #[arg(long, value_name = "E", allow_negative_numbers = true)]
    stop_below: Option<f32>,
    /// Write per step the batch's min / mean / max energy and mean gradient norm,
    /// reduced on the GPU, to FILE (.csv or .json).
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Most chains per dispatch (larger batches are split; results do not change).
    #[arg(long)]
    chunk: Option<usize>,
    /// The longest one GPU submission runs, in milliseconds (default 100): long
    /// refinements are split so that no display watchdog kills them, and progress shows
    /// between submissions. 0 runs every step in one dispatch (GPUs without a display).
    /// Results do not change.
    #[arg(long, value_name = "MS", allow_negative_numbers = true)]
    dispatch_ms: Option<f32>,
    /// Write chains whose y or energy became NaN or infinite (and a `non_finite_at` tensor:
    /// the step each became so, -1 for finite chains) instead of failing.
    #[arg(long)]
    keep_non_finite: bool,
    #[arg(long, default_value = "auto", help = KERNEL_HELP)]
    kernel: PathChoice,
    /// Output safetensors file.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
struct BenchArgs {
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
    #[arg(long, default_value = "auto", help = KERNEL_HELP)]
    kernel: PathChoice,
    /// First measure the adapter's float32 FMA peak, and report each run's share of it.
    #[arg(long)]
    peak: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Every standard workload on every kernel path this adapter can run, after --peak
    /// (the GPU campaign's ebm side; with --workload, --batch and --steps to reduce it).
    #[arg(long, conflicts_with = "kernel")]
    suite: bool,
    /// The longest one GPU submission runs, in milliseconds (default 100; 0: one dispatch
    /// per refinement).
    #[arg(long, value_name = "MS", allow_negative_numbers = true)]
    dispatch_ms: Option<f32>,
}

const KERNEL_HELP: &str = "Kernel path: auto (chosen from the model, batch and adapter), chain (one chain per invocation), tile (workgroup tiles, size chosen by batch), tile4, tile8, tile16, tile32, or layered (a dispatch per layer)";

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

/// What a run that did not fail ended with.
enum Outcome {
    Done,
    /// Ctrl-C stopped it; the output was written, marked cancelled.
    Interrupted,
}

fn main() -> ExitCode {
    env_logger::init();
    match run(Cli::parse()) {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Interrupted) => ExitCode::from(130),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(if bad_input(&e) { 2 } else { 1 })
        }
    }
}

/// Whether an error is the input's fault (exit 2) rather than the run's (exit 1).
fn bad_input(e: &Error) -> bool {
    matches!(
        e,
        Error::Io { .. }
            | Error::ModelFile { .. }
            | Error::Model(_)
            | Error::Input { .. }
            | Error::Config { .. }
    )
}

fn run(cli: Cli) -> Result<Outcome> {
    match cli.command {
        Command::Info => info().map(|()| Outcome::Done),
        Command::Eval {
            model,
            x,
            y,
            out,
            keep_non_finite,
        } => {
            check_writable("--out", &out)?;
            let (model_data, n, xs, ys) = read_job(&model, x.as_deref(), &y, "--y", 1, &out)?;
            let engine = Engine::new(&Context::new()?, &model_data)?;
            let result = engine.eval(&xs, &ys)?;
            let y_dim = model_data.y_dim;
            let bad: Vec<Option<u32>> = (0..n)
                .map(|c| {
                    let finite = result.energy[c].is_finite()
                        && result.grad[c * y_dim..(c + 1) * y_dim]
                            .iter()
                            .all(|g| g.is_finite());
                    (!finite).then_some(0)
                })
                .collect();
            if !keep_non_finite && bad.iter().any(Option::is_some) {
                let count = bad.iter().flatten().count();
                let first: Vec<String> = bad
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| b.is_some())
                    .take(5)
                    .map(|(c, _)| format!("chain {c}"))
                    .collect();
                return Err(Error::NonFinite {
                    count,
                    total: n,
                    first: first.join(", "),
                });
            }
            ebm::write_safetensors(
                &out,
                &[
                    ("energy", vec![n], &result.energy),
                    ("grad", vec![n, y_dim], &result.grad),
                ],
                None,
            )?;
            Ok(Outcome::Done)
        }
        Command::Refine(args) => refine(*args),
        Command::Bench(args) => run_bench(args).map(|()| Outcome::Done),
    }
}

/// Refuses an output path that cannot be written, before any work is done: a missing
/// folder found after a long run would lose it.
fn check_writable(flag: &'static str, path: &Path) -> Result<()> {
    if path.is_dir() {
        return Err(Error::config(
            flag,
            format!("{} is a folder; give a file name", path.display()),
        ));
    }
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !folder.is_dir() {
        return Err(Error::config(
            flag,
            format!(
                "cannot write {}: the folder {} does not exist",
                path.display(),
                folder.display()
            ),
        ));
    }
    // Write access, tried with a file of our own: the output itself is only written once
    // the run has succeeded.
    let probe = folder.join(format!(".ebm-write-check-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(Error::config(
            flag,
            format!(
                "cannot write {}: the folder {} is not writable ({e})",
                path.display(),
                folder.display()
            ),
        )),
    }
}

fn refine(args: RefineArgs) -> Result<Outcome> {
    let RefineArgs {
        model,
        x,
        y0,
        steps,
        step_size,
        temperature,
        schedule,
        step_size_end,
        temperature_end,
        stages,
        seed,
        prior_l2,
        clamp,
        simplex,
        best_of,
        fixed,
        clip_grad,
        mala,
        adapt_steps,
        target_accept,
        keep_if_lower,
        shrink,
        stop_grad,
        stop_change,
        stop_below,
        trace,
        chunk,
        dispatch_ms,
        keep_non_finite,
        kernel,
        out,
    } = args;
    let sampler = if mala {
        Sampler::Mala {
            adapt_steps: adapt_steps.unwrap_or(0),
            target_accept: target_accept.unwrap_or(0.574),
        }
    } else if keep_if_lower {
        Sampler::KeepIfLower { shrink }
    } else {
        Sampler::Langevin
    };
    let defaults = RefineConfig::default();
    let config = RefineConfig {
        steps,
        // With --stages (which sets every step's eta and T) neither is given.
        step_size: step_size.unwrap_or(defaults.step_size),
        temperature: temperature.unwrap_or(0.0),
        schedule: Schedule {
            shape: schedule,
            step_size_end,
            temperature_end,
            stages: match stages {
                Some(s) => parse_stages(&s).map_err(|e| Error::config("--stages", e))?,
                None => Vec::new(),
            },
        },
        seed: seed.unwrap_or(0),
        prior_l2,
        clamp,
        clip_grad,
        simplex,
        sampler,
        stop: StopRule {
            grad: stop_grad,
            change: stop_change,
            below: stop_below,
        },
        trace: trace.is_some(),
        dispatch_ms: dispatch_budget(dispatch_ms),
        keep_non_finite,
    };
    config.validate()?;
    if seed.is_some() && config.step_table()?.iter().all(|[_, noise]| *noise == 0.0) {
        return Err(Error::config(
            "--seed",
            "would be ignored: no step has noise (the temperature is 0 throughout)",
        ));
    }
    check_writable("--out", &out)?;
    if let Some(path) = &trace {
        ebm::trace::check_trace_path(path)?;
        check_writable("--trace", path)?;
        let mut inputs = vec![model.as_path(), y0.as_path(), out.as_path()];
        inputs.extend(fixed.as_deref());
        check_not_input("--trace", path, &inputs, x.as_deref())?;
    }
    let per_x = best_of.unwrap_or(1);
    if per_x == 0 {
        return Err(Error::config("--best-of", "needs at least 1 chain per x"));
    }
    let (model_data, n, xs, ys) = read_job(&model, x.as_deref(), &y0, "--y0", per_x, &out)?;
    let held = match &fixed {
        Some(path) => {
            check_out(&out, &[path], None)?;
            let (rows, mask) = npy::read_batch(path, model_data.y_dim)?;
            if rows != n {
                return Err(Error::input(
                    path.display().to_string(),
                    format!("has {rows} rows but --y0 {} has {n}", y0.display()),
                ));
            }
            Some(mask.iter().map(|&v| v != 0.0).collect::<Vec<bool>>())
        }
        None => None,
    };
    let mut engine = Engine::with_path(&Context::new()?, &model_data, kernel)?;
    if let Some(c) = chunk {
        engine.set_max_chunk(c)?;
    }
    let y_dim = model_data.y_dim;
    let interrupted = interrupt_flag();
    let mut bar = ProgressBar::new();
    let mut on_progress = |p: &Progress| {
        bar.show(p);
        match interrupted.load(Ordering::SeqCst) {
            true => ControlFlow::Break(()),
            false => ControlFlow::Continue(()),
        }
    };
    let all_chains;
    let result = match best_of {
        Some(r) => {
            let best = engine.refine_best_of_with(
                &xs,
                &ys,
                r,
                held.as_deref(),
                &config,
                Some(&mut on_progress),
            )?;
            all_chains = best.all.clone();
            Written::Best(best, r)
        }
        None => {
            let result =
                engine.refine_with(&xs, &ys, held.as_deref(), &config, Some(&mut on_progress))?;
            all_chains = result.clone();
            Written::All(result)
        }
    };
    bar.finish();
    if let (Some(path), Some(rows)) = (&trace, &all_chains.trace) {
        ebm::trace::write_trace(path, rows)?;
    }
    let status = if all_chains.cancelled {
        "cancelled"
    } else {
        "complete"
    };
    let metadata = HashMap::from([
        ("ebm.status".to_string(), status.to_string()),
        ("ebm.steps".to_string(), steps.to_string()),
    ]);
    match result {
        Written::Best(best, r) => {
            let m = n / r;
            let index: Vec<f32> = best.best.iter().map(|&k| k as f32).collect();
            ebm::write_safetensors(
                &out,
                &[
                    ("y", vec![m, y_dim], &best.y),
                    ("energy", vec![m], &best.energy),
                    ("best", vec![m], &index),
                    ("spread", vec![m], &best.spread),
                ],
                Some(metadata),
            )?;
        }
        Written::All(result) => {
            let taken: Vec<f32> = result.steps_taken.iter().map(|&k| k as f32).collect();
            let non_finite: Vec<f32> = result
                .non_finite_at
                .iter()
                .map(|s| s.map_or(-1.0, |k| k as f32))
                .collect();
            let acceptance = result.acceptance_rate();
            let mut tensors: Vec<(&str, Vec<usize>, &[f32])> = vec![
                ("y", vec![n, y_dim], &result.y),
                ("energy", vec![n], &result.energy),
                ("steps_taken", vec![n], &taken),
                ("acceptance", vec![n], &acceptance),
                ("step_scale", vec![n], &result.step_scale),
            ];
            if keep_non_finite {
                tensors.push(("non_finite_at", vec![n], &non_finite));
            }
            ebm::write_safetensors(&out, &tensors, Some(metadata))?;
        }
    }
    let bad = all_chains.non_finite_at.iter().flatten().count();
    if bad > 0 {
        eprintln!(
            "warning: {bad} of {} chains became non-finite (NaN or infinite); written as asked by --keep-non-finite (see the non_finite_at tensor)",
            all_chains.non_finite_at.len()
        );
    }
    if all_chains.cancelled {
        let done = all_chains.steps_taken.iter().copied().max().unwrap_or(0);
        eprintln!(
            "interrupted after {done} of {steps} steps: {} written with what was done (metadata ebm.status = cancelled; steps_taken per chain)",
            out.display()
        );
        return Ok(Outcome::Interrupted);
    }
    Ok(Outcome::Done)
}

/// `--dispatch-ms`: the default budget when not given, no split for 0.
fn dispatch_budget(flag: Option<f32>) -> Option<f32> {
    match flag {
        Some(0.0) => None,
        Some(ms) => Some(ms),
        None => Some(ebm::DEFAULT_DISPATCH_MS),
    }
}

/// What `refine` writes: every chain, or the best of R per x.
enum Written {
    All(ebm::Refinement),
    Best(ebm::BestOf, usize),
}

/// A flag Ctrl-C sets: the refinement stops at its next submission and writes what it has.
/// A second Ctrl-C ends the process at once.
fn interrupt_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let set = Arc::clone(&flag);
    // Where no handler can be installed, Ctrl-C keeps its default (ending the process).
    let _ = ctrlc::set_handler(move || {
        if set.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\nstopping at the next submission (Ctrl-C again to quit at once)");
    });
    flag
}

/// A progress bar on stderr, shown only on a terminal and only once a refinement has run
/// for about a second.
struct ProgressBar {
    bar: Option<indicatif::ProgressBar>,
}

impl ProgressBar {
    const AFTER: Duration = Duration::from_secs(1);

    fn new() -> Self {
        ProgressBar { bar: None }
    }

    fn show(&mut self, p: &Progress) {
        if self.bar.is_none() && p.elapsed >= Self::AFTER && p.steps_done < p.steps_total {
            let bar = indicatif::ProgressBar::with_draw_target(
                Some(p.steps_total),
                indicatif::ProgressDrawTarget::stderr(),
            );
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:40}] {pos}/{len} steps, {eta} left",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            self.bar = Some(bar);
        }
        if let Some(bar) = &self.bar {
            bar.set_position(p.steps_done);
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// Checks the output path, loads the model and reads the batch it is given.
/// `per_x` rows of y go with each row of x (best-of-R; 1 otherwise).
fn read_job(
    model: &Path,
    x: Option<&Path>,
    y: &Path,
    y_flag: &str,
    per_x: usize,
    out: &Path,
) -> Result<(Model, usize, Vec<f32>, Vec<f32>)> {
    check_out(out, &[model, y], x)?;
    let model = Model::load(model)?;
    let (n, xs, ys) = read_inputs(&model, x, y, y_flag, per_x)?;
    Ok((model, n, xs, ys))
}

/// Refuses an output path that is one of the inputs: nothing a user gave is overwritten.
fn check_out(out: &Path, inputs: &[&Path], x: Option<&Path>) -> Result<()> {
    check_not_input("--out", out, inputs, x)
}

/// Refuses the output path of `flag` if it is one of the inputs.
fn check_not_input(
    flag: &'static str,
    out: &Path,
    inputs: &[&Path],
    x: Option<&Path>,
) -> Result<()> {
    let resolve = |p: &Path| {
        std::fs::canonicalize(p)
            .unwrap_or_else(|_| std::path::absolute(p).unwrap_or(p.to_path_buf()))
    };
    let target = resolve(out);
    for input in inputs.iter().copied().chain(x) {
        if resolve(input) == target {
            return Err(Error::config(
                flag,
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
    per_x: usize,
) -> Result<(usize, Vec<f32>, Vec<f32>)> {
    let (n, ys) = npy::read_batch(y, model.y_dim)?;
    if n % per_x != 0 {
        return Err(Error::input(
            y.display().to_string(),
            format!("has {n} rows, not a multiple of --best-of {per_x}"),
        ));
    }
    let xs = match (x, model.x_dim) {
        (None, 0) => Vec::new(),
        (None, d) => {
            return Err(Error::config(
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
            if nx * per_x != n {
                let per = match per_x {
                    1 => String::new(),
                    r => format!(", {r} per row of --x (--best-of {r})"),
                };
                return Err(Error::input(
                    p.display().to_string(),
                    format!("has {nx} rows but {y_flag} {} has {n}{per}", y.display()),
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

fn run_bench(args: BenchArgs) -> Result<()> {
    let BenchArgs {
        workload,
        batch,
        steps,
        runs,
        kernel,
        peak,
        json,
        suite,
        dispatch_ms,
    } = args;
    let mut jobs = if suite {
        bench::suite()
    } else {
        bench::workloads()
    };
    let peak = peak || suite;
    if let Some(name) = &workload {
        jobs.retain(|w| w.name == name);
        if jobs.is_empty() {
            return Err(Error::config(
                "--workload",
                format!("unknown workload {name:?}; expected r1, latency or toy2d"),
            ));
        }
    }
    if let Some(b) = batch {
        if b == 0 {
            return Err(Error::config("--batch", "must be at least 1"));
        }
        jobs.iter_mut().for_each(|w| w.batch = b);
        // Jobs that became equal run once, in their first place.
        let mut seen = std::collections::HashSet::new();
        jobs.retain(|w| seen.insert((w.name, w.batch)));
    }
    if let Some(k) = steps {
        jobs.iter_mut().for_each(|w| w.config.steps = k);
    }
    let dispatch_ms = dispatch_budget(dispatch_ms);
    if let Some(ms) = dispatch_ms {
        RefineConfig {
            dispatch_ms: Some(ms),
            ..Default::default()
        }
        .validate()?;
    }
    let ctx = Context::new()?;
    let peak = match peak {
        true => {
            let p = ebm::peak::measure(&ctx)?;
            eprintln!(
                "float32 FMA peak of {}: {:.1} GFLOP/s ({} workgroups of 256 threads, {:.4} s, {} timer)",
                ctx.adapter_info().name,
                p.gflops,
                p.workgroups,
                p.seconds,
                p.timer
            );
            Some(p.gflops)
        }
        false => None,
    };
    let mut records = Vec::new();
    if !json {
        println!(
            "{:<28} {:<8} {:<9} {:<12} {:>7} {:>6} {:>10} {:>5} {:>14} {:>9} {:>8}",
            "adapter",
            "backend",
            "workload",
            "kernel",
            "batch",
            "steps",
            "seconds",
            "timer",
            "chain-steps/s",
            "GFLOP/s",
            "of peak"
        );
    }
    let mut plan = Vec::new();
    for job in &jobs {
        if suite {
            for path in bench::eligible_paths(&ctx, &job.spec)? {
                plan.push((job, PathChoice::Exactly(path)));
            }
        } else {
            plan.push((job, kernel));
        }
    }
    for (job, choice) in plan {
        let mut r = bench::run(&ctx, job, runs, choice, dispatch_ms)?;
        r.peak_share = peak.map(|p| r.gflops / p);
        r.peak_gflops = peak;
        if !json {
            println!(
                "{:<28} {:<8} {:<9} {:<12} {:>7} {:>6} {:>10.4} {:>5} {:>14.0} {:>9.2} {:>8}",
                r.adapter,
                r.backend,
                r.workload,
                r.kernel,
                r.batch,
                r.steps,
                r.seconds,
                r.timer,
                r.chain_steps_per_s,
                r.gflops,
                r.peak_share
                    .map_or("-".to_string(), |s| format!("{:.1}%", 100.0 * s))
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
