// weight_grad: sum over the chains c of chain_weights[c] dE_c/dtheta for every parameter
// theta (packed as in `weights`), from what backprop.wgsl left in scratch: each linear's
// dE/dW[j, i] = dE/dout[j] * input[i] and dE/db[j] = dE/dout[j], each norm's gain
// dE/dout[i] * xhat[i] and bias dE/dout[i] (energy_train.wgsl's param_grad, generated).
// One invocation per parameter, the chains summed in order, so the result does not depend
// on scheduling (no atomics); added to param_grads, which the host clears first, so a batch
// split into chunks sums chunk by chunk in order.

#import train_bindings.wgsl
#import energy_train.wgsl
#import energy_grads.wgsl

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

@compute @workgroup_size(WORKGROUP_SIZE)
fn weight_grad(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    // Parameters over a 2-D grid of workgroups, row by row.
    let p = gid.y * groups.x * WORKGROUP_SIZE + gid.x;
    if p >= N_PARAMS {
        return;
    }
    param_grads[p] += param_grad(p);
}
