//! A model compiled for the kernels: its programs (inference and training, `program`), the
//! code generated from them for each path shape (`codegen`), its packed weights, and the
//! scratch layout of one chain.

use super::codegen::{self, Generated, Layered};
use super::params::Params;
use super::program::{Mode, Program};
use super::Kernel;
use crate::energy::Model;
use crate::error::{Error, Result};

/// A model compiled for the kernels.
#[derive(Debug)]
pub struct Compiled {
    /// The inference program (refinement and evaluation on every path).
    pub(crate) infer: Program,
    /// `energy_chain.wgsl`.
    pub(crate) chain: Generated,
    /// `energy_layered.wgsl` and the layered path's dispatches.
    pub(crate) layered: Layered,
    /// `energy_train.wgsl`.
    pub(crate) training: Generated,
    /// `energy_grads.wgsl`.
    pub(crate) grads: String,
    /// `energy_packing.wgsl`.
    pub(crate) packing: String,
    /// The packed weights: the parameters, then each linear weight's transpose.
    pub(crate) weights: Vec<f32>,
    /// Scratch units (floats) of one chain for refinement and evaluation: the program's
    /// tensors, then from `save` what an accept rule saves (y, dE/dy, a flag).
    pub(crate) units: u32,
    pub(crate) save: u32,
    /// Scratch units of one chain for weight gradients.
    pub(crate) train_units: u32,
    /// Parameters (floats before the transposed copies).
    pub(crate) params: u32,
}

impl Compiled {
    /// `model` (validated) compiled.
    pub fn new(model: &Model) -> Result<Compiled> {
        let infer = Program::lower(model, Mode::Infer);
        let train = Program::lower(model, Mode::Train);
        let chain = codegen::chain(&infer);
        let layered = codegen::layered(&infer);
        let training = codegen::chain(&train);
        let grads = codegen::param_grads(&train);
        let packing = codegen::packing(&infer);
        let weights = infer.packing.pack(model);
        let fits = |v: usize| u32::try_from(v).ok();
        let too_big = || Error::Model("the model is too large for 32-bit indexing".into());
        let save = chain.store.max(layered.code.store);
        let units = save + 2 * model.y_dim + 1;
        Ok(Compiled {
            units: fits(units).ok_or_else(too_big)?,
            save: fits(save).ok_or_else(too_big)?,
            train_units: fits(training.store).ok_or_else(too_big)?,
            params: fits(infer.packing.param_floats).ok_or_else(too_big)?,
            weights: if fits(weights.len()).is_some() {
                weights
            } else {
                return Err(too_big());
            },
            infer,
            chain,
            layered,
            training,
            grads,
            packing,
        })
    }

    /// `energy_tile.wgsl` for tiles of `chains` chains.
    pub(crate) fn tile(&self, chains: u32) -> Generated {
        codegen::tile(&self.infer, chains)
    }

    /// The generated files `kernel`'s module imports (the tile's for `chains` chains).
    pub(crate) fn files(&self, kernel: Kernel, chains: u32) -> Vec<(&'static str, String)> {
        match kernel {
            Kernel::Tile | Kernel::TileSubgroup => {
                vec![("energy_tile.wgsl", self.tile(chains).text)]
            }
            Kernel::Eval | Kernel::Chain => vec![("energy_chain.wgsl", self.chain.text.clone())],
            Kernel::LayeredProduct
            | Kernel::LayeredPointwise
            | Kernel::LayeredOutput
            | Kernel::LayeredUpdate
            | Kernel::LayeredStart
            | Kernel::LayeredSettle => {
                vec![("energy_layered.wgsl", self.layered.code.text.clone())]
            }
            Kernel::Backprop => vec![("energy_train.wgsl", self.training.text.clone())],
            Kernel::WeightGrad => vec![
                ("energy_train.wgsl", self.training.text.clone()),
                ("energy_grads.wgsl", self.grads.clone()),
            ],
            Kernel::GradNorm | Kernel::Update => {
                vec![("energy_packing.wgsl", self.packing.clone())]
            }
            Kernel::TraceReduce
            | Kernel::Exchange
            | Kernel::DrawNegatives
            | Kernel::StoreNegatives
            | Kernel::LossWeights => Vec::new(),
        }
    }

    /// The uniform block's fields this layout and `model` give, for chunks of `stride`
    /// chains (scratch holds unit u of chain c at u * stride + c).
    pub(crate) fn params(&self, model: &Model, stride: usize) -> Params {
        Params {
            x_dim: model.x_dim as u32,
            y_dim: model.y_dim as u32,
            stride: stride as u32,
            save: self.save,
            ..Default::default()
        }
    }
}
