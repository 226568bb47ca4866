//! `ebm refine` and `ebm eval` as a user runs them: a one-line summary on stderr (none
//! with --quiet, and no progress bar off a terminal); counts and indices written as int32
//! tensors; the trace's numbers short and exact; Ctrl-C stops at the next submission and
//! still writes the output, marked cancelled, with exit code 130; a batch the device cannot
//! hold is an error, not an abort.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{data, model};
use ebm::{Activation, Output as Head};
use safetensors::{Dtype, SafeTensors};

/// The command line's .npy reader and writer (only the writer is used here).
#[path = "../src/bin/ebm/npy.rs"]
#[allow(dead_code)]
mod npy;

/// A model and 512 starts in `dir`.
fn job(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let m = model(2, 4, &[32, 32], Activation::Silu, Head::Softplus, 3);
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
    // Mesa warns on stderr without a runtime folder; ebm gives it one of its own, so the
    // runs here leave it unset and still expect nothing but ebm's own lines.
    cmd.env_remove("XDG_RUNTIME_DIR")
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

/// A safetensors file's bytes.
struct TensorFile(Vec<u8>);

impl TensorFile {
    fn open(path: &Path) -> TensorFile {
        TensorFile(std::fs::read(path).unwrap())
    }

    fn metadata(&self) -> HashMap<String, String> {
        let (_, meta) = SafeTensors::read_metadata(&self.0).unwrap();
        meta.metadata().clone().unwrap_or_default()
    }

    /// Tensor `name`, which must have dtype `dtype`, as raw values.
    fn values<T: bytemuck::Pod>(&self, name: &str, dtype: Dtype) -> Vec<T> {
        let file = SafeTensors::deserialize(&self.0).unwrap();
        let view = file
            .tensor(name)
            .unwrap_or_else(|e| panic!("no tensor {name}: {e}"));
        assert_eq!(view.dtype(), dtype, "tensor {name}");
        bytemuck::pod_collect_to_vec(view.data())
    }

    fn f32(&self, name: &str) -> Vec<f32> {
        self.values(name, Dtype::F32)
    }

    fn i32(&self, name: &str) -> Vec<i32> {
        self.values(name, Dtype::I32)
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).to_string()
}

#[test]
fn a_run_off_a_terminal_prints_its_summary_and_no_progress_bar() {
    let dir = tempfile::tempdir().unwrap();
    let (m, x, y) = job(dir.path());
    let out = dir.path().join("out.safetensors");
    // Long enough (several seconds here) that a terminal would show the bar.
    let output = refine(&m, &x, &y, &out, "3000").output().unwrap();
    let stderr = stderr(&output);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "only the summary: {stderr}");
    assert!(
        stderr.starts_with("ebm refine: 512 chains x 3000 steps on "),
        "{stderr}"
    );
    let file = TensorFile::open(&out);
    let meta = file.metadata();
    assert_eq!(meta.get("ebm.status").map(String::as_str), Some("complete"));
    assert!(file.i32("steps_taken").iter().all(|&k| k == 3000));
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
    let file = TensorFile::open(&out);
    assert_eq!(
        file.metadata().get("ebm.status").map(String::as_str),
        Some("cancelled")
    );
    let taken = file.i32("steps_taken");
    let done = taken[0];
    assert!(done > 0 && done < steps, "steps taken {done}");
    assert!(
        stderr.contains(&format!(
            "ebm refine: cancelled after {done} of {steps} steps"
        )),
        "{stderr}"
    );
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
    let m = model(0, 4, &[1024], Activation::Tanh, Head::Identity, 9);
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

/// A small job: a conditional model (x_dim 2, y_dim 3) and 6 starts, in `dir`.
fn small_job(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let m = model(2, 3, &[16], Activation::Tanh, Head::Identity, 21);
    let (mp, xp, yp) = (
        dir.join("m.safetensors"),
        dir.join("x.npy"),
        dir.join("y.npy"),
    );
    m.save(&mp).unwrap();
    npy::write_f32(&xp, &[6, 2], &data(12, 1.0, 22)).unwrap();
    npy::write_f32(&yp, &[6, 3], &data(18, 1.0, 23)).unwrap();
    (mp, xp, yp)
}

/// Runs `ebm` with `args`, then the named paths, expecting success.
fn ebm(args: &[&str], paths: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ebm"));
    cmd.env_remove("XDG_RUNTIME_DIR").args(args);
    for (flag, path) in paths {
        cmd.arg(flag).arg(path);
    }
    let output = cmd.output().unwrap();
    assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    output
}

/// The same command writes the same bytes, run after run: safetensors writes the metadata
/// (`ebm.status`, `ebm.steps`) in a hash map's order, which changes from process to
/// process, and ebm sorts the header's keys as it does for the model files of `ebm train`.
#[test]
fn the_same_run_writes_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (m, x, y) = small_job(dir.path());
    let refine = [
        "refine",
        "--steps",
        "20",
        "--step-size",
        "0.01",
        "--temperature",
        "0.01",
        "--seed",
        "7",
        "--quiet",
    ];
    let eval = ["eval", "--quiet"];
    for (args, start) in [(&refine[..], "--y0"), (&eval[..], "--y")] {
        let runs: Vec<Vec<u8>> = (0..3)
            .map(|k| {
                let out = dir.path().join(format!("{}-{k}.safetensors", args[0]));
                let files = [
                    ("--model", m.as_path()),
                    ("--x", &x),
                    (start, &y),
                    ("--out", &out),
                ];
                ebm(args, &files);
                std::fs::read(&out).unwrap()
            })
            .collect();
        assert!(
            runs.windows(2).all(|w| w[0] == w[1]),
            "{}: the files of the same run differ",
            args[0]
        );
        // Sorted, not only the same three times by chance.
        let len = u64::from_le_bytes(runs[0][..8].try_into().unwrap()) as usize;
        let header = std::str::from_utf8(&runs[0][8..8 + len]).unwrap();
        let at = |key: &str| header.find(&format!("\"{key}\""));
        if args[0] == "refine" {
            assert!(at("ebm.status").is_some(), "{header}");
            assert!(at("ebm.status") < at("ebm.steps"), "{header}");
        }
    }
}

