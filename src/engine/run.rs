//! How one call of an [`Engine`] runs: its batch in chunks, each chunk's steps in
//! submissions sized to the time budget (`RefineConfig::dispatch_ms`), progress and
//! cancellation between them, and the read-back of results; a lost device or memory that
//! cannot be allocated is an error here, never a hang or a panic.

use std::ops::ControlFlow;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::Engine;
use crate::config::{RefineConfig, Sampler};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::pace::{assumed_flops, Pacer};
use crate::params::{ChainState, Params, RUNNING, STOP_BELOW, STOP_CHANGE, STOP_GRAD};
use crate::plan::{self, Dispatch, KernelPath, WORKGROUP_SIZE};
use crate::progress::{OnProgress, Progress};
use crate::shader::Kernel;
use crate::timer::KernelTimer;
use crate::trace::TraceSums;

/// Largest binding `ebm` asks for, so every index in the shaders fits a u32.
const MAX_BINDING_BYTES: u64 = 1 << 31;
/// Chains a [`crate::Error::NonFinite`] names.
const NAMED_NON_FINITE: usize = 5;

/// Per-chunk device buffers of one call.
struct RunBuffers {
    x: wgpu::Buffer,
    y: wgpu::Buffer,
    energy: wgpu::Buffer,
    grad: wgpu::Buffer,
    scratch: wgpu::Buffer,
    fixed: wgpu::Buffer,
    chain_state: wgpu::Buffer,
    trace: wgpu::Buffer,
    readback: wgpu::Buffer,
    schedule: wgpu::Buffer,
    timer: Option<KernelTimer>,
}

struct ChunkOutput {
    y: Vec<f32>,
    energy: Vec<f32>,
    grad: Vec<f32>,
    states: Vec<ChainState>,
    /// trace_reduce's per-step sums of this chunk, `[steps done][4]`.
    trace: Vec<f32>,
    /// Steps this chunk ran (fewer than K if cancelled).
    steps_done: u32,
    gpu_seconds: Option<f64>,
}

/// What a call gives: the chunks' outputs joined.
pub(super) struct RunOutput {
    pub(super) y: Vec<f32>,
    pub(super) energy: Vec<f32>,
    pub(super) grad: Vec<f32>,
    pub(super) states: Vec<ChainState>,
    /// The trace's per-step sums over every chunk, with `RefineConfig::trace`.
    pub(super) trace: Option<TraceSums>,
    pub(super) gpu_seconds: Option<f64>,
    pub(super) cancelled: bool,
}

