// Resources shared by every kernel of the fused MLP family. The host twins of `Params` and
// `LayerDesc` are in src/params.rs (keep in sync: a test compares their layouts via naga).

struct Params {
    n_chains: u32,      // chains in this dispatch
    chain_offset: u32,  // global index of this dispatch's first chain (keys the noise)
    steps: u32,         // steps this dispatch runs
    step_offset: u32,   // global index of its first step (keys the noise)
    x_dim: u32,
    y_dim: u32,
    n_layers: u32,
    stride: u32,        // scratch holds unit u of chain c at u * stride + c
    seed_lo: u32,
    seed_hi: u32,
    delta_a: u32,       // scratch units of the two back-propagation buffers
    delta_b: u32,
    prior_l2: f32,
    use_clamp: u32,
    clamp_lo: f32,
    clamp_hi: f32,
    write_energy: u32,  // 0: this dispatch leaves the energy to a later one
    layer: u32,         // the layer a dispatch of the layered path works on
    xpart: u32,         // scratch units of W_x x + b (layered path)
    clip_norm: f32,     // > 0: each step's dE/dy + prior_l2 y is scaled to at most this norm
    use_fixed: u32,     // 1: coordinates with fixed[c * y_dim + k] != 0 never move
    simplex: u32,       // > 0: groups of this many coordinates are projected onto the simplex
    _pad1: u32,
    _pad2: u32,
}

// One affine layer: offsets into `weights` and scratch units of its outputs.
struct LayerDesc {
    n_in: u32,
    n_out: u32,
    weight: u32,  // [n_out, n_in] row-major, as nn.Linear stores it
    bias: u32,
    act: u32,     // first scratch unit of act(z) (of z itself for the last layer)
    dact: u32,    // first scratch unit of act'(z) (unused for the last layer)
    weight_t: u32,  // the same matrix transposed, [n_in, n_out] row-major
    _pad0: u32,
}

override WORKGROUP_SIZE: u32 = 64u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> weights: array<f32>;
@group(0) @binding(2) var<storage, read> layer_table: array<LayerDesc>;
@group(0) @binding(3) var<storage, read> xs: array<f32>;
@group(0) @binding(4) var<storage, read_write> ys: array<f32>;
@group(0) @binding(5) var<storage, read_write> energies: array<f32>;
@group(0) @binding(6) var<storage, read_write> grads: array<f32>;
// Unit-major so that neighbouring invocations (chains) touch neighbouring words.
@group(0) @binding(7) var<storage, read_write> scratch: array<f32>;
// Per step: (step size eta, noise scale sqrt(2 eta T)), from the schedule (src/schedule.rs).
@group(0) @binding(8) var<storage, read> schedule: array<vec2<f32>>;
// Per chain and coordinate, [n, y_dim]: nonzero where y is held at its start value.
@group(0) @binding(9) var<storage, read> fixed: array<u32>;
