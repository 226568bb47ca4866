//! The library speaks its own language: every error a Rust caller can cause names the
//! setting (`RefineConfig::step_size`), the tensor or the file at fault, and none mentions
//! a command-line flag (the command line maps settings to its flags itself).

mod common;

use common::{ctx, data, model};
use ebm::refine::{Shape, Stage};
use ebm::{
    Activation, Engine, Error, KernelPath, Objective, Output, PathChoice, RefineConfig, Resource,
    Sampler, Schedule, StopRule, TrainConfig, TrainData, Trainer,
};

/// Settings that are each refused, with the setting the error must name.
fn bad_configs() -> Vec<(RefineConfig, &'static str)> {
    let base = RefineConfig {
        steps: 4,
        step_size: 0.01,
        ..Default::default()
    };
    let with = |f: &dyn Fn(&mut RefineConfig)| {
        let mut c = base.clone();
        f(&mut c);
        c
    };
    let mala = Sampler::Mala {
        adapt_steps: 0,
        target_accept: 0.574,
    };
    vec![
        (with(&|c| c.step_size = -1.0), "RefineConfig::step_size"),
        (
            with(&|c| c.temperature = f32::NAN),
            "RefineConfig::temperature",
        ),
        (with(&|c| c.prior_l2 = -1.0), "RefineConfig::prior_l2"),
        (
            with(&|c| c.clamp = Some((1.0, -1.0))),
            "RefineConfig::clamp",
        ),
        (with(&|c| c.simplex = Some(0)), "RefineConfig::simplex"),
        (
            with(&|c| c.clip_grad = Some(0.0)),
            "RefineConfig::clip_grad",
        ),
        (
            with(&|c| c.dispatch_ms = Some(-5.0)),
            "RefineConfig::dispatch_ms",
        ),
        (
            with(&|c| {
                c.stop = StopRule {
                    grad: Some(-1.0),
                    ..Default::default()
                }
            }),
            "StopRule::grad",
        ),
        (
            with(&|c| {
                c.stop = StopRule {
                    change: Some(f32::NAN),
                    ..Default::default()
                }
            }),
            "StopRule::change",
        ),
        (
            with(&|c| {
                c.stop = StopRule {
                    below: Some(f32::INFINITY),
                    ..Default::default()
                }
            }),
            "StopRule::below",
        ),
        (
            with(&|c| {
                c.sampler = Sampler::KeepIfLower {
                    shrink: 2.0,
                    rise_tolerance: 0.0,
                }
            }),
            "Sampler::KeepIfLower::shrink",
        ),
        (
            with(&|c| {
                c.sampler = Sampler::KeepIfLower {
                    shrink: 0.5,
                    rise_tolerance: -1e-6,
                }
            }),
            "Sampler::KeepIfLower::rise_tolerance",
        ),
        (
            with(&|c| {
                c.sampler = Sampler::KeepIfLower {
                    shrink: 0.5,
                    rise_tolerance: f32::NAN,
                }
            }),
            "Sampler::KeepIfLower::rise_tolerance",
        ),
        (
            with(&|c| {
                c.sampler = Sampler::Mala {
                    adapt_steps: 2,
                    target_accept: 1.5,
                }
            }),
            "Sampler::Mala::target_accept",
        ),
        (
            with(&|c| {
                c.sampler = mala;
                c.temperature = 0.0;
            }),
            "RefineConfig::temperature",
        ),
        (
            with(&|c| {
                c.sampler = mala;
                c.temperature = 1.0;
                c.clamp = Some((-1.0, 1.0));
            }),
            "RefineConfig::clamp",
        ),
        (
            with(&|c| c.schedule.step_size_end = Some(0.1)),
            "Schedule::step_size_end",
        ),
        (
            with(&|c| {
                c.schedule = Schedule {
                    shape: Shape::Linear,
                    step_size_end: Some(-1.0),
                    ..Default::default()
                }
            }),
            "Schedule::step_size_end",
        ),
        (
            with(&|c| {
                c.schedule = Schedule {
                    stages: vec![Stage {
                        steps: 3,
                        step_size: 0.1,
                        temperature: 0.0,
                        ..Default::default()
                    }],
                    ..Default::default()
                }
            }),
            "Schedule::stages",
        ),
        (
            with(&|c| {
                c.schedule = Schedule {
                    shape: Shape::Cosine,
                    stages: vec![Stage {
                        steps: 4,
                        step_size: 0.1,
                        temperature: 0.0,
                        ..Default::default()
                    }],
                    ..Default::default()
                }
            }),
            "Schedule::shape",
        ),
    ]
}

