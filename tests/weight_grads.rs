//! Weight gradients on the GPU (`Engine::weight_grad`: backprop.wgsl, weight_grad.wgsl)
//! held to the float64 reference (itself held to finite differences in
//! src/reference/weight_grad.rs): every activation and output, odd widths, x_dim = 0, signed
//! per-chain weights, NaN-poisoned buffers, the trusted and the bounds-checked build, and a
//! batch summed in chunks.

mod common;

use common::{assert_close, ctx, data, model};
use ebm::{reference, Activation, Engine, Model, Output};

/// The GPU's gradient of `model` against the reference's, every parameter (each layer's
/// weight and bias), and the energies; each gradient has its parameter's name and shape.
fn check(engine: &Engine, what: &str, model: &Model, n: usize, seed: u64) {
    let x = data(n * model.x_dim, 1.0, seed);
    let y = data(n * model.y_dim, 1.0, seed + 1);
    // Signed weights, as a contrastive objective gives (positives +, negatives -).
    let w = data(n, 1.0, seed + 2);
    let got = engine.weight_grad(&x, &y, &w).unwrap();
    let (energy, grads) = reference::weight_grad(model, &x, &y, &w);
    assert_close(&format!("{what}: energy"), &got.energy, &energy);
    let flat: Vec<f32> = got
        .params
        .iter()
        .flat_map(|p| p.data.iter().copied())
        .collect();
    let want: Vec<f64> = grads.iter().flatten().copied().collect();
    assert_close(&format!("{what}: dE/dtheta"), &flat, &want);
    assert_eq!(got.params.len(), model.params.len(), "{what}: parameters");
    assert_eq!(
        grads.len(),
        model.params.len(),
        "{what}: reference parameters"
    );
    for ((p, g), param) in got.params.iter().zip(&grads).zip(&model.params) {
        assert_eq!(p.name, param.name, "{what}");
        assert_eq!(p.shape, param.shape, "{what}: {}", p.name);
        assert_eq!(p.data.len(), param.data.len(), "{what}: {}", p.name);
        assert_eq!(p.data.len(), g.len(), "{what}: {}", p.name);
    }
}

#[test]
fn weight_gradients_match_the_reference_for_every_activation_and_output() {
    let ctx = ctx();
    for act in Activation::ALL {
        for out in Output::ALL {
            let m = model(3, 5, &[17, 9], act, out, 7);
            let mut engine = Engine::new(&ctx, &m).unwrap();
            engine.poison_outputs(true);
            check(&engine, &format!("{act:?} {out:?}"), &m, 37, 11);
        }
    }
}

#[test]
fn odd_widths_unconditional_models_and_the_checked_build() {
    let ctx = ctx();
    for (x_dim, y_dim, hidden) in [
        (0usize, 3usize, vec![1usize]),
        (1, 1, vec![257]),
        (5, 2, vec![3, 17, 3]),
    ] {
        let m = model(x_dim, y_dim, &hidden, Activation::Silu, Output::Softplus, 3);
        let mut engine = Engine::new(&ctx, &m).unwrap();
        engine.poison_outputs(true);
        let what = format!("x_dim {x_dim}, y_dim {y_dim}, hidden {hidden:?}");
        check(&engine, &what, &m, 9, 5);
        engine.set_runtime_checks(true).unwrap();
        check(&engine, &format!("{what}, bounds-checked"), &m, 9, 5);
    }
}

/// A batch summed chunk by chunk (in order) gives the same gradient, up to the order of the
/// float32 sums, and the same energies bit for bit.
#[test]
fn chunked_batches_give_the_same_gradient() {
    let ctx = ctx();
    let m = model(2, 3, &[16], Activation::Tanh, Output::Square, 9);
    let whole = Engine::new(&ctx, &m).unwrap();
    let mut chunked = Engine::new(&ctx, &m).unwrap();
    chunked.set_max_chunk(7).unwrap();
    let n = 50;
    let (x, y, w) = (data(n * 2, 1.0, 1), data(n * 3, 1.0, 2), data(n, 1.0, 3));
    let a = whole.weight_grad(&x, &y, &w).unwrap();
    let b = chunked.weight_grad(&x, &y, &w).unwrap();
    assert_eq!(a.energy, b.energy);
    let flat = |g: &ebm::train::WeightGrad| -> Vec<f64> {
        g.params
            .iter()
            .flat_map(|p| p.data.iter().map(|&v| f64::from(v)))
            .collect()
    };
    let whole_flat = flat(&a);
    assert_close(
        "chunks of 7 against one",
        &flat(&b).iter().map(|&v| v as f32).collect::<Vec<_>>(),
        &whole_flat,
    );
    // And the same chunked call twice: bit for bit.
    assert_eq!(b, chunked.weight_grad(&x, &y, &w).unwrap());
}

#[test]
fn bad_chain_weights_are_named() {
    let m = model(2, 3, &[8], Activation::Relu, Output::Identity, 1);
    let engine = Engine::new(&ctx(), &m).unwrap();
    let (x, y) = (data(4 * 2, 1.0, 1), data(4 * 3, 1.0, 2));
    let err = engine
        .weight_grad(&x, &y, &[1.0; 3])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("chain_weights") && err.contains("4 chains"),
        "{err}"
    );
    let err = engine
        .weight_grad(&x, &y, &[1.0, f32::NAN, 1.0, 1.0])
        .unwrap_err()
        .to_string();
    assert!(err.contains("chain_weights"), "{err}");
}
