//! One submission: a compute pass of dispatches over one bind group (each at its own
//! offset of the dynamic uniform block), timed where the device has timestamps, then the
//! copies that gather results for read-back.

use super::timer::KernelTimer;
use crate::gpu::context::Context;

/// One dispatch of a pass.
pub(crate) struct Run<'a> {
    pub pipeline: &'a wgpu::ComputePipeline,
    /// The byte offset of its uniform block.
    pub offset: u32,
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

/// Records `runs` in one compute pass over `bind_groups` (group 0, whose uniform block each
/// run binds at its offset, then groups 1, ...), timed by `timing`, then `copies`, and
/// submits them.
pub(crate) fn submit(
    ctx: &Context,
    bind_groups: &[&wgpu::BindGroup],
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
        for (i, group) in bind_groups.iter().enumerate().skip(1) {
            pass.set_bind_group(i as u32, *group, &[]);
        }
        for run in runs {
            pass.set_pipeline(run.pipeline);
            pass.set_bind_group(0, bind_groups[0], &[run.offset]);
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