/// Steps taken, accepted steps and the step each chain became non-finite at are int32:
/// chain 0, every coordinate fixed, stops before its first step (its gradient over the
/// coordinates that move is 0) and stays finite (-1); the others diverge at step 1.
#[test]
fn counts_and_steps_are_int32_tensors() {
    let dir = tempfile::tempdir().unwrap();
    let (m, x, y) = small_job(dir.path());
    let mask = dir.path().join("fixed.npy");
    let mut fixed = vec![0.0f32; 18];
    fixed[..3].fill(1.0);
    npy::write_f32(&mask, &[6, 3], &fixed).unwrap();
    let out = dir.path().join("out.safetensors");
    let args = [
        "refine",
        "--steps",
        "3",
        "--step-size",
        "1e30",
        "--prior-l2",
        "1",
        "--stop-grad",
        "0",
        "--keep-non-finite",
        "--quiet",
    ];
    let files = [
        ("--model", m.as_path()),
        ("--x", &x),
        ("--y0", &y),
        ("--fixed", &mask),
        ("--out", &out),
    ];
    ebm(&args, &files);
    let file = TensorFile::open(&out);
    assert_eq!(file.i32("non_finite_at"), [-1, 1, 1, 1, 1, 1]);
    let taken = file.i32("steps_taken");
    assert_eq!(taken[0], 0, "{taken:?}");
    assert!(taken[1..].iter().all(|&k| k >= 1), "{taken:?}");
    let accepted = file.i32("accepted");
    assert_eq!(accepted[0], 0, "{accepted:?}");
    // Langevin accepts every step it takes.
    assert_eq!(accepted, taken);
    // The rates and values stay float32.
    assert_eq!(file.f32("acceptance"), [1.0; 6]);
    assert_eq!(file.f32("step_scale").len(), 6);
    assert_eq!(file.f32("energy").len(), 6);
    assert_eq!(file.f32("y").len(), 18);
}

