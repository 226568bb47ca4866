// tile: every step of a refinement for a tile of CHAINS chains per workgroup, in one
// dispatch. (One long file on purpose: its functions are the phases of one kernel, reading
// and writing the per-thread registers declared below; the parts other files share, the
// thread layout and the lane sums, are imported.) The float32 twin of reference::refine, shaped for a GPU:
//   - a layer of the tile is a small matrix product [CHAINS, n_in] x [n_in, n_out]; its
//     activations live in workgroup memory as rows of units, each row a vec4 per group of
//     4 chains (`act[u * GROUPS + g]`), so every value read feeds 4 chains at once;
//   - threads are laid out as LANES units x GROUPS chain groups; a thread owns the units
//     lane, lane + LANES, ... of every layer for its 4 chains (register tiling: up to
//     MAX_UNITS vec4 accumulators), the same units in the forward and the backward pass,
//     so act'(z) never leaves the thread (`saved`);
//   - weight rows go through workgroup memory K_TILE at a time: a weight is read from
//     device memory once per workgroup and step, and reused by all CHAINS chains;
//   - W_x x + b of layer 0 is computed once per dispatch (`xpart`), since x never changes;
//   - y is read once at the start and written once at the end; in between it lives in the
//     registers of the threads that own its coordinates (`yreg`).
// The forward pass reads each layer's transposed copy (`weight_t`), the backward pass the
// matrix itself: both then read rows, contiguous in device memory.
//
// Cost per chain-step (P = multiply-adds of one forward pass, H = hidden units, D = y_dim):
//   FLOPs 4P + O(H); device memory: 2P x 4 bytes of weights per workgroup and step, shared
//   by CHAINS chains (8P / CHAINS bytes per chain-step, from L2 on a GPU), nothing else;
//   dispatches: 1 per refinement; workgroup memory 4 (WIDTH * CHAINS + K_TILE * WIDTH)
//   bytes (+ 16 WORKGROUP_SIZE for lane_sum); registers: 4 x 3 MAX_UNITS floats per thread
//   (acc, xpart, yreg; constant-trip loops index them, so they can stay in registers) and
//   up to 4 MAX_SAVED floats of act'(z), indexed by layer at run time (thread-local memory).
// Narrow products (at most NARROW outputs) split their rows over the lanes and add the
// partial sums with lane_sum(), which uses subgroup operations where the adapter has them
// (lane_sum_subgroup.wgsl) and workgroup memory elsewhere (lane_sum.wgsl).
// Options (the accept rule is the RULE override; the others are runtime flags): each needs
// a chain's energy and gradient norm, i.e. one or two lane_sum()s per step; an accept rule
// keeps y and dE/dy of the current y in registers (ycur, gcur) and one more lane_sum for
// MALA's ratio, with no extra pass. Chains that stop are masked; a tile whose chains have
// all stopped leaves the step loop.
// The host (src/kernels/tile.rs) checks every size this kernel assumes before it is used, which is
// what lets it run without runtime bounds checks.

#import bindings.wgsl
#import activation.wgsl
#import philox.wgsl
#import tile_layout.wgsl
#import lane_sum.wgsl

// Sizes fixed per pipeline, written by the host in front of this file as constants (not
// overrides: naga 30 sizes override-sized workgroup arrays from the overrides' defaults):
//   CHAINS      chains per workgroup, a multiple of 4
//   WIDTH       rows of `act`: the widest layer, x_dim and y_dim included
//   K_TILE      weight rows staged per round
//   LANE_SLOTS  = WORKGROUP_SIZE, the partial sums of lane_sum()

// Registers per thread, fixed because WGSL sizes private arrays with constants, written by
// the host (src/constants.rs) with the values src/kernels/tile.rs checks every model against:
//   MAX_UNITS   vec4s of one layer a thread owns
//   MAX_SAVED   vec4s of act'(z) a thread keeps over all hidden layers

var<workgroup> act: array<vec4<f32>, WIDTH * CHAINS / 4u>;
var<workgroup> wtile: array<f32, K_TILE * WIDTH>;

