//! The energy's WGSL: a lowered program (`kernels::program`) written out as calls to the ops
//! of one path shape, one call per instruction, with every offset and size a constant.
//! Each shape's ops are written once in WGSL (`shaders/ops_chain.wgsl`,
//! `shaders/ops_tile.wgsl`); what is generated is only their order and arguments:
//!
//! | file                  | shape, for                          | functions                          |
//! |-----------------------|-------------------------------------|------------------------------------|
//! | `energy_chain.wgsl`   | one chain per invocation: chain, eval | `energy_pre`, `energy_forward`, `energy_backward` |
//! | `energy_layered.wgsl` | the same ops, split into dispatches | `layered_segment`, `layered_heads`, `product_desc` |
//! | `energy_tile.wgsl`    | a tile of chains per workgroup      | `energy_pre`, `energy_forward`, `energy_backward` |
//! | `energy_train.wgsl`   | one chain per invocation, every value kept | `energy_pre`, `energy_forward`, `energy_backward` |
//! | `energy_grads.wgsl`   | the weight gradients of that pass   | `param_grad`                       |
//! | `energy_packing.wgsl` | the optimiser                       | `transposed_twin`                  |
//!
//! Each also counts the loop iterations its calls run, for llvmpipe's loop limit
//! (`plan::llvmpipe`).

use std::fmt::Write;

use super::program::{Back, Binary, Instr, Kind, Mode, Program};
use crate::constants::{INIT_ADD, INIT_FILL, INIT_TENSOR, NARROW, TILE_THREADS};
use crate::energy::Head;

/// Loop iterations of a pass, for llvmpipe's budget.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Loops {
    /// `energy_pre`, once per dispatch.
    pub pre: u64,
    /// `energy_forward`.
    pub forward: u64,
    /// `energy_backward`.
    pub backward: u64,
}

/// Generated code and what it needs.
#[derive(Clone, Debug)]
pub(crate) struct Generated {
    /// The WGSL file.
    pub text: String,
    /// Per-chain storage: scratch units (chain shape) or vec4 registers per thread (tile).
    pub store: usize,
    /// Loop iterations (chain shape: per chain; tile: per thread).
    pub loops: Loops,
}

fn u(v: usize) -> String {
    format!("{v}u")
}

/// A float literal WGSL reads back as the same f32.
fn f(v: f32) -> String {
    let s = format!("{v:?}");
    if s.contains(['.', 'e']) {
        s
    } else {
        s + ".0"
    }
}

fn opt(v: Option<usize>) -> String {
    v.map_or("NONE".into(), u)
}

fn activation_const(a: crate::energy::Activation) -> String {
    format!("ACTIVATION_{}", a.name().to_uppercase())
}

fn head_const(h: Head) -> String {
    format!("HEAD_{}", h.name().to_uppercase())
}

fn binary_const(b: Binary) -> &'static str {
    match b {
        Binary::Add => "BINARY_ADD",
        Binary::Sub => "BINARY_SUB",
        Binary::Mul => "BINARY_MUL",
    }
}

/// A comment naming the tensors of an instruction (names come from the model: only their
/// printable characters are kept).
fn note(p: &Program, t: usize) -> String {
    p.tensors[t]
        .name
        .chars()
        .map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' })
        .collect()
}

/// How the chain-shaped code stores tensors: scratch offsets.
struct ChainWriter<'p> {
    p: &'p Program,
    at: Vec<usize>,
}

/// llvmpipe loop iterations of a dot-row call (ops_chain.wgsl's g_dot_rows).
fn dot_loops(rows: usize, n: usize) -> u64 {
    (rows * (n / 8 + n % 8 + 2) + 1) as u64
}

