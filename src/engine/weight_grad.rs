//! Weight gradients of a batch: sum over chains c of w_c dE(x_c, y_c)/dtheta for every
//! parameter, on the GPU (kernels/weight_grad.rs), chunk by chunk, summed in
//! order so that the result does not depend on the chunking or on scheduling. Training's
//! objectives are built from it: each is a choice of the per-chain weights w_c.

use super::Engine;
use crate::energy::tensors::check_finite;
use crate::energy::Param;
use crate::error::{Error, Result};
use crate::gpu::bindings::{bind_group, Access};
use crate::gpu::readback::{binding_limit, empty_buffer, read_back, storage_init};
use crate::gpu::submit::{submit, Copy, Run};
use crate::kernels::bindings::BINDINGS;
use crate::kernels::params::Params;
use crate::kernels::train::{TrainParams, TRAIN_BINDINGS};
use crate::kernels::weight_grad::{dispatches, MAX_CHAINS_PER_SUM};

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
    energy: wgpu::Buffer,
    scratch: wgpu::Buffer,
    chain_weights: wgpu::Buffer,
    param_grads: wgpu::Buffer,
    readback: wgpu::Buffer,
    params: wgpu::Buffer,
    /// For the bindings of the main table the kernels do not use: read-only ones, and
    /// read-write ones (a buffer cannot be both in one bind group).
    unused_read: wgpu::Buffer,
    unused_write: wgpu::Buffer,
    unused_stats: wgpu::Buffer,
    /// The training table's uniform block, which weight_grad does not read.
    train: wgpu::Buffer,
}

impl Engine {
    /// The energy of every chain and sum over chains c of `chain_weights[c]` dE_c/dtheta for
    /// every parameter: `x` is `[n, x_dim]`, `y` `[n, y_dim]`,
    /// `chain_weights` `[n]`. With w_c = 1/n this is the gradient of the mean energy; a
    /// contrastive objective weighs positives and negatives with opposite signs.
    pub fn weight_grad(&self, x: &[f32], y: &[f32], chain_weights: &[f32]) -> Result<WeightGrad> {
        let n = self.check_batch(x, y)?;
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
            return Err(Error::Limit {
                kernel: "backprop",
                resource: "storage buffer binding (scratch of one chain)",
                needed: per_chain,
                limit: binding_limit(&self.ctx.limits()),
            });
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
        let groups = [
            self.bind_group_over(&b),
            bind_group(
                self.ctx.device(),
                "ebm weight gradients",
                &self.train_layout,
                &TRAIN_BINDINGS,
                vec![
                    b.train.as_entire_binding(),
                    b.chain_weights.as_entire_binding(),
                    b.param_grads.as_entire_binding(),
                    b.unused_write.as_entire_binding(),
                    b.unused_read.as_entire_binding(),
                    b.unused_stats.as_entire_binding(),
                ],
            ),
        ];
        let pipelines = [
            crate::kernels::Kernel::Backprop,
            crate::kernels::Kernel::WeightGrad,
        ]
        .map(|kernel| {
            self.train_pipelines
                .get(&self.ctx, kernel, || self.pipeline_source(kernel, 0, 0))
        });
        let [backprop, weight_grad] = pipelines;
        let (backprop, weight_grad) = (backprop?, weight_grad?);
        queue.write_buffer(&b.param_grads, 0, &vec![0u8; 4 * params_count as usize]);
        let mut energy = Vec::with_capacity(n);
        for start in (0..n).step_by(chunk) {
            let m = chunk.min(n - start);
            let params = Params {
                n_chains: m as u32,
                chain_offset: start as u32,
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
                for buffer in [&b.energy, &b.scratch, &b.readback] {
                    let nan = vec![f32::NAN; (buffer.size() / 4) as usize];
                    queue.write_buffer(buffer, 0, bytemuck::cast_slice(&nan));
                }
            }
            let [first, second] = dispatches(m as u32, self.compiled.params);
            let runs = [
                Run {
                    pipeline: &backprop,
                    offset: 0,
                    groups: first.groups,
                },
                Run {
                    pipeline: &weight_grad,
                    offset: 0,
                    groups: second.groups,
                },
            ];
            let energy_bytes = 4 * m as u64;
            let copies = [Copy {
                from: &b.energy,
                from_offset: 0,
                to: &b.readback,
                to_offset: 0,
                bytes: energy_bytes,
            }];
            submit(&self.ctx, &[&groups[0], &groups[1]], &runs, &copies, None);
            energy.extend(read_back::<f32>(&self.ctx, &b.readback, energy_bytes)?);
        }
        let copy = [Copy {
            from: &b.param_grads,
            from_offset: 0,
            to: &b.readback,
            to_offset: 0,
            bytes: 4 * params_count,
        }];
        submit(&self.ctx, &[&groups[0], &groups[1]], &[], &copy, None);
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
        Buffers {
            x: make("x", words(chunk * self.model.x_dim as u64), storage),
            y: make("y", words(chunk * self.model.y_dim as u64), storage),
            energy: make("energy", words(chunk), storage),
            scratch: make(
                "scratch",
                words(chunk * u64::from(self.compiled.train_units)),
                storage,
            ),
            chain_weights: make("chain weights", words(chunk), storage),
            param_grads: make("parameter gradients", words(params), storage),
            readback: make(
                "readback",
                words(chunk + params),
                wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            ),
            params: make(
                "params",
                self.params_stride,
                wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            ),
            unused_read: storage_init(&self.ctx, "unused", &[0u8; 64]),
            unused_write: storage_init(&self.ctx, "unused", &[0u8; 64]),
            unused_stats: storage_init(&self.ctx, "unused", &[0u8; 64]),
            train: make(
                "train params",
                std::mem::size_of::<TrainParams>() as u64,
                wgpu::BufferUsages::UNIFORM,
            ),
        }
    }

    /// Group 0 over the weight-gradient buffers: the main table, with a small unused
    /// buffer where the kernels read nothing.
    fn bind_group_over(&self, b: &Buffers) -> wgpu::BindGroup {
        let resources = BINDINGS
            .iter()
            .map(|binding| match binding.name {
                "params" => wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &b.params,
                    offset: 0,
                    size: wgpu::BufferSize::new(std::mem::size_of::<Params>() as u64),
                }),
                "weights" => self.weights.as_entire_binding(),
                "program" => self.program.as_entire_binding(),
                "xs" => b.x.as_entire_binding(),
                "ys" => b.y.as_entire_binding(),
                "energies" => b.energy.as_entire_binding(),
                "scratch" => b.scratch.as_entire_binding(),
                _ if binding.access == Access::Read => b.unused_read.as_entire_binding(),
                _ => b.unused_write.as_entire_binding(),
            })
            .collect();
        bind_group(
            self.ctx.device(),
            "ebm weight gradients",
            &self.bind_layout,
            &BINDINGS,
            resources,
        )
    }
}