var<private> acc: array<vec4<f32>, MAX_UNITS>;
var<private> saved: array<vec4<f32>, MAX_SAVED>;
var<private> xpart: array<vec4<f32>, MAX_UNITS>;
var<private> yreg: array<vec4<f32>, MAX_UNITS>;
var<private> fixed_mask: array<vec4<bool>, MAX_UNITS>;  // coordinates that never move
var<private> group_fixed_mask: array<vec4<bool>, MAX_UNITS>;  // simplex groups with a fixed one
// With an accept rule (RULE != 0): the current y while a proposal is evaluated, and the
// gradient dE/dy at the current y (the proposal's lands in acc).
var<private> ycur: array<vec4<f32>, MAX_UNITS>;
var<private> gcur: array<vec4<f32>, MAX_UNITS>;
// The energy terms of the output units this thread owns, from the last forward().
var<private> energy_part: vec4<f32>;
// ChainState of the group's 4 chains (the same in every lane of the group).
var<private> u_cur: vec4<f32>;
var<private> step_scale: vec4<f32>;
// Each chain's factor of the schedule's temperature (ChainState.heat).
var<private> heat: vec4<f32>;
var<private> steps_taken: vec4<u32>;
var<private> accepted: vec4<u32>;
var<private> change: vec4<f32>;
var<private> adapt_error: vec4<f32>;
var<private> adapt_log_scale: vec4<f32>;
var<private> warmup_accepted: vec4<u32>;
var<private> moving: vec4<bool>;  // chains that take this step
// The first step whose result held a NaN or infinity in a coordinate this thread owns
// (RUNNING if none), and whether the proposal of this step does (accept rules); combined
// over the lanes of each chain at the end of the dispatch, in `tile_non_finite`.
var<private> non_finite: vec4<u32>;
var<private> proposal_bad: vec4<bool>;
var<workgroup> tile_non_finite: array<atomic<u32>, MAX_GROUPS * 4u>;
// Whether any chain of a group (then of the tile) still runs.
var<workgroup> group_live: array<u32, MAX_GROUPS>;
var<workgroup> tile_live: u32;
// acc[a] += sum over r < rows of M[r, u_a] * act[r] for this thread's units u_a < cols,
// where M[r, c] = weights[m + r * ld + c]. Ends with a barrier, so the caller may
// overwrite `act`.
fn gemm(m: u32, ld: u32, rows: u32, cols: u32) {
    let n = owned(cols);
    for (var r0 = 0u; r0 < rows; r0 += K_TILE) {
        let kt = min(K_TILE, rows - r0);
        workgroupBarrier();
        for (var i = lid; i < kt * cols; i += WORKGROUP_SIZE) {
            let r = i / cols;
            wtile[i] = weights[m + (r0 + r) * ld + (i - r * cols)];
        }
        workgroupBarrier();
        for (var k = 0u; k < kt; k++) {
            let v = act[row(r0 + k)];
            let w = k * cols + lane;
            for (var a = 0u; a < MAX_UNITS; a++) {
                if a < n {
                    acc[a] += wtile[w + a * lanes()] * v;
                }
            }
        }
    }
    workgroupBarrier();
}

// Products with at most NARROW outputs (the output layer, a narrow y; NARROW from the host):
// the rows are split over the lanes and the partial sums added with lane_sum() (subgroup
// operations where the adapter has them), instead of rows / K_TILE rounds of gemm() in which
// only `cols` lanes work.

fn gemm_narrow(m: u32, ld: u32, rows: u32, cols: u32) {
    for (var j = 0u; j < cols; j++) {
        var part = vec4<f32>(0.0);
        for (var r = lane; r < rows; r += lanes()) {
            part += weights[m + r * ld + j] * act[row(r)];
        }
        let total = lane_sum(part, lane == j);
        if lane == j {
            acc[0] += total;
        }
    }
}

// acc += the product M^T act for this thread's units, by whichever of the two suits `cols`.
// Ends with a barrier, so the caller may overwrite `act`.
fn product(m: u32, ld: u32, rows: u32, cols: u32) {
    if cols <= NARROW {
        gemm_narrow(m, ld, rows, cols);
        workgroupBarrier();
    } else {
        gemm(m, ld, rows, cols);
    }
}

struct Pair4 {
    value: vec4<f32>,
    grad: vec4<f32>,
}

