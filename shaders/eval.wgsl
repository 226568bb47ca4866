// eval: energy and dE/dy of every chain's y (no prior, no step).

#import bindings.wgsl
#import mlp.wgsl

@compute @workgroup_size(WORKGROUP_SIZE)
fn eval(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if c >= params.n_chains {
        return;
    }
    energies[c] = forward(c);
    backward(c);
}
