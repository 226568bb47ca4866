//! Every number the host and the kernels both rely on, written once. The host reads these
//! Rust constants; [`wgsl_prelude`] writes each as a WGSL `const` in front of every kernel's
//! source, so the two sides cannot drift apart. No file in `shaders/` declares one of these
//! names itself (naga would refuse the module, and a test below says which file did).
//!
//! Sizes that change per pipeline (a tile's `CHAINS`, `WIDTH`, `K_TILE`) are written into
//! the source the same way, by `kernels::Kernel::source_for`; override constants
//! (`RULE`, `WORKGROUP_SIZE`) have no default in WGSL, so a pipeline
//! that forgot one fails instead of running on a stale value.

use crate::energy::{Activation, Head};

/// vec4 accumulators per thread in the tile kernel: the units of one layer a thread owns,
/// 4 chains each (`acc`, `xpart`, `yreg`, ... in tile.wgsl).
pub const MAX_UNITS: u32 = 8;
/// vec4 registers a tile-kernel thread may give the energy's program (`regs` in
/// ops_tile.wgsl: the values, derivatives and deltas that live at once), beside the
/// sampler's own; graphs that need more run on smaller tiles (more lanes per chain, fewer
/// units per thread) or another path.
pub const MAX_REGS: u32 = 64;
/// Products with at most this many outputs split their rows over the lanes (tile.wgsl's
/// `gemm_narrow`) instead of staging weight tiles.
pub const NARROW: u32 = 4;
/// Chains per workgroup the tile kernel is built for.
pub const TILE_CHAINS: [u32; 4] = [4, 8, 16, 32];
/// Groups of 4 chains in the largest tile (`group_live`, lane_sum_subgroup's `group_sums`).
pub const MAX_GROUPS: u32 = TILE_CHAINS[TILE_CHAINS.len() - 1] / 4;
/// Threads per workgroup of the tile kernel.
pub const TILE_THREADS: u32 = 256;
/// Threads per workgroup of the one-dimensional kernels (eval, chain path, per-chain
/// kernels of the layered path).
pub const WORKGROUP_SIZE: u32 = 64;
/// Output tile edge of the layered path's matrix products: a workgroup is
/// LAYERED_TILE x LAYERED_TILE threads, one output each.
pub const LAYERED_TILE: u32 = 16;
/// Threads per workgroup of trace_reduce.
pub const TRACE_THREADS: u32 = 64;

/// Threads of the one-workgroup reductions of a training step (loss_weights, grad_norm).
pub const TRAIN_THREADS: u32 = 64;
/// `TrainParams::objective`: contrastive divergence.
pub const OBJECTIVE_CD: u32 = 0;
/// `TrainParams::objective`: noise-contrastive estimation.
pub const OBJECTIVE_NCE: u32 = 1;
/// `OptimParams::kind`: Adam with decoupled weight decay.
pub const OPTIMIZER_ADAM: u32 = 0;
/// `OptimParams::kind`: plain gradient descent with decoupled weight decay.
pub const OPTIMIZER_SGD: u32 = 1;
/// Bits of a statistics row's flags: the loss or an energy was not finite.
pub const FLAG_LOSS: u32 = 1;
/// ... the weight gradient was not finite.
pub const FLAG_GRAD: u32 = 2;
/// ... the weights were not finite.
pub const FLAG_WEIGHTS: u32 = 4;
/// Words of `train_stats` before the first row: HALTED_AT, HALTED_FLAGS, CLIP_SCALE, spare.
pub const STATS_HEADER: u32 = 8;
/// `train_stats` word: the first step whose row has a flag (RUNNING: none yet).
pub const HALTED_AT: u32 = 0;
/// `train_stats` word: that row's flags.
pub const HALTED_FLAGS: u32 = 1;
/// `train_stats` word: this step's gradient-clipping scale, from grad_norm to update.
pub const CLIP_SCALE: u32 = 2;
/// Words of one statistics row.
pub const STATS_ROW: u32 = 8;
/// Row word: the loss (f32 bits).
pub const ROW_LOSS: u32 = 0;
/// Row word: mean energy of the positives.
pub const ROW_ENERGY_POS: u32 = 1;
/// Row word: mean energy of the negatives.
pub const ROW_ENERGY_NEG: u32 = 2;
/// Row word: global norm of the weight gradient (before clipping).
pub const ROW_GRAD_NORM: u32 = 3;
/// Row word: global norm of the weights (before the update).
pub const ROW_WEIGHT_NORM: u32 = 4;
/// Row word: the clipping scale applied.
pub const ROW_CLIP_SCALE: u32 = 5;
/// Row word: FLAG_LOSS | FLAG_GRAD | FLAG_WEIGHTS.
pub const ROW_FLAGS: u32 = 6;
/// Row word: the row's completion mark, the training step it is of XOR the marks of the three
/// kernels that write a row (the loss, the norms, the update), each XORing in its own, so
/// that a kernel a driver dropped, or zeroed memory, leaves it wrong (`row_mark`).
pub const ROW_MARK: u32 = 7;
/// The loss kernel's part of [`ROW_MARK`] ("LOSS").
pub const MARK_LOSS: u32 = 0x4C4F_5353;
/// The norms kernel's part ("NORM").
pub const MARK_NORMS: u32 = 0x4E4F_524D;
/// The update kernel's part ("UPDT").
pub const MARK_UPDATE: u32 = 0x5550_4454;