impl ChainWriter<'_> {
    fn t(&self, t: usize) -> String {
        u(self.at[t])
    }

    fn width(&self, t: usize) -> usize {
        self.p.tensors[t].width
    }

    /// One forward instruction as calls, with its loop count.
    fn instr(&self, i: &Instr, out: &mut String) -> u64 {
        let p = self.p;
        match i {
            Instr::Load { out: o, y } => {
                let (what, n) = if *y { ("y", p.y_dim) } else { ("x", p.x_dim) };
                let _ = writeln!(out, "    g_load_{what}(c, {});", self.t(*o));
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
                let _ = writeln!(out, "    // {}", note(p, *o));
                let mut loops = *n_out as u64 + 1;
                match init {
                    Some(t) => {
                        let _ = writeln!(out, "    g_copy(c, {}, {}, {});", self.t(*o), self.t(*t), u(*n_out));
                    }
                    None => {
                        let _ = writeln!(out, "    g_fill(c, {}, {}, {});", self.t(*o), u(*n_out), opt(*bias));
                    }
                }
                for b in blocks {
                    let _ = writeln!(
                        out,
                        "    g_dot_rows(c, {}, {}, {}, {}, {}, {});",
                        self.t(*o),
                        u(*n_out),
                        u(weight + b.col),
                        u(*ld),
                        self.t(b.input),
                        u(b.width)
                    );
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
                let _ = writeln!(
                    out,
                    "    g_activation(c, {}, {}, {}, {}, {});  // {}",
                    self.t(*o),
                    deriv.map_or("NONE".into(), |d| self.t(d)),
                    self.t(*input),
                    u(self.width(*o)),
                    activation_const(*kind),
                    note(p, *o)
                );
                self.width(*o) as u64 + 1
            }
            Instr::Affine {
                out: o,
                input,
                scale,
                shift,
            } => {
                let _ = writeln!(
                    out,
                    "    g_affine(c, {}, {}, {}, {}, {});",
                    self.t(*o),
                    self.t(*input),
                    u(self.width(*o)),
                    f(*scale),
                    f(*shift)
                );
                self.width(*o) as u64 + 1
            }
            Instr::Binary { out: o, a, b, op } => {
                let _ = writeln!(
                    out,
                    "    g_binary(c, {}, {}, {}, {}, {});",
                    self.t(*o),
                    self.t(*a),
                    self.t(*b),
                    u(self.width(*o)),
                    binary_const(*op)
                );
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
                let _ = writeln!(
                    out,
                    "    g_norm(c, {}, {}, {}, {}, {}, {centred}, {}, {}, {});  // {}",
                    self.t(*o),
                    self.t(*xhat),
                    self.t(*rstd),
                    self.t(*input),
                    u(self.width(*o)),
                    f(*eps),
                    opt(*gain),
                    opt(*bias),
                    note(p, *o)
                );
                3 * self.width(*o) as u64 + 3
            }
            Instr::Copy {
                out: o,
                at,
                input,
                from,
                len,
            } => {
                let _ = writeln!(
                    out,
                    "    g_copy(c, {}, {}, {});",
                    u(self.at[*o] + at),
                    u(self.at[*input] + from),
                    u(*len)
                );
                *len as u64 + 1
            }
        }
    }

    /// The energy's terms as `e += ...` lines.
    fn heads(&self, out: &mut String) -> u64 {
        let mut loops = 0;
        for h in &self.p.heads {
            let n = self.width(h.input);
            let _ = writeln!(
                out,
                "    e += {} * g_head(c, {}, {}, {});",
                f(h.scale),
                self.t(h.input),
                u(n),
                head_const(h.head)
            );
            loops += if h.head == Head::LogSumExp { 2 * n + 2 } else { n + 1 } as u64;
        }
        loops
    }

    /// One backward instruction as calls, with its loop count.
    fn back(&self, b: &Back, out: &mut String) -> u64 {
        let p = self.p;
        match b {
            Back::Zero { delta } => {
                let _ = writeln!(out, "    g_zero(c, {}, {});", self.t(*delta), u(self.width(*delta)));
                self.width(*delta) as u64 + 1
            }
            Back::Head {
                delta,
                input,
                head,
                scale,
            } => {
                let n = self.width(*input);
                let _ = writeln!(
                    out,
                    "    g_head_back(c, {}, {}, {}, {}, {});",
                    self.t(*delta),
                    self.t(*input),
                    u(n),
                    head_const(*head),
                    f(*scale)
                );
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
                let _ = writeln!(
                    out,
                    "    g_dot_rows(c, {}, {}, {}, {}, {}, {});  // {}",
                    self.t(*d_in),
                    u(*width),
                    u(weight_t + col * n_out),
                    u(*n_out),
                    self.t(*d_out),
                    u(*n_out),
                    note(p, *d_in)
                );
                dot_loops(*width, *n_out)
            }
            Back::MulAdd { dst, a, b } => {
                let _ = writeln!(
                    out,
                    "    g_mul_add(c, {}, {}, {}, {});",
                    self.t(*dst),
                    self.t(*a),
                    self.t(*b),
                    u(self.width(*dst))
                );
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
                let _ = writeln!(
                    out,
                    "    g_axpy(c, {}, {}, {}, {});",
                    u(self.at[*dst] + at),
                    u(self.at[*src] + from),
                    u(*len),
                    f(*scale)
                );
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
                let _ = writeln!(
                    out,
                    "    g_norm_back(c, {}, {}, {}, {}, {}, {centred}, {});",
                    self.t(*d_in),
                    self.t(*d_out),
                    self.t(*xhat),
                    self.t(*rstd),
                    u(n),
                    opt(*gain)
                );
                2 * n as u64 + 2
            }
        }
    }
}

