//! The kernels, one host module per family beside its shader:
//!
//! | family  | shader (root)       | host module          | what it runs                       |
//! |---------|---------------------|----------------------|------------------------------------|
//! | eval    | `eval.wgsl`         | `kernels/eval.rs`    | energy and dE/dy, one chain each   |
//! | chain   | `chain.wgsl`        | `kernels/fused.rs`   | every step, one chain per thread   |
//! | tile    | `tile.wgsl`         | `kernels/tile.rs`    | every step, a tile per workgroup   |
//! | layered | `layered.wgsl`      | `kernels/layered.rs` | a dispatch per product and step    |
//! | trace   | `trace.wgsl`        | `kernels/trace.rs`   | the per-step summary of a trace    |
//! | exchange | `exchange.wgsl`    | `kernels/exchange.rs` | a swap round of replica exchange  |
//! | weight gradients | `backprop.wgsl`, `weight_grad.wgsl` | `kernels/weight_grad.rs` | dE/dtheta summed over a batch |
//! | training | `train.wgsl`, `optimizer.wgsl` | `kernels/train.rs` | negatives, loss, Adam or SGD |
//!
//! The energy every kernel evaluates is the model's graph lowered to a program (`program`):
//! encoded as a table that the kernels of one chain per invocation interpret (`table`,
//! `shaders/ops_chain.wgsl`), and written out as generated WGSL for the tile kernel
//! (`codegen`, over the ops of `shaders/ops_tile.wgsl`); `compiled` holds a model's
//! programs, table, generated code and packed weights. The samplers (`step.wgsl` for one
//! chain per invocation, `tile.wgsl` for tiles) call `energy_pre`, `energy_forward` and
//! `energy_backward` and know nothing else of the energy.
//!
//! Each family module gives its sizes, specialisation constants and dispatch shapes; the
//! planner (`crate::plan`) composes them. All share one binding table (`bindings`) and the
//! uniform block and chain state (`params`). A kernel's module is its root file after what
//! it imports (`#import`, `crate::gpu::wgsl`; the `energy_*.wgsl` files are the generated
//! ones), behind the constants of src/constants.rs.

pub(crate) mod bindings;
pub(crate) mod codegen;
pub(crate) mod compiled;
pub(crate) mod constants;
pub(crate) mod eval;
pub(crate) mod exchange;
pub(crate) mod fused;
pub(crate) mod layered;
pub(crate) mod params;
pub(crate) mod program;
pub(crate) mod table;
pub(crate) mod tile;
pub(crate) mod trace;
pub(crate) mod train;
pub(crate) mod weight_grad;

use crate::error::{Error, Result};
use crate::gpu::bindings::Binding;
use crate::gpu::wgsl;

/// One compute kernel: an entry point of a root shader file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// Energy and dE/dy of a batch, one chain per invocation.
    Eval,
    /// The chain path: all K steps of refinement for one chain per invocation.
    Chain,
    /// The tile path: all K steps of refinement for a tile of chains per workgroup.
    Tile,
    /// The same, with subgroup operations for the sums over lanes.
    TileSubgroup,
    /// Layered path: one matrix product of the energy's program.
    LayeredProduct,
    /// Layered path: a run of the program's other instructions, one chain per invocation.
    LayeredPointwise,
    /// Layered path: the energy of each chain, its prior included.
    LayeredOutput,
    /// Layered path: the stop tests and the update of y (the proposal, for an accept rule).
    LayeredUpdate,
    /// Layered path, accept rules: the energy of y0 into the chain state.
    LayeredStart,
    /// Layered path, accept rules: keeps or refuses each proposal.
    LayeredSettle,
    /// The per-step summary of a trace (min, mean, max energy, mean gradient norm).
    TraceReduce,
    /// Replica exchange: one round of swaps between neighbouring replicas.
    Exchange,
    /// Weight gradients: energies and every layer's dE/dz, one chain per invocation.
    Backprop,
    /// Weight gradients: the weighted sum over chains, one parameter per invocation.
    WeightGrad,
    /// Training: each negative's start (its replay slot or a draw of the noise).
    DrawNegatives,
    /// Training: the refined negatives back into their replay slots.
    StoreNegatives,
    /// Training: the loss, its statistics and dLoss/dE per chain (one workgroup).
    LossWeights,
    /// Training: the gradient's and weights' norms, clipping and halting (one workgroup).
    GradNorm,
    /// Training: the optimiser's update of every parameter.
    Update,
}

