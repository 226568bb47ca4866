//! The energy model: a graph of ops over the feature vectors of one chain, from the inputs
//! x and y to a sum of energy terms, with its named parameters. An MLP over concat(x, y)
//! ([`ModelSpec`], [`Model::mlp`]) is one such graph.

use super::activation::{Activation, Output};
use super::ops::{Arity, Head, Op};
use crate::energy::tensors::check_finite;
use crate::error::{Error, Result};
use crate::refine::rng::HostRng;

/// The tensor id of the observation x in a graph (`Node::inputs`, `Term::input`).
pub const X: usize = 0;
/// The tensor id of the answer y.
pub const Y: usize = 1;
/// The tensor id of the landscape index t: one feature, the same for every chain of a
/// stage ([`crate::refine::Stage::landscape`]); an energy E(x, y, t) reads it, as IRED's
/// and noise-conditional energies do.
pub const T: usize = 2;
/// How many input tensors a graph has (x, y, t): node tensors follow them.
pub const INPUTS: usize = 3;

/// The tensor id of node `k`'s output.
pub fn node_tensor(k: usize) -> usize {
    k + INPUTS
}

/// A named parameter tensor (row-major, PyTorch's layout and name).
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// Its name, as in the model file (`net.0.weight`).
    pub name: String,
    /// Its shape (`[out, in]` for a linear weight, `[n]` for a bias or gain).
    pub shape: Vec<usize>,
    /// Its values.
    pub data: Vec<f32>,
}

/// One node of the graph: an op over earlier tensors.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// Its name, unique in the graph (errors and the model file name nodes by it).
    pub name: String,
    /// What it computes.
    pub op: Op,
    /// The tensors it reads: [`X`], [`Y`], [`T`], or an earlier node's ([`node_tensor`]).
    pub inputs: Vec<usize>,
}

/// One term of the energy: `scale * head(tensor)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Term {
    /// How the tensor is reduced.
    pub head: Head,
    /// The tensor.
    pub input: usize,
    /// The factor (`-1` for `-logsumexp`).
    pub scale: f32,
}

/// An energy E(x, y): a graph of ops from x (`x_dim` features, 0 for an unconditional
/// model) and y (`y_dim`) to a sum of terms, and the parameters its ops read.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    /// Length of the observed input x (0 for an unconditional model).
    pub x_dim: usize,
    /// Length of the answer y that is refined.
    pub y_dim: usize,
    /// The nodes, each after the nodes it reads.
    pub nodes: Vec<Node>,
    /// The terms whose sum is the energy.
    pub energy: Vec<Term>,
    /// The parameters, in the order they are packed and trained.
    pub params: Vec<Param>,
}

/// One affine layer of an MLP: `out = weight @ in + bias`, weight row-major `[n_out, n_in]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    /// Inputs.
    pub n_in: usize,
    /// Outputs.
    pub n_out: usize,
    /// `[n_out, n_in]`, row-major (PyTorch's `nn.Linear.weight`).
    pub weight: Vec<f32>,
    /// `[n_out]`.
    pub bias: Vec<f32>,
}

/// The shape of an MLP energy to build with random weights: out(MLP(concat(x, y))).
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSpec {
    /// Length of x.
    pub x_dim: usize,
    /// Length of y.
    pub y_dim: usize,
    /// Widths of the hidden layers.
    pub hidden: Vec<usize>,
    /// Outputs of the last layer (1 unless `output` is `Square`).
    pub outputs: usize,
    /// Hidden activation.
    pub activation: Activation,
    /// Output function.
    pub output: Output,
}

/// An MLP read back from a graph that has its shape ([`Model::as_mlp`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Mlp {
    /// The layers, first to last.
    pub layers: Vec<Layer>,
    /// Applied after every layer but the last.
    pub activation: Activation,
    /// Turns the last layer's outputs into the energy.
    pub output: Output,
}

/// The most features one tensor of a graph may have (x, y and every node): the kernels
/// index features, and features times chains, with 32-bit integers.
pub(crate) const MAX_WIDTH: usize = 1 << 24;

