// weight_grad: sum over the chains c of chain_weights[c] dE_c/dtheta for every parameter
// theta (each layer's weight [n_out, n_in], then its bias, packed as in `weights`), from
// what backprop.wgsl left in scratch: dE/dW[j, i] = dE/dz[j] * input[i], dE/db[j] = dE/dz[j].
// One invocation per parameter, the chains summed in order, so the result does not depend
// on scheduling (no atomics); added to param_grads, which the host clears first, so a batch
// split into chunks sums chunk by chunk in order.

#import train_bindings.wgsl
#import mlp.wgsl

// Input i of layer l for chain c: x then y for layer 0, the activation below otherwise.
fn layer_input(l: u32, i: u32, c: u32) -> f32 {
    if l > 0u {
        return scratch[unit(layer_table[l - 1u].act + i, c)];
    }
    if i < params.x_dim {
        return xs[c * params.x_dim + i];
    }
    return ys[c * params.y_dim + (i - params.x_dim)];
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn weight_grad(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    // Parameters over a 2-D grid of workgroups, row by row.
    let p = gid.y * groups.x * WORKGROUP_SIZE + gid.x;
    var l = 0u;
    for (; l + 1u < params.n_layers; l++) {
        if p < layer_table[l + 1u].weight {
            break;
        }
    }
    let layer = layer_table[l];
    let end = layer.bias + layer.n_out;
    if p < layer.weight || p >= end {
        return;
    }
    var sum = 0.0;
    if p < layer.bias {
        let j = (p - layer.weight) / layer.n_in;
        let i = (p - layer.weight) % layer.n_in;
        for (var c = 0u; c < params.n_chains; c++) {
            sum += chain_weights[c] * scratch[unit(layer.delta + j, c)] * layer_input(l, i, c);
        }
    } else {
        let j = p - layer.bias;
        for (var c = 0u; c < params.n_chains; c++) {
            sum += chain_weights[c] * scratch[unit(layer.delta + j, c)];
        }
    }
    param_grads[p] += sum;
}
