//! Buffers written from the host, and buffers read back to it; a lost device is an error
//! here, never a hang or a panic.

use std::sync::mpsc;

use crate::error::{Error, Result};
use crate::gpu::context::Context;

/// Largest binding `ebm` asks for, so every index in the shaders fits a u32.
const MAX_BINDING_BYTES: u64 = 1 << 31;

/// The largest buffer `ebm` binds on a device with `limits`.
pub(crate) fn binding_limit(limits: &wgpu::Limits) -> u64 {
    limits
        .max_storage_buffer_binding_size
        .min(limits.max_buffer_size)
        .min(MAX_BINDING_BYTES)
}

/// A buffer of `usage` (plus COPY_DST) holding `contents`, written through the queue: a
/// buffer mapped at creation would panic in wgpu on a lost device.
pub(crate) fn buffer_with(
    ctx: &Context,
    label: &str,
    contents: &[u8],
    usage: wgpu::BufferUsages,
) -> wgpu::Buffer {
    let buffer = ctx.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: (contents.len() as u64).next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT),
        usage: usage | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    ctx.queue().write_buffer(&buffer, 0, contents);
    buffer
}

/// A buffer of `size` bytes and `usage`, its contents unset.
pub(crate) fn empty_buffer(
    ctx: &Context,
    label: &str,
    size: u64,
    usage: wgpu::BufferUsages,
) -> wgpu::Buffer {
    ctx.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size,
        usage,
        mapped_at_creation: false,
    })
}

/// A storage buffer holding `contents`.
pub(crate) fn storage_init(ctx: &Context, label: &str, contents: &[u8]) -> wgpu::Buffer {
    buffer_with(ctx, label, contents, wgpu::BufferUsages::STORAGE)
}

/// Maps `bytes` of a MAP_READ buffer and copies them out as `T`s.
pub(crate) fn read_back<T: bytemuck::Pod>(
    ctx: &Context,
    buffer: &wgpu::Buffer,
    bytes: u64,
) -> Result<Vec<T>> {
    let fail = |message: String| Error::Gpu {
        stage: "read-back",
        message,
    };
    if bytes == 0 {
        return Ok(Vec::new());
    }
    let slice = buffer.slice(..bytes);
    let (tx, rx) = mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    let polled = ctx.device().poll(wgpu::PollType::wait_indefinitely());
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

/// Checks that the driver kept every buffer of `buffers` (each with COPY_SRC and
/// COPY_DST, and at least 4 bytes): a word written at the end of each is copied into
/// `readback` (MAP_READ, 4 bytes per buffer) and read back, then set back to 0 as the buffer
/// was made. A driver that refused an allocation without saying so (wgpu's GL backend never
/// checks `glGetError` after `glBufferStorage`) reads back something else:
/// [`Error::BufferLost`], naming the first such buffer, with the `batch` and `chunk` of
/// chains and the `bytes` they needed.
pub(crate) fn check_kept(
    ctx: &Context,
    buffers: &[(&'static str, &wgpu::Buffer)],
    readback: &wgpu::Buffer,
    (batch, chunk, bytes): (usize, usize, u64),
) -> Result<()> {
    let queue = ctx.queue();
    let word = |i: usize| 0x6562_6D00_u32.wrapping_add(i as u32);
    let mut encoder = ctx
        .device()
        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("buffer check"),
        });
    for (i, (_, b)) in buffers.iter().enumerate() {
        queue.write_buffer(b, b.size() - 4, bytemuck::bytes_of(&word(i)));
        encoder.copy_buffer_to_buffer(b, b.size() - 4, readback, 4 * i as u64, 4);
    }
    queue.submit([encoder.finish()]);
    let got: Vec<u32> = read_back(ctx, readback, 4 * buffers.len() as u64)?;
    for (_, b) in buffers {
        queue.write_buffer(b, b.size() - 4, &[0; 4]);
    }
    match buffers
        .iter()
        .zip(&got)
        .enumerate()
        .find(|(i, (_, &w))| w != word(*i))
    {
        Some((_, ((buffer, _), _))) => Err(Error::BufferLost {
            backend: ctx.adapter_info().backend,
            buffer,
            batch,
            chunk,
            bytes,
        }),
        None => Ok(()),
    }
}
