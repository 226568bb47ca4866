//! How one call of an [`Engine`] runs: its batch in chunks, each chunk's steps in
//! submissions sized to the time budget (`RefineConfig::dispatch_ms`), progress and
//! cancellation between them, and the read-back of results; a lost device or memory that
//! cannot be allocated is an error here, never a hang or a panic.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use super::completion;
use super::workspace::{chains_per_group, Room, Workspace};
use super::Engine;
use crate::engine::progress::{OnProgress, Progress};
use crate::error::{Error, Result};
use crate::gpu::pace::{assumed_flops, Pacer};
use crate::gpu::readback::{binding_limit, read_back};
use crate::gpu::timer::seconds_between;
use crate::kernels::params::{ChainState, Params, RUNNING};
use crate::kernels::trace;
use crate::plan::{self, KernelPath};
use crate::refine::config::{boundaries, RefineConfig, Span, DEFAULT_DISPATCH_MS};
use crate::refine::trace::TraceSums;

/// What a call computes.
pub(super) enum Job<'a> {
    /// Energies and dE/dy at landscape index `landscape`.
    Eval { landscape: f32 },
    /// A refinement: its settings, its step table (`RefineConfig::step_table`, checked),
    /// and the fixed coordinates (`[n, y_dim]`, nonzero where fixed).
    Refine {
        config: &'a RefineConfig,
        table: &'a [[f32; 4]],
        fixed: Option<&'a [u32]>,
    },
}

impl Job<'_> {
    fn steps(&self) -> u32 {
        match self {
            Job::Eval { .. } => 0,
            Job::Refine { config, .. } => config.steps,
        }
    }

    fn trace(&self) -> bool {
        matches!(self, Job::Refine { config, .. } if config.trace && config.steps > 0)
    }

    /// Replica exchange's settings, if any.
    fn exchange(&self) -> Option<&crate::refine::config::Exchange> {
        match self {
            Job::Refine { config, .. } => config.exchange.as_ref(),
            Job::Eval { .. } => None,
        }
    }

    fn stage(&self) -> &'static str {
        match self {
            Job::Eval { .. } => "eval",
            Job::Refine { .. } => "refine",
        }
    }
}

/// What a call gives: the chunks' outputs joined.
pub(super) struct CallOutput {
    pub y: Vec<f32>,
    pub energy: Vec<f32>,
    pub grad: Vec<f32>,
    pub states: Vec<ChainState>,
    /// The trace's per-step sums over every chunk, with `RefineConfig::trace`.
    pub trace: Option<TraceSums>,
    pub gpu_seconds: Option<f64>,
    pub cancelled: bool,
}

/// What every chunk of a call shares.
struct Call<'a> {
    job: &'a Job<'a>,
    path: KernelPath,
    steps_per_dispatch: u32,
    rule: u32,
    budget: Option<Duration>,
    /// The uniform block's fields that hold for the whole call.
    params: Params,
    /// The runs of steps in one landscape and clamp range (one for an evaluation).
    spans: Vec<Span>,
    /// Where each run after the first begins.
    boundaries: Vec<u32>,
}

/// One chunk's share of the inputs.
struct Chunk<'a> {
    /// Its first chain in the batch.
    start: usize,
    x: &'a [f32],
    y: &'a [f32],
    fixed: Option<&'a [u32]>,
}

struct ChunkOutput {
    /// The read-back: y, an evaluation's dE/dy (unit-major, `stride` chains a unit), chain
    /// states, the trace summary, as words.
    data: Vec<u32>,
    chains: usize,
    /// The chains of a unit of the read-back's dE/dy (0: none read back).
    stride: usize,
    /// Steps this chunk ran (fewer than K if cancelled).
    steps_done: u32,
    gpu_seconds: Option<f64>,
}

/// Where a call's progress stands across its chunks.
struct Reporter<'a> {
    callback: Option<OnProgress<'a>>,
    started: Instant,
    steps_total: u64,
    steps_before: u64,
    cancelled: bool,
}

