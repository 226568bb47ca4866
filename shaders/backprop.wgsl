// backprop: the energy of every chain and dE/dz of every layer's pre-activation z, kept in
// scratch (unit-major, layer_table[l].delta; the last layer's dE/df at delta_a), for the
// weight gradients of weight_grad.wgsl. One chain per invocation; the float32 twin of
// src/reference/weight_grad.rs. Its products are mlp.wgsl's `column_dot`.

#import bindings.wgsl
#import mlp.wgsl

// dE/dz of the layer below `l` (l >= 1) for chain c, from layer l's.
fn delta_below(l: u32, c: u32) {
    let layer = layer_table[l];
    let below = layer_table[l - 1u];
    for (var i = 0u; i < layer.n_in; i++) {
        scratch[unit(below.delta + i, c)] =
            column_dot(layer, i, layer.delta, c) * scratch[unit(below.dact + i, c)];
    }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn backprop(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if c >= params.n_chains {
        return;
    }
    energies[c] = forward(c);
    for (var l = params.n_layers - 1u; l > 0u; l--) {
        delta_below(l, c);
    }
}
