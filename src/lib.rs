//! `ebm`: energy-based model inference on the GPU.
//!
//! An energy E(x, y) is a graph of ops over feature vectors ([`Model`]: linears, per-use
//! activations, residual sums and products, norms, concatenations and slices, reduced by
//! heads), built with [`GraphBuilder`], read from a file, or an MLP from a [`ModelSpec`].
//! [`Engine`] places it on a GPU [`Context`] and refines thousands of answers y at once by
//! gradient descent or Langevin dynamics ([`Engine::refine`]), every step in WGSL compute
//! shaders with no return to the host; [`Engine::eval`] gives energies and dE/dy, and
//! [`Trainer`] trains it on the same GPU. [`reference`](mod@reference) is the float64 CPU
//! twin the kernels are tested against; [`rng`] the counter-based noise both draw.
//!
//! The top level holds what most programs use. The rest lives by what it serves:
//! [`energy`] (the graph, its ops and file), [`refine`] (samplers' settings, schedules,
//! outputs, traces, the front ends' shared options), [`train`] (checkpoints, statistics,
//! the toy densities) and [`reference`](mod@reference).
//!
//! ```no_run
//! use ebm::{Activation, Context, Engine, Model, ModelSpec, Output, RefineConfig};
//! let ctx = Context::new()?;
//! let spec = ModelSpec { x_dim: 2, y_dim: 2, hidden: vec![64, 64], outputs: 1,
//!     activation: Activation::Silu, output: Output::Softplus };
//! let model = Model::random(&spec, 0)?;
//! let engine = Engine::new(&ctx, &model)?;
//! let (x, y0) = (vec![0.5f32; 2 * 1000], vec![0.0f32; 2 * 1000]);
//! let out = engine.refine(&x, &y0, &RefineConfig { steps: 100, ..Default::default() })?;
//! println!("first chain ends at {:?} with energy {}", &out.y[..2], out.energy[0]);
//! # Ok::<(), ebm::Error>(())
//! ```
//!
//! Inside: `engine` (the public [`Engine`]: construction, input checks, calls), `plan`
//! (which kernel path runs a call, and its dispatches), `kernels` (one host module per
//! kernel family of `shaders/`: sizes, constants, dispatch shapes), `gpu` (the executor:
//! shader assembly, bindings, pipelines, buffer pool, submission, read-back, timestamps).

#![warn(missing_docs)]

pub mod energy;
mod engine;
mod error;
mod gpu;
mod kernels;
mod plan;
pub mod reference;
pub mod refine;
pub mod train;

pub use refine::rng;

pub use energy::{Activation, GraphBuilder, Head, Layer, Model, ModelSpec, Output};
pub use engine::progress::{OnProgress, Progress, ProgressBar};
pub use engine::{BestOf, Engine};
pub use error::{Error, Resource, Result};
pub use gpu::context::{adapter_offers, adapters, adapters_for, AdapterChoice, Context};
pub use plan::path::{KernelPath, PathChoice};
pub use refine::{Evaluation, RefineConfig, Refinement, Sampler, Schedule, StopRule};
pub use train::{Objective, Optimizer, TrainConfig, TrainData, Trainer};

/// What the tests reach inside the crate for (the planner's sizes, the kernels' sources,
/// the adapter profiles, the shared constants); not part of the API, and free to change.
/// The engine's test settings are `#[doc(hidden)]` methods of [`Engine`] (engine/hooks.rs).
#[doc(hidden)]
pub mod testing {
    pub use crate::gpu::bindings::{Access, Binding};
    pub use crate::gpu::module::{check_workgroup_memory, workgroup_memory_bytes};
    pub use crate::gpu::wgsl::SHADER_FILES;
    pub use crate::kernels::bindings::BINDINGS;
    pub use crate::kernels::constants::*;
    pub use crate::kernels::tile::{Sizes as TileSizes, TILE_K};
    pub use crate::kernels::train::{OPTIMIZER_BINDINGS, TRAIN_BINDINGS};
    pub use crate::kernels::{prelude_and, Dispatch, Kernel};
    pub use crate::plan::{
        candidates, choose, eval_path, evaluation, fitting_paths, is_llvmpipe, steps_per_dispatch,
        RefinePlan,
    };

    /// The tile kernel's sizes (kernels/tile.rs).
    pub mod tile {
        pub use crate::kernels::tile::*;
    }

    /// The limits of adapters the planner is tested against (profiles.rs).
    pub mod profiles {
        pub use crate::gpu::profiles::*;
    }

    pub use crate::energy::samples;
    pub use crate::kernels::compiled::Compiled;

    /// Loop iterations of one step of the chain path (llvmpipe's budget).
    pub fn chain_step_loops(c: &Compiled) -> u64 {
        crate::kernels::fused::chain_loop_iterations(c)
    }

    /// The complete WGSL module of `kernel` for `model`, with tiles of `chains` chains
    /// within `limits`.
    pub fn source(
        kernel: Kernel,
        model: &crate::Model,
        chains: u32,
        limits: &wgpu::Limits,
    ) -> crate::Result<String> {
        let compiled = crate::kernels::compiled::Compiled::new(model)?;
        let sizes = TileSizes::for_program(&compiled, chains, limits);
        kernel.source_for(&sizes, &compiled.files(kernel, chains))
    }

    /// Parses and validates a kernel's module for `model` (tiles of `chains` chains within
    /// `limits`), then resolves its override constants (those of `constants` it declares)
    /// as a pipeline would.
    pub fn specialise(
        kernel: Kernel,
        model: &crate::Model,
        chains: u32,
        limits: &wgpu::Limits,
        constants: &[(&str, f64)],
    ) -> crate::Result<naga::Module> {
        let source = source(kernel, model, chains, limits)?;
        crate::gpu::module::specialise(
            kernel.entry_point(),
            &source,
            kernel.entry_point(),
            constants,
        )
        .map(|s| s.module)
    }
}
