//! What the kernels run of an energy graph: its nodes lowered to a straight-line program of
//! instructions over per-chain tensors, the same for every path. Each path shape gives the
//! instructions their storage and code (`kernels::codegen`): scratch in device memory for
//! the chain, layered and training kernels, registers and workgroup memory for the tile.
//!
//! Lowering:
//! - a linear node reads the inputs of a concat it is fed through directly, as column
//!   blocks of its weight (no concatenated copy is made);
//! - nodes whose output cannot reach the energy are dropped;
//! - what depends on x alone (`pre`) is computed once per chain and dispatch, never in the
//!   step loop; a linear node over x-only and y-dependent blocks is split into the x-only
//!   partial sum with the bias (in `pre`) and the y-dependent blocks added to it;
//! - the backward pass is derived instruction by instruction, in reverse, into deltas
//!   (dE/dtensor) that start at zero and are accumulated by every reader;
//! - each tensor's storage is given by liveness: values live from their instruction to
//!   their last reader (forward or backward), `pre` values for the whole dispatch.
//!
//! For training (`Mode::Train`) nothing is split off into `pre` and every value and delta
//! keeps its own storage: the weight gradients read the inputs and deltas of every linear
//! and norm after the pass.

use crate::energy::{node_tensor, Activation, Head, Model, Op, INPUTS, T, X, Y};

/// A tensor of the program: `Vector`s have a width, `Scalar`s one value per chain that
/// every thread of a chain can read (a norm's 1 / sqrt(var + eps)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Vector,
    Scalar,
}

/// One tensor's description.
#[derive(Clone, Debug)]
pub(crate) struct Tensor {
    pub width: usize,
    pub kind: Kind,
    /// What it is, for comments in the generated code and for errors.
    pub name: String,
}

/// A block of a linear's input: the columns `col .. col + width` of its weight read
/// tensor `input`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Block {
    pub input: usize,
    pub col: usize,
    pub width: usize,
}

/// Elementwise two-input ops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Binary {
    Add,
    Sub,
    Mul,
}

/// The inputs a program loads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Input {
    /// The observation x.
    X,
    /// The answer y.
    Y,
    /// The landscape index t (the dispatch's, from the uniform block).
    T,
}

/// One forward instruction.
#[derive(Clone, Debug)]
pub(crate) enum Instr {
    /// Loads an input of the chain into tensor `out`: x or the landscape index t (`pre`),
    /// or y (`forward`).
    Load { out: usize, input: Input },
    /// `out = init + W[:, blocks] . inputs (+ bias)`, W `[n_out, ld]` at `weight` in the
    /// packed weights, its transpose `[ld, n_out]` at `weight_t`.
    Linear {
        out: usize,
        n_out: usize,
        weight: usize,
        weight_t: usize,
        ld: usize,
        blocks: Vec<Block>,
        bias: Option<usize>,
        init: Option<usize>,
    },
    /// `out = act(input)`, and act'(input) into `deriv` where the backward pass needs it.
    Activation {
        out: usize,
        input: usize,
        kind: Activation,
        deriv: Option<usize>,
    },
    /// `out = scale * input + shift`.
    Affine {
        out: usize,
        input: usize,
        scale: f32,
        shift: f32,
    },
    /// `out = a op b`.
    Binary {
        out: usize,
        a: usize,
        b: usize,
        op: Binary,
    },
    /// LayerNorm (`centred`) or RMSNorm: `xhat` the normalised input, `rstd` the Scalar
    /// 1 / sqrt(var + eps), `out = xhat * gain + bias` (each optional, offsets into the
    /// packed weights).
    Norm {
        out: usize,
        input: usize,
        centred: bool,
        eps: f32,
        gain: Option<usize>,
        bias: Option<usize>,
        xhat: usize,
        rstd: usize,
    },
    /// `out[at .. at + len] = input[from .. from + len]` (concat, slice).
    Copy {
        out: usize,
        at: usize,
        input: usize,
        from: usize,
        len: usize,
    },
}

/// One term of the energy.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HeadTerm {
    pub input: usize,
    pub head: Head,
    pub scale: f32,
}