/// What [`ROW_MARK`] holds once every kernel of training step `step` has run.
pub const fn row_mark(step: u32) -> u32 {
    step ^ MARK_LOSS ^ MARK_NORMS ^ MARK_UPDATE
}

/// Words of one instruction of the energy's program table (kernels/table.rs): the opcode
/// and up to 9 arguments.
pub const INSTR_WORDS: u32 = 10;
/// Opcodes of the program table, one per function of shaders/ops_chain.wgsl: load x ...
pub const OP_LOAD_X: u32 = 0;
/// ... load y ...
pub const OP_LOAD_Y: u32 = 1;
/// ... load the landscape index t ...
pub const OP_LOAD_T: u32 = 2;
/// ... fill from weights (a bias) or zeros ...
pub const OP_FILL: u32 = 3;
/// ... copy ...
pub const OP_COPY: u32 = 4;
/// ... a block of a matrix product ...
pub const OP_DOT_ROWS: u32 = 5;
/// ... an activation ...
pub const OP_ACTIVATION: u32 = 6;
/// ... scale and shift ...
pub const OP_AFFINE: u32 = 7;
/// ... add, subtract, multiply ...
pub const OP_BINARY: u32 = 8;
/// ... LayerNorm or RMSNorm ...
pub const OP_NORM: u32 = 9;
/// ... an energy term ...
pub const OP_HEAD: u32 = 10;
/// ... its gradient ...
pub const OP_HEAD_BACK: u32 = 11;
/// ... zeros ...
pub const OP_ZERO: u32 = 12;
/// ... dst += a * b ...
pub const OP_MUL_ADD: u32 = 13;
/// ... dst += scale * src ...
pub const OP_AXPY: u32 = 14;
/// ... and a norm's backward pass.
pub const OP_NORM_BACK: u32 = 15;
/// The program table's header (kernels/table.rs): words ...
pub const TABLE_HEADER: u32 = 7;
/// ... where the layered path's products are (table, count) ...
pub const HEADER_PRODUCTS: u32 = 0;
/// ... the weight gradients' entries (table, count) ...
pub const HEADER_GRADS: u32 = 2;
/// ... the transposed copies (table, count) ...
pub const HEADER_TWINS: u32 = 4;
/// ... and the parameters' count.
pub const HEADER_PARAMS: u32 = 6;
/// Words of a layered product's entry: m, ld, rows, cols, src, dst, init, start.
pub const PRODUCT_WORDS: u32 = 8;
/// Words of a weight-gradient entry: kind, first parameter, end, ld, delta, input, col,
/// width.
pub const GRAD_WORDS: u32 = 8;
/// Kinds of weight-gradient entry: a block of a linear weight (delta x input) ...
pub const GRAD_WEIGHT: u32 = 0;
/// ... a bias (delta) ...
pub const GRAD_BIAS: u32 = 1;
/// ... a norm's gain (delta x normalised input).
pub const GRAD_GAIN: u32 = 2;
/// Words of a transposed copy's entry: first parameter, end, n_in, n_out, transpose.
pub const TWIN_WORDS: u32 = 5;
/// The elementwise two-input ops of the generated energy code (`Instr::Binary`).
pub const BINARY_ADD: u32 = 0;
/// ... `a - b`.
pub const BINARY_SUB: u32 = 1;
/// ... `a * b`.
pub const BINARY_MUL: u32 = 2;
/// How a layered product starts its sums (`ProductDesc::init` in layered.wgsl): from
/// weights (a bias, or 0) ...
pub const INIT_FILL: u32 = 0;
/// ... from a tensor (a linear's x-only part) ...
pub const INIT_TENSOR: u32 = 1;
/// ... or from what its output holds (a later block of the same linear).
pub const INIT_ADD: u32 = 2;
/// An offset that points nowhere: the generated energy code's "no bias", "no gain".
pub const NONE: u32 = u32::MAX;
/// `ChainState::steps_taken` (and `non_finite_at`) of a chain that has not stopped.
pub const RUNNING: u32 = u32::MAX;
/// Bits of `Params::stop_flags`: stop once the gradient norm is small enough.
pub const STOP_GRAD: u32 = 1;
/// ... once the last step changed the energy little enough.
pub const STOP_CHANGE: u32 = 2;
/// ... once the energy is low enough.
pub const STOP_BELOW: u32 = 4;