/// One call (an evaluation or a refinement) as every chunk of it runs.
struct Call<'a> {
    config: Option<&'a RefineConfig>,
    path: KernelPath,
    steps_per_dispatch: u32,
    rule: u32,
    trace: bool,
    budget: Option<Duration>,
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

    /// Runs an evaluation (`config` None) or a refinement of `n` chains on `path`, chunk by
    /// chunk, with fixed coordinates (`fixed`, `[n, y_dim]`, nonzero where fixed).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn run(
        &self,
        config: Option<&RefineConfig>,
        n: usize,
        x: &[f32],
        y: &[f32],
        fixed: Option<&[u32]>,
        path: KernelPath,
        progress: Option<OnProgress<'_>>,
    ) -> Result<RunOutput> {
        let device = &self.ctx.device;
        self.ctx.check_alive()?;
        // An uncaptured error left from before this call is not this call's.
        let _ = self.ctx.take_uncaptured();
        let per_group = match path {
            KernelPath::Chain => WORKGROUP_SIZE,
            KernelPath::Tile { chains } => chains,
            KernelPath::Layered => plan::LAYERED_TILE,
        };
        let limits = self.ctx.limits();
        let max_groups = limits.max_compute_workgroups_per_dimension as usize;
        let mut chunk = n.min(self.max_chunk).min(max_groups * per_group as usize);
        let steps = config.map_or(0, |c| c.steps);
        let trace = config.is_some_and(|c| c.trace && c.steps > 0);
        if trace {
            // The trace holds 8 bytes per chain and step, within one binding.
            let binding = binding_limit(&limits);
            let k = u64::from(steps);
            let fits = binding.saturating_sub(16 * k) / (8 * k);
            if fits == 0 {
                return Err(Error::config(
                    "RefineConfig::trace",
                    format!("{k} steps need more than the device's largest buffer ({binding} bytes) for one chain's trace"),
                ));
            }
            chunk = chunk.min(fits as usize);
        }
        // The watchdog budget: one step of a chunk must fit it, by the best estimate at
        // hand. CPU adapters drive no display and have no watchdog: their chunks stay whole.
        let budget = match config {
            Some(c) => c.dispatch_ms,
            None => Some(crate::config::DEFAULT_DISPATCH_MS),
        }
        .map(|ms| Duration::from_secs_f64(f64::from(ms) * 1e-3));
        let per_chain_step = self.seconds_per_chain_step(path);
        if let Some(b) = budget {
            if self.ctx.adapter_info().device_type != wgpu::DeviceType::Cpu && per_chain_step > 0.0
            {
                let fit = (b.as_secs_f64() / per_chain_step).floor().max(1.0);
                chunk = chunk.min(fit.min(usize::MAX as f64) as usize);
            }
        }
        let rule = config.map_or(0, |c| c.sampler.rule_id());
        let steps_per_dispatch = match self.forced_steps_per_dispatch {
            0 => plan::steps_per_dispatch(
                self.ctx.adapter_info(),
                &self.plan_limits(),
                &self.model,
                path,
                config,
            ),
            k => k,
        };
        let call = Call {
            config,
            path,
            steps_per_dispatch,
            rule,
            trace,
            budget,
        };
        let oom = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let buffers = self.buffers(&call, n, chunk)?;
        let (x_dim, y_dim) = (self.model.x_dim, self.model.y_dim);
        let host = |what: usize| Error::OutOfMemory {
            memory: "host",
            batch: n,
            chunk,
            bytes: what as u64 * 4,
        };
        let mut out = RunOutput {
            y: Vec::new(),
            energy: Vec::new(),
            grad: Vec::new(),
            states: Vec::new(),
            trace: config.filter(|c| c.trace).map(|c| TraceSums::new(c.steps)),
            gpu_seconds: buffers.timer.as_ref().map(|_| 0.0),
            cancelled: false,
        };
        out.y
            .try_reserve_exact(n * y_dim)
            .map_err(|_| host(n * y_dim))?;
        out.grad
            .try_reserve_exact(n * y_dim)
            .map_err(|_| host(n * y_dim))?;
        out.energy.try_reserve_exact(n).map_err(|_| host(n))?;
        out.states.try_reserve_exact(n).map_err(|_| host(8 * n))?;
        let chunks = n.div_ceil(chunk);
        let mut reporter = Reporter {
            callback: progress,
            started: Instant::now(),
            steps_total: u64::from(steps) * chunks as u64,
            steps_before: 0,
            cancelled: false,
        };
        let mut result = Ok(());
        for start in (0..n).step_by(chunk) {
            let m = chunk.min(n - start);
            let part = self.run_chunk(
                &call,
                &buffers,
                start,
                chunk,
                &x[start * x_dim..(start + m) * x_dim],
                &y[start * y_dim..(start + m) * y_dim],
                fixed.map(|f| &f[start * y_dim..(start + m) * y_dim]),
                &mut reporter,
            );
            match part {
                Ok(part) => {
                    out.y.extend(part.y);
                    out.energy.extend(part.energy);
                    out.grad.extend(part.grad);
                    out.states.extend(part.states);
                    if let Some(sums) = &mut out.trace {
                        sums.add(&part.trace, part.steps_done, m);
                    }
                    if let (Some(total), Some(s)) = (&mut out.gpu_seconds, part.gpu_seconds) {
                        *total += s;
                    }
                    reporter.steps_before += u64::from(steps);
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        out.cancelled = reporter.cancelled && steps > 0;
        let validation = pollster::block_on(scope.pop());
        let memory = pollster::block_on(oom.pop());
        self.ctx.check_alive()?;
        result?;
        if let Some(e) = validation.or(memory) {
            return Err(Error::Gpu {
                stage: if config.is_some() { "refine" } else { "eval" },
                message: e.to_string(),
            });
        }
        if let Some(message) = self.ctx.take_uncaptured() {
            return Err(Error::Gpu {
                stage: if config.is_some() { "refine" } else { "eval" },
                message,
            });
        }
        Ok(out)
    }

    /// Bytes of device memory the buffers of a chunk of `chunk` chains take.
    fn chunk_bytes(&self, chunk: u64, trace_steps: u64) -> [(&'static str, u64); 9] {
        let (x_dim, y_dim) = (self.model.x_dim as u64, self.model.y_dim as u64);
        let state_words = (std::mem::size_of::<ChainState>() / 4) as u64;
        // Bindings may not be empty: x of an unconditional model gets one word.
        let words = |w: u64| 4 * w.max(1);
        [
            ("x", words(chunk * x_dim)),
            ("y", words(chunk * y_dim)),
            ("energy", words(chunk)),
            ("grad", words(chunk * y_dim)),
            ("scratch", words(chunk * u64::from(self.scratch.units))),
            ("fixed", words(chunk * y_dim)),
            ("chain state", words(chunk * state_words)),
            ("trace", words(trace_steps * (2 * chunk + 4))),
            (
                "readback",
                words(chunk * (2 * y_dim + 1 + state_words) + 4 * trace_steps),
            ),
        ]
    }

    /// Buffers for chunks of up to `chunk` chains of a batch of `n`: an error naming both
    /// and the bytes needed where the device cannot hold them.
    fn buffers(&self, call: &Call<'_>, n: usize, chunk: usize) -> Result<RunBuffers> {
        let device = &self.ctx.device;
        let trace_steps = if call.trace {
            call.config.map_or(0, |c| c.steps)
        } else {
            0
        };
        let table = match call.config {
            Some(c) => c.step_table()?,
            None => Vec::new(),
        };
        // Bindings may not be empty: an evaluation (or K = 0) gets one unused entry.
        let table = if table.is_empty() {
            vec![[0.0; 2]]
        } else {
            table
        };
        let sizes = self.chunk_bytes(chunk as u64, u64::from(trace_steps));
        let needed: u64 = sizes.iter().map(|(_, b)| b).sum::<u64>() + 8 * table.len() as u64;
        let oom = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let storage = wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_DST
            | wgpu::BufferUsages::COPY_SRC;
        let mut made = sizes.iter().map(|&(label, size)| {
            let usage = match label {
                "scratch" => wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                "readback" => wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                _ => storage,
            };
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage,
                mapped_at_creation: false,
            })
        });
        let mut next = || made.next().expect("nine buffers");
        let buffers = RunBuffers {
            x: next(),
            y: next(),
            energy: next(),
            grad: next(),
            scratch: next(),
            fixed: next(),
            chain_state: next(),
            trace: next(),
            readback: next(),
            schedule: storage_init(&self.ctx, "schedule", bytemuck::cast_slice(&table)),
            timer: KernelTimer::new(&self.ctx),
        };
        if pollster::block_on(oom.pop()).is_some() {
            return Err(Error::OutOfMemory {
                memory: "device",
                batch: n,
                chunk,
                bytes: needed,
            });
        }
        Ok(buffers)
    }

    /// One chunk of a call: uploads its inputs, runs its steps in submissions sized to the
    /// time budget (reporting progress between them), and reads its results back.
    #[allow(clippy::too_many_arguments)]
    fn run_chunk(
        &self,
        call: &Call<'_>,
        b: &RunBuffers,
        start: usize,
        stride: usize,
        x: &[f32],
        y: &[f32],
        fixed: Option<&[u32]>,
        reporter: &mut Reporter<'_>,
    ) -> Result<ChunkOutput> {
        let queue = &self.ctx.queue;
        let m = y.len() / self.model.y_dim;
        let default = RefineConfig::default();
        let cfg = call.config.unwrap_or(&default);
        let total = call.config.map_or(0, |c| c.steps);
        let clamp = cfg.clamp.unwrap_or((0.0, 0.0));
        let params = Params {
            n_chains: m as u32,
            chain_offset: start as u32,
            x_dim: self.model.x_dim as u32,
            y_dim: self.model.y_dim as u32,
            n_layers: self.scratch.layers.len() as u32,
            stride: stride as u32,
            seed_lo: cfg.seed as u32,
            seed_hi: (cfg.seed >> 32) as u32,
            delta_a: self.scratch.delta_a,
            delta_b: self.scratch.delta_b,
            xpart: self.scratch.xpart,
            prior_l2: cfg.prior_l2,
            use_clamp: u32::from(cfg.clamp.is_some()),
            clamp_lo: clamp.0,
            clamp_hi: clamp.1,
            clip_grad: cfg.clip_grad.unwrap_or(0.0),
            use_fixed: u32::from(fixed.is_some()),
            simplex: cfg.simplex.unwrap_or(0),
            save: self.scratch.save,
            trace: u32::from(call.trace),
            trace_summary: 2 * (stride as u32) * total,
            ..Default::default()
        };
        let params = with_sampler_and_stop(params, cfg);
        if !x.is_empty() {
            queue.write_buffer(&b.x, 0, bytemuck::cast_slice(x));
        }
        queue.write_buffer(&b.y, 0, bytemuck::cast_slice(y));
        if let Some(f) = fixed {
            queue.write_buffer(&b.fixed, 0, bytemuck::cast_slice(f));
        }
        queue.write_buffer(
            &b.chain_state,
            0,
            bytemuck::cast_slice(&vec![ChainState::start(); m]),
        );
        if self.poison {
            for buffer in [&b.energy, &b.grad, &b.scratch, &b.trace, &b.readback] {
                let nan = vec![f32::NAN; (buffer.size() / 4) as usize];
                queue.write_buffer(buffer, 0, bytemuck::cast_slice(&nan));
            }
        }
        let mut pacer = Pacer::new(
            call.budget,
            m as f64 * self.seconds_per_chain_step(call.path),
        );
        let mut gpu_seconds = b.timer.as_ref().map(|_| 0.0);
        let mut done = 0u32;
        let read_bytes = loop {
            let end = match (call.config, reporter.cancelled) {
                (Some(_), false) => done + pacer.next(total - done),
                _ => done,
            };
            let finish = end == total || reporter.cancelled || call.config.is_none();
            let dispatches = match call.config {
                None => plan::evaluation(call.path, &self.model, m as u32),
                Some(_) => plan::RefinePlan {
                    path: call.path,
                    model: &self.model,
                    chains: m as u32,
                    steps_per_dispatch: call.steps_per_dispatch,
                    accept_rule: call.rule != 0,
                    trace: call.trace,
                }
                .segment(done..end, finish),
            };
            let submitted = Instant::now();
            let (index, copied) = self.submit(
                &dispatches,
                call.rule,
                &params,
                b,
                finish.then_some((m, end)),
            )?;
            self.ctx.wait(index)?;
            let seconds = match &b.timer {
                Some(timer) => timer.seconds(&self.ctx)?,
                None => submitted.elapsed().as_secs_f64(),
            };
            if let (Some(total), Some(_)) = (&mut gpu_seconds, &b.timer) {
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
            if finish {
                break copied;
            }
        };
        let data: Vec<f32> = read_back(&self.ctx, &b.readback, read_bytes)?;
        let y_len = y.len();
        let state_words = m * std::mem::size_of::<ChainState>() / 4;
        let (ys, rest) = data.split_at(y_len);
        let (energy, rest) = rest.split_at(m);
        let (grad, rest) = rest.split_at(y_len);
        let (states, trace) = rest.split_at(state_words);
        let mut states: Vec<ChainState> = bytemuck::pod_collect_to_vec(states);
        // A chain still running when the last step (or a cancellation) came took them all.
        for s in &mut states {
            if s.steps_taken == RUNNING {
                s.steps_taken = done;
            }
        }
        Ok(ChunkOutput {
            y: ys.to_vec(),
            energy: energy.to_vec(),
            grad: grad.to_vec(),
            states,
            trace: trace.to_vec(),
            steps_done: done,
            gpu_seconds,
        })
    }

    /// Records and submits one submission: `dispatches` in one timed compute pass, and
    /// with `finish` = (chains, steps done) the copies of the results for read-back (y,
    /// energy, dE/dy, chain states, the trace summary), whose bytes it returns with the
    /// submission.
    fn submit(
        &self,
        dispatches: &[Dispatch],
        rule: u32,
        params: &Params,
        b: &RunBuffers,
        finish: Option<(usize, u32)>,
    ) -> Result<(wgpu::SubmissionIndex, u64)> {
        let (device, queue) = (&self.ctx.device, &self.ctx.queue);
        let pipelines = dispatches
            .iter()
            .map(|d| match d.kernel {
                Kernel::Tile if self.subgroups => {
                    self.pipeline(Kernel::TileSubgroup, d.chains, rule)
                }
                kernel => self.pipeline(kernel, d.chains, rule),
            })
            .collect::<Result<Vec<_>>>()?;
        // One Params block per dispatch: its step range, layer and whether it writes the
        // energy.
        let stride = self.params_stride as usize;
        let mut blocks = vec![0u8; stride * dispatches.len().max(1)];
        for (i, d) in dispatches.iter().enumerate() {
            let block = Params {
                step_offset: d.step_offset,
                steps: d.steps,
                write_energy: u32::from(d.write_energy),
                layer: d.layer,
                ..*params
            };
            let at = i * stride;
            blocks[at..at + std::mem::size_of::<Params>()]
                .copy_from_slice(bytemuck::bytes_of(&block));
        }
        let params_buffer = buffer_with(&self.ctx, "params", &blocks, wgpu::BufferUsages::UNIFORM);
        let bind_group = self.bind_group(&params_buffer, b);
        let mut encoder = device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("ebm"),
                timestamp_writes: b.timer.as_ref().map(KernelTimer::writes),
            });
            for (i, (d, pipeline)) in dispatches.iter().zip(&pipelines).enumerate() {
                pass.set_pipeline(pipeline);
                pass.set_bind_group(0, &bind_group, &[i as u32 * self.params_stride as u32]);
                pass.dispatch_workgroups(d.groups.0, d.groups.1, 1);
            }
        }
        let mut copied = 0;
        if let Some((m, steps_done)) = finish {
            let y_bytes = (m * self.model.y_dim * 4) as u64;
            let e_bytes = (m * 4) as u64;
            let state_bytes = (m * std::mem::size_of::<ChainState>()) as u64;
            let summary_at = 4 * u64::from(params.trace_summary);
            let summary_bytes = if params.trace != 0 {
                16 * u64::from(steps_done)
            } else {
                0
            };
            for (src, at, bytes) in [
                (&b.y, 0, y_bytes),
                (&b.energy, 0, e_bytes),
                (&b.grad, 0, y_bytes),
                (&b.chain_state, 0, state_bytes),
                (&b.trace, summary_at, summary_bytes),
            ] {
                if bytes > 0 {
                    encoder.copy_buffer_to_buffer(src, at, &b.readback, copied, bytes);
                }
                copied += bytes;
            }
        }
        if let Some(timer) = &b.timer {
            timer.resolve(&mut encoder);
        }
        Ok((queue.submit([encoder.finish()]), copied))
    }

    fn bind_group(&self, params: &wgpu::Buffer, b: &RunBuffers) -> wgpu::BindGroup {
        self.ctx
            .device
            .create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("ebm mlp"),
                layout: &self.bind_layout,
                entries: &[
                    wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: params,
                        offset: 0,
                        size: wgpu::BufferSize::new(std::mem::size_of::<Params>() as u64),
                    }),
                    self.weights.as_entire_binding(),
                    self.layer_table.as_entire_binding(),
                    b.x.as_entire_binding(),
                    b.y.as_entire_binding(),
                    b.energy.as_entire_binding(),
                    b.grad.as_entire_binding(),
                    b.scratch.as_entire_binding(),
                    b.schedule.as_entire_binding(),
                    b.fixed.as_entire_binding(),
                    b.chain_state.as_entire_binding(),
                    b.trace.as_entire_binding(),
                ]
                .into_iter()
                .enumerate()
                .map(|(i, resource)| wgpu::BindGroupEntry {
                    binding: i as u32,
                    resource,
                })
                .collect::<Vec<_>>(),
            })
    }
}

