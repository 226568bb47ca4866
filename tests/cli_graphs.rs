//! Every command runs an energy graph from its file, as a user would: `ebm info --model`
//! prints the graph and the paths that run it; `eval` and `refine` (on every path) match
//! the float64 reference; `train --init` trains the graph's every parameter and writes a
//! file of the same graph that `eval` reads; `bench --model` times it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{assert_close, data, paths};
use ebm::energy::samples;
use ebm::{reference, Model, RefineConfig};
use safetensors::SafeTensors;

/// The command line's .npy reader and writer (only the writer is used here).
#[path = "../src/bin/ebm/npy.rs"]
#[allow(dead_code)]
mod npy;

const CHAINS: usize = 12;
const X_DIM: usize = 3;
const Y_DIM: usize = 4;

/// A folder holding a FiLM graph (norms, products, a residual, x-only branches) and
/// inputs for it.
struct Job {
    dir: tempfile::TempDir,
    model: Model,
}

impl Job {
    fn new() -> Job {
        let job = Job {
            dir: tempfile::tempdir().unwrap(),
            model: samples::film(X_DIM, Y_DIM, 16, 7),
        };
        job.model.save(job.path("m.safetensors")).unwrap();
        npy::write_f32(&job.path("x.npy"), &[CHAINS, X_DIM], &job.x()).unwrap();
        npy::write_f32(&job.path("y.npy"), &[CHAINS, Y_DIM], &job.y()).unwrap();
        job
    }

    fn x(&self) -> Vec<f32> {
        data(CHAINS * X_DIM, 1.0, 21)
    }

    fn y(&self) -> Vec<f32> {
        data(CHAINS * Y_DIM, 1.0, 22)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `ebm` with `args` in this folder; asserts success and returns stdout and stderr.
    fn ebm(&self, args: &[&str]) -> (String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_ebm"))
            .current_dir(self.dir.path())
            .args(args)
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "ebm {args:?}:\n{stdout}\n{stderr}");
        (stdout, stderr)
    }
}

impl Job {
    /// `ebm eval` of model file `model` on this folder's x and y: (energy, dE/dy).
    fn eval(&self, model: &str) -> (Vec<f32>, Vec<f32>) {
        self.ebm(&[
            "eval", "--model", model, "--x", "x.npy", "--y", "y.npy", "--out", "e.st",
        ]);
        let out = self.path("e.st");
        (tensor(&out, "energy"), tensor(&out, "grad"))
    }
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The float32 tensor `name` of a safetensors file.
fn tensor(path: &Path, name: &str) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let view = file
        .tensor(name)
        .unwrap_or_else(|e| panic!("{}: {name}: {e}", path.display()));
    bytemuck::pod_collect_to_vec(view.data())
}

#[test]
fn info_prints_the_graph_and_the_paths_that_run_it() {
    let job = Job::new();
    let (stdout, _) = job.ebm(&["info", "--model", "m.safetensors"]);
    // Its ops, its parameters and the paths of this adapter.
    for needle in [
        "rms_norm",
        "linear",
        "mul",
        "parameters",
        "chain",
        "layered",
        "tile",
    ] {
        assert!(stdout.contains(needle), "no {needle:?} in:\n{stdout}");
    }
    for p in &job.model.params {
        assert!(stdout.contains(&p.name), "no {:?} in:\n{stdout}", p.name);
    }
}

#[test]
fn eval_and_refine_on_every_path_match_the_reference() {
    let job = Job::new();
    let (x, y) = (job.x(), job.y());

    let (got_energy, got_grad) = job.eval("m.safetensors");
    let (energy, grad) = reference::eval(&job.model, &x, &y);
    assert_close("eval: energy", &got_energy, &energy);
    assert_close("eval: grad", &got_grad, &grad);

    let cfg = RefineConfig {
        steps: 6,
        step_size: 0.05,
        temperature: 0.01,
        seed: 5,
        ..Default::default()
    };
    let (y_ref, e_ref) = reference::refine(&job.model, &x, &y, &cfg);
    let runs = paths(&job.model);
    assert!(runs.len() >= 3, "{runs:?}");
    for path in runs {
        let out = format!("r-{path}.st");
        job.ebm(&[
            "refine",
            "--model",
            "m.safetensors",
            "--x",
            "x.npy",
            "--y0",
            "y.npy",
            "--steps",
            "6",
            "--step-size",
            "0.05",
            "--temperature",
            "0.01",
            "--seed",
            "5",
            "--kernel",
            &path.to_string(),
            "--out",
            &out,
        ]);
        let file = job.path(&out);
        assert_close(&format!("refine on {path}: y"), &tensor(&file, "y"), &y_ref);
        assert_close(
            &format!("refine on {path}: energy"),
            &tensor(&file, "energy"),
            &e_ref,
        );
    }
}

