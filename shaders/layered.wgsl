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

// layered: the path for models too wide for the fused kernels. The energy's program runs
// as a dispatch per matrix product (the program table's products, src/kernels/table.rs),
// a tiled product over (chains x units), and a per-chain dispatch for each run of the other
// instructions between them (energy_layered.wgsl, generated); every tensor stays in device memory
// (scratch, unit-major), and the steps of a submission are recorded together, with no
// read-back. Per step: the forward pass's dispatches, `layered_output` (the energy),
// the backward pass's, `layered_update`; the x-only part once per refinement. With an
// accept rule (MALA, keep-if-lower) the passes at y0 and `layered_start` come first, and
// each step is `layered_update` (the proposal), the passes at it, then `layered_settle`.
// Stopped chains skip the per-chain kernels, and the products skip tiles of LAYERED_TILE
// stopped chains.
//
// Cost per chain-step (P = multiply-adds, H = hidden units, D = y_dim, m = outputs):
//   FLOPs 4P + O(H); device memory: each product reads its input and writes its output
//   once per chain (about 4 (3H + 2D + m) x 4 bytes for an MLP), and each weight once per
//   LAYERED_TILE (16) chains (8P / 16 bytes per chain); dispatches: per step one per
//   product block and one per run of other instructions (2L + 3 for an MLP of L layers);
//   workgroup memory 2 KiB (two 16 x 16 tiles, LAYERED_TILE from the host,
//   src/constants.rs); registers: one accumulator per thread.

#import bindings.wgsl
#import philox.wgsl
#import step.wgsl
#import energy_layered.wgsl

// One product: out[c, j] = init + sum over k < rows of in[c, k] * M[k, j] for j < cols,
// M[k, j] = weights[m + k * ld + j], in at scratch unit src, out at dst; init is the
// weights from `start` (INIT_FILL, NONE: 0), the tensor at scratch unit `start`
// (INIT_TENSOR), or out itself (INIT_ADD); the INIT_* constants come from the host.
struct ProductDesc {
    m: u32,
    ld: u32,
    rows: u32,
    cols: u32,
    src: u32,
    dst: u32,
    init: u32,
    start: u32,
}

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

// Product i of the table.
fn product_desc(i: u32) -> ProductDesc {
    let at = program[HEADER_PRODUCTS] + i * PRODUCT_WORDS;
    return ProductDesc(program[at], program[at + 1u], program[at + 2u], program[at + 3u],
        program[at + 4u], program[at + 5u], program[at + 6u], program[at + 7u]);
}

// The dispatch's product (product_desc(params.layer)): LAYERED_TILE chains x LAYERED_TILE
// units per workgroup, inputs and weights staged LAYERED_TILE rows at a time.
fn product(local: vec3<u32>, wg: vec3<u32>) {
    let d = product_desc(params.layer);
    // Early stopping: a tile of stopped chains skips the product.
    if params.stop_flags != 0u && !tile_runs(local, wg) {
        return;
    }
    let c = wg.x * LAYERED_TILE + local.x;
    let j = wg.y * LAYERED_TILE + local.y;
    let jw = wg.y * LAYERED_TILE + local.x;
    let live = c < params.n_chains && j < d.cols;
    var acc = 0.0;
    if live {
        if d.init == INIT_FILL {
            if d.start != NONE {
                acc = weights[d.start + j];
            }
        } else if d.init == INIT_TENSOR {
            acc = scratch[unit(d.start + j, c)];
        } else {
            acc = scratch[unit(d.dst + j, c)];
        }
    }
    for (var k0 = 0u; k0 < d.rows; k0 += LAYERED_TILE) {
        let k = k0 + local.y;
        var v = 0.0;
        if k < d.rows && c < params.n_chains {
            v = scratch[unit(d.src + k, c)];
        }
        tin[local.y * LAYERED_TILE + local.x] = v;
        var w = 0.0;
        if k < d.rows && jw < d.cols {
            w = weights[d.m + k * d.ld + jw];
        }
        tw[local.y * LAYERED_TILE + local.x] = w;
        workgroupBarrier();
        for (var kk = 0u; kk < LAYERED_TILE; kk++) {
            acc += tin[kk * LAYERED_TILE + local.x] * tw[kk * LAYERED_TILE + local.y];
        }
        workgroupBarrier();
    }
    if live {
        scratch[unit(d.dst + j, c)] = acc;
    }
}

@compute @workgroup_size(LAYERED_TILE, LAYERED_TILE)
fn layered_product(@builtin(local_invocation_id) local: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
    product(local, wg);
}

// A run of the program's other instructions (segment params.layer), one chain each.
// Stopped chains skip it, except in the passes of the final energy.
@compute @workgroup_size(WORKGROUP_SIZE)
fn layered_pointwise(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if c >= params.n_chains || (params.write_energy == 0u && stopped(c)) {
        return;
    }
    layered_segment(params.layer, c);
}

// The energy of each chain with its prior, into its chain state's energy_out.
@compute @workgroup_size(WORKGROUP_SIZE)
fn layered_output(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if c >= params.n_chains {
        return;
    }
    use_prior_of(params.step_offset);
    chain_state[c].energy_out = layered_heads(c) + prior_energy(c);
    chain_state[c].mark = params.mark;
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
    let u = select(chain_state[c].energy_out, chain_state[c].energy, RULE != 0u);
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
    chain_state[c].energy = chain_state[c].energy_out;
}

// Accept rules: keeps or refuses the proposal, once the passes at it have run.
@compute @workgroup_size(WORKGROUP_SIZE)
fn layered_settle(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if c >= params.n_chains || stopped(c) {
        return;
    }
    use_prior_of(params.step_offset);
    settle(c, params.step_offset, chain_state[c].energy_out);
}
