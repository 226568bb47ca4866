//! Every bad input gets a clear error that names the file, tensor or flag: never a panic,
//! a hang or a silently wrong answer, and nothing a user gave is overwritten.

mod cli_support;
mod common;

use std::collections::HashMap;
use std::process::Command;

use common::{ctx, data, model};
use ebm::energy::write_safetensors;
use ebm::{Activation, Engine, Model, Output, RefineConfig};

use cli_support::{assert_has, npy, refine_exits, refine_fails, refine_output, Dir};

#[test]
fn good_inputs_succeed() {
    let d = Dir::new();
    let (m, x, y) = d.good();
    let out = d.path("out.safetensors");
    let status = Command::new(env!("CARGO_BIN_EXE_ebm"))
        .args([
            "refine",
            "--steps",
            "3",
            "--step-size",
            "0.1",
            "--temperature",
            "0.1",
            "--clamp=-2,2",
        ])
        .arg("--model")
        .arg(&m)
        .arg("--x")
        .arg(&x)
        .arg("--y0")
        .arg(&y)
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    assert!(out.exists());
}

#[test]
fn unreadable_and_truncated_model_files() {
    let d = Dir::new();
    let (m, x, y) = d.good();
    let out = d.path("out.safetensors");
    let missing = d.path("nope.safetensors");
    assert_has(
        &refine_fails(&missing, Some(&x), &y, &out, &[]),
        &["nope.safetensors", "No such file"],
    );

    let bytes = std::fs::read(&m).unwrap();
    let cut = d.path("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    assert_has(
        &refine_fails(&cut, Some(&x), &y, &out, &[]),
        &["cut.safetensors", "not a readable safetensors file"],
    );

    let junk = d.path("junk.safetensors");
    std::fs::write(&junk, b"this is not a model").unwrap();
    assert_has(
        &refine_fails(&junk, Some(&x), &y, &out, &[]),
        &["junk.safetensors", "not a readable safetensors file"],
    );
}

fn meta(activation: &str) -> HashMap<String, String> {
    HashMap::from([
        ("ebm.x_dim".to_string(), "3".to_string()),
        ("ebm.y_dim".to_string(), "4".to_string()),
        ("ebm.activation".to_string(), activation.to_string()),
    ])
}

#[test]
fn missing_tensor_wrong_shape_unknown_activation_missing_metadata() {
    let d = Dir::new();
    let (_, x, y) = d.good();
    let out = d.path("out.safetensors");
    let w0 = data(8 * 7, 0.5, 3);
    let b0 = data(8, 0.5, 4);
    let w1 = data(8, 0.5, 5);
    let b1 = data(1, 0.5, 6);
    let p = d.path("bad.safetensors");

    write_safetensors(
        &p,
        &[
            ("layers.0.weight", vec![8, 7], &w0),
            ("layers.0.bias", vec![8], &b0),
            ("layers.1.weight", vec![1, 8], &w1),
        ],
        Some(meta("tanh")),
    )
    .unwrap();
    assert_has(
        &refine_fails(&p, Some(&x), &y, &out, &[]),
        &["bad.safetensors", "\"layers.1.bias\" is missing"],
    );

    write_safetensors(
        &p,
        &[
            ("layers.0.weight", vec![8, 7], &w0),
            ("layers.0.bias", vec![8], &b0),
            ("layers.1.weight", vec![1, 7], &w0[..7]),
            ("layers.1.bias", vec![1], &b1),
        ],
        Some(meta("tanh")),
    )
    .unwrap();
    assert_has(
        &refine_fails(&p, Some(&x), &y, &out, &[]),
        &["layers.1.weight has 7 inputs, expected 8"],
    );

    write_safetensors(
        &p,
        &[
            ("layers.0.weight", vec![8, 7], &w0),
            ("layers.0.bias", vec![4, 2], &b0),
        ],
        Some(meta("tanh")),
    )
    .unwrap();
    assert_has(
        &refine_fails(&p, Some(&x), &y, &out, &[]),
        &["\"layers.0.bias\" has shape [4, 2]"],
    );

    write_safetensors(
        &p,
        &[
            ("layers.0.weight", vec![8, 6], &w0[..48]),
            ("layers.0.bias", vec![8], &b0),
        ],
        Some(meta("tanh")),
    )
    .unwrap();
    assert_has(
        &refine_fails(&p, Some(&x), &y, &out, &[]),
        &["layers.0.weight has 6 inputs, expected 7 (x_dim + y_dim)"],
    );

    let good = [
        ("layers.0.weight", vec![8, 7], &w0[..]),
        ("layers.0.bias", vec![8], &b0[..]),
        ("layers.1.weight", vec![1, 8], &w1[..]),
        ("layers.1.bias", vec![1], &b1[..]),
    ];
    write_safetensors(&p, &good, Some(meta("swish"))).unwrap();
    assert_has(
        &refine_fails(&p, Some(&x), &y, &out, &[]),
        &["ebm.activation", "unknown activation \"swish\""],
    );

    let mut no_y = meta("tanh");
    no_y.remove("ebm.y_dim");
    write_safetensors(&p, &good, Some(no_y)).unwrap();
    assert_has(
        &refine_fails(&p, Some(&x), &y, &out, &[]),
        &["\"ebm.y_dim\" is missing"],
    );

    let mut w_nan = w0.clone();
    w_nan[5] = f32::NAN;
    let mut with_nan = good.clone();
    with_nan[0].2 = &w_nan;
    write_safetensors(&p, &with_nan, Some(meta("tanh"))).unwrap();
    assert_has(
        &refine_fails(&p, Some(&x), &y, &out, &[]),
        &["layers.0.weight holds a non-finite value (NaN) at flat index 5"],
    );

    let mut b_inf = b1.clone();
    b_inf[0] = f32::INFINITY;
    let mut with_inf = good.clone();
    with_inf[3].2 = &b_inf;
    write_safetensors(&p, &with_inf, Some(meta("tanh"))).unwrap();
    assert_has(
        &refine_fails(&p, Some(&x), &y, &out, &[]),
        &["layers.1.bias holds a non-finite value (inf)"],
    );
}

