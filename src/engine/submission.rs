//! One submission of a call: the pipelines of its dispatches, one uniform block per
//! dispatch (its step range, layer and whether it writes the energy), and at the end of a
//! chunk the copies that gather its results for read-back.

use super::workspace::Workspace;
use super::Engine;
use crate::error::Result;
use crate::gpu::bindings::has_dynamic;
use crate::gpu::submit::{submit, Copy, Run};
use crate::kernels::bindings::BINDINGS;
use crate::kernels::params::{ChainState, Params};
use crate::kernels::{Dispatch, Kernel};
use crate::refine::config::{span_at, Span};

impl Engine {
    /// Records and submits one submission: `dispatches` in one timed compute pass, and
    /// with `finish` = (chains, steps done, whether dE/dy is wanted) the copies of the
    /// results for read-back (y, an evaluation's dE/dy as scratch holds it, chain states
    /// with the energies, the trace summary, then the pass's two timestamps where the device
    /// has them, so that one read-back brings all), whose bytes before the timestamps it
    /// returns with the submission.
    pub(super) fn submit(
        &self,
        dispatches: &[Dispatch],
        rule: u32,
        params: &Params,
        spans: &[Span],
        ws: &mut Workspace,
        finish: Option<(usize, u32, bool)>,
    ) -> Result<(wgpu::SubmissionIndex, u64)> {
        let pipelines = dispatches
            .iter()
            .map(|d| match d.kernel {
                Kernel::Tile if self.subgroups => {
                    self.pipeline(Kernel::TileSubgroup, d.chains, rule)
                }
                kernel => self.pipeline(kernel, d.chains, rule),
            })
            .collect::<Result<Vec<_>>>()?;
        // One Params block per dispatch: its step range, layer, whether it writes the
        // energy, and the landscape and clamp range of the run of steps it lies in.
        let block_bytes = self.params_stride as usize;
        let mut blocks = vec![0u8; block_bytes * dispatches.len().max(1)];
        for (i, d) in dispatches.iter().enumerate() {
            let span = span_at(spans, d.step_offset);
            let (clamp_lo, clamp_hi) = span.clamp.unwrap_or((0.0, 0.0));
            let block = Params {
                step_offset: d.step_offset,
                steps: d.steps,
                write_energy: u32::from(d.write_energy),
                layer: d.layer,
                landscape: span.landscape,
                take_every_step: u32::from(span.take_every_step),
                use_clamp: u32::from(span.clamp.is_some()),
                clamp_lo,
                clamp_hi,
                ..*params
            };
            let at = i * block_bytes;
            blocks[at..at + std::mem::size_of::<Params>()]
                .copy_from_slice(bytemuck::bytes_of(&block));
        }
        self.write_params(ws, &blocks);
        // Each pipeline's bind groups: group 0 over this workspace, group 1 the energy's,
        // each of the bindings it uses.
        let mut groups = Vec::with_capacity(pipelines.len());
        for p in &pipelines {
            let chains = self.chains_group(ws, p.used[0]).clone();
            groups.push([chains, self.energy_group(p.used[1])]);
        }
        let runs: Vec<Run> = dispatches
            .iter()
            .zip(&pipelines)
            .zip(&groups)
            .enumerate()
            .map(|(i, ((d, pipeline), groups))| Run {
                pipeline: &pipeline.pipeline,
                bind_groups: groups.iter().collect(),
                offset: has_dynamic(&BINDINGS, pipeline.used[0])
                    .then_some((i * block_bytes) as u32),
                groups: d.groups,
            })
            .collect();
        let b = &ws.b;
        let mut copies = Vec::new();
        let mut copied = 0;
        if let Some((m, steps_done, with_grad)) = finish {
            let y_bytes = (m * self.model.y_dim * 4) as u64;
            // dE/dy as scratch holds it: y_dim units of `stride` chains from unit dy.
            let stride = u64::from(params.stride);
            let (grad_at, grad_bytes) = match with_grad {
                true => (
                    4 * u64::from(params.dy) * stride,
                    4 * self.model.y_dim as u64 * stride,
                ),
                false => (0, 0),
            };
            let state_bytes = (m * std::mem::size_of::<ChainState>()) as u64;
            let summary_at = 4 * u64::from(params.trace_summary);
            let summary_bytes = if params.trace != 0 {
                16 * u64::from(steps_done)
            } else {
                0
            };
            for (from, from_offset, bytes) in [
                (&b.y, 0, y_bytes),
                (&b.scratch, grad_at, grad_bytes),
                (&b.chain_state, 0, state_bytes),
                (&b.trace, summary_at, summary_bytes),
            ] {
                copies.push(Copy {
                    from,
                    from_offset,
                    to: &b.readback,
                    to_offset: copied,
                    bytes,
                });
                copied += bytes;
            }
        }
        let timestamps_to = finish.map(|_| (&b.readback, copied));
        let timing = ws.timer.as_ref().map(|t| (t, timestamps_to));
        let index = submit(&self.ctx, &runs, &copies, timing);
        Ok((index, copied))
    }
}