const HEADER: &str = "// Generated by the host from the model's graph (src/kernels/codegen.rs); not a file of shaders/.\n";

/// `energy_chain.wgsl` (Mode::Infer) or the passes of `energy_train.wgsl` (Mode::Train):
/// the energy for one chain per invocation.
pub(crate) fn chain(p: &Program) -> Generated {
    let (at, store) = p.allocate(|t| t.width);
    let w = ChainWriter { p, at };
    let mut text = String::from(HEADER);
    text += "\n#import ops_chain.wgsl\n\n";
    let mut loops = Loops::default();
    text += "// What depends on x alone, once per chain and dispatch.\nfn energy_pre(c: u32) {\n";
    for i in &p.pre {
        loops.pre += w.instr(i, &mut text);
    }
    text += "}\n\n// The energy of chain c's y (the prior is the sampler's).\nfn energy_forward(c: u32) -> f32 {\n";
    for i in &p.forward {
        loops.forward += w.instr(i, &mut text);
    }
    text += "    return energy_heads(c);\n}\n\n// The energy's terms over what energy_forward left.\nfn energy_heads(c: u32) -> f32 {\n    var e = 0.0;\n";
    loops.forward += w.heads(&mut text);
    text += "    return e;\n}\n\n// dE/dy into grads, from what energy_forward left.\nfn energy_backward(c: u32) {\n";
    for b in &p.backward {
        loops.backward += w.back(b, &mut text);
    }
    let _ = writeln!(text, "    g_store_dy(c, {});\n}}", w.t(p.dy));
    loops.backward += p.y_dim as u64 + 1;
    Generated { text, store, loops }
}

/// `energy_grads.wgsl`: `param_grad(p)`, sum over the chains of chain_weights[c]
/// dE_c/dtheta_p, from the values and deltas the training pass (`chain` of the training
/// program) kept in scratch.
pub(crate) fn param_grads(p: &Program) -> String {
    assert_eq!(p.mode, Mode::Train, "weight gradients read a training program's scratch");
    let (at, _) = p.allocate(|t| t.width);
    let param_of = |offset: usize| p.packing.params.iter().position(|&o| o == offset).unwrap();
    let mut text = format!(
        "{HEADER}\n// The model's parameters (the packed weights before the transposed copies).\nconst N_PARAMS: u32 = {};\n\n// dE/dtheta of parameter p (packed index), summed over the chains with their weights.\nfn param_grad(p: u32) -> f32 {{\n    var g = 0.0;\n",
        u(p.packing.param_floats)
    );
    let sizes: Vec<usize> = {
        let mut next = p.packing.params.clone();
        next.push(p.packing.param_floats);
        next.windows(2).map(|w| w[1] - w[0]).collect()
    };
    let range = |offset: usize| format!("p >= {} && p < {}", u(offset), u(offset + sizes[param_of(offset)]));
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
                let d = at[p.delta_of[*out]];
                let _ = writeln!(text, "    if {} {{  // {}", range(*weight), note(p, *out));
                let _ = writeln!(text, "        let j = (p - {}) / {};\n        let i = (p - {}) % {};", u(*weight), u(*ld), u(*weight), u(*ld));
                for b in blocks {
                    let _ = writeln!(
                        text,
                        "        if i >= {} && i < {} {{ g += chain_sum2({} + j, {} + i - {}); }}",
                        u(b.col),
                        u(b.col + b.width),
                        u(d),
                        u(at[b.input]),
                        u(b.col)
                    );
                }
                text += "    }\n";
                if let Some(b) = bias {
                    let _ = writeln!(text, "    if {} {{ g += chain_sum1({} + p - {}); }}", range(*b), u(d), u(*b));
                }
            }
            Instr::Norm {
                out,
                gain,
                bias,
                xhat,
                ..
            } => {
                let d = at[p.delta_of[*out]];
                if let Some(gn) = gain {
                    let _ = writeln!(
                        text,
                        "    if {} {{ g += chain_sum2({} + p - {}, {} + p - {}); }}  // {}",
                        range(*gn),
                        u(d),
                        u(*gn),
                        u(at[*xhat]),
                        u(*gn),
                        note(p, *out)
                    );
                }
                if let Some(b) = bias {
                    let _ = writeln!(text, "    if {} {{ g += chain_sum1({} + p - {}); }}", range(*b), u(d), u(*b));
                }
            }
            _ => {}
        }
    }
    text += "    return g;\n}\n";
    text
}

