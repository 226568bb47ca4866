// The bind groups every kernel of a refinement, an evaluation and the weight gradients sees,
// by owner: group 0, the chains' (the sampler's: its settings, x, y, the step table and fixed
// coordinates, each chain's state, the trace, and the scratch the energy's tensors live in);
// group 1, the energy's (its weights and program table). An energy of another kind would
// bring its own group 1. 6 + 2 storage buffers: within WebGPU's default of 8 per stage, and
// each kernel's layout binds only what its entry point uses (src/gpu/bindings.rs). The host
// twins of `Params` and `ChainState` are in src/kernels/params.rs (a test compares their
// layouts via naga); the energy's code is generated (src/kernels/codegen.rs) from its
// program (src/kernels/table.rs).

struct Params {
    n_chains: u32,      // chains in this dispatch
    chain_offset: u32,  // global index of this dispatch's first chain (keys the noise)
    steps: u32,         // steps this dispatch runs
    step_offset: u32,   // global index of its first step (keys the noise)
    x_dim: u32,
    y_dim: u32,
    stride: u32,        // scratch holds unit u of chain c at u * stride + c
    seed_lo: u32,
    seed_hi: u32,
    prior_l2: f32,      // lambda without a vertex penalty (the schedule holds each step's)
    use_clamp: u32,
    clamp_lo: f32,
    clamp_hi: f32,
    write_energy: u32,  // 0: this dispatch leaves the energy to a later one
    layer: u32,         // the product or run of instructions a layered dispatch works on
    clip_grad: f32,     // > 0: each step's dE/dy + lambda y is scaled to at most this norm
    use_fixed: u32,     // 1: coordinates whose fixed flag (fixed_flag) is set never move
    simplex: u32,       // > 0: groups of this many coordinates are projected onto the simplex
    shrink: f32,        // keep-if-lower: a refused step multiplies the chain's step size by it
    rise_tolerance: f32, // keep-if-lower: a step is refused only where U' > U + this |U| (kept_if_lower)
    adapt_steps: u32,   // MALA: steps during which the step size adapts
    target_accept: f32, // MALA: the acceptance rate it adapts toward
    stop_flags: u32,    // early stopping tests: STOP_GRAD | STOP_CHANGE | STOP_BELOW
    stop_grad: f32,     // stop once |dE/dy + lambda y| <= this
    stop_change: f32,   // stop once the last step changed the energy by <= this
    stop_below: f32,    // stop once the energy <= this
    trace: u32,         // 1: record (energy, gradient norm) per step and chain in `trace`
    save: u32,          // scratch units of the saved y and dE/dy and the proposal's non-finite flag
                        // (accept rules, chain/layered)
    trace_summary: u32, // offset in `trace` of the per-step summaries (trace_reduce)
    replicas: u32,      // replica exchange: chains per group (0: no exchange)
    exchange_every: u32, // ... steps between swap rounds
    fixed_at: u32,      // word of `controls` where the fixed flags start
    dy: u32,            // scratch units of dE/dy (the energy's backward pass leaves it there)
    landscape: f32,     // the landscape index t of this dispatch's stage (an energy E(x, y, t))
    take_every_step: u32, // keep-if-lower: != 0 takes every step of this dispatch, none compared
    mark: u32,          // the call's completion mark, which a result's final pass writes
}

