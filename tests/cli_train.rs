//! `ebm train` as a user runs it: a model file every other command reads, a log with a
//! row per step, the same output for the same command, a resumed run that ends where the
//! uninterrupted one does, a diverging run that writes no model, Ctrl-C that writes the
//! model and a checkpoint, and every bad input refused with exit 2 and a message naming
//! its file or flag. Tiny models and tens of steps: lavapipe is slow.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{data, model};
use ebm::train::Checkpoint;
use ebm::{Activation, Model, Output as OutputFn};
use safetensors::SafeTensors;

/// The command line's .npy reader and writer (only the writer is used here).
#[path = "../src/bin/ebm/npy.rs"]
#[allow(dead_code)]
mod npy;

const ROWS: usize = 40;

/// A folder with data for a conditional model (x [40, 3], y [40, 2]).
struct Job {
    dir: tempfile::TempDir,
}

impl Job {
    fn new() -> Job {
        let job = Job {
            dir: tempfile::tempdir().unwrap(),
        };
        npy::write_f32(&job.path("x.npy"), &[ROWS, 3], &data(ROWS * 3, 1.0, 11)).unwrap();
        npy::write_f32(&job.path("y.npy"), &[ROWS, 2], &data(ROWS * 2, 1.5, 12)).unwrap();
        job
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `ebm train` on this folder's data with `args` (paths in `args` are file names in
    /// the folder where they name one of its files).
    fn train(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ebm"));
        cmd.current_dir(self.dir.path()).arg("train").args(args);
        cmd.output().unwrap()
    }
}

/// A small contrastive-divergence run of a fresh --hidden 8 model: the flags every test
/// starts from (data, model, batch, negatives, learning rate).
const BASE: &[&str] = &[
    "--data",
    "y.npy",
    "--x",
    "x.npy",
    "--batch",
    "16",
    "--buffer",
    "32",
    "--negative-steps",
    "3",
    "--negative-step-size",
    "0.05",
    "--lr",
    "0.01",
    "--log-every",
    "3",
];
const FRESH: &[&str] = &["--hidden", "8", "--activation", "silu"];

fn args<'a>(parts: &[&[&'a str]]) -> Vec<&'a str> {
    parts.iter().flat_map(|p| p.iter().copied()).collect()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).to_string()
}

fn assert_ok(output: &Output) -> String {
    let text = stderr(output);
    assert!(output.status.success(), "{text}");
    text
}

/// A tensor's name, shape and raw bytes.
type RawTensor = (String, Vec<usize>, Vec<u8>);

/// A safetensors file: its tensors (by name) and its metadata, in no particular order.
fn contents(path: &Path) -> (Vec<RawTensor>, HashMap<String, String>) {
    let bytes = std::fs::read(path).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<_> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, view.shape().to_vec(), view.data().to_vec()))
        .collect();
    tensors.sort();
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    (tensors, meta.metadata().clone().unwrap_or_default())
}

/// Two model files are byte-identical (the same tensors and metadata, the header's keys in
/// sorted order); the tensors are compared apart first, for a readable failure.
fn assert_same_file(a: &Path, b: &Path) {
    assert_eq!(
        contents(a),
        contents(b),
        "{} and {}",
        a.display(),
        b.display()
    );
    assert!(
        std::fs::read(a).unwrap() == std::fs::read(b).unwrap(),
        "{} and {} differ byte for byte",
        a.display(),
        b.display()
    );
}

/// Every parameter of a model file (each layer's weight, then its bias).
fn weights(path: &Path) -> Vec<f32> {
    Model::load(path).unwrap().flat_params()
}