/// `energy_packing.wgsl`: where the optimiser writes each linear weight's transposed twin.
pub(crate) fn packing(p: &Program) -> String {
    let mut text = String::from(HEADER);
    text += "\n// The packed index of parameter p's transposed copy, or NONE.\nfn transposed_twin(p: u32) -> u32 {\n";
    for &(param, n_out, n_in, t) in &p.packing.transposed {
        let w = p.packing.params[param];
        let _ = writeln!(
            text,
            "    if p >= {} && p < {} {{\n        let q = p - {};\n        return {} + (q % {}) * {} + q / {};\n    }}",
            u(w),
            u(w + n_out * n_in),
            u(w),
            u(t),
            u(n_in),
            u(n_out),
            u(n_in)
        );
    }
    text += "    return NONE;\n}\n";
    text
}

/// One dispatch of the layered path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LayeredStep {
    /// `layered_segment(i, c)`: a run of per-chain instructions.
    Pointwise(u32),
    /// The tiled product `product_desc(i)` with `cols` outputs.
    Product { index: u32, cols: u32 },
}

/// The layered path's code and its dispatches: `pre` once per refinement, `forward` and
/// `backward` at every y (the heads, between them, are `layered_heads`).
#[derive(Clone, Debug)]
pub(crate) struct Layered {
    pub code: Generated,
    pub pre: Vec<LayeredStep>,
    pub forward: Vec<LayeredStep>,
    pub backward: Vec<LayeredStep>,
}