/// The `RULE` override: every proposed step is taken (Langevin, gradient descent).
pub const RULE_LANGEVIN: u32 = 0;
/// The `RULE` override: Metropolis-adjusted Langevin.
pub const RULE_MALA: u32 = 1;
/// The `RULE` override: keep-if-lower descent.
pub const RULE_KEEP_IF_LOWER: u32 = 2;

/// Replica exchange's walkers (`ChainState::walker`): the low bits say where the walker
/// in a replica last was, the rest count its round trips. A walker heading up last visited
/// the coldest replica ...
pub const WALKER_UP: u32 = 1;
/// ... one heading down reached the hottest after that; back at the coldest it has made a
/// round trip.
pub const WALKER_DOWN: u32 = 2;
/// ... the bits of the direction.
pub const WALKER_DIRECTION: u32 = 3;
/// ... where the count of round trips starts.
pub const WALKER_TRIPS_SHIFT: u32 = 2;

/// MALA's warm-up adapts each chain's step size by dual averaging (Nesterov 2009, as Stan
/// does: Hoffman & Gelman 2014, section 3.2): after warm-up step m (from 1) with acceptance
/// probability a, H <- (1 - 1/(m + DA_T0)) H + (target - a) / (m + DA_T0); the log step
/// scale is DA_MU - sqrt(m) H / DA_GAMMA, and its average with weight m^-DA_KAPPA is the
/// scale kept after the warm-up. DA_GAMMA: how hard the error pulls the step size.
pub const DA_GAMMA: f32 = 0.05;
/// ... the iterations that damp the first errors' weight.
pub const DA_T0: f32 = 10.0;
/// ... how fast the average forgets early scales.
pub const DA_KAPPA: f32 = 0.75;
/// ... dual averaging's target of log step scale: log(10), ten times the size given.
pub const DA_MU: f32 = std::f32::consts::LN_10;

/// A value of a shared constant, as WGSL declares it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    /// A `u32`.
    U32(u32),
    /// An `f32`.
    F32(f32),
}

