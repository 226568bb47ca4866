//! `ebm refine`: the flags made into a `RefineConfig`, every file checked before the run,
//! the refinement (best of R per x with --best-of), then its output, trace and summary.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Instant;

use ebm::refine::{parse_stages, RefineOptions};
use ebm::{
    BestOf, Context, Engine, Error, Progress, ProgressBar, RefineConfig, Refinement, Result,
    Sampler,
};

use crate::args::RefineArgs;
use crate::files::{check_not_input, check_output, check_writable};
use crate::inputs::{read_fixed, read_job, Job};
use crate::interrupt::interrupt_flag;
use crate::out_file::{self, Tensor, Values};
use crate::summary::{refine_line, Energies, RefineRun};
use crate::trace_file;
use crate::Outcome;

/// The refinement the flags ask for, checked (clap has already refused flags that need or
/// exclude others; the library decides what a flag left out becomes).
fn config_of(args: &RefineArgs) -> Result<RefineConfig> {
    let stages = match &args.stages {
        Some(s) => parse_stages(s).map_err(|e| Error::config("--stages", e))?,
        None => Vec::new(),
    };
    RefineOptions {
        steps: args.steps,
        step_size: args.step_size,
        temperature: args.temperature.unwrap_or(0.0),
        schedule: args.schedule,
        step_size_end: args.step_size_end,
        temperature_end: args.temperature_end,
        stages,
        landscape: args.landscape.unwrap_or(0.0),
        seed: args.seed,
        chain_offset: args.chain_offset.unwrap_or(0),
        sampler: args.sampler.options(),
        replicas: args.replicas,
        ladder: args.ladder,
        ladder_factors: args.ladder_factors.clone(),
        swap_every: args.swap_every,
        vertex_penalty: args.vertex_penalty,
        vertex_penalty_schedule: args.vertex_penalty_schedule,
        decode: args.decode,
        stop_grad: args.stop_grad,
        stop_change: args.stop_change,
        stop_below: args.stop_below,
        trace: args.trace.is_some(),
        dispatch_ms: args.dispatch_ms,
        keep_non_finite: args.keep_non_finite,
    }
    .config()
}

/// Refuses outputs that cannot be written or would overwrite an input, before any work.
fn check_outputs(args: &RefineArgs) -> Result<()> {
    let mut inputs = vec![args.model.as_path(), args.y0.as_path()];
    inputs.extend(args.x.as_deref());
    inputs.extend(args.fixed.as_deref());
    check_writable("--out", &args.out)?;
    if let Some(path) = &args.trace {
        trace_file::check_trace_path(path)?;
        let mut others = inputs.clone();
        others.push(&args.out);
        check_output("--trace", path, &others)?;
    }
    check_not_input("--out", &args.out, &inputs)
}

/// What `refine` writes: every chain, or the best of R per x.
enum Written {
    All(Refinement),
    Best(BestOf, usize),
}

impl Written {
    /// Every chain that ran.
    fn all(&self) -> &Refinement {
        match self {
            Written::All(r) => r,
            Written::Best(best, _) => &best.all,
        }
    }

    /// The energies written.
    fn energy(&self) -> &[f32] {
        match self {
            Written::All(r) => &r.energy,
            Written::Best(best, _) => &best.energy,
        }
    }
}