impl Reporter<'_> {
    /// Tells the callback `done` steps of the current chunk are done; it may cancel.
    fn report(&mut self, done: u32) {
        if let Some(callback) = self.callback.as_mut() {
            let progress = Progress {
                steps_done: self.steps_before + u64::from(done),
                steps_total: self.steps_total,
                elapsed: self.started.elapsed(),
            };
            if callback(&progress) == ControlFlow::Break(()) {
                self.cancelled = true;
            }
        }
    }
}

impl Engine {
    /// Seconds one chain-step takes on `path`: measured on an earlier call, or estimated
    /// from the FLOPs and a rate assumed of the adapter's type.
    fn seconds_per_chain_step(&self, path: KernelPath) -> f64 {
        let measured = self
            .rates
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&path)
            .copied();
        measured.unwrap_or_else(|| {
            4.0 * self.model.multiply_adds() as f64
                / assumed_flops(self.ctx.adapter_info().device_type)
        })
    }

    /// The most chains one chunk of `job` on `path` takes.
    fn chunk_size(&self, job: &Job<'_>, n: usize, path: KernelPath) -> Result<usize> {
        let limits = self.ctx.limits();
        let max_groups = limits.max_compute_workgroups_per_dimension as usize;
        let mut chunk = n
            .min(self.max_chunk)
            .min(max_groups * chains_per_group(path) as usize);
        if job.trace() {
            // The trace holds 8 bytes per chain and step, within one binding.
            let binding = binding_limit(&limits);
            let k = u64::from(job.steps());
            let fits = binding.saturating_sub(16 * k) / (8 * k);
            if fits == 0 {
                return Err(Error::config(
                    "RefineConfig::trace",
                    format!("{k} steps need more than the device's largest buffer ({binding} bytes) for one chain's trace"),
                ));
            }
            chunk = chunk.min(fits as usize);
        }
        // The step table and a chunk's fixed coordinates share one binding (`controls`).
        if let Job::Refine { table, .. } = job {
            let binding = binding_limit(&limits);
            let table_bytes = std::mem::size_of_val(*table) as u64;
            let per_chain = 4 * self.model.y_dim as u64;
            let fits = binding.saturating_sub(table_bytes) / per_chain;
            if fits == 0 {
                let most = binding.saturating_sub(per_chain) / 16 - 1;
                return Err(Error::config(
                    "RefineConfig::steps",
                    format!(
                        "{} steps need a step table of {table_bytes} bytes (16 per step), more than the device binds at once ({binding} bytes): refine in parts of at most {most} steps",
                        job.steps()
                    ),
                ));
            }
            chunk = chunk.min(fits as usize);
        }
        // Replica exchange swaps within groups: a chunk holds whole groups.
        if let Some(x) = job.exchange() {
            let r = x.replicas as usize;
            if chunk < r {
                return Err(Error::config(
                    "Exchange::replicas",
                    format!("{r} replicas do not fit in one chunk of this device ({chunk} chains at most)"),
                ));
            }
            chunk = chunk / r * r;
        }
        // The watchdog budget: one step of a chunk must fit it, by the best estimate at
        // hand. CPU adapters drive no display and have no watchdog: their chunks stay whole.
        let per_chain_step = self.seconds_per_chain_step(path);
        if let Some(b) = self.budget(job) {
            if self.ctx.adapter_info().device_type != wgpu::DeviceType::Cpu && per_chain_step > 0.0
            {
                let fit = (b.as_secs_f64() / per_chain_step).floor().max(1.0);
                chunk = chunk.min(fit.min(usize::MAX as f64) as usize);
            }
        }
        Ok(chunk)
    }

    /// The most steps one fused dispatch of a refinement of `config` on `path` takes: the
    /// planner's choice (llvmpipe's loop budget), or what a test forced.
    pub(super) fn steps_per_dispatch(&self, path: KernelPath, config: &RefineConfig) -> u32 {
        match self.forced_steps_per_dispatch {
            0 => plan::steps_per_dispatch(
                self.ctx.adapter_info(),
                &self.plan_limits(),
                &self.compiled,
                path,
                config,
            ),
            k => k,
        }
    }

    /// The longest one submission of `job` should run.
    fn budget(&self, job: &Job<'_>) -> Option<Duration> {
        match job {
            Job::Eval { .. } => Some(DEFAULT_DISPATCH_MS),
            Job::Refine { config, .. } => config.dispatch_ms,
        }
        .map(|ms| Duration::from_secs_f64(f64::from(ms) * 1e-3))
    }

    /// Runs `job` over the batch (`x` `[n, x_dim]`, `y` `[n, y_dim]`) on `path`, chunk by
    /// chunk, inside the context's error scopes.
    pub(super) fn run(
        &self,
        job: &Job<'_>,
        x: &[f32],
        y: &[f32],
        path: KernelPath,
        progress: Option<OnProgress<'_>>,
    ) -> Result<CallOutput> {
        let (out, ws) = self
            .ctx
            .guarded(job.stage(), || self.run_chunks(job, x, y, path, progress))?;
        // Only a workspace whose call ended cleanly serves the next.
        self.give_back(ws);
        Ok(out)
    }

    /// The chunks of a call, one after the other, and the workspace they ran in.
    fn run_chunks(
        &self,
        job: &Job<'_>,
        x: &[f32],
        y: &[f32],
        path: KernelPath,
        progress: Option<OnProgress<'_>>,
    ) -> Result<(CallOutput, Workspace)> {
        let (x_dim, y_dim) = (self.model.x_dim, self.model.y_dim);
        let n = y.len() / y_dim;
        let chunk = self.chunk_size(job, n, path)?;
        let steps = job.steps();
        let layout = self.compiled.params(&self.model, chunk);
        let (rule, steps_per_dispatch, params) = match job {
            Job::Eval { .. } => (0, u32::MAX, layout),
            Job::Refine { config, .. } => (
                config.sampler.rule_id(),
                self.steps_per_dispatch(path, config),
                layout.with_settings(config),
            ),
        };
        let spans = match job {
            Job::Eval { landscape } => vec![Span {
                start: 0,
                landscape: *landscape,
                clamp: None,
                take_every_step: false,
            }],
            Job::Refine { config, .. } => config.spans(),
        };
        let call = Call {
            job,
            path,
            steps_per_dispatch,
            rule,
            budget: self.budget(job),
            boundaries: boundaries(&spans),
            spans,
            params: Params {
                trace: u32::from(job.trace()),
                trace_summary: trace::summary_offset(chunk as u32, steps),
                mark: completion::next_mark(),
                ..params
            },
        };
        let table_rows = match job {
            Job::Eval { .. } => 0,
            Job::Refine { table, .. } => table.len() as u64,
        };
        let needed = Room {
            chains: chunk as u64,
            trace_steps: if job.trace() { u64::from(steps) } else { 0 },
            table_rows,
        };
        let mut ws = self.workspace(needed, n)?;
        if let Job::Refine { table, .. } = job {
            if !table.is_empty() {
                self.ctx
                    .queue()
                    .write_buffer(&ws.b.controls, 0, bytemuck::cast_slice(table));
            }
        }
        let mut out = CallOutput {
            y: Vec::new(),
            energy: Vec::new(),
            grad: Vec::new(),
            states: Vec::new(),
            trace: match job {
                Job::Refine { config, .. } if config.trace => Some(TraceSums::new(steps)),
                _ => None,
            },
            gpu_seconds: ws.timer.as_ref().map(|_| 0.0),
            cancelled: false,
        };
        reserve(&mut out, n, y_dim, chunk)?;
        let mut reporter = Reporter {
            callback: progress,
            started: Instant::now(),
            steps_total: u64::from(steps) * n.div_ceil(chunk) as u64,
            steps_before: 0,
            cancelled: false,
        };
        let fixed = match job {
            Job::Refine { fixed, .. } => *fixed,
            Job::Eval { .. } => None,
        };
        for start in (0..n).step_by(chunk) {
            let m = chunk.min(n - start);
            let part = Chunk {
                start,
                x: &x[start * x_dim..(start + m) * x_dim],
                y: &y[start * y_dim..(start + m) * y_dim],
                fixed: fixed.map(|f| &f[start * y_dim..(start + m) * y_dim]),
            };
            let part = self.run_chunk(&call, &mut ws, part, &mut reporter)?;
            let backend = self.ctx.adapter_info().backend;
            out.add(part, y_dim, call.params.mark, backend)?;
            reporter.steps_before += u64::from(steps);
        }
        out.cancelled = reporter.cancelled && steps > 0;
        Ok((out, ws))
    }

    /// One chunk of a call: uploads its inputs, runs its steps in submissions sized to the
    /// time budget (reporting progress between them), and reads its results back.
    fn run_chunk(
        &self,
        call: &Call<'_>,
        ws: &mut Workspace,
        chunk: Chunk<'_>,
        reporter: &mut Reporter<'_>,
    ) -> Result<ChunkOutput> {
        let queue = self.ctx.queue();
        let m = chunk.y.len() / self.model.y_dim;
        let total = call.job.steps();
        let params = Params {
            n_chains: m as u32,
            chain_offset: call.params.chain_offset + chunk.start as u32,
            use_fixed: u32::from(chunk.fixed.is_some()),
            fixed_at: ws.room.fixed_at(),
            ..call.params
        };
        let b = &ws.b;
        if !chunk.x.is_empty() {
            queue.write_buffer(&b.x, 0, bytemuck::cast_slice(chunk.x));
        }
        queue.write_buffer(&b.y, 0, bytemuck::cast_slice(chunk.y));
        if let Some(f) = chunk.fixed {
            let at = 4 * u64::from(params.fixed_at);
            queue.write_buffer(&b.controls, at, bytemuck::cast_slice(f));
        }
        let states: Vec<ChainState> = match call.job.exchange() {
            Some(x) => {
                let heat = x.ladder.factors(x.replicas);
                let r = x.replicas as usize;
                (chunk.start..chunk.start + m)
                    .map(|c| ChainState::start_replica(c % r, heat[c % r]))
                    .collect()
            }
            None => vec![ChainState::start(); m],
        };
        queue.write_buffer(&b.chain_state, 0, bytemuck::cast_slice(&states));
        if self.poison {
            for buffer in [&b.scratch, &b.trace, &b.readback] {
                let nan = vec![f32::NAN; (buffer.size() / 4) as usize];
                queue.write_buffer(buffer, 0, bytemuck::cast_slice(&nan));
            }
        }
        let refining = matches!(call.job, Job::Refine { .. });
        let mut pacer = Pacer::new(
            call.budget,
            m as f64 * self.seconds_per_chain_step(call.path),
        );
        let mut gpu_seconds = ws.timer.as_ref().map(|_| 0.0);
        let mut done = 0u32;
        let data = loop {
            let end = if refining && !reporter.cancelled {
                done + pacer.next(total - done)
            } else {
                done
            };
            let finish = end == total || reporter.cancelled || !refining;
            let dispatches = if refining {
                plan::RefinePlan {
                    path: call.path,
                    compiled: &self.compiled,
                    chains: m as u32,
                    steps_per_dispatch: call.steps_per_dispatch,
                    accept_rule: call.rule != 0,
                    trace: call.job.trace(),
                    exchange: call.job.exchange().map(|x| plan::ExchangePlan {
                        replicas: x.replicas,
                        every: x.every,
                        steps: total,
                    }),
                    boundaries: &call.boundaries,
                }
                .segment(done..end, finish)
            } else {
                plan::evaluation(call.path, &self.compiled, m as u32)
            };
            let submitted = Instant::now();
            let (index, copied) = self.submit(
                &dispatches,
                call.rule,
                &params,
                &call.spans,
                ws,
                finish.then_some((m, end, !refining)),
            )?;
            // The last submission's results and timestamps come back in one read-back,
            // which waits for it; the others are waited for, and timed on their own.
            let (seconds, data) = if finish {
                // Without timestamps the wall clock times the submission, so it is waited
                // for before the read-back, which would count too.
                let waited = match &ws.timer {
                    Some(_) => None,
                    None => {
                        self.ctx.wait(index)?;
                        Some(submitted.elapsed().as_secs_f64())
                    }
                };
                let stamps = if ws.timer.is_some() { 16 } else { 0 };
                let mut words: Vec<u32> = read_back(&self.ctx, &ws.b.readback, copied + stamps)?;
                let at = (copied / 4) as usize;
                let seconds = waited.unwrap_or_else(|| seconds_between(&self.ctx, &words[at..]));
                words.truncate(at);
                (seconds, Some(words))
            } else {
                self.ctx.wait(index)?;
                let seconds = match &ws.timer {
                    Some(timer) => timer.seconds(&self.ctx)?,
                    None => submitted.elapsed().as_secs_f64(),
                };
                (seconds, None)
            };
            if let (Some(total), Some(_)) = (&mut gpu_seconds, &ws.timer) {
                *total += seconds;
            }
            let advanced = end > done;
            if advanced {
                pacer.record(end - done, seconds);
                self.rates
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(call.path, pacer.per_step() / m as f64);
            }
            done = end;
            // Reported after every submission that took steps.
            if advanced {
                reporter.report(done);
            }
            if let Some(data) = data {
                break data;
            }
        };
        Ok(ChunkOutput {
            data,
            chains: m,
            stride: if refining { 0 } else { params.stride as usize },
            steps_done: done,
            gpu_seconds,
        })
    }
}

