// refine: all steps of (Langevin) refinement for one chain per invocation, y updated in
// place, no return to the host between steps; then the final energy with the prior.
//
// Cost per chain-step (P = multiply-adds of one forward pass, H = hidden units, D = y_dim):
//   FLOPs 4P + O(H); device memory: 2P weight reads x 4 bytes (shared by the chains of a
//   workgroup through the cache), act(z), act'(z) and the deltas in scratch: about
//   4 (2H + 2H + 2D) x 4 bytes written or read, y and dE/dy 3D x 4 bytes; dispatches: 1
//   per refinement (runs of steps on llvmpipe, see src/plan.rs); workgroup memory 0;
//   registers: a handful, the layer state is in scratch.

@compute @workgroup_size(WORKGROUP_SIZE)
fn refine(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if c >= params.n_chains {
        return;
    }
    for (var s = 0u; s < params.steps; s++) {
        forward(c);
        backward(c);
        step_chain(c, params.step_offset + s);
    }
    if params.write_energy == 0u {
        return;
    }
    energies[c] = forward(c) + prior_energy(c);
}
