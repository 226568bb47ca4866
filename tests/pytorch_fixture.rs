//! `ebm refine` against PyTorch: the fixtures in tests/fixtures/ were exported with
//! examples/export_pytorch.py and refined by plain gradient descent with PyTorch autograd
//! in float32 (tests/fixtures/make_fixtures.py). The command line, run on the same model
//! files and .npy inputs, must land on the same y and energies.

use std::path::{Path, PathBuf};
use std::process::Command;

use safetensors::tensor::Dtype;
use safetensors::SafeTensors;

/// The largest relative L2 error (||a - b|| / ||b||) accepted against PyTorch.
const TOLERANCE: f64 = 1e-4;

fn fixture(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(file)
}

/// A safetensors file's bytes and its string metadata.
struct TensorFile {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl TensorFile {
    fn open(path: &Path) -> TensorFile {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        TensorFile {
            path: path.to_path_buf(),
            bytes,
        }
    }

    fn parsed(&self) -> SafeTensors<'_> {
        SafeTensors::deserialize(&self.bytes)
            .unwrap_or_else(|e| panic!("{}: not a safetensors file ({e})", self.path.display()))
    }

    /// Tensor `name`, which must be F32 (little-endian): its shape and values.
    fn f32(&self, name: &str) -> (Vec<usize>, Vec<f32>) {
        let file = self.parsed();
        let view = file
            .tensor(name)
            .unwrap_or_else(|e| panic!("{}: no tensor {name:?} ({e})", self.path.display()));
        assert_eq!(
            view.dtype(),
            Dtype::F32,
            "{}: tensor {name:?} must be F32",
            self.path.display()
        );
        let data = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        (view.shape().to_vec(), data)
    }

    /// Metadata string `key`.
    fn meta(&self, key: &str) -> String {
        let (_, header) = SafeTensors::read_metadata(&self.bytes).unwrap();
        header
            .metadata()
            .as_ref()
            .and_then(|m| m.get(key).cloned())
            .unwrap_or_else(|| panic!("{}: no metadata {key:?}", self.path.display()))
    }
}

/// ||a - b|| / ||b||, in float64.
fn rel_l2(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    let num: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum();
    let den: f64 = b.iter().map(|&y| f64::from(y).powi(2)).sum();
    assert!(
        den > 0.0,
        "reference is all zeros: the test would prove nothing"
    );
    (num / den).sqrt()
}

fn check_fixture(name: &str, has_x: bool) {
    let expected = TensorFile::open(&fixture(&format!("{name}_expected.safetensors")));
    let steps = expected.meta("steps");
    let step_size = expected.meta("step_size");
    let (y_shape, y_expected) = expected.f32("y");
    let (e_shape, e_expected) = expected.f32("energy");
    let (y0_shape, y0) = expected.f32("y0");
    assert_eq!(y_shape.len(), 2, "{name}: expected y is not [B, y_dim]");
    assert_eq!(
        y0_shape, y_shape,
        "{name}: y0 and y shapes differ in the fixture"
    );
    assert_eq!(e_shape, [y_shape[0]], "{name}: energy is not [B]");

    // The fixture itself must describe a trajectory that goes somewhere, or matching it
    // would not show that the CLI takes gradient steps at all.
    let moved = rel_l2(&y_expected, &y0);
    assert!(
        moved > 0.05,
        "{name}: PyTorch's y hardly moved from y0 ({moved:e})"
    );

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.safetensors");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ebm"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("refine")
        .arg("--model")
        .arg(fixture(&format!("{name}.safetensors")));
    if has_x {
        cmd.arg("--x").arg(fixture(&format!("{name}_x.npy")));
    }
    cmd.arg("--y0")
        .arg(fixture(&format!("{name}_y0.npy")))
        .args([
            "--steps",
            &steps,
            "--step-size",
            &step_size,
            "--temperature",
            "0",
        ])
        .arg("--out")
        .arg(&out);
    let result = cmd.output().expect("could not run the ebm binary");
    assert!(
        result.status.success(),
        "{name}: {cmd:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
        result.status,
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );

    assert!(
        out.is_file(),
        "{name}: {cmd:?} exited successfully but wrote no {}\nstdout:\n{}\nstderr:\n{}",
        out.display(),
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
    let got = TensorFile::open(&out);
    let (gy_shape, gy) = got.f32("y");
    let (ge_shape, ge) = got.f32("energy");
    assert_eq!(gy_shape, y_shape, "{name}: output y has the wrong shape");
    assert_eq!(
        ge_shape, e_shape,
        "{name}: output energy has the wrong shape"
    );
    assert!(
        gy.iter().chain(&ge).all(|v| v.is_finite()),
        "{name}: non-finite output"
    );

    let err_y = rel_l2(&gy, &y_expected);
    let err_e = rel_l2(&ge, &e_expected);
    eprintln!("{name}: CLI vs PyTorch relative L2 error: y {err_y:e}, energy {err_e:e}");
    assert!(
        err_y < TOLERANCE,
        "{name}: y differs from PyTorch by {err_y:e} (relative L2)"
    );
    assert!(
        err_e < TOLERANCE,
        "{name}: energy differs from PyTorch by {err_e:e} (relative L2)"
    );
    let moved = rel_l2(&gy, &y0);
    assert!(
        moved > 0.05,
        "{name}: the CLI's y hardly moved from y0 ({moved:e})"
    );
}

#[test]
fn gelu_square_matches_pytorch() {
    check_fixture("gelu_square", true);
}

#[test]
fn tanh_uncond_matches_pytorch() {
    check_fixture("tanh_uncond", false);
}

/// The fixtures against the crate's own float64 CPU reference (no GPU, no CLI): checks that
/// the exported files load and mean what PyTorch computed.
#[test]
fn fixtures_match_float64_reference() {
    for (name, has_x) in [("gelu_square", true), ("tanh_uncond", false)] {
        let model = ebm::Model::load(fixture(&format!("{name}.safetensors")))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let expected = TensorFile::open(&fixture(&format!("{name}_expected.safetensors")));
        let (_, y0) = expected.f32("y0");
        let x = if has_x {
            expected.f32("x").1
        } else {
            assert_eq!(model.x_dim, 0, "{name}: expected an unconditional model");
            Vec::new()
        };
        let config = ebm::RefineConfig {
            steps: expected.meta("steps").parse().unwrap(),
            step_size: expected.meta("step_size").parse().unwrap(),
            temperature: 0.0,
            ..Default::default()
        };
        let (y, energy) = ebm::reference::refine(&model, &x, &y0, &config);
        let y: Vec<f32> = y.iter().map(|&v| v as f32).collect();
        let energy: Vec<f32> = energy.iter().map(|&v| v as f32).collect();
        let err_y = rel_l2(&y, &expected.f32("y").1);
        let err_e = rel_l2(&energy, &expected.f32("energy").1);
        eprintln!("{name}: float64 reference vs PyTorch: y {err_y:e}, energy {err_e:e}");
        assert!(
            err_y < TOLERANCE,
            "{name}: reference y differs from PyTorch by {err_y:e}"
        );
        assert!(
            err_e < TOLERANCE,
            "{name}: reference energy differs from PyTorch by {err_e:e}"
        );
    }
}
