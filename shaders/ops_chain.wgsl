// The ops of energy graphs for kernels that keep one chain per invocation (the chain path,
// eval, the layered path's per-chain passes, backprop): every tensor of chain c lives in
// scratch, unit-major (unit u of chain c at u * stride + c, so that neighbouring
// invocations touch neighbouring words), at the offsets the generated calls read from the
// program table (src/kernels/codegen.rs, src/kernels/table.rs). Each function is one
// instruction of src/kernels/program.rs; the float64 twins are in src/reference/graph.rs.
//
// Cost per chain, n features: elementwise ops n reads and writes of scratch; a linear
// block rows x n multiply-adds, each weight read once (the workgroup's chains share them
// through the cache); a norm 3 passes over n (mean, variance, output), its backward 3.
//
// The inner products are unrolled by 8 (same summation order) because Mesa's llvmpipe
// (lavapipe) caps the loop back-edges of one invocation at 65,535, all loops together:
// past that every loop silently stops after one iteration. src/kernels/table.rs counts
// each instruction's loop iterations for the planner (src/plan/llvmpipe.rs). (For the same
// reason each instruction is a call of its own, not a branch of an interpreter: llvmpipe
// runs every branch with its lanes masked, the loops in it included.)

#import bindings.wgsl
#import ops.wgsl

fn unit(u: u32, c: u32) -> u32 {
    return u * params.stride + c;
}

fn g_load_x(c: u32, dst: u32) {
    for (var i = 0u; i < params.x_dim; i++) {
        scratch[unit(dst + i, c)] = xs[c * params.x_dim + i];
    }
}

fn g_load_y(c: u32, dst: u32) {
    for (var i = 0u; i < params.y_dim; i++) {
        scratch[unit(dst + i, c)] = ys[c * params.y_dim + i];
    }
}

// The landscape index t: the dispatch's (its stage's), the same for every chain.
fn g_load_t(c: u32, dst: u32) {
    scratch[unit(dst, c)] = params.landscape;
}

// dst = the n weights from offset `start`, or 0 where `start` is NONE (a linear's bias).
fn g_fill(c: u32, dst: u32, n: u32, start: u32) {
    for (var i = 0u; i < n; i++) {
        var v = 0.0;
        if start != NONE {
            v = weights[start + i];
        }
        scratch[unit(dst + i, c)] = v;
    }
}

fn g_copy(c: u32, dst: u32, src: u32, n: u32) {
    for (var i = 0u; i < n; i++) {
        scratch[unit(dst + i, c)] = scratch[unit(src + i, c)];
    }
}

// dst[r] += sum over k < n of M[r, k] src[k], M[r, k] = weights[m + r * ld + k]: a linear
// block's forward pass (M = W), or its backward pass (M = W^T, rows of the transpose).
fn g_dot_rows(c: u32, dst: u32, rows: u32, m: u32, ld: u32, src: u32, n: u32) {
    for (var r = 0u; r < rows; r++) {
        let row = m + r * ld;
        var acc = scratch[unit(dst + r, c)];
        var k = 0u;
        for (; k + 8u <= n; k += 8u) {
            acc += weights[row + k] * scratch[unit(src + k, c)];
            acc += weights[row + (k + 1u)] * scratch[unit(src + (k + 1u), c)];
            acc += weights[row + (k + 2u)] * scratch[unit(src + (k + 2u), c)];
            acc += weights[row + (k + 3u)] * scratch[unit(src + (k + 3u), c)];
            acc += weights[row + (k + 4u)] * scratch[unit(src + (k + 4u), c)];
            acc += weights[row + (k + 5u)] * scratch[unit(src + (k + 5u), c)];
            acc += weights[row + (k + 6u)] * scratch[unit(src + (k + 6u), c)];
            acc += weights[row + (k + 7u)] * scratch[unit(src + (k + 7u), c)];
        }
        for (; k < n; k++) {
            acc += weights[row + k] * scratch[unit(src + k, c)];
        }
        scratch[unit(dst + r, c)] = acc;
    }
}

// dst = act(src), and act'(src) into `deriv` unless it is NONE.
fn g_activation(c: u32, dst: u32, deriv: u32, src: u32, n: u32, kind: u32) {
    for (var i = 0u; i < n; i++) {
        let a = activation(kind, scratch[unit(src + i, c)]);
        scratch[unit(dst + i, c)] = a.x;
        if deriv != NONE {
            scratch[unit(deriv + i, c)] = a.y;
        }
    }
}

fn g_affine(c: u32, dst: u32, src: u32, n: u32, scale: f32, shift: f32) {
    for (var i = 0u; i < n; i++) {
        scratch[unit(dst + i, c)] = scale * scratch[unit(src + i, c)] + shift;
    }
}