fn act_and_grad4(z: vec4<f32>) -> Pair4 {
    let a = act_and_grad(z.x);
    let b = act_and_grad(z.y);
    let c = act_and_grad(z.z);
    let d = act_and_grad(z.w);
    return Pair4(vec4<f32>(a.x, b.x, c.x, d.x), vec4<f32>(a.y, b.y, c.y, d.y));
}

fn output_and_grad4(f: vec4<f32>) -> Pair4 {
    let a = output_and_grad(f.x);
    let b = output_and_grad(f.y);
    let c = output_and_grad(f.z);
    let d = output_and_grad(f.w);
    return Pair4(vec4<f32>(a.x, b.x, c.x, d.x), vec4<f32>(a.y, b.y, c.y, d.y));
}

// x of chain q at coordinate i, 0 past the end of the batch (those chains are never stored).
fn x_value(q: u32, i: u32) -> f32 {
    let c = chain_of(q);
    if c < params.n_chains {
        return xs[c * params.x_dim + i];
    }
    return 0.0;
}

// Reads the tile's x and y, and computes W_x x + b of layer 0 once for the whole dispatch.
fn load_state() {
    for (var r = lane; r < params.x_dim; r += lanes()) {
        act[row(r)] = vec4<f32>(x_value(0u, r), x_value(1u, r), x_value(2u, r), x_value(3u, r));
    }
    let first = layer_table[0];
    let n = owned(first.n_out);
    for (var a = 0u; a < MAX_UNITS; a++) {
        if a < n {
            acc[a] = vec4<f32>(weights[first.bias + lane + a * lanes()]);
        }
    }
    product(first.weight_t, first.n_out, params.x_dim, first.n_out);
    for (var a = 0u; a < MAX_UNITS; a++) {
        if a < n {
            xpart[a] = acc[a];
        }
    }
    for (var a = 0u; a < MAX_UNITS; a++) {
        if a < owned(params.y_dim) {
            let k = lane + a * lanes();
            var y = vec4<f32>(0.0);
            var fix = vec4<bool>(false);
            for (var q = 0u; q < 4u; q++) {
                let c = chain_of(q);
                if c < params.n_chains {
                    y[q] = ys[c * params.y_dim + k];
                    fix[q] = params.use_fixed != 0u && fixed[c * params.y_dim + k] != 0u;
                }
            }
            yreg[a] = y;
            fixed_mask[a] = fix;
            act[row(k)] = y;
        }
    }
    if params.simplex > 0u && params.use_fixed != 0u {
        let g = params.simplex;
        for (var j = 0u; j < owned(params.y_dim / g); j++) {
            let b = lane + j * lanes();
            var hit = vec4<bool>(false);
            for (var q = 0u; q < 4u; q++) {
                let c = chain_of(q);
                if c < params.n_chains {
                    for (var i = b * g; i < b * g + g; i++) {
                        hit[q] = hit[q] || fixed[c * params.y_dim + i] != 0u;
                    }
                }
            }
            group_fixed_mask[j] = hit;
        }
    }
    step_scale = vec4<f32>(1.0);
    heat = vec4<f32>(1.0);
    steps_taken = vec4<u32>(0u);  // chains past the batch count as stopped
    non_finite = vec4<u32>(RUNNING);
    for (var q = 0u; q < 4u; q++) {
        let c = chain_of(q);
        if c < params.n_chains {
            let st = chain_state[c];
            u_cur[q] = st.energy;
            step_scale[q] = st.step_scale;
            heat[q] = st.heat;
            steps_taken[q] = st.steps_taken;
            accepted[q] = st.accepted;
            change[q] = st.change;
            non_finite[q] = st.non_finite_at;
            if RULE == RULE_MALA {
                adapt_error[q] = st.adapt_error;
                adapt_log_scale[q] = st.adapt_log_scale;
                warmup_accepted[q] = st.warmup_accepted;
            }
        }
    }
}

