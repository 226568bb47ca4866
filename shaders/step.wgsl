// One refinement step of one chain from its gradient in `grads`, y updated in place:
//   y <- clamp(y - step_size * (dE/dy + prior_l2 * y) + noise_scale * N(0, 1))
// Shared by the kernels that keep one chain per invocation at update time.

fn step_chain(c: u32, step: u32) {
    let chain = params.chain_offset + c;
    let base = c * params.y_dim;
    for (var k = 0u; k < params.y_dim; k += 4u) {
        var noise = vec4<f32>(0.0);
        if params.noise_scale > 0.0 {
            noise = params.noise_scale * langevin_normals(chain, step, k / 4u);
        }
        let n = min(4u, params.y_dim - k);
        for (var q = 0u; q < n; q++) {
            let i = base + k + q;
            let yi = ys[i];
            var next = yi - params.step_size * (grads[i] + params.prior_l2 * yi) + noise[q];
            if params.use_clamp != 0u {
                next = clamp(next, params.clamp_lo, params.clamp_hi);
            }
            ys[i] = next;
        }
    }
}

// (prior_l2 / 2) |y|^2 of chain c.
fn prior_energy(c: u32) -> f32 {
    var prior = 0.0;
    for (var k = 0u; k < params.y_dim; k++) {
        let yk = ys[c * params.y_dim + k];
        prior += yk * yk;
    }
    return 0.5 * params.prior_l2 * prior;
}
