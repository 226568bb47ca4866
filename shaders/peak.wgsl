// peak: the adapter's float32 FMA throughput, for `ebm bench --peak`. Each invocation runs
// ITERATIONS rounds of 8 independent vec4 FMA chains (32 FMAs a round, independent so the
// pipelines stay full) and writes a value that depends on all of them, so nothing is
// optimised away. The multiplier and addend come from memory, so no compiler can fold
// the loop.

// Set by src/bin/ebm/peak.rs.
override WORKGROUP_SIZE: u32;
override ITERATIONS: u32;

// [0]: multiplier, [1]: addend, [2..]: one result per invocation.
@group(0) @binding(0) var<storage, read_write> sink: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn peak(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let index = gid.x + gid.y * groups.x * WORKGROUP_SIZE;
    let m = vec4<f32>(sink[0]);
    let c = vec4<f32>(sink[1]);
    let s = f32(index % 1024u) * 1e-3;
    var a0 = vec4<f32>(s, s + 0.1, s + 0.2, s + 0.3);
    var a1 = a0 + 1.0;
    var a2 = a0 + 2.0;
    var a3 = a0 + 3.0;
    var a4 = a0 + 4.0;
    var a5 = a0 + 5.0;
    var a6 = a0 + 6.0;
    var a7 = a0 + 7.0;
    for (var i = 0u; i < ITERATIONS; i++) {
        a0 = fma(a0, m, c);
        a1 = fma(a1, m, c);
        a2 = fma(a2, m, c);
        a3 = fma(a3, m, c);
        a4 = fma(a4, m, c);
        a5 = fma(a5, m, c);
        a6 = fma(a6, m, c);
        a7 = fma(a7, m, c);
    }
    let total = (a0 + a1) + (a2 + a3) + (a4 + a5) + (a6 + a7);
    sink[2u + index] = total.x + total.y + total.z + total.w;
}