impl Kernel {
    /// Every kernel the crate ships.
    pub const ALL: [Kernel; 19] = [
        Kernel::Eval,
        Kernel::Chain,
        Kernel::Tile,
        Kernel::TileSubgroup,
        Kernel::LayeredProduct,
        Kernel::LayeredPointwise,
        Kernel::LayeredOutput,
        Kernel::LayeredUpdate,
        Kernel::LayeredStart,
        Kernel::LayeredSettle,
        Kernel::TraceReduce,
        Kernel::Exchange,
        Kernel::Backprop,
        Kernel::WeightGrad,
        Kernel::DrawNegatives,
        Kernel::StoreNegatives,
        Kernel::LossWeights,
        Kernel::GradNorm,
        Kernel::Update,
    ];

    /// The entry point's name.
    pub fn entry_point(self) -> &'static str {
        match self {
            Kernel::Eval => "eval",
            Kernel::Chain => "chain",
            Kernel::Tile | Kernel::TileSubgroup => "tile",
            Kernel::LayeredProduct => "layered_product",
            Kernel::LayeredPointwise => "layered_pointwise",
            Kernel::LayeredOutput => "layered_output",
            Kernel::LayeredUpdate => "layered_update",
            Kernel::LayeredStart => "layered_start",
            Kernel::LayeredSettle => "layered_settle",
            Kernel::TraceReduce => "trace_reduce",
            Kernel::Exchange => "exchange",
            Kernel::Backprop => "backprop",
            Kernel::WeightGrad => "weight_grad",
            Kernel::DrawNegatives => "draw_negatives",
            Kernel::StoreNegatives => "store_negatives",
            Kernel::LossWeights => "loss_weights",
            Kernel::GradNorm => "grad_norm",
            Kernel::Update => "update",
        }
    }

    /// The shader file that holds the entry point.
    pub fn root_file(self) -> &'static str {
        match self {
            Kernel::Eval => "eval.wgsl",
            Kernel::Chain => "chain.wgsl",
            Kernel::Tile | Kernel::TileSubgroup => "tile.wgsl",
            Kernel::TraceReduce => "trace.wgsl",
            Kernel::Exchange => "exchange.wgsl",
            Kernel::Backprop => "backprop.wgsl",
            Kernel::WeightGrad => "weight_grad.wgsl",
            Kernel::DrawNegatives | Kernel::StoreNegatives | Kernel::LossWeights => "train.wgsl",
            Kernel::GradNorm | Kernel::Update => "optimizer.wgsl",
            Kernel::LayeredProduct
            | Kernel::LayeredPointwise
            | Kernel::LayeredOutput
            | Kernel::LayeredUpdate
            | Kernel::LayeredStart
            | Kernel::LayeredSettle => "layered.wgsl",
        }
    }

    /// Files replaced by others wherever imported: the subgroup tile kernel sums over
    /// lanes with subgroup operations.
    fn swaps(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Kernel::TileSubgroup => &[("lane_sum.wgsl", "lane_sum_subgroup.wgsl")],
            _ => &[],
        }
    }

    /// The binding tables of its pipeline layout, group by group: the optimiser's own; the
    /// chains', the energy's and the training table for the kernels of a training step; the
    /// chains' and the energy's for the rest. Its layout binds only the entries it uses.
    pub fn binding_tables(self) -> &'static [&'static [Binding]] {
        match self {
            Kernel::GradNorm | Kernel::Update => &[&train::OPTIMIZER_BINDINGS],
            Kernel::Backprop
            | Kernel::WeightGrad
            | Kernel::DrawNegatives
            | Kernel::StoreNegatives
            | Kernel::LossWeights => &[
                &bindings::BINDINGS,
                &bindings::ENERGY_BINDINGS,
                &train::TRAIN_BINDINGS,
            ],
            _ => &[&bindings::BINDINGS, &bindings::ENERGY_BINDINGS],
        }
    }

    /// Whether the module uses subgroup operations (the device needs `Features::SUBGROUP`).
    pub fn uses_subgroups(self) -> bool {
        self == Kernel::TileSubgroup
    }

    /// The complete WGSL module for a sample energy (the shader tests'), with the tile
    /// kernel's sizes at their defaults.
    pub fn source(self) -> Result<String> {
        let model = sample_model();
        let compiled = compiled::Compiled::new(&model)?;
        let sizes = tile::Sizes::for_program(&compiled, 16, &wgpu::Limits::default());
        self.source_for(&sizes, &compiled.files(self, sizes.chains))
    }

    /// The complete WGSL module: the constants of src/constants.rs, the tile kernel's
    /// array sizes (written into the source: naga 30 sizes override-sized workgroup arrays
    /// from the overrides' defaults, whatever the pipeline sets), then the root file after
    /// its imports, the generated `energy_*.wgsl` files among them.
    pub(crate) fn source_for(
        self,
        sizes: &tile::Sizes,
        generated: &[(&str, String)],
    ) -> Result<String> {
        let module =
            wgsl::assemble(self.root_file(), self.swaps(), generated).map_err(|message| {
                Error::Gpu {
                    stage: self.entry_point(),
                    message,
                }
            })?;
        let mut source = crate::kernels::constants::wgsl_prelude();
        if matches!(self, Kernel::Tile | Kernel::TileSubgroup) {
            source += &sizes.wgsl();
        }
        Ok(source + &module)
    }
}

