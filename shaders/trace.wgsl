// trace_reduce: the per-step summary of a refinement's trace, on the GPU. Workgroup s (and
// s + num_workgroups, ...) reduces step s over the dispatch's chains to (min energy, sum of
// energies, max energy, sum of gradient norms), at trace_summary + 4 s in `trace`. A chain
// that stopped before step s counts with the values it stopped with (the entry of the step
// it stopped at). The host adds the chunks' sums and divides by the batch.
//
// Cost: one read of 8 bytes per chain and step, a 64-way tree in workgroup memory per step.

#import bindings.wgsl

var<workgroup> partial: array<vec4<f32>, TRACE_THREADS>;

@compute @workgroup_size(TRACE_THREADS)
fn trace_reduce(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    for (var s = wg.x; s < params.steps; s += groups.x) {
        var lo = FLT_MAX;
        var hi = -FLT_MAX;
        var sum = 0.0;
        var grad_sum = 0.0;
        for (var c = lid; c < params.n_chains; c += TRACE_THREADS) {
            let at = 2u * (min(s, chain_state[c].steps_taken) * params.stride + c);
            let e = trace[at];
            lo = min(lo, e);
            hi = max(hi, e);
            sum += e;
            grad_sum += trace[at + 1u];
        }
        partial[lid] = vec4<f32>(lo, sum, hi, grad_sum);
        for (var half = TRACE_THREADS / 2u; half > 0u; half /= 2u) {
            workgroupBarrier();
            if lid < half {
                let a = partial[lid];
                let b = partial[lid + half];
                partial[lid] = vec4<f32>(min(a.x, b.x), a.y + b.y, max(a.z, b.z), a.w + b.w);
            }
        }
        workgroupBarrier();
        if lid == 0u {
            let out = params.trace_summary + 4u * s;
            let total = partial[0];
            trace[out] = total.x;
            trace[out + 1u] = total.y;
            trace[out + 2u] = total.z;
            trace[out + 3u] = total.w;
        }
        workgroupBarrier();
    }
}
