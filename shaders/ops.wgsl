// The elementwise math of energy graphs, shared by every path shape: the activations with
// their derivatives (the float32 twins of src/energy/activation.rs, each matching
// PyTorch's definition) and the heads' per-feature terms (src/energy/ops.rs, Head). Which
// activation or head is an argument: the generated energy code passes the ACTIVATION_* and
// HEAD_* constants the host writes (src/constants.rs), so after inlining the switch folds
// away.

#import trig.wgsl

const SQRT_HALF: f32 = 0.7071067811865476;
const INV_SQRT_2PI: f32 = 0.3989422804014327;
const SQRT_2_OVER_PI: f32 = 0.7978845608028654;
// Beyond this tanh is 1 in float32; clamping keeps exp-based tanh implementations finite.
const TANH_CLAMP: f32 = 15.0;

fn sigmoid(z: f32) -> f32 {
    return 1.0 / (1.0 + exp(-z));
}

// erf by Abramowitz & Stegun 7.1.26: absolute error under 1.5e-7 (WGSL has no erf).
fn erf_approx(v: f32) -> f32 {
    let a = abs(v);
    let t = 1.0 / (1.0 + 0.3275911 * a);
    let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741
        + t * (-1.453152027 + t * 1.061405429))));
    let r = 1.0 - poly * exp(-a * a);
    return select(r, -r, v < 0.0);
}

// softplus with PyTorch's threshold 20, and log1p done by hand where 1 + u rounds to 1.
fn softplus_and_grad(z: f32) -> vec2<f32> {
    if z > 20.0 {
        return vec2<f32>(z, 1.0);
    }
    let u = exp(-abs(z));
    let log1p_u = select(log(1.0 + u), u * (1.0 - u * (0.5 - u / 3.0)), u < 1e-3);
    return vec2<f32>(max(z, 0.0) + log1p_u, sigmoid(z));
}

// (sin(z), cos(z)), with the range reduction written here (trig.wgsl says why): z =
// q pi/2 + r by Cody and Waite's three-part pi/2, |r| <= pi/4; about 1e-7 relative for |z|
// up to 1e4.
fn sin_cos(z: f32) -> vec2<f32> {
    let q = round(z * 0.63661977236758134);
    var r = z - q * 1.5703125;
    r = r - q * 4.8375129699707031e-4;
    r = r - q * 7.5497899548918821e-8;
    return sin_cos_quadrant(r, i32(q));
}

// (act(z), act'(z)) of activation `kind`.
fn activation(kind: u32, z: f32) -> vec2<f32> {
    switch kind {
        case ACTIVATION_RELU: {
            return select(vec2<f32>(0.0, 0.0), vec2<f32>(z, 1.0), z > 0.0);
        }
        case ACTIVATION_LEAKY_RELU: {  // slope 0.01
            return select(vec2<f32>(0.01 * z, 0.01), vec2<f32>(z, 1.0), z > 0.0);
        }
        case ACTIVATION_TANH: {
            let t = tanh(clamp(z, -TANH_CLAMP, TANH_CLAMP));
            return vec2<f32>(t, 1.0 - t * t);
        }
        case ACTIVATION_SIGMOID: {
            let s = sigmoid(z);
            return vec2<f32>(s, s * (1.0 - s));
        }
        case ACTIVATION_SILU: {
            let s = sigmoid(z);
            return vec2<f32>(z * s, s + z * s * (1.0 - s));
        }
        case ACTIVATION_GELU: {  // exact erf form
            let cdf = 0.5 * (1.0 + erf_approx(z * SQRT_HALF));
            let pdf = exp(-0.5 * z * z) * INV_SQRT_2PI;
            return vec2<f32>(z * cdf, cdf + z * pdf);
        }
        case ACTIVATION_GELU_TANH: {
            let u = SQRT_2_OVER_PI * (z + 0.044715 * z * z * z);
            let t = tanh(clamp(u, -TANH_CLAMP, TANH_CLAMP));
            let du = SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * z * z);
            return vec2<f32>(0.5 * z * (1.0 + t), 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * du);
        }
        case ACTIVATION_SIN: {
            return sin_cos(z);
        }
        case ACTIVATION_COS: {
            let sc = sin_cos(z);
            return vec2<f32>(sc.y, -sc.x);
        }
        case ACTIVATION_SOFTPLUS, default: {
            return softplus_and_grad(z);
        }
    }
}

// A head's term of feature value t (summed over the features: Sum, SumSquares; the
// means divide by the width), and its derivative. LogSumExp is reduced by each path itself.
fn head_term(head: u32, t: f32) -> vec2<f32> {
    switch head {
        case HEAD_SUM_SQUARES, HEAD_MEAN_SQUARES: {
            return vec2<f32>(t * t, 2.0 * t);
        }
        case HEAD_SUM, HEAD_MEAN, default: {
            return vec2<f32>(t, 1.0);
        }
    }
}

// Whether the head divides its sum by the width.
fn head_is_mean(head: u32) -> bool {
    return head == HEAD_MEAN || head == HEAD_MEAN_SQUARES;
}

// The activation of 4 values at once.
struct Pair4 {
    value: vec4<f32>,
    grad: vec4<f32>,
}

fn activation4(kind: u32, z: vec4<f32>) -> Pair4 {
    let a = activation(kind, z.x);
    let b = activation(kind, z.y);
    let c = activation(kind, z.z);
    let d = activation(kind, z.w);
    return Pair4(vec4<f32>(a.x, b.x, c.x, d.x), vec4<f32>(a.y, b.y, c.y, d.y));
}
