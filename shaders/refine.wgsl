// refine: all steps of (Langevin) refinement for one chain per invocation, y updated in
// place, no return to the host between steps; then the final energy with the prior.
//   y <- clamp(y - step_size * (dE/dy + prior_l2 * y) + noise_scale * N(0, 1))

@compute @workgroup_size(WORKGROUP_SIZE)
fn refine(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if c >= params.n_chains {
        return;
    }
    let chain = params.chain_offset + c;
    let base = c * params.y_dim;
    for (var s = 0u; s < params.steps; s++) {
        forward(c);
        backward(c);
        for (var k = 0u; k < params.y_dim; k += 4u) {
            var noise = vec4<f32>(0.0);
            if params.noise_scale > 0.0 {
                noise = params.noise_scale * langevin_normals(chain, params.step_offset + s, k / 4u);
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
    if params.write_energy == 0u {
        return;
    }
    var prior = 0.0;
    for (var k = 0u; k < params.y_dim; k++) {
        let yk = ys[base + k];
        prior += yk * yk;
    }
    energies[c] = forward(c) + 0.5 * params.prior_l2 * prior;
}
