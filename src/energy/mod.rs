//! The energy: a graph of ops from the observation x and the answer y to a scalar E(x, y)
//! ([`Model`]), its op table (`ops`: [`Op`], [`Head`]), the activations, a builder ([`GraphBuilder`]), and
//! the model file ([`file`]). What the kernels run of it is `crate::kernels::program`.

mod activation;
mod builder;
pub(crate) mod file;
mod model;
pub(crate) mod ops;
pub mod samples;
pub(crate) mod tensors;

pub use activation::{Activation, Output};
pub use builder::GraphBuilder;
pub use model::{node_tensor, Layer, Mlp, Model, ModelSpec, Node, Param, Term, INPUTS, T, X, Y};
pub use ops::{Head, Op, OP_NAMES, TORCH_NAMES};
pub use tensors::{
    write_f32 as write_safetensors, write_serialized as write_serialized_safetensors,
};
