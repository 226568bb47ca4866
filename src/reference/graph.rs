//! The float64 energy graph: the forward pass of one chain over every node, the backward
//! pass to dE/dy and, for training, to every parameter. Written op by op from the
//! definitions in `energy::ops`, independently of how the kernels lower and store a graph,
//! so that it is an oracle for them.

use crate::energy::{node_tensor, Model, Op, X, Y};

/// What one chain's forward pass keeps for its backward pass.
pub(crate) struct Tape {
    /// Every tensor's value: x, y, then each node's output.
    pub values: Vec<Vec<f64>>,
    /// Per node, what its backward pass needs beyond the values: act'(z) of an
    /// activation, the normalised input of a norm (then 1 / sqrt(var + eps) last).
    pub saved: Vec<Vec<f64>>,
    /// The energy.
    pub energy: f64,
}

fn param(model: &Model, p: usize) -> impl Iterator<Item = f64> + '_ {
    model.params[p].data.iter().map(|&v| f64::from(v))
}

/// The forward pass of one (x, y) pair at landscape index `t`.
pub(crate) fn forward_at(model: &Model, x: &[f64], y: &[f64], t: f64) -> Tape {
    let mut values = vec![x.to_vec(), y.to_vec(), vec![t]];
    let mut saved = Vec::with_capacity(model.nodes.len());
    for node in &model.nodes {
        let input = |i: usize| &values[node.inputs[i]];
        let mut keep = Vec::new();
        let out = match node.op {
            Op::Linear { weight, bias } => {
                let u: Vec<f64> = node
                    .inputs
                    .iter()
                    .flat_map(|&t| values[t].iter().copied())
                    .collect();
                let w: Vec<f64> = param(model, weight).collect();
                let n_out = model.params[weight].shape[0];
                let n_in = u.len();
                (0..n_out)
                    .map(|j| {
                        let b = bias.map_or(0.0, |b| f64::from(model.params[b].data[j]));
                        b + (0..n_in).map(|i| w[j * n_in + i] * u[i]).sum::<f64>()
                    })
                    .collect()
            }
            Op::Activation(a) => input(0)
                .iter()
                .map(|&z| {
                    let (v, d) = a.eval(z);
                    keep.push(d);
                    v
                })
                .collect(),
            Op::Affine { scale, shift } => input(0)
                .iter()
                .map(|&z| f64::from(scale) * z + f64::from(shift))
                .collect(),
            Op::Add => zip(input(0), input(1), |a, b| a + b),
            Op::Sub => zip(input(0), input(1), |a, b| a - b),
            Op::Mul => zip(input(0), input(1), |a, b| a * b),
            Op::LayerNorm { eps, weight, bias } => {
                let t = input(0);
                let n = t.len() as f64;
                let mean = t.iter().sum::<f64>() / n;
                let var = t.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
                let rstd = 1.0 / (var + f64::from(eps)).sqrt();
                keep = t.iter().map(|v| (v - mean) * rstd).collect();
                let out = affine_out(model, &keep, weight, bias);
                keep.push(rstd);
                out
            }
            Op::RmsNorm { eps, weight } => {
                let t = input(0);
                let n = t.len() as f64;
                let r = 1.0 / (t.iter().map(|v| v * v).sum::<f64>() / n + f64::from(eps)).sqrt();
                keep = t.iter().map(|v| v * r).collect();
                let out = affine_out(model, &keep, weight, None);
                keep.push(r);
                out
            }
            Op::Concat => node
                .inputs
                .iter()
                .flat_map(|&t| values[t].iter().copied())
                .collect(),
            Op::Slice { start, len } => input(0)[start..start + len].to_vec(),
        };
        values.push(out);
        saved.push(keep);
    }
    let mut energy = 0.0;
    for term in &model.energy {
        let t = &values[term.input];
        let mut grad = vec![0.0; t.len()];
        energy += f64::from(term.scale) * term.head.eval(t, &mut grad);
    }
    Tape {
        values,
        saved,
        energy,
    }
}

/// The forward pass of one (x, y) pair at t = 0.
pub(crate) fn forward(model: &Model, x: &[f64], y: &[f64]) -> Tape {
    forward_at(model, x, y, 0.0)
}