#[test]
fn train_from_a_graph_writes_the_same_graph_with_every_parameter_trained() {
    let job = Job::new();
    job.ebm(&[
        "train",
        "--init",
        "m.safetensors",
        "--data",
        "y.npy",
        "--x",
        "x.npy",
        "--steps",
        "4",
        "--batch",
        "8",
        "--buffer",
        "16",
        "--negative-steps",
        "3",
        "--negative-step-size",
        "0.05",
        "--lr",
        "0.01",
        "--out",
        "trained.safetensors",
    ]);
    let trained = Model::load(job.path("trained.safetensors")).unwrap();
    assert_eq!(trained.nodes, job.model.nodes, "the same graph");
    assert_eq!(trained.energy, job.model.energy, "the same heads");
    for (a, b) in trained.params.iter().zip(&job.model.params) {
        assert_eq!((&a.name, &a.shape), (&b.name, &b.shape));
        assert!(a.data.iter().all(|v| v.is_finite()), "{}", a.name);
        // Adam moves every parameter with a gradient: the norms' gains and biases, the
        // FiLM and gate weights among them.
        assert!(a.data != b.data, "{} was not trained", a.name);
    }
    // The file is one every command reads.
    let (got, _) = job.eval("trained.safetensors");
    let (energy, _) = reference::eval(&trained, &job.x(), &job.y());
    assert_close("eval of the trained graph", &got, &energy);
}

#[test]
fn bench_times_a_graph_from_its_file() {
    let job = Job::new();
    let (stdout, _) = job.ebm(&[
        "bench",
        "--model",
        "m.safetensors",
        "--batch",
        "64",
        "--steps",
        "5",
        "--runs",
        "1",
        "--json",
    ]);
    for needle in [r#""workload": "model""#, r#""batch": 64"#, r#""steps": 5"#] {
        assert!(stdout.contains(needle), "no {needle} in:\n{stdout}");
    }
    let seconds = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix(r#""seconds": "#))
        .and_then(|v| v.trim_end_matches(',').parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no seconds in:\n{stdout}"));
    assert!(seconds > 0.0 && seconds.is_finite(), "{stdout}");
}

/// An energy E(x, y, t) from its file: `eval --landscape` and `refine --stages` whose stages
/// set t and the clamp range, one taking every step (with keep-if-lower rejecting without
/// shrinking in the others, as IRED's inference does), match the reference.
#[test]
fn an_energy_of_t_runs_at_the_landscapes_its_flags_set() {
    let job = Job::new();
    let model = samples::film_by_t(X_DIM, Y_DIM, 8, 3);
    model.save(job.path("t.safetensors")).unwrap();
    let (x, y) = (job.x(), job.y());
    job.ebm(&[
        "eval",
        "--model",
        "t.safetensors",
        "--x",
        "x.npy",
        "--y",
        "y.npy",
        "--landscape",
        "-1.5",
        "--out",
        "e.st",
    ]);
    let (energy, _) = reference::eval_at(&model, &x, &y, -1.5);
    assert_close(
        "eval --landscape",
        &tensor(&job.path("e.st"), "energy"),
        &energy,
    );

    let stages = "1:0.3:0:2:-0.9:0.9:take,1:0.05:0:2:-0.9:0.9,3:0.02:0:1,1:0.01:0:-";
    let cfg = RefineConfig {
        steps: 6,
        landscape: 0.5,
        sampler: ebm::Sampler::KeepIfLower {
            shrink: 1.0,
            rise_tolerance: 0.0,
        },
        schedule: ebm::refine::Schedule {
            stages: ebm::refine::parse_stages(stages).unwrap(),
            ..Default::default()
        },
        ..Default::default()
    };
    let want = reference::refine_full(&model, &x, &y, None, &cfg);
    job.ebm(&[
        "refine",
        "--model",
        "t.safetensors",
        "--x",
        "x.npy",
        "--y0",
        "y.npy",
        "--steps",
        "6",
        "--stages",
        stages,
        "--landscape",
        "0.5",
        "--keep-if-lower",
        "--shrink",
        "1",
        "--out",
        "r.st",
    ]);
    let file = job.path("r.st");
    assert_close("refine --stages: y", &tensor(&file, "y"), &want.y);
    assert_close(
        "refine --stages: energy",
        &tensor(&file, "energy"),
        &want.energy,
    );
}