#[test]
fn a_run_writes_a_model_that_eval_reads_and_prints_one_line() {
    let job = Job::new();
    let output = job.train(&args(&[
        BASE,
        FRESH,
        &["--steps", "12", "--out", "m.safetensors"],
    ]));
    let text = assert_ok(&output);
    // Off a terminal: the summary only, no progress bar.
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with("ebm train: 12 steps in "), "{text}");
    assert!(
        text.contains(" ms per step), negatives on ")
            && text.contains(", adapter ")
            && text.contains("; loss "),
        "{text}"
    );
    let trained = Model::load(job.path("m.safetensors")).unwrap();
    assert_eq!((trained.x_dim, trained.y_dim), (3, 2));
    let mlp = trained.as_mlp().expect("an MLP");
    assert_eq!(mlp.activation, Activation::Silu);
    assert_eq!(mlp.layers.len(), 2);
    assert_eq!((mlp.layers[0].n_in, mlp.layers[0].n_out), (5, 8));
    // Training moved the weights away from --hidden's start (Model::random at --seed 0).
    let start = Model::random(
        &ebm::ModelSpec {
            x_dim: 3,
            y_dim: 2,
            hidden: vec![8],
            outputs: 1,
            activation: Activation::Silu,
            output: OutputFn::Identity,
        },
        0,
    )
    .unwrap();
    let start = start.as_mlp().unwrap();
    assert_eq!(mlp.layers[0].weight.len(), start.layers[0].weight.len());
    assert_ne!(mlp.layers[0].weight, start.layers[0].weight);
    assert!(!job.path("m.safetensors.ckpt.safetensors").exists());

    let eval = Command::new(env!("CARGO_BIN_EXE_ebm"))
        .current_dir(job.dir.path())
        .args([
            "eval",
            "--model",
            "m.safetensors",
            "--x",
            "x.npy",
            "--y",
            "y.npy",
        ])
        .args(["--out", "e.safetensors", "--quiet"])
        .output()
        .unwrap();
    assert_ok(&eval);
    let (tensors, _) = contents(&job.path("e.safetensors"));
    assert!(tensors
        .iter()
        .any(|(n, s, _)| n == "energy" && s == &[ROWS]));

    // --init: from a model file; --quiet: nothing on stderr; NCE and SGD run too.
    let init = model(3, 2, &[6], Activation::Tanh, OutputFn::Softplus, 4);
    init.save(job.path("init.safetensors")).unwrap();
    let output = job.train(&[
        "--data",
        "y.npy",
        "--x",
        "x.npy",
        "--init",
        "init.safetensors",
        "--objective",
        "nce",
        "--optimizer",
        "sgd",
        "--batch",
        "8",
        "--lr",
        "0.05",
        "--steps",
        "5",
        "--out",
        "n.safetensors",
        "--quiet",
    ]);
    assert_eq!(assert_ok(&output), "", "--quiet printed something");
    let trained = Model::load(job.path("n.safetensors")).unwrap();
    assert_eq!(trained.as_mlp().expect("an MLP").output, OutputFn::Softplus);
    assert_eq!(trained.widths(), init.widths());
    assert_ne!(trained.params, init.params, "nce training moved nothing");
}

#[test]
fn the_log_has_its_header_and_one_row_per_step() {
    let job = Job::new();
    // 11 steps, statistics read back every 3: rows come in batches and at the end.
    assert_ok(&job.train(&args(&[
        BASE,
        FRESH,
        &[
            "--steps",
            "11",
            "--out",
            "m.safetensors",
            "--log",
            "log.csv",
        ],
    ])));
    let log = std::fs::read_to_string(job.path("log.csv")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(
        lines[0],
        "step,loss,energy_pos,energy_neg,grad_norm,weight_norm,clip_scale"
    );
    assert_eq!(lines.len(), 12, "{log}");
    for (step, line) in lines[1..].iter().enumerate() {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields.len(), 7, "{line}");
        assert_eq!(fields[0], step.to_string(), "{log}");
        for v in &fields[1..] {
            let v: f32 = v.parse().unwrap_or_else(|_| panic!("{v:?} in {line}"));
            assert!(v.is_finite(), "{line}");
        }
        let clip_scale: f32 = fields[6].parse().unwrap();
        assert!(clip_scale > 0.0 && clip_scale <= 1.0, "{line}");
    }
}

#[test]
fn the_same_command_twice_gives_the_same_model_and_log() {
    let job = Job::new();
    for (out, log, seed) in [
        ("a", "a.csv", "3"),
        ("b", "b.csv", "3"),
        ("c", "c.csv", "4"),
    ] {
        assert_ok(&job.train(&args(&[
            BASE,
            FRESH,
            &["--steps", "10", "--seed", seed, "--out", out, "--log", log],
        ])));
    }
    assert_same_file(&job.path("a"), &job.path("b"));
    assert_eq!(
        std::fs::read(job.path("a.csv")).unwrap(),
        std::fs::read(job.path("b.csv")).unwrap(),
        "two runs of one command logged different statistics"
    );
    assert_ne!(
        weights(&job.path("a")),
        weights(&job.path("c")),
        "another --seed gave the same weights"
    );
}