fn zip(a: &[f64], b: &[f64], f: impl Fn(f64, f64) -> f64) -> Vec<f64> {
    a.iter().zip(b).map(|(&a, &b)| f(a, b)).collect()
}

/// `xhat * weight + bias`, each optional.
fn affine_out(model: &Model, xhat: &[f64], weight: Option<usize>, bias: Option<usize>) -> Vec<f64> {
    xhat.iter()
        .enumerate()
        .map(|(i, &v)| {
            let g = weight.map_or(1.0, |p| f64::from(model.params[p].data[i]));
            let b = bias.map_or(0.0, |p| f64::from(model.params[p].data[i]));
            v * g + b
        })
        .collect()
}

/// The backward pass of one chain from its tape: dE/d(every tensor), x and y included,
/// and with `param_grads` (one vector per parameter) `weight` times dE/dtheta added to it.
pub(crate) fn backward(
    model: &Model,
    tape: &Tape,
    mut param_grads: Option<(&mut [Vec<f64>], f64)>,
) -> Vec<Vec<f64>> {
    let values = &tape.values;
    let mut deltas: Vec<Vec<f64>> = values.iter().map(|v| vec![0.0; v.len()]).collect();
    for term in &model.energy {
        let t = &values[term.input];
        let mut grad = vec![0.0; t.len()];
        term.head.eval(t, &mut grad);
        for (d, g) in deltas[term.input].iter_mut().zip(grad) {
            *d += f64::from(term.scale) * g;
        }
    }
    for (k, node) in model.nodes.iter().enumerate().rev() {
        let out = std::mem::take(&mut deltas[node_tensor(k)]);
        let saved = &tape.saved[k];
        let mut add = |t: usize, i: usize, v: f64| deltas[t][i] += v;
        let mut grad_of = |p: usize, i: usize, v: f64| {
            if let Some((grads, w)) = param_grads.as_mut() {
                grads[p][i] += *w * v;
            }
        };
        match node.op {
            Op::Linear { weight, bias } => {
                let n_out = out.len();
                let n_in: usize = node.inputs.iter().map(|&t| values[t].len()).sum();
                let w = &model.params[weight].data;
                let mut col = 0;
                for &t in &node.inputs {
                    for i in 0..values[t].len() {
                        let mut g = 0.0;
                        for (j, d) in out.iter().enumerate() {
                            g += f64::from(w[j * n_in + col + i]) * d;
                            grad_of(weight, j * n_in + col + i, d * values[t][i]);
                        }
                        add(t, i, g);
                    }
                    col += values[t].len();
                }
                if let Some(b) = bias {
                    for (j, d) in out.iter().enumerate().take(n_out) {
                        grad_of(b, j, *d);
                    }
                }
            }
            Op::Activation(_) => {
                for (i, d) in out.iter().enumerate() {
                    add(node.inputs[0], i, d * saved[i]);
                }
            }
            Op::Affine { scale, .. } => {
                for (i, d) in out.iter().enumerate() {
                    add(node.inputs[0], i, f64::from(scale) * d);
                }
            }
            Op::Add | Op::Sub => {
                let sign = if node.op == Op::Add { 1.0 } else { -1.0 };
                for (i, d) in out.iter().enumerate() {
                    add(node.inputs[0], i, *d);
                    add(node.inputs[1], i, sign * d);
                }
            }
            Op::Mul => {
                let (a, b) = (node.inputs[0], node.inputs[1]);
                for (i, d) in out.iter().enumerate() {
                    add(a, i, d * values[b][i]);
                    add(b, i, d * values[a][i]);
                }
            }
            Op::LayerNorm { weight, .. } | Op::RmsNorm { weight, .. } => {
                let centred = matches!(node.op, Op::LayerNorm { .. });
                let bias = match node.op {
                    Op::LayerNorm { bias, .. } => bias,
                    _ => None,
                };
                let n = out.len();
                let (xhat, rstd) = (&saved[..n], saved[n]);
                let dxhat: Vec<f64> = out
                    .iter()
                    .enumerate()
                    .map(|(i, d)| d * weight.map_or(1.0, |p| f64::from(model.params[p].data[i])))
                    .collect();
                let mean_d = dxhat.iter().sum::<f64>() / n as f64;
                let mean_dx = dxhat.iter().zip(xhat).map(|(d, x)| d * x).sum::<f64>() / n as f64;
                for i in 0..n {
                    let centre = if centred { mean_d } else { 0.0 };
                    add(
                        node.inputs[0],
                        i,
                        rstd * (dxhat[i] - centre - xhat[i] * mean_dx),
                    );
                    if let Some(p) = weight {
                        grad_of(p, i, out[i] * xhat[i]);
                    }
                    if let Some(p) = bias {
                        grad_of(p, i, out[i]);
                    }
                }
            }
            Op::Concat => {
                let mut at = 0;
                for &t in &node.inputs {
                    for i in 0..values[t].len() {
                        add(t, i, out[at + i]);
                    }
                    at += values[t].len();
                }
            }
            Op::Slice { start, .. } => {
                for (i, d) in out.iter().enumerate() {
                    add(node.inputs[0], start + i, *d);
                }
            }
        }
    }
    deltas
}

