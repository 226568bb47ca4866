// One refinement step of one chain from its gradient in `grads`, y updated in place:
//   y <- clamp(y - eta * clip(dE/dy + prior_l2 * y) + sqrt(2 eta T) * N(0, 1))
// with (eta, sqrt(2 eta T)) = schedule[step], clip() scaling to at most clip_norm if > 0;
// held coordinates neither move nor count in the norm.
// Shared by the kernels that keep one chain per invocation at update time.

fn step_chain(c: u32, step: u32) {
    let chain = params.chain_offset + c;
    let base = c * params.y_dim;
    let at = schedule[step];
    var scale = 1.0;
    if params.clip_norm > 0.0 {
        var sumsq = 0.0;
        for (var i = base; i < base + params.y_dim; i++) {
            if !held(i) {
                let d = grads[i] + params.prior_l2 * ys[i];
                sumsq += d * d;
            }
        }
        let norm = sqrt(sumsq);
        if norm > params.clip_norm {
            scale = params.clip_norm / norm;
        }
    }
    for (var k = 0u; k < params.y_dim; k += 4u) {
        var noise = vec4<f32>(0.0);
        if at.y > 0.0 {
            noise = at.y * langevin_normals(chain, step, k / 4u);
        }
        let n = min(4u, params.y_dim - k);
        for (var q = 0u; q < n; q++) {
            let i = base + k + q;
            if held(i) {
                continue;
            }
            let yi = ys[i];
            var next = yi - at.x * ((grads[i] + params.prior_l2 * yi) * scale) + noise[q];
            if params.use_clamp != 0u {
                next = clamp(next, params.clamp_lo, params.clamp_hi);
            }
            ys[i] = next;
        }
    }
    if params.simplex > 0u {
        project_chain(c);
    }
}

// Projects each group of `params.simplex` consecutive coordinates of chain c's y onto the
// probability simplex {v >= 0, sum v = 1}, by Michelot's algorithm: tau from the group's
// sum, then from the coordinates above tau, until that set stops changing (at most g
// rounds). Groups with a held coordinate are left as they are.
fn project_chain(c: u32) {
    let g = params.simplex;
    for (var first = c * params.y_dim; first < (c + 1u) * params.y_dim; first += g) {
        var sum = 0.0;
        var any_held = false;
        for (var i = first; i < first + g; i++) {
            sum += ys[i];
            any_held = any_held || held(i);
        }
        if any_held {
            continue;
        }
        var tau = (sum - 1.0) / f32(g);
        for (var round = 0u; round < g; round++) {
            var above = 0.0;
            var count = 0.0;
            for (var i = first; i < first + g; i++) {
                if ys[i] > tau {
                    above += ys[i];
                    count += 1.0;
                }
            }
            tau = (above - 1.0) / count;
        }
        for (var i = first; i < first + g; i++) {
            ys[i] = max(ys[i] - tau, 0.0);
        }
    }
}

// Whether coordinate i (of all chains' y) is held fixed.
fn held(i: u32) -> bool {
    return params.use_fixed != 0u && fixed[i] != 0u;
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
