//! The float64 twin of a training step (shaders/train.wgsl, the sampler, backprop.wgsl,
//! weight_grad.wgsl, optimizer.wgsl), written in the kernels' order: the negatives' start
//! from the same keyed draws, the reference sampler, the loss and dLoss/dE per chain, the
//! weight gradient, its global norm and clipping, and Adam or SGD with decoupled weight
//! decay. Parameters and moments are kept in float64; the model the next step runs holds
//! them rounded to float32, as the GPU's does.

use super::graph::eval;
use super::{refine_full, weight_grad};
use crate::energy::Model;
use crate::refine::config::RefineConfig;
use crate::refine::rng::{key, normals4, philox4x32_10, uniform};
use crate::train::draws;
use crate::train::{bias_corrections, Objective, Optimizer, TrainConfig, TrainData};

/// The state a reference run carries from step to step.
#[derive(Clone, Debug)]
pub struct TrainState {
    /// The weights (float32, as the sampler and the next step read them).
    pub model: Model,
    /// The parameters, in the model's order (`Model::flat_params`), in float64.
    pub params: Vec<f64>,
    /// Adam's first then second moments, per parameter.
    pub moments: Vec<f64>,
    /// The replay buffer, `[slots, y_dim]`.
    pub replay: Vec<f32>,
    /// The noise distribution: per coordinate of y the mean, then the standard deviation.
    pub noise: Vec<f32>,
}

impl TrainState {
    /// The state a run of `config` on `data` starts from with `model`.
    pub fn new(model: &Model, data: &TrainData, config: &TrainConfig) -> TrainState {
        let noise = draws::noise_of(&data.y, model.y_dim);
        let params: Vec<f64> = model.flat_params().into_iter().map(f64::from).collect();
        TrainState {
            model: model.clone(),
            moments: vec![0.0; 2 * params.len()],
            params,
            replay: draws::first_replay(config.seed, config.replay_slots(), &noise),
            noise,
        }
    }
}

/// One training step `step` of `config` on `data`; returns the loss.
pub fn train_step(
    state: &mut TrainState,
    data: &TrainData,
    config: &TrainConfig,
    step: u64,
) -> f64 {
    let model = state.model.clone();
    let (x_dim, y_dim) = (model.x_dim, model.y_dim);
    let t = step as u32;
    let b = config.batch;
    let rows = draws::batch_rows(config.seed, t, data.y.len() / y_dim, b);
    let mut x = Vec::new();
    let mut y_pos = Vec::new();
    for &r in &rows {
        x.extend_from_slice(&data.x[r * x_dim..(r + 1) * x_dim]);
        y_pos.extend_from_slice(&data.y[r * y_dim..(r + 1) * y_dim]);
    }
    let slots = config.replay_slots();
    let offset = draws::replay_offset(config.seed, t, slots) as usize;
    let mut y_neg = Vec::with_capacity(b * y_dim);
    for c in 0..b {
        if starts_from_noise(config, t, c as u32) {
            for k in 0..y_dim {
                let z = normals4(philox4x32_10(
                    [(k / 4) as u32, t, c as u32, 2],
                    key(config.seed),
                ))[k % 4];
                let (mean, sd) = (state.noise[k], state.noise[y_dim + k]);
                y_neg.push((f64::from(mean) + f64::from(sd) * z) as f32);
            }
        } else {
            let slot = (offset + c) % slots;
            y_neg.extend_from_slice(&state.replay[slot * y_dim..(slot + 1) * y_dim]);
        }
    }
    if config.objective == Objective::ContrastiveDivergence {
        let sampler = RefineConfig {
            seed: draws::sampler_seed(config.seed, t),
            ..config.negatives.clone()
        };
        let run = refine_full(&model, &x, &y_neg, None, &sampler);
        y_neg = run.y.iter().map(|&v| v as f32).collect();
        for c in 0..b.min(slots) {
            let slot = (offset + c) % slots;
            state.replay[slot * y_dim..(slot + 1) * y_dim]
                .copy_from_slice(&y_neg[c * y_dim..(c + 1) * y_dim]);
        }
    }
    // Negatives first, then positives, as on the GPU.
    let xs: Vec<f32> = x.iter().chain(&x).copied().collect();
    let ys: Vec<f32> = y_neg.iter().chain(&y_pos).copied().collect();
    let (energies, _) = eval(&model, &xs, &ys);
    let inv_b = 1.0 / b as f64;
    let mut weights = Vec::with_capacity(2 * b);
    let mut loss = 0.0;
    for (c, &e) in energies.iter().enumerate() {
        let positive = c >= b;
        let (w, term) = match config.objective {
            Objective::NoiseContrastive => {
                let s = -e - log_noise(&state.noise, &ys[c * y_dim..(c + 1) * y_dim]);
                if positive {
                    (sigmoid(-s) * inv_b, softplus(-s))
                } else {
                    (-sigmoid(s) * inv_b, softplus(s))
                }
            }
            Objective::ContrastiveDivergence => {
                let sign = if positive { 1.0 } else { -1.0 };
                let alpha = f64::from(config.alpha);
                ((sign + 2.0 * alpha * e) * inv_b, sign * e + alpha * e * e)
            }
        };
        weights.push(w as f32);
        loss += term * inv_b;
    }
    let (_, grads) = weight_grad(&model, &xs, &ys, &weights);
    let g: Vec<f64> = grads.concat();
    let norm = g.iter().map(|v| v * v).sum::<f64>().sqrt();
    let scale = match config.clip_grad_norm {
        Some(c) => (f64::from(c) / (norm + 1e-6)).min(1.0),
        None => 1.0,
    };
    let lr = f64::from(config.learning_rate);
    let decay = f64::from(config.weight_decay);
    let n = state.params.len();
    for p in 0..n {
        let g = g[p] * scale;
        let mut w = state.params[p];
        w -= lr * decay * w;
        match config.optimizer {
            Optimizer::Adam { beta1, beta2, eps } => {
                let (b1, b2) = (f64::from(beta1), f64::from(beta2));
                let (c1, c2) = bias_corrections(beta1, beta2, step);
                let m = b1 * state.moments[p] + (1.0 - b1) * g;
                let v = b2 * state.moments[n + p] + (1.0 - b2) * g * g;
                state.moments[p] = m;
                state.moments[n + p] = v;
                w -= lr * (m / f64::from(c1)) / ((v / f64::from(c2)).sqrt() + f64::from(eps));
            }
            Optimizer::Sgd => w -= lr * g,
        }
        state.params[p] = w;
    }
    let rounded: Vec<f32> = state.params.iter().map(|&v| v as f32).collect();
    state.model = model.with_flat_params(&rounded);
    loss
}

/// Whether negative `c` of step `t` starts from noise (train.wgsl's `starts_from_noise`).
fn starts_from_noise(config: &TrainConfig, t: u32, c: u32) -> bool {
    if config.replay_slots() == 0 {
        return true;
    }
    let u = uniform(philox4x32_10([0, t, c, 3], key(config.seed))[0]);
    u <= f64::from(config.reinit)
}

/// log q(y) under the noise distribution.
fn log_noise(noise: &[f32], y: &[f32]) -> f64 {
    let d = y.len();
    (0..d)
        .map(|k| {
            let sd = f64::from(noise[d + k]);
            let z = (f64::from(y[k]) - f64::from(noise[k])) / sd;
            -0.5 * z * z - sd.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln()
        })
        .sum()
}

fn softplus(v: f64) -> f64 {
    v.max(0.0) + (-v.abs()).exp().ln_1p()
}

fn sigmoid(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}
