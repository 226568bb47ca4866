//! The float64 CPU reference of every kernel, written loop for loop like the shaders so the
//! two can be read side by side. Tests hold the GPU to it; it is also a slow fallback.

use crate::config::RefineConfig;
use crate::model::Model;
use crate::rng::langevin_normals;

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

fn row(data: &[f32], dim: usize, chain: usize) -> Vec<f64> {
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

/// K steps of (Langevin) refinement for every chain; returns final y `[n, y_dim]` and the
/// final energies including the prior. Chain `c` draws the same noise as on the GPU.
pub fn refine(model: &Model, x: &[f32], y0: &[f32], config: &RefineConfig) -> (Vec<f64>, Vec<f64>) {
    refine_fixed(model, x, y0, None, config)
}

/// As [`refine`], with the coordinates where `fixed` (`[n, y_dim]`) is true held at y0.
pub fn refine_fixed(
    model: &Model,
    x: &[f32],
    y0: &[f32],
    fixed: Option<&[bool]>,
    config: &RefineConfig,
) -> (Vec<f64>, Vec<f64>) {
    let n = y0.len() / model.y_dim;
    let lambda = f64::from(config.prior_l2);
    let table = config.step_table().expect("a valid refinement config");
    let mut ys = Vec::with_capacity(n * model.y_dim);
    let mut energies = Vec::with_capacity(n);
    for c in 0..n {
        let xc = row(x, model.x_dim, c);
        let mut y = row(y0, model.y_dim, c);
        let held = |k: usize| fixed.is_some_and(|f| f[c * model.y_dim + k]);
        for step in 0..config.steps {
            let [eta, noise] = table[step as usize].map(f64::from);
            let (_, g) = energy_and_grad(model, &xc, &y);
            let norm = g
                .iter()
                .zip(&y)
                .enumerate()
                .filter(|(k, _)| !held(*k))
                .map(|(_, (gk, yk))| (gk + lambda * yk).powi(2))
                .sum::<f64>()
                .sqrt();
            let scale = match config.clip_grad.map(f64::from) {
                Some(c) if norm > c => c / norm,
                _ => 1.0,
            };
            for (k, yk) in y.iter_mut().enumerate() {
                if held(k) {
                    continue;
                }
                let mut next = *yk - eta * ((g[k] + lambda * *yk) * scale);
                if noise > 0.0 {
                    next += noise
                        * langevin_normals(config.seed, c as u32, step, (k / 4) as u32)[k % 4];
                }
                if let Some((lo, hi)) = config.clamp {
                    next = next.clamp(f64::from(lo), f64::from(hi));
                }
                *yk = next;
            }
            if let Some(g) = config.simplex {
                for (b, group) in y.chunks_mut(g as usize).enumerate() {
                    let first = b * g as usize;
                    if !(first..first + g as usize).any(held) {
                        project_simplex(group);
                    }
                }
            }
        }
        let (e, _) = energy_and_grad(model, &xc, &y);
        let prior: f64 = y.iter().map(|v| v * v).sum::<f64>() * 0.5 * lambda;
        energies.push(e + prior);
        ys.extend(y);
    }
    (ys, energies)
}

/// Projects v onto the probability simplex {v >= 0, sum v = 1} in place, by Michelot's
/// algorithm, round for round as the kernels do: tau from the sum of all, then from the
/// coordinates above tau, len(v) rounds (the set above tau stops changing by then).
pub fn project_simplex(v: &mut [f64]) {
    let n = v.len() as f64;
    let mut tau = (v.iter().sum::<f64>() - 1.0) / n;
    for _ in 0..v.len() {
        let (above, count) = v
            .iter()
            .filter(|&&x| x > tau)
            .fold((0.0, 0.0), |(s, c), &x| (s + x, c + 1.0));
        tau = (above - 1.0) / count;
    }
    v.iter_mut().for_each(|x| *x = (*x - tau).max(0.0));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Activation, ModelSpec, Output};

    /// The projection lands on the simplex, and is the closest point there: moving along
    /// the simplex in any feasible direction does not get closer to v.
    #[test]
    fn simplex_projection_is_the_nearest_point() {
        let mut rng = crate::rng::HostRng::new(3, 3);
        for n in [1, 2, 3, 9, 17] {
            for _ in 0..50 {
                let v: Vec<f64> = (0..n).map(|_| 2.0 * rng.symmetric()).collect();
                let mut p = v.clone();
                project_simplex(&mut p);
                assert!(p.iter().all(|&x| x >= 0.0));
                assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12, "{p:?}");
                let dist = |q: &[f64]| q.iter().zip(&v).map(|(a, b)| (a - b).powi(2)).sum::<f64>();
                for i in 0..n {
                    for j in 0..n {
                        let step = 1e-3f64.min(p[j]);
                        if i == j || step <= 0.0 {
                            continue;
                        }
                        let mut q = p.clone();
                        q[i] += step;
                        q[j] -= step;
                        assert!(dist(&q) >= dist(&p) - 1e-15, "not nearest: {v:?} -> {p:?}");
                    }
                }
            }
        }
    }

    /// The reference gradient against central finite differences of its own energy.
    #[test]
    fn gradient_matches_finite_differences() {
        for (i, act) in Activation::ALL.into_iter().enumerate() {
            for out in Output::ALL {
                let spec = ModelSpec {
                    x_dim: 3,
                    y_dim: 4,
                    hidden: vec![7, 5],
                    outputs: if out == Output::Square { 3 } else { 1 },
                    activation: act,
                    output: out,
                };
                let model = Model::random(&spec, i as u64).unwrap();
                let mut rng = crate::rng::HostRng::new(i as u64, 5);
                let x: Vec<f64> = (0..3).map(|_| rng.symmetric() * 1.5).collect();
                let y: Vec<f64> = (0..4).map(|_| rng.symmetric() * 1.5).collect();
                let (_, grad) = energy_and_grad(&model, &x, &y);
                let h = 1e-6;
                for k in 0..4 {
                    let (mut up, mut down) = (y.clone(), y.clone());
                    up[k] += h;
                    down[k] -= h;
                    let fd = (energy_and_grad(&model, &x, &up).0
                        - energy_and_grad(&model, &x, &down).0)
                        / (2.0 * h);
                    assert!(
                        (fd - grad[k]).abs() < 1e-6 * (1.0 + fd.abs()),
                        "{act}/{out} coordinate {k}: analytic {} vs finite difference {fd}",
                        grad[k]
                    );
                }
                assert!(
                    grad.iter().any(|g| g.abs() > 1e-3),
                    "{act}/{out}: gradient is ~0"
                );
            }
        }
    }
}
