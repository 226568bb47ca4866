//! Discrete answers from relaxed ones: the vertex penalty on simplex groups held to the
//! float64 reference on every path, what it does to a constraint energy whose relaxation has
//! a zero at the centre (a 3 x 3 Latin square), decoding to vertices with the model's energy
//! there, best-of-R by that energy, and bad settings refused by name.

mod common;

use common::{assert_close, check_options_on, ctx, model};

use ebm::refine::{round_to_vertices, Shape, VertexPenalty};
use ebm::{
    reference, Activation, Engine, Error, Layer, Model, Output, PathChoice, RefineConfig, Sampler,
};

fn penalty(start: f32, end: f32) -> VertexPenalty {
    VertexPenalty {
        start,
        end,
        shape: Shape::Linear,
    }
}

/// Langevin with a growing penalty and keep-if-lower with a constant one, on groups of 3,
/// one group fixed per chain: y, energies (the penalty's at the last step included), stops and step sizes
/// match the reference on every path.
#[test]
fn vertex_penalty_matches_the_reference_on_every_path() {
    let m = model(3, 6, &[20, 12], Activation::Silu, Output::Softplus, 41);
    let n = 23;
    let fixed: Vec<bool> = (0..n * 6).map(|i| i % 6 == (i / 6) % 6).collect();
    for sampler in [
        Sampler::Langevin,
        Sampler::KeepIfLower {
            shrink: 0.5,
            rise_tolerance: 0.0,
        },
    ] {
        // Keep-if-lower compares energies of different steps: its weight stays constant.
        let (step_size, temperature, weight) = match sampler {
            Sampler::Langevin => (0.05, 0.02, penalty(0.0, 2.0)),
            _ => (0.3, 0.0, penalty(0.7, 0.7)),
        };
        let cfg = RefineConfig {
            steps: 24,
            step_size,
            temperature,
            seed: 5,
            prior_l2: 0.1,
            simplex: Some(3),
            vertex_penalty: Some(weight),
            sampler,
            ..Default::default()
        };
        for path in common::paths(&m) {
            let what = format!("{path} {sampler:?} with a vertex penalty");
            check_options_on(PathChoice::Exactly(path), &m, n, &cfg, Some(&fixed), &what);
        }
    }
}

/// A 3 x 3 Latin square as a constraint energy: y[9 r + 3 c + d] is how much cell (r, c)
/// holds digit d; one square output per (row, digit) and (column, digit), its 3 cells' sum
/// minus 1. The centre of every simplex (1/3 everywhere) has energy 0 as a solution does.
fn latin_square() -> Model {
    let mut weight = vec![0.0f32; 18 * 27];
    for unit in 0..3 {
        for d in 0..3 {
            for k in 0..3 {
                weight[(3 * unit + d) * 27 + 9 * unit + 3 * k + d] = 1.0;
                weight[(9 + 3 * unit + d) * 27 + 9 * k + 3 * unit + d] = 1.0;
            }
        }
    }
    Model::mlp(
        0,
        27,
        vec![Layer {
            n_in: 27,
            n_out: 18,
            weight,
            bias: vec![-1.0; 18],
        }],
        Activation::Relu,
        Output::Square,
    )
    .unwrap()
}

/// From near the centre, annealed Langevin alone stays near the centre (its energy is 0
/// there): no cell comes within 0.3 of a vertex. With the penalty growing from 0 to 4,
/// every cell ends on a vertex, and at least 90% of the 256 chains decode to a Latin square
/// (decoded energy exactly 0); the decoded energies are the model's at the rounded y.
#[test]
fn vertex_penalty_turns_relaxed_chains_into_answers() {
    let m = latin_square();
    let engine = Engine::new(&ctx(), &m).unwrap();
    let n = 256;
    let y0: Vec<f32> = common::data(n * 27, 0.02, 3)
        .iter()
        .map(|v| 1.0 / 3.0 + v)
        .collect();
    let base = RefineConfig {
        steps: 400,
        step_size: 0.05,
        temperature: 0.01,
        schedule: ebm::Schedule {
            shape: Shape::Geometric,
            temperature_end: Some(1e-4),
            ..Default::default()
        },
        simplex: Some(3),
        decode: true,
        seed: 4,
        ..Default::default()
    };
    let nearest_vertex = |y: &[f32]| -> f32 {
        y.chunks(3)
            .map(|g| 1.0 - g.iter().copied().fold(f32::MIN, f32::max))
            .fold(0.0, f32::max)
    };
    let plain = engine.refine(&[], &y0, &base).unwrap();
    let far = plain
        .y
        .chunks(27)
        .map(nearest_vertex)
        .fold(f32::MAX, f32::min);
    assert!(
        far > 0.3,
        "without the penalty some chain reached a vertex ({far})"
    );
    let cfg = RefineConfig {
        vertex_penalty: Some(penalty(0.0, 4.0)),
        ..base
    };
    let out = engine.refine(&[], &y0, &cfg).unwrap();
    let worst = out.y.chunks(27).map(nearest_vertex).fold(0.0, f32::max);
    assert!(worst < 1e-3, "a cell ended {worst} from its vertex");
    let decoded = out.decoded.as_ref().unwrap();
    let solved = decoded.energy.iter().filter(|&&e| e == 0.0).count();
    assert!(
        solved * 10 >= n * 9,
        "{solved} of {n} chains decode to a Latin square"
    );
    let (want, _) = reference::eval(&m, &[], &decoded.y);
    assert_close("decoded energy", &decoded.energy, &want);
    assert_eq!(decoded.y, round_to_vertices(&out.y, 3, None));
}