/// `energy_layered.wgsl`: the chain-shaped ops split at each matrix product, which becomes
/// a tiled dispatch of its own.
pub(crate) fn layered(p: &Program) -> Layered {
    let (at, store) = p.allocate(|t| t.width);
    let w = ChainWriter { p, at };
    let mut segments: Vec<String> = Vec::new();
    let mut products: Vec<String> = Vec::new();
    let mut loops = Loops::default();
    // Appends a run of pointwise code (if any) as a segment.
    let flush = |current: &mut String, steps: &mut Vec<LayeredStep>, segments: &mut Vec<String>| {
        if !current.is_empty() {
            steps.push(LayeredStep::Pointwise(segments.len() as u32));
            segments.push(std::mem::take(current));
        }
    };
    let mut product = |steps: &mut Vec<LayeredStep>, desc: String, cols: usize| {
        steps.push(LayeredStep::Product {
            index: products.len() as u32,
            cols: cols as u32,
        });
        products.push(desc);
    };
    let desc = |m: usize, ld: usize, rows: usize, cols: usize, src: usize, dst: usize, init: u32, from: String| {
        format!(
            "ProductDesc({}, {}, {}, {}, {}, {}, {}u, {})",
            u(m),
            u(ld),
            u(rows),
            u(cols),
            u(src),
            u(dst),
            init,
            from
        )
    };
    let mut forward_pass = |instrs: &[Instr], steps: &mut Vec<LayeredStep>, segments: &mut Vec<String>, loops: &mut u64| {
        let mut current = String::new();
        for i in instrs {
            match i {
                Instr::Linear {
                    out,
                    n_out,
                    weight_t,
                    blocks,
                    bias,
                    init,
                    ..
                } => {
                    flush(&mut current, steps, segments);
                    for (k, b) in blocks.iter().enumerate() {
                        let (mode, from) = match (k, init) {
                            (0, Some(t)) => (INIT_TENSOR, u(w.at[*t])),
                            (0, None) => (INIT_FILL, opt(*bias)),
                            _ => (INIT_ADD, "NONE".into()),
                        };
                        let d = desc(
                            weight_t + b.col * n_out,
                            *n_out,
                            b.width,
                            *n_out,
                            w.at[b.input],
                            w.at[*out],
                            mode,
                            from,
                        );
                        product(steps, d, *n_out);
                    }
                    if blocks.is_empty() {
                        // Only the x part (an energy that reads y nowhere here).
                        *loops += w.instr(i, &mut current);
                    }
                }
                other => *loops += w.instr(other, &mut current),
            }
        }
        flush(&mut current, steps, segments);
    };
    let (mut pre, mut forward, mut backward) = (Vec::new(), Vec::new(), Vec::new());
    forward_pass(&p.pre, &mut pre, &mut segments, &mut loops.pre);
    forward_pass(&p.forward, &mut forward, &mut segments, &mut loops.forward);
    let mut current = String::new();
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
                flush(&mut current, &mut backward, &mut segments);
                let d = desc(weight + col, *ld, *n_out, *width, w.at[*d_out], w.at[*d_in], INIT_ADD, "NONE".into());
                product(&mut backward, d, *width);
            }
            other => loops.backward += w.back(other, &mut current),
        }
    }
    let _ = writeln!(current, "    g_store_dy(c, {});", w.t(p.dy));
    flush(&mut current, &mut backward, &mut segments);

    let mut text = String::from(HEADER);
    text += "\n#import ops_chain.wgsl\n\n";
    text += "// A run of per-chain instructions between the products (layered_pointwise).\nfn layered_segment(i: u32, c: u32) {\n    switch i {\n";
    for (k, s) in segments.iter().enumerate() {
        let _ = write!(text, "        case {}: {{\n", u(k));
        for line in s.lines() {
            let _ = writeln!(text, "    {line}");
        }
        text += "        }\n";
    }
    text += "        default: {}\n    }\n}\n\n";
    text += "// The energy's terms (layered_output).\nfn layered_heads(c: u32) -> f32 {\n    var e = 0.0;\n";
    loops.forward += w.heads(&mut text);
    text += "    return e;\n}\n\n";
    text += "// Product i (layered_product).\nfn product_desc(i: u32) -> ProductDesc {\n    switch i {\n";
    for (k, d) in products.iter().enumerate() {
        let _ = writeln!(text, "        case {}: {{ return {d}; }}", u(k));
    }
    text += "        default: { return ProductDesc(0u, 0u, 0u, 0u, 0u, 0u, 0u, NONE); }\n    }\n}\n";
    Layered {
        code: Generated { text, store, loops },
        pre,
        forward,
        backward,
    }
}

/// Vec4 registers a tensor takes per thread of a tile with `lanes` lanes per chain group.
pub(crate) fn tile_slots(width: usize, kind: Kind, lanes: usize) -> usize {
    match kind {
        Kind::Scalar => 1,
        Kind::Vector => width.div_ceil(lanes),
    }
}

/// Lanes per chain group of a tile of `chains` chains.
pub(crate) fn lanes(chains: u32) -> usize {
    (TILE_THREADS / (chains / 4)) as usize
}

