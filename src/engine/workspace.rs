//! The device buffers of a call and their bind groups (group 0, the chains', one per subset
//! of its bindings a kernel uses): made for a size class of chunk, trace and schedule, given
//! back to the engine's pool when the call ends, and taken again by the next call of the
//! same class, so that repeated small calls stop paying for allocation and bind groups.

use super::Engine;
use crate::error::{Error, Result};
use std::collections::HashMap;

use crate::gpu::bindings::{bind_group, Used};
use crate::gpu::pool::size_class;
use crate::gpu::readback::{binding_limit, check_kept};
use crate::gpu::timer::KernelTimer;
use crate::kernels::bindings::BINDINGS;
use crate::kernels::constants::WORKGROUP_SIZE;
use crate::kernels::params::{ChainState, Params};
use crate::kernels::trace;

/// Uniform blocks a workspace starts with (one per dispatch of a submission; it grows for
/// submissions with more).
const FIRST_PARAMS_BLOCKS: u64 = 64;

/// What a workspace holds room for; workspaces of the same key serve each other's calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Room {
    /// Chains of a chunk.
    pub chains: u64,
    /// Steps of a trace (0: no trace).
    pub trace_steps: u64,
    /// Rows of the step table.
    pub table_rows: u64,
}

impl Room {
    /// The size class that holds `needed`.
    fn class_of(needed: Room) -> Room {
        let class = |n: u64| if n == 0 { 0 } else { size_class(n) };
        Room {
            chains: class(needed.chains),
            trace_steps: class(needed.trace_steps),
            table_rows: class(needed.table_rows),
        }
    }

    /// The room a workspace for `needed` gets: its size class, unless a buffer of that
    /// class (`largest` gives a room's largest buffer) would pass `limit` bytes, the most
    /// the device binds; then exactly what is needed (chunks are cut to fit it, often to
    /// the byte).
    fn for_need(needed: Room, limit: u64, largest: impl Fn(Room) -> u64) -> Room {
        let class = Room::class_of(needed);
        if largest(class) <= limit {
            class
        } else {
            needed
        }
    }
}

/// The buffers of one call.
pub(super) struct Buffers {
    pub x: wgpu::Buffer,
    pub y: wgpu::Buffer,
    pub scratch: wgpu::Buffer,
    /// The step table's rows, then from word `Room::fixed_at` the fixed coordinates.
    pub controls: wgpu::Buffer,
    pub chain_state: wgpu::Buffer,
    pub trace: wgpu::Buffer,
    pub readback: wgpu::Buffer,
    pub params: wgpu::Buffer,
}

/// The buffers of one call, their bind groups and timer.
pub(super) struct Workspace {
    pub room: Room,
    pub b: Buffers,
    /// Group 0 over `b`, by the bindings of the table a kernel uses.
    pub groups: HashMap<Used, wgpu::BindGroup>,
    pub timer: Option<KernelTimer>,
    /// Device bytes it holds.
    pub bytes: u64,
}

impl Room {
    /// The word of `controls` where the fixed coordinates start (after the step table).
    pub fn fixed_at(&self) -> u32 {
        (4 * self.table_rows.max(1)) as u32
    }
}