/// One backward instruction (every instruction but `Zero` adds to its delta; each delta is
/// zeroed just before its first use).
#[derive(Clone, Debug)]
pub(crate) enum Back {
    /// `delta = 0`.
    Zero { delta: usize },
    /// `delta += scale * head'(input)`.
    Head {
        delta: usize,
        input: usize,
        head: Head,
        scale: f32,
    },
    /// `d_in += W[:, col .. col + width]^T d_out`: W `[n_out, ld]` at `weight`, its
    /// transpose at `weight_t`.
    Linear {
        d_in: usize,
        d_out: usize,
        n_out: usize,
        weight: usize,
        weight_t: usize,
        ld: usize,
        col: usize,
        width: usize,
    },
    /// `dst += a * b`.
    MulAdd { dst: usize, a: usize, b: usize },
    /// `dst[at ..] += scale * src[from ..]`, `len` features.
    Axpy {
        dst: usize,
        at: usize,
        src: usize,
        from: usize,
        len: usize,
        scale: f32,
    },
    /// The norm's input delta from its output's: `d_in += rstd (g d - mean(g d) - xhat
    /// mean(g d xhat))` (without the first mean for RMSNorm).
    Norm {
        d_in: usize,
        d_out: usize,
        centred: bool,
        gain: Option<usize>,
        xhat: usize,
        rstd: usize,
    },
}

/// Whether a program is lowered for inference (x-only work split off, storage reused) or
/// for weight gradients (every value and delta kept).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Infer,
    Train,
}

/// Where each parameter and each linear weight's transposed copy sit in the packed weights.
#[derive(Clone, Debug)]
pub(crate) struct Packing {
    /// Offset of each parameter (in `Model::params` order; they come first, back to back).
    pub params: Vec<usize>,
    /// Floats of the parameters.
    pub param_floats: usize,
    /// Per linear weight: (its parameter, `[n_out, ld]`, offset of its transpose).
    pub transposed: Vec<(usize, usize, usize, usize)>,
}

impl Packing {
    /// The packed weights of `model`: its parameters, then the transposed copies.
    pub(crate) fn of(model: &Model) -> Packing {
        let mut params = Vec::new();
        let mut at = 0;
        for p in &model.params {
            params.push(at);
            at += p.data.len();
        }
        let param_floats = at;
        let mut transposed = Vec::new();
        for node in &model.nodes {
            if let Op::Linear { weight, .. } = node.op {
                if transposed
                    .iter()
                    .all(|t: &(usize, usize, usize, usize)| t.0 != weight)
                {
                    let shape = &model.params[weight].shape;
                    transposed.push((weight, shape[0], shape[1], at));
                    at += shape[0] * shape[1];
                }
            }
        }
        Packing {
            params,
            param_floats,
            transposed,
        }
    }

    /// The packed weights' values.
    pub(crate) fn pack(&self, model: &Model) -> Vec<f32> {
        let mut out = model.flat_params();
        for &(p, n_out, n_in, _) in &self.transposed {
            let w = &model.params[p].data;
            for i in 0..n_in {
                out.extend((0..n_out).map(|j| w[j * n_in + i]));
            }
        }
        out
    }

    fn transposed_of(&self, p: usize) -> usize {
        self.transposed.iter().find(|t| t.0 == p).unwrap().3
    }
}

/// A lowered energy graph.
#[derive(Clone, Debug)]
pub(crate) struct Program {
    pub x_dim: usize,
    pub y_dim: usize,
    pub mode: Mode,
    pub tensors: Vec<Tensor>,
    /// Computed once per chain and dispatch (x alone).
    pub pre: Vec<Instr>,
    /// Computed at every y.
    pub forward: Vec<Instr>,
    pub heads: Vec<HeadTerm>,
    pub backward: Vec<Back>,
    /// The delta of each tensor that has one (usize::MAX where none).
    pub delta_of: Vec<usize>,
    /// The tensor holding dE/dy after the backward pass.
    pub dy: usize,
    pub packing: Packing,
}

impl Program {
    /// Whether a pass sums a value over a chain's lanes (a norm's statistics, a
    /// log-sum-exp head): the tile kernel then keeps the lanes' totals in workgroup memory.
    pub fn sums_over_lanes(&self) -> bool {
        self.pre
            .iter()
            .chain(&self.forward)
            .any(|i| matches!(i, Instr::Norm { .. }))
            || self.heads.iter().any(|h| h.head == Head::LogSumExp)
    }

