// The layer table's entry, shared by the MLP kernels (bindings.wgsl) and the optimiser
// (optimizer.wgsl); its host twin is `LayerDesc` in src/kernels/params.rs.

// One affine layer: offsets into `weights` and scratch units of its outputs.
struct LayerDesc {
    n_in: u32,
    n_out: u32,
    weight: u32,  // [n_out, n_in] row-major, as nn.Linear stores it
    bias: u32,
    act: u32,     // first scratch unit of act(z) (of z itself for the last layer)
    dact: u32,    // first scratch unit of act'(z) (unused for the last layer)
    weight_t: u32,  // the same matrix transposed, [n_in, n_out] row-major
    delta: u32,   // first scratch unit of dE/dz (backprop.wgsl; the last layer's is delta_a)
}
