// layered: the path for models too wide for the fused kernels. Every layer of every step
// is a dispatch of its own, a tiled matrix product over (chains x units) with the
// activation or its derivative fused in; activations stay in device memory (scratch,
// unit-major), and the steps of a submission are recorded together, with no read-back.
// Per step: `layered_forward` for each layer, `layered_output`, `layered_backward` for
// each layer from the last, `layered_update`; `layered_xpart` once per refinement. With an
// accept rule (MALA, keep-if-lower) the passes at y0 and `layered_start` come first, and
// each step is `layered_update` (the proposal), the passes at it, then `layered_settle`.
// Stopped chains skip the per-chain kernels, and the products skip tiles of LAYERED_TILE stopped
// chains.
//
// Cost per chain-step (P = multiply-adds, H = hidden units, D = y_dim, m = outputs):
//   FLOPs 4P + O(H); device memory: each product reads its input and writes its output
//   once per chain (about 4 (3H + 2D + m) x 4 bytes), and each weight once per
//   LAYERED_TILE (16) chains (8P / 16 bytes per chain); dispatches: 2L + 2 per step, L + 1
//   for the final energy and 1 for W_x x + b; workgroup memory 2 KiB (two 16 x 16 tiles,
//   LAYERED_TILE from the host, src/constants.rs); registers:
//   one accumulator per thread.

#import bindings.wgsl
#import activation.wgsl
#import philox.wgsl
#import mlp.wgsl
#import step.wgsl

const MODE_XPART: u32 = 0u;
const MODE_FORWARD: u32 = 1u;
const MODE_BACKWARD: u32 = 2u;

var<workgroup> tin: array<f32, LAYERED_TILE * LAYERED_TILE>;   // [k][chain] of the tile's input
var<workgroup> tw: array<f32, LAYERED_TILE * LAYERED_TILE>;   // [k][unit] of the tile's matrix
var<workgroup> tile_live: u32;         // whether a chain of the tile still runs

// Whether any of the LAYERED_TILE chains of this workgroup still runs (the same in every thread).
// The passes of the final energy (write_energy) cover every chain.
fn tile_runs(local: vec3<u32>, wg: vec3<u32>) -> bool {
    if local.x == 0u && local.y == 0u {
        var live = params.write_energy;
        for (var i = 0u; i < LAYERED_TILE; i++) {
            let c = wg.x * LAYERED_TILE + i;
            if c < params.n_chains && !stopped(c) {
                live = 1u;
            }
        }
        tile_live = live;
    }
    return workgroupUniformLoad(&tile_live) != 0u;
}

// Where the back-propagated dE/dz of layer l's outputs is, and where layer l writes the
// one of its inputs: delta_a and delta_b alternate from the last layer down.
fn delta_src(l: u32) -> u32 {
    return select(params.delta_b, params.delta_a, (params.n_layers - 1u - l) % 2u == 0u);
}

fn delta_dst(l: u32) -> u32 {
    return select(params.delta_a, params.delta_b, (params.n_layers - 1u - l) % 2u == 0u);
}

// Input k of chain c of this dispatch's product.
fn product_input(mode: u32, l: u32, k: u32, c: u32) -> f32 {
    if mode == MODE_XPART {
        return xs[c * params.x_dim + k];
    }
    if mode == MODE_FORWARD {
        if l == 0u {
            return ys[c * params.y_dim + k];
        }
        return scratch[unit(layer_table[l - 1u].act + k, c)];
    }
    return scratch[unit(delta_src(l) + k, c)];
}

// The value output j of chain c starts from: the bias, W_x x + b, or 0.
fn product_init(mode: u32, l: u32, j: u32, c: u32) -> f32 {
    if mode == MODE_FORWARD && l == 0u {
        return scratch[unit(params.xpart + j, c)];
    }
    if mode == MODE_BACKWARD {
        return 0.0;
    }
    return weights[layer_table[l].bias + j];
}

fn product_store(mode: u32, l: u32, j: u32, c: u32, z: f32) {
    let layer = layer_table[l];
    if mode == MODE_XPART {
        scratch[unit(params.xpart + j, c)] = z;
    } else if mode == MODE_FORWARD {
        if l + 1u == params.n_layers {
            scratch[unit(layer.act + j, c)] = z;
        } else {
            let a = act_and_grad(z);
            scratch[unit(layer.act + j, c)] = a.x;
            scratch[unit(layer.dact + j, c)] = a.y;
        }
    } else if l == 0u {
        grads[c * params.y_dim + j] = z;
    } else {
        scratch[unit(delta_dst(l) + j, c)] = z * scratch[unit(layer_table[l - 1u].dact + j, c)];
    }
}