impl Model {
    /// The MLP energy out(MLP(concat(x, y))): `activation` after every layer but the last,
    /// `output` on the last layer's outputs. Its parameters are named `layers.{i}.weight`
    /// and `layers.{i}.bias`, as `ebm` 0.5 model files name them.
    pub fn mlp(
        x_dim: usize,
        y_dim: usize,
        layers: Vec<Layer>,
        activation: Activation,
        output: Output,
    ) -> Result<Model> {
        if layers.is_empty() {
            return Err(Error::Model("the model has no layers".into()));
        }
        let mut model = Model {
            x_dim,
            y_dim,
            nodes: Vec::new(),
            energy: Vec::new(),
            params: Vec::new(),
        };
        let last = layers.len() - 1;
        let mut input = vec![X, Y];
        if x_dim == 0 {
            input = vec![Y];
        }
        for (i, layer) in layers.into_iter().enumerate() {
            let weight = model.params.len();
            model.params.push(Param {
                name: format!("layers.{i}.weight"),
                shape: vec![layer.n_out, layer.n_in],
                data: layer.weight,
            });
            model.params.push(Param {
                name: format!("layers.{i}.bias"),
                shape: vec![layer.n_out],
                data: layer.bias,
            });
            model.nodes.push(Node {
                name: format!("layers.{i}"),
                op: Op::Linear {
                    weight,
                    bias: Some(weight + 1),
                },
                inputs: input,
            });
            let mut out = node_tensor(model.nodes.len() - 1);
            if i != last {
                model.nodes.push(Node {
                    name: format!("act{i}"),
                    op: Op::Activation(activation),
                    inputs: vec![out],
                });
                out = node_tensor(model.nodes.len() - 1);
            } else if output == Output::Softplus {
                model.nodes.push(Node {
                    name: "softplus".into(),
                    op: Op::Activation(Activation::Softplus),
                    inputs: vec![out],
                });
                out = node_tensor(model.nodes.len() - 1);
            }
            input = vec![out];
        }
        let head = match output {
            Output::Square => Head::SumSquares,
            Output::Identity | Output::Softplus => Head::Sum,
        };
        model.energy.push(Term {
            head,
            input: input[0],
            scale: 1.0,
        });
        model.check_mlp(output)?;
        model.validate()?;
        Ok(model)
    }

    /// An MLP with PyTorch's default `nn.Linear` initialisation (uniform in
    /// ±1/sqrt(fan_in)), drawn from `seed`.
    pub fn random(spec: &ModelSpec, seed: u64) -> Result<Model> {
        let mut widths = vec![spec.x_dim + spec.y_dim];
        widths.extend(&spec.hidden);
        widths.push(spec.outputs);
        let mut rng = HostRng::new(seed, 0);
        let layers = widths
            .windows(2)
            .map(|w| {
                let bound = 1.0 / (w[0].max(1) as f64).sqrt();
                let mut draw = |n: usize| -> Vec<f32> {
                    (0..n).map(|_| (bound * rng.symmetric()) as f32).collect()
                };
                Layer {
                    n_in: w[0],
                    n_out: w[1],
                    weight: draw(w[0] * w[1]),
                    bias: draw(w[1]),
                }
            })
            .collect();
        Model::mlp(spec.x_dim, spec.y_dim, layers, spec.activation, spec.output)
    }

    /// The MLP errors of 0.5's model files, in their words: layer widths that do not chain,
    /// several outputs where the output function takes one.
    fn check_mlp(&self, output: Output) -> Result<()> {
        let mut n_in = self.x_dim + self.y_dim;
        let linears = self.nodes.iter().filter_map(|n| match n.op {
            Op::Linear { weight, .. } => Some(&self.params[weight]),
            _ => None,
        });
        for (i, w) in linears.enumerate() {
            if w.shape.len() == 2 && w.shape[1] != n_in {
                return Err(Error::Model(format!(
                    "layers.{i}.weight has {} inputs, expected {n_in}{}",
                    w.shape[1],
                    if i == 0 {
                        " (x_dim + y_dim)"
                    } else {
                        " (the previous layer's outputs)"
                    }
                )));
            }
            n_in = w.shape.first().copied().unwrap_or(0);
        }
        if n_in != 1 && !output.allows_vector() {
            return Err(Error::Model(format!(
                "the last layer has {n_in} outputs, but output {output} needs exactly 1 (only square allows several)"
            )));
        }
        Ok(())
    }