// dst = a op b, op one of BINARY_ADD, BINARY_SUB, BINARY_MUL.
fn g_binary(c: u32, dst: u32, a: u32, b: u32, n: u32, op: u32) {
    for (var i = 0u; i < n; i++) {
        let u = scratch[unit(a + i, c)];
        let v = scratch[unit(b + i, c)];
        var r = u * v;
        if op == BINARY_ADD {
            r = u + v;
        } else if op == BINARY_SUB {
            r = u - v;
        }
        scratch[unit(dst + i, c)] = r;
    }
}

// LayerNorm (centred) or RMSNorm over n features: xhat = (src - mean) * rstd, rstd =
// 1 / sqrt(var + eps) (the mean square for RMSNorm), dst = xhat * gain + bias (gain and
// bias offsets into the weights, or NONE).
fn g_norm(c: u32, dst: u32, xhat: u32, rstd: u32, src: u32, n: u32, centred: bool, eps: f32, gain: u32, bias: u32) {
    var mean = 0.0;
    if centred {
        for (var i = 0u; i < n; i++) {
            mean += scratch[unit(src + i, c)];
        }
        mean /= f32(n);
    }
    var var_sum = 0.0;
    for (var i = 0u; i < n; i++) {
        let d = scratch[unit(src + i, c)] - mean;
        var_sum += d * d;
    }
    let r = inverseSqrt(var_sum / f32(n) + eps);
    scratch[unit(rstd, c)] = r;
    for (var i = 0u; i < n; i++) {
        let h = (scratch[unit(src + i, c)] - mean) * r;
        scratch[unit(xhat + i, c)] = h;
        var v = h;
        if gain != NONE {
            v *= weights[gain + i];
        }
        if bias != NONE {
            v += weights[bias + i];
        }
        scratch[unit(dst + i, c)] = v;
    }
}

// The head's value over n features of src (unscaled).
fn g_head(c: u32, src: u32, n: u32, head: u32) -> f32 {
    if head == HEAD_LOGSUMEXP {
        var m = scratch[unit(src, c)];
        for (var i = 1u; i < n; i++) {
            m = max(m, scratch[unit(src + i, c)]);
        }
        var s = 0.0;
        for (var i = 0u; i < n; i++) {
            s += exp(scratch[unit(src + i, c)] - m);
        }
        return m + log(s);
    }
    var e = 0.0;
    for (var i = 0u; i < n; i++) {
        e += head_term(head, scratch[unit(src + i, c)]).x;
    }
    if head_is_mean(head) {
        e /= f32(n);
    }
    return e;
}

// delta += scale * d head / d src.
fn g_head_back(c: u32, delta: u32, src: u32, n: u32, head: u32, scale: f32) {
    if head == HEAD_LOGSUMEXP {
        let lse = g_head(c, src, n, head);
        for (var i = 0u; i < n; i++) {
            scratch[unit(delta + i, c)] += scale * exp(scratch[unit(src + i, c)] - lse);
        }
        return;
    }
    var k = scale;
    if head_is_mean(head) {
        k /= f32(n);
    }
    for (var i = 0u; i < n; i++) {
        scratch[unit(delta + i, c)] += k * head_term(head, scratch[unit(src + i, c)]).y;
    }
}

fn g_zero(c: u32, dst: u32, n: u32) {
    for (var i = 0u; i < n; i++) {
        scratch[unit(dst + i, c)] = 0.0;
    }
}

// dst += a * b.
fn g_mul_add(c: u32, dst: u32, a: u32, b: u32, n: u32) {
    for (var i = 0u; i < n; i++) {
        scratch[unit(dst + i, c)] += scratch[unit(a + i, c)] * scratch[unit(b + i, c)];
    }
}

// dst += scale * src.
fn g_axpy(c: u32, dst: u32, src: u32, n: u32, scale: f32) {
    for (var i = 0u; i < n; i++) {
        scratch[unit(dst + i, c)] += scale * scratch[unit(src + i, c)];
    }
}

// The norm's input delta from its output's: with gd = d_out * gain,
// d_in += rstd * (gd - mean(gd) - xhat * mean(gd * xhat)), without mean(gd) for RMSNorm.
fn g_norm_back(c: u32, d_in: u32, d_out: u32, xhat: u32, rstd: u32, n: u32, centred: bool, gain: u32) {
    var mean_d = 0.0;
    var mean_dx = 0.0;
    for (var i = 0u; i < n; i++) {
        var gd = scratch[unit(d_out + i, c)];
        if gain != NONE {
            gd *= weights[gain + i];
        }
        mean_d += gd;
        mean_dx += gd * scratch[unit(xhat + i, c)];
    }
    mean_d = select(0.0, mean_d / f32(n), centred);
    mean_dx /= f32(n);
    let r = scratch[unit(rstd, c)];
    for (var i = 0u; i < n; i++) {
        var gd = scratch[unit(d_out + i, c)];
        if gain != NONE {
            gd *= weights[gain + i];
        }
        scratch[unit(d_in + i, c)] += r * (gd - mean_d - scratch[unit(xhat + i, c)] * mean_dx);
    }
}
