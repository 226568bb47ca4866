// Philox4x32-10 and Box-Muller: the float32 twin of src/rng.rs, keyed by
// (seed, chain, step) so a chain's noise is independent of batching and scheduling.

#import bindings.wgsl
#import trig.wgsl

// High word of the 64-bit product a * b, from 16-bit halves (WGSL has no mulhi).
fn mulhi(a: u32, b: u32) -> u32 {
    let a_lo = a & 0xffffu;
    let a_hi = a >> 16u;
    let b_lo = b & 0xffffu;
    let b_hi = b >> 16u;
    let lo_lo = a_lo * b_lo;
    let lo_hi = a_lo * b_hi;
    let hi_lo = a_hi * b_lo;
    let cross = (lo_lo >> 16u) + (lo_hi & 0xffffu) + (hi_lo & 0xffffu);
    return a_hi * b_hi + (lo_hi >> 16u) + (hi_lo >> 16u) + (cross >> 16u);
}

fn philox4x32_10(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = counter;
    var k = key;
    for (var round = 0u; round < 10u; round++) {
        if round > 0u {
            k += vec2<u32>(0x9E3779B9u, 0xBB67AE85u);
        }
        let hi0 = mulhi(0xD2511F53u, c.x);
        let lo0 = 0xD2511F53u * c.x;
        let hi1 = mulhi(0xCD9E8D57u, c.z);
        let lo1 = 0xCD9E8D57u * c.z;
        c = vec4<u32>(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
    }
    return c;
}

// Top 24 bits as a float in (0, 1]: exact, never 0, so log() is finite.
fn uniform_open0(word: u32) -> f32 {
    return (f32(word >> 8u) + 1.0) * (1.0 / 16777216.0);
}

// Box-Muller written out to float32 accuracy on every driver: WGSL promises its log only
// 2^-21 absolute error near 1 and its sin and cos only 2^-11, which would move the noise
// by up to 1e-3 (SwiftShader does). Both are computed from the word's 24-bit count
// n = (word >> 8) + 1, the uniform being n / 2^24.

// ln(n / 2^24): n = 2^e m with m in [sqrt(1/2), sqrt(2)), all exact, then
// ln m = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172, by its series to s^9 (error
// under 1e-9).
fn ln_uniform(word: u32) -> f32 {
    let n = (word >> 8u) + 1u;
    var e = i32(firstLeadingBit(n));
    var m = ldexp(f32(n), -e);
    if m > 1.4142135623730951 {
        m = 0.5 * m;
        e += 1;
    }
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let ln_m = 2.0 * s * (1.0 + s2 * (1.0 / 3.0 + s2 * (0.2 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0)))));
    // ln 2 in two parts, the first exact in a product with e - 24 (|e - 24| <= 24).
    let k = f32(e - 24);
    return k * 0.693145751953125 + (k * 1.428606765330187e-6 + ln_m);
}

// (cos, sin) of 2 pi n / 2^24: the angle is (n / 2^22) quarter turns, so its quadrant q
// and the remainder f in [-1/2, 1/2] are exact, and r = f pi / 2.
fn cos_sin_turn(word: u32) -> vec2<f32> {
    let n = (word >> 8u) + 1u;
    let q = (n + 0x200000u) >> 22u;
    let f = f32(i32(n) - i32(q << 22u)) * (1.0 / 4194304.0);
    let sc = sin_cos_quadrant(f * 1.5707963267948966, i32(q));
    return vec2<f32>(sc.y, sc.x);
}

fn normals4(w: vec4<u32>) -> vec4<f32> {
    let r0 = sqrt(-2.0 * ln_uniform(w.x));
    let r1 = sqrt(-2.0 * ln_uniform(w.z));
    return vec4<f32>(r0 * cos_sin_turn(w.y), r1 * cos_sin_turn(w.w));
}

// Noise for coordinates 4 * block .. 4 * block + 3 of `chain` at `step`.
fn langevin_normals(chain: u32, step: u32, block: u32) -> vec4<f32> {
    let key = vec2<u32>(params.seed_lo, params.seed_hi);
    return normals4(philox4x32_10(vec4<u32>(block, step, chain, 0u), key));
}

// The log of the uniform number in (0, 1] MALA's accept test of `chain` at `step` draws
// (a counter the noise never uses: its last word is 1).
fn accept_log_uniform(chain: u32, step: u32) -> f32 {
    let key = vec2<u32>(params.seed_lo, params.seed_hi);
    return ln_uniform(philox4x32_10(vec4<u32>(0u, step, chain, 1u), key).x);
}