/// `energy_tile.wgsl` for tiles of `chains` chains: `store` is the registers per thread.
pub(crate) fn tile(p: &Program, chains: u32) -> Generated {
    let lanes = lanes(chains);
    let (at, store) = p.allocate(|t| tile_slots(t.width, t.kind, lanes));
    let r = |t: usize| u(at[t]);
    let width = |t: usize| p.tensors[t].width;
    // Loop iterations per thread of a product (as tile::loop_iterations counts gemm).
    let mut text = String::from(HEADER);
    text += "\n#import ops_tile.wgsl\n\n";
    let mut loops = Loops::default();
    let units = u64::from(crate::constants::MAX_UNITS) + 1;
    let instr = |i: &Instr, out: &mut String| -> u64 {
        match i {
            Instr::Load { out: o, y } => {
                if *y {
                    let _ = writeln!(out, "    load_y({});", r(*o));
                } else {
                    let _ = writeln!(out, "    t_load_x({});", r(*o));
                }
                units
            }
            Instr::Linear {
                out: o,
                n_out,
                weight_t,
                blocks,
                bias,
                init,
                ..
            } => {
                let _ = writeln!(out, "    // {}", note(p, *o));
                match init {
                    Some(t) => {
                        let _ = writeln!(out, "    t_acc_from({}, {});", r(*t), u(*n_out));
                    }
                    None => {
                        let _ = writeln!(out, "    t_acc_fill({}, {});", u(*n_out), opt(*bias));
                    }
                }
                let mut loops = 2 * units;
                for b in blocks {
                    let _ = writeln!(out, "    t_to_act({}, {});", r(b.input), u(b.width));
                    if *n_out as u32 <= NARROW {
                        out.push_str("    workgroupBarrier();\n");
                    }
                    let _ = writeln!(
                        out,
                        "    product({}, {}, {}, {});",
                        u(weight_t + b.col * n_out),
                        u(*n_out),
                        u(b.width),
                        u(*n_out)
                    );
                    loops += units + gemm_loops(b.width, *n_out, lanes);
                }
                let _ = writeln!(out, "    t_acc_store({}, {});", r(*o), u(*n_out));
                loops
            }
            Instr::Activation {
                out: o,
                input,
                kind,
                deriv,
            } => {
                let _ = writeln!(
                    out,
                    "    t_activation({}, {}, {}, {}, {});  // {}",
                    r(*o),
                    deriv.map_or("NONE".into(), r),
                    r(*input),
                    u(width(*o)),
                    activation_const(*kind),
                    note(p, *o)
                );
                units
            }
            Instr::Affine {
                out: o,
                input,
                scale,
                shift,
            } => {
                let _ = writeln!(out, "    t_affine({}, {}, {}, {}, {});", r(*o), r(*input), u(width(*o)), f(*scale), f(*shift));
                units
            }
            Instr::Binary { out: o, a, b, op } => {
                let _ = writeln!(out, "    t_binary({}, {}, {}, {}, {});", r(*o), r(*a), r(*b), u(width(*o)), binary_const(*op));
                units
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
                let _ = writeln!(
                    out,
                    "    t_norm({}, {}, {}, {}, {}, {centred}, {}, {}, {});  // {}",
                    r(*o),
                    r(*xhat),
                    r(*rstd),
                    r(*input),
                    u(width(*o)),
                    f(*eps),
                    opt(*gain),
                    opt(*bias),
                    note(p, *o)
                );
                3 * units + 2 * lane_total_loops(lanes)
            }
            Instr::Copy {
                out: o,
                at: a,
                input,
                from,
                len,
            } => {
                if a == from {
                    let _ = writeln!(out, "    t_assign({}, {}, {}, {});", r(*o), r(*input), u(*a), u(*len));
                    units
                } else {
                    let _ = writeln!(
                        out,
                        "    t_shift({}, {}, {}, {}, {}, {}, false, 1.0);",
                        r(*o),
                        u(*a),
                        r(*input),
                        u(*from),
                        u(*len),
                        u(width(*input))
                    );
                    2 * units
                }
            }
        }
    };
    text += "// What depends on x alone, once per dispatch.\nfn energy_pre() {\n";
    for i in &p.pre {
        loops.pre += instr(i, &mut text);
    }
    text += "}\n\n// This thread's share of the energy of the tile's y, into energy_part.\nfn energy_forward() {\n";
    for i in &p.forward {
        loops.forward += instr(i, &mut text);
    }
    text += "    energy_part = vec4<f32>(0.0);\n";
    for h in &p.heads {
        if h.head == Head::LogSumExp {
            let _ = writeln!(text, "    energy_part += {} * t_head_lse({}, {});", f(h.scale), r(h.input), u(width(h.input)));
            loops.forward += 2 * units + 2 * lane_total_loops(lanes);
        } else {
            let _ = writeln!(
                text,
                "    energy_part += {} * t_head_sum({}, {}, {});",
                f(h.scale),
                r(h.input),
                u(width(h.input)),
                head_const(h.head)
            );
            loops.forward += units;
        }
    }
    text += "}\n\n// dE/dy into acc, from what energy_forward left.\nfn energy_backward() {\n";
    for b in &p.backward {
        loops.backward += match b {
            Back::Zero { delta } => {
                let _ = writeln!(text, "    t_zero({}, {});", r(*delta), u(width(*delta)));
                units
            }
            Back::Head {
                delta,
                input,
                head,
                scale,
            } => {
                if *head == Head::LogSumExp {
                    let _ = writeln!(text, "    t_head_lse_back({}, {}, {}, {});", r(*delta), r(*input), u(width(*input)), f(*scale));
                    3 * units + 2 * lane_total_loops(lanes)
                } else {
                    let _ = writeln!(
                        text,
                        "    t_head_sum_back({}, {}, {}, {}, {});",
                        r(*delta),
                        r(*input),
                        u(width(*input)),
                        head_const(*head),
                        f(*scale)
                    );
                    units
                }
            }
            Back::Linear {
                d_in,
                d_out,
                n_out,
                weight,
                ld,
                col,
                width: w,
                ..
            } => {
                let _ = writeln!(text, "    t_to_act({}, {});  // {}", r(*d_out), u(*n_out), note(p, *d_in));
                if *w as u32 <= NARROW {
                    text += "    workgroupBarrier();\n";
                }
                let _ = writeln!(text, "    t_acc_fill({}, NONE);", u(*w));
                let _ = writeln!(text, "    product({}, {}, {}, {});", u(weight + col), u(*ld), u(*n_out), u(*w));
                let _ = writeln!(text, "    t_acc_add_to({}, {});", r(*d_in), u(*w));
                3 * units + gemm_loops(*n_out, *w, lanes)
            }
            Back::MulAdd { dst, a, b } => {
                let _ = writeln!(text, "    t_mul_add({}, {}, {}, {});", r(*dst), r(*a), r(*b), u(width(*dst)));
                units
            }
            Back::Axpy {
                dst,
                at: a,
                src,
                from,
                len,
                scale,
            } => {
                if a == from {
                    let _ = writeln!(text, "    t_axpy({}, {}, {}, {}, {});", r(*dst), r(*src), u(*a), u(*len), f(*scale));
                } else {
                    let _ = writeln!(
                        text,
                        "    t_shift({}, {}, {}, {}, {}, {}, true, {});",
                        r(*dst),
                        u(*a),
                        r(*src),
                        u(*from),
                        u(*len),
                        u(width(*src)),
                        f(*scale)
                    );
                }
                2 * units
            }
            Back::Norm {
                d_in,
                d_out,
                centred,
                gain,
                xhat,
                rstd,
            } => {
                let _ = writeln!(
                    text,
                    "    t_norm_back({}, {}, {}, {}, {}, {centred}, {});",
                    r(*d_in),
                    r(*d_out),
                    r(*xhat),
                    r(*rstd),
                    u(width(*d_out)),
                    opt(*gain)
                );
                2 * units + 2 * lane_total_loops(lanes)
            }
        };
    }
    let _ = writeln!(text, "    store_dy({});\n}}", r(p.dy));
    loops.backward += units;
    Generated { text, store, loops }
}

/// Loop iterations of lane_total (lane_sum's loop over the lanes, and the total's).
fn lane_total_loops(lanes: usize) -> u64 {
    lanes as u64 + 12
}

/// Loop iterations of one thread in ops_tile.wgsl's product over `rows` x `cols`.
fn gemm_loops(rows: usize, cols: usize, lanes: usize) -> u64 {
    let threads = u64::from(TILE_THREADS);
    let units = u64::from(crate::constants::MAX_UNITS) + 1;
    let (rows, cols) = (rows as u64, cols as u64);
    if cols <= u64::from(NARROW) {
        return cols * (rows.div_ceil(lanes as u64) + lanes as u64 + 12) + 1;
    }
    // K_TILE is at least TILE_K rows; fewer rounds only lower the count.
    let k_tile = u64::from(super::tile::TILE_K);
    let tiles = rows.div_ceil(k_tile);
    tiles * (k_tile * cols).div_ceil(threads) + rows * (units + 1) + tiles + 1
}