/// Every shared constant: its WGSL name and value.
pub fn shared() -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = [
        ("MAX_UNITS", Value::U32(MAX_UNITS)),
        ("MAX_REGS", Value::U32(MAX_REGS)),
        ("NARROW", Value::U32(NARROW)),
        ("MAX_GROUPS", Value::U32(MAX_GROUPS)),
        ("LAYERED_TILE", Value::U32(LAYERED_TILE)),
        ("TRACE_THREADS", Value::U32(TRACE_THREADS)),
        ("RUNNING", Value::U32(RUNNING)),
        ("STOP_GRAD", Value::U32(STOP_GRAD)),
        ("STOP_CHANGE", Value::U32(STOP_CHANGE)),
        ("STOP_BELOW", Value::U32(STOP_BELOW)),
        ("RULE_LANGEVIN", Value::U32(RULE_LANGEVIN)),
        ("RULE_MALA", Value::U32(RULE_MALA)),
        ("RULE_KEEP_IF_LOWER", Value::U32(RULE_KEEP_IF_LOWER)),
        ("WALKER_UP", Value::U32(WALKER_UP)),
        ("WALKER_DOWN", Value::U32(WALKER_DOWN)),
        ("WALKER_DIRECTION", Value::U32(WALKER_DIRECTION)),
        ("WALKER_TRIPS_SHIFT", Value::U32(WALKER_TRIPS_SHIFT)),
        ("DA_MU", Value::F32(DA_MU)),
        ("DA_GAMMA", Value::F32(DA_GAMMA)),
        ("DA_T0", Value::F32(DA_T0)),
        ("DA_KAPPA", Value::F32(DA_KAPPA)),
        ("TRAIN_THREADS", Value::U32(TRAIN_THREADS)),
        ("OBJECTIVE_CD", Value::U32(OBJECTIVE_CD)),
        ("OBJECTIVE_NCE", Value::U32(OBJECTIVE_NCE)),
        ("OPTIMIZER_ADAM", Value::U32(OPTIMIZER_ADAM)),
        ("OPTIMIZER_SGD", Value::U32(OPTIMIZER_SGD)),
        ("FLAG_LOSS", Value::U32(FLAG_LOSS)),
        ("FLAG_GRAD", Value::U32(FLAG_GRAD)),
        ("FLAG_WEIGHTS", Value::U32(FLAG_WEIGHTS)),
        ("STATS_HEADER", Value::U32(STATS_HEADER)),
        ("HALTED_AT", Value::U32(HALTED_AT)),
        ("HALTED_FLAGS", Value::U32(HALTED_FLAGS)),
        ("CLIP_SCALE", Value::U32(CLIP_SCALE)),
        ("STATS_ROW", Value::U32(STATS_ROW)),
        ("ROW_LOSS", Value::U32(ROW_LOSS)),
        ("ROW_ENERGY_POS", Value::U32(ROW_ENERGY_POS)),
        ("ROW_ENERGY_NEG", Value::U32(ROW_ENERGY_NEG)),
        ("ROW_GRAD_NORM", Value::U32(ROW_GRAD_NORM)),
        ("ROW_WEIGHT_NORM", Value::U32(ROW_WEIGHT_NORM)),
        ("ROW_CLIP_SCALE", Value::U32(ROW_CLIP_SCALE)),
        ("ROW_FLAGS", Value::U32(ROW_FLAGS)),
        ("ROW_MARK", Value::U32(ROW_MARK)),
        ("MARK_LOSS", Value::U32(MARK_LOSS)),
        ("MARK_NORMS", Value::U32(MARK_NORMS)),
        ("MARK_UPDATE", Value::U32(MARK_UPDATE)),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value))
    .collect();
    // The ids of the activations and energy heads the generated energy code passes to
    // shaders/ops.wgsl, named after them.
    for a in Activation::ALL {
        out.push((
            format!("ACTIVATION_{}", a.name().to_uppercase()),
            Value::U32(a.shader_id()),
        ));
    }
    for h in Head::ALL {
        out.push((
            format!("HEAD_{}", h.name().to_uppercase()),
            Value::U32(h.shader_id()),
        ));
    }
    for (name, value) in [
        ("NONE", NONE),
        ("BINARY_ADD", BINARY_ADD),
        ("BINARY_SUB", BINARY_SUB),
        ("BINARY_MUL", BINARY_MUL),
        ("INIT_FILL", INIT_FILL),
        ("INIT_TENSOR", INIT_TENSOR),
        ("INIT_ADD", INIT_ADD),
        ("INSTR_WORDS", INSTR_WORDS),
        ("OP_LOAD_X", OP_LOAD_X),
        ("OP_LOAD_Y", OP_LOAD_Y),
        ("OP_LOAD_T", OP_LOAD_T),
        ("OP_FILL", OP_FILL),
        ("OP_COPY", OP_COPY),
        ("OP_DOT_ROWS", OP_DOT_ROWS),
        ("OP_ACTIVATION", OP_ACTIVATION),
        ("OP_AFFINE", OP_AFFINE),
        ("OP_BINARY", OP_BINARY),
        ("OP_NORM", OP_NORM),
        ("OP_HEAD", OP_HEAD),
        ("OP_HEAD_BACK", OP_HEAD_BACK),
        ("OP_ZERO", OP_ZERO),
        ("OP_MUL_ADD", OP_MUL_ADD),
        ("OP_AXPY", OP_AXPY),
        ("OP_NORM_BACK", OP_NORM_BACK),
        ("HEADER_PRODUCTS", HEADER_PRODUCTS),
        ("HEADER_GRADS", HEADER_GRADS),
        ("HEADER_TWINS", HEADER_TWINS),
        ("HEADER_PARAMS", HEADER_PARAMS),
        ("PRODUCT_WORDS", PRODUCT_WORDS),
        ("GRAD_WORDS", GRAD_WORDS),
        ("GRAD_WEIGHT", GRAD_WEIGHT),
        ("GRAD_BIAS", GRAD_BIAS),
        ("GRAD_GAIN", GRAD_GAIN),
        ("TWIN_WORDS", TWIN_WORDS),
    ] {
        out.push((name.to_string(), Value::U32(value)));
    }
    out
}

