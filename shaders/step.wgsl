// One refinement step of one chain from its gradient dE/dy (grad_of), y updated in place:
//   y <- clamp(y - eta * clip(dE/dy + lambda * y) + sqrt(2 eta T) * N(0, 1))
// with (eta, sqrt(2 eta T)) = schedule_row(step) times the chain's step-size multiplier
// (chain_state.step_scale), T times the chain's temperature factor (chain_state.heat), clip() scaling to at most clip_grad if > 0; fixed coordinates neither
// move nor count in the norm. With an accept rule (RULE != 0) this is a proposal: y and
// dE/dy are saved first (scratch units `save`), and settle() keeps or restores them.
// Shared by the kernels that keep one chain per invocation at update time; the step of a
// chain is, in order: begin_step (trace, stop tests), step_chain, and for an accept rule
// the energy and gradient at the proposal, then settle.

#import bindings.wgsl
#import philox.wgsl
#import ops_chain.wgsl

// |dE/dy + lambda y| of chain c over the coordinates that move.
fn grad_norm(c: u32) -> f32 {
    let base = c * params.y_dim;
    var sumsq = 0.0;
    for (var k = 0u; k < params.y_dim; k++) {
        if !is_fixed(base + k) {
            let d = grad_of(c, k) + lambda * ys[base + k];
            sumsq += d * d;
        }
    }
    return sqrt(sumsq);
}

// Before step `step` of chain c, whose current energy (the prior included) is u: records the
// energy change (Langevin), the trace entry and the stop tests. False if the chain stops
// here; it then takes no more steps.
fn begin_step(c: u32, step: u32, u: f32) -> bool {
    var st = chain_state[c];
    if RULE == 0u {
        if step > 0u {
            st.change = abs(u - st.energy);
        }
        st.energy = u;
    }
    var norm = 0.0;
    if params.trace != 0u || (params.stop_flags & STOP_GRAD) != 0u {
        norm = grad_norm(c);
    }
    if params.trace != 0u {
        let at = 2u * (step * params.stride + c);
        trace[at] = st.energy;
        trace[at + 1u] = norm;
    }
    let stop = ((params.stop_flags & STOP_GRAD) != 0u && norm <= params.stop_grad)
        || ((params.stop_flags & STOP_CHANGE) != 0u && st.change <= params.stop_change)
        || ((params.stop_flags & STOP_BELOW) != 0u && st.energy <= params.stop_below);
    if stop {
        st.steps_taken = step;
    } else if RULE == 0u {
        st.accepted += 1u;
    }
    chain_state[c] = st;
    return !stop;
}

// Whether chain c has stopped.
fn stopped(c: u32) -> bool {
    return chain_state[c].steps_taken != RUNNING;
}

fn saved_y(c: u32, k: u32) -> u32 {
    return unit(params.save + k, c);
}

fn saved_grad(c: u32, k: u32) -> u32 {
    return unit(params.save + params.y_dim + k, c);
}

// Scratch unit of the flag step_chain leaves for settle (accept rules): 1 if the proposal
// held a NaN or infinity.
fn proposal_flag(c: u32) -> u32 {
    return unit(params.save + 2u * params.y_dim, c);
}

// After the energy u_next and dE/dy of chain c's proposal are known (grad_of): keeps the
// proposal or restores y and dE/dy; a kept proposal that held a NaN or infinity is recorded
// in the chain's non_finite_at. Keep-if-lower keeps it if the energy did not rise beyond
// its tolerance (bindings.wgsl's kept_if_lower), and grows the chain's step size back
// toward the schedule's, and otherwise shrinks the chain's step size; MALA keeps it with
// probability
//   min(1, exp(-(U' - U) / T) q(y | y') / q(y' | y)),  q(b | a) = N(b; a - eta dU(a), 2 eta T),
// and during the warm-up adapts the step size toward the target acceptance rate by dual
// averaging (bindings.wgsl's dual_average).
fn settle(c: u32, step: u32, u_next: f32) {
    var st = chain_state[c];
    let base = c * params.y_dim;
    // A stage that takes every step (keep-if-lower only) compares nothing.
    let taken = RULE == RULE_KEEP_IF_LOWER && params.take_every_step != 0u;
    var accept = kept_if_lower(vec4<f32>(u_next), vec4<f32>(st.energy)).x || taken;
    if RULE == RULE_MALA {
        let at = schedule_row(step);
        let eta = at.x * st.step_scale;
        let noise = at.y * sqrt(st.step_scale * st.heat);
        var ratio = 0.0;
        for (var k = 0u; k < params.y_dim; k++) {
            if !is_fixed(base + k) {
                let y = scratch[saved_y(c, k)];
                let y_next = ys[base + k];
                let there = y_next - y + eta * (scratch[saved_grad(c, k)] + lambda * y);
                let back = y - y_next + eta * (grad_of(c, k) + lambda * y_next);
                ratio += back * back - there * there;
            }
        }
        let temperature = st.heat * at.y * at.y / (2.0 * at.x);
        let log_alpha = -(u_next - st.energy) / temperature - ratio / (2.0 * noise * noise);
        accept = accept_log_uniform(params.chain_offset + c, step) < log_alpha;
        if step < params.adapt_steps {
            let prob = accept_probability(vec4<f32>(log_alpha)).x;
            let a = dual_average(step, vec4<f32>(prob), vec4<f32>(st.adapt_error), vec4<f32>(st.adapt_log_scale));
            st.adapt_error = a.error.x;
            st.adapt_log_scale = a.log_bar.x;
            // The last warm-up step leaves the averaged scale for the steps after it.
            st.step_scale = select(a.scale.x, exp(a.log_bar.x), step + 1u == params.adapt_steps);
        }
    }
    if accept {
        if scratch[proposal_flag(c)] != 0.0 && st.non_finite_at == RUNNING {
            st.non_finite_at = step;
        }
        st.change = abs(u_next - st.energy);
        st.energy = u_next;
        st.accepted += 1u;
        if step < params.adapt_steps {
            st.warmup_accepted += 1u;
        }
        if RULE == RULE_KEEP_IF_LOWER && !taken {
            st.step_scale = regrown(vec4<f32>(st.step_scale)).x;
        }
    } else {
        for (var k = 0u; k < params.y_dim; k++) {
            ys[base + k] = scratch[saved_y(c, k)];
            set_grad(c, k, scratch[saved_grad(c, k)]);
        }
        if RULE == RULE_KEEP_IF_LOWER {
            st.step_scale *= params.shrink;
        }
    }
    chain_state[c] = st;
}