impl Engine {
    /// Bytes of each buffer of a workspace with `room`.
    fn workspace_bytes(&self, room: Room) -> [(&'static str, u64); 7] {
        let (x_dim, y_dim) = (self.model.x_dim as u64, self.model.y_dim as u64);
        let state_words = (std::mem::size_of::<ChainState>() / 4) as u64;
        let chains = room.chains;
        // Bindings may not be empty: x of an unconditional model gets one word.
        let words = |w: u64| 4 * w.max(1);
        [
            ("x", words(chains * x_dim)),
            ("y", words(chains * y_dim)),
            ("scratch", words(chains * u64::from(self.compiled.units))),
            (
                "controls",
                words(u64::from(room.fixed_at()) + chains * y_dim),
            ),
            ("chain state", words(chains * state_words)),
            (
                "trace",
                trace::buffer_bytes(chains, room.trace_steps).max(4),
            ),
            // The results (y, an evaluation's dE/dy, chain states, the trace's summary),
            // then the two timestamps of the pass.
            (
                "readback",
                words(chains * (2 * y_dim + state_words) + 4 * room.trace_steps + 4),
            ),
        ]
    }

    /// A workspace with room for `needed` (of a batch of `n` chains, for the error): one
    /// from the pool, or a new one; an error naming the batch, chunk and bytes where the
    /// device cannot hold it.
    pub(super) fn workspace(&self, needed: Room, n: usize) -> Result<Workspace> {
        let largest = |room| {
            let bytes = self.workspace_bytes(room);
            bytes.iter().map(|(_, b)| *b).max().unwrap_or(0)
        };
        let room = Room::for_need(needed, binding_limit(&self.ctx.limits()), largest);
        if let Some(ws) = self.workspaces.take(&room) {
            return Ok(ws);
        }
        let device = self.ctx.device();
        let sizes = self.workspace_bytes(room);
        let oom = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let storage = wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_DST
            | wgpu::BufferUsages::COPY_SRC;
        let mut made = sizes.iter().map(|&(label, size)| {
            let usage = match label {
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
        let mut next = || made.next().expect("seven buffers");
        let (x, y, scratch, controls) = (next(), next(), next(), next());
        let (chain_state, trace, readback) = (next(), next(), next());
        let params = self.params_buffer(FIRST_PARAMS_BLOCKS);
        let bytes = sizes.iter().map(|(_, b)| b).sum::<u64>() + params.size();
        let b = Buffers {
            x,
            y,
            scratch,
            controls,
            chain_state,
            trace,
            readback,
            params,
        };
        let ws = Workspace {
            room,
            groups: HashMap::new(),
            b,
            timer: KernelTimer::new(&self.ctx),
            bytes,
        };
        if pollster::block_on(oom.pop()).is_some() {
            return Err(Error::OutOfMemory {
                memory: "device",
                batch: n,
                chunk: needed.chains as usize,
                bytes,
            });
        }
        // Not trusted because creating them returned: a driver may refuse an allocation
        // and say nothing (completion.rs has the other half of this check).
        let b = &ws.b;
        let kept = [
            ("x", &b.x),
            ("y", &b.y),
            ("scratch", &b.scratch),
            ("controls", &b.controls),
            ("chain state", &b.chain_state),
            ("trace", &b.trace),
        ];
        check_kept(
            &self.ctx,
            &kept,
            &b.readback,
            (n, needed.chains as usize, bytes),
        )?;
        Ok(ws)
    }

    /// Gives a workspace back for later calls.
    pub(super) fn give_back(&self, ws: Workspace) {
        let (room, bytes) = (ws.room, ws.bytes);
        self.workspaces.give(room, ws, bytes);
    }

    /// Makes room for `blocks` uniform blocks in `ws` (a submission of that many
    /// dispatches), and writes `blocks_bytes` there.
    pub(super) fn write_params(&self, ws: &mut Workspace, blocks_bytes: &[u8]) {
        let blocks = blocks_bytes.len() as u64 / self.params_stride;
        if ws.b.params.size() < blocks_bytes.len() as u64 {
            ws.bytes -= ws.b.params.size();
            ws.b.params = self.params_buffer(blocks.next_power_of_two());
            ws.bytes += ws.b.params.size();
            ws.groups.clear();
        }
        self.ctx.queue().write_buffer(&ws.b.params, 0, blocks_bytes);
    }

    fn params_buffer(&self, blocks: u64) -> wgpu::Buffer {
        self.ctx.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("params"),
            size: self.params_stride * blocks,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    /// Group 0 over `ws` for a kernel that uses `used` of its bindings (made once per
    /// subset and workspace).
    pub(super) fn chains_group<'w>(
        &self,
        ws: &'w mut Workspace,
        used: Used,
    ) -> &'w wgpu::BindGroup {
        let b = &ws.b;
        ws.groups
            .entry(used)
            .or_insert_with(|| self.chains_group_over(b, used))
    }

    /// Group 0 over the buffers `b` for a kernel that uses `used` of its bindings.
    pub(super) fn chains_group_over(&self, b: &Buffers, used: Used) -> wgpu::BindGroup {
        let chains = ChainBuffers {
            params: &b.params,
            x: &b.x,
            y: &b.y,
            controls: Some(&b.controls),
            chain_state: &b.chain_state,
            trace: Some(&b.trace),
            scratch: &b.scratch,
        };
        self.chains_group_of("ebm chains", &chains, used)
    }

    /// Group 0 over `b`, of the bindings `used` names (each of which `b` must hold).
    pub(super) fn chains_group_of(
        &self,
        label: &str,
        b: &ChainBuffers<'_>,
        used: Used,
    ) -> wgpu::BindGroup {
        let layout = self.layouts.get(&self.ctx, &BINDINGS, used);
        let missing = |name: &str| -> ! { unreachable!("{label} binds {name}, which it has not") };
        bind_group(
            self.ctx.device(),
            label,
            &layout,
            &BINDINGS,
            used,
            |binding| match binding.name {
                "params" => wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: b.params,
                    offset: 0,
                    size: wgpu::BufferSize::new(std::mem::size_of::<Params>() as u64),
                }),
                "xs" => b.x.as_entire_binding(),
                "ys" => b.y.as_entire_binding(),
                "controls" => b
                    .controls
                    .unwrap_or_else(|| missing("controls"))
                    .as_entire_binding(),
                "chain_state" => b.chain_state.as_entire_binding(),
                "trace" => b
                    .trace
                    .unwrap_or_else(|| missing("trace"))
                    .as_entire_binding(),
                "scratch" => b.scratch.as_entire_binding(),
                other => unreachable!("binding {other} of group 0"),
            },
        )
    }
}

/// The buffers of group 0 (bindings.wgsl's chain bindings); a caller whose kernels use no
/// controls or trace (the weight gradients) has none.
pub(super) struct ChainBuffers<'a> {
    pub params: &'a wgpu::Buffer,
    pub x: &'a wgpu::Buffer,
    pub y: &'a wgpu::Buffer,
    pub controls: Option<&'a wgpu::Buffer>,
    pub chain_state: &'a wgpu::Buffer,
    pub trace: Option<&'a wgpu::Buffer>,
    pub scratch: &'a wgpu::Buffer,
}

/// Chains one workgroup of `path` holds (the most chains a dispatch's grid row covers).
pub(super) fn chains_per_group(path: crate::plan::path::KernelPath) -> u32 {
    match path {
        crate::plan::path::KernelPath::Chain => WORKGROUP_SIZE,
        crate::plan::path::KernelPath::Tile { chains } => chains,
        crate::plan::path::KernelPath::Layered => crate::kernels::constants::LAYERED_TILE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chunk cut to the binding limit keeps its exact size: its size class would not
    /// bind. Smaller ones get their class.
    #[test]
    fn rooms_never_pass_the_binding_limit() {
        let bytes_per_chain = 4000;
        let limit = 128 << 20;
        let largest = |room: Room| room.chains * bytes_per_chain;
        let at_limit = Room {
            chains: limit / bytes_per_chain,
            trace_steps: 0,
            table_rows: 100,
        };
        let room = Room::for_need(at_limit, limit, largest);
        assert_eq!(room, at_limit);
        assert!(largest(room) <= limit);
        let small = Room {
            chains: 65,
            ..at_limit
        };
        let room = Room::for_need(small, limit, largest);
        assert_eq!((room.chains, room.table_rows), (72, 104));
    }
}
