// Per-chain totals that every lane of the chain group gets (a norm's mean and variance, a
// logsumexp head's max and sum), on top of lane_sum (lane_sum.wgsl, or
// lane_sum_subgroup.wgsl where the adapter has subgroups). Each has barriers: every
// thread of the workgroup calls it.

#import tile_layout.wgsl
#import lane_sum.wgsl

var<workgroup> group_totals: array<vec4<f32>, MAX_GROUPS>;

// The sum of v over the lanes of this thread's chain group, in every lane.
fn lane_total(v: vec4<f32>) -> vec4<f32> {
    let total = lane_sum(v, lane == 0u);
    if lane == 0u {
        group_totals[group] = total;
    }
    workgroupBarrier();
    let out = group_totals[group];
    workgroupBarrier();
    return out;
}

// The largest v over the lanes of this thread's chain group, in every lane.
fn lane_max_total(v: vec4<f32>) -> vec4<f32> {
    lane_partials[lid] = v;
    workgroupBarrier();
    if lane == 0u {
        var m = v;
        for (var l = 1u; l < lanes(); l++) {
            m = max(m, lane_partials[l * groups() + group]);
        }
        group_totals[group] = m;
    }
    workgroupBarrier();
    let out = group_totals[group];
    workgroupBarrier();
    return out;
}