// The state of one chain that lives across steps and dispatches (src/kernels/params.rs twin).
struct ChainState {
    energy: f32,      // U = E + prior of the current y (Langevin: of the last step's y)
    step_scale: f32,  // the chain's step-size multiplier (keep-if-lower, MALA adaptation)
    steps_taken: u32,  // the step it stopped before, RUNNING while it runs
    accepted: u32,    // proposals accepted (MALA, keep-if-lower); every step for Langevin
    change: f32,      // |energy change| of the last step taken (FLT_MAX before the first)
    non_finite_at: u32,  // the first step whose result held a NaN or infinity, RUNNING if none
    adapt_error: f32,      // MALA's warm-up: dual averaging's mean of (target - acceptance)
    adapt_log_scale: f32,  // ... and its average of log step scale, kept after the warm-up
    warmup_accepted: u32,  // proposals accepted during the warm-up (MALA's adapt_steps)
    heat: f32,             // the factor of the schedule's temperature this chain runs at
                           // (replica exchange's ladder; 1 otherwise)
    walker: u32,           // replica exchange: the walker in this chain (WALKER_*), which
                           // moves with y
    swaps_proposed: u32,   // ... swaps proposed between this replica and the next hotter one
    swaps_accepted: u32,   // ... and accepted
    energy_out: f32,       // the energy a pass wrote: a refinement's final one (the prior
                           // included), an evaluation's, the layered path's of each pass,
                           // what a swap round compares
    mark: u32,             // Params.mark of the call whose final pass wrote energy_out (a
                           // result the host reads back carries it: src/engine/completion.rs)
}

// RUNNING, STOP_GRAD, STOP_CHANGE, STOP_BELOW, RULE_LANGEVIN, RULE_MALA,
// RULE_KEEP_IF_LOWER, WALKER_* and DA_MU, DA_GAMMA, DA_T0, DA_KAPPA (MALA's warm-up, `dual_average`)
// come from the host (src/constants.rs).

// The energy passes of a fused dispatch (chain.wgsl, tile.wgsl), in order: the x-only
// part (chain.wgsl; the tile kernel runs it before its loop), the start pass of an accept
// rule (the energy and dE/dy of y0), one pass per step, the final energy.
const STAGE_PRE: u32 = 0u;
const STAGE_START: u32 = 1u;
const STAGE_STEP: u32 = 2u;
const STAGE_FINAL: u32 = 3u;

// Overrides without defaults: every pipeline sets them.
override WORKGROUP_SIZE: u32;
// How a proposed step is taken (Sampler::rule_id): RULE_LANGEVIN always, RULE_MALA,
// RULE_KEEP_IF_LOWER. An override, so the kernels of the plain sampler carry none of the rest.
override RULE: u32;
const FLT_MAX: f32 = 3.40282347e38;

// Which components are neither NaN nor infinite: by their exponent bits, which no
// fast-math assumption may fold away (unlike v == v).
fn finite4(v: vec4<f32>) -> vec4<bool> {
    return (bitcast<vec4<u32>>(v) & vec4<u32>(0x7f800000u)) != vec4<u32>(0x7f800000u);
}

// Keep-if-lower: the step-size multipliers after an accepted step, grown by 1 / sqrt(shrink)
// (two accepted steps undo one refusal) up to 1, the schedule's own size (step.wgsl's
// settle, tile.wgsl's settle4).
fn regrown(scale: vec4<f32>) -> vec4<f32> {
    return min(vec4<f32>(1.0), scale * inverseSqrt(params.shrink));
}

// Keep-if-lower: whether each proposal (energy u_next) is kept against the current energy u:
// it did not rise, or it is finite and rose by at most params.rise_tolerance |u| (step.wgsl's
// settle, tile.wgsl's settle4; the float64 twin is `kept_if_lower` in src/reference/mod.rs).
fn kept_if_lower(u_next: vec4<f32>, u: vec4<f32>) -> vec4<bool> {
    let tolerated = vec4<bool>(params.rise_tolerance > 0.0) & finite4(u_next)
        & (u_next - u <= params.rise_tolerance * abs(u));
    return (u_next <= u) | tolerated;
}

// MALA's acceptance probability min(1, exp(log_alpha)); 0 for a NaN.
fn accept_probability(log_alpha: vec4<f32>) -> vec4<f32> {
    let p = exp(min(log_alpha, vec4<f32>(0.0)));
    return select(select(vec4<f32>(0.0), vec4<f32>(1.0), log_alpha > vec4<f32>(0.0)), p, finite4(p));
}