#[test]
fn inputs_that_do_not_fit_the_model() {
    let d = Dir::new();
    let (m, x, y) = d.good();
    let out = d.path("out.safetensors");

    let wide = d.path("wide.npy");
    npy::write_f32(&wide, &[5, 5], &data(25, 1.0, 1)).unwrap();
    assert_has(
        &refine_fails(&m, Some(&x), &wide, &out, &[]),
        &["wide.npy", "has shape [5, 5]; expected [batch, 4]"],
    );

    let short_x = d.path("short_x.npy");
    npy::write_f32(&short_x, &[4, 3], &data(12, 1.0, 1)).unwrap();
    assert_has(
        &refine_fails(&m, Some(&short_x), &y, &out, &[]),
        &["short_x.npy", "has 4 rows but --y0", "has 5"],
    );

    assert_has(
        &refine_fails(&m, None, &y, &out, &[]),
        &["--x", "is required: the model's x_dim is 3"],
    );

    let empty = d.path("empty.npy");
    npy::write_f32(&empty, &[0, 4], &[]).unwrap();
    assert_has(
        &refine_fails(&m, Some(&x), &empty, &out, &[]),
        &["empty.npy", "empty batch"],
    );

    let mut bad = data(20, 1.0, 2);
    bad[13] = f32::NAN;
    let nan = d.path("nan.npy");
    npy::write_f32(&nan, &[5, 4], &bad).unwrap();
    assert_has(
        &refine_fails(&m, Some(&x), &nan, &out, &[]),
        &["nan.npy", "non-finite value (NaN) at flat index 13"],
    );

    let f64_path = d.path("f64.npy");
    {
        use npyz::WriterBuilder;
        let file = std::fs::File::create(&f64_path).unwrap();
        let mut w = npyz::WriteOptions::new()
            .default_dtype()
            .shape(&[5, 4])
            .writer(file)
            .begin_nd()
            .unwrap();
        w.extend((0..20).map(|i| i as f64 * 0.1)).unwrap();
        w.finish().unwrap();
    }
    assert_has(
        &refine_fails(&m, Some(&x), &f64_path, &out, &[]),
        &["f64.npy", "has dtype '<f8'; expected float32"],
    );

    let cut = d.path("cut.npy");
    let bytes = std::fs::read(&y).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
    assert_has(
        &refine_fails(&m, Some(&x), &cut, &out, &[]),
        &["cut.npy", "truncated"],
    );
}

#[test]
fn output_path_equal_to_an_input_is_refused_and_the_input_kept() {
    let d = Dir::new();
    let (m, x, y) = d.good();
    for input in [&m, &x, &y] {
        let before = std::fs::read(input).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ebm"));
        cmd.args(["refine", "--steps", "3", "--step-size", "0.1"])
            .arg("--model")
            .arg(&m)
            .arg("--x")
            .arg(&x)
            .arg("--y0")
            .arg(&y)
            .arg("--out")
            .arg(input);
        let output = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert_has(&stderr, &["--out", "is also an input"]);
        assert_eq!(
            std::fs::read(input).unwrap(),
            before,
            "an input was modified"
        );
    }
}

