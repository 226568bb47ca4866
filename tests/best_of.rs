//! Best-of-R returns, per x, exactly the lowest-energy chain of its R.

mod common;

use common::{ctx, data, model};
use ebm::{reference, Activation, Engine, Output, RefineConfig};

#[test]
fn best_of_r_returns_the_lowest_energy_chain_of_each_x() {
    let ctx = ctx();
    let m = model(3, 4, &[16], Activation::Tanh, Output::Square, 5);
    let (obs, r) = (9, 5);
    let x = data(obs * 3, 1.0, 1);
    let y0 = data(obs * r * 4, 2.0, 2);
    let cfg = RefineConfig {
        steps: 6,
        step_size: 0.05,
        temperature: 0.5,
        seed: 9,
        ..Default::default()
    };
    let engine = Engine::new(&ctx, &m).unwrap();
    let out = engine.refine_best_of(&x, &y0, r, None, &cfg).unwrap();
    assert_eq!(
        (out.y.len(), out.energy.len(), out.all.energy.len()),
        (obs * 4, obs, obs * r)
    );
    // The R chains of an x are those of a plain refinement of x repeated R times.
    let xs: Vec<f32> = x.chunks(3).flat_map(|row| row.repeat(r)).collect();
    let (_, energies) = reference::refine(&m, &xs, &y0, &cfg);
    let mut spread_seen = false;
    for i in 0..obs {
        let group = &out.all.energy[i * r..(i + 1) * r];
        let k = out.best[i] as usize;
        assert!(
            group.iter().all(|&e| e >= group[k]),
            "x {i}: {group:?} best {k}"
        );
        assert_eq!(out.energy[i], group[k]);
        assert_eq!(
            &out.y[i * 4..(i + 1) * 4],
            &out.all.y[(i * r + k) * 4..(i * r + k + 1) * 4]
        );
        let high = group.iter().copied().fold(f32::MIN, f32::max);
        assert_eq!(out.spread[i], high - group[k]);
        spread_seen |= out.spread[i] > 1e-3;
        // And the chains themselves are the reference's.
        for (j, e) in group.iter().enumerate() {
            let want = energies[i * r + j];
            assert!(
                (f64::from(*e) - want).abs() < 1e-4 * (1.0 + want.abs()),
                "{e} vs {want}"
            );
        }
    }
    assert!(spread_seen, "the restarts should end at different energies");
    let err = engine
        .refine_best_of(&x, &y0[4..], r, None, &cfg)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("y0") && err.contains("9 observations x 5 chains"),
        "{err}"
    );
}
