//! The op table of energy graphs: every kind of node and of energy term, with its name in
//! model files, its arity, the width of what it makes, and the PyTorch spellings the
//! importer (`ebm_wgpu.Model.from_torch`) maps to it. What each op computes is written
//! once per side: in float64 in `reference::graph` (forward and backward), and in WGSL in
//! `shaders/ops.wgsl` (elementwise math) with the data movement of each path shape in
//! `shaders/ops_chain.wgsl` and `shaders/ops_tile.wgsl`. Every `match` over [`Op`] and
//! [`Head`] is exhaustive, so a new kind cannot be left out of one of them.

use std::fmt;

use super::activation::Activation;

/// One node of an energy graph: what it computes from its input tensors (feature vectors
/// of one chain). Parameters are indices into the model's [`super::Param`] list.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// `out = W concat(inputs) + b`: `nn.Linear` over the concatenation of its inputs,
    /// `W` `[out, sum of input widths]` (PyTorch's layout), the bias optional.
    Linear {
        /// The weight's parameter.
        weight: usize,
        /// The bias's parameter, if any.
        bias: Option<usize>,
    },
    /// An activation, elementwise.
    Activation(Activation),
    /// `out = scale * t + shift`, elementwise (constants: `2 * h`, `h + 1`, `-h`).
    Affine {
        /// The factor.
        scale: f32,
        /// The offset added after scaling.
        shift: f32,
    },
    /// `a + b`, elementwise, both the same width.
    Add,
    /// `a - b`, elementwise.
    Sub,
    /// `a * b`, elementwise (gated units, FiLM).
    Mul,
    /// `nn.LayerNorm` over the features: `(t - mean) / sqrt(var + eps) * weight + bias`,
    /// the variance biased, as PyTorch's.
    LayerNorm {
        /// Added to the variance.
        eps: f32,
        /// The gain's parameter (`elementwise_affine`), if any.
        weight: Option<usize>,
        /// The bias's parameter, if any.
        bias: Option<usize>,
    },
    /// `nn.RMSNorm` over the features: `t / sqrt(mean(t^2) + eps) * weight`.
    RmsNorm {
        /// Added to the mean square.
        eps: f32,
        /// The gain's parameter, if any.
        weight: Option<usize>,
    },
    /// The inputs one after the other (`torch.cat(..., dim=-1)`).
    Concat,
    /// Features `start .. start + len` of the input (`t[:, a:b]`, `chunk`, `split`).
    Slice {
        /// The first feature taken.
        start: usize,
        /// How many.
        len: usize,
    },
}

/// How many inputs an op takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arity {
    /// Exactly this many.
    Exactly(usize),
    /// At least one.
    AtLeastOne,
}

/// The kinds of op, by name: what model files and error messages call them.
pub const OP_NAMES: [&str; 10] = [
    "linear",
    "activation",
    "affine",
    "add",
    "sub",
    "mul",
    "layer_norm",
    "rms_norm",
    "concat",
    "slice",
];

impl Op {
    /// The op's name in model files.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Linear { .. } => "linear",
            Op::Activation(_) => "activation",
            Op::Affine { .. } => "affine",
            Op::Add => "add",
            Op::Sub => "sub",
            Op::Mul => "mul",
            Op::LayerNorm { .. } => "layer_norm",
            Op::RmsNorm { .. } => "rms_norm",
            Op::Concat => "concat",
            Op::Slice { .. } => "slice",
        }
    }

    /// How many inputs it takes.
    pub fn arity(&self) -> Arity {
        match self {
            Op::Linear { .. } | Op::Concat => Arity::AtLeastOne,
            Op::Add | Op::Sub | Op::Mul => Arity::Exactly(2),
            Op::Activation(_)
            | Op::Affine { .. }
            | Op::LayerNorm { .. }
            | Op::RmsNorm { .. }
            | Op::Slice { .. } => Arity::Exactly(1),
        }
    }

    /// The parameters it reads, with what each is to it (`weight`, `bias`).
    pub fn params(&self) -> Vec<(&'static str, usize)> {
        let mut out = Vec::new();
        let mut push = |role, p: Option<usize>| {
            if let Some(p) = p {
                out.push((role, p));
            }
        };
        match *self {
            Op::Linear { weight, bias } => {
                push("weight", Some(weight));
                push("bias", bias);
            }
            Op::LayerNorm { weight, bias, .. } => {
                push("weight", weight);
                push("bias", bias);
            }
            Op::RmsNorm { weight, .. } => push("weight", weight),
            _ => {}
        }
        out
    }

    /// Whether it works feature by feature on inputs of one width (and makes that width).
    pub fn is_elementwise(&self) -> bool {
        matches!(
            self,
            Op::Activation(_) | Op::Affine { .. } | Op::Add | Op::Sub | Op::Mul
        )
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Activation(a) => write!(f, "activation {a}"),
            Op::Affine { scale, shift } => write!(f, "affine (scale {scale}, shift {shift})"),
            Op::LayerNorm { eps, .. } => write!(f, "layer_norm (eps {eps})"),
            Op::RmsNorm { eps, .. } => write!(f, "rms_norm (eps {eps})"),
            Op::Slice { start, len } => {
                write!(f, "slice [{start}, {})", *start as u128 + *len as u128)
            }
            other => f.write_str(other.name()),
        }
    }
}

