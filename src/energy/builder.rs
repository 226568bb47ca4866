//! A small builder of energy graphs with random parameters: what the tests, benchmarks and
//! Rust programs use to write a graph by hand, as a PyTorch `forward(x, y)` would.
//!
//! ```
//! use ebm::{Activation, GraphBuilder, Head};
//! // E = -logsumexp(W2 silu(LayerNorm(W1 concat(x, y))))  (a JEM-style classifier energy)
//! let mut g = GraphBuilder::new(4, 3, 0);
//! let h = g.linear(&[g.x(), g.y()], 16, true);
//! let h = g.layer_norm(h, 1e-5, true);
//! let h = g.activation(h, Activation::Silu);
//! let logits = g.linear(&[h], 5, true);
//! g.energy(Head::LogSumExp, logits, -1.0);
//! let model = g.build()?;
//! assert_eq!(model.nodes.len(), 4);
//! # Ok::<(), ebm::Error>(())
//! ```

use super::activation::Activation;
use super::model::{node_tensor, Model, Node, Param, Term, T, X, Y};
use super::ops::{Head, Op};
use crate::error::Result;
use crate::refine::rng::HostRng;

/// Builds a [`Model`] node by node; each method returns the tensor it makes.
pub struct GraphBuilder {
    model: Model,
    widths: Vec<usize>,
    rng: HostRng,
}

impl GraphBuilder {
    /// An empty graph over x (`x_dim`, 0 for an unconditional energy) and y (`y_dim`),
    /// its random parameters drawn from `seed`.
    pub fn new(x_dim: usize, y_dim: usize, seed: u64) -> GraphBuilder {
        GraphBuilder {
            model: Model {
                x_dim,
                y_dim,
                nodes: Vec::new(),
                energy: Vec::new(),
                params: Vec::new(),
            },
            widths: vec![x_dim, y_dim, 1],
            rng: HostRng::new(seed, 7),
        }
    }

    /// The tensor x.
    pub fn x(&self) -> usize {
        X
    }

    /// The tensor y.
    pub fn y(&self) -> usize {
        Y
    }

    /// The landscape index t (one feature, set per stage: an energy E(x, y, t)).
    pub fn t(&self) -> usize {
        T
    }

    /// The width of tensor `t`.
    pub fn width(&self, t: usize) -> usize {
        self.widths[t]
    }

    fn node(&mut self, op: Op, inputs: &[usize], width: usize) -> usize {
        let k = self.model.nodes.len();
        self.model.nodes.push(Node {
            name: format!("{}{k}", op.name()),
            op,
            inputs: inputs.to_vec(),
        });
        self.widths.push(width);
        node_tensor(k)
    }

    fn param(&mut self, name: String, shape: Vec<usize>, data: Vec<f32>) -> usize {
        self.model.params.push(Param { name, shape, data });
        self.model.params.len() - 1
    }

    fn uniform(&mut self, n: usize, centre: f64, half_width: f64) -> Vec<f32> {
        (0..n)
            .map(|_| (centre + half_width * self.rng.symmetric()) as f32)
            .collect()
    }

    /// `W concat(inputs) + b` with `out` outputs, PyTorch's default initialisation
    /// (uniform in ±1/sqrt(fan_in)).
    pub fn linear(&mut self, inputs: &[usize], out: usize, bias: bool) -> usize {
        let fan_in: usize = inputs.iter().map(|&t| self.widths[t]).sum();
        let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
        let weight = self.uniform(out * fan_in, 0.0, bound);
        let bias = bias.then(|| self.uniform(out, 0.0, bound));
        self.linear_with(inputs, out, weight, bias)
    }

    /// `W concat(inputs) + b` with the given weight (`[out, fan_in]`) and bias.
    pub fn linear_with(
        &mut self,
        inputs: &[usize],
        out: usize,
        weight: Vec<f32>,
        bias: Option<Vec<f32>>,
    ) -> usize {
        let fan_in: usize = inputs.iter().map(|&t| self.widths[t]).sum();
        let k = self.model.nodes.len();
        let w = self.param(format!("linear{k}.weight"), vec![out, fan_in], weight);
        let b = bias.map(|b| self.param(format!("linear{k}.bias"), vec![out], b));
        self.node(Op::Linear { weight: w, bias: b }, inputs, out)
    }

    /// `activation(t)`.
    pub fn activation(&mut self, t: usize, activation: Activation) -> usize {
        let w = self.widths[t];
        self.node(Op::Activation(activation), &[t], w)
    }

    /// `scale * t + shift`.
    pub fn affine(&mut self, t: usize, scale: f32, shift: f32) -> usize {
        let w = self.widths[t];
        self.node(Op::Affine { scale, shift }, &[t], w)
    }

    /// `a + b`.
    pub fn add(&mut self, a: usize, b: usize) -> usize {
        let w = self.widths[a];
        self.node(Op::Add, &[a, b], w)
    }

    /// `a - b`.
    pub fn sub(&mut self, a: usize, b: usize) -> usize {
        let w = self.widths[a];
        self.node(Op::Sub, &[a, b], w)
    }

    /// `a * b`.
    pub fn mul(&mut self, a: usize, b: usize) -> usize {
        let w = self.widths[a];
        self.node(Op::Mul, &[a, b], w)
    }

    /// LayerNorm over `t`'s features; with `affine`, a gain near 1 and a bias near 0
    /// (random, so that tests see them).
    pub fn layer_norm(&mut self, t: usize, eps: f32, affine: bool) -> usize {
        let n = self.widths[t];
        let k = self.model.nodes.len();
        let (weight, bias) = if affine {
            let g = self.uniform(n, 1.0, 0.3);
            let b = self.uniform(n, 0.0, 0.3);
            (
                Some(self.param(format!("layer_norm{k}.weight"), vec![n], g)),
                Some(self.param(format!("layer_norm{k}.bias"), vec![n], b)),
            )
        } else {
            (None, None)
        };
        self.node(Op::LayerNorm { eps, weight, bias }, &[t], n)
    }

    /// RMSNorm over `t`'s features; with `affine`, a gain near 1.
    pub fn rms_norm(&mut self, t: usize, eps: f32, affine: bool) -> usize {
        let n = self.widths[t];
        let k = self.model.nodes.len();
        let weight = affine.then(|| {
            let g = self.uniform(n, 1.0, 0.3);
            self.param(format!("rms_norm{k}.weight"), vec![n], g)
        });
        self.node(Op::RmsNorm { eps, weight }, &[t], n)
    }

    /// The tensors one after the other.
    pub fn concat(&mut self, tensors: &[usize]) -> usize {
        let w = tensors.iter().map(|&t| self.widths[t]).sum();
        self.node(Op::Concat, tensors, w)
    }

    /// Features `start .. start + len` of `t`.
    pub fn slice(&mut self, t: usize, start: usize, len: usize) -> usize {
        self.node(Op::Slice { start, len }, &[t], len)
    }

    /// Adds the term `scale * head(t)` to the energy.
    pub fn energy(&mut self, head: Head, t: usize, scale: f32) {
        self.model.energy.push(Term {
            head,
            input: t,
            scale,
        });
    }

    /// The model, validated.
    pub fn build(self) -> Result<Model> {
        self.model.validate()?;
        Ok(self.model)
    }
}