    /// The model as the MLP it is, if it has that shape: linear layers over concat(x, y)
    /// with one activation between them and one output function (what [`Model::mlp`]
    /// builds and 0.5's model files hold). A one-layer MLP has no hidden activation; it
    /// reads back as `relu`.
    pub fn as_mlp(&self) -> Option<Mlp> {
        let mut layers = Vec::new();
        let mut activation = None;
        let mut expect = if self.x_dim == 0 { vec![Y] } else { vec![X, Y] };
        let mut nodes = self.nodes.iter().enumerate().peekable();
        let mut output = Output::Identity;
        let mut last = None;
        while let Some((k, node)) = nodes.next() {
            let Op::Linear {
                weight,
                bias: Some(bias),
            } = node.op
            else {
                return None;
            };
            if node.inputs != expect {
                return None;
            }
            let (w, b) = (&self.params[weight], &self.params[bias]);
            layers.push(Layer {
                n_in: w.shape[1],
                n_out: w.shape[0],
                weight: w.data.clone(),
                bias: b.data.clone(),
            });
            let mut out = node_tensor(k);
            let last_node = nodes.clone().nth(1).is_none();
            if let Some((k2, next)) = nodes.peek() {
                match next.op {
                    Op::Activation(a) if next.inputs == [out] => {
                        let is_output = next.name == "softplus" && a == Activation::Softplus;
                        if is_output && last_node {
                            output = Output::Softplus;
                        } else if activation.is_some_and(|had| had != a) {
                            return None;
                        } else {
                            activation = Some(a);
                        }
                        out = node_tensor(*k2);
                        nodes.next();
                    }
                    _ => return None,
                }
            }
            expect = vec![out];
            last = Some(out);
        }
        let [term] = self.energy.as_slice() else {
            return None;
        };
        if Some(term.input) != last || term.scale != 1.0 {
            return None;
        }
        match (term.head, output) {
            (Head::SumSquares, Output::Identity) => output = Output::Square,
            (Head::Sum, _) => {}
            _ => return None,
        }
        Some(Mlp {
            layers,
            activation: activation.unwrap_or(Activation::Relu),
            output,
        })
    }

    /// The width of every tensor: x, y, t (1), then each node's output.
    pub fn widths(&self) -> Vec<usize> {
        self.try_widths().expect("a validated model")
    }

