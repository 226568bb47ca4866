//! Weight gradients of a batch: sum over chains c of w_c dE(x_c, y_c)/dtheta for every
//! parameter, on the GPU (kernels/weight_grad.rs), chunk by chunk, summed in
//! order so that the result does not depend on the chunking or on scheduling. Training's
//! objectives are built from it: each is a choice of the per-chain weights w_c.

use super::completion;
use super::workspace::ChainBuffers;
use super::Engine;
use crate::energy::tensors::check_finite;
use crate::energy::Param;
use crate::error::{Error, Resource, Result};
use crate::gpu::bindings::{bind_group, has_dynamic, Used};
use crate::gpu::pipelines::Pipeline;
use crate::gpu::readback::{binding_limit, empty_buffer, read_back};
use crate::gpu::submit::{submit, Copy, Run};
use crate::kernels::bindings::BINDINGS;
use crate::kernels::params::{ChainState, Params};
use crate::kernels::train::TRAIN_BINDINGS;
use crate::kernels::weight_grad::{dispatches, MAX_CHAINS_PER_SUM};
use crate::kernels::Kernel;

/// The gradient of a weighted sum of energies with respect to the model's parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct WeightGrad {
    /// E(x, y) per chain, `[n]`.
    pub energy: Vec<f32>,
    /// Per parameter of the model, in its order, name and shape: the sum of
    /// w_c dE_c/dtheta.
    pub params: Vec<Param>,
}

/// The buffers of one weight-gradient call.
struct Buffers {
    x: wgpu::Buffer,
    y: wgpu::Buffer,
    chain_state: wgpu::Buffer,
    scratch: wgpu::Buffer,
    chain_weights: wgpu::Buffer,
    param_grads: wgpu::Buffer,
    readback: wgpu::Buffer,
    params: wgpu::Buffer,
}

impl Engine {
    /// The energy of every chain and sum over chains c of `chain_weights[c]` dE_c/dtheta for
    /// every parameter: `x` is `[n, x_dim]`, `y` `[n, y_dim]`,
    /// `chain_weights` `[n]`. With w_c = 1/n this is the gradient of the mean energy; a
    /// contrastive objective weighs positives and negatives with opposite signs.
    pub fn weight_grad(&self, x: &[f32], y: &[f32], chain_weights: &[f32]) -> Result<WeightGrad> {
        let n = self.check_batch(x, y)?;
        self.model.check_no_landscape("the weight gradient")?;
        if chain_weights.len() != n {
            return Err(Error::input(
                "chain_weights",
                format!(
                    "holds {} values; the batch has {n} chains",
                    chain_weights.len()
                ),
            ));
        }
        check_finite("chain_weights", chain_weights)
            .map_err(|m| Error::input("chain_weights", m))?;
        let per_chain = 4 * u64::from(self.compiled.train_units);
        let chunk = ((binding_limit(&self.ctx.limits()) / per_chain) as usize)
            .min(self.max_chunk)
            .min(MAX_CHAINS_PER_SUM)
            .min(n);
        if chunk == 0 {
            return Err(Error::limit(
                "the weight gradient's scratch of one chain",
                Resource::BindingBytes,
                per_chain,
                binding_limit(&self.ctx.limits()),
            ));
        }
        let (energy, grads) = self.ctx.guarded("weight gradients", || {
            self.weight_grad_chunks(x, y, chain_weights, chunk)
        })?;
        let mut at = 0;
        let params = self
            .model
            .params
            .iter()
            .map(|p| {
                let n = p.data.len();
                at += n;
                Param {
                    name: p.name.clone(),
                    shape: p.shape.clone(),
                    data: grads[at - n..at].to_vec(),
                }
            })
            .collect();
        Ok(WeightGrad { energy, params })
    }