pub fn refine(args: &RefineArgs, quiet: bool) -> Result<Outcome> {
    let config = config_of(args)?;
    check_outputs(args)?;
    let per_x = args.best_of.unwrap_or(1);
    if per_x == 0 {
        return Err(Error::config("--best-of", "needs at least 1 chain per x"));
    }
    if let (Some(r), Some(per_x)) = (args.replicas, args.best_of) {
        if r as usize > 0 && per_x % r as usize != 0 {
            return Err(Error::config(
                "--replicas",
                format!("{r} replicas do not divide the {per_x} chains per x of --best-of"),
            ));
        }
    }
    let job = read_job(&args.model, args.x.as_deref(), &args.y0, "--y0", per_x)?;
    let fixed = match &args.fixed {
        Some(path) => Some(read_fixed(path, &job, &args.y0)?),
        None => None,
    };
    let mut engine = Engine::with_path(&Context::new()?, &job.model, args.kernel)?;
    if let Some(c) = args.chunk {
        engine.set_max_chunk(c)?;
    }
    // From here on, Ctrl-C stops the refinement rather than the process.
    let interrupted = interrupt_flag("stopping at the next submission");
    // The summary's "before"; nothing to compute with --quiet.
    let before = match quiet {
        true => None,
        false => Some(energies_at_start(&engine, &job, per_x, &config)?),
    };
    let mut bar = ProgressBar::new(quiet);
    let mut on_progress = |p: &Progress| {
        bar.show(p);
        match interrupted.load(Ordering::SeqCst) {
            true => ControlFlow::Break(()),
            false => ControlFlow::Continue(()),
        }
    };
    let start = Instant::now();
    let written = match args.best_of {
        Some(r) => Written::Best(
            engine.refine_best_of_with(
                &job.x,
                &job.y,
                r,
                fixed.as_deref(),
                &config,
                Some(&mut on_progress),
            )?,
            r,
        ),
        None => Written::All(engine.refine_with(
            &job.x,
            &job.y,
            fixed.as_deref(),
            &config,
            Some(&mut on_progress),
        )?),
    };
    let time = start.elapsed();
    bar.finish();
    let all = written.all();
    if let (Some(path), Some(rows)) = (&args.trace, &all.trace) {
        trace_file::write_trace(path, rows)?;
    }
    write_output(&args.out, &written, &job, args, &config)?;
    let bad = all.non_finite_at.iter().flatten().count();
    if bad > 0 {
        eprintln!(
            "warning: {bad} of {} chains became non-finite (NaN or infinite); written as asked by --keep-non-finite (see the non_finite_at tensor)",
            all.non_finite_at.len()
        );
    }
    let done = all.steps_taken.iter().copied().max().unwrap_or(0);
    if let Some(before) = before {
        let run = RefineRun {
            chains: job.n,
            steps: args.steps,
            cancelled_at: all.cancelled.then_some(done),
            best_of: args.best_of.map(|r| (r, job.n / r)),
            path: all.path,
            time,
            before,
            after: Energies::of(written.energy()),
            warmup: warmup_steps(&config).map(|k| {
                let (during, after) = all.warmup_and_after_acceptance(k);
                (k, finite_mean(&during), finite_mean(&after))
            }),
            exchange: all
                .exchange
                .as_ref()
                .map(|x| (x.pair_acceptance(), x.total_round_trips())),
            decoded: all.decoded.as_ref().map(|d| {
                (
                    d.energy.iter().filter(|&&e| e == 0.0).count(),
                    d.energy.len(),
                )
            }),
        };
        eprintln!("{}", refine_line(&run));
    }
    if all.cancelled {
        eprintln!(
            "interrupted after {done} of {} steps: {} written with what was done (metadata ebm.status = cancelled; steps_taken per chain)",
            args.steps,
            args.out.display()
        );
        return Ok(Outcome::Interrupted);
    }
    Ok(Outcome::Done)
}

/// The energies at y0 in the first step's landscape, the prior (lambda/2)|y0|^2 included as
/// in the refinement's, from an evaluation on the refinement's own engine.
fn energies_at_start(
    engine: &Engine,
    job: &Job,
    per_x: usize,
    config: &RefineConfig,
) -> Result<Energies> {
    let prior_l2 = config.prior_l2;
    let x_dim = job.model.x_dim;
    // With --best-of, each row of x goes with its R starts.
    let x: Vec<f32> = match per_x {
        1 => job.x.clone(),
        r => job
            .x
            .chunks(x_dim.max(1))
            .flat_map(|row| std::iter::repeat_n(row, r).flatten().copied())
            .collect(),
    };
    let eval = engine.eval_at(&x, &job.y, config.landscape_at(0))?;
    let lambda = f64::from(prior_l2);
    let energy: Vec<f32> = eval
        .energy
        .iter()
        .zip(job.y.chunks(job.model.y_dim))
        .map(|(&e, y)| {
            let norm2: f64 = y.iter().map(|&v| f64::from(v).powi(2)).sum();
            (f64::from(e) + 0.5 * lambda * norm2) as f32
        })
        .collect();
    Ok(Energies::of(&energy))
}

