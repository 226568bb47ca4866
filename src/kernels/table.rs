//! The energy's program table: the lowered programs (`kernels::program`) encoded as
//! instructions of INSTR_WORDS words, with the layered path's products, the weight
//! gradients' entries and the transposed copies the optimiser keeps. The kernels that keep
//! one chain per invocation (the chain path, eval, the layered path's per-chain passes,
//! backprop) run generated calls to shaders/ops_chain.wgsl, one per instruction, which
//! read their offsets and sizes from here (`kernels::codegen`): read at run time, they do
//! not let a compiler unroll every loop of a model (which made llvmpipe's compile times
//! ten times longer), and a call per instruction, rather than an interpreter's branch per
//! opcode, runs only its own loops (llvmpipe executes every branch of an interpreter with
//! its lanes masked, loops included).
//!
//! Layout (u32 words, the `program` binding): a header of TABLE_HEADER words, then the
//! instructions of the inference and training programs and of the layered path's runs
//! of per-chain instructions, and the tables the header points at:
//! - `HEADER_PRODUCTS`, +1: its products, PRODUCT_WORDS each (m, ld, rows, cols, src, dst,
//!   init, start);
//! - `HEADER_GRADS`, +1: the weight gradients' entries, GRAD_WORDS each (kind, first
//!   parameter, end, ld, delta, input, col, width);
//! - `HEADER_TWINS`, +1: the transposed copies, TWIN_WORDS each (first parameter, end,
//!   n_in, n_out, offset of the transpose);
//! - `HEADER_PARAMS`: the parameters' floats.
//!
//! Also the loop iterations each pass runs, for llvmpipe's loop budget (`plan::llvmpipe`).

use super::program::{Back, Binary, Input, Instr, Mode, Program};
use crate::energy::Head;
use crate::kernels::constants::*;

/// Loop iterations of a pass, for llvmpipe's budget.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Loops {
    /// The x-only part, once per dispatch.
    pub pre: u64,
    /// The forward pass and the heads.
    pub forward: u64,
    /// The backward pass.
    pub backward: u64,
}

/// One dispatch of the layered path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LayeredStep {
    /// A run of per-chain instructions (segment i).
    Pointwise(u32),
    /// The tiled product i, with `cols` outputs.
    Product { index: u32, cols: u32 },
}

/// The layered path's dispatches: `pre` once per refinement, `forward` and `backward` at
/// every y (the heads, between them, are the layered_output kernel's).
#[derive(Clone, Debug, Default)]
pub(crate) struct LayeredSteps {
    pub pre: Vec<LayeredStep>,
    pub forward: Vec<LayeredStep>,
    pub backward: Vec<LayeredStep>,
}

/// An encoded instruction: its words' offset in the table (the opcode's word).
pub(crate) type At = u32;

/// The instructions of one program's sections, by where they are in the table.
#[derive(Clone, Debug, Default)]
pub(crate) struct Sections {
    pub pre: Vec<At>,
    pub forward: Vec<At>,
    pub heads: Vec<At>,
    pub backward: Vec<At>,
}

/// A model's encoded programs.
#[derive(Clone, Debug)]
pub(crate) struct Table {
    /// The words of the `program` binding.
    pub words: Vec<u32>,
    /// The inference and training programs' instructions.
    pub infer: Sections,
    pub train: Sections,
    /// The layered path's runs of per-chain instructions (its segments).
    pub segments: Vec<Vec<At>>,
    /// Scratch units (floats) of one chain: the inference program's, the training one's.
    pub units: usize,
    /// Where the inference program leaves dE/dy in scratch.
    pub dy: usize,
    pub train_units: usize,
    /// Loop iterations of the inference passes, per chain.
    pub loops: Loops,
    pub layered: LayeredSteps,
}

