//! What the tests of `ebm`'s bad inputs share: a folder with a good job in it, and runs of
//! `ebm refine` that must fail cleanly.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{data, model};
use ebm::{Activation, Output};

/// The command line's .npy reader and writer (only the writer is used here).
#[path = "../../src/bin/ebm/npy.rs"]
#[allow(dead_code)]
pub mod npy;

pub struct Dir {
    pub dir: tempfile::TempDir,
}

impl Dir {
    pub fn new() -> Dir {
        Dir {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A good conditional model (x_dim 3, y_dim 4) and matching inputs for 5 chains.
    pub fn good(&self) -> (PathBuf, PathBuf, PathBuf) {
        let m = model(3, 4, &[8], Activation::Tanh, Output::Identity, 1);
        let (mp, xp, yp) = (
            self.path("m.safetensors"),
            self.path("x.npy"),
            self.path("y.npy"),
        );
        m.save(&mp).unwrap();
        npy::write_f32(&xp, &[5, 3], &data(15, 1.0, 1)).unwrap();
        npy::write_f32(&yp, &[5, 4], &data(20, 1.0, 2)).unwrap();
        (mp, xp, yp)
    }
}

/// Runs `ebm refine` and returns its stderr, asserting it failed cleanly: exit 2 (bad
/// input, whether the argument parser or ebm found it), no panic, no output file.
pub fn refine_fails(
    model: &Path,
    x: Option<&Path>,
    y0: &Path,
    out: &Path,
    extra: &[&str],
) -> String {
    refine_exits(2, model, x, y0, out, extra)
}

/// As `refine_fails`, expecting exit code `code`.
pub fn refine_exits(
    code: i32,
    model: &Path,
    x: Option<&Path>,
    y0: &Path,
    out: &Path,
    extra: &[&str],
) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ebm"));
    cmd.args(["refine", "--steps", "3"]);
    if !extra.contains(&"--step-size") && !extra.contains(&"--stages") {
        cmd.args(["--step-size", "0.1"]);
    }
    cmd.arg("--model")
        .arg(model)
        .arg("--y0")
        .arg(y0)
        .arg("--out")
        .arg(out);
    if let Some(x) = x {
        cmd.arg("--x").arg(x);
    }
    cmd.args(extra);
    let existed = out.exists();
    let output = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(output.status.code(), Some(code), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(existed || !out.exists(), "a failed run left an output file");
    stderr
}

/// Runs `ebm refine --steps 3` on the good job with `args`.
pub fn refine_output(
    m: &Path,
    x: &Path,
    y: &Path,
    out: &Path,
    args: &[&str],
) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ebm"))
        .args(["refine", "--steps", "3"])
        .args(args)
        .arg("--model")
        .arg(m)
        .arg("--x")
        .arg(x)
        .arg("--y0")
        .arg(y)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

pub fn assert_has(text: &str, needles: &[&str]) {
    for n in needles {
        assert!(text.contains(n), "expected {n:?} in: {text}");
    }
}