/// How one energy term reduces a tensor to a number. The energy is the sum of its terms,
/// each `scale * head(tensor)`: `-logsumexp(logits)` is `LogSumExp` with scale -1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Head {
    /// The sum of the features (one output as it is: a width-1 sum).
    Sum,
    /// Their mean.
    Mean,
    /// The sum of their squares.
    SumSquares,
    /// The mean of their squares.
    MeanSquares,
    /// `log(sum(exp(t)))`, computed stably.
    LogSumExp,
}

impl Head {
    /// Every head, in the order the shaders number them (`HEAD_*` in ops.wgsl).
    pub const ALL: [Head; 5] = [
        Head::Sum,
        Head::Mean,
        Head::SumSquares,
        Head::MeanSquares,
        Head::LogSumExp,
    ];

    /// The name in model files.
    pub fn name(self) -> &'static str {
        match self {
            Head::Sum => "sum",
            Head::Mean => "mean",
            Head::SumSquares => "sum_squares",
            Head::MeanSquares => "mean_squares",
            Head::LogSumExp => "logsumexp",
        }
    }

    /// The id the shaders switch on.
    pub fn shader_id(self) -> u32 {
        Self::ALL.iter().position(|&h| h == self).unwrap() as u32
    }

    /// The head of `name`, if it names one.
    pub fn from_name(name: &str) -> Option<Head> {
        Self::ALL.into_iter().find(|h| h.name() == name)
    }

    /// The value of the head over `t` and its gradient (written into `grad`), in float64.
    pub fn eval(self, t: &[f64], grad: &mut [f64]) -> f64 {
        let n = t.len() as f64;
        match self {
            Head::Sum => {
                grad.fill(1.0);
                t.iter().sum()
            }
            Head::Mean => {
                grad.fill(1.0 / n);
                t.iter().sum::<f64>() / n
            }
            Head::SumSquares => {
                for (g, v) in grad.iter_mut().zip(t) {
                    *g = 2.0 * v;
                }
                t.iter().map(|v| v * v).sum()
            }
            Head::MeanSquares => {
                for (g, v) in grad.iter_mut().zip(t) {
                    *g = 2.0 * v / n;
                }
                t.iter().map(|v| v * v).sum::<f64>() / n
            }
            Head::LogSumExp => {
                let m = t.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let s: f64 = t.iter().map(|v| (v - m).exp()).sum();
                for (g, v) in grad.iter_mut().zip(t) {
                    *g = (v - m).exp() / s;
                }
                m + s.ln()
            }
        }
    }
}

impl fmt::Display for Head {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The PyTorch spellings of each kind, as `ebm_wgpu`'s importer traces them: callables
/// (`F.silu`, `torch.cat`), tensor methods (`.chunk`) and modules (`nn.LayerNorm`). The
/// importer takes this table from the library (`ebm_wgpu._ops`), so there is one list.
pub const TORCH_NAMES: &[(&str, &[&str])] = &[
    ("linear", &["Linear", "linear"]),
    (
        "activation",
        &[
            "ReLU",
            "relu",
            "LeakyReLU",
            "leaky_relu",
            "Tanh",
            "tanh",
            "Sigmoid",
            "sigmoid",
            "SiLU",
            "silu",
            "GELU",
            "gelu",
            "Softplus",
            "softplus",
            "sin",
            "cos",
        ],
    ),
    (
        "affine",
        &[
            "mul", "add", "sub", "neg", "truediv", "div", "radd", "rsub", "rmul",
        ],
    ),
    ("add", &["add", "iadd"]),
    ("sub", &["sub", "isub"]),
    ("mul", &["mul", "imul", "pow", "square"]),
    ("layer_norm", &["LayerNorm", "layer_norm"]),
    ("rms_norm", &["RMSNorm", "rms_norm"]),
    ("concat", &["cat", "concat", "concatenate"]),
    ("slice", &["getitem", "chunk", "split", "narrow"]),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_has_a_name_and_torch_spellings() {
        let ops = [
            Op::Linear {
                weight: 0,
                bias: None,
            },
            Op::Activation(Activation::Silu),
            Op::Affine {
                scale: 2.0,
                shift: 1.0,
            },
            Op::Add,
            Op::Sub,
            Op::Mul,
            Op::LayerNorm {
                eps: 1e-5,
                weight: None,
                bias: None,
            },
            Op::RmsNorm {
                eps: 1e-6,
                weight: None,
            },
            Op::Concat,
            Op::Slice { start: 0, len: 1 },
        ];
        assert_eq!(ops.len(), OP_NAMES.len());
        for (op, name) in ops.iter().zip(OP_NAMES) {
            assert_eq!(op.name(), name);
            assert!(TORCH_NAMES.iter().any(|(n, _)| *n == name), "{name}");
        }
    }

    #[test]
    fn heads_match_finite_differences() {
        let t = [0.3, -1.2, 2.5, 0.7];
        for head in Head::ALL {
            let mut grad = [0.0; 4];
            head.eval(&t, &mut grad);
            for i in 0..4 {
                let h = 1e-6;
                let (mut up, mut down) = (t, t);
                up[i] += h;
                down[i] -= h;
                let mut g = [0.0; 4];
                let fd = (head.eval(&up, &mut g) - head.eval(&down, &mut g)) / (2.0 * h);
                assert!(
                    (fd - grad[i]).abs() < 1e-7,
                    "{head} at {i}: {} vs {fd}",
                    grad[i]
                );
            }
            assert_eq!(Head::from_name(head.name()), Some(head));
        }
    }
}