#[test]
fn a_resumed_run_ends_with_the_uninterrupted_runs_model() {
    let job = Job::new();
    let run = |extra: &[&str]| job.train(&args(&[BASE, extra]));
    assert_ok(&run(&args(&[
        FRESH,
        &["--steps", "8", "--out", "whole", "--log", "whole.csv"],
    ])));
    // Stopped at 4 with a checkpoint every 2 steps: the last is step 4's.
    assert_ok(&run(&args(&[
        FRESH,
        &["--steps", "4", "--checkpoint-every", "2", "--out", "part"],
    ])));
    let ckpt = job.path("part.ckpt.safetensors");
    let checkpoint = Checkpoint::load(&ckpt).unwrap();
    assert_eq!(checkpoint.step, 4);
    assert_eq!(
        checkpoint.model.params,
        Model::load(job.path("part")).unwrap().params
    );
    // --steps is the count to reach: 4 more, with the same flags but the model's.
    let output = run(&[
        "--resume",
        "part.ckpt.safetensors",
        "--steps",
        "8",
        "--checkpoint-every",
        "2",
        "--out",
        "resumed",
        "--log",
        "resumed.csv",
    ]);
    let text = assert_ok(&output);
    assert!(
        text.starts_with("ebm train: steps 4 -> 8 (4 run) in "),
        "{text}"
    );
    assert_same_file(&job.path("whole"), &job.path("resumed"));
    // The resumed run's log holds its own steps, the uninterrupted run's rows for them.
    let whole = std::fs::read_to_string(job.path("whole.csv")).unwrap();
    let resumed = std::fs::read_to_string(job.path("resumed.csv")).unwrap();
    let whole: Vec<&str> = whole.lines().collect();
    let resumed: Vec<&str> = resumed.lines().collect();
    assert_eq!(resumed[0], whole[0]);
    assert_eq!(resumed[1..], whole[5..], "resumed rows differ");
    // Its own checkpoint is at step 8 now (it resumed from another file).
    assert_eq!(
        Checkpoint::load(job.path("resumed.ckpt.safetensors"))
            .unwrap()
            .step,
        8
    );
    assert_eq!(
        Checkpoint::load(&ckpt).unwrap().step,
        4,
        "the input changed"
    );

    // A run's own checkpoint may be the one it resumes from: it goes on from it, and
    // replaces it with later ones.
    assert_ok(&run(&[
        "--resume",
        "part.ckpt.safetensors",
        "--steps",
        "8",
        "--checkpoint-every",
        "2",
        "--out",
        "part",
        "--quiet",
    ]));
    assert_same_file(&job.path("whole"), &job.path("part"));
    assert_eq!(Checkpoint::load(&ckpt).unwrap().step, 8);
}

#[test]
fn a_diverging_run_exits_1_and_writes_no_model() {
    let job = Job::new();
    let diverge = [
        "--optimizer",
        "sgd",
        "--lr",
        "1e30",
        "--clip-grad-norm",
        "0",
        "--steps",
        "20",
    ];
    let output = job.train(&args(&[
        &BASE[..BASE.len() - 4],
        FRESH,
        &diverge,
        &["--out", "m.safetensors", "--log", "log.csv"],
    ]));
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("error: training diverged at step"), "{text}");
    assert!(
        text.contains("--clip-grad-norm"),
        "library names left: {text}"
    );
    assert!(text.contains("m.safetensors was not written"), "{text}");
    assert!(!text.contains("panicked"), "{text}");
    assert!(
        !job.path("m.safetensors").exists(),
        "a diverged run wrote its model"
    );
    assert!(job.path("log.csv").exists());

    // With a checkpoint every step, the last good one remains, and says so.
    let output = job.train(&args(&[
        &BASE[..BASE.len() - 4],
        FRESH,
        &diverge,
        &[
            "--out",
            "m.safetensors",
            "--checkpoint-every",
            "1",
            "--log-every",
            "1",
        ],
    ]));
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        !job.path("m.safetensors").exists(),
        "a diverged run wrote its model"
    );
    let ckpt = job.path("m.safetensors.ckpt.safetensors");
    if ckpt.exists() {
        let checkpoint = Checkpoint::load(&ckpt).expect("a good checkpoint");
        assert!(
            text.contains(&format!(
                "the last checkpoint, m.safetensors.ckpt.safetensors (step {}), remains",
                checkpoint.step
            )),
            "{text}"
        );
    } else {
        assert!(text.contains("no checkpoint was written"), "{text}");
    }
}

