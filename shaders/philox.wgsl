// Philox4x32-10 and Box-Muller: the float32 twin of src/rng.rs, keyed by
// (seed, chain, step) so a chain's noise is independent of batching and scheduling.

#import bindings.wgsl

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

fn normals4(w: vec4<u32>) -> vec4<f32> {
    let r0 = sqrt(-2.0 * log(uniform_open0(w.x)));
    let t0 = 6.283185307179586 * uniform_open0(w.y);
    let r1 = sqrt(-2.0 * log(uniform_open0(w.z)));
    let t1 = 6.283185307179586 * uniform_open0(w.w);
    return vec4<f32>(r0 * cos(t0), r0 * sin(t0), r1 * cos(t1), r1 * sin(t1));
}

// Noise for coordinates 4 * block .. 4 * block + 3 of `chain` at `step`.
fn langevin_normals(chain: u32, step: u32, block: u32) -> vec4<f32> {
    let key = vec2<u32>(params.seed_lo, params.seed_hi);
    return normals4(philox4x32_10(vec4<u32>(block, step, chain, 0u), key));
}

// The uniform number in (0, 1] MALA's accept test of `chain` at `step` draws (a counter
// the noise never uses: its last word is 1).
fn accept_uniform(chain: u32, step: u32) -> f32 {
    let key = vec2<u32>(params.seed_lo, params.seed_hi);
    return uniform_open0(philox4x32_10(vec4<u32>(0u, step, chain, 1u), key).x);
}
