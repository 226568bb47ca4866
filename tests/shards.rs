//! A batch split into shards, each refined with `RefineConfig::chain_offset` at its first
//! chain, gives the bits one refinement of the whole batch gives: the chains of a shard draw
//! the noise they would draw in the whole run. This is what spreading a batch over several
//! engines (GPUs, machines) rests on. The reference keys its noise the same way, and bad
//! offsets are refused by name.

mod common;

use common::{assert_close, ctx, data, model, paths};
use ebm::refine::{Exchange, Ladder};
use ebm::{
    reference, Activation, Engine, Error, Output, PathChoice, RefineConfig, Refinement, Sampler,
    TrainConfig,
};

/// Chains in groups of 3 (one x per group, for replica exchange), 8 groups.
const REPLICAS: usize = 3;
const CHAINS: usize = 24;
/// Where the shards start: whole groups, of unequal sizes.
const CUTS: [usize; 4] = [0, 6, 15, 24];

fn configs() -> Vec<(&'static str, RefineConfig)> {
    let base = RefineConfig {
        steps: 12,
        step_size: 0.05,
        temperature: 0.3,
        seed: 91,
        prior_l2: 0.2,
        ..Default::default()
    };
    vec![
        ("langevin", base.clone()),
        (
            "mala with adaptation",
            RefineConfig {
                sampler: Sampler::Mala {
                    adapt_steps: 5,
                    target_accept: 0.6,
                },
                ..base.clone()
            },
        ),
        (
            "keep-if-lower",
            RefineConfig {
                step_size: 1.0,
                sampler: Sampler::KeepIfLower {
                    shrink: 0.5,
                    rise_tolerance: 0.0,
                },
                ..base.clone()
            },
        ),
        (
            "replica exchange",
            RefineConfig {
                exchange: Some(Exchange {
                    replicas: REPLICAS as u32,
                    every: 2,
                    ladder: Ladder::Geometric {
                        coldest: 1.0,
                        hottest: 6.0,
                    },
                }),
                ..base
            },
        ),
    ]
}