/// An error naming the chains that became non-finite, if any did.
pub(super) fn check_non_finite(non_finite_at: &[Option<u32>]) -> Result<()> {
    let bad: Vec<(usize, u32)> = non_finite_at
        .iter()
        .enumerate()
        .filter_map(|(c, s)| s.map(|s| (c, s)))
        .collect();
    if bad.is_empty() {
        return Ok(());
    }
    let mut first: Vec<String> = bad
        .iter()
        .take(NAMED_NON_FINITE)
        .map(|(c, s)| format!("chain {c} at step {s}"))
        .collect();
    if bad.len() > NAMED_NON_FINITE {
        first.push("...".into());
    }
    Err(Error::NonFinite {
        count: bad.len(),
        total: non_finite_at.len(),
        first: first.join(", "),
    })
}

/// The largest buffer `ebm` binds on this device.
pub(super) fn binding_limit(limits: &wgpu::Limits) -> u64 {
    limits
        .max_storage_buffer_binding_size
        .min(limits.max_buffer_size)
        .min(MAX_BINDING_BYTES)
}

/// `params` with the sampler's and the stop rule's fields of `cfg`.
fn with_sampler_and_stop(params: Params, cfg: &RefineConfig) -> Params {
    let mut p = params;
    match cfg.sampler {
        Sampler::Langevin => {}
        Sampler::Mala {
            adapt_steps,
            target_accept,
        } => {
            p.adapt_steps = adapt_steps;
            p.target_accept = target_accept;
        }
        Sampler::KeepIfLower { shrink } => p.shrink = shrink,
    }
    let stop = cfg.stop;
    for (bit, value, field) in [
        (STOP_GRAD, stop.grad, &mut p.stop_grad),
        (STOP_CHANGE, stop.change, &mut p.stop_change),
        (STOP_BELOW, stop.below, &mut p.stop_below),
    ] {
        if let Some(v) = value {
            *field = v;
            p.stop_flags |= bit;
        }
    }
    p
}

