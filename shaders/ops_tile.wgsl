// The ops of energy graphs for the tile kernel (tile.wgsl): CHAINS chains per workgroup as
// groups of 4 (one vec4 per value), each group's features spread over its lanes. Every
// tensor of the program lives in registers: a thread owns the units lane, lane + lanes(),
// ... of every tensor for its 4 chains, at regs[t + a] for its a-th unit (t the tensor's
// offset, which the generated energy code passes as a constant: after inlining the
// indices are constants and the values stay in registers). A Scalar (a norm's
// 1 / sqrt(var + eps)) is one vec4 that every lane holds.
//
// So elementwise ops never leave the thread. A matrix product reads its input through
// workgroup memory (`act`, one row per feature), its weights K_TILE rows at a time
// (`wtile`), and leaves its outputs in `acc`; a norm or a logsumexp adds up over the lanes
// (lane_total.wgsl); a copy between features of different lanes (slice, concat) goes
// through `act`.
//
// Cost per chain-step on top of the products (n features, 4 chains per thread): an
// elementwise op n / lanes() vec4 ops per thread and no memory but registers; a norm 2
// lane totals forward, 2 backward (4 barriers each); a logsumexp head 2 lane totals each
// way; a copy between lanes one pass through `act` (2 barriers). The products:
// 2 barriers per K_TILE rows; narrow ones (at most NARROW outputs) split their rows over
// the lanes and add the partial sums with lane_sum().

#import bindings.wgsl
#import ops.wgsl
#import tile_layout.wgsl
#import lane_total.wgsl

// Sizes fixed per pipeline, written by the host in front of this file as constants
// (src/kernels/tile.rs, Sizes): CHAINS, WIDTH (the widest tensor), K_TILE, and REGS (the
// program's registers per thread, from its liveness).

var<workgroup> act: array<vec4<f32>, WIDTH * CHAINS / 4u>;
var<workgroup> wtile: array<f32, K_TILE * WIDTH>;

var<private> acc: array<vec4<f32>, MAX_UNITS>;
var<private> regs: array<vec4<f32>, REGS>;

// acc[a] += sum over r < rows of M[r, u_a] * act[r] for this thread's units u_a < cols,
// where M[r, c] = weights[m + r * ld + c]. Ends with a barrier, so the caller may
// overwrite `act`.
fn gemm(m: u32, ld: u32, rows: u32, cols: u32) {
    let n = owned(cols);
    for (var r0 = 0u; r0 < rows; r0 += K_TILE) {
        let kt = min(K_TILE, rows - r0);
        workgroupBarrier();
        for (var i = lid; i < kt * cols; i += WORKGROUP_SIZE) {
            let r = i / cols;
            wtile[i] = weights[m + (r0 + r) * ld + (i - r * cols)];
        }
        workgroupBarrier();
        for (var k = 0u; k < kt; k++) {
            let v = act[row(r0 + k)];
            let w = k * cols + lane;
            for (var a = 0u; a < MAX_UNITS; a++) {
                if a < n {
                    acc[a] += wtile[w + a * lanes()] * v;
                }
            }
        }
    }
    workgroupBarrier();
}

// Products with at most NARROW outputs (an output layer, a narrow y; NARROW from the host):
// the rows are split over the lanes and the partial sums added with lane_sum() (subgroup
// operations where the adapter has them), instead of rows / K_TILE rounds of gemm() in which
// only `cols` lanes work. Reads `act` at once: the caller puts a barrier after writing it.
fn gemm_narrow(m: u32, ld: u32, rows: u32, cols: u32) {
    for (var j = 0u; j < cols; j++) {
        var part = vec4<f32>(0.0);
        for (var r = lane; r < rows; r += lanes()) {
            part += weights[m + r * ld + j] * act[row(r)];
        }
        let total = lane_sum(part, lane == j);
        if lane == j {
            acc[0] += total;
        }
    }
}

// acc += the product M^T act for this thread's units, by whichever of the two suits `cols`.
// Ends with a barrier, so the caller may overwrite `act`.
fn product(m: u32, ld: u32, rows: u32, cols: u32) {
    if cols <= NARROW {
        gemm_narrow(m, ld, rows, cols);
        workgroupBarrier();
    } else {
        gemm(m, ld, rows, cols);
    }
}

// x of chain q at coordinate i, 0 past the end of the batch (those chains are never stored).
fn x_value(q: u32, i: u32) -> f32 {
    let c = chain_of(q);
    if c < params.n_chains {
        return xs[c * params.x_dim + i];
    }
    return 0.0;
}

fn t_load_x(dst: u32) {
    for (var a = 0u; a < MAX_UNITS; a++) {
        if a < owned(params.x_dim) {
            let u = lane + a * lanes();
            regs[dst + a] = vec4<f32>(x_value(0u, u), x_value(1u, u), x_value(2u, u), x_value(3u, u));
        }
    }
}