/// The energy of one (x, y) pair and dE/dy, in float64 (at t = 0 for an energy that
/// reads the landscape index).
pub fn energy_and_grad(model: &Model, x: &[f64], y: &[f64]) -> (f64, Vec<f64>) {
    energy_and_grad_at(model, x, y, 0.0)
}

/// The energy of one (x, y) pair at landscape index `t` and dE/dy, in float64.
pub fn energy_and_grad_at(model: &Model, x: &[f64], y: &[f64], t: f64) -> (f64, Vec<f64>) {
    let tape = forward_at(model, x, y, t);
    let mut deltas = backward(model, &tape, None);
    (tape.energy, std::mem::take(&mut deltas[Y]))
}

/// The energy of one (x, y) pair, dE/dx and dE/dy, in float64.
pub fn energy_and_grads(model: &Model, x: &[f64], y: &[f64]) -> (f64, Vec<f64>, Vec<f64>) {
    let tape = forward(model, x, y);
    let mut deltas = backward(model, &tape, None);
    let dy = std::mem::take(&mut deltas[Y]);
    (tape.energy, std::mem::take(&mut deltas[X]), dy)
}

pub(crate) fn row(data: &[f32], dim: usize, chain: usize) -> Vec<f64> {
    data[chain * dim..(chain + 1) * dim]
        .iter()
        .map(|&v| f64::from(v))
        .collect()
}

/// Energies `[n]` and gradients `[n, y_dim]` of a batch (at t = 0).
pub fn eval(model: &Model, x: &[f32], y: &[f32]) -> (Vec<f64>, Vec<f64>) {
    eval_at(model, x, y, 0.0)
}