// Forward pass of the tile from y in `act`. Hidden layers leave act(z) in `act` and
// act'(z) in `saved`; the last layer leaves dE/df in `act` (with `energy_terms`, the
// terms of the energy instead).
fn forward(energy_terms: bool) {
    var s = 0u;
    energy_part = vec4<f32>(0.0);
    for (var l = 0u; l < params.n_layers; l++) {
        let layer = layer_table[l];
        let n = owned(layer.n_out);
        if l == 0u {
            for (var a = 0u; a < MAX_UNITS; a++) {
                if a < n {
                    acc[a] = xpart[a];
                }
            }
            product(layer.weight_t + params.x_dim * layer.n_out, layer.n_out, params.y_dim, layer.n_out);
        } else {
            for (var a = 0u; a < MAX_UNITS; a++) {
                if a < n {
                    acc[a] = vec4<f32>(weights[layer.bias + lane + a * lanes()]);
                }
            }
            product(layer.weight_t, layer.n_out, layer.n_in, layer.n_out);
        }
        let last = l + 1u == params.n_layers;
        for (var a = 0u; a < MAX_UNITS; a++) {
            if a < n {
                let u = lane + a * lanes();
                if last {
                    let e = output_and_grad4(acc[a]);
                    act[row(u)] = select(e.grad, e.value, energy_terms);
                    energy_part += e.value;
                } else {
                    let h = act_and_grad4(acc[a]);
                    act[row(u)] = h.value;
                    saved[s + a] = h.grad;
                }
            }
        }
        s += owned_max(layer.n_out);
    }
    workgroupBarrier();
}

// dE/dy of the tile from the dE/df forward() left in `act`, into acc[a] for this thread's
// coordinates of y.
fn backward() {
    var s = 0u;
    for (var l = 0u; l + 1u < params.n_layers; l++) {
        s += owned_max(layer_table[l].n_out);
    }
    for (var l = params.n_layers - 1u; l > 0u; l--) {
        let layer = layer_table[l];
        let n = owned(layer.n_in);
        s -= owned_max(layer.n_in);
        for (var a = 0u; a < MAX_UNITS; a++) {
            if a < n {
                acc[a] = vec4<f32>(0.0);
            }
        }
        product(layer.weight, layer.n_in, layer.n_out, layer.n_in);
        for (var a = 0u; a < MAX_UNITS; a++) {
            if a < n {
                act[row(lane + a * lanes())] = acc[a] * saved[s + a];
            }
        }
    }
    let first = layer_table[0];
    for (var a = 0u; a < MAX_UNITS; a++) {
        if a < owned(params.y_dim) {
            acc[a] = vec4<f32>(0.0);
        }
    }
    product(first.weight + params.x_dim, first.n_in, first.n_out, params.y_dim);
}

// The energy of the group's 4 chains, the prior included, at the y of the last forward()
// (in yreg). Every thread of the workgroup calls it.
fn energy4() -> vec4<f32> {
    var part = energy_part;
    for (var a = 0u; a < MAX_UNITS; a++) {
        if a < owned(params.y_dim) {
            part += 0.5 * lambda * yreg[a] * yreg[a];
        }
    }
    return lane_sum(part, true) + energy_offset;
}

// dE/dy at the current y: in acc after backward() (RULE 0), kept in gcur (accept rules).
fn current_grad(a: u32) -> vec4<f32> {
    if RULE == 0u {
        return acc[a];
    }
    return gcur[a];
}

// |dE/dy + lambda y| per chain over the coordinates that move, summed over the lanes.
// Every thread of the workgroup calls it.
fn grad_norm4() -> vec4<f32> {
    var sumsq = vec4<f32>(0.0);
    for (var a = 0u; a < MAX_UNITS; a++) {
        if a < owned(params.y_dim) {
            let d = select(current_grad(a) + lambda * yreg[a], vec4<f32>(0.0), fixed_mask[a]);
            sumsq += d * d;
        }
    }
    return sqrt(lane_sum(sumsq, true));
}