    /// The width of every tensor, or why a node's inputs do not fit its op.
    fn try_widths(&self) -> std::result::Result<Vec<usize>, String> {
        let mut widths = vec![self.x_dim, self.y_dim, 1];
        for (k, node) in self.nodes.iter().enumerate() {
            let at = |what: String| format!("node {:?} ({}): {what}", node.name, node.op);
            let tensors = node_tensor(k);
            for &i in &node.inputs {
                if i >= tensors {
                    return Err(at(format!(
                        "reads tensor {i}, which is not x, y, t or an earlier node"
                    )));
                }
            }
            match node.op.arity() {
                Arity::Exactly(n) if node.inputs.len() != n => {
                    return Err(at(format!(
                        "takes {n} input{}, got {}",
                        if n == 1 { "" } else { "s" },
                        node.inputs.len()
                    )))
                }
                Arity::AtLeastOne if node.inputs.is_empty() => {
                    return Err(at("takes at least one input, got none".into()))
                }
                _ => {}
            }
            let w: Vec<usize> = node.inputs.iter().map(|&i| widths[i]).collect();
            let param = |p: usize| -> std::result::Result<&Param, String> {
                self.params
                    .get(p)
                    .ok_or_else(|| at(format!("reads parameter {p}, which the model lacks")))
            };
            let vector = |p: usize, n: usize, role: &str| -> std::result::Result<(), String> {
                let q = param(p)?;
                if q.shape != [n] {
                    return Err(at(format!(
                        "its {role} {:?} has shape {:?}, expected [{n}]",
                        q.name, q.shape
                    )));
                }
                Ok(())
            };
            // Checked: a file's dims and slices are anyone's numbers (fuzz/, issue 25).
            let total = w
                .iter()
                .try_fold(0usize, |sum, &n| sum.checked_add(n))
                .ok_or_else(|| at(format!("its inputs' widths {w:?} overflow together")))?;
            let out = match node.op {
                Op::Linear { weight, bias } => {
                    let q = param(weight)?;
                    if q.shape.len() != 2 || q.shape[1] != total || q.shape[0] == 0 {
                        return Err(at(format!(
                            "its weight {:?} has shape {:?}, expected [out, {total}] (the inputs' widths {w:?} together)",
                            q.name, q.shape
                        )));
                    }
                    if let Some(b) = bias {
                        vector(b, q.shape[0], "bias")?;
                    }
                    q.shape[0]
                }
                Op::Add | Op::Sub | Op::Mul => {
                    if w[0] != w[1] {
                        return Err(at(format!(
                            "its inputs have widths {} and {}; they must be equal",
                            w[0], w[1]
                        )));
                    }
                    w[0]
                }
                Op::LayerNorm { eps, weight, bias } => {
                    if !(eps.is_finite() && eps >= 0.0) {
                        return Err(at(format!("eps {eps} is not a finite number >= 0")));
                    }
                    for (p, role) in [(weight, "weight"), (bias, "bias")] {
                        if let Some(p) = p {
                            vector(p, w[0], role)?;
                        }
                    }
                    w[0]
                }
                Op::RmsNorm { eps, weight } => {
                    if !(eps.is_finite() && eps >= 0.0) {
                        return Err(at(format!("eps {eps} is not a finite number >= 0")));
                    }
                    if let Some(p) = weight {
                        vector(p, w[0], "weight")?;
                    }
                    w[0]
                }
                Op::Affine { scale, shift } => {
                    if !(scale.is_finite() && shift.is_finite()) {
                        return Err(at("its scale and shift must be finite".into()));
                    }
                    w[0]
                }
                Op::Activation(_) => w[0],
                Op::Concat => total,
                Op::Slice { start, len } => {
                    if len == 0 || start.checked_add(len).is_none_or(|end| end > w[0]) {
                        return Err(at(format!(
                            "takes features [{start}, {}) of a tensor {} wide",
                            start as u128 + len as u128,
                            w[0]
                        )));
                    }
                    len
                }
            };
            if out == 0 {
                return Err(at("makes a tensor of width 0".into()));
            }
            widths.push(out);
        }
        Ok(widths)
    }

    /// Whether the energy reads the landscape index t (an energy E(x, y, t)).
    pub fn reads_landscape(&self) -> bool {
        self.nodes.iter().any(|n| n.inputs.contains(&T))
    }

    /// Refuses an energy of t where `what` (training, its weight gradients) runs E(x, y)
    /// only: an E(x, y, t) is trained where it is written (PyTorch) and imported.
    pub(crate) fn check_no_landscape(&self, what: &str) -> Result<()> {
        if self.reads_landscape() {
            return Err(Error::Model(format!(
                "the model reads the landscape index t: {what} runs energies E(x, y) only; train an E(x, y, t) in PyTorch and import it to refine with it"
            )));
        }
        Ok(())
    }

    /// Which tensors depend on y (the rest, computed from x alone, are computed once per
    /// chain and call, never inside the step loop).
    pub fn y_dependent(&self) -> Vec<bool> {
        let mut on_y = vec![false, true, false];
        for node in &self.nodes {
            on_y.push(node.inputs.iter().any(|&i| on_y[i]));
        }
        on_y
    }

    /// The name of tensor `t`: `x`, `y` or its node's.
    pub fn tensor_name(&self, t: usize) -> &str {
        match t {
            X => "x",
            Y => "y",
            T => "t",
            _ => &self.nodes[t - INPUTS].name,
        }
    }

