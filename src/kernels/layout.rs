//! Where the kernels find things: the model's weights packed into one buffer with a layer
//! table of offsets, and the scratch units of one chain (activations, their derivatives,
//! the backward pass's deltas, W_x x + b, what an accept rule saves).

use super::params::{LayerDesc, Params};
use crate::error::{Error, Result};
use crate::model::Model;

/// Scratch layout of one chain, in units (floats).
pub(crate) struct ScratchLayout {
    /// Each layer's sizes and offsets (the layer table).
    pub layers: Vec<LayerDesc>,
    /// Units (floats) of one chain's scratch.
    pub units: u32,
    /// Units of one chain's scratch for weight gradients: the above, then dE/dz of every
    /// hidden layer.
    pub train_units: u32,
    /// Parameters (weights and biases): they come first in the packed weights, layer by
    /// layer, each weight `[n_out, n_in]` then its bias.
    pub params: u32,
    /// The two delta buffers of the backward pass.
    pub delta_a: u32,
    pub delta_b: u32,
    /// W_x x + b of layer 0.
    pub xpart: u32,
    /// y and dE/dy saved while a proposal is evaluated, then whether the proposal held a
    /// NaN or infinity (accept rules).
    pub save: u32,
}

impl ScratchLayout {
    /// The uniform block's fields this layout and `model` give, for chunks of `stride`
    /// chains (scratch holds unit u of chain c at u * stride + c).
    pub(crate) fn params(&self, model: &Model, stride: usize) -> Params {
        Params {
            x_dim: model.x_dim as u32,
            y_dim: model.y_dim as u32,
            n_layers: self.layers.len() as u32,
            stride: stride as u32,
            delta_a: self.delta_a,
            delta_b: self.delta_b,
            xpart: self.xpart,
            save: self.save,
            ..Default::default()
        }
    }
}

/// The packed weights of `model` (each layer's weight and bias, then transposed copies)
/// and its scratch layout.
pub(crate) fn scratch_layout(model: &Model) -> Result<(ScratchLayout, Vec<f32>)> {
    let mut weights = Vec::new();
    let mut layers = Vec::new();
    let mut cursor = 0usize;
    let last = model.layers.len() - 1;
    for (l, layer) in model.layers.iter().enumerate() {
        let weight = weights.len();
        weights.extend_from_slice(&layer.weight);
        let bias = weights.len();
        weights.extend_from_slice(&layer.bias);
        let act = cursor;
        cursor += layer.n_out;
        let dact = if l == last { 0 } else { cursor };
        if l != last {
            cursor += layer.n_out;
        }
        layers.push(vec![layer.n_in, layer.n_out, weight, bias, act, dact, 0]);
    }
    let layers_params = weights.len();
    // Transposed copies, [n_in, n_out] row-major: the forward passes of the tile and
    // layered paths read them along rows.
    for (l, layer) in model.layers.iter().enumerate() {
        layers[l][6] = weights.len();
        for i in 0..layer.n_in {
            weights.extend((0..layer.n_out).map(|j| layer.weight[j * layer.n_in + i]));
        }
    }
    let widest = model.layers.iter().map(|l| l.n_out).max().unwrap();
    let delta_a = cursor;
    let delta_b = cursor + widest;
    let xpart = delta_b + widest;
    let save = xpart + model.layers[0].n_out;
    let units = save + 2 * model.y_dim + 1;
    // dE/dz of every hidden layer, for weight gradients (backprop.wgsl), after what the
    // other kernels use; the last layer's dE/df stays at delta_a.
    let mut train_units = units;
    for (l, layer) in model.layers.iter().enumerate() {
        layers[l].push(if l == last { delta_a } else { train_units });
        if l != last {
            train_units += layer.n_out;
        }
    }
    let fits = |v: usize| u32::try_from(v).ok();
    let too_big = || Error::Model("the model is too large for 32-bit indexing".into());
    let layers = layers
        .into_iter()
        .map(|v| {
            Ok(LayerDesc {
                n_in: fits(v[0]).ok_or_else(too_big)?,
                n_out: fits(v[1]).ok_or_else(too_big)?,
                weight: fits(v[2]).ok_or_else(too_big)?,
                bias: fits(v[3]).ok_or_else(too_big)?,
                act: fits(v[4]).ok_or_else(too_big)?,
                dact: fits(v[5]).ok_or_else(too_big)?,
                weight_t: fits(v[6]).ok_or_else(too_big)?,
                delta: fits(v[7]).ok_or_else(too_big)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((
        ScratchLayout {
            layers,
            units: fits(units).ok_or_else(too_big)?,
            train_units: fits(train_units).ok_or_else(too_big)?,
            params: fits(layers_params).ok_or_else(too_big)?,
            delta_a: delta_a as u32,
            delta_b: delta_b as u32,
            xpart: xpart as u32,
            save: save as u32,
        },
        weights,
    ))
}
