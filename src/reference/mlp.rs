//! The float64 MLP: the forward and backward pass of one chain (every layer's dE/dz), its
//! energy and dE/dy, and those of a batch, written loop for loop like shaders/mlp.wgsl.

use crate::model::Model;

/// The energy of one (x, y) pair and dE/dy, in float64.
pub fn energy_and_grad(model: &Model, x: &[f64], y: &[f64]) -> (f64, Vec<f64>) {
    let (energy, deltas, _) = backprop(model, x, y);
    // Back through layer 0 to its inputs; y's follow x's.
    let first = &model.layers[0];
    let grad = (model.x_dim..first.n_in)
        .map(|i| {
            (0..first.n_out)
                .map(|j| f64::from(first.weight[j * first.n_in + i]) * deltas[0][j])
                .sum()
        })
        .collect();
    (energy, grad)
}

/// The energy of one (x, y) pair and dE/dz of every layer's pre-activation z (the last
/// layer's: dE/df), with the layer inputs each layer read.
pub(crate) fn backprop(model: &Model, x: &[f64], y: &[f64]) -> (f64, Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let mut inputs: Vec<Vec<f64>> = Vec::with_capacity(model.layers.len());
    let mut dact: Vec<Vec<f64>> = Vec::with_capacity(model.layers.len());
    let mut input: Vec<f64> = x.iter().chain(y).copied().collect();
    let last = model.layers.len() - 1;
    for (l, layer) in model.layers.iter().enumerate() {
        let mut out = vec![0.0; layer.n_out];
        let mut d = vec![0.0; layer.n_out];
        for j in 0..layer.n_out {
            let w = &layer.weight[j * layer.n_in..(j + 1) * layer.n_in];
            let mut acc = f64::from(layer.bias[j]);
            for (w, v) in w.iter().zip(&input) {
                acc += f64::from(*w) * v;
            }
            if l == last {
                out[j] = acc;
            } else {
                (out[j], d[j]) = model.activation.eval(acc);
            }
        }
        inputs.push(std::mem::replace(&mut input, out));
        dact.push(d);
    }
    let mut delta = vec![0.0; input.len()];
    let energy = model.output.eval(&input, &mut delta);
    let mut deltas = vec![Vec::new(); model.layers.len()];
    for l in (0..model.layers.len()).rev() {
        if l > 0 {
            let layer = &model.layers[l];
            let back = (0..layer.n_in)
                .map(|i| {
                    let g: f64 = (0..layer.n_out)
                        .map(|j| f64::from(layer.weight[j * layer.n_in + i]) * delta[j])
                        .sum();
                    g * dact[l - 1][i]
                })
                .collect();
            deltas[l] = std::mem::replace(&mut delta, back);
        } else {
            deltas[0] = std::mem::take(&mut delta);
        }
    }
    (energy, deltas, inputs)
}

pub(crate) fn row(data: &[f32], dim: usize, chain: usize) -> Vec<f64> {
    data[chain * dim..(chain + 1) * dim]
        .iter()
        .map(|&v| f64::from(v))
        .collect()
}

/// Energies `[n]` and gradients `[n, y_dim]` of a batch.
pub fn eval(model: &Model, x: &[f32], y: &[f32]) -> (Vec<f64>, Vec<f64>) {
    let n = y.len() / model.y_dim;
    let mut energy = Vec::with_capacity(n);
    let mut grad = Vec::with_capacity(n * model.y_dim);
    for c in 0..n {
        let (e, g) = energy_and_grad(model, &row(x, model.x_dim, c), &row(y, model.y_dim, c));
        energy.push(e);
        grad.extend(g);
    }
    (energy, grad)
}