// The landscape index t (one feature): the dispatch's, the same for every chain.
fn t_load_t(dst: u32) {
    if owned(1u) > 0u {
        regs[dst] = vec4<f32>(params.landscape);
    }
}

// act rows 0 .. n = tensor src (n features). No barrier: see the callers.
fn t_to_act(src: u32, n: u32) {
    for (var a = 0u; a < MAX_UNITS; a++) {
        if a < owned(n) {
            act[row(lane + a * lanes())] = regs[src + a];
        }
    }
}

// acc = the n weights from `start` (a bias), or 0 where `start` is NONE.
fn t_acc_fill(n: u32, start: u32) {
    for (var a = 0u; a < MAX_UNITS; a++) {
        if a < owned(n) {
            var v = vec4<f32>(0.0);
            if start != NONE {
                v = vec4<f32>(weights[start + lane + a * lanes()]);
            }
            acc[a] = v;
        }
    }
}

// acc = tensor src (a linear's x-only part).
fn t_acc_from(src: u32, n: u32) {
    for (var a = 0u; a < MAX_UNITS; a++) {
        if a < owned(n) {
            acc[a] = regs[src + a];
        }
    }
}

fn t_acc_store(dst: u32, n: u32) {
    for (var a = 0u; a < MAX_UNITS; a++) {
        if a < owned(n) {
            regs[dst + a] = acc[a];
        }
    }
}

// dst += acc (a linear block's backward pass).
fn t_acc_add_to(dst: u32, n: u32) {
    for (var a = 0u; a < MAX_UNITS; a++) {
        if a < owned(n) {
            regs[dst + a] += acc[a];
        }
    }
}

// dst = act(src), and act'(src) into `deriv` unless it is NONE.
fn t_activation(dst: u32, deriv: u32, src: u32, n: u32, kind: u32) {
    for (var a = 0u; a < MAX_UNITS; a++) {
        if a < owned(n) {
            let h = activation4(kind, regs[src + a]);
            regs[dst + a] = h.value;
            if deriv != NONE {
                regs[deriv + a] = h.grad;
            }
        }
    }
}

fn t_affine(dst: u32, src: u32, n: u32, scale: f32, shift: f32) {
    for (var a = 0u; a < MAX_UNITS; a++) {
        if a < owned(n) {
            regs[dst + a] = scale * regs[src + a] + shift;
        }
    }
}

// dst = a op b, op one of BINARY_ADD, BINARY_SUB, BINARY_MUL.
fn t_binary(dst: u32, x: u32, y: u32, n: u32, op: u32) {
    for (var a = 0u; a < MAX_UNITS; a++) {
        if a < owned(n) {
            let u = regs[x + a];
            let v = regs[y + a];
            var r = u * v;
            if op == BINARY_ADD {
                r = u + v;
            } else if op == BINARY_SUB {
                r = u - v;
            }
            regs[dst + a] = r;
        }
    }
}

fn t_zero(dst: u32, n: u32) {
    for (var a = 0u; a < MAX_UNITS; a++) {
        if a < owned(n) {
            regs[dst + a] = vec4<f32>(0.0);
        }
    }
}

// dst += x * y.
fn t_mul_add(dst: u32, x: u32, y: u32, n: u32) {
    for (var a = 0u; a < MAX_UNITS; a++) {
        if a < owned(n) {
            regs[dst + a] += regs[x + a] * regs[y + a];
        }
    }
}

// dst[at .. at + len] += scale * src[at .. at + len]: features at the same place in both
// tensors belong to the same lane.
fn t_axpy(dst: u32, src: u32, at: u32, len: u32, scale: f32) {
    for (var a = 0u; a < MAX_UNITS; a++) {
        let u = lane + a * lanes();
        if u >= at && u < at + len {
            regs[dst + a] += scale * regs[src + a];
        }
    }
}

// dst[at .. at + len] = src[at .. at + len] (a copy within the same lanes).
fn t_assign(dst: u32, src: u32, at: u32, len: u32) {
    for (var a = 0u; a < MAX_UNITS; a++) {
        let u = lane + a * lanes();
        if u >= at && u < at + len {
            regs[dst + a] = regs[src + a];
        }
    }
}

// dst[at .. at + len] = src[start .. start + len] (with `add`: dst += scale * that), where
// the features move between lanes: through `act`. src has n_src features.
fn t_shift(dst: u32, at: u32, src: u32, start: u32, len: u32, n_src: u32, add: bool, scale: f32) {
    t_to_act(src, n_src);
    workgroupBarrier();
    for (var a = 0u; a < MAX_UNITS; a++) {
        let u = lane + a * lanes();
        if u >= at && u < at + len {
            let v = act[row(u - at + start)];
            if add {
                regs[dst + a] += scale * v;
            } else {
                regs[dst + a] = v;
            }
        }
    }
    workgroupBarrier();
}