/// A buffer of `usage` (plus COPY_DST) holding `contents`, written through the queue: a
/// buffer mapped at creation would panic in wgpu on a lost device.
fn buffer_with(
    ctx: &Context,
    label: &str,
    contents: &[u8],
    usage: wgpu::BufferUsages,
) -> wgpu::Buffer {
    let buffer = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: (contents.len() as u64).next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT),
        usage: usage | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    ctx.queue.write_buffer(&buffer, 0, contents);
    buffer
}

pub(super) fn storage_init(ctx: &Context, label: &str, contents: &[u8]) -> wgpu::Buffer {
    buffer_with(ctx, label, contents, wgpu::BufferUsages::STORAGE)
}

/// Maps `bytes` of a MAP_READ buffer and copies them out as `T`s; a lost device is an
/// error, never a hang.
pub(crate) fn read_back<T: bytemuck::Pod>(
    ctx: &Context,
    buffer: &wgpu::Buffer,
    bytes: u64,
) -> Result<Vec<T>> {
    let device = &ctx.device;
    let fail = |message: String| Error::Gpu {
        stage: "read-back",
        message,
    };
    let slice = buffer.slice(..bytes);
    let (tx, rx) = mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    let polled = device.poll(wgpu::PollType::wait_indefinitely());
    ctx.check_alive()?;
    polled.map_err(|e| fail(e.to_string()))?;
    let mapped = rx.recv().map_err(|e| fail(e.to_string()))?;
    ctx.check_alive()?;
    mapped.map_err(|e| fail(e.to_string()))?;
    let data = {
        let view = slice.get_mapped_range().map_err(|e| fail(e.to_string()))?;
        bytemuck::pod_collect_to_vec(&view[..])
    };
    buffer.unmap();
    Ok(data)
}
