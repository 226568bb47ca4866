//! The float64 gradient of a weighted sum of energies with respect to the model's
//! parameters, sum over chains c of w_c dE(x_c, y_c)/dtheta: the twin of
//! shaders/backprop.wgsl and shaders/weight_grad.wgsl, and what training's objectives
//! are built from (contrastive divergence and its regulariser, noise-contrastive
//! estimation: each a choice of the per-chain weights w_c).

use super::mlp::{backprop, row};
use crate::model::{Layer, Model};

/// One layer's share of a gradient, in the model's layout.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerGrad {
    /// `[n_out, n_in]`, row-major.
    pub weight: Vec<f64>,
    /// `[n_out]`.
    pub bias: Vec<f64>,
}

/// The energy of every chain (`[n]`) and sum over chains c of `chain_weights[c]` dE_c/dtheta,
/// per layer, for `x` `[n, x_dim]` and `y` `[n, y_dim]`.
pub fn weight_grad(
    model: &Model,
    x: &[f32],
    y: &[f32],
    chain_weights: &[f32],
) -> (Vec<f64>, Vec<LayerGrad>) {
    let n = y.len() / model.y_dim;
    let mut grads: Vec<LayerGrad> = model
        .layers
        .iter()
        .map(|l: &Layer| LayerGrad {
            weight: vec![0.0; l.n_in * l.n_out],
            bias: vec![0.0; l.n_out],
        })
        .collect();
    let mut energies = Vec::with_capacity(n);
    for (c, &w) in chain_weights.iter().enumerate().take(n) {
        let (energy, deltas, inputs) =
            backprop(model, &row(x, model.x_dim, c), &row(y, model.y_dim, c));
        energies.push(energy);
        let w = f64::from(w);
        for (l, layer) in model.layers.iter().enumerate() {
            let g = &mut grads[l];
            for (j, delta) in deltas[l].iter().enumerate() {
                let d = w * delta;
                g.bias[j] += d;
                let row = &mut g.weight[j * layer.n_in..(j + 1) * layer.n_in];
                for (gw, input) in row.iter_mut().zip(&inputs[l]) {
                    *gw += d * input;
                }
            }
        }
    }
    (energies, grads)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::HostRng;
    use crate::{Activation, ModelSpec, Output};

    /// sum_c w_c E_c in float64, the function weight_grad differentiates.
    fn weighted_energy(model: &Model, x: &[f32], y: &[f32], w: &[f32]) -> f64 {
        let (e, _) = super::super::eval(model, x, y);
        e.iter().zip(w).map(|(e, w)| e * f64::from(*w)).sum()
    }

    /// Every parameter of every layer against central finite differences, for every
    /// activation and output, odd widths and x_dim = 0; the step is taken in float32 (the
    /// model's own precision), so the comparison allows for its rounding.
    #[test]
    fn weight_gradients_match_finite_differences() {
        let mut rng = HostRng::new(11, 3);
        for act in Activation::ALL {
            for out in Output::ALL {
                for (x_dim, y_dim, hidden) in [(3usize, 2usize, vec![5usize, 3]), (0, 3, vec![7])] {
                    let spec = ModelSpec {
                        x_dim,
                        y_dim,
                        hidden,
                        outputs: if out == Output::Square { 3 } else { 1 },
                        activation: act,
                        output: out,
                    };
                    let model = Model::random(&spec, 5).unwrap();
                    let n = 4;
                    let mut draw = |len: usize| -> Vec<f32> {
                        (0..len).map(|_| rng.symmetric() as f32).collect()
                    };
                    let (x, y, w) = (draw(n * x_dim), draw(n * y_dim), draw(n));
                    let (_, grads) = weight_grad(&model, &x, &y, &w);
                    for (l, g) in grads.iter().enumerate() {
                        let count = g.weight.len() + g.bias.len();
                        for p in 0..count {
                            let probe = |delta: f32| {
                                let mut m = model.clone();
                                let layer = &mut m.layers[l];
                                let n_w = layer.weight.len();
                                let v = if p < n_w {
                                    &mut layer.weight[p]
                                } else {
                                    &mut layer.bias[p - n_w]
                                };
                                *v += delta;
                                let at = f64::from(*v);
                                (weighted_energy(&m, &x, &y, &w), at)
                            };
                            let h = 1e-3f32;
                            let ((up, a), (down, b)) = (probe(h), probe(-h));
                            let numeric = (up - down) / (a - b);
                            let analytic = if p < g.weight.len() {
                                g.weight[p]
                            } else {
                                g.bias[p - g.weight.len()]
                            };
                            let tol = 1e-3 * (1.0 + analytic.abs());
                            assert!(
                                (numeric - analytic).abs() <= tol,
                                "{act:?} {out:?} x_dim {x_dim}: layer {l} parameter {p}: finite difference {numeric}, analytic {analytic}"
                            );
                        }
                    }
                }
            }
        }
    }
}