// out[c, j] = init + sum over k of in[c, k] * M[k, j], M[k, j] = weights[m + k * ld + j]:
// LAYERED_TILE chains x LAYERED_TILE units per workgroup, inputs and weights staged
// LAYERED_TILE rows at a time.
fn product(mode: u32, local: vec3<u32>, wg: vec3<u32>) {
    let l = params.layer;
    let layer = layer_table[l];
    var m = layer.weight_t;
    var ld = layer.n_out;
    var rows = layer.n_in;
    var cols = layer.n_out;
    if mode == MODE_XPART {
        rows = params.x_dim;
    } else if mode == MODE_FORWARD && l == 0u {
        m = layer.weight_t + params.x_dim * layer.n_out;
        rows = params.y_dim;
    } else if mode == MODE_BACKWARD {
        m = layer.weight;
        ld = layer.n_in;
        rows = layer.n_out;
        if l == 0u {
            m = layer.weight + params.x_dim;
            cols = params.y_dim;
        } else {
            cols = layer.n_in;
        }
    }
    // Early stopping: a tile of stopped chains skips the product.
    if params.stop_flags != 0u && !tile_runs(local, wg) {
        return;
    }
    let c = wg.x * LAYERED_TILE + local.x;
    let j = wg.y * LAYERED_TILE + local.y;
    let jw = wg.y * LAYERED_TILE + local.x;
    let live = c < params.n_chains && j < cols;
    var acc = 0.0;
    if live {
        acc = product_init(mode, l, j, c);
    }
    for (var k0 = 0u; k0 < rows; k0 += LAYERED_TILE) {
        let k = k0 + local.y;
        var v = 0.0;
        if k < rows && c < params.n_chains {
            v = product_input(mode, l, k, c);
        }
        tin[local.y * LAYERED_TILE + local.x] = v;
        var w = 0.0;
        if k < rows && jw < cols {
            w = weights[m + k * ld + jw];
        }
        tw[local.y * LAYERED_TILE + local.x] = w;
        workgroupBarrier();
        for (var kk = 0u; kk < LAYERED_TILE; kk++) {
            acc += tin[kk * LAYERED_TILE + local.x] * tw[kk * LAYERED_TILE + local.y];
        }
        workgroupBarrier();
    }
    if live {
        product_store(mode, l, j, c, acc);
    }
}

@compute @workgroup_size(LAYERED_TILE, LAYERED_TILE)
fn layered_xpart(@builtin(local_invocation_id) local: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
    product(MODE_XPART, local, wg);
}

@compute @workgroup_size(LAYERED_TILE, LAYERED_TILE)
fn layered_forward(@builtin(local_invocation_id) local: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
    product(MODE_FORWARD, local, wg);
}

@compute @workgroup_size(LAYERED_TILE, LAYERED_TILE)
fn layered_backward(@builtin(local_invocation_id) local: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
    product(MODE_BACKWARD, local, wg);
}

// The energy of each chain with its prior, into `energies`, and dE/df.
@compute @workgroup_size(WORKGROUP_SIZE)
fn layered_output(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if c >= params.n_chains {
        return;
    }
    use_prior_of(params.step_offset);
    energies[c] = output_layer(c) + prior_energy(c);
}

// The trace and stop tests of a step, then the step (the proposal, for an accept rule).
@compute @workgroup_size(WORKGROUP_SIZE)
fn layered_update(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if c >= params.n_chains || stopped(c) {
        return;
    }
    let step = params.step_offset;
    use_prior_of(step);
    let u = select(energies[c], chain_state[c].energy, RULE != 0u);
    if begin_step(c, step, u) {
        step_chain(c, step);
    }
}

// Accept rules: the energy of the start y, once the passes at y0 have run.
@compute @workgroup_size(WORKGROUP_SIZE)
fn layered_start(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if c >= params.n_chains || stopped(c) {
        return;
    }
    chain_state[c].energy = energies[c];
}

// Accept rules: keeps or refuses the proposal, once the passes at it have run.
@compute @workgroup_size(WORKGROUP_SIZE)
fn layered_settle(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if c >= params.n_chains || stopped(c) {
        return;
    }
    use_prior_of(params.step_offset);
    settle(c, params.step_offset, energies[c]);
}