// LayerNorm (centred) or RMSNorm over n features: xhat = (src - mean) * rstd, rstd =
// 1 / sqrt(var + eps) (the mean square for RMSNorm), dst = xhat * gain + bias (gain and
// bias offsets into the weights, or NONE). Both sums are taken for either kind, so that
// every thread meets the same barriers.
fn t_norm(dst: u32, xhat: u32, rstd: u32, src: u32, n: u32, centred: bool, eps: f32, gain: u32, bias: u32) {
    var sum = vec4<f32>(0.0);
    for (var a = 0u; a < MAX_UNITS; a++) {
        if a < owned(n) {
            sum += regs[src + a];
        }
    }
    let mean = select(vec4<f32>(0.0), lane_total(sum) / f32(n), centred);
    var squares = vec4<f32>(0.0);
    for (var a = 0u; a < MAX_UNITS; a++) {
        if a < owned(n) {
            let d = regs[src + a] - mean;
            squares += d * d;
        }
    }
    let r = inverseSqrt(lane_total(squares) / f32(n) + eps);
    regs[rstd] = r;
    for (var a = 0u; a < MAX_UNITS; a++) {
        if a < owned(n) {
            let u = lane + a * lanes();
            let h = (regs[src + a] - mean) * r;
            regs[xhat + a] = h;
            var v = h;
            if gain != NONE {
                v *= weights[gain + u];
            }
            if bias != NONE {
                v += weights[bias + u];
            }
            regs[dst + a] = v;
        }
    }
}

// The norm's input delta from its output's (ops_chain.wgsl's g_norm_back, 4 chains).
fn t_norm_back(d_in: u32, d_out: u32, xhat: u32, rstd: u32, n: u32, centred: bool, gain: u32) {
    var sum_d = vec4<f32>(0.0);
    var sum_dx = vec4<f32>(0.0);
    for (var a = 0u; a < MAX_UNITS; a++) {
        if a < owned(n) {
            var gd = regs[d_out + a];
            if gain != NONE {
                gd *= weights[gain + lane + a * lanes()];
            }
            sum_d += gd;
            sum_dx += gd * regs[xhat + a];
        }
    }
    let mean_d = select(vec4<f32>(0.0), lane_total(sum_d) / f32(n), centred);
    let mean_dx = lane_total(sum_dx) / f32(n);
    let r = regs[rstd];
    for (var a = 0u; a < MAX_UNITS; a++) {
        if a < owned(n) {
            var gd = regs[d_out + a];
            if gain != NONE {
                gd *= weights[gain + lane + a * lanes()];
            }
            regs[d_in + a] += r * (gd - mean_d - regs[xhat + a] * mean_dx);
        }
    }
}

// This thread's share of a summing head's value over src (n features, unscaled): the
// lanes' shares add up to it.
fn t_head_sum(src: u32, n: u32, head: u32) -> vec4<f32> {
    var e = vec4<f32>(0.0);
    for (var a = 0u; a < MAX_UNITS; a++) {
        if a < owned(n) {
            let t = regs[src + a];
            e += vec4<f32>(head_term(head, t.x).x, head_term(head, t.y).x, head_term(head, t.z).x,
                head_term(head, t.w).x);
        }
    }
    if head_is_mean(head) {
        e /= f32(n);
    }
    return e;
}

fn t_head_sum_back(delta: u32, src: u32, n: u32, head: u32, scale: f32) {
    var k = scale;
    if head_is_mean(head) {
        k /= f32(n);
    }
    for (var a = 0u; a < MAX_UNITS; a++) {
        if a < owned(n) {
            let t = regs[src + a];
            regs[delta + a] += k * vec4<f32>(head_term(head, t.x).y, head_term(head, t.y).y,
                head_term(head, t.z).y, head_term(head, t.w).y);
        }
    }
}

// logsumexp over src per chain, in every lane.
fn t_lse(src: u32, n: u32) -> vec4<f32> {
    var m = vec4<f32>(-FLT_MAX);
    for (var a = 0u; a < MAX_UNITS; a++) {
        if a < owned(n) {
            m = max(m, regs[src + a]);
        }
    }
    m = lane_max_total(m);
    var s = vec4<f32>(0.0);
    for (var a = 0u; a < MAX_UNITS; a++) {
        if a < owned(n) {
            s += exp(regs[src + a] - m);
        }
    }
    return m + log(lane_total(s));
}

// This thread's share of logsumexp(src): the whole of it in lane 0.
fn t_head_lse(src: u32, n: u32) -> vec4<f32> {
    let lse = t_lse(src, n);
    return select(vec4<f32>(0.0), lse, lane == 0u);
}

fn t_head_lse_back(delta: u32, src: u32, n: u32, scale: f32) {
    let lse = t_lse(src, n);
    for (var a = 0u; a < MAX_UNITS; a++) {
        if a < owned(n) {
            regs[delta + a] += scale * exp(regs[src + a] - lse);
        }
    }
}