/// The words of one instruction: the opcode, then its arguments (zero-filled).
fn instr(op: u32, args: &[u32]) -> [u32; INSTR_WORDS as usize] {
    let mut w = [0u32; INSTR_WORDS as usize];
    w[0] = op;
    w[1..=args.len()].copy_from_slice(args);
    w
}

fn opt(v: Option<usize>) -> u32 {
    v.map_or(NONE, |v| v as u32)
}

fn bits(v: f32) -> u32 {
    v.to_bits()
}

fn head_id(h: Head) -> u32 {
    h.shader_id()
}

fn binary_id(b: Binary) -> u32 {
    match b {
        Binary::Add => BINARY_ADD,
        Binary::Sub => BINARY_SUB,
        Binary::Mul => BINARY_MUL,
    }
}

/// llvmpipe loop iterations of a dot-row instruction (ops_chain.wgsl's g_dot_rows).
fn dot_loops(rows: usize, n: usize) -> u64 {
    (rows * (n / 8 + n % 8 + 2) + 1) as u64
}

/// A program's instructions over scratch offsets `at`.
struct Encoder<'p> {
    p: &'p Program,
    at: Vec<usize>,
}

impl Encoder<'_> {
    fn t(&self, t: usize) -> u32 {
        self.at[t] as u32
    }

    fn width(&self, t: usize) -> u32 {
        self.p.tensors[t].width as u32
    }

    /// A forward instruction (a linear's fill and each block's rows), with its loop count.
    fn forward(&self, i: &Instr, out: &mut Vec<[u32; INSTR_WORDS as usize]>) -> u64 {
        let p = self.p;
        match i {
            Instr::Load { out: o, input } => {
                let (op, n) = match input {
                    Input::X => (OP_LOAD_X, p.x_dim),
                    Input::Y => (OP_LOAD_Y, p.y_dim),
                    Input::T => (OP_LOAD_T, 0),
                };
                out.push(instr(op, &[self.t(*o)]));
                n as u64 + 1
            }
            Instr::Linear {
                out: o,
                n_out,
                weight,
                ld,
                blocks,
                bias,
                init,
                ..
            } => {
                out.push(match init {
                    Some(t) => instr(OP_COPY, &[self.t(*o), self.t(*t), *n_out as u32]),
                    None => instr(OP_FILL, &[self.t(*o), *n_out as u32, opt(*bias)]),
                });
                let mut loops = *n_out as u64 + 1;
                for b in blocks {
                    out.push(instr(
                        OP_DOT_ROWS,
                        &[
                            self.t(*o),
                            *n_out as u32,
                            (weight + b.col) as u32,
                            *ld as u32,
                            self.t(b.input),
                            b.width as u32,
                        ],
                    ));
                    loops += dot_loops(*n_out, b.width);
                }
                loops
            }
            Instr::Activation {
                out: o,
                input,
                kind,
                deriv,
            } => {
                out.push(instr(
                    OP_ACTIVATION,
                    &[
                        self.t(*o),
                        deriv.map_or(NONE, |d| self.t(d)),
                        self.t(*input),
                        self.width(*o),
                        kind.shader_id(),
                    ],
                ));
                self.width(*o) as u64 + 1
            }
            Instr::Affine {
                out: o,
                input,
                scale,
                shift,
            } => {
                out.push(instr(
                    OP_AFFINE,
                    &[
                        self.t(*o),
                        self.t(*input),
                        self.width(*o),
                        bits(*scale),
                        bits(*shift),
                    ],
                ));
                self.width(*o) as u64 + 1
            }
            Instr::Binary { out: o, a, b, op } => {
                out.push(instr(
                    OP_BINARY,
                    &[
                        self.t(*o),
                        self.t(*a),
                        self.t(*b),
                        self.width(*o),
                        binary_id(*op),
                    ],
                ));
                self.width(*o) as u64 + 1
            }
            Instr::Norm {
                out: o,
                input,
                centred,
                eps,
                gain,
                bias,
                xhat,
                rstd,
            } => {
                out.push(instr(
                    OP_NORM,
                    &[
                        self.t(*o),
                        self.t(*xhat),
                        self.t(*rstd),
                        self.t(*input),
                        self.width(*o),
                        u32::from(*centred),
                        bits(*eps),
                        opt(*gain),
                        opt(*bias),
                    ],
                ));
                3 * self.width(*o) as u64 + 3
            }
            Instr::Copy {
                out: o,
                at,
                input,
                from,
                len,
            } => {
                out.push(instr(
                    OP_COPY,
                    &[
                        (self.at[*o] + at) as u32,
                        (self.at[*input] + from) as u32,
                        *len as u32,
                    ],
                ));
                *len as u64 + 1
            }
        }
    }

    fn heads(&self, out: &mut Vec<[u32; INSTR_WORDS as usize]>) -> u64 {
        let mut loops = 0;
        for h in &self.p.heads {
            let n = self.width(h.input);
            out.push(instr(
                OP_HEAD,
                &[self.t(h.input), n, head_id(h.head), bits(h.scale)],
            ));
            loops += if h.head == Head::LogSumExp {
                2 * n + 2
            } else {
                n + 1
            } as u64;
        }
        loops
    }

    fn back(&self, b: &Back, out: &mut Vec<[u32; INSTR_WORDS as usize]>) -> u64 {
        match b {
            Back::Zero { delta } => {
                out.push(instr(OP_ZERO, &[self.t(*delta), self.width(*delta)]));
                self.width(*delta) as u64 + 1
            }
            Back::Head {
                delta,
                input,
                head,
                scale,
            } => {
                let n = self.width(*input);
                out.push(instr(
                    OP_HEAD_BACK,
                    &[
                        self.t(*delta),
                        self.t(*input),
                        n,
                        head_id(*head),
                        bits(*scale),
                    ],
                ));
                if *head == Head::LogSumExp {
                    3 * n as u64 + 3
                } else {
                    n as u64 + 1
                }
            }
            Back::Linear {
                d_in,
                d_out,
                n_out,
                weight_t,
                col,
                width,
                ..
            } => {
                out.push(instr(
                    OP_DOT_ROWS,
                    &[
                        self.t(*d_in),
                        *width as u32,
                        (weight_t + col * n_out) as u32,
                        *n_out as u32,
                        self.t(*d_out),
                        *n_out as u32,
                    ],
                ));
                dot_loops(*width, *n_out)
            }
            Back::MulAdd { dst, a, b } => {
                out.push(instr(
                    OP_MUL_ADD,
                    &[self.t(*dst), self.t(*a), self.t(*b), self.width(*dst)],
                ));
                self.width(*dst) as u64 + 1
            }
            Back::Axpy {
                dst,
                at,
                src,
                from,
                len,
                scale,
            } => {
                out.push(instr(
                    OP_AXPY,
                    &[
                        (self.at[*dst] + at) as u32,
                        (self.at[*src] + from) as u32,
                        *len as u32,
                        bits(*scale),
                    ],
                ));
                *len as u64 + 1
            }
            Back::Norm {
                d_in,
                d_out,
                centred,
                gain,
                xhat,
                rstd,
            } => {
                let n = self.width(*d_out);
                out.push(instr(
                    OP_NORM_BACK,
                    &[
                        self.t(*d_in),
                        self.t(*d_out),
                        self.t(*xhat),
                        self.t(*rstd),
                        n,
                        u32::from(*centred),
                        opt(*gain),
                    ],
                ));
                2 * n as u64 + 2
            }
        }
    }
}