/// x for the chains: each of the 8 rows repeated for the 3 chains of its group.
fn grouped_x(x_dim: usize) -> Vec<f32> {
    let rows = data(CHAINS / REPLICAS * x_dim, 1.0, 12);
    rows.chunks(x_dim)
        .flat_map(|row| std::iter::repeat_n(row, REPLICAS).flatten().copied())
        .collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// The shards' results, concatenated in order, equal the whole run's bit for bit.
fn assert_gathered(whole: &Refinement, shards: &[Refinement], what: &str) {
    let cat = |f: fn(&Refinement) -> Vec<u32>| shards.iter().flat_map(f).collect::<Vec<u32>>();
    assert_eq!(bits(&whole.y), cat(|s| bits(&s.y)), "{what}: y");
    assert_eq!(
        bits(&whole.energy),
        cat(|s| bits(&s.energy)),
        "{what}: energy"
    );
    assert_eq!(whole.steps_taken, cat(|s| s.steps_taken.clone()), "{what}");
    assert_eq!(whole.accepted, cat(|s| s.accepted.clone()), "{what}");
    assert_eq!(
        bits(&whole.step_scale),
        cat(|s| bits(&s.step_scale)),
        "{what}: step scale"
    );
    assert_eq!(whole.warmup_accepted, cat(|s| s.warmup_accepted.clone()));
    if let Some(x) = &whole.exchange {
        let parts: Vec<_> = shards.iter().map(|s| s.exchange.clone().unwrap()).collect();
        let cat_x = |f: fn(&ebm::refine::ExchangeReport) -> &Vec<u32>| {
            parts
                .iter()
                .flat_map(|p| f(p).clone())
                .collect::<Vec<u32>>()
        };
        assert_eq!(x.proposed, cat_x(|p| &p.proposed), "{what}: swaps proposed");
        assert_eq!(x.accepted, cat_x(|p| &p.accepted), "{what}: swaps accepted");
        assert_eq!(
            x.round_trips,
            cat_x(|p| &p.round_trips),
            "{what}: round trips"
        );
        assert!(
            x.accepted.iter().any(|&a| a > 0),
            "{what}: no swap happened"
        );
    }
}

#[test]
fn shards_at_their_offsets_give_the_whole_runs_bits() {
    let m = model(2, 5, &[16, 8], Activation::Silu, Output::Softplus, 31);
    let x = grouped_x(m.x_dim);
    let y0 = data(CHAINS * m.y_dim, 1.0, 32);
    for path in paths(&m) {
        let mut engine = Engine::with_path(&ctx(), &m, PathChoice::Exactly(path)).unwrap();
        engine.poison_outputs(true);
        for (name, cfg) in configs() {
            let whole = engine.refine(&x, &y0, &cfg).unwrap();
            let shards: Vec<Refinement> = CUTS
                .windows(2)
                .map(|w| {
                    let shard = RefineConfig {
                        chain_offset: w[0] as u32,
                        ..cfg.clone()
                    };
                    engine
                        .refine(
                            &x[w[0] * m.x_dim..w[1] * m.x_dim],
                            &y0[w[0] * m.y_dim..w[1] * m.y_dim],
                            &shard,
                        )
                        .unwrap()
                })
                .collect();
            assert_gathered(&whole, &shards, &format!("{path} {name}"));
            // Without its offset a shard draws other noise: the offset is what matters.
            let unkeyed = engine
                .refine(
                    &x[6 * m.x_dim..15 * m.x_dim],
                    &y0[6 * m.y_dim..15 * m.y_dim],
                    &cfg,
                )
                .unwrap();
            assert_ne!(bits(&unkeyed.y), bits(&shards[1].y), "{path} {name}");
        }
    }
}

/// Chunks inside a shard add to the shard's offset: a shard in chunks of 4 chains still
/// gives the whole run's bits.
#[test]
fn chunks_of_a_shard_keep_its_offset() {
    let m = model(3, 4, &[12], Activation::Tanh, Output::Identity, 41);
    let x = grouped_x(m.x_dim);
    let y0 = data(CHAINS * m.y_dim, 1.0, 42);
    let cfg = configs().swap_remove(0).1;
    let engine = Engine::new(&ctx(), &m).unwrap();
    let whole = engine.refine(&x, &y0, &cfg).unwrap();
    let mut chunked = Engine::new(&ctx(), &m).unwrap();
    chunked.set_max_chunk(4).unwrap();
    let shard = RefineConfig {
        chain_offset: 15,
        ..cfg
    };
    let tail = chunked
        .refine(&x[15 * m.x_dim..], &y0[15 * m.y_dim..], &shard)
        .unwrap();
    assert_eq!(bits(&whole.y[15 * m.y_dim..]), bits(&tail.y));
    assert_eq!(bits(&whole.energy[15..]), bits(&tail.energy));
}

/// The float64 reference keys its noise by the global chain too: a shard of the reference
/// is the whole reference's rows, and the GPU's shard matches it.
#[test]
fn the_reference_shards_the_same_way() {
    let m = model(2, 5, &[16], Activation::Silu, Output::Square, 51);
    let x = grouped_x(m.x_dim);
    let y0 = data(CHAINS * m.y_dim, 1.0, 52);
    for (name, cfg) in configs() {
        let whole = reference::refine_full(&m, &x, &y0, None, &cfg);
        let shard_cfg = RefineConfig {
            chain_offset: 6,
            ..cfg.clone()
        };
        let (xs, ys) = (
            &x[6 * m.x_dim..15 * m.x_dim],
            &y0[6 * m.y_dim..15 * m.y_dim],
        );
        let shard = reference::refine_full(&m, xs, ys, None, &shard_cfg);
        assert_eq!(shard.y, whole.y[6 * m.y_dim..15 * m.y_dim], "{name}: y");
        assert_eq!(shard.energy, whole.energy[6..15], "{name}: energy");
        assert_eq!(shard.accepted, whole.accepted[6..15], "{name}: accepted");
        let gpu = Engine::new(&ctx(), &m)
            .unwrap()
            .refine(xs, ys, &shard_cfg)
            .unwrap();
        assert_close(&format!("{name}: GPU shard y"), &gpu.y, &shard.y);
        assert_eq!(gpu.accepted, shard.accepted, "{name}: accepted");
    }
}

fn field_of(e: Error) -> &'static str {
    match e {
        Error::Config { field, .. } => field,
        other => panic!("expected a config error, got {other}"),
    }
}

#[test]
fn bad_offsets_are_refused_by_name() {
    let m = model(2, 5, &[8], Activation::Silu, Output::Softplus, 61);
    let engine = Engine::new(&ctx(), &m).unwrap();
    let x = grouped_x(m.x_dim);
    let y0 = data(CHAINS * m.y_dim, 1.0, 62);
    let exchange = configs().swap_remove(3).1;
    // Not a whole number of groups of replicas.
    let e = engine
        .refine(
            &x,
            &y0,
            &RefineConfig {
                chain_offset: 4,
                ..exchange.clone()
            },
        )
        .unwrap_err();
    assert!(
        e.to_string().contains("multiple of Exchange::replicas"),
        "{e}"
    );
    assert_eq!(field_of(e), "RefineConfig::chain_offset");
    // Past the last chain index a noise key holds.
    let e = engine
        .refine(
            &x,
            &y0,
            &RefineConfig {
                chain_offset: u32::MAX - 10,
                ..configs().swap_remove(0).1
            },
        )
        .unwrap_err();
    assert!(e.to_string().contains("2^32 - 1"), "{e}");
    assert_eq!(field_of(e), "RefineConfig::chain_offset");
    // The last index itself is fine.
    let one = engine
        .refine(
            &x[..m.x_dim],
            &y0[..m.y_dim],
            &RefineConfig {
                chain_offset: u32::MAX,
                ..configs().swap_remove(0).1
            },
        )
        .unwrap();
    assert!(one.y.iter().all(|v| v.is_finite()));
    // Training's negatives are its own batch: no offset.
    let train = TrainConfig {
        negatives: RefineConfig {
            chain_offset: 8,
            ..TrainConfig::default().negatives
        },
        ..TrainConfig::default()
    };
    let e = train.validate().unwrap_err();
    assert!(e.to_string().contains("chain_offset"), "{e}");
}
