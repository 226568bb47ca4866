// backprop: the energy of every chain and dE/dz of every layer's pre-activation z, kept in
// scratch (unit-major, layer_table[l].delta; the last layer's dE/df at delta_a), for the
// weight gradients of weight_grad.wgsl. One chain per invocation; the float32 twin of
// src/reference/weight_grad.rs. Inner products unrolled by 8 as in mlp.wgsl (llvmpipe's
// loop limit).

#import bindings.wgsl
#import mlp.wgsl

// dE/dz of the layer below `l` (l >= 1) for chain c, from layer l's.
fn delta_below(l: u32, c: u32) {
    let layer = layer_table[l];
    let below = layer_table[l - 1u];
    let src = layer.delta;
    for (var i = 0u; i < layer.n_in; i++) {
        var g = 0.0;
        var j = 0u;
        for (; j + 8u <= layer.n_out; j += 8u) {
            g += weights[layer.weight + j * layer.n_in + i] * scratch[unit(src + j, c)];
            g += weights[layer.weight + (j + 1u) * layer.n_in + i] * scratch[unit(src + (j + 1u), c)];
            g += weights[layer.weight + (j + 2u) * layer.n_in + i] * scratch[unit(src + (j + 2u), c)];
            g += weights[layer.weight + (j + 3u) * layer.n_in + i] * scratch[unit(src + (j + 3u), c)];
            g += weights[layer.weight + (j + 4u) * layer.n_in + i] * scratch[unit(src + (j + 4u), c)];
            g += weights[layer.weight + (j + 5u) * layer.n_in + i] * scratch[unit(src + (j + 5u), c)];
            g += weights[layer.weight + (j + 6u) * layer.n_in + i] * scratch[unit(src + (j + 6u), c)];
            g += weights[layer.weight + (j + 7u) * layer.n_in + i] * scratch[unit(src + (j + 7u), c)];
        }
        for (; j < layer.n_out; j++) {
            g += weights[layer.weight + j * layer.n_in + i] * scratch[unit(src + j, c)];
        }
        scratch[unit(below.delta + i, c)] = g * scratch[unit(below.dact + i, c)];
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
