//! Sample energy graphs of the kinds people train, with random parameters: what the tests
//! hold every path to the reference with, and what the shader tests assemble the kernels
//! with. (Reached through `ebm::testing::samples`.)

use super::activation::Activation;
use super::builder::GraphBuilder;
use super::model::Model;
use super::ops::Head;

/// A pre-norm residual net: h = W [x, y]; h += W2 act(LayerNorm(h)) twice; E = w . h plus a
/// small prior 0.1 |y|^2 as a second term.
pub fn pre_norm_residual(x_dim: usize, y_dim: usize, width: usize, seed: u64) -> Model {
    let mut g = GraphBuilder::new(x_dim, y_dim, seed);
    let inputs = if x_dim == 0 {
        vec![g.y()]
    } else {
        vec![g.x(), g.y()]
    };
    let mut h = g.linear(&inputs, width, true);
    for _ in 0..2 {
        let n = g.layer_norm(h, 1e-5, true);
        let a = g.activation(n, Activation::Gelu);
        let r = g.linear(&[a], width, true);
        h = g.add(h, r);
    }
    let o = g.linear(&[h], 1, true);
    g.energy(Head::Sum, o, 1.0);
    g.energy(Head::SumSquares, g.y(), 0.1);
    g.build().expect("a valid graph")
}

/// A FiLM net: a y path whose hidden units are modulated by a scale and shift computed from
/// x alone, h * (1 + gain) + shift, then RMSNorm; y fed again into the last layer.
pub fn film(x_dim: usize, y_dim: usize, width: usize, seed: u64) -> Model {
    let mut g = GraphBuilder::new(x_dim, y_dim, seed);
    let emb = g.linear(&[g.x()], 2 * width, true);
    let emb = g.activation(emb, Activation::Silu);
    let gb = g.linear(&[emb], 2 * width, true);
    let gain = g.slice(gb, 0, width);
    let shift = g.slice(gb, width, width);
    let h = g.linear(&[g.y()], width, false);
    let one_plus = g.affine(gain, 1.0, 1.0);
    let m = g.mul(h, one_plus);
    let f = g.add(m, shift);
    let f = g.rms_norm(f, 1e-6, true);
    let f = g.activation(f, Activation::Tanh);
    let o = g.linear(&[f, g.y()], 2, true);
    g.energy(Head::MeanSquares, o, 1.0);
    g.build().expect("a valid graph")
}

/// IRED's energy (Du et al. 2024, yilundu/ired_code_release models.py class EBM) scaled
/// down, with an MLP embedding of the landscape index t: FiLM of two hidden layers of
/// concat(x, y) by a gain and shift from the embedding, h * (1 + gain) + shift, SiLU
/// ("swish") throughout, E = |W4 h|^2; t fed again into the last layer.
pub fn film_by_t(x_dim: usize, y_dim: usize, width: usize, seed: u64) -> Model {
    let mut g = GraphBuilder::new(x_dim, y_dim, seed);
    let emb = g.linear(&[g.t()], width, true);
    let emb = g.activation(emb, Activation::Gelu);
    let emb = g.linear(&[emb], width, true);
    let inputs = if x_dim == 0 {
        vec![g.y()]
    } else {
        vec![g.x(), g.y()]
    };
    let h = g.linear(&inputs, width, true);
    let mut h = g.activation(h, Activation::Silu);
    for _ in 0..2 {
        let gb = g.linear(&[emb], 2 * width, true);
        let gain = g.slice(gb, 0, width);
        let shift = g.slice(gb, width, width);
        let one_plus = g.affine(gain, 1.0, 1.0);
        let z = g.linear(&[h], width, true);
        let z = g.mul(z, one_plus);
        let z = g.add(z, shift);
        h = g.activation(z, Activation::Silu);
    }
    let o = g.linear(&[h, g.t()], y_dim, true);
    g.energy(Head::SumSquares, o, 1.0);
    g.build().expect("a valid graph")
}

/// A gated unit (SwiGLU): silu(u) * v from the two halves of one linear, a residual back
/// to y, LayerNorm without affine parameters, a softplus output.
pub fn gated(x_dim: usize, y_dim: usize, width: usize, seed: u64) -> Model {
    let mut g = GraphBuilder::new(x_dim, y_dim, seed);
    let inputs = if x_dim == 0 {
        vec![g.y()]
    } else {
        vec![g.y(), g.x()]
    };
    let uv = g.linear(&inputs, 2 * width, true);
    let u = g.slice(uv, 0, width);
    let v = g.slice(uv, width, width);
    let su = g.activation(u, Activation::Silu);
    let gated = g.mul(su, v);
    let d = g.sub(gated, u);
    let c = g.concat(&[d, g.y()]);
    let n = g.layer_norm(c, 1e-5, false);
    let o = g.linear(&[n], 1, false);
    let o = g.activation(o, Activation::Softplus);
    g.energy(Head::Mean, o, 2.0);
    g.build().expect("a valid graph")
}

/// A JEM head: E = -logsumexp(logits) of a classifier over [y, x].
pub fn jem(x_dim: usize, y_dim: usize, width: usize, classes: usize, seed: u64) -> Model {
    let mut g = GraphBuilder::new(x_dim, y_dim, seed);
    let h = g.linear(&[g.y(), g.x()], width, true);
    let h = g.activation(h, Activation::LeakyRelu);
    let h = g.affine(h, 0.5, -0.25);
    let l = g.linear(&[h], classes, true);
    g.energy(Head::LogSumExp, l, -1.0);
    g.build().expect("a valid graph")
}

/// Every kind of op and head in one small graph (the shader tests' energy).
pub fn all_ops() -> Model {
    let mut g = GraphBuilder::new(3, 4, 11);
    let emb = g.linear(&[g.x()], 6, true);
    let gain = g.slice(emb, 0, 3);
    let h = g.linear(&[g.x(), g.y()], 3, true);
    let n = g.layer_norm(h, 1e-5, true);
    let a = g.activation(n, Activation::Silu);
    let m = g.mul(a, gain);
    let s = g.sub(m, h);
    let r = g.rms_norm(s, 1e-6, true);
    let c = g.concat(&[r, g.y()]);
    let q = g.affine(c, 0.5, 0.1);
    let t = g.add(q, c);
    let l = g.linear(&[t], 5, false);
    g.energy(Head::LogSumExp, l, -1.0);
    g.energy(Head::MeanSquares, t, 0.5);
    g.energy(Head::Mean, r, 0.25);
    g.build().expect("a valid graph")
}

/// The graphs the tests hold every path to the reference with, by name.
pub fn every_kind() -> Vec<(&'static str, Model)> {
    vec![
        ("pre-norm residual", pre_norm_residual(3, 4, 6, 1)),
        ("FiLM", film(2, 3, 5, 2)),
        ("gated", gated(0, 3, 4, 3)),
        ("JEM", jem(4, 2, 7, 5, 4)),
        ("unconditional residual", pre_norm_residual(0, 5, 8, 5)),
        ("every op", all_ops()),
        ("FiLM by t", film_by_t(3, 2, 6, 6)),
    ]
}
