//! One submission: a compute pass of dispatches, each over its own bind groups (group 0's
//! uniform block at the dispatch's own dynamic offset, where it binds one), timed where the
//! device has timestamps, then the copies that gather results for read-back.

use super::timer::KernelTimer;
use crate::gpu::context::Context;

/// One dispatch of a pass.
pub(crate) struct Run<'a> {
    pub pipeline: &'a wgpu::ComputePipeline,
    /// Its bind groups, 0, 1, ...
    pub bind_groups: Vec<&'a wgpu::BindGroup>,
    /// The byte offset of its uniform block in group 0, where group 0 binds one.
    pub offset: Option<u32>,
    /// Workgroups in x and y.
    pub groups: (u32, u32),
}

/// One buffer-to-buffer copy after the pass.
pub(crate) struct Copy<'a> {
    pub from: &'a wgpu::Buffer,
    pub from_offset: u64,
    pub to: &'a wgpu::Buffer,
    pub to_offset: u64,
    pub bytes: u64,
}

/// Where the pass's timestamps go: the timer, and the buffer and offset they are copied to
/// (None: the timer's own).
pub(crate) type Timing<'a> = Option<(&'a KernelTimer, Option<(&'a wgpu::Buffer, u64)>)>;

/// Records `runs` in one compute pass, timed by `timing`, then `copies`, and submits them.
pub(crate) fn submit(
    ctx: &Context,
    runs: &[Run<'_>],
    copies: &[Copy<'_>],
    timing: Timing<'_>,
) -> wgpu::SubmissionIndex {
    let timer = timing.map(|(t, _)| t);
    let mut encoder = ctx.device().create_command_encoder(&Default::default());
    {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("ebm"),
            timestamp_writes: timer.map(KernelTimer::writes),
        });
        for run in runs {
            pass.set_pipeline(run.pipeline);
            for (i, group) in run.bind_groups.iter().enumerate() {
                match (i, run.offset) {
                    (0, Some(offset)) => pass.set_bind_group(0, *group, &[offset]),
                    _ => pass.set_bind_group(i as u32, *group, &[]),
                }
            }
            pass.dispatch_workgroups(run.groups.0, run.groups.1, 1);
        }
    }
    for c in copies.iter().filter(|c| c.bytes > 0) {
        encoder.copy_buffer_to_buffer(c.from, c.from_offset, c.to, c.to_offset, c.bytes);
    }
    if let Some((timer, into)) = timing {
        timer.resolve(&mut encoder, into);
    }
    ctx.queue().submit([encoder.finish()])
}
