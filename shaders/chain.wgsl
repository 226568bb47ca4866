// refine: all steps of (Langevin) refinement for one chain per invocation, y updated in
// place, no return to the host between steps; then the final energy with the prior.
//
// Cost per chain-step (P = multiply-adds of one forward pass, H = hidden units, D = y_dim):
//   FLOPs 4P + O(H); device memory: 2P weight reads x 4 bytes (shared by the chains of a
//   workgroup through the cache), act(z), act'(z) and the deltas in scratch: about
//   4 (2H + 2H + 2D) x 4 bytes written or read, y and dE/dy 3D x 4 bytes; dispatches: 1
//   per refinement (runs of steps on llvmpipe, see src/plan/llvmpipe.rs); workgroup memory 0;
//   registers: a handful, the layer state is in scratch. Options: 32 bytes of ChainState
//   read and written per step; an accept rule (MALA, keep-if-lower) adds 4D x 4 bytes of
//   saved y and dE/dy and O(D) FLOPs per step, no extra pass; a trace 8 bytes per step.
// A chain that stops early leaves the loop: its lane idles until its SIMD group is done.

#import bindings.wgsl
#import philox.wgsl
#import step.wgsl
#import energy_chain.wgsl

@compute @workgroup_size(WORKGROUP_SIZE)
fn chain(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if c >= params.n_chains {
        return;
    }
    // Accept rules keep the energy and dE/dy of the current y: each step computes them
    // once, at the proposal. The first step of a dispatch starts from y's.
    energy_pre(c);
    use_prior_of(params.step_offset);
    if RULE != 0u && params.steps > 0u && !stopped(c) {
        chain_state[c].energy = energy_forward(c) + prior_energy(c);
        energy_backward(c);
    }
    let needs_energy = params.trace != 0u || params.stop_flags != 0u;
    for (var s = 0u; s < params.steps && !stopped(c); s++) {
        let step = params.step_offset + s;
        use_prior_of(step);
        if RULE == 0u {
            var u = energy_forward(c);
            if needs_energy {
                u += prior_energy(c);
            }
            energy_backward(c);
            if begin_step(c, step, u) {
                step_chain(c, step);
            }
        } else if begin_step(c, step, chain_state[c].energy) {
            step_chain(c, step);
            let u_next = energy_forward(c) + prior_energy(c);
            energy_backward(c);
            settle(c, step, u_next);
        }
    }
    if params.write_energy == 0u {
        return;
    }
    use_prior_of(params.step_offset + params.steps);
    energies[c] = energy_forward(c) + prior_energy(c);
}