    /// Lowers `model` (validated) for `mode`.
    pub(crate) fn lower(model: &Model, mode: Mode) -> Program {
        Lowering::new(model, mode).run()
    }

    /// Every instruction of one pass in order: `pre`, then `forward`.
    pub(crate) fn instructions(&self) -> impl Iterator<Item = &Instr> {
        self.pre.iter().chain(&self.forward)
    }

    /// The tensors each instruction reads and the one it writes (its main output).
    pub(crate) fn reads_writes(instr: &Instr) -> (Vec<usize>, Vec<usize>) {
        match instr {
            Instr::Load { out, .. } => (vec![], vec![*out]),
            Instr::Linear {
                out, blocks, init, ..
            } => {
                let mut r: Vec<usize> = blocks.iter().map(|b| b.input).collect();
                r.extend(init);
                (r, vec![*out])
            }
            Instr::Activation {
                out, input, deriv, ..
            } => {
                let mut w = vec![*out];
                w.extend(deriv);
                (vec![*input], w)
            }
            Instr::Affine { out, input, .. } => (vec![*input], vec![*out]),
            Instr::Binary { out, a, b, .. } => (vec![*a, *b], vec![*out]),
            Instr::Norm {
                out,
                input,
                xhat,
                rstd,
                ..
            } => (vec![*input], vec![*out, *xhat, *rstd]),
            Instr::Copy { out, input, .. } => (vec![*input], vec![*out]),
        }
    }

    /// The tensors a backward instruction reads and the delta it adds to.
    pub(crate) fn back_reads_writes(b: &Back) -> (Vec<usize>, usize) {
        match b {
            Back::Zero { delta } => (vec![], *delta),
            Back::Head { delta, input, .. } => (vec![*input], *delta),
            Back::Linear { d_in, d_out, .. } => (vec![*d_out], *d_in),
            Back::MulAdd { dst, a, b } => (vec![*a, *b], *dst),
            Back::Axpy { dst, src, .. } => (vec![*src], *dst),
            Back::Norm {
                d_in,
                d_out,
                xhat,
                rstd,
                ..
            } => (vec![*d_out, *xhat, *rstd], *d_in),
        }
    }

    /// Storage for every tensor: an offset into a per-chain store of `size(tensor)`
    /// units each, and the store's size. Tensors whose lives do not overlap share storage
    /// (Mode::Infer); in Mode::Train none do.
    pub(crate) fn allocate(&self, size: impl Fn(&Tensor) -> usize) -> (Vec<usize>, usize) {
        let n = self.tensors.len();
        // Positions: pre 0.., forward, heads, backward (after zeroing the deltas).
        let (p, f) = (self.pre.len(), self.forward.len());
        let heads_at = p + f;
        let back_at = heads_at + 1;
        let end = back_at + self.backward.len() + 1;
        let mut first = vec![usize::MAX; n];
        let mut last = vec![0usize; n];
        let touch = |t: usize, at: usize, first: &mut Vec<usize>, last: &mut Vec<usize>| {
            first[t] = first[t].min(at);
            last[t] = last[t].max(at);
        };
        for (i, instr) in self.instructions().enumerate() {
            let (reads, writes) = Program::reads_writes(instr);
            for t in reads.into_iter().chain(writes) {
                touch(t, i, &mut first, &mut last);
            }
        }
        for h in &self.heads {
            touch(h.input, heads_at, &mut first, &mut last);
        }
        for (i, b) in self.backward.iter().enumerate() {
            let (reads, write) = Program::back_reads_writes(b);
            for t in reads.into_iter().chain([write]) {
                touch(t, back_at + i, &mut first, &mut last);
            }
        }
        // dE/dy is the chain's state between passes (an accept rule keeps the current y's
        // through an energy-only pass, which replica exchange runs): nothing shares it.
        touch(self.dy, 0, &mut first, &mut last);
        touch(self.dy, end - 1, &mut first, &mut last);
        // What `pre` makes lives through every step of the dispatch.
        for instr in &self.pre {
            for t in Program::reads_writes(instr).1 {
                last[t] = end;
                first[t] = 0;
            }
        }
        let mut order: Vec<usize> = (0..n).filter(|&t| first[t] != usize::MAX).collect();
        order.sort_by_key(|&t| (first[t], t));
        let mut offset = vec![usize::MAX; n];
        // (start, size, free after) of every placement so far.
        let mut placed: Vec<(usize, usize, usize)> = Vec::new();
        let mut total = 0;
        for t in order {
            let len = size(&self.tensors[t]).max(1);
            let live = |(_, _, until): &&(usize, usize, usize)| {
                self.mode == Mode::Train || *until >= first[t]
            };
            // The lowest offset where [o, o + len) meets no live placement.
            let mut o = 0;
            loop {
                let clash = placed
                    .iter()
                    .filter(live)
                    .find(|(s, l, _)| o < s + l && *s < o + len);
                match clash {
                    Some((s, l, _)) => o = s + l,
                    None => break,
                }
            }
            offset[t] = o;
            placed.push((o, len, last[t]));
            total = total.max(o + len);
        }
        (offset, total)
    }
}

