// exchange: one swap round of replica exchange (parallel tempering), between two runs of
// steps of any path, in the same submission. The chains of a chunk are groups of
// params.replicas consecutive chains; chain r of a group runs at chain_state.heat times the
// schedule's temperature. After step params.step_offset - 1 (the swap round's step b =
// params.step_offset, a multiple of params.exchange_every), the pairs (r, r + 1) with
// r = b / exchange_every (mod 2) propose to swap their states, accepted when
//   log u < (1 / T_r - 1 / T_r+1) (U_r - U_r+1),   u ~ Uniform(0, 1]
// (the Metropolis rule min(1, exp(...))), T from the schedule at step b - 1 and U = E + prior
// of the current y in chain_state.energy_out (the run before wrote them). The draw is keyed by the seed,
// step b and the global index of the pair's colder chain, so it does not depend on batch size
// or chunking. A swap moves y, dE/dy, the energy, the last change and the walker; the
// temperature, step size and counts stay with the replica. A pair with a stopped chain, or
// an energy that is not finite, does not swap. Pairs of one round are disjoint: one
// invocation per pair, no synchronisation.
//
// Cost per round: one invocation per pair of the round, one Philox draw, and for an accepted
// swap 4 y_dim words read and written; no workgroup memory.

#import bindings.wgsl
#import philox.wgsl

// The log of the uniform number in (0, 1] the swap of the pair whose colder chain is
// `chain` draws at swap step `step` (a counter the noise and MALA never use: its last word
// is 2).
fn swap_log_uniform(chain: u32, step: u32) -> f32 {
    let key = vec2<u32>(params.seed_lo, params.seed_hi);
    return ln_uniform(philox4x32_10(vec4<u32>(0u, step, chain, 2u), key).x);
}

// The walker's word after it arrived in replica `slot` of `replicas`: heading up from the
// coldest, down from the hottest, a round trip counted when it is back at the coldest.
fn arrived(walker: u32, slot: u32, replicas: u32) -> u32 {
    let direction = walker & WALKER_DIRECTION;
    var trips = walker >> WALKER_TRIPS_SHIFT;
    var next = direction;
    if slot == 0u {
        if direction == WALKER_DOWN {
            trips += 1u;
        }
        next = WALKER_UP;
    } else if slot + 1u == replicas && direction == WALKER_UP {
        next = WALKER_DOWN;
    }
    return (trips << WALKER_TRIPS_SHIFT) | next;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn exchange(@builtin(global_invocation_id) gid: vec3<u32>) {
    let replicas = params.replicas;
    let pairs = replicas - 1u;
    let groups = params.n_chains / replicas;
    if gid.x >= groups * pairs {
        return;
    }
    let slot = gid.x % pairs;
    let step = params.step_offset;
    if slot % 2u != (step / params.exchange_every) % 2u {
        return;
    }
    let a = (gid.x / pairs) * replicas + slot;
    let b = a + 1u;
    var sa = chain_state[a];
    var sb = chain_state[b];
    if sa.steps_taken != RUNNING || sb.steps_taken != RUNNING {
        return;
    }
    let at = schedule_row(step - 1u);
    let temperature = at.y * at.y / (2.0 * at.x);
    let ua = sa.energy_out;
    let ub = sb.energy_out;
    let log_alpha = (1.0 / (sa.heat * temperature) - 1.0 / (sb.heat * temperature)) * (ua - ub);
    sa.swaps_proposed += 1u;
    let accept = finite(ua) && finite(ub)
        && swap_log_uniform(params.chain_offset + a, step) < log_alpha;
    if accept {
        sa.swaps_accepted += 1u;
        for (var k = 0u; k < params.y_dim; k++) {
            let i = a * params.y_dim + k;
            let j = b * params.y_dim + k;
            let y = ys[i];
            ys[i] = ys[j];
            ys[j] = y;
            let g = grad_of(a, k);
            set_grad(a, k, grad_of(b, k));
            set_grad(b, k, g);
        }
        sa.energy_out = ub;
        sb.energy_out = ua;
        let energy = sa.energy;
        sa.energy = sb.energy;
        sb.energy = energy;
        let change = sa.change;
        sa.change = sb.change;
        sb.change = change;
        let walker = sa.walker;
        sa.walker = arrived(sb.walker, slot, replicas);
        sb.walker = arrived(walker, slot + 1u, replicas);
    }
    chain_state[a] = sa;
    chain_state[b] = sb;
}