    /// Runs the batch in chunks of `chunk` chains, each added to the parameter gradients
    /// in order; returns the energies and the packed gradients.
    fn weight_grad_chunks(
        &self,
        x: &[f32],
        y: &[f32],
        chain_weights: &[f32],
        chunk: usize,
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        let (x_dim, y_dim) = (self.model.x_dim, self.model.y_dim);
        let n = y.len() / y_dim;
        let b = self.weight_grad_buffers(chunk);
        let queue = self.ctx.queue();
        let params_count = u64::from(self.compiled.params);
        let [backprop, weight_grad] = [Kernel::Backprop, Kernel::WeightGrad].map(|kernel| {
            self.train_pipelines
                .get(&self.ctx, &self.layouts, kernel, || {
                    self.pipeline_source(kernel, 0, 0)
                })
        });
        let (backprop, weight_grad) = (backprop?, weight_grad?);
        // Each kernel's groups, of the bindings it uses: the chains', the energy's, and
        // the training group (chain weights and parameter gradients).
        let groups_of = |p: &Pipeline| -> Vec<wgpu::BindGroup> {
            let mut groups = vec![self.chains_of(&b, p.used[0]), self.energy_group(p.used[1])];
            if let Some(&used) = p.used.get(2) {
                let layout = self.layouts.get(&self.ctx, &TRAIN_BINDINGS, used);
                groups.push(bind_group(
                    self.ctx.device(),
                    "ebm weight gradients",
                    &layout,
                    &TRAIN_BINDINGS,
                    used,
                    |binding| match binding.name {
                        "chain_weights" => b.chain_weights.as_entire_binding(),
                        "param_grads" => b.param_grads.as_entire_binding(),
                        other => unreachable!("weight gradients bind {other}"),
                    },
                ));
            }
            groups
        };
        let backprop_groups = groups_of(&backprop);
        let weight_grad_groups = groups_of(&weight_grad);
        let offset = |p: &Pipeline| has_dynamic(&BINDINGS, p.used[0]).then_some(0);
        queue.write_buffer(&b.param_grads, 0, &vec![0u8; 4 * params_count as usize]);
        let mut energy = Vec::with_capacity(n);
        let state_words = std::mem::size_of::<ChainState>() as u64;
        let mark = completion::next_mark();
        for start in (0..n).step_by(chunk) {
            let m = chunk.min(n - start);
            let params = Params {
                n_chains: m as u32,
                chain_offset: start as u32,
                mark,
                ..self.compiled.params(&self.model, chunk)
            };
            queue.write_buffer(&b.params, 0, bytemuck::bytes_of(&params));
            if x_dim > 0 {
                queue.write_buffer(
                    &b.x,
                    0,
                    bytemuck::cast_slice(&x[start * x_dim..(start + m) * x_dim]),
                );
            }
            queue.write_buffer(
                &b.y,
                0,
                bytemuck::cast_slice(&y[start * y_dim..(start + m) * y_dim]),
            );
            queue.write_buffer(
                &b.chain_weights,
                0,
                bytemuck::cast_slice(&chain_weights[start..start + m]),
            );
            if self.poison {
                for buffer in [&b.chain_state, &b.scratch, &b.readback] {
                    let nan = vec![f32::NAN; (buffer.size() / 4) as usize];
                    queue.write_buffer(buffer, 0, bytemuck::cast_slice(&nan));
                }
            }
            let [first, second] = dispatches(m as u32, self.compiled.params);
            let runs = [
                Run {
                    pipeline: &backprop.pipeline,
                    bind_groups: backprop_groups.iter().collect(),
                    offset: offset(&backprop),
                    groups: first.groups,
                },
                Run {
                    pipeline: &weight_grad.pipeline,
                    bind_groups: weight_grad_groups.iter().collect(),
                    offset: offset(&weight_grad),
                    groups: second.groups,
                },
            ];
            let state_bytes = state_words * m as u64;
            let copies = [Copy {
                from: &b.chain_state,
                from_offset: 0,
                to: &b.readback,
                to_offset: 0,
                bytes: state_bytes,
            }];
            submit(&self.ctx, &runs, &copies, None);
            let states: Vec<ChainState> = read_back(&self.ctx, &b.readback, state_bytes)?;
            completion::check(&states, mark, self.ctx.adapter_info().backend)?;
            energy.extend(states.iter().map(|s| s.energy_out));
        }
        let copy = [Copy {
            from: &b.param_grads,
            from_offset: 0,
            to: &b.readback,
            to_offset: 0,
            bytes: 4 * params_count,
        }];
        submit(&self.ctx, &[], &copy, None);
        let grads = read_back(&self.ctx, &b.readback, 4 * params_count)?;
        Ok((energy, grads))
    }

    /// Buffers for chunks of up to `chunk` chains.
    fn weight_grad_buffers(&self, chunk: usize) -> Buffers {
        let chunk = chunk as u64;
        let words = |w: u64| 4 * w.max(1);
        let make = |label: &str, size, usage| empty_buffer(&self.ctx, label, size, usage);
        let storage = wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_DST
            | wgpu::BufferUsages::COPY_SRC;
        let params = u64::from(self.compiled.params);
        let state_words = (std::mem::size_of::<ChainState>() / 4) as u64;
        Buffers {
            x: make("x", words(chunk * self.model.x_dim as u64), storage),
            y: make("y", words(chunk * self.model.y_dim as u64), storage),
            chain_state: make("chain state", words(chunk * state_words), storage),
            scratch: make(
                "scratch",
                words(chunk * u64::from(self.compiled.train_units)),
                storage,
            ),
            chain_weights: make("chain weights", words(chunk), storage),
            param_grads: make("parameter gradients", words(params), storage),
            readback: make(
                "readback",
                words((chunk * state_words).max(params)),
                wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            ),
            params: make(
                "params",
                self.params_stride,
                wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            ),
        }
    }

    /// Group 0 over the weight-gradient buffers, of the bindings `used` names (backprop
    /// and weight_grad read only params, x, y, the chain states and scratch).
    fn chains_of(&self, b: &Buffers, used: Used) -> wgpu::BindGroup {
        let chains = ChainBuffers {
            params: &b.params,
            x: &b.x,
            y: &b.y,
            controls: None,
            chain_state: &b.chain_state,
            trace: None,
            scratch: &b.scratch,
        };
        self.chains_group_of("ebm weight gradients", &chains, used)
    }
}