/// Writes the output file: float32 values, int32 counts and indices, and the run's status
/// in the metadata.
fn write_output(
    out: &Path,
    written: &Written,
    job: &Job,
    args: &RefineArgs,
    config: &RefineConfig,
) -> Result<()> {
    let status = match written.all().cancelled {
        true => "cancelled",
        false => "complete",
    };
    let metadata = HashMap::from([
        ("ebm.status".to_string(), status.to_string()),
        ("ebm.steps".to_string(), args.steps.to_string()),
    ]);
    let (n, y_dim) = (job.n, job.model.y_dim);
    let acceptance;
    let split;
    let mut tensors = match written {
        Written::Best(best, r) => {
            let m = n / r;
            vec![
                Tensor::new("y", vec![m, y_dim], Values::F32(&best.y)),
                Tensor::new("energy", vec![m], Values::F32(&best.energy)),
                Tensor::new("best", vec![m], Values::counts(&best.best)),
                Tensor::new("spread", vec![m], Values::F32(&best.spread)),
            ]
        }
        Written::All(result) => {
            acceptance = result.acceptance_rate();
            split = warmup_steps(config).map(|k| result.warmup_and_after_acceptance(k));
            let mut tensors = vec![
                Tensor::new("y", vec![n, y_dim], Values::F32(&result.y)),
                Tensor::new("energy", vec![n], Values::F32(&result.energy)),
                Tensor::new("steps_taken", vec![n], Values::counts(&result.steps_taken)),
                Tensor::new("accepted", vec![n], Values::counts(&result.accepted)),
                Tensor::new("acceptance", vec![n], Values::F32(&acceptance)),
                Tensor::new("step_scale", vec![n], Values::F32(&result.step_scale)),
            ];
            if let Some((during, after)) = &split {
                tensors.push(Tensor::new(
                    "acceptance_warmup",
                    vec![n],
                    Values::F32(during),
                ));
                tensors.push(Tensor::new(
                    "acceptance_after_warmup",
                    vec![n],
                    Values::F32(after),
                ));
            }
            if args.keep_non_finite {
                let at: Vec<i32> = result
                    .non_finite_at
                    .iter()
                    .map(|s| s.map_or(-1, |k| i32::try_from(k).unwrap_or(i32::MAX)))
                    .collect();
                tensors.push(Tensor::new("non_finite_at", vec![n], Values::I32(at)));
            }
            tensors
        }
    };
    let all = written.all();
    if let Some(d) = &all.decoded {
        tensors.push(Tensor::new("decoded_y", vec![n, y_dim], Values::F32(&d.y)));
        tensors.push(Tensor::new(
            "decoded_energy",
            vec![n],
            Values::F32(&d.energy),
        ));
    }
    let swap_acceptance;
    if let Some(x) = &all.exchange {
        swap_acceptance = x.pair_acceptance();
        tensors.push(Tensor::new(
            "swap_acceptance",
            vec![swap_acceptance.len()],
            Values::F32(&swap_acceptance),
        ));
        tensors.push(Tensor::new(
            "round_trips",
            vec![x.round_trips.len()],
            Values::counts(&x.round_trips),
        ));
    }
    out_file::write(out, &tensors, Some(metadata))
}

/// MALA's warm-up steps, where it has one.
fn warmup_steps(config: &RefineConfig) -> Option<u32> {
    match config.sampler {
        Sampler::Mala { adapt_steps, .. } if adapt_steps > 0 => Some(adapt_steps),
        _ => None,
    }
}

/// The mean of the finite values (NaN: a chain with no step in that part).
fn finite_mean(v: &[f32]) -> f32 {
    let finite: Vec<f32> = v.iter().copied().filter(|x| x.is_finite()).collect();
    finite.iter().sum::<f32>() / finite.len().max(1) as f32
}