/// `--mala --adapt-steps N`: the summary gives the acceptance during and after the warm-up,
/// and the file each chain's, consistent with its counts.
#[test]
fn mala_reports_the_warmup_and_what_follows_apart() {
    let dir = tempfile::tempdir().unwrap();
    let (m, x, y) = small_job(dir.path());
    let out = dir.path().join("out.safetensors");
    let args = [
        "refine",
        "--steps",
        "40",
        "--step-size",
        "0.05",
        "--temperature",
        "0.1",
        "--prior-l2",
        "1",
        "--mala",
        "--adapt-steps",
        "10",
    ];
    let files = [
        ("--model", m.as_path()),
        ("--x", &x),
        ("--y0", &y),
        ("--out", &out),
    ];
    let text = stderr(&ebm(&args, &files));
    assert!(text.contains("; MALA acceptance "), "{text}");
    assert!(text.contains("in the 10-step warm-up, "), "{text}");
    let file = TensorFile::open(&out);
    let (during, after) = (
        file.f32("acceptance_warmup"),
        file.f32("acceptance_after_warmup"),
    );
    let (accepted, overall) = (file.i32("accepted"), file.f32("acceptance"));
    for c in 0..6 {
        // 10 steps in the warm-up and 30 after, for chains that never stop.
        let total = (during[c] * 10.0 + after[c] * 30.0).round() as i32;
        assert_eq!(total, accepted[c], "chain {c}");
        assert!((overall[c] - accepted[c] as f32 / 40.0).abs() < 1e-6);
    }
}

/// Replica exchange with a growing vertex penalty and decoding, on a model with groups of 3
/// (y_dim 3, x_dim 2): 2 groups of 3 replicas (x shared within a group); the file has the
/// swap acceptance per pair and the round trips per group, the rounded answers and their
/// energies, and the summary says how the swaps went and how many chains decode to 0.
#[test]
fn replica_exchange_and_decoding_write_their_tensors() {
    let dir = tempfile::tempdir().unwrap();
    let (m, _, y) = small_job(dir.path());
    let x = dir.path().join("x_groups.npy");
    let rows = data(4, 1.0, 5);
    let xs: Vec<f32> = (0..6)
        .flat_map(|c| rows[(c / 3) * 2..(c / 3) * 2 + 2].to_vec())
        .collect();
    npy::write_f32(&x, &[6, 2], &xs).unwrap();
    let out = dir.path().join("out.safetensors");
    let args = [
        "refine",
        "--steps",
        "40",
        "--step-size",
        "0.05",
        "--temperature",
        "0.2",
        "--simplex",
        "3",
        "--vertex-penalty",
        "0,2",
        "--decode",
        "--replicas",
        "3",
        "--ladder",
        "1,8",
        "--swap-every",
        "2",
    ];
    let files = [
        ("--model", m.as_path()),
        ("--x", &x),
        ("--y0", &y),
        ("--out", &out),
    ];
    let text = stderr(&ebm(&args, &files));
    assert!(text.contains("; swaps accepted "), "{text}");
    assert!(text.contains(" round trips; "), "{text}");
    assert!(text.contains(" of 6 chains decode to energy 0"), "{text}");
    let file = TensorFile::open(&out);
    let acceptance = file.f32("swap_acceptance");
    assert_eq!(acceptance.len(), 2);
    assert!(
        acceptance.iter().all(|a| (0.0..=1.0).contains(a)),
        "{acceptance:?}"
    );
    assert_eq!(file.i32("round_trips").len(), 2);
    let decoded = file.f32("decoded_y");
    assert_eq!(decoded.len(), 18);
    for cell in decoded.chunks(3) {
        let mut sorted = cell.to_vec();
        sorted.sort_by(f32::total_cmp);
        assert_eq!(sorted, [0.0, 0.0, 1.0], "{cell:?}");
    }
    assert_eq!(file.f32("decoded_energy").len(), 6);
}

