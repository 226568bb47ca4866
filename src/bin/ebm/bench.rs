//! `ebm bench`: times whole refinements of the standard workloads (warm-up excluded,
//! median of several runs, GPU timestamps where the adapter has them) and prints a table
//! or JSON, optionally against the adapter's measured FMA peak.

use std::time::Instant;

use ebm::refine::dispatch_budget;
use ebm::rng::HostRng;
use ebm::{Context, Engine, Error, PathChoice, RefineConfig, Result};

use crate::args::BenchArgs;
use crate::peak;
use crate::workloads::{of_file, suite, uniform_inputs, workloads, Workload};

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

/// Times `workload` on the path `choice` gives: a one-step warm-up at full batch
/// (pipelines, allocations), then `runs` whole refinements. `dispatch_ms` is the
/// refinement's submission budget (`RefineConfig::dispatch_ms`).
fn time_workload(
    ctx: &Context,
    workload: &Workload,
    runs: usize,
    choice: PathChoice,
    dispatch_ms: Option<f32>,
) -> Result<Record> {
    let model = workload.model()?;
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

/// The jobs the flags select: the standard workloads (or the suite), reduced to one name,
/// with the batch and steps overridden.
fn jobs_of(args: &BenchArgs) -> Result<Vec<Workload>> {
    let mut jobs = match (&args.model, &args.workload, args.suite) {
        (Some(path), _, _) => vec![of_file(path)],
        (None, None, false) => workloads(),
        // A name is looked up among all of them (resln is only in the suite).
        _ => suite(),
    };
    if let Some(name) = &args.workload {
        jobs.retain(|w| w.name == name);
        if jobs.is_empty() {
            return Err(Error::config(
                "--workload",
                format!("unknown workload {name:?}; expected r1, latency, toy2d or resln"),
            ));
        }
    }
    if let Some(b) = args.batch {
        if b == 0 {
            return Err(Error::config("--batch", "must be at least 1"));
        }
        jobs.iter_mut().for_each(|w| w.batch = b);
        // Jobs that became equal run once, in their first place.
        let mut seen = std::collections::HashSet::new();
        jobs.retain(|w| seen.insert((w.name, w.batch)));
    }
    if let Some(k) = args.steps {
        jobs.iter_mut().for_each(|w| w.config.steps = k);
    }
    Ok(jobs)
}

const TABLE_HEADER: [&str; 11] = [
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
    "of peak",
];

fn print_row(r: &Record) {
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

pub fn bench(args: &BenchArgs) -> Result<()> {
    let jobs = jobs_of(args)?;
    let dispatch_ms = dispatch_budget(args.dispatch_ms);
    if let Some(ms) = dispatch_ms {
        RefineConfig {
            dispatch_ms: Some(ms),
            ..Default::default()
        }
        .validate()?;
    }
    let ctx = Context::new()?;
    let peak = match args.peak || args.suite {
        true => {
            let p = peak::measure(&ctx)?;
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
    if !args.json {
        let h = TABLE_HEADER;
        println!(
            "{:<28} {:<8} {:<9} {:<12} {:>7} {:>6} {:>10} {:>5} {:>14} {:>9} {:>8}",
            h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10]
        );
    }
    let mut plan = Vec::new();
    for job in &jobs {
        if args.suite {
            // Every path this adapter can run the model on.
            for path in Engine::fitting_paths(&ctx, &job.model()?) {
                plan.push((job, PathChoice::Exactly(path)));
            }
        } else {
            plan.push((job, args.kernel));
        }
    }
    let mut records = Vec::new();
    // A suite goes on past a job that fails (a path the driver miscomputes, say), so one
    // failure does not cost the other paths' figures; the first failure is the exit status.
    let mut first_failure = None;
    for (job, choice) in plan {
        let mut r = match time_workload(&ctx, job, args.runs, choice, dispatch_ms) {
            Ok(r) => r,
            Err(e) if args.suite => {
                eprintln!(
                    "ebm bench: {} at batch {} on {choice}: {e}",
                    job.name, job.batch
                );
                first_failure.get_or_insert(e);
                continue;
            }
            Err(e) => return Err(e),
        };
        r.peak_share = peak.map(|p| r.gflops / p);
        r.peak_gflops = peak;
        if !args.json {
            print_row(&r);
        }
        records.push(r);
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&records).expect("records serialise")
        );
    }
    first_failure.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