/// The table's words as they are appended: instructions, then the tables.
struct Words {
    words: Vec<u32>,
}

impl Words {
    /// Appends instructions; returns where each starts.
    fn section(&mut self, instrs: &[[u32; INSTR_WORDS as usize]]) -> Vec<At> {
        instrs
            .iter()
            .map(|i| {
                let at = self.words.len() as u32;
                self.words.extend_from_slice(i);
                at
            })
            .collect()
    }

    fn set(&mut self, at: u32, values: &[u32]) {
        let at = at as usize;
        self.words[at..at + values.len()].copy_from_slice(values);
    }
}

/// Encodes a model's inference program `infer` and training program `train`.
pub(crate) fn encode(infer: &Program, train: &Program) -> Table {
    assert_eq!((infer.mode, train.mode), (Mode::Infer, Mode::Train));
    let mut w = Words {
        words: vec![0; TABLE_HEADER as usize],
    };
    // The passes of each program.
    let passes = |p: &Program, w: &mut Words| -> (usize, usize, Loops, Sections) {
        let (at, units) = p.allocate(|t| t.width);
        let dy = at[p.dy];
        let e = Encoder { p, at };
        let mut loops = Loops::default();
        let (mut pre, mut fwd, mut heads, mut back) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for i in &p.pre {
            loops.pre += e.forward(i, &mut pre) + 1;
        }
        for i in &p.forward {
            loops.forward += e.forward(i, &mut fwd) + 1;
        }
        loops.forward += e.heads(&mut heads);
        for b in &p.backward {
            loops.backward += e.back(b, &mut back) + 1;
        }

        let sections = Sections {
            pre: w.section(&pre),
            forward: w.section(&fwd),
            heads: w.section(&heads),
            backward: w.section(&back),
        };
        (units, dy, loops, sections)
    };
    let (units, dy, loops, infer_sections) = passes(infer, &mut w);
    let (train_units, _, _, train_sections) = passes(train, &mut w);
    let (layered, segments) = layered(infer, &mut w);
    grads(train, &mut w);
    twins(infer, &mut w);
    w.set(HEADER_PARAMS, &[infer.packing.param_floats as u32]);
    Table {
        words: w.words,
        infer: infer_sections,
        train: train_sections,
        segments,
        units,
        dy,
        train_units,
        loops,
        layered,
    }
}

