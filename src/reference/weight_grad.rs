//! The float64 gradient of a weighted sum of energies with respect to the model's
//! parameters, sum over chains c of w_c dE(x_c, y_c)/dtheta: the twin of the GPU's weight
//! gradients (kernels/weight_grad.rs), and what training's objectives are built from
//! (contrastive divergence and its regulariser, noise-contrastive estimation: each a
//! choice of the per-chain weights w_c).

use super::graph::{backward, forward, row};
use crate::energy::Model;

/// The energy of every chain (`[n]`) and sum over chains c of `chain_weights[c]` dE_c/dtheta,
/// one vector per parameter of the model (in [`Model::params`] order and layout), for `x`
/// `[n, x_dim]` and `y` `[n, y_dim]`.
pub fn weight_grad(
    model: &Model,
    x: &[f32],
    y: &[f32],
    chain_weights: &[f32],
) -> (Vec<f64>, Vec<Vec<f64>>) {
    let n = y.len() / model.y_dim;
    let mut grads: Vec<Vec<f64>> = model
        .params
        .iter()
        .map(|p| vec![0.0; p.data.len()])
        .collect();
    let mut energies = Vec::with_capacity(n);
    for (c, &w) in chain_weights.iter().enumerate().take(n) {
        let tape = forward(model, &row(x, model.x_dim, c), &row(y, model.y_dim, c));
        energies.push(tape.energy);
        backward(model, &tape, Some((&mut grads, f64::from(w))));
    }
    (energies, grads)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::energy::{Activation, ModelSpec, Output};
    use crate::refine::rng::HostRng;

    /// sum_c w_c E_c in float64, the function weight_grad differentiates.
    fn weighted_energy(model: &Model, x: &[f32], y: &[f32], w: &[f32]) -> f64 {
        let (e, _) = super::super::eval(model, x, y);
        e.iter().zip(w).map(|(e, w)| e * f64::from(*w)).sum()
    }

    /// Every parameter of every MLP against central finite differences, for every
    /// activation and output, odd widths and x_dim = 0, summed over a weighted batch; the
    /// step is taken in float32 (the model's own precision), so the comparison allows for
    /// its rounding. (Graphs of every op: reference::graph's tests.)
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
                    for (p, g) in grads.iter().enumerate() {
                        for (i, &analytic) in g.iter().enumerate() {
                            let probe = |delta: f32| {
                                let mut m = model.clone();
                                let v = &mut m.params[p].data[i];
                                *v += delta;
                                let at = f64::from(*v);
                                (weighted_energy(&m, &x, &y, &w), at)
                            };
                            let h = 1e-3f32;
                            let ((up, a), (down, b)) = (probe(h), probe(-h));
                            let numeric = (up - down) / (a - b);
                            let tol = 1e-3 * (1.0 + analytic.abs());
                            assert!(
                                (numeric - analytic).abs() <= tol,
                                "{act:?} {out:?} x_dim {x_dim}: {} [{i}]: finite difference {numeric}, analytic {analytic}",
                                model.params[p].name
                            );
                        }
                    }
                }
            }
        }
    }
}
