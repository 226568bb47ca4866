//! `ebm refine` on long and large runs: quiet when stderr is not a terminal; Ctrl-C stops at
//! the next submission and still writes the output, marked cancelled, with exit code 130; a
//! batch the device cannot hold is an error, not an abort.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{data, model};
use ebm::{npy, Activation, Output};

/// A model and 512 starts in `dir`.
fn job(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let m = model(2, 4, &[32, 32], Activation::Silu, Output::Softplus, 3);
    let (mp, xp, yp) = (
        dir.join("m.safetensors"),
        dir.join("x.npy"),
        dir.join("y.npy"),
    );
    m.save(&mp).unwrap();
    npy::write_f32(&xp, &[512, 2], &data(1024, 1.0, 4)).unwrap();
    npy::write_f32(&yp, &[512, 4], &data(2048, 1.0, 5)).unwrap();
    (mp, xp, yp)
}

fn refine(model: &Path, x: &Path, y: &Path, out: &Path, steps: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ebm"));
    // Mesa complains on stderr without a runtime folder.
    let runtime = std::env::var("XDG_RUNTIME_DIR").unwrap_or_else(|_| "/tmp".into());
    cmd.env("XDG_RUNTIME_DIR", runtime)
        .args(["refine", "--steps", steps, "--step-size", "0.001"])
        .args(["--temperature", "0.01", "--dispatch-ms", "20"])
        .arg("--model")
        .arg(model)
        .arg("--x")
        .arg(x)
        .arg("--y0")
        .arg(y)
        .arg("--out")
        .arg(out);
    cmd
}

fn metadata(out: &Path) -> (std::collections::HashMap<String, String>, Vec<f32>) {
    let bytes = std::fs::read(out).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let taken = bytemuck::pod_collect_to_vec(file.tensor("steps_taken").unwrap().data());
    (meta.metadata().clone().unwrap_or_default(), taken)
}

#[test]
fn a_run_off_a_terminal_prints_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (m, x, y) = job(dir.path());
    let out = dir.path().join("out.safetensors");
    // Long enough (several seconds here) that a terminal would show the bar.
    let output = refine(&m, &x, &y, &out, "3000").output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(stderr, "", "stderr is not a terminal: no progress bar");
    let (meta, taken) = metadata(&out);
    assert_eq!(meta.get("ebm.status").map(String::as_str), Some("complete"));
    assert!(taken.iter().all(|&k| k == 3000.0));
}

#[test]
fn ctrl_c_writes_what_was_done_and_marks_it_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let (m, x, y) = job(dir.path());
    let out = dir.path().join("out.safetensors");
    let steps = 2_000_000;
    let child = refine(&m, &x, &y, &out, &steps.to_string())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Past the start-up (self-check, pipelines) and well into the refinement.
    std::thread::sleep(Duration::from_secs(4));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let sent = Instant::now();
    let output = child.wait_with_output().unwrap();
    let stopped_in = sent.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted after"), "{stderr}");
    assert!(
        stopped_in < Duration::from_secs(5),
        "took {stopped_in:?} to stop after Ctrl-C"
    );
    let (meta, taken) = metadata(&out);
    assert_eq!(
        meta.get("ebm.status").map(String::as_str),
        Some("cancelled")
    );
    let done = taken[0];
    assert!(done > 0.0 && done < steps as f32, "steps taken {done}");
    assert!(
        taken.iter().all(|&k| k == done),
        "one chunk: every chain took the same steps"
    );
}

/// A batch whose buffers the device cannot hold is an error naming the batch and the bytes
/// it needed (exit 1), not an abort. lavapipe allocates device memory from the process's
/// address space, so `ulimit -v` makes it run out: the limit comes down until the buffers
/// no longer fit, stopping there (lower still, lavapipe's own compiler crashes).
#[test]
fn a_batch_the_device_cannot_hold_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let m = model(0, 4, &[1024], Activation::Tanh, Output::Identity, 9);
    let (mp, yp, out) = (
        dir.path().join("m.safetensors"),
        dir.path().join("y.npy"),
        dir.path().join("out.safetensors"),
    );
    m.save(&mp).unwrap();
    // About 120 MB of scratch in one chunk.
    npy::write_f32(&yp, &[6000, 4], &data(24000, 1.0, 10)).unwrap();
    let runtime = std::env::var("XDG_RUNTIME_DIR").unwrap_or_else(|_| "/tmp".into());
    let mut outcomes = Vec::new();
    for megabytes in (500..=2000).rev().step_by(50) {
        let script = format!(
            "ulimit -v {}; exec \"$0\" refine --model \"$1\" --y0 \"$2\" --out \"$3\" --steps 1 --step-size 0.01",
            megabytes * 1000
        );
        let output = Command::new("sh")
            .env("XDG_RUNTIME_DIR", &runtime)
            .args(["-c", &script, env!("CARGO_BIN_EXE_ebm")])
            .arg(&mp)
            .arg(&yp)
            .arg(&out)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        outcomes.push((megabytes, output.status.code(), stderr.clone()));
        match output.status.code() {
            Some(0) => continue,
            Some(1) if stderr.contains("out of device memory") => {
                assert!(
                    stderr.contains("a batch of 6000 chains needs")
                        && stderr.contains("bytes for a chunk of 6000 chains"),
                    "{stderr}"
                );
                assert!(!stderr.contains("panicked"), "{stderr}");
                return;
            }
            _ => break,
        }
    }
    panic!("no run ended in the out-of-memory error: {outcomes:#?}");
}