/// The layered path: the inference program's instructions split at each matrix product,
/// which becomes a tiled dispatch of its own.
fn layered(p: &Program, w: &mut Words) -> (LayeredSteps, Vec<Vec<At>>) {
    let (at, _) = p.allocate(|t| t.width);
    let e = Encoder { p, at };
    let mut segments: Vec<Vec<[u32; INSTR_WORDS as usize]>> = Vec::new();
    let mut products: Vec<[u32; PRODUCT_WORDS as usize]> = Vec::new();
    let flush = |current: &mut Vec<_>, steps: &mut Vec<LayeredStep>, segments: &mut Vec<_>| {
        if !current.is_empty() {
            steps.push(LayeredStep::Pointwise(segments.len() as u32));
            segments.push(std::mem::take(current));
        }
    };
    let product =
        |steps: &mut Vec<LayeredStep>, products: &mut Vec<_>, d: [u32; PRODUCT_WORDS as usize]| {
            steps.push(LayeredStep::Product {
                index: products.len() as u32,
                cols: d[3],
            });
            products.push(d);
        };
    let mut out = LayeredSteps::default();
    for (instrs, steps) in [(&p.pre, &mut out.pre), (&p.forward, &mut out.forward)] {
        let mut current = Vec::new();
        for i in instrs {
            match i {
                Instr::Linear {
                    out: o,
                    n_out,
                    weight_t,
                    blocks,
                    bias,
                    init,
                    ..
                } if !blocks.is_empty() => {
                    flush(&mut current, steps, &mut segments);
                    for (k, b) in blocks.iter().enumerate() {
                        let (mode, start) = match (k, init) {
                            (0, Some(t)) => (INIT_TENSOR, e.t(*t)),
                            (0, None) => (INIT_FILL, opt(*bias)),
                            _ => (INIT_ADD, NONE),
                        };
                        let d = [
                            (weight_t + b.col * n_out) as u32,
                            *n_out as u32,
                            b.width as u32,
                            *n_out as u32,
                            e.t(b.input),
                            e.t(*o),
                            mode,
                            start,
                        ];
                        product(steps, &mut products, d);
                    }
                }
                other => {
                    e.forward(other, &mut current);
                }
            }
        }
        flush(&mut current, steps, &mut segments);
    }
    let mut current = Vec::new();
    for b in &p.backward {
        match b {
            Back::Linear {
                d_in,
                d_out,
                n_out,
                weight,
                ld,
                col,
                width,
                ..
            } => {
                flush(&mut current, &mut out.backward, &mut segments);
                let d = [
                    (weight + col) as u32,
                    *ld as u32,
                    *n_out as u32,
                    *width as u32,
                    e.t(*d_out),
                    e.t(*d_in),
                    INIT_ADD,
                    NONE,
                ];
                product(&mut out.backward, &mut products, d);
            }
            other => {
                e.back(other, &mut current);
            }
        }
    }
    flush(&mut current, &mut out.backward, &mut segments);
    // The segments' instructions, then the products.
    let segments: Vec<Vec<At>> = segments.iter().map(|s| w.section(s)).collect();
    let table = w.words.len() as u32;
    for d in &products {
        w.words.extend_from_slice(d);
    }
    w.set(HEADER_PRODUCTS, &[table, products.len() as u32]);
    (out, segments)
}

