// The kernels of a training step around the sampler and the weight gradients:
//   draw_negatives   each negative's start: its replay slot, or a fresh draw of the noise
//   store_negatives  the refined negatives back into their slots
//   loss_weights     the loss, its statistics, and dLoss/dE of every chain
// One step runs draw_negatives, the fused sampler (CD), store_negatives, backprop over
// negatives and positives, loss_weights, weight_grad, then optimizer.wgsl. The float64 twin
// is src/reference/train.rs.

#import train_bindings.wgsl
#import philox.wgsl

// Counter words of the training draws (the sampler's noise uses 0, MALA's accept test 1).
const DRAW_START: u32 = 2u;
const DRAW_REINIT: u32 = 3u;

fn train_key() -> vec2<u32> {
    return vec2<u32>(train.seed_lo, train.seed_hi);
}

// Whether negative c of this step starts from noise instead of its replay slot.
fn starts_from_noise(c: u32) -> bool {
    if train.replay_size == 0u {
        return true;
    }
    let u = uniform_open0(philox4x32_10(vec4<u32>(0u, train.step, c, DRAW_REINIT), train_key()).x);
    return u <= train.reinit;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn draw_negatives(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if c >= train.batch {
        return;
    }
    let d = params.y_dim;
    if starts_from_noise(c) {
        for (var b = 0u; b * 4u < d; b++) {
            let z = normals4(philox4x32_10(vec4<u32>(b, train.step, c, DRAW_START), train_key()));
            for (var q = 0u; q < 4u && 4u * b + q < d; q++) {
                let k = 4u * b + q;
                ys[c * d + k] = noise[k] + noise[d + k] * z[q];
            }
        }
    } else {
        let slot = (train.replay_offset + c) % train.replay_size;
        for (var k = 0u; k < d; k++) {
            ys[c * d + k] = replay[slot * d + k];
        }
    }
    chain_state[c] = ChainState(0.0, 1.0, RUNNING, 0u, FLT_MAX, RUNNING, 0.0, 0.0, 0u, 1.0, 0u, 0u, 0u, 0.0, 0u);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn store_negatives(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if c >= train.batch || train.replay_size == 0u {
        return;
    }
    let d = params.y_dim;
    let slot = (train.replay_offset + c) % train.replay_size;
    for (var k = 0u; k < d; k++) {
        replay[slot * d + k] = ys[c * d + k];
    }
}

// log q(y) of chain c under the noise distribution.
fn log_noise(c: u32) -> f32 {
    let d = params.y_dim;
    var sum = 0.0;
    for (var k = 0u; k < d; k++) {
        let sd = noise[d + k];
        let z = (ys[c * d + k] - noise[k]) / sd;
        sum += -0.5 * z * z - log(sd) - 0.9189385332046727;
    }
    return sum;
}

// log(1 + exp(v)) without overflow.
fn softplus(v: f32) -> f32 {
    return max(v, 0.0) + log(1.0 + exp(-abs(v)));
}

fn sigmoid(v: f32) -> f32 {
    if v >= 0.0 {
        return 1.0 / (1.0 + exp(-v));
    }
    let e = exp(v);
    return e / (1.0 + e);
}

// Per thread: (sum of positive energies, of negative ones, of the positives' loss terms,
// of the negatives' loss terms); the non-finite count apart.
var<workgroup> partial: array<vec4<f32>, TRAIN_THREADS>;
var<workgroup> bad: array<u32, TRAIN_THREADS>;

// One workgroup: every chain's dLoss/dE into chain_weights, the loss and mean energies into
// the step's statistics row, summed in a fixed order (the result does not depend on
// scheduling). CD: loss = mean E+ - mean E- + alpha (mean E+^2 + mean E-^2). NCE (noise q,
// logit s = -E - log q): loss = mean softplus(-s+) + mean softplus(s-).
@compute @workgroup_size(TRAIN_THREADS)
fn loss_weights(@builtin(local_invocation_index) lid: u32) {
    let b = train.batch;
    let inv_b = 1.0 / f32(b);
    var sums = vec4<f32>(0.0);
    var non_finite = 0u;
    for (var c = lid; c < 2u * b; c += TRAIN_THREADS) {
        let e = chain_state[c].energy_out;
        let positive = c >= b;
        var w: f32;
        var term: f32;
        if train.objective == OBJECTIVE_NCE {
            let s = -e - log_noise(c);
            if positive {
                w = sigmoid(-s) * inv_b;
                term = softplus(-s);
            } else {
                w = -sigmoid(s) * inv_b;
                term = softplus(s);
            }
        } else {
            let sign = select(-1.0, 1.0, positive);
            w = (sign + 2.0 * train.alpha * e) * inv_b;
            term = e * e;
        }
        chain_weights[c] = w;
        if positive {
            sums += vec4<f32>(e, 0.0, term, 0.0);
        } else {
            sums += vec4<f32>(0.0, e, 0.0, term);
        }
        non_finite += u32(!finite(e) || !finite(w));
    }
    partial[lid] = sums;
    bad[lid] = non_finite;
    for (var half = TRAIN_THREADS / 2u; half > 0u; half /= 2u) {
        workgroupBarrier();
        if lid < half {
            partial[lid] += partial[lid + half];
            bad[lid] += bad[lid + half];
        }
    }
    if lid == 0u {
        let s = partial[0] * inv_b;
        var loss: f32;
        if train.objective == OBJECTIVE_NCE {
            loss = s.z + s.w;
        } else {
            loss = s.x - s.y + train.alpha * (s.z + s.w);
        }
        let at = STATS_HEADER + train.row * STATS_ROW;
        train_stats[at + ROW_LOSS] = bitcast<u32>(loss);
        train_stats[at + ROW_ENERGY_POS] = bitcast<u32>(s.x);
        train_stats[at + ROW_ENERGY_NEG] = bitcast<u32>(s.y);
        train_stats[at + ROW_FLAGS] = select(0u, FLAG_LOSS, bad[0] > 0u || !finite(loss));
        train_stats[at + ROW_MARK] = train.step ^ MARK_LOSS;
    }
}