fn assert_speaks_rust(err: &Error, field: &str) {
    let text = err.to_string();
    assert!(text.contains(field), "{text:?} does not name {field}");
    assert!(!text.contains("--"), "{text:?} names a command-line flag");
}

#[test]
fn settings_errors_name_the_field_not_a_flag() {
    let m = model(2, 4, &[8], Activation::Silu, Output::Softplus, 1);
    let engine = Engine::new(&ctx(), &m).unwrap();
    let (x, y) = (data(2 * 3, 1.0, 1), data(4 * 3, 1.0, 2));
    for (config, field) in bad_configs() {
        let err = config.validate().unwrap_err();
        assert_speaks_rust(&err, field);
        // The engine refuses the same settings with the same error.
        let err = engine.refine(&x, &y, &config).unwrap_err();
        assert_speaks_rust(&err, field);
    }
    let odd = RefineConfig {
        simplex: Some(3),
        ..Default::default()
    };
    assert_speaks_rust(
        &engine.refine(&x, &y, &odd).unwrap_err(),
        "RefineConfig::simplex",
    );
    assert_speaks_rust(
        &engine
            .refine_best_of(&x, &y, 0, None, &RefineConfig::default())
            .unwrap_err(),
        "Engine::refine_best_of(r)",
    );
    let mut engine = engine;
    assert_speaks_rust(
        &engine.set_max_chunk(0).unwrap_err(),
        "Engine::set_max_chunk",
    );
    // A step table (16 bytes a step) larger than the device binds at once is refused
    // before any work, not left to a validation error of the driver.
    let limits = ctx().limits();
    let binding = limits
        .max_storage_buffer_binding_size
        .min(limits.max_buffer_size);
    let long = RefineConfig {
        steps: u32::try_from(binding / 16 + 1).unwrap(),
        ..Default::default()
    };
    let err = engine.refine(&x, &y, &long).unwrap_err();
    assert_speaks_rust(&err, "RefineConfig::steps");
    assert!(
        err.to_string().contains("refine in parts of at most"),
        "{err}"
    );
}

#[test]
fn input_and_run_errors_name_the_tensor_or_setting_not_a_flag() {
    let m = model(2, 4, &[8], Activation::Tanh, Output::Identity, 3);
    let engine = Engine::new(&ctx(), &m).unwrap();
    let (x, y) = (data(2 * 3, 1.0, 1), data(4 * 3, 1.0, 2));
    let config = RefineConfig::default();
    assert_speaks_rust(&engine.eval(&x[..5], &y).unwrap_err(), "x");
    assert_speaks_rust(&engine.eval(&x, &y[..5]).unwrap_err(), "y");
    let mut nan = y.clone();
    nan[1] = f32::NAN;
    assert_speaks_rust(&engine.refine(&x, &nan, &config).unwrap_err(), "y");
    let fixed = vec![true; 5];
    assert_speaks_rust(
        &engine
            .refine_fixed(&x, &y, Some(&fixed), &config)
            .unwrap_err(),
        "fixed",
    );
    // A step size that sends every chain to infinity.
    let wild = RefineConfig {
        steps: 50,
        step_size: 1e30,
        ..Default::default()
    };
    assert_speaks_rust(
        &engine.refine(&x, &y, &wild).unwrap_err(),
        "RefineConfig::keep_non_finite",
    );
    // A path that cannot hold the model.
    let wide = model(2, 4, &[4096], Activation::Tanh, Output::Identity, 3);
    let err = Engine::with_path(
        &ctx(),
        &wide,
        PathChoice::Exactly(KernelPath::Tile { chains: 32 }),
    )
    .err()
    .expect("refused");
    assert_speaks_rust(&err, "PathChoice");
    let oom = Error::OutOfMemory {
        memory: "device",
        batch: 10,
        chunk: 10,
        bytes: 1 << 40,
    };
    assert_speaks_rust(&oom, "Engine::set_max_chunk");
}