/// The weight gradients' entries: for each parameter a node reads, where its gradient's
/// factors are in the training program's scratch.
fn grads(p: &Program, w: &mut Words) {
    let (at, _) = p.allocate(|t| t.width);
    let sizes: Vec<usize> = {
        let mut next = p.packing.params.clone();
        next.push(p.packing.param_floats);
        next.windows(2).map(|w| w[1] - w[0]).collect()
    };
    let end_of = |offset: usize| {
        let k = p.packing.params.iter().position(|&o| o == offset).unwrap();
        (offset + sizes[k]) as u32
    };
    let mut entries: Vec<[u32; GRAD_WORDS as usize]> = Vec::new();
    for i in p.instructions() {
        match i {
            Instr::Linear {
                out,
                weight,
                ld,
                blocks,
                bias,
                ..
            } => {
                let d = at[p.delta_of[*out]] as u32;
                for b in blocks {
                    entries.push([
                        GRAD_WEIGHT,
                        *weight as u32,
                        end_of(*weight),
                        *ld as u32,
                        d,
                        at[b.input] as u32,
                        b.col as u32,
                        b.width as u32,
                    ]);
                }
                if let Some(b) = bias {
                    entries.push([GRAD_BIAS, *b as u32, end_of(*b), 0, d, 0, 0, 0]);
                }
            }
            Instr::Norm {
                out,
                gain,
                bias,
                xhat,
                ..
            } => {
                let d = at[p.delta_of[*out]] as u32;
                if let Some(g) = gain {
                    entries.push([
                        GRAD_GAIN,
                        *g as u32,
                        end_of(*g),
                        0,
                        d,
                        at[*xhat] as u32,
                        0,
                        0,
                    ]);
                }
                if let Some(b) = bias {
                    entries.push([GRAD_BIAS, *b as u32, end_of(*b), 0, d, 0, 0, 0]);
                }
            }
            _ => {}
        }
    }
    let table = w.words.len() as u32;
    for e in &entries {
        w.words.extend_from_slice(e);
    }
    w.set(HEADER_GRADS, &[table, entries.len() as u32]);
}

/// Where the optimiser writes each linear weight's transposed copy.
fn twins(p: &Program, w: &mut Words) {
    let table = w.words.len() as u32;
    for &(param, n_out, n_in, t) in &p.packing.transposed {
        let start = p.packing.params[param];
        w.words.extend([
            start as u32,
            (start + n_out * n_in) as u32,
            n_in as u32,
            n_out as u32,
            t as u32,
        ]);
    }
    w.set(HEADER_TWINS, &[table, p.packing.transposed.len() as u32]);
}
