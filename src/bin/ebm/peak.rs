//! The adapter's measured float32 FMA peak (`ebm bench --peak`), from shaders/peak.wgsl:
//! the yardstick bench results are reported against.

use std::borrow::Cow;
use std::sync::mpsc;
use std::time::Instant;

use ebm::{Context, Error, Result};

const SOURCE: &str = include_str!("../../../shaders/peak.wgsl");
const THREADS: u32 = 256;
const ITERATIONS: u32 = 1024;
/// FMAs one invocation runs: ITERATIONS rounds of 8 vec4 FMAs.
const FMAS_PER_THREAD: u64 = ITERATIONS as u64 * 8 * 4;
/// A measurement must last at least this long to count.
const MIN_SECONDS: f64 = 0.05;

/// A measured FMA peak.
#[derive(Clone, Copy, Debug)]
pub struct Peak {
    /// 2 FLOPs per FMA, per second, / 1e9: the best of three timed dispatches.
    pub gflops: f64,
    /// Workgroups of the timed dispatch.
    pub workgroups: u64,
    /// Seconds of the best timed dispatch.
    pub seconds: f64,
    /// `gpu` (timestamps) or `wall`.
    pub timer: &'static str,
}

fn gpu_error(message: impl ToString) -> Error {
    Error::Gpu {
        stage: "peak",
        message: message.to_string(),
    }
}

/// Two timestamps around a compute pass, where the device has `TIMESTAMP_QUERY`.
struct Timer {
    set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    read: wgpu::Buffer,
}

impl Timer {
    fn new(ctx: &Context) -> Option<Timer> {
        if !ctx.features().contains(wgpu::Features::TIMESTAMP_QUERY) {
            return None;
        }
        let device = ctx.device();
        let buffer = |label, usage| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: 16,
                usage,
                mapped_at_creation: false,
            })
        };
        Some(Timer {
            set: device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("peak time"),
                ty: wgpu::QueryType::Timestamp,
                count: 2,
            }),
            resolve: buffer(
                "peak timestamps",
                wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            ),
            read: buffer(
                "peak timestamps readback",
                wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            ),
        })
    }

    fn writes(&self) -> wgpu::ComputePassTimestampWrites<'_> {
        wgpu::ComputePassTimestampWrites {
            query_set: &self.set,
            beginning_of_pass_write_index: Some(0),
            end_of_pass_write_index: Some(1),
        }
    }

    fn resolve(&self, encoder: &mut wgpu::CommandEncoder) {
        encoder.resolve_query_set(&self.set, 0..2, &self.resolve, 0);
        encoder.copy_buffer_to_buffer(&self.resolve, 0, &self.read, 0, 16);
    }

    /// Seconds between the two timestamps, once the submission has run.
    fn seconds(&self, ctx: &Context) -> Result<f64> {
        let slice = self.read.slice(..);
        let (tx, rx) = mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        ctx.device()
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(gpu_error)?;
        rx.recv().map_err(gpu_error)?.map_err(gpu_error)?;
        let ticks: Vec<u64> = {
            let view = slice.get_mapped_range().map_err(gpu_error)?;
            bytemuck::pod_collect_to_vec(&view[..])
        };
        self.read.unmap();
        let period = f64::from(ctx.queue().get_timestamp_period());
        Ok(ticks[1].saturating_sub(ticks[0]) as f64 * period * 1e-9)
    }
}

/// Measures the float32 FMA peak: grows the dispatch until it runs at least 50 ms, then
/// keeps the best of three.
pub fn measure(ctx: &Context) -> Result<Peak> {
    let device = ctx.device();
    let limits = ctx.limits();
    let threads = THREADS
        .min(limits.max_compute_invocations_per_workgroup)
        .min(limits.max_compute_workgroup_size_x);
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("peak"),
        source: wgpu::ShaderSource::Wgsl(Cow::Borrowed(SOURCE)),
    });
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some("peak"),
        layout: None,
        module: &module,
        entry_point: Some("peak"),
        compilation_options: wgpu::PipelineCompilationOptions {
            constants: &[
                ("WORKGROUP_SIZE", f64::from(threads)),
                ("ITERATIONS", f64::from(ITERATIONS)),
            ],
            zero_initialize_workgroup_memory: false,
        },
        cache: None,
    });
    let max_x = u64::from(limits.max_compute_workgroups_per_dimension);
    let max_groups = max_x * max_x;
    let largest = ((limits
        .max_storage_buffer_binding_size
        .min(limits.max_buffer_size)
        / 4)
    .saturating_sub(2)
        / u64::from(threads))
    .min(max_groups);
    let timer = Timer::new(ctx);
    let time = |groups| time_dispatch(ctx, &pipeline, threads, groups, timer.as_ref());
    let mut groups: u64 = 16;
    loop {
        let seconds = time(groups)?;
        if seconds >= MIN_SECONDS || groups * 2 > largest {
            let best = seconds.min(time(groups)?).min(time(groups)?);
            let fmas = groups * u64::from(threads) * FMAS_PER_THREAD;
            return Ok(Peak {
                gflops: 2.0 * fmas as f64 / best / 1e9,
                workgroups: groups,
                seconds: best,
                timer: if timer.is_some() { "gpu" } else { "wall" },
            });
        }
        // Aim past the minimum in one jump once the time is measurable.
        let factor = if seconds > 1e-3 {
            (2.0 * MIN_SECONDS / seconds).ceil() as u64
        } else {
            8
        };
        groups = (groups * factor.max(2)).min(largest);
        if groups > max_x {
            // A grid of max_x-wide rows.
            groups = groups / max_x * max_x;
        }
    }
}

fn time_dispatch(
    ctx: &Context,
    pipeline: &wgpu::ComputePipeline,
    threads: u32,
    groups: u64,
    timer: Option<&Timer>,
) -> Result<f64> {
    use wgpu::util::DeviceExt;
    let device = ctx.device();
    let mut init = vec![0.0f32; 2 + (groups * u64::from(threads)) as usize];
    init[0] = 0.999_9;
    init[1] = 1e-4;
    let sink = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("peak sink"),
        contents: bytemuck::cast_slice(&init),
        usage: wgpu::BufferUsages::STORAGE,
    });
    let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("peak"),
        layout: &pipeline.get_bind_group_layout(0),
        entries: &[wgpu::BindGroupEntry {
            binding: 0,
            resource: sink.as_entire_binding(),
        }],
    });
    let max_x = u64::from(ctx.limits().max_compute_workgroups_per_dimension);
    let (x, y) = if groups <= max_x {
        (groups, 1)
    } else {
        (max_x, groups.div_ceil(max_x))
    };
    if x * y != groups {
        return Err(gpu_error(format!(
            "{groups} workgroups do not form a {x} x {y} grid"
        )));
    }
    let mut encoder = device.create_command_encoder(&Default::default());
    {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("peak"),
            timestamp_writes: timer.map(|t| t.writes()),
        });
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        pass.dispatch_workgroups(x as u32, y as u32, 1);
    }
    if let Some(t) = timer {
        t.resolve(&mut encoder);
    }
    let start = Instant::now();
    ctx.queue().submit([encoder.finish()]);
    device
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(gpu_error)?;
    let wall = start.elapsed().as_secs_f64();
    match timer {
        Some(t) => t.seconds(ctx),
        None => Ok(wall),
    }
}
