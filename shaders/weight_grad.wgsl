// weight_grad: sum over the chains c of chain_weights[c] dE_c/dtheta for every parameter
// theta (packed as in `weights`), from what backprop.wgsl left in scratch: each linear's
// dE/dW[j, i] = dE/dout[j] * input[i] and dE/db[j] = dE/dout[j], each norm's gain
// dE/dout[i] * xhat[i] and bias dE/dout[i] (the `program` table's entries, GRAD_*).
// One invocation per parameter, the chains summed in order, so the result does not depend
// on scheduling (no atomics); added to param_grads, which the host clears first, so a batch
// split into chunks sums chunk by chunk in order.

#import train_bindings.wgsl
#import ops_chain.wgsl


// Sum over the chains of chain_weights[c] * scratch[a] (* scratch[b]).
fn chain_sum1(a: u32) -> f32 {
    var sum = 0.0;
    for (var c = 0u; c < params.n_chains; c++) {
        sum += chain_weights[c] * scratch[unit(a, c)];
    }
    return sum;
}

fn chain_sum2(a: u32, b: u32) -> f32 {
    var sum = 0.0;
    for (var c = 0u; c < params.n_chains; c++) {
        sum += chain_weights[c] * scratch[unit(a, c)] * scratch[unit(b, c)];
    }
    return sum;
}

// dE/dtheta of parameter p (packed index), summed over the chains with their weights:
// every table entry that covers p adds its share (a parameter several nodes read).
fn param_grad(p: u32) -> f32 {
    var g = 0.0;
    let table = program[HEADER_GRADS];
    for (var k = 0u; k < program[HEADER_GRADS + 1u]; k++) {
        let at = table + k * GRAD_WORDS;
        let first = program[at + 1u];
        if p < first || p >= program[at + 2u] {
            continue;
        }
        let q = p - first;
        let delta = program[at + 4u];
        let kind = program[at];
        if kind == GRAD_WEIGHT {
            let ld = program[at + 3u];
            let j = q / ld;
            let i = q % ld;
            let col = program[at + 6u];
            if i >= col && i < col + program[at + 7u] {
                g += chain_sum2(delta + j, program[at + 5u] + i - col);
            }
        } else if kind == GRAD_GAIN {
            g += chain_sum2(delta + q, program[at + 5u] + q);
        } else {
            g += chain_sum1(delta + q);
        }
    }
    return g;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn weight_grad(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    // Parameters over a 2-D grid of workgroups, row by row.
    let p = gid.y * groups.x * WORKGROUP_SIZE + gid.x;
    if p >= program[HEADER_PARAMS] {
        return;
    }
    param_grads[p] += param_grad(p);
}