#[test]
fn ctrl_c_writes_the_model_and_a_checkpoint_and_exits_130() {
    let job = Job::new();
    let child = Command::new(env!("CARGO_BIN_EXE_ebm"))
        .current_dir(job.dir.path())
        .arg("train")
        .args(args(&[
            BASE,
            FRESH,
            &[
                "--steps",
                "100000000",
                "--checkpoint-every",
                "100000",
                "--out",
                "m.safetensors",
                "--log",
                "log.csv",
            ],
        ]))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Past the start-up and some steps in.
    std::thread::sleep(Duration::from_secs(4));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(130), "{text}");
    assert!(text.contains("stopping after the current step"), "{text}");
    let checkpoint = Checkpoint::load(job.path("m.safetensors.ckpt.safetensors")).unwrap();
    let step = checkpoint.step;
    assert!(step > 0 && step < 100_000, "checkpoint at step {step}");
    assert!(
        text.contains(&format!(
            "interrupted at step {step} of 100000000: m.safetensors written with the weights of step {step}"
        )),
        "{text}"
    );
    assert_eq!(
        Model::load(job.path("m.safetensors")).unwrap().params,
        checkpoint.model.params
    );
    let log = std::fs::read_to_string(job.path("log.csv")).unwrap();
    assert_eq!(
        log.lines().count() as u64,
        step + 1,
        "one row per step taken"
    );
}

/// Runs `ebm train` and returns its stderr, asserting it failed cleanly: exit 2, no
/// panic, and none of the outputs (`m.safetensors`, its checkpoint, `log.csv`) written.
fn fails(job: &Job, args: &[&str]) -> String {
    let output = job.train(args);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {text}");
    assert!(!text.contains("panicked"), "{text}");
    for name in ["m.safetensors", "m.safetensors.ckpt.safetensors", "log.csv"] {
        assert!(!job.path(name).exists(), "{args:?} left {name}");
    }
    text
}

fn assert_has(text: &str, needles: &[&str]) {
    for n in needles {
        assert!(text.contains(n), "expected {n:?} in: {text}");
    }
}

/// Writes a float64 array (a dtype the command line refuses).
fn write_f64(path: &Path, shape: &[u64], values: &[f64]) {
    use npyz::WriterBuilder;
    let file = std::fs::File::create(path).unwrap();
    let mut writer = npyz::WriteOptions::new()
        .default_dtype()
        .shape(shape)
        .writer(std::io::BufWriter::new(file))
        .begin_nd()
        .unwrap();
    writer.extend(values.iter().copied()).unwrap();
    writer.finish().unwrap();
}