/// Output paths are checked before any work: a folder that does not exist is reported at
/// once, before the model is even read.
#[test]
fn unwritable_output_paths_fail_before_any_work() {
    let d = Dir::new();
    let (m, x, y) = d.good();
    let missing = d.path("no/such/folder/out.safetensors");
    let absent_model = d.path("absent.safetensors");
    let err = refine_fails(&absent_model, Some(&x), &y, &missing, &[]);
    assert_has(&err, &["--out", "the folder", "does not exist"]);
    let trace = d.path("no/such/folder/trace.csv");
    let out = d.path("out.safetensors");
    let err = refine_fails(
        &m,
        Some(&x),
        &y,
        &out,
        &["--trace", trace.to_str().unwrap()],
    );
    assert_has(&err, &["--trace", "does not exist"]);
    let err = refine_fails(&m, Some(&x), &y, d.dir.path(), &[]);
    assert_has(&err, &["--out", "is a folder"]);
    let output = Command::new(env!("CARGO_BIN_EXE_ebm"))
        .args(["eval", "--model"])
        .arg(&absent_model)
        .arg("--x")
        .arg(&x)
        .arg("--y")
        .arg(&y)
        .arg("--out")
        .arg(&missing)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_has(&stderr, &["--out", "does not exist"]);
}

/// A step size that sends the chains to infinity fails (exit 1) and says how many chains,
/// which and at which step, instead of writing NaN energies; --keep-non-finite writes them,
/// with the step each diverged at.
#[test]
fn diverging_chains_are_an_error_unless_kept() {
    let d = Dir::new();
    let (m, x, y) = d.good();
    let out = d.path("out.safetensors");
    let diverge = ["--step-size", "1e30", "--prior-l2", "1"];
    let err = refine_exits(1, &m, Some(&x), &y, &out, &diverge);
    assert_has(
        &err,
        &[
            "5 of 5 chains became non-finite",
            "chain 0 at step 1",
            "--keep-non-finite",
        ],
    );
    let mut keep = diverge.to_vec();
    keep.push("--keep-non-finite");
    let output = refine_output(&m, &x, &y, &out, &keep);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_has(&stderr, &["warning: 5 of 5 chains became non-finite"]);
    let bytes = std::fs::read(&out).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let at = file.tensor("non_finite_at").unwrap();
    assert_eq!(at.dtype(), safetensors::Dtype::I32);
    let steps: Vec<i32> = bytemuck::pod_collect_to_vec(at.data());
    assert_eq!(steps, vec![1; 5]);
}

#[test]
fn no_adapter_is_a_clear_error() {
    let d = Dir::new();
    let (m, x, y) = d.good();
    let out = d.path("out.safetensors");
    let output = Command::new(env!("CARGO_BIN_EXE_ebm"))
        .env("WGPU_ADAPTER_NAME", "no such adapter anywhere")
        .args(["refine", "--steps", "3", "--step-size", "0.1"])
        .arg("--model")
        .arg(&m)
        .arg("--x")
        .arg(&x)
        .arg("--y0")
        .arg(&y)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_has(
        &stderr,
        &[
            "no GPU adapter found",
            "WGPU_ADAPTER_NAME=no such adapter anywhere",
        ],
    );
}

#[test]
fn library_rejects_bad_batches() {
    let m: Model = model(2, 3, &[4], Activation::Relu, Output::Identity, 1);
    let engine = Engine::new(&ctx(), &m).unwrap();
    let err = engine.eval(&[], &[]).unwrap_err().to_string();
    assert_has(&err, &["y", "empty batch"]);
    let err = engine.eval(&[0.5; 5], &[0.5; 6]).unwrap_err().to_string();
    assert_has(
        &err,
        &["x: holds 5 values; the model's x_dim is 2, so 2 chains need 4"],
    );
    let err = engine.eval(&[0.5; 4], &[0.5; 7]).unwrap_err().to_string();
    assert_has(&err, &["not a multiple of the model's y_dim 3"]);
    let err = engine
        .refine(
            &[0.5; 2],
            &[0.5, f32::INFINITY, 0.1],
            &RefineConfig::default(),
        )
        .unwrap_err()
        .to_string();
    assert_has(&err, &["y", "non-finite value (inf) at flat index 1"]);
    let err = engine
        .refine(
            &[0.5; 2],
            &[0.5; 3],
            &RefineConfig {
                step_size: f32::NAN,
                ..Default::default()
            },
        )
        .unwrap_err()
        .to_string();
    // The library names the setting; the command line maps it to --step-size.
    assert_has(
        &err,
        &["invalid RefineConfig::step_size: must be a positive number"],
    );
}
