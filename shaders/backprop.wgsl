// backprop: the energy of every chain and the deltas (dE/dtensor) of every tensor of the
// energy's training program (energy_train.wgsl, generated), kept in
// scratch (unit-major) with every value they need, for the weight gradients of
// weight_grad.wgsl. One chain per invocation; the float32 twin of
// src/reference/weight_grad.rs.

#import bindings.wgsl
#import energy_train.wgsl

@compute @workgroup_size(WORKGROUP_SIZE)
fn backprop(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if c >= params.n_chains {
        return;
    }
    energy_pre(c);
    chain_state[c].energy_out = energy_forward(c);
    chain_state[c].mark = params.mark;
    energy_backward(c);
}