/// The WGSL declarations of every shared constant, one `const` a line.
pub fn wgsl_prelude() -> String {
    let mut s =
        String::from("// Written by the host (src/constants.rs); not to be declared again.\n");
    for (name, value) in shared() {
        match value {
            Value::U32(v) => s += &format!("const {name}: u32 = {v}u;\n"),
            // `{:?}` gives the shortest decimal that reads back as the same f32.
            Value::F32(v) => s += &format!("const {name}: f32 = {v:?};\n"),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::wgsl::SHADER_FILES;
    use crate::kernels::Kernel;

    /// The value naga gives a named constant of a parsed module.
    fn module_value(module: &naga::Module, name: &str) -> Option<Value> {
        let (_, c) = module
            .constants
            .iter()
            .find(|(_, c)| c.name.as_deref() == Some(name))?;
        match module.global_expressions[c.init] {
            naga::Expression::Literal(naga::Literal::U32(v)) => Some(Value::U32(v)),
            naga::Expression::Literal(naga::Literal::F32(v)) => Some(Value::F32(v)),
            ref e => panic!("{name} is {e:?}"),
        }
    }

    #[test]
    fn every_kernel_sees_the_hosts_values() {
        for kernel in Kernel::ALL {
            let source = kernel.source().unwrap();
            let module = naga::front::wgsl::parse_str(&source).unwrap_or_else(|e| {
                panic!("{}: {}", kernel.entry_point(), e.emit_to_string(&source))
            });
            for (name, value) in shared() {
                let got = module_value(&module, &name);
                match (got, value) {
                    // Compared bit for bit: a float must not round differently in WGSL.
                    (Some(Value::F32(a)), Value::F32(b)) => {
                        assert_eq!(a.to_bits(), b.to_bits(), "{name} in {kernel:?}")
                    }
                    (got, want) => assert_eq!(got, Some(want), "{name} in {kernel:?}"),
                }
            }
        }
    }

    #[test]
    fn no_shader_file_declares_a_shared_constant() {
        for (file, text) in SHADER_FILES {
            for (name, _) in shared() {
                for line in text.lines() {
                    let code = line.split("//").next().unwrap_or("");
                    let words: Vec<&str> = code
                        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .filter(|w| !w.is_empty())
                        .collect();
                    let declares = words.windows(2).any(|w| {
                        matches!(w[0], "const" | "override" | "var" | "let") && w[1] == name
                    });
                    assert!(
                        !declares,
                        "shaders/{file} declares {name}, which src/constants.rs writes: {line}"
                    );
                }
            }
        }
    }
}
