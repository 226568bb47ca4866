// tile: every step of a refinement for a tile of CHAINS chains per workgroup, in one
// dispatch: the sampler of the tile path shape. The energy is the generated code of
// energy_tile.wgsl (src/kernels/codegen.rs) over the ops of ops_tile.wgsl:
//   - threads are laid out as LANES units x GROUPS chain groups of 4 (tile_layout.wgsl); a
//     thread owns the units lane, lane + LANES, ... of every tensor for its 4 chains, in
//     registers, the same units in the forward and the backward pass;
//   - a linear node is a small matrix product [CHAINS, n_in] x [n_in, n_out] whose input
//     goes through workgroup memory (`act`) and whose weights are read from device memory
//     once per workgroup and step, K_TILE rows at a time, and reused by all CHAINS chains;
//   - what depends on x alone (W_x x + b of a first layer, FiLM's scale and shift) is
//     computed once per dispatch (energy_pre);
//   - y is read once at the start and written once at the end; in between it lives in the
//     registers of the threads that own its coordinates (`yreg`).
//
// Cost per chain-step (P = multiply-adds of one forward pass, H = hidden units, D = y_dim):
//   FLOPs 4P + O(H); device memory: 2P x 4 bytes of weights per workgroup and step, shared
//   by CHAINS chains (8P / CHAINS bytes per chain-step, from L2 on a GPU), nothing else;
//   dispatches: 1 per refinement; workgroup memory 4 (WIDTH * CHAINS + K_TILE * WIDTH)
//   bytes (+ 16 WORKGROUP_SIZE for lane_sum); registers: the program's REGS vec4 per
//   thread (its values, derivatives and deltas that live at once) and this file's state
//   (yreg, masks; ycur, gcur with an accept rule), 4 x MAX_UNITS floats each.
// Options (the accept rule is the RULE override; the others are runtime flags): each needs
// a chain's energy and gradient norm, i.e. one or two lane_sum()s per step; an accept rule
// keeps y and dE/dy of the current y in registers (ycur, gcur) and one more lane_sum for
// MALA's ratio, with no extra pass. Chains that stop are masked; a tile whose chains have
// all stopped leaves the step loop.
// The host (src/kernels/tile.rs) checks every size this kernel assumes before it is used, which is
// what lets it run without runtime bounds checks.

#import bindings.wgsl
#import philox.wgsl
#import tile_layout.wgsl
#import lane_sum.wgsl
#import energy_tile.wgsl

var<private> yreg: array<vec4<f32>, MAX_UNITS>;
var<private> fixed_mask: array<vec4<bool>, MAX_UNITS>;  // coordinates that never move
var<private> group_fixed_mask: array<vec4<bool>, MAX_UNITS>;  // simplex groups with a fixed one
// With an accept rule (RULE != 0): the current y while a proposal is evaluated, and the
// gradient dE/dy at the current y (the proposal's lands in acc).
var<private> ycur: array<vec4<f32>, MAX_UNITS>;
var<private> gcur: array<vec4<f32>, MAX_UNITS>;
// This thread's share of the energy (without the prior) of the last energy_forward().
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
// The tile's y into tensor dst of the energy's registers (energy_tile.wgsl's forward pass).
fn load_y(dst: u32) {
    for (var a = 0u; a < MAX_UNITS; a++) {
        if a < owned(params.y_dim) {
            regs[dst + a] = yreg[a];
        }
    }
}

// dE/dy from tensor src into acc, where the sampler reads it (the backward pass's end).
fn store_dy(src: u32) {
    for (var a = 0u; a < MAX_UNITS; a++) {
        if a < owned(params.y_dim) {
            acc[a] = regs[src + a];
        }
    }
}

