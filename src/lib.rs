//! `ebm`: energy-based model inference on the GPU.
//!
//! An energy E(x, y) is an MLP over concat(x, y) ([`Model`]). [`Engine`] places it on a GPU
//! [`Context`] and refines thousands of answers y at once by gradient descent or Langevin
//! dynamics ([`Engine::refine`]), every step in WGSL compute shaders with no return to the
//! host; [`Engine::eval`] gives energies and dE/dy. [`reference`] is the float64 CPU twin
//! the kernels are tested against.
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

#![warn(missing_docs)]

mod activation;
pub mod bench;
mod best_of;
mod config;
pub mod constants;
mod context;
mod engine;
mod error;
mod model;
pub mod npy;
mod pace;
#[doc(hidden)]
pub mod params;
pub mod peak;
pub mod plan;
pub mod profiles;
mod progress;
pub mod reference;
pub mod rng;
mod schedule;
pub mod shader;
mod tensors;
mod timer;
pub mod trace;

pub use activation::{Activation, Output};
pub use best_of::{pick_best, BestOf};
pub use config::{RefineConfig, Sampler, StopRule, DEFAULT_DISPATCH_MS};
pub use constants::ADAPT_GAIN;
pub use context::{adapters, Context};
pub use engine::{Engine, Evaluation, Refinement};
pub use error::{Error, Result};
pub use model::{Layer, Model, ModelSpec};
pub use plan::{KernelPath, PathChoice};
pub use progress::{OnProgress, Progress};
pub use schedule::{parse_stages, Schedule, Shape, Stage};
pub use tensors::write_f32 as write_safetensors;
pub use trace::TraceRow;
