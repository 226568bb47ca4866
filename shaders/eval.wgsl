// eval: energy and dE/dy of every chain's y (no prior, no step).

#import bindings.wgsl
#import energy_chain.wgsl

@compute @workgroup_size(WORKGROUP_SIZE)
fn eval(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if c >= params.n_chains {
        return;
    }
    energy_pre(c);
    chain_state[c].energy_out = energy_forward(c);
    chain_state[c].mark = params.mark;
    energy_backward(c);
}