/// Reserves the host memory of a call's results: an error, not an abort, where the host
/// cannot hold them.
fn reserve(out: &mut CallOutput, n: usize, y_dim: usize, chunk: usize) -> Result<()> {
    let host = |what: usize| Error::OutOfMemory {
        memory: "host",
        batch: n,
        chunk,
        bytes: what as u64 * 4,
    };
    out.y
        .try_reserve_exact(n * y_dim)
        .map_err(|_| host(n * y_dim))?;
    out.grad
        .try_reserve_exact(n * y_dim)
        .map_err(|_| host(n * y_dim))?;
    out.energy.try_reserve_exact(n).map_err(|_| host(n))?;
    out.states.try_reserve_exact(n).map_err(|_| host(8 * n))?;
    Ok(())
}

impl CallOutput {
    /// Appends a chunk's read-back: y, energy, dE/dy, chain states, the trace's summary;
    /// an error, and nothing appended, where a chain lacks the call's completion `mark`.
    fn add(
        &mut self,
        part: ChunkOutput,
        y_dim: usize,
        mark: u32,
        backend: wgpu::Backend,
    ) -> Result<()> {
        let m = part.chains;
        let state_words = m * std::mem::size_of::<ChainState>() / 4;
        let floats: &[f32] = bytemuck::cast_slice(&part.data);
        let (ys, rest) = floats.split_at(m * y_dim);
        let (grad, rest) = rest.split_at(part.stride * y_dim);
        let (states, trace) = rest.split_at(state_words);
        let states: Vec<ChainState> = bytemuck::pod_collect_to_vec(states);
        completion::check(&states, mark, backend)?;
        self.y.extend_from_slice(ys);
        // dE/dy as scratch holds it, unit k of chain c at k * stride + c.
        if part.stride > 0 {
            for c in 0..m {
                self.grad
                    .extend((0..y_dim).map(|k| grad[k * part.stride + c]));
            }
        }
        self.energy.extend(states.iter().map(|s| s.energy_out));
        // A chain still running when the last step (or a cancellation) came took them all.
        self.states.extend(states.into_iter().map(|mut s| {
            if s.steps_taken == RUNNING {
                s.steps_taken = part.steps_done;
            }
            s
        }));
        if let Some(sums) = &mut self.trace {
            sums.add(trace, part.steps_done, m);
        }
        if let (Some(total), Some(s)) = (&mut self.gpu_seconds, part.gpu_seconds) {
            *total += s;
        }
        Ok(())
    }
}