// One step of MALA's warm-up by dual averaging (src/constants.rs, DA_*), after warm-up step
// `step` (from 0) with acceptance probability `prob`: the new error mean, the new average
// of log scale, and the scale the next step takes.
struct Adapted {
    error: vec4<f32>,
    log_bar: vec4<f32>,
    scale: vec4<f32>,
}

fn dual_average(step: u32, prob: vec4<f32>, error: vec4<f32>, log_bar: vec4<f32>) -> Adapted {
    let m = f32(step + 1u);
    let w = 1.0 / (m + DA_T0);
    let e = (1.0 - w) * error + w * (params.target_accept - prob);
    let log_scale = DA_MU - sqrt(m) / DA_GAMMA * e;
    let k = pow(m, -DA_KAPPA);
    return Adapted(e, k * log_scale + (1.0 - k) * log_bar, exp(log_scale));
}

// The energy's prior at the current step: U = E + (lambda / 2) |y|^2 + energy_offset, from
// the prior_l2 and the vertex penalty w (1 - |y_group|^2) summed over the groups (lambda =
// prior_l2 - 2 w, energy_offset = w * groups). use_prior_of(row) sets them from a row of
// the schedule before a step's (or the final) energies and moves.
var<private> lambda: f32;
var<private> energy_offset: f32;

fn use_prior_of(row: u32) {
    let at = schedule_row(row);
    lambda = at.z;
    energy_offset = 0.0;
    if params.simplex > 0u {
        energy_offset = at.w * f32(params.y_dim / params.simplex);
    }
}

fn finite(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u;
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> xs: array<f32>;
@group(0) @binding(2) var<storage, read_write> ys: array<f32>;
// The call's controls: per step a row of 4 words, the bits of (step size eta, noise scale
// sqrt(2 eta T), the prior's lambda, the vertex penalty's weight w), from the schedule
// (src/refine/config.rs, RefineConfig::checked_table; one row more than the steps, for the
// energy after the last); then from params.fixed_at, per chain and coordinate [n, y_dim],
// nonzero where y is fixed at its start value.
@group(0) @binding(3) var<storage, read> controls: array<u32>;
@group(0) @binding(4) var<storage, read_write> chain_state: array<ChainState>;
// With params.trace: (energy, gradient norm) of chain c before step s at 2 (s * stride + c);
// trace_reduce leaves per step (min, sum, max, sum of gradient norms) from trace_summary on.
@group(0) @binding(5) var<storage, read_write> trace: array<f32>;
// The energy's tensors, unit-major so that neighbouring invocations (chains) touch
// neighbouring words (dE/dy among them, at params.dy); then what an accept rule saves.
@group(0) @binding(6) var<storage, read_write> scratch: array<f32>;
@group(1) @binding(0) var<storage, read> weights: array<f32>;
// The energy's program table (src/kernels/table.rs): the offsets and sizes of its
// instructions, which the generated code of one chain per invocation reads.
@group(1) @binding(1) var<storage, read> program: array<u32>;

// Row `row` of the step table.
fn schedule_row(row: u32) -> vec4<f32> {
    let i = 4u * row;
    return bitcast<vec4<f32>>(vec4<u32>(controls[i], controls[i + 1u], controls[i + 2u], controls[i + 3u]));
}

// Whether coordinate i of all chains' y (i = c * y_dim + k) is fixed.
fn fixed_flag(i: u32) -> bool {
    return params.use_fixed != 0u && controls[params.fixed_at + i] != 0u;
}

// dE/dy of chain c at coordinate k, where the energy's backward pass leaves it.
fn grad_of(c: u32, k: u32) -> f32 {
    return scratch[(params.dy + k) * params.stride + c];
}

fn set_grad(c: u32, k: u32, v: f32) {
    scratch[(params.dy + k) * params.stride + c] = v;
}