// Before step `step`, as begin_step in step.wgsl for the group's 4 chains of energy u:
// the energy change (RULE 0), the trace entry, the stop tests. Sets `moving`.
fn begin4(step: u32, u: vec4<f32>) {
    if RULE == 0u {
        if step > 0u {
            change = abs(u - u_cur);
        }
        u_cur = u;
    }
    var norm = vec4<f32>(0.0);
    if params.trace != 0u || (params.stop_flags & STOP_GRAD) != 0u {
        norm = grad_norm4();
    }
    let running = steps_taken == vec4<u32>(RUNNING);
    if params.trace != 0u && lane == 0u {
        for (var q = 0u; q < 4u; q++) {
            if running[q] {
                let at = 2u * (step * params.stride + chain_of(q));
                trace[at] = u_cur[q];
                trace[at + 1u] = norm[q];
            }
        }
    }
    var stop = vec4<bool>(false);
    if (params.stop_flags & STOP_GRAD) != 0u {
        stop = stop | (norm <= vec4<f32>(params.stop_grad));
    }
    if (params.stop_flags & STOP_CHANGE) != 0u {
        stop = stop | (change <= vec4<f32>(params.stop_change));
    }
    if (params.stop_flags & STOP_BELOW) != 0u {
        stop = stop | (u_cur <= vec4<f32>(params.stop_below));
    }
    stop = stop & running;
    steps_taken = select(steps_taken, vec4<u32>(step), stop);
    moving = running & !stop;
    if RULE == 0u {
        accepted += select(vec4<u32>(0u), vec4<u32>(1u), moving);
    }
}

// Whether any chain of the tile still runs (the same value in every thread).
fn tile_running() -> bool {
    if lane == 0u {
        group_live[group] = u32(any(steps_taken == vec4<u32>(RUNNING)));
    }
    workgroupBarrier();
    if lid == 0u {
        var live = 0u;
        for (var g = 0u; g < groups(); g++) {
            live |= group_live[g];
        }
        tile_live = live;
    }
    return workgroupUniformLoad(&tile_live) != 0u;
}

// One step of y <- clamp(y - eta * (dE/dy + lambda * y) + sqrt(2 eta T) * N(0, 1)) for the
// `moving` chains, with (eta, sqrt(2 eta T)) = schedule[step] times each chain's step-size
// multiplier, from current_grad(); the new y also goes to `act` for the next forward pass.
// With an accept rule it is a proposal: the current y stays in ycur.
fn update(step: u32) {
    let at = schedule[step];
    let eta = at.x * step_scale;
    let noise_scale = at.y * sqrt(step_scale * heat);
    // Gradient clipping: the norm over a chain's coordinates, which the lanes of its group
    // share out, so the squares are summed over lanes.
    var clip = vec4<f32>(1.0);
    if params.clip_grad > 0.0 {
        let norm = grad_norm4();
        clip = select(vec4<f32>(1.0), params.clip_grad / norm, norm > vec4<f32>(params.clip_grad));
    }
    var bad = vec4<bool>(false);
    for (var a = 0u; a < MAX_UNITS; a++) {
        if a < owned(params.y_dim) {
            let k = lane + a * lanes();
            var noise = vec4<f32>(0.0);
            if at.y > 0.0 {
                for (var q = 0u; q < 4u; q++) {
                    noise[q] = langevin_normals(params.chain_offset + chain_of(q), step, k / 4u)[k % 4u];
                }
            }
            let y = yreg[a];
            if RULE != 0u {
                ycur[a] = y;
            }
            var next = y - eta * ((current_grad(a) + lambda * y) * clip) + noise_scale * noise;
            bad = bad | (!finite4(next) & moving & !fixed_mask[a]);
            if params.use_clamp != 0u {
                next = clamp(next, vec4<f32>(params.clamp_lo), vec4<f32>(params.clamp_hi));
            }
            next = select(y, next, moving & !fixed_mask[a]);
            yreg[a] = next;
            act[row(k)] = next;
        }
    }
    if params.simplex > 0u {
        project_groups();
    }
    if RULE == RULE_LANGEVIN {
        note_non_finite(step, bad);
    } else {
        proposal_bad = bad;
    }
}

// Records `step` for the chains whose result is `bad`, unless one was recorded before.
fn note_non_finite(step: u32, bad: vec4<bool>) {
    non_finite = select(non_finite, vec4<u32>(step), bad & non_finite == vec4<u32>(RUNNING));
}

