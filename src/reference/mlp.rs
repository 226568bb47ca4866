//! The float64 MLP: energy and dE/dy of one chain, and of a batch, written loop for loop
//! like shaders/mlp.wgsl.

use crate::model::Model;

/// The energy of one (x, y) pair and dE/dy, in float64.
pub fn energy_and_grad(model: &Model, x: &[f64], y: &[f64]) -> (f64, Vec<f64>) {
    // Forward: keep each hidden layer's activation and its derivative.
    let mut input: Vec<f64> = x.iter().chain(y).copied().collect();
    let mut dact: Vec<Vec<f64>> = Vec::with_capacity(model.layers.len());
    let last = model.layers.len() - 1;
    for (l, layer) in model.layers.iter().enumerate() {
        let mut out = vec![0.0; layer.n_out];
        let mut d = vec![0.0; layer.n_out];
        for j in 0..layer.n_out {
            let row = &layer.weight[j * layer.n_in..(j + 1) * layer.n_in];
            let mut acc = f64::from(layer.bias[j]);
            for (w, v) in row.iter().zip(&input) {
                acc += f64::from(*w) * v;
            }
            if l == last {
                out[j] = acc;
            } else {
                (out[j], d[j]) = model.activation.eval(acc);
            }
        }
        dact.push(d);
        input = out;
    }
    let mut delta = vec![0.0; input.len()];
    let energy = model.output.eval(&input, &mut delta);

    // Backward to the layer-0 inputs.
    for l in (0..model.layers.len()).rev() {
        let layer = &model.layers[l];
        let mut back = vec![0.0; layer.n_in];
        for (i, b) in back.iter_mut().enumerate() {
            let mut g = 0.0;
            for (j, dj) in delta.iter().enumerate() {
                g += f64::from(layer.weight[j * layer.n_in + i]) * dj;
            }
            *b = if l > 0 { g * dact[l - 1][i] } else { g };
        }
        delta = back;
    }
    (energy, delta[model.x_dim..].to_vec())
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