// Reads the tile's y, fixed masks and chain state.
fn load_state() {
    for (var a = 0u; a < MAX_UNITS; a++) {
        if a < owned(params.y_dim) {
            let k = lane + a * lanes();
            var y = vec4<f32>(0.0);
            var fix = vec4<bool>(false);
            for (var q = 0u; q < 4u; q++) {
                let c = chain_of(q);
                if c < params.n_chains {
                    y[q] = ys[c * params.y_dim + k];
                    fix[q] = fixed_flag(c * params.y_dim + k);
                }
            }
            yreg[a] = y;
            fixed_mask[a] = fix;
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
                        hit[q] = hit[q] || fixed_flag(c * params.y_dim + i);
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

// The energy of the group's 4 chains, the prior included, at the y of the last energy_forward()
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

// dE/dy at the current y: in acc after energy_backward() (RULE 0), kept in gcur (accept
// rules).
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
// `moving` chains, with (eta, sqrt(2 eta T)) = schedule_row(step) times each chain's step-size
// multiplier, from current_grad(); the new y also goes to `act`, where project_groups()
// works on it.
// With an accept rule it is a proposal: the current y stays in ycur.
fn update(step: u32) {
    let at = schedule_row(step);
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

// Accept rules, once energy_forward() and energy_backward() have run at the proposal (its
// dE/dy in acc):
// as settle() in step.wgsl, for the group's 4 chains.
fn settle4(step: u32) {
    let u_next = energy4();
    // A stage that takes every step (keep-if-lower only) compares nothing.
    let taken = RULE == RULE_KEEP_IF_LOWER && params.take_every_step != 0u;
    var accept = kept_if_lower(u_next, u_cur) | vec4<bool>(taken);
    if RULE == RULE_MALA {
        let at = schedule_row(step);
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
            accept[q] = accept_log_uniform(params.chain_offset + chain_of(q), step) < log_alpha[q];
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
    if RULE == RULE_KEEP_IF_LOWER && !taken {
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
    // The next forward pass writes `act` before its first barrier.
    workgroupBarrier();
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
    energy_pre();
    // One energy pass per iteration, called from this one place (the generated energy is
    // inlined wherever it is called): the start pass of an accept rule (the energy and
    // dE/dy of y0), one pass per step, the final energy.
    let needs_energy = params.trace != 0u || params.stop_flags != 0u;
    var stage = select(STAGE_STEP, STAGE_START, RULE != 0u && params.steps > 0u);
    var s = 0u;
    loop {
        let step = params.step_offset + s;
        // A tile whose chains have all stopped does no more work.
        if stage == STAGE_STEP && (s >= params.steps || (params.stop_flags != 0u && !tile_running())) {
            stage = STAGE_FINAL;
        }
        if stage == STAGE_FINAL && params.write_energy == 0u {
            break;
        }
        // Accept rules take the step (the proposal) before the pass at it.
        if stage == STAGE_STEP && RULE != 0u {
            use_prior_of(step);
            begin4(step, u_cur);
            update(step);
        }
        if stage == STAGE_FINAL {
            // The kept y is in yreg (a refused proposal's is gone).
            use_prior_of(params.step_offset + params.steps);
        } else {
            use_prior_of(step);
        }
        energy_forward();
        if stage != STAGE_FINAL {
            energy_backward();
        }
        if stage == STAGE_START {
            u_cur = energy4();
            for (var a = 0u; a < MAX_UNITS; a++) {
                if a < owned(params.y_dim) {
                    gcur[a] = acc[a];
                }
            }
            stage = STAGE_STEP;
        } else if stage == STAGE_STEP {
            if RULE == 0u {
                var u = vec4<f32>(0.0);
                if needs_energy {
                    u = energy4();
                }
                begin4(step, u);
                update(step);
            } else {
                settle4(step);
            }
            s++;
        } else {
            let energy = energy4();
            if lane == 0u {
                for (var q = 0u; q < 4u; q++) {
                    let c = chain_of(q);
                    if c < params.n_chains {
                        chain_state[c].energy_out = energy[q];
                        chain_state[c].mark = params.mark;
                    }
                }
            }
            break;
        }
    }
    store_state();
}
