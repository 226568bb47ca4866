// The thread layout of tile.wgsl, shared with its lane sums (lane_sum.wgsl,
// lane_sum_subgroup.wgsl): a workgroup of WORKGROUP_SIZE threads holds CHAINS chains as
// groups() groups of 4, each group spread over lanes() lanes; a thread owns the units
// lane, lane + lanes(), ... of every layer for the 4 chains of its group.

#import bindings.wgsl

var<private> lid: u32;
var<private> group: u32;
var<private> lane: u32;
var<private> tile_chain: u32;  // this workgroup's first chain in the dispatch

fn groups() -> u32 {
    return CHAINS / 4u;
}

fn lanes() -> u32 {
    return WORKGROUP_SIZE / groups();
}

// Units of an n-wide layer this thread owns: lane, lane + lanes(), ... below n.
fn owned(n: u32) -> u32 {
    return (n + lanes() - 1u - lane) / lanes();
}

// The most units of an n-wide layer any thread owns (the same in every thread).
fn owned_max(n: u32) -> u32 {
    return (n + lanes() - 1u) / lanes();
}

fn row(u: u32) -> u32 {
    return u * groups() + group;
}

// Chain q (0..3) of this thread's group, within the dispatch.
fn chain_of(q: u32) -> u32 {
    return tile_chain + 4u * group + q;
}
