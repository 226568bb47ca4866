// lane_sum for tile.wgsl, portable version: the sum of a value over the lanes of each chain
// group, through workgroup memory. lane_sum_subgroup.wgsl is the same with subgroup
// operations, used where the adapter has them.

#import tile_layout.wgsl

var<workgroup> lane_partials: array<vec4<f32>, LANE_SLOTS>;

// The sum of v over the lanes of this thread's chain group, for the `owner` thread (the
// others get 0). Has barriers: every thread of the workgroup calls it.
fn lane_sum(v: vec4<f32>, owner: bool) -> vec4<f32> {
    lane_partials[lid] = v;
    workgroupBarrier();
    var total = vec4<f32>(0.0);
    if owner {
        for (var l = 0u; l < lanes(); l++) {
            total += lane_partials[l * groups() + group];
        }
    }
    workgroupBarrier();
    return total;
}