    /// Checks the graph (each node after its inputs, arities, widths, parameter shapes,
    /// unique names, at least one energy term) and that every parameter is finite.
    pub fn validate(&self) -> Result<()> {
        if self.y_dim == 0 {
            return Err(Error::Model("y_dim must be at least 1".into()));
        }
        if self.nodes.is_empty() && self.energy.is_empty() {
            return Err(Error::Model("the model has no layers".into()));
        }
        let widths = self.try_widths().map_err(Error::Model)?;
        // The kernels index features with 32-bit integers; no tensor comes near this.
        if let Some((k, w)) = widths.iter().enumerate().find(|(_, &w)| w > MAX_WIDTH) {
            return Err(Error::Model(format!(
                "tensor {:?} has {w} features; ebm handles at most {MAX_WIDTH} per tensor",
                self.tensor_name(k)
            )));
        }
        let mut names = std::collections::HashSet::new();
        for node in &self.nodes {
            if ["x", "y", "t"].contains(&node.name.as_str()) || !names.insert(node.name.as_str()) {
                return Err(Error::Model(format!(
                    "node name {:?} is used twice (x, y and t are the inputs' names)",
                    node.name
                )));
            }
        }
        if self.energy.is_empty() {
            return Err(Error::Model(
                "the energy has no terms: name at least one tensor to reduce".into(),
            ));
        }
        for term in &self.energy {
            if term.input >= widths.len() {
                return Err(Error::Model(format!(
                    "an energy term reads tensor {}, which the graph lacks",
                    term.input
                )));
            }
            if !term.scale.is_finite() {
                return Err(Error::Model(format!(
                    "the energy term {} of {:?} has scale {}",
                    term.head,
                    self.tensor_name(term.input),
                    term.scale
                )));
            }
        }
        let mut param_names = std::collections::HashSet::new();
        for p in &self.params {
            if !param_names.insert(p.name.as_str()) {
                return Err(Error::Model(format!(
                    "parameter name {:?} is used twice",
                    p.name
                )));
            }
            let n = p.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
            if n != Some(p.data.len()) {
                return Err(Error::Model(format!(
                    "parameter {:?} holds {} values, its shape {:?} needs {}",
                    p.name,
                    p.data.len(),
                    p.shape,
                    n.map_or_else(|| "more than memory holds".into(), |n| n.to_string())
                )));
            }
            check_finite(&p.name, &p.data).map_err(Error::Model)?;
        }
        Ok(())
    }

    /// The model's shape in words.
    pub fn shape(&self) -> String {
        if let Some(mlp) = self.as_mlp() {
            let hidden: Vec<usize> = mlp.layers[..mlp.layers.len() - 1]
                .iter()
                .map(|l| l.n_out)
                .collect();
            return format!(
                "x_dim {}, y_dim {}, hidden {hidden:?}, {} activation, {} {} output",
                self.x_dim,
                self.y_dim,
                mlp.activation.name(),
                mlp.layers.last().map_or(0, |l| l.n_out),
                mlp.output.name()
            );
        }
        let mut kinds: Vec<&str> = Vec::new();
        for node in &self.nodes {
            if !kinds.contains(&node.op.name()) {
                kinds.push(node.op.name());
            }
        }
        format!(
            "x_dim {}, y_dim {}, a graph of {} nodes ({}), {} energy term{}",
            self.x_dim,
            self.y_dim,
            self.nodes.len(),
            kinds.join(", "),
            self.energy.len(),
            if self.energy.len() == 1 { "" } else { "s" }
        )
    }

    /// Multiply-adds of one forward pass for one chain (P in the FLOP count 4P per step):
    /// those of the linear nodes.
    pub fn multiply_adds(&self) -> usize {
        self.nodes
            .iter()
            .filter_map(|n| match n.op {
                Op::Linear { weight, .. } => Some(self.params[weight].data.len()),
                _ => None,
            })
            .sum()
    }

    /// The widest tensor, x and y included.
    pub fn max_width(&self) -> usize {
        self.widths().into_iter().max().unwrap_or(0)
    }

    /// Parameters in all (the length of a weight gradient).
    pub fn param_count(&self) -> usize {
        self.params.iter().map(|p| p.data.len()).sum()
    }

    /// Every parameter's values, one after the other in [`Model::params`] order.
    pub fn flat_params(&self) -> Vec<f32> {
        self.params
            .iter()
            .flat_map(|p| p.data.iter().copied())
            .collect()
    }

    /// The model with its parameters replaced by `flat` (as [`Model::flat_params`] lays
    /// them out).
    pub fn with_flat_params(&self, flat: &[f32]) -> Model {
        let mut out = self.clone();
        let mut at = 0;
        for p in &mut out.params {
            let n = p.data.len();
            p.data.copy_from_slice(&flat[at..at + n]);
            at += n;
        }
        out
    }
}
