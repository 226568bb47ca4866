// The optimiser of a training step, over its own bind group (it writes the weights, which
// every other kernel reads):
//   grad_norm  one workgroup: the global norms of the gradient and of the weights, the
//              clipping scale, and the halt of a step whose loss, gradient, weights or
//              updated weights would not be finite (no update runs from it on)
//   update     one parameter per invocation: Adam (decoupled weight decay, as AdamW) or
//              SGD, on the weight and on its transposed copy
// The host twins are `OptimParams` and `OPTIMIZER_BINDINGS` in src/kernels/train.rs; the
// float64 twin is src/reference/train.rs.


struct OptimParams {
    n_params: u32,      // parameters (the weights before the transposed copies)
    kind: u32,          // OPTIMIZER_ADAM or OPTIMIZER_SGD
    step: u32,          // the training step
    row: u32,           // its statistics row
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    clip: f32,          // > 0: the gradient is scaled to at most this global norm
    bias1: f32,         // Adam's bias corrections 1 - beta^(step + 1)
    bias2: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
    _pad3: u32,
}

override WORKGROUP_SIZE: u32;

@group(0) @binding(0) var<uniform> optim: OptimParams;
@group(0) @binding(1) var<storage, read_write> weights: array<f32>;
@group(0) @binding(2) var<storage, read> param_grads: array<f32>;
// Adam's first moments [n_params], then its second moments [n_params].
@group(0) @binding(3) var<storage, read_write> moments: array<f32>;
@group(0) @binding(4) var<storage, read_write> train_stats: array<u32>;
// The energy's program table (src/kernels/table.rs): where the transposed copies are.
@group(0) @binding(5) var<storage, read> program: array<u32>;

// The packed index of parameter p's transposed copy (a linear weight's), or NONE.
fn transposed_twin(p: u32) -> u32 {
    let table = program[HEADER_TWINS];
    for (var k = 0u; k < program[HEADER_TWINS + 1u]; k++) {
        let at = table + k * TWIN_WORDS;
        if p >= program[at] && p < program[at + 1u] {
            let q = p - program[at];
            let n_in = program[at + 2u];
            return program[at + 4u] + (q % n_in) * program[at + 3u] + q / n_in;
        }
    }
    return NONE;
}

fn finite(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u;
}

var<workgroup> squares: array<vec2<f32>, TRAIN_THREADS>;
var<workgroup> unfit: array<u32, TRAIN_THREADS>;
var<workgroup> step_scale: f32;

// Parameter p after this step's update at clipping scale `scale`: (weight, first moment,
// second moment). `update` writes it; `grad_norm` checks first that every one is finite.
fn updated(p: u32, scale: f32) -> vec3<f32> {
    let g = param_grads[p] * scale;
    var w = weights[p];
    w -= optim.lr * optim.weight_decay * w;
    if optim.kind == OPTIMIZER_ADAM {
        let m = optim.beta1 * moments[p] + (1.0 - optim.beta1) * g;
        let v = optim.beta2 * moments[optim.n_params + p] + (1.0 - optim.beta2) * g * g;
        w -= optim.lr * (m / optim.bias1) / (sqrt(v / optim.bias2) + optim.eps);
        return vec3<f32>(w, m, v);
    }
    return vec3<f32>(w - optim.lr * g, 0.0, 0.0);
}

@compute @workgroup_size(TRAIN_THREADS)
fn grad_norm(@builtin(local_invocation_index) lid: u32) {
    var sum = vec2<f32>(0.0);
    for (var p = lid; p < optim.n_params; p += TRAIN_THREADS) {
        let g = param_grads[p];
        let w = weights[p];
        sum += vec2<f32>(g * g, w * w);
    }
    squares[lid] = sum;
    for (var half = TRAIN_THREADS / 2u; half > 0u; half /= 2u) {
        workgroupBarrier();
        if lid < half {
            squares[lid] += squares[lid + half];
        }
    }
    if lid == 0u {
        var scale = 1.0;
        let norm = sqrt(squares[0].x);
        if optim.clip > 0.0 {
            scale = min(1.0, optim.clip / (norm + 1e-6));
        }
        step_scale = scale;
    }
    workgroupBarrier();
    // The update's results, checked before any is written: a step that would leave a
    // weight or moment not finite halts instead, and the weights stay those before it.
    let scale = step_scale;
    var bad = 0u;
    for (var p = lid; p < optim.n_params; p += TRAIN_THREADS) {
        let next = updated(p, scale);
        bad += u32(!finite(next.x) || !finite(next.y) || !finite(next.z));
    }
    unfit[lid] = bad;
    for (var half = TRAIN_THREADS / 2u; half > 0u; half /= 2u) {
        workgroupBarrier();
        if lid < half {
            unfit[lid] += unfit[lid + half];
        }
    }
    if lid == 0u {
        let norms = sqrt(squares[0]);
        let at = STATS_HEADER + optim.row * STATS_ROW;
        var flags = train_stats[at + ROW_FLAGS];
        flags |= select(0u, FLAG_GRAD, !finite(norms.x));
        flags |= select(0u, FLAG_WEIGHTS, !finite(norms.y) || unfit[0] > 0u);
        train_stats[at + ROW_GRAD_NORM] = bitcast<u32>(norms.x);
        train_stats[at + ROW_WEIGHT_NORM] = bitcast<u32>(norms.y);
        train_stats[at + ROW_CLIP_SCALE] = bitcast<u32>(scale);
        train_stats[at + ROW_FLAGS] = flags;
        train_stats[at + ROW_MARK] ^= MARK_NORMS;
        train_stats[CLIP_SCALE] = bitcast<u32>(scale);
        if flags != 0u && train_stats[HALTED_AT] == RUNNING {
            train_stats[HALTED_AT] = optim.step;
            train_stats[HALTED_FLAGS] = flags;
        }
    }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn update(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let p = gid.y * groups.x * WORKGROUP_SIZE + gid.x;
    if p >= optim.n_params || train_stats[HALTED_AT] != RUNNING {
        return;
    }
    let next = updated(p, bitcast<f32>(train_stats[CLIP_SCALE]));
    let w = next.x;
    if optim.kind == OPTIMIZER_ADAM {
        moments[p] = next.y;
        moments[optim.n_params + p] = next.z;
    }
    weights[p] = w;
    let twin = transposed_twin(p);
    if twin != NONE {
        weights[twin] = w;
    }
    if p == 0u {
        let at = STATS_HEADER + optim.row * STATS_ROW;
        train_stats[at + ROW_MARK] ^= MARK_UPDATE;
    }
}