/// `--best-of 2`: `best` is int32, the index of the lower-energy chain of each pair, as
/// the same refinement of every chain shows.
#[test]
fn best_of_indices_are_int32() {
    let dir = tempfile::tempdir().unwrap();
    let (m, _, y) = small_job(dir.path());
    let (x3, x6) = (dir.path().join("x3.npy"), dir.path().join("x6.npy"));
    let rows = data(6, 1.0, 24);
    npy::write_f32(&x3, &[3, 2], &rows).unwrap();
    let repeated: Vec<f32> = rows.chunks(2).flat_map(|r| [r, r].concat()).collect();
    npy::write_f32(&x6, &[6, 2], &repeated).unwrap();
    let (all, best) = (
        dir.path().join("all.safetensors"),
        dir.path().join("best.safetensors"),
    );
    let args = ["refine", "--steps", "20", "--step-size", "0.05", "--quiet"];
    ebm(
        &args,
        &[("--model", &m), ("--x", &x6), ("--y0", &y), ("--out", &all)],
    );
    let mut best_args = args.to_vec();
    best_args.extend(["--best-of", "2"]);
    ebm(
        &best_args,
        &[
            ("--model", &m),
            ("--x", &x3),
            ("--y0", &y),
            ("--out", &best),
        ],
    );
    let energy = TensorFile::open(&all).f32("energy");
    let file = TensorFile::open(&best);
    let index = file.i32("best");
    let expected: Vec<i32> = energy
        .chunks(2)
        .map(|pair| i32::from(pair[1] < pair[0]))
        .collect();
    assert_eq!(index, expected, "energies {energy:?}");
    let kept: Vec<f32> = energy.chunks(2).map(|p| p[0].min(p[1])).collect();
    assert_eq!(file.f32("energy"), kept);
    assert_eq!(file.f32("spread").len(), 3);
}

/// The numbers after `key ` in `line`, up to the next comma, semicolon or arrow.
fn numbers_after(line: &str, key: &str) -> Vec<f64> {
    let rest = &line[line
        .find(key)
        .unwrap_or_else(|| panic!("{key:?} in {line}"))
        + key.len()..];
    let rest = rest.split([',', ';']).next().unwrap();
    rest.split("->")
        .map(|v| {
            v.trim()
                .parse()
                .unwrap_or_else(|_| panic!("{v:?} in {line}"))
        })
        .collect()
}

fn close(summary: f64, exact: f64) -> bool {
    (summary - exact).abs() <= 0.01 * exact.abs().max(1e-6)
}