/// The state of one lowering.
struct Lowering<'m> {
    model: &'m Model,
    mode: Mode,
    widths: Vec<usize>,
    packing: Packing,
    tensors: Vec<Tensor>,
    /// Program tensor of each graph tensor (usize::MAX: none).
    of_graph: Vec<usize>,
    pre: Vec<Instr>,
    forward: Vec<Instr>,
    /// Whether each program tensor varies with y (Mode::Train: with anything).
    varies: Vec<bool>,
}

impl<'m> Lowering<'m> {
    fn new(model: &'m Model, mode: Mode) -> Lowering<'m> {
        Lowering {
            model,
            mode,
            widths: model.widths(),
            packing: Packing::of(model),
            tensors: Vec::new(),
            of_graph: vec![usize::MAX; model.nodes.len() + INPUTS],
            pre: Vec::new(),
            forward: Vec::new(),
            varies: Vec::new(),
        }
    }

    fn tensor(&mut self, width: usize, kind: Kind, name: String, varies: bool) -> usize {
        self.tensors.push(Tensor { width, kind, name });
        self.varies.push(varies);
        self.tensors.len() - 1
    }

    /// A linear node's inputs with concats it is fed through opened into their inputs.
    fn blocks_of(&self, inputs: &[usize]) -> Vec<usize> {
        let mut out = Vec::new();
        for &t in inputs {
            match (t >= INPUTS).then(|| &self.model.nodes[t - INPUTS]) {
                Some(node) if node.op == Op::Concat => out.extend(self.blocks_of(&node.inputs)),
                _ => out.push(t),
            }
        }
        out
    }

    /// The graph tensors each live node reads, after the concats a linear reads through.
    fn reads(&self, k: usize) -> Vec<usize> {
        let node = &self.model.nodes[k];
        match node.op {
            Op::Linear { .. } => self.blocks_of(&node.inputs),
            _ => node.inputs.clone(),
        }
    }

    fn run(mut self) -> Program {
        let model = self.model;
        // Which nodes reach the energy.
        let mut needed = vec![false; model.nodes.len() + INPUTS];
        for t in &model.energy {
            needed[t.input] = true;
        }
        for k in (0..model.nodes.len()).rev() {
            if needed[node_tensor(k)] {
                for t in self.reads(k) {
                    needed[t] = true;
                }
            }
        }
        // Which graph tensors vary: with y (inference), or with anything but x and t
        // (training).
        let mut varies = vec![self.mode == Mode::Train, true, self.mode == Mode::Train];
        for k in 0..model.nodes.len() {
            let v = self.reads(k).iter().any(|&t| varies[t]) || self.mode == Mode::Train;
            varies.push(v);
        }
        let x = needed[X].then(|| {
            let t = self.tensor(
                model.x_dim,
                Kind::Vector,
                "x".into(),
                self.mode == Mode::Train,
            );
            self.pre.push(Instr::Load {
                out: t,
                input: Input::X,
            });
            t
        });
        if let Some(t) = x {
            self.of_graph[X] = t;
        }
        if needed[T] {
            let t = self.tensor(1, Kind::Vector, "t".into(), self.mode == Mode::Train);
            self.pre.push(Instr::Load {
                out: t,
                input: Input::T,
            });
            self.of_graph[T] = t;
        }
        let y = self.tensor(model.y_dim, Kind::Vector, "y".into(), true);
        self.of_graph[Y] = y;
        self.forward.push(Instr::Load {
            out: y,
            input: Input::Y,
        });
        for k in 0..model.nodes.len() {
            if needed[node_tensor(k)] {
                self.node(k, varies[node_tensor(k)]);
            }
        }
        let heads: Vec<HeadTerm> = model
            .energy
            .iter()
            .map(|t| HeadTerm {
                input: self.of_graph[t.input],
                head: t.head,
                scale: t.scale,
            })
            .collect();
        let (backward, mut delta_of, dy) = self.derive_backward(&heads, y);
        delta_of.resize(self.tensors.len(), usize::MAX);
        Program {
            x_dim: model.x_dim,
            y_dim: model.y_dim,
            mode: self.mode,
            tensors: self.tensors,
            pre: self.pre,
            forward: self.forward,
            heads,
            backward,
            delta_of,
            dy,
            packing: self.packing,
        }
    }

    /// Lowers node `k` into `pre` (x alone) or `forward`.
    fn node(&mut self, k: usize, varies: bool) {
        let model = self.model;
        let node = &model.nodes[k];
        let width = self.widths[node_tensor(k)];
        let name = node.name.clone();
        let input = |s: &Self, i: usize| s.of_graph[node.inputs[i]];
        let out = self.tensor(width, Kind::Vector, name.clone(), varies);
        self.of_graph[node_tensor(k)] = out;
        let instr = match node.op {
            Op::Linear { weight, bias } => {
                let ld = model.params[weight].shape[1];
                let (weight_off, weight_t) = (
                    self.packing.params[weight],
                    self.packing.transposed_of(weight),
                );
                let bias = bias.map(|b| self.packing.params[b]);
                let mut blocks = Vec::new();
                let mut col = 0;
                for t in self.blocks_of(&node.inputs) {
                    let w = self.widths[t];
                    blocks.push(Block {
                        input: self.of_graph[t],
                        col,
                        width: w,
                    });
                    col += w;
                }
                let (fixed, moving): (Vec<Block>, Vec<Block>) =
                    blocks.into_iter().partition(|b| !self.varies[b.input]);
                let linear = |out, blocks, bias, init| Instr::Linear {
                    out,
                    n_out: width,
                    weight: weight_off,
                    weight_t,
                    ld,
                    blocks,
                    bias,
                    init,
                };
                if varies && !fixed.is_empty() {
                    // The x-only blocks and the bias once per dispatch, then the rest.
                    let part = self.tensor(width, Kind::Vector, format!("{name} (x part)"), false);
                    self.pre.push(linear(part, fixed, bias, None));
                    linear(out, moving, None, Some(part))
                } else if varies {
                    linear(out, moving, bias, None)
                } else {
                    linear(out, fixed, bias, None)
                }
            }
            Op::Activation(kind) => {
                let deriv =
                    varies.then(|| self.tensor(width, Kind::Vector, format!("{name}'"), true));
                Instr::Activation {
                    out,
                    input: input(self, 0),
                    kind,
                    deriv,
                }
            }
            Op::Affine { scale, shift } => Instr::Affine {
                out,
                input: input(self, 0),
                scale,
                shift,
            },
            Op::Add | Op::Sub | Op::Mul => Instr::Binary {
                out,
                a: input(self, 0),
                b: input(self, 1),
                op: match node.op {
                    Op::Add => Binary::Add,
                    Op::Sub => Binary::Sub,
                    _ => Binary::Mul,
                },
            },
            Op::LayerNorm { eps, weight, .. } | Op::RmsNorm { eps, weight } => {
                let bias = match node.op {
                    Op::LayerNorm { bias, .. } => bias,
                    _ => None,
                };
                let xhat = self.tensor(width, Kind::Vector, format!("{name} xhat"), varies);
                let rstd = self.tensor(1, Kind::Scalar, format!("{name} rstd"), varies);
                Instr::Norm {
                    out,
                    input: input(self, 0),
                    centred: matches!(node.op, Op::LayerNorm { .. }),
                    eps,
                    gain: weight.map(|p| self.packing.params[p]),
                    bias: bias.map(|p| self.packing.params[p]),
                    xhat,
                    rstd,
                }
            }
            Op::Concat => {
                let mut at = 0;
                for i in 0..node.inputs.len() {
                    let t = input(self, i);
                    let len = self.tensors[t].width;
                    self.push(
                        varies,
                        Instr::Copy {
                            out,
                            at,
                            input: t,
                            from: 0,
                            len,
                        },
                    );
                    at += len;
                }
                return;
            }
            Op::Slice { start, len } => Instr::Copy {
                out,
                at: 0,
                input: input(self, 0),
                from: start,
                len,
            },
        };
        self.push(varies, instr);
    }

    fn push(&mut self, varies: bool, instr: Instr) {
        if varies {
            self.forward.push(instr);
        } else {
            self.pre.push(instr);
        }
    }

    /// The backward pass of `forward` (and in Mode::Train of everything), its deltas, and
    /// the delta of y.
    #[allow(clippy::type_complexity)]
    fn derive_backward(&mut self, heads: &[HeadTerm], y: usize) -> (Vec<Back>, Vec<usize>, usize) {
        let mut delta = vec![usize::MAX; self.tensors.len()];
        let mut deltas = Vec::new();
        // The delta of tensor t, made on first use.
        fn delta_of(
            s: &mut Lowering<'_>,
            delta: &mut [usize],
            deltas: &mut Vec<usize>,
            t: usize,
        ) -> usize {
            if delta[t] == usize::MAX {
                let d = s.tensor(
                    s.tensors[t].width,
                    Kind::Vector,
                    format!("d {}", s.tensors[t].name),
                    true,
                );
                delta[t] = d;
                deltas.push(d);
            }
            delta[t]
        }
        // A delta exists for what varies; x's is never needed.
        let wants = |s: &Self, t: usize| s.varies[t] && s.tensors[t].name != "x";
        let dy = delta_of(self, &mut delta, &mut deltas, y);
        let mut back = Vec::new();
        for h in heads {
            if wants(self, h.input) {
                let d = delta_of(self, &mut delta, &mut deltas, h.input);
                back.push(Back::Head {
                    delta: d,
                    input: h.input,
                    head: h.head,
                    scale: h.scale,
                });
            }
        }
        let forward = self.forward.clone();
        for instr in forward.iter().rev() {
            let (_, writes) = Program::reads_writes(instr);
            let out = writes[0];
            if !wants(self, out) {
                continue;
            }
            let Some(d_out) = (delta.get(out).copied()).filter(|&d| d != usize::MAX) else {
                // Nothing read it on the way to the energy.
                continue;
            };
            match instr {
                Instr::Load { .. } => {}
                Instr::Linear {
                    n_out,
                    weight,
                    weight_t,
                    ld,
                    blocks,
                    ..
                } => {
                    for b in blocks {
                        if wants(self, b.input) {
                            let d_in = delta_of(self, &mut delta, &mut deltas, b.input);
                            back.push(Back::Linear {
                                d_in,
                                d_out,
                                n_out: *n_out,
                                weight: *weight,
                                weight_t: *weight_t,
                                ld: *ld,
                                col: b.col,
                                width: b.width,
                            });
                        }
                    }
                }
                Instr::Activation { input, deriv, .. } => {
                    if wants(self, *input) {
                        let d_in = delta_of(self, &mut delta, &mut deltas, *input);
                        back.push(Back::MulAdd {
                            dst: d_in,
                            a: d_out,
                            b: deriv.expect("a varying activation keeps its derivative"),
                        });
                    }
                }
                Instr::Affine { input, scale, .. } => {
                    if wants(self, *input) {
                        let d_in = delta_of(self, &mut delta, &mut deltas, *input);
                        let len = self.tensors[*input].width;
                        back.push(Back::Axpy {
                            dst: d_in,
                            at: 0,
                            src: d_out,
                            from: 0,
                            len,
                            scale: *scale,
                        });
                    }
                }
                Instr::Binary { a, b, op, .. } => {
                    let len = self.tensors[*a].width;
                    for (t, other, sign) in [(*a, *b, 1.0), (*b, *a, -1.0)] {
                        if !wants(self, t) {
                            continue;
                        }
                        let d = delta_of(self, &mut delta, &mut deltas, t);
                        back.push(match op {
                            Binary::Mul => Back::MulAdd {
                                dst: d,
                                a: d_out,
                                b: other,
                            },
                            _ => Back::Axpy {
                                dst: d,
                                at: 0,
                                src: d_out,
                                from: 0,
                                len,
                                scale: if *op == Binary::Sub { sign } else { 1.0 },
                            },
                        });
                    }
                }
                Instr::Norm {
                    input,
                    centred,
                    gain,
                    xhat,
                    rstd,
                    ..
                } => {
                    if wants(self, *input) {
                        let d_in = delta_of(self, &mut delta, &mut deltas, *input);
                        back.push(Back::Norm {
                            d_in,
                            d_out,
                            centred: *centred,
                            gain: *gain,
                            xhat: *xhat,
                            rstd: *rstd,
                        });
                    }
                }
                Instr::Copy {
                    at,
                    input,
                    from,
                    len,
                    ..
                } => {
                    if wants(self, *input) {
                        let d_in = delta_of(self, &mut delta, &mut deltas, *input);
                        back.push(Back::Axpy {
                            dst: d_in,
                            at: *from,
                            src: d_out,
                            from: *at,
                            len: *len,
                            scale: 1.0,
                        });
                    }
                }
            }
        }
        // Each delta zeroed just before the first instruction that adds to it; one that
        // nothing adds to (dE/dy of an energy that ignores y) at the start.
        let mut zeroed = Vec::new();
        let mut out = Vec::new();
        for b in back {
            let (_, d) = Program::back_reads_writes(&b);
            if !zeroed.contains(&d) {
                zeroed.push(d);
                out.push(Back::Zero { delta: d });
            }
            out.push(b);
        }
        if !zeroed.contains(&dy) {
            out.insert(0, Back::Zero { delta: dy });
        }
        (out, delta, dy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::energy::{GraphBuilder, ModelSpec, Output};

    fn mlp() -> Model {
        Model::random(
            &ModelSpec {
                x_dim: 3,
                y_dim: 2,
                hidden: vec![8, 8],
                outputs: 1,
                activation: Activation::Silu,
                output: Output::Identity,
            },
            0,
        )
        .unwrap()
    }

    #[test]
    fn an_mlp_splits_w_x_x_plus_b_off_into_pre() {
        let p = Program::lower(&mlp(), Mode::Infer);
        // Load x, then layer 0's x part.
        assert_eq!(p.pre.len(), 2);
        assert!(matches!(p.pre[1], Instr::Linear { bias: Some(_), .. }));
        match &p.forward[1] {
            Instr::Linear {
                blocks, init, bias, ..
            } => {
                assert_eq!(blocks.len(), 1);
                assert_eq!(blocks[0].col, 3);
                assert!(init.is_some() && bias.is_none());
            }
            other => panic!("{other:?}"),
        }
        // Training keeps it whole.
        let t = Program::lower(&mlp(), Mode::Train);
        assert!(matches!(&t.forward[1], Instr::Linear { blocks, .. } if blocks.len() == 2));
    }

    #[test]
    fn dead_nodes_and_concats_read_through_are_dropped() {
        let mut g = GraphBuilder::new(2, 3, 0);
        let c = g.concat(&[g.x(), g.y()]);
        let h = g.linear(&[c], 4, true);
        let _unused = g.activation(h, Activation::Tanh);
        g.energy(Head::SumSquares, h, 1.0);
        let p = Program::lower(&g.build().unwrap(), Mode::Infer);
        let copies = p
            .instructions()
            .filter(|i| matches!(i, Instr::Copy { .. }))
            .count();
        let acts = p
            .instructions()
            .filter(|i| matches!(i, Instr::Activation { .. }))
            .count();
        assert_eq!((copies, acts), (0, 0));
    }

    #[test]
    fn storage_is_shared_only_between_lives_that_do_not_overlap() {
        let model = mlp();
        for mode in [Mode::Infer, Mode::Train] {
            let p = Program::lower(&model, mode);
            let (offset, total) = p.allocate(|t| t.width);
            let placed: Vec<usize> = (0..p.tensors.len())
                .filter(|&t| offset[t] != usize::MAX)
                .collect();
            let sum: usize = placed.iter().map(|&t| p.tensors[t].width).sum();
            if mode == Mode::Train {
                assert_eq!(total, sum, "training keeps every tensor");
            } else {
                assert!(total < sum, "inference shares storage ({total} of {sum})");
            }
        }
    }
}
