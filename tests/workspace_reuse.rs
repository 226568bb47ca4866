//! An engine keeps a call's buffers for later calls of the same size class: nothing of one
//! call may leak into the next. One engine runs a mixed sequence of calls (evaluations,
//! refinements with and without fixed coordinates, traces, stop tests and accept rules,
//! batches of different sizes in the same class, after a call that failed), and every
//! result equals, bit for bit, what a fresh engine (its buffers poisoned with NaN) gives for
//! the same call alone.

mod common;

use common::{ctx, data, model};
use ebm::{Activation, Engine, KernelPath, Output, PathChoice, RefineConfig, Sampler, StopRule};

/// One call of the sequence.
#[allow(clippy::large_enum_variant)] // a handful of test calls
enum Call {
    Eval(usize),
    Refine {
        n: usize,
        fixed: bool,
        config: RefineConfig,
    },
}

fn calls() -> Vec<Call> {
    let base = RefineConfig {
        steps: 6,
        step_size: 0.05,
        temperature: 0.2,
        seed: 9,
        dispatch_ms: None,
        ..Default::default()
    };
    let traced = RefineConfig {
        trace: true,
        ..base.clone()
    };
    vec![
        // Two calls of one size class (65..72 chains, 6 steps, no trace): what the first
        // left in `fixed` must not count in the second.
        Call::Refine {
            n: 70,
            fixed: true,
            config: base.clone(),
        },
        Call::Refine {
            n: 66,
            fixed: false,
            config: base.clone(),
        },
        Call::Eval(67),
        // The same with a trace, the second call's chains stopping early.
        Call::Refine {
            n: 71,
            fixed: true,
            config: traced.clone(),
        },
        Call::Refine {
            n: 65,
            fixed: false,
            config: RefineConfig {
                stop: StopRule {
                    below: Some(0.3),
                    ..Default::default()
                },
                ..traced
            },
        },
        Call::Refine {
            n: 68,
            fixed: false,
            config: RefineConfig {
                sampler: Sampler::KeepIfLower {
                    shrink: 0.5,
                    rise_tolerance: 0.0,
                },
                ..base.clone()
            },
        },
        Call::Refine {
            n: 69,
            fixed: true,
            config: RefineConfig {
                sampler: Sampler::Mala {
                    adapt_steps: 3,
                    target_accept: 0.5,
                },
                ..base
            },
        },
        Call::Eval(3),
    ]
}

/// (energies, y or dE/dy, steps taken) of a call.
fn run(engine: &Engine, call: &Call, x_dim: usize, y_dim: usize) -> (Vec<f32>, Vec<f32>, Vec<u32>) {
    match call {
        Call::Eval(n) => {
            let out = engine
                .eval(&data(n * x_dim, 1.0, 1), &data(n * y_dim, 1.0, 2))
                .unwrap();
            (out.energy, out.grad, Vec::new())
        }
        Call::Refine { n, fixed, config } => {
            let mask: Vec<bool> = (0..n * y_dim).map(|i| i % 3 == 0).collect();
            let out = engine
                .refine_fixed(
                    &data(n * x_dim, 1.0, 1),
                    &data(n * y_dim, 1.0, 2),
                    fixed.then_some(mask.as_slice()),
                    config,
                )
                .unwrap();
            let trace = out.trace.iter().flatten().map(|r| r.mean_energy as f32);
            let energy = out.energy.iter().copied().chain(trace).collect();
            (energy, out.y, out.steps_taken)
        }
    }
}

#[test]
fn reused_buffers_carry_nothing_from_one_call_to_the_next() {
    let ctx = ctx();
    let m = model(3, 6, &[12, 12], Activation::Tanh, Output::Softplus, 4);
    for path in [
        KernelPath::Chain,
        KernelPath::Tile { chains: 4 },
        KernelPath::Layered,
    ] {
        // Not poisoned: whatever an earlier call left in its buffers stays there.
        let shared = Engine::with_path(&ctx, &m, PathChoice::Exactly(path)).unwrap();
        for (i, call) in calls().iter().enumerate() {
            let mut fresh = Engine::with_path(&ctx, &m, PathChoice::Exactly(path)).unwrap();
            fresh.poison_outputs(true);
            let alone = run(&fresh, call, 3, 6);
            let after_others = run(&shared, call, 3, 6);
            assert!(
                alone == after_others,
                "{path}, call {i}: a reused workspace changed the result"
            );
            if i == 2 {
                // A call that fails (a NaN input) leaves nothing behind either.
                let mut y = data(67 * 6, 1.0, 2);
                y[5] = f32::NAN;
                assert!(shared.eval(&data(67 * 3, 1.0, 1), &y).is_err());
            }
        }
    }
}