/// Energies `[n]` and gradients `[n, y_dim]` of a batch at landscape index `t`.
pub fn eval_at(model: &Model, x: &[f32], y: &[f32], t: f32) -> (Vec<f64>, Vec<f64>) {
    let n = y.len() / model.y_dim;
    let mut energy = Vec::with_capacity(n);
    let mut grad = Vec::with_capacity(n * model.y_dim);
    for c in 0..n {
        let (x, y) = (row(x, model.x_dim, c), row(y, model.y_dim, c));
        let (e, g) = energy_and_grad_at(model, &x, &y, f64::from(t));
        energy.push(e);
        grad.extend(g);
    }
    (energy, grad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::energy::Activation;
    use crate::refine::rng::HostRng;

    fn sample_graphs() -> Vec<(&'static str, Model)> {
        crate::energy::samples::every_kind()
    }

    /// A landscape index other than 0, so that the graphs that read t are checked there.
    const T_AT: f64 = 0.7;

    /// dE/dy and dE/dx against central finite differences, on every sample graph.
    #[test]
    fn input_gradients_match_finite_differences() {
        let mut rng = HostRng::new(5, 0);
        for (name, model) in sample_graphs() {
            let x: Vec<f64> = (0..model.x_dim).map(|_| rng.symmetric()).collect();
            let y: Vec<f64> = (0..model.y_dim).map(|_| rng.symmetric()).collect();
            let mut deltas = backward(&model, &forward_at(&model, &x, &y, T_AT), None);
            let (gx, gy) = (
                std::mem::take(&mut deltas[X]),
                std::mem::take(&mut deltas[Y]),
            );
            let e = |x: &[f64], y: &[f64]| forward_at(&model, x, y, T_AT).energy;
            let h = 1e-6;
            for (which, base, grad) in [("y", &y, &gy), ("x", &x, &gx)] {
                for i in 0..base.len() {
                    let (mut up, mut down) = (base.clone(), base.clone());
                    up[i] += h;
                    down[i] -= h;
                    let fd = if which == "y" {
                        (e(&x, &up) - e(&x, &down)) / (2.0 * h)
                    } else {
                        (e(&up, &y) - e(&down, &y)) / (2.0 * h)
                    };
                    assert!(
                        (fd - grad[i]).abs() < 1e-6 * (1.0 + fd.abs()),
                        "{name}: dE/d{which}[{i}] = {} against {fd}",
                        grad[i]
                    );
                }
            }
        }
    }

    /// dE/dtheta against central finite differences in every parameter of every sample
    /// graph (float64 copies of the parameters are perturbed).
    #[test]
    fn parameter_gradients_match_finite_differences() {
        let mut rng = HostRng::new(6, 0);
        for (name, model) in sample_graphs() {
            let x: Vec<f64> = (0..model.x_dim).map(|_| rng.symmetric()).collect();
            let y: Vec<f64> = (0..model.y_dim).map(|_| rng.symmetric()).collect();
            let tape = forward_at(&model, &x, &y, T_AT);
            let mut grads: Vec<Vec<f64>> = model
                .params
                .iter()
                .map(|p| vec![0.0; p.data.len()])
                .collect();
            backward(&model, &tape, Some((&mut grads, 1.0)));
            for (p, param_grads) in grads.iter().enumerate() {
                for (i, &grad) in param_grads.iter().enumerate() {
                    // Small against the curvature; the difference quotient divides by the
                    // step the float32 parameters actually took.
                    let h = 1.0 / 65536.0;
                    let mut up = model.clone();
                    up.params[p].data[i] += h;
                    let mut down = model.clone();
                    down.params[p].data[i] -= h;
                    let fd = (forward_at(&up, &x, &y, T_AT).energy
                        - forward_at(&down, &x, &y, T_AT).energy)
                        / (f64::from(up.params[p].data[i]) - f64::from(down.params[p].data[i]));
                    assert!(
                        (fd - grad).abs() < 2e-5 * (1.0 + fd.abs()),
                        "{name}: dE/d{}[{i}] = {grad} against {fd}",
                        model.params[p].name,
                    );
                }
            }
        }
    }

    /// An MLP built as a graph gives what the MLP's own definition gives.
    #[test]
    fn an_mlp_graph_is_the_mlp() {
        let spec = crate::ModelSpec {
            x_dim: 3,
            y_dim: 2,
            hidden: vec![5, 4],
            outputs: 3,
            activation: Activation::Tanh,
            output: crate::Output::Square,
        };
        let model = Model::random(&spec, 9).unwrap();
        let mlp = model.as_mlp().unwrap();
        let (x, y) = ([0.3, -0.7, 0.1], [0.5, -0.2]);
        let mut input: Vec<f64> = x.iter().chain(&y).copied().collect();
        for (l, layer) in mlp.layers.iter().enumerate() {
            input = (0..layer.n_out)
                .map(|j| {
                    let z = f64::from(layer.bias[j])
                        + (0..layer.n_in)
                            .map(|i| f64::from(layer.weight[j * layer.n_in + i]) * input[i])
                            .sum::<f64>();
                    if l + 1 < mlp.layers.len() {
                        mlp.activation.eval(z).0
                    } else {
                        z
                    }
                })
                .collect();
        }
        let want: f64 = input.iter().map(|v| v * v).sum();
        let got = forward(&model, &x, &y).energy;
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }
}