// Accept rules, once forward() and backward() have run at the proposal (its dE/dy in acc):
// as settle() in step.wgsl, for the group's 4 chains.
fn settle4(step: u32) {
    let u_next = energy4();
    var accept = u_next <= u_cur;
    if RULE == RULE_MALA {
        let at = schedule[step];
        let eta = at.x * step_scale;
        let noise = at.y * sqrt(step_scale * heat);
        var part = vec4<f32>(0.0);
        for (var a = 0u; a < MAX_UNITS; a++) {
            if a < owned(params.y_dim) {
                let y = ycur[a];
                let y_next = yreg[a];
                let there = y_next - y + eta * (gcur[a] + lambda * y);
                let back = y - y_next + eta * (acc[a] + lambda * y_next);
                part += select(back * back - there * there, vec4<f32>(0.0), fixed_mask[a]);
            }
        }
        let ratio = lane_sum(part, true);
        let temperature = heat * at.y * at.y / (2.0 * at.x);
        let log_alpha = -(u_next - u_cur) / temperature - ratio / (2.0 * noise * noise);
        for (var q = 0u; q < 4u; q++) {
            accept[q] = log(accept_uniform(params.chain_offset + chain_of(q), step)) < log_alpha[q];
        }
        if step < params.adapt_steps {
            let a = dual_average(step, accept_probability(log_alpha), adapt_error, adapt_log_scale);
            adapt_error = select(adapt_error, a.error, moving);
            adapt_log_scale = select(adapt_log_scale, a.log_bar, moving);
            // The last warm-up step leaves the averaged scale for the steps after it.
            let next = select(a.scale, exp(a.log_bar), step + 1u == params.adapt_steps);
            step_scale = select(step_scale, next, moving);
        }
    }
    accept = accept & moving;
    if RULE == RULE_KEEP_IF_LOWER {
        step_scale = select(step_scale, regrown(step_scale), accept);
        step_scale = select(step_scale, step_scale * params.shrink, moving & !accept);
    }
    note_non_finite(step, proposal_bad & accept);
    change = select(change, abs(u_next - u_cur), accept);
    u_cur = select(u_cur, u_next, accept);
    accepted += select(vec4<u32>(0u), vec4<u32>(1u), accept);
    if RULE == RULE_MALA && step < params.adapt_steps {
        warmup_accepted += select(vec4<u32>(0u), vec4<u32>(1u), accept);
    }
    for (var a = 0u; a < MAX_UNITS; a++) {
        if a < owned(params.y_dim) {
            yreg[a] = select(ycur[a], yreg[a], accept);
            gcur[a] = select(gcur[a], acc[a], accept);
        }
    }
}

// Projects each group of `params.simplex` consecutive coordinates of y onto the probability
// simplex (Michelot's algorithm, as project_chain in step.wgsl, 4 chains at a time): the
// thread that owns group b = lane + j * lanes() works on its rows of `act`, where update()
// left y; then every thread takes its coordinates back. Groups with a fixed coordinate stay.
fn project_groups() {
    workgroupBarrier();
    let g = params.simplex;
    // A loop bound known only at run time: compilers keep one copy of the loop nest (the
    // tile kernel's other loops over a thread's units are unrolled).
    for (var j = 0u; j < owned(params.y_dim / g); j++) {
        let b = lane + j * lanes();
        {
            let first = b * g;
            var sum = vec4<f32>(0.0);
            for (var i = first; i < first + g; i++) {
                sum += act[row(i)];
            }
            var tau = (sum - 1.0) / f32(g);
            for (var round = 0u; round < g; round++) {
                var above = vec4<f32>(0.0);
                var count = vec4<f32>(0.0);
                for (var i = first; i < first + g; i++) {
                    let v = act[row(i)];
                    above += select(vec4<f32>(0.0), v, v > tau);
                    count += select(vec4<f32>(0.0), vec4<f32>(1.0), v > tau);
                }
                tau = (above - 1.0) / count;
            }
            for (var i = first; i < first + g; i++) {
                let v = act[row(i)];
                act[row(i)] = select(max(v - tau, vec4<f32>(0.0)), v, group_fixed_mask[j] | !moving);
            }
        }
    }
    workgroupBarrier();
    for (var a = 0u; a < MAX_UNITS; a++) {
        if a < owned(params.y_dim) {
            yreg[a] = act[row(lane + a * lanes())];
        }
    }
}