// A coordinate of the step's result that is NaN or infinite (before the clamp) is recorded
// in the chain's non_finite_at; with an accept rule, by settle() and only if it keeps the
// proposal.
fn step_chain(c: u32, step: u32) {
    let chain = params.chain_offset + c;
    let base = c * params.y_dim;
    let st = chain_state[c];
    let row = schedule_row(step);
    let at = vec2<f32>(row.x * st.step_scale, row.y * sqrt(st.step_scale * st.heat));
    var scale = 1.0;
    if params.clip_grad > 0.0 {
        let norm = grad_norm(c);
        if norm > params.clip_grad {
            scale = params.clip_grad / norm;
        }
    }
    if RULE != 0u {
        for (var k = 0u; k < params.y_dim; k++) {
            scratch[saved_y(c, k)] = ys[base + k];
            scratch[saved_grad(c, k)] = grad_of(c, k);
        }
    }
    var bad = false;
    for (var k = 0u; k < params.y_dim; k += 4u) {
        var noise = vec4<f32>(0.0);
        if at.y > 0.0 {
            noise = at.y * langevin_normals(chain, step, k / 4u);
        }
        let n = min(4u, params.y_dim - k);
        for (var q = 0u; q < n; q++) {
            let i = base + k + q;
            if is_fixed(i) {
                continue;
            }
            let yi = ys[i];
            var next = yi - at.x * ((grad_of(c, k + q) + lambda * yi) * scale) + noise[q];
            bad = bad || !finite(next);
            if params.use_clamp != 0u {
                next = clamp(next, params.clamp_lo, params.clamp_hi);
            }
            ys[i] = next;
        }
    }
    if params.simplex > 0u {
        project_chain(c);
    }
    if RULE == RULE_LANGEVIN {
        if bad && chain_state[c].non_finite_at == RUNNING {
            chain_state[c].non_finite_at = step;
        }
    } else {
        scratch[proposal_flag(c)] = select(0.0, 1.0, bad);
    }
}

// Projects each group of `params.simplex` consecutive coordinates of chain c's y onto the
// probability simplex {v >= 0, sum v = 1}, by Michelot's algorithm: tau from the group's
// sum, then from the coordinates above tau, until that set stops changing (at most g
// rounds). Groups with a fixed coordinate are left as they are.
fn project_chain(c: u32) {
    let g = params.simplex;
    for (var first = c * params.y_dim; first < (c + 1u) * params.y_dim; first += g) {
        var sum = 0.0;
        var any_fixed = false;
        for (var i = first; i < first + g; i++) {
            sum += ys[i];
            any_fixed = any_fixed || is_fixed(i);
        }
        if any_fixed {
            continue;
        }
        var tau = (sum - 1.0) / f32(g);
        for (var round = 0u; round < g; round++) {
            var above = 0.0;
            var count = 0.0;
            for (var i = first; i < first + g; i++) {
                if ys[i] > tau {
                    above += ys[i];
                    count += 1.0;
                }
            }
            tau = (above - 1.0) / count;
        }
        for (var i = first; i < first + g; i++) {
            ys[i] = max(ys[i] - tau, 0.0);
        }
    }
}

// Whether coordinate i (of all chains' y) is fixed.
fn is_fixed(i: u32) -> bool {
    return fixed_flag(i);
}

// (lambda / 2) |y|^2 + energy_offset of chain c (use_prior_of).
fn prior_energy(c: u32) -> f32 {
    var prior = 0.0;
    for (var k = 0u; k < params.y_dim; k++) {
        let yk = ys[c * params.y_dim + k];
        prior += yk * yk;
    }
    return 0.5 * lambda * prior + energy_offset;
}
