// lane_sum for tile.wgsl with subgroup operations: each subgroup adds up its lanes of every
// chain group at once (subgroupAdd), and one thread per subgroup leaves the sums in
// workgroup memory, so the owner adds one value per subgroup instead of one per lane.
// lane_sum.wgsl is the portable version. The host uses this one only where subgroups have
// at least MAX_GROUPS invocations, so at most (LANE_SLOTS / MAX_GROUPS) subgroups x
// MAX_GROUPS groups = LANE_SLOTS slots are used.

#import tile_layout.wgsl

var<workgroup> lane_partials: array<vec4<f32>, LANE_SLOTS>;
var<workgroup> lane_slots: atomic<u32>;
var<private> group_sums: array<vec4<f32>, MAX_GROUPS>;

// The sum of v over the lanes of this thread's chain group, for the `owner` thread (the
// others get 0). Has barriers: every thread of the workgroup calls it.
fn lane_sum(v: vec4<f32>, owner: bool) -> vec4<f32> {
    if lid == 0u {
        atomicStore(&lane_slots, 0u);
    }
    workgroupBarrier();
    for (var g = 0u; g < MAX_GROUPS; g++) {
        if g < groups() {
            group_sums[g] = subgroupAdd(select(vec4<f32>(0.0), v, group == g));
        }
    }
    // The first active invocation of each subgroup takes a slot and writes its sums there.
    if subgroupExclusiveAdd(1u) == 0u {
        let slot = atomicAdd(&lane_slots, 1u);
        for (var g = 0u; g < groups(); g++) {
            lane_partials[slot * groups() + g] = group_sums[g];
        }
    }
    workgroupBarrier();
    var total = vec4<f32>(0.0);
    if owner {
        let slots = atomicLoad(&lane_slots);
        for (var s = 0u; s < slots; s++) {
            total += lane_partials[s * groups() + group];
        }
    }
    workgroupBarrier();
    return total;
}