/// The energy the shader tests assemble every kernel with: one that uses every op.
pub fn sample_model() -> crate::energy::Model {
    crate::energy::samples::all_ops()
}

/// The module of one shader file after its imports, behind the constants every kernel
/// sees, the tile kernel's default sizes and the sample energy's generated files: what the
/// tests validate each file as.
pub fn prelude_and(file: &str) -> std::result::Result<String, String> {
    let model = sample_model();
    let compiled = compiled::Compiled::new(&model).map_err(|e| e.to_string())?;
    let sizes = tile::Sizes::for_program(&compiled, 16, &wgpu::Limits::default());
    let generated = [
        ("energy_tile.wgsl", compiled.tile(sizes.chains).text),
        ("energy_chain.wgsl", compiled.chain.clone()),
        ("energy_train.wgsl", compiled.train.clone()),
        ("energy_layered.wgsl", compiled.layered_code.clone()),
    ];
    let module = wgsl::assemble(file, &[], &generated)?;
    Ok(crate::kernels::constants::wgsl_prelude() + &sizes.wgsl() + &module)
}

/// One dispatch of a call: the kernel, what its Params block changes, and its grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dispatch {
    /// The kernel.
    pub kernel: Kernel,
    /// Chains per workgroup of a tile kernel (0 for the others).
    pub chains: u32,
    /// First step it runs (keys the noise).
    pub step_offset: u32,
    /// Steps it runs (fused paths).
    pub steps: u32,
    /// Whether it writes the energy.
    pub write_energy: bool,
    /// The product or run of instructions it works on (layered path).
    pub layer: u32,
    /// Workgroups in x and y.
    pub groups: (u32, u32),
}

impl Dispatch {
    /// A dispatch of `kernel` over `groups` with every other field at rest.
    pub(crate) fn of(kernel: Kernel, groups: (u32, u32)) -> Dispatch {
        Dispatch {
            kernel,
            chains: 0,
            step_offset: 0,
            steps: 0,
            write_energy: false,
            layer: 0,
            groups,
        }
    }
}
