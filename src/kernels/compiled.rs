//! A model compiled for the kernels: its inference program (`program`), the program table
//! the kernels of one chain per invocation interpret (`table`), the tile kernel's generated
//! code (`codegen`, per tile size), its packed weights, and the scratch layout of one chain.

use super::codegen::{self, Generated};
use super::params::Params;
use super::program::{Mode, Program};
use super::table::{self, LayeredSteps, Loops};
use super::Kernel;
use crate::energy::Model;
use crate::error::{Error, Result};

/// A model compiled for the kernels.
#[derive(Debug)]
pub struct Compiled {
    /// The inference program (refinement and evaluation on every path).
    pub(crate) infer: Program,
    /// The `program` binding's words (kernels/table.rs).
    pub(crate) table: Vec<u32>,
    /// `energy_chain.wgsl`, `energy_train.wgsl`, `energy_layered.wgsl`.
    pub(crate) chain: String,
    pub(crate) train: String,
    pub(crate) layered_code: String,
    /// Loop iterations of the inference passes for one chain (chain path, eval).
    pub(crate) loops: Loops,
    /// The layered path's dispatches.
    pub(crate) layered: LayeredSteps,
    /// The packed weights: the parameters, then each linear weight's transpose.
    pub(crate) weights: Vec<f32>,
    /// Scratch units (floats) of one chain for refinement and evaluation: the program's
    /// tensors, then from `save` what an accept rule saves (y, dE/dy, a flag).
    pub(crate) units: u32,
    pub(crate) save: u32,
    /// Where the energy's backward pass leaves dE/dy in scratch (units).
    pub(crate) dy: u32,
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
        let t = table::encode(&infer, &train);
        let weights = infer.packing.pack(model);
        let chain = codegen::chain(&t.words, &t.infer);
        let train_code = codegen::chain(&t.words, &t.train);
        let layered_code = codegen::layered(&t.words, &t.segments, &t.infer.heads);
        let fits = |v: usize| u32::try_from(v).ok();
        let too_big = || Error::Model("the model is too large for 32-bit indexing".into());
        let units = t.units + 2 * model.y_dim + 1;
        if fits(weights.len()).is_none() || fits(t.words.len()).is_none() {
            return Err(too_big());
        }
        Ok(Compiled {
            units: fits(units).ok_or_else(too_big)?,
            save: fits(t.units).ok_or_else(too_big)?,
            dy: fits(t.dy).ok_or_else(too_big)?,
            train_units: fits(t.train_units).ok_or_else(too_big)?,
            params: fits(infer.packing.param_floats).ok_or_else(too_big)?,
            weights,
            chain,
            train: train_code,
            layered_code,
            table: t.words,
            loops: t.loops,
            layered: t.layered,
            infer,
        })
    }

    /// `energy_tile.wgsl` for tiles of `chains` chains.
    pub(crate) fn tile(&self, chains: u32) -> Generated {
        codegen::tile(&self.infer, chains)
    }

    /// The generated files `kernel`'s module imports (the tile's, for `chains` chains).
    pub(crate) fn files(&self, kernel: Kernel, chains: u32) -> Vec<(&'static str, String)> {
        match kernel {
            Kernel::Tile | Kernel::TileSubgroup => {
                vec![("energy_tile.wgsl", self.tile(chains).text)]
            }
            Kernel::Eval | Kernel::Chain => vec![("energy_chain.wgsl", self.chain.clone())],
            Kernel::Backprop => vec![("energy_train.wgsl", self.train.clone())],
            Kernel::LayeredProduct
            | Kernel::LayeredPointwise
            | Kernel::LayeredOutput
            | Kernel::LayeredUpdate
            | Kernel::LayeredStart
            | Kernel::LayeredSettle => vec![("energy_layered.wgsl", self.layered_code.clone())],
            Kernel::TraceReduce
            | Kernel::Exchange
            | Kernel::WeightGrad
            | Kernel::DrawNegatives
            | Kernel::StoreNegatives
            | Kernel::LossWeights
            | Kernel::GradNorm
            | Kernel::Update => Vec::new(),
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
            dy: self.dy,
            ..Default::default()
        }
    }
}