/// A context on the adapter `Context::new` opens, whose device allows only `storage`
/// storage buffers per shader stage (the adapter's other limits as they are).
fn context_with_storage_buffers(storage: u32) -> ebm::Context {
    let name = ctx().adapter_info().name.clone();
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    let adapter = adapters
        .into_iter()
        .find(|a| a.get_info().name == name)
        .expect("the adapter Context::new opened");
    let desc = wgpu::DeviceDescriptor {
        label: Some("ebm test, few storage buffers"),
        required_limits: wgpu::Limits {
            max_storage_buffers_per_shader_stage: storage,
            ..adapter.limits()
        },
        ..Default::default()
    };
    let (device, queue) = pollster::block_on(adapter.request_device(&desc)).unwrap();
    ebm::Context::from_device(device, queue)
}

/// A kernel beyond the adapter's limits is refused by the call that runs it, naming that
/// kernel and counting what it needs in the resource's own unit (storage buffers, not
/// bytes). An engine is still made where only refinement's kernel is out of reach, so that
/// evaluation and NCE training (which refine nothing) run there.
#[test]
fn a_kernel_beyond_the_limits_is_refused_where_it_runs_naming_it() {
    let m = model(2, 4, &[8], Activation::Tanh, Output::Identity, 3);
    let (x, y) = (data(2 * 3, 1.0, 1), data(4 * 3, 1.0, 2));
    let mut only_refinement_refused = false;
    let mut both_refused = false;
    // WebGPU's default is 8: every kernel fits there (tests/shader_translation.rs).
    for allowed in (1..=8).rev() {
        let engine = Engine::new(&context_with_storage_buffers(allowed), &m)
            .unwrap_or_else(|e| panic!("{allowed} storage buffers: no engine: {e}"));
        let refused = |result: Result<(), Error>, kernel: &str| match result {
            Ok(()) => false,
            Err(e) => {
                let text = e.to_string();
                let Error::Limit {
                    what,
                    resource: Resource::StorageBuffers,
                    needed,
                    limit,
                } = e
                else {
                    panic!("{allowed} storage buffers: {kernel}: {text}");
                };
                assert_eq!(what, format!("kernel {kernel}"), "{text}");
                assert_eq!(limit, u64::from(allowed), "{text}");
                assert!(needed > limit, "{text}");
                assert_eq!(
                    text,
                    format!(
                        "kernel {kernel} needs {needed} storage buffers per shader stage, the adapter allows {allowed}"
                    )
                );
                true
            }
        };
        let eval = refused(engine.eval(&x, &y).map(drop), "eval");
        let refine = refused(
            engine.refine(&x, &y, &RefineConfig::default()).map(drop),
            "chain",
        );
        assert!(
            refine || !eval,
            "{allowed}: refine runs where eval does not"
        );
        if refine && !eval {
            only_refinement_refused = true;
            let data = TrainData {
                y: data(4 * 16, 1.0, 4),
                x: data(2 * 16, 1.0, 5),
            };
            // NCE refines nothing: it trains here. Contrastive divergence's negatives are
            // refined: it is refused, naming refinement's kernel.
            for objective in [
                Objective::NoiseContrastive,
                Objective::ContrastiveDivergence,
            ] {
                let config = TrainConfig {
                    objective,
                    batch: 8,
                    ..Default::default()
                };
                let engine = Engine::new(&context_with_storage_buffers(allowed), &m).unwrap();
                let trained = Trainer::new(engine, data.clone(), &config)
                    .and_then(|mut t| t.run(2, None).map(drop));
                match (objective, trained) {
                    (Objective::NoiseContrastive, Err(e)) => {
                        panic!("{allowed} storage buffers: NCE: {e}")
                    }
                    (Objective::ContrastiveDivergence, Ok(())) => {
                        panic!("{allowed} storage buffers: CD trained without refining")
                    }
                    (Objective::ContrastiveDivergence, Err(e)) => assert!(
                        e.to_string().starts_with("kernel chain needs "),
                        "{allowed}: CD: {e}"
                    ),
                    _ => {}
                }
            }
        }
        both_refused |= refine && eval;
    }
    assert!(only_refinement_refused && both_refused);
}