/// Without --quiet, eval and refine each print one line: chains, path, time and energies
/// (refine: at y0, the prior included, and at the end); with --quiet, nothing.
#[test]
fn success_prints_a_summary_unless_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let (m, x, y) = small_job(dir.path());
    let (evaluated, refined) = (
        dir.path().join("e.safetensors"),
        dir.path().join("r.safetensors"),
    );
    let eval = ["eval"];
    let eval_files = [
        ("--model", m.as_path()),
        ("--x", &x),
        ("--y", &y),
        ("--out", &evaluated),
    ];
    let line = stderr(&ebm(&eval, &eval_files));
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(line.starts_with("ebm eval: 6 chains on "), "{line}");
    let at_y0 = TensorFile::open(&evaluated).f32("energy");
    let mean = at_y0.iter().map(|&e| f64::from(e)).sum::<f64>() / 6.0;
    let min = at_y0.iter().copied().fold(f32::INFINITY, f32::min);
    let max = at_y0.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for (key, exact) in [("mean", mean), ("min", min.into()), ("max", max.into())] {
        let got = numbers_after(&line, &format!("{key} "));
        assert!(
            got.len() == 1 && close(got[0], exact),
            "{key} {exact}: {line}"
        );
    }

    let refine = [
        "refine",
        "--steps",
        "30",
        "--step-size",
        "0.05",
        "--prior-l2",
        "0.5",
    ];
    let refine_files = [
        ("--model", m.as_path()),
        ("--x", &x),
        ("--y0", &y),
        ("--out", &refined),
    ];
    let line = stderr(&ebm(&refine, &refine_files));
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(
        line.starts_with("ebm refine: 6 chains x 30 steps on "),
        "{line}"
    );
    assert!(line.contains(" s; energy mean "), "{line}");
    let prior: Vec<f64> = data(18, 1.0, 23)
        .chunks(3)
        .zip(&at_y0)
        .map(|(y, &e)| f64::from(e) + 0.25 * y.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>())
        .collect();
    let after = TensorFile::open(&refined).f32("energy");
    let mean_before = prior.iter().sum::<f64>() / 6.0;
    let mean_after = after.iter().map(|&e| f64::from(e)).sum::<f64>() / 6.0;
    let min_before = prior.iter().copied().fold(f64::INFINITY, f64::min);
    let min_after = after.iter().copied().fold(f32::INFINITY, f32::min);
    let means = numbers_after(&line, "mean ");
    let mins = numbers_after(&line, "min ");
    assert!(
        close(means[0], mean_before) && close(means[1], mean_after),
        "{line}"
    );
    assert!(
        close(mins[0], min_before) && close(mins[1], min_after.into()),
        "{line}"
    );
    assert!(
        means[1] < means[0],
        "the refinement lowered no energy: {line}"
    );

    for (args, files) in [(&eval[..], &eval_files), (&refine[..], &refine_files)] {
        let out = files[3].1;
        std::fs::remove_file(out).unwrap();
        let mut quiet = args.to_vec();
        quiet.push("--quiet");
        assert_eq!(stderr(&ebm(&quiet, files)), "", "{args:?} --quiet");
        assert!(out.exists(), "{args:?} --quiet wrote nothing");
    }
}

/// The trace's numbers are short and exact: an energy that decays to 1e-24 is written as
/// `1.2e-24`, not a 30-digit decimal. The model's last layer is zero, so the energy is the
/// prior (1/2)|y|^2 alone, which each step of size 0.5 quarters.
#[test]
fn trace_numbers_use_scientific_notation_when_tiny() {
    let dir = tempfile::tempdir().unwrap();
    let (_, x, y) = small_job(dir.path());
    let mut flat = model(2, 3, &[16], Activation::Tanh, Head::Identity, 21);
    common::zero_last_layer(&mut flat);
    let m = dir.path().join("flat.safetensors");
    flat.save(&m).unwrap();
    let (out, trace) = (dir.path().join("out.safetensors"), dir.path().join("t.csv"));
    let args = [
        "refine",
        "--steps",
        "40",
        "--step-size",
        "0.5",
        "--prior-l2",
        "1",
        "--quiet",
    ];
    ebm(
        &args,
        &[
            ("--model", &m),
            ("--x", &x),
            ("--y0", &y),
            ("--out", &out),
            ("--trace", &trace),
        ],
    );
    let text = std::fs::read_to_string(&trace).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("step,min_energy,mean_energy,max_energy,mean_grad_norm")
    );
    let mut tiny = 0;
    for line in lines {
        for field in line.split(',').skip(1) {
            let v: f64 = field
                .parse()
                .unwrap_or_else(|_| panic!("{field:?} in {line}"));
            assert!(field.len() <= 24, "{field:?} is not short: {line}");
            if v != 0.0 && v.abs() < 1e-4 {
                assert!(field.contains('e'), "{field:?} in {line}");
                tiny += 1;
            }
        }
    }
    assert!(tiny > 0, "no value came below 1e-4:\n{text}");
}