#[test]
fn bad_data_files_exit_2_naming_the_flag_and_file() {
    let job = Job::new();
    let train = |data: &str, x: Option<&str>, model: &[&str]| {
        let mut a = vec![
            "--data", data, "--batch", "4", "--buffer", "8", "--lr", "0.01",
        ];
        a.extend(["--steps", "2", "--out", "m.safetensors", "--log", "log.csv"]);
        if let Some(x) = x {
            a.extend(["--x", x]);
        }
        a.extend(model);
        fails(&job, &a)
    };
    let fresh = FRESH;
    write_f64(
        &job.path("f64.npy"),
        &[ROWS as u64, 2],
        &vec![0.5; ROWS * 2],
    );
    assert_has(
        &train("f64.npy", Some("x.npy"), fresh),
        &["error: --data f64.npy: has dtype '<f8'; expected float32"],
    );
    npy::write_f32(&job.path("flat.npy"), &[ROWS * 2], &data(ROWS * 2, 1.0, 1)).unwrap();
    assert_has(
        &train("flat.npy", None, fresh),
        &["error: --data flat.npy: has shape [80]; expected a 2-D array"],
    );
    let mut nan = data(ROWS * 2, 1.0, 1);
    nan[7] = f32::NAN;
    npy::write_f32(&job.path("nan.npy"), &[ROWS, 2], &nan).unwrap();
    assert_has(
        &train("nan.npy", Some("x.npy"), fresh),
        &["error: --data nan.npy: the array holds a non-finite value (NaN) at flat index 7"],
    );
    npy::write_f32(&job.path("empty.npy"), &[0, 2], &[]).unwrap();
    assert_has(
        &train("empty.npy", None, fresh),
        &["error: --data empty.npy: has no rows"],
    );
    assert_has(
        &train("missing.npy", None, fresh),
        &["error: --data missing.npy: cannot be read"],
    );
    let mut x_nan = data(ROWS * 3, 1.0, 1);
    x_nan[0] = f32::INFINITY;
    npy::write_f32(&job.path("x_inf.npy"), &[ROWS, 3], &x_nan).unwrap();
    assert_has(
        &train("y.npy", Some("x_inf.npy"), fresh),
        &["error: --x x_inf.npy: the array holds a non-finite value (inf) at flat index 0"],
    );
    npy::write_f32(
        &job.path("x_short.npy"),
        &[ROWS - 1, 3],
        &data((ROWS - 1) * 3, 1.0, 1),
    )
    .unwrap();
    assert_has(
        &train("y.npy", Some("x_short.npy"), fresh),
        &["error: --x x_short.npy: has 39 rows but --data y.npy has 40"],
    );

    // Against a model file: its y_dim and x_dim.
    model(3, 2, &[4], Activation::Silu, OutputFn::Identity, 1)
        .save(job.path("cond.safetensors"))
        .unwrap();
    model(0, 3, &[4], Activation::Silu, OutputFn::Identity, 1)
        .save(job.path("uncond.safetensors"))
        .unwrap();
    let cond = ["--init", "cond.safetensors"];
    let uncond = ["--init", "uncond.safetensors"];
    assert_has(
        &train("y.npy", Some("x.npy"), &uncond),
        &["error: --data y.npy: has 2 columns; the model --init uncond.safetensors has y_dim 3"],
    );
    npy::write_f32(&job.path("y3.npy"), &[ROWS, 3], &data(ROWS * 3, 1.0, 1)).unwrap();
    assert_has(
        &train("y3.npy", Some("x.npy"), &uncond),
        &["error: --x x.npy: the model --init uncond.safetensors is unconditional (x_dim 0): leave out --x"],
    );
    assert_has(
        &train("y.npy", None, &cond),
        &["error: invalid option --x: is required: the model --init cond.safetensors has x_dim 3"],
    );
    npy::write_f32(&job.path("x2.npy"), &[ROWS, 2], &data(ROWS * 2, 1.0, 1)).unwrap();
    assert_has(
        &train("y.npy", Some("x2.npy"), &cond),
        &["error: --x x2.npy: has 2 columns; the model --init cond.safetensors has x_dim 3"],
    );
    std::fs::write(job.path("junk.safetensors"), b"not a model").unwrap();
    assert_has(
        &train("y.npy", Some("x.npy"), &["--init", "junk.safetensors"]),
        &["junk.safetensors"],
    );

    // Nothing given is overwritten: --out, --log and the checkpoint are never an input.
    let base = [
        "--batch", "4", "--buffer", "8", "--lr", "0.01", "--steps", "2",
    ];
    let fresh_xy = [
        "--data",
        "y.npy",
        "--x",
        "x.npy",
        "--hidden",
        "4",
        "--activation",
        "silu",
    ];
    for (extra, needle) in [
        (
            vec!["--out", "y.npy"],
            "error: invalid option --out: y.npy is also an input",
        ),
        (
            vec!["--out", "x.npy"],
            "error: invalid option --out: x.npy is also an input",
        ),
        (
            vec!["--out", "m.safetensors", "--log", "./y.npy"],
            "error: invalid option --log: ./y.npy is also an input",
        ),
        (
            vec!["--out", "m.safetensors", "--log", "m.safetensors"],
            "error: invalid option --log: m.safetensors is written by --out or as the checkpoint",
        ),
    ] {
        let a: Vec<&str> = args(&[&base, &fresh_xy, &extra]);
        assert_has(&fails(&job, &a), &[needle]);
    }
    let a = args(&[
        &base,
        &[
            "--data",
            "y.npy",
            "--x",
            "x.npy",
            "--init",
            "cond.safetensors",
        ],
        &["--out", "cond.safetensors"],
    ]);
    assert_has(
        &fails(&job, &a),
        &["error: invalid option --out: cond.safetensors is also an input"],
    );
    // The checkpoint path of --out y would be y.ckpt.safetensors: make that an input.
    model(3, 2, &[4], Activation::Silu, OutputFn::Identity, 1)
        .save(job.path("y.ckpt.safetensors"))
        .unwrap();
    let a = args(&[
        &base,
        &[
            "--data",
            "y.npy",
            "--x",
            "x.npy",
            "--init",
            "y.ckpt.safetensors",
        ],
        &["--out", "y", "--checkpoint-every", "1"],
    ]);
    assert_has(
        &fails(&job, &a),
        &["error: invalid option --checkpoint-every: would write its checkpoints to y.ckpt.safetensors, one of the inputs"],
    );
    assert!(!job.path("y").exists());
    // The inputs are still there, unchanged.
    assert_eq!(
        npy::read_batch(&job.path("y.npy"), 2).unwrap().1,
        data(ROWS * 2, 1.5, 12)
    );
}