fn store_state() {
    // The first non-finite step of each chain: the earliest any of its lanes saw.
    if lane == 0u {
        for (var q = 0u; q < 4u; q++) {
            atomicStore(&tile_non_finite[4u * group + q], RUNNING);
        }
    }
    workgroupBarrier();
    for (var q = 0u; q < 4u; q++) {
        if non_finite[q] != RUNNING {
            atomicMin(&tile_non_finite[4u * group + q], non_finite[q]);
        }
    }
    workgroupBarrier();
    if lane == 0u {
        for (var q = 0u; q < 4u; q++) {
            let c = chain_of(q);
            if c < params.n_chains {
                let first_bad = atomicLoad(&tile_non_finite[4u * group + q]);
                // The warm-up's state lives in registers only for MALA (RULE folds the rest).
                let mala = RULE == RULE_MALA;
                // The temperature factor and replica exchange's fields stay as they were.
                var st = chain_state[c];
                st.energy = u_cur[q];
                st.step_scale = step_scale[q];
                st.steps_taken = steps_taken[q];
                st.accepted = accepted[q];
                st.change = change[q];
                st.non_finite_at = first_bad;
                st.adapt_error = select(0.0, adapt_error[q], mala);
                st.adapt_log_scale = select(0.0, adapt_log_scale[q], mala);
                st.warmup_accepted = select(0u, warmup_accepted[q], mala);
                chain_state[c] = st;
            }
        }
    }
    for (var a = 0u; a < MAX_UNITS; a++) {
        if a < owned(params.y_dim) {
            let k = lane + a * lanes();
            for (var q = 0u; q < 4u; q++) {
                let c = chain_of(q);
                if c < params.n_chains {
                    ys[c * params.y_dim + k] = yreg[a][q];
                }
            }
        }
    }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn tile(@builtin(local_invocation_index) index: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    lid = index;
    group = index % groups();
    lane = index / groups();
    tile_chain = wg.x * CHAINS;
    load_state();
    use_prior_of(params.step_offset);
    // Accept rules keep the energy and dE/dy of the current y: each step computes them
    // once, at the proposal. The first step of a dispatch starts from y's.
    if RULE != 0u && params.steps > 0u {
        forward(false);
        backward();
        u_cur = energy4();
        for (var a = 0u; a < MAX_UNITS; a++) {
            if a < owned(params.y_dim) {
                gcur[a] = acc[a];
            }
        }
    }
    let needs_energy = params.trace != 0u || params.stop_flags != 0u;
    for (var s = 0u; s < params.steps; s++) {
        // A tile whose chains have all stopped does no more work.
        if params.stop_flags != 0u && !tile_running() {
            break;
        }
        let step = params.step_offset + s;
        use_prior_of(step);
        if RULE == 0u {
            forward(false);
            backward();
            var u = vec4<f32>(0.0);
            if needs_energy {
                u = energy4();
            }
            begin4(step, u);
            update(step);
        } else {
            begin4(step, u_cur);
            update(step);
            forward(false);
            backward();
            settle4(step);
        }
    }
    if RULE != 0u {
        // A refused proposal is still in `act`: the final energy needs the kept y.
        workgroupBarrier();
        for (var a = 0u; a < MAX_UNITS; a++) {
            if a < owned(params.y_dim) {
                act[row(lane + a * lanes())] = yreg[a];
            }
        }
    }
    if params.write_energy != 0u {
        use_prior_of(params.step_offset + params.steps);
        workgroupBarrier();
        var prior = vec4<f32>(0.0);
        if lane == 0u {
            for (var k = 0u; k < params.y_dim; k++) {
                let y = act[row(k)];
                prior += y * y;
            }
        }
        forward(true);
        if lane == 0u {
            var energy = 0.5 * lambda * prior + energy_offset;
            var terms = vec4<f32>(0.0);
            let out = layer_table[params.n_layers - 1u];
            for (var j = 0u; j < out.n_out; j++) {
                terms += act[row(j)];
            }
            energy += terms;
            for (var q = 0u; q < 4u; q++) {
                let c = chain_of(q);
                if c < params.n_chains {
                    energies[c] = energy[q];
                }
            }
        }
    }
    store_state();
}