/// Rounding: the largest coordinate of each group becomes 1 (the first on ties, NaN never),
/// groups holding a fixed coordinate stay as they are.
#[test]
fn rounding_goes_to_the_vertex_of_the_largest_coordinate() {
    let y = [
        0.2,
        0.5,
        0.3,
        0.4,
        0.4,
        0.2,
        f32::NAN,
        0.1,
        0.0,
        0.3,
        0.3,
        0.4,
    ];
    let fixed = [
        false, false, false, false, false, false, false, false, false, false, true, false,
    ];
    assert_eq!(
        round_to_vertices(&y, 3, Some(&fixed)),
        [0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.3, 0.3, 0.4]
    );
}

/// Best-of-R with decoding picks each x's chain by its decoded energy and gives its rounded
/// y.
#[test]
fn best_of_picks_by_the_decoded_energy() {
    let m = latin_square();
    let engine = Engine::new(&ctx(), &m).unwrap();
    let r = 8;
    let y0: Vec<f32> = common::data(3 * r * 27, 0.05, 6)
        .iter()
        .map(|v| 1.0 / 3.0 + v)
        .collect();
    let cfg = RefineConfig {
        steps: 150,
        step_size: 0.05,
        temperature: 0.01,
        simplex: Some(3),
        vertex_penalty: Some(penalty(0.0, 4.0)),
        decode: true,
        seed: 8,
        ..Default::default()
    };
    let best = engine.refine_best_of(&[], &y0, r, None, &cfg).unwrap();
    let decoded = best.all.decoded.as_ref().unwrap();
    for i in 0..3 {
        let group = &decoded.energy[i * r..(i + 1) * r];
        let low = group.iter().copied().fold(f32::MAX, f32::min);
        assert_eq!(best.energy[i], low);
        let k = best.best[i] as usize;
        assert_eq!(group[k], low);
        assert_eq!(
            &best.y[i * 27..(i + 1) * 27],
            &decoded.y[(i * r + k) * 27..(i * r + k + 1) * 27]
        );
    }
}

/// Each bad setting is refused, naming it.
#[test]
fn bad_penalty_and_decode_settings_are_refused_by_name() {
    let m = latin_square();
    let engine = Engine::new(&ctx(), &m).unwrap();
    let y0 = vec![0.3f32; 27];
    let good = RefineConfig {
        steps: 5,
        simplex: Some(3),
        vertex_penalty: Some(penalty(0.0, 1.0)),
        decode: true,
        ..Default::default()
    };
    assert!(engine.refine(&[], &y0, &good).is_ok());
    let cases = [
        RefineConfig {
            simplex: None,
            decode: false,
            ..good.clone()
        },
        RefineConfig {
            vertex_penalty: Some(penalty(-1.0, 1.0)),
            ..good.clone()
        },
        RefineConfig {
            vertex_penalty: Some(penalty(0.0, f32::NAN)),
            ..good.clone()
        },
        RefineConfig {
            vertex_penalty: Some(VertexPenalty {
                shape: Shape::Geometric,
                ..penalty(0.0, 1.0)
            }),
            ..good.clone()
        },
    ];
    let moving_under_keep_if_lower = RefineConfig {
        sampler: Sampler::KeepIfLower {
            shrink: 0.5,
            rise_tolerance: 0.0,
        },
        ..good.clone()
    };
    for cfg in cases.into_iter().chain([moving_under_keep_if_lower]) {
        match engine.refine(&[], &y0, &cfg) {
            Err(Error::Config { field, .. }) => assert_eq!(field, "RefineConfig::vertex_penalty"),
            other => panic!("accepted {cfg:?}: {other:?}"),
        }
    }
    let no_groups = RefineConfig {
        simplex: None,
        vertex_penalty: None,
        ..good
    };
    match engine.refine(&[], &y0, &no_groups) {
        Err(Error::Config { field, .. }) => assert_eq!(field, "RefineConfig::decode"),
        other => panic!("accepted decode without groups: {other:?}"),
    }
}