#[test]
fn bad_flags_exit_2_naming_the_flag() {
    let job = Job::new();
    let run = |extra: &[&str]| {
        let mut a = args(&[
            &["--data", "y.npy", "--x", "x.npy", "--steps", "2"],
            extra,
            &["--out", "m.safetensors", "--log", "log.csv"],
        ]);
        for (flag, value) in [("--batch", "16"), ("--lr", "0.01")] {
            if !extra.contains(&flag) {
                a.extend([flag, value]);
            }
        }
        fails(&job, &a)
    };
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            args(&[FRESH, &["--buffer", "8"]]),
            "error: invalid option --buffer: 8 slots cannot give a batch of 16 distinct negatives",
        ),
        (
            args(&[FRESH, &["--lr", "0"]]),
            "error: invalid option --lr: 0 must be finite and above 0",
        ),
        (
            args(&[FRESH, &["--batch", "0"]]),
            "error: invalid option --batch: must be at least 1",
        ),
        (
            args(&[FRESH, &["--reinit", "2"]]),
            "error: invalid option --reinit: 2 must be a share in [0, 1]",
        ),
        (
            args(&[FRESH, &["--buffer", "0", "--reinit", "0.5"]]),
            "error: invalid option --reinit: would be ignored",
        ),
        (
            args(&[FRESH, &["--alpha", "-1"]]),
            "error: invalid option --alpha: -1 must be finite and at least 0",
        ),
        (
            args(&[FRESH, &["--clip-grad-norm", "-1"]]),
            "error: invalid option --clip-grad-norm: -1 must be finite and above 0",
        ),
        (
            args(&[FRESH, &["--weight-decay", "-1"]]),
            "error: invalid option --weight-decay: -1 must be finite and at least 0",
        ),
        (
            args(&[FRESH, &["--log-every", "0"]]),
            "error: invalid option --log-every: 0 must be from 1 to 1048576",
        ),
        (
            args(&[FRESH, &["--negative-step-size", "-1"]]),
            "error: invalid option --negative-step-size: must be a positive number, got -1",
        ),
        (
            args(&[FRESH, &["--negative-temperature", "0", "--mala"]]),
            "error: invalid option --negative-temperature: --mala needs a temperature above 0",
        ),
        (
            args(&[FRESH, &["--clamp=1,-1"]]),
            "error: invalid option --clamp: needs finite LO <= HI, got 1,-1",
        ),
        (
            args(&[FRESH, &["--simplex", "3"]]),
            "error: invalid option --simplex: groups of 3 do not divide the model's y_dim 2",
        ),
        (
            args(&[FRESH, &["--objective", "nce", "--negative-steps", "5"]]),
            "error: invalid option --negative-steps: would be ignored: the objective is nce",
        ),
        (
            args(&[FRESH, &["--objective", "nce", "--clip-grad", "1"]]),
            "error: invalid option --clip-grad: would be ignored: the objective is nce",
        ),
        (
            args(&[FRESH, &["--objective", "xyz"]]),
            "invalid value 'xyz' for '--objective <OBJECTIVE>'",
        ),
        (
            args(&[FRESH, &["--optimizer", "lbfgs"]]),
            "invalid value 'lbfgs' for '--optimizer <OPTIMIZER>'",
        ),
        (
            args(&[FRESH, &["--checkpoint-every", "0"]]),
            "error: invalid option --checkpoint-every: must be at least 1",
        ),
        (
            vec!["--hidden", "8,0", "--activation", "silu"],
            "error: invalid option --hidden: every width must be at least 1",
        ),
        (vec!["--hidden", "8"], "--activation <ACTIVATION>"),
        (
            vec!["--hidden", "8", "--activation", "swish"],
            "unknown activation \"swish\"",
        ),
        (
            args(&[FRESH, &["--outputs", "3"]]),
            "error: invalid option --outputs: 3 outputs need --output square",
        ),
        (vec!["--activation", "silu"], "--hidden"),
        (
            vec![
                "--init",
                "a.safetensors",
                "--hidden",
                "8",
                "--activation",
                "silu",
            ],
            "cannot be used with",
        ),
        (
            vec![],
            "<--init <M.safetensors>|--hidden <W1,W2,...>|--resume <CKPT>>",
        ),
    ];
    for (extra, needle) in cases {
        assert_has(&run(&extra), &[needle]);
    }
}

