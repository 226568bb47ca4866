//! GPU timestamps around a compute pass, where the adapter has them.

use super::readback::read_back;
use crate::error::Result;
use crate::gpu::context::Context;

/// A query set of two timestamps (start and end of a pass) and the buffers to read them.
pub(crate) struct KernelTimer {
    set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    read: wgpu::Buffer,
}

impl KernelTimer {
    /// A timer, or None where the device lacks `TIMESTAMP_QUERY`.
    pub(crate) fn new(ctx: &Context) -> Option<KernelTimer> {
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
        Some(KernelTimer {
            set: device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("kernel time"),
                ty: wgpu::QueryType::Timestamp,
                count: 2,
            }),
            resolve: buffer(
                "timestamps",
                wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            ),
            read: buffer(
                "timestamps readback",
                wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            ),
        })
    }

    /// Timestamp writes at the beginning and end of a compute pass.
    pub(crate) fn writes(&self) -> wgpu::ComputePassTimestampWrites<'_> {
        wgpu::ComputePassTimestampWrites {
            query_set: &self.set,
            beginning_of_pass_write_index: Some(0),
            end_of_pass_write_index: Some(1),
        }
    }

    /// Records the copy of the timestamps (16 bytes) to the timer's own readable buffer,
    /// or to `into` at an offset, to come back with other results in one read-back.
    pub(crate) fn resolve(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        into: Option<(&wgpu::Buffer, u64)>,
    ) {
        encoder.resolve_query_set(&self.set, 0..2, &self.resolve, 0);
        let (to, at) = into.unwrap_or((&self.read, 0));
        encoder.copy_buffer_to_buffer(&self.resolve, 0, to, at, 16);
    }

    /// Seconds between the two timestamps in the timer's own buffer, once the submission
    /// has run.
    pub(crate) fn seconds(&self, ctx: &Context) -> Result<f64> {
        let words: Vec<u32> = read_back(ctx, &self.read, 16)?;
        Ok(seconds_between(ctx, &words))
    }
}

/// Seconds between two timestamps read back as four little-endian words.
pub(crate) fn seconds_between(ctx: &Context, words: &[u32]) -> f64 {
    let tick = |i: usize| u64::from(words[2 * i]) | (u64::from(words[2 * i + 1]) << 32);
    let ns = tick(1).saturating_sub(tick(0)) as f64 * f64::from(ctx.queue().get_timestamp_period());
    ns * 1e-9
}
