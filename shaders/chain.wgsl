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
    // The energy's passes are called from one place each, once per iteration (the
    // generated code is inlined wherever it is called).
    let needs_energy = params.trace != 0u || params.stop_flags != 0u;
    var stage = STAGE_PRE;
    var s = 0u;
    loop {
        let step = params.step_offset + s;
        if stage == STAGE_STEP && (s >= params.steps || stopped(c)) {
            stage = STAGE_FINAL;
        }
        if stage == STAGE_FINAL && params.write_energy == 0u {
            break;
        }
        // Accept rules take the step (the proposal) before the pass at it; a chain that
        // stops here takes no more.
        if stage == STAGE_STEP && RULE != 0u {
            use_prior_of(step);
            if !begin_step(c, step, chain_state[c].energy) {
                continue;
            }
            step_chain(c, step);
        }
        if stage == STAGE_FINAL {
            use_prior_of(params.step_offset + params.steps);
        } else {
            use_prior_of(step);
        }
        var e = 0.0;
        if stage == STAGE_PRE {
            energy_pre(c);
        } else {
            e = energy_forward(c);
            if stage != STAGE_FINAL {
                energy_backward(c);
            }
        }
        if stage == STAGE_PRE {
            let start = RULE != 0u && params.steps > 0u && !stopped(c);
            stage = select(STAGE_STEP, STAGE_START, start);
        } else if stage == STAGE_START {
            chain_state[c].energy = e + prior_energy(c);
            stage = STAGE_STEP;
        } else if stage == STAGE_STEP {
            if RULE == 0u {
                var u = e;
                if needs_energy {
                    u += prior_energy(c);
                }
                if begin_step(c, step, u) {
                    step_chain(c, step);
                }
            } else {
                settle(c, step, e + prior_energy(c));
            }
            s++;
        } else {
            chain_state[c].energy_out = e + prior_energy(c);
            chain_state[c].mark = params.mark;
            break;
        }
    }
}