#[test]
fn bad_resumes_exit_2_naming_the_flag() {
    let job = Job::new();
    assert_ok(&job.train(&args(&[
        BASE,
        FRESH,
        &[
            "--steps",
            "4",
            "--seed",
            "7",
            "--checkpoint-every",
            "4",
            "--out",
            "first",
        ],
    ])));
    // BASE less its --buffer (which defaults to the checkpoint's).
    let flags = [
        "--data", "y.npy", "--x", "x.npy", "--batch", "16", "--lr", "0.01", "--log", "log.csv",
    ];
    let resume = |extra: &[&str]| {
        fails(
            &job,
            &args(&[
                &flags,
                &[
                    "--resume",
                    "first.ckpt.safetensors",
                    "--out",
                    "m.safetensors",
                ],
                extra,
            ]),
        )
    };
    assert_has(
        &resume(&["--steps", "8", "--seed", "8"]),
        &["error: invalid option --seed: 8 differs from the checkpoint's 7 (first.ckpt.safetensors): a resumed run keeps it; leave --seed out"],
    );
    assert_has(
        &resume(&["--steps", "8", "--optimizer", "sgd"]),
        &["error: invalid option --optimizer: sgd differs from the checkpoint's adam"],
    );
    assert_has(
        &resume(&["--steps", "8", "--objective", "nce"]),
        &["error: invalid option --objective: nce differs from the checkpoint's cd"],
    );
    assert_has(
        &resume(&["--steps", "8", "--buffer", "64"]),
        &["error: invalid option --buffer: 64 differs from the checkpoint's 32"],
    );
    assert_has(
        &resume(&["--steps", "3"]),
        &["error: invalid option --steps: 3 is the step count to reach in all, but the checkpoint first.ckpt.safetensors is already at step 4"],
    );
    assert_has(
        &resume(&["--steps", "8", "--hidden", "8", "--activation", "silu"]),
        &["error: the argument '--resume <CKPT>' cannot be used with '--hidden <W1,W2,...>'"],
    );
    assert_has(
        &resume(&["--steps", "8", "--init", "first"]),
        &["cannot be used with"],
    );
    // A model file is not a checkpoint.
    assert_has(
        &fails(
            &job,
            &args(&[
                BASE,
                &[
                    "--resume",
                    "first",
                    "--steps",
                    "8",
                    "--out",
                    "m.safetensors",
                ],
            ]),
        ),
        &[
            "error: --resume first: metadata key \"train.step\" is missing: not a training checkpoint",
            "ebm train --checkpoint-every writes them",
        ],
    );
    // Nor may the output be the checkpoint resumed from.
    let text = fails(
        &job,
        &args(&[
            BASE,
            &["--resume", "first.ckpt.safetensors", "--steps", "8"],
            &["--out", "first.ckpt.safetensors"],
        ]),
    );
    assert_has(
        &text,
        &["invalid option --out: first.ckpt.safetensors is also an input"],
    );
    assert_eq!(
        Checkpoint::load(job.path("first.ckpt.safetensors"))
            .unwrap()
            .step,
        4
    );
}
