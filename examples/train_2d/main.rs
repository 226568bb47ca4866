//! Trains an energy model on a 2-D toy distribution on the GPU and draws what it learned.
//!
//! ```text
//! cargo run --release --example train_2d [-- --toy ring8|ring4|moons] [--objective nce|cd]
//!     [--steps N] [--hidden 32,32] [--out DIR] [--score MODEL.safetensors]
//! ```
//!
//! It samples the toy (`ebm::train::toy`), trains an MLP energy on it with `ebm::Trainer`, and
//! writes into DIR (default `train_2d_out`):
//! - `data.png`: the training points;
//! - `energy.png`: the learned landscape, as the density exp(-E)/Z it defines (bright where
//!   the energy is low), with iso-energy lines;
//! - `samples.png`: Langevin samples of the trained model (orange) over the true density;
//! - `train_2d.png`: the three side by side;
//! - `model.safetensors` (the trained model, which `ebm refine` reads) and `data.npy` (the
//!   points, for `benches/pytorch_train.py`).
//!
//! It prints the time per step and how close the model came: KL(true || learned) and total
//! variation on a 128 x 128 grid, and the MMD between its samples and held-out data.
//! `--score MODEL` skips training and scores a model file (e.g. one trained in PyTorch).

mod plot;

use std::path::{Path, PathBuf};
use std::time::Instant;

use ebm::train::toy::{self, Grid, Toy};
use ebm::{
    Activation, Context, Engine, Model, ModelSpec, Objective, Output, RefineConfig, TrainConfig,
    TrainData, Trainer,
};
use plot::{contour, heatmap, scatter, side_by_side, Image};

/// Points drawn for training, and held out for the MMD.
const POINTS: usize = 4000;
/// Langevin chains drawn from the trained model.
const SAMPLES: usize = 2000;
/// Pixels per panel.
const PANEL: usize = 384;

struct Options {
    toy: Toy,
    objective: Objective,
    steps: u64,
    hidden: Vec<usize>,
    out: PathBuf,
    score: Option<PathBuf>,
}

fn parse() -> Result<Options, String> {
    let mut o = Options {
        toy: Toy::ring8(),
        objective: Objective::NoiseContrastive,
        steps: 2000,
        hidden: vec![32, 32],
        out: PathBuf::from("train_2d_out"),
        score: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--toy" => {
                let name = value()?;
                o.toy =
                    Toy::parse(&name).ok_or(format!("--toy {name}: not ring8, ring4 or moons"))?;
            }
            "--objective" => {
                o.objective = match value()?.as_str() {
                    "cd" => Objective::ContrastiveDivergence,
                    "nce" => Objective::NoiseContrastive,
                    other => return Err(format!("--objective {other}: not cd or nce")),
                }
            }
            "--steps" => {
                let v = value()?;
                o.steps = v
                    .parse()
                    .map_err(|_| format!("--steps {v}: not a whole number"))?;
            }
            "--hidden" => {
                let v = value()?;
                o.hidden = v
                    .split(',')
                    .map(|w| w.trim().parse())
                    .collect::<Result<_, _>>()
                    .map_err(|_| format!("--hidden {v}: not a list of widths like 64,64"))?;
            }
            "--out" => o.out = PathBuf::from(value()?),
            "--score" => o.score = Some(PathBuf::from(value()?)),
            other => {
                return Err(format!(
                    "unknown flag {other} (see the top of examples/train_2d/main.rs)"
                ))
            }
        }
    }
    Ok(o)
}

fn main() {
    if let Err(message) = parse().and_then(|o| run(&o)) {
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}

fn run(o: &Options) -> Result<(), String> {
    let fail = |e: ebm::Error| e.to_string();
    std::fs::create_dir_all(&o.out).map_err(|e| format!("{}: {e}", o.out.display()))?;
    let ctx = Context::new().map_err(fail)?;
    let data = o.toy.sample(POINTS, 1);
    write_npy(&o.out.join("data.npy"), &data, 2)?;
    let engine = match &o.score {
        Some(path) => Engine::new(&ctx, &Model::load(path).map_err(fail)?).map_err(fail)?,
        None => train(&ctx, o, &data)?,
    };
    let grid = Grid::covering(&o.toy, 128);
    let truth = grid.density_of(&o.toy);
    let energy = engine.eval(&[], &grid.points()).map_err(fail)?.energy;
    let learned = grid.boltzmann(&energy);
    let samples = sample(&engine, &o.toy)?;
    let held_out = o.toy.sample(SAMPLES, 2);
    println!(
        "{}: KL(true || learned) {:.3} nats, total variation {:.3}, MMD(samples, held-out) {:.4} (bandwidth 0.5)",
        o.toy.name(),
        toy::kl_divergence(&truth, &learned, grid.cell_area()),
        toy::total_variation(&truth, &learned, grid.cell_area()),
        toy::mmd_rbf(&samples, &held_out, 2, 0.5),
    );
    draw(o, &grid, &data, &energy, &learned, &truth, &samples)
}

/// Trains the model on `data`; returns the engine with the trained weights, and writes them.
fn train(ctx: &Context, o: &Options, data: &[f32]) -> Result<Engine, String> {
    let fail = |e: ebm::Error| e.to_string();
    let spec = ModelSpec {
        x_dim: 0,
        y_dim: 2,
        hidden: o.hidden.clone(),
        outputs: 1,
        activation: Activation::Silu,
        output: Output::Identity,
    };
    let model = Model::random(&spec, 0).map_err(fail)?;
    let engine = Engine::new(ctx, &model).map_err(fail)?;
    let config = settings(o.objective);
    let data = TrainData {
        y: data.to_vec(),
        x: Vec::new(),
    };
    let mut trainer = Trainer::new(engine, data, &config).map_err(fail)?;
    let started = Instant::now();
    let mut report = |p: &ebm::train::TrainProgress<'_>| {
        if let Some(s) = p.stats.last() {
            eprintln!(
                "step {:>6}/{}  loss {:>8.4}  E(data) {:>8.4}  E(negatives) {:>8.4}",
                p.step, p.end, s.loss, s.energy_pos, s.energy_neg
            );
        }
        std::ops::ControlFlow::Continue(())
    };
    trainer.run(o.steps, Some(&mut report)).map_err(fail)?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "trained {} steps ({}, batch {}) in {seconds:.1} s: {:.2} ms per step on {}",
        o.steps,
        o.objective.name(),
        config.batch,
        1e3 * seconds / o.steps.max(1) as f64,
        ctx.adapter_info().name
    );
    let engine = trainer.into_engine().map_err(fail)?;
    engine
        .model()
        .save(o.out.join("model.safetensors"))
        .map_err(fail)?;
    Ok(engine)
}

/// The settings of the example's runs (the same as `benches/train_compare.sh` gives
/// PyTorch): NCE at batch 256; CD at batch 128 with 20 Langevin steps per negative (the
/// library's defaults) and a weaker regulariser.
fn settings(objective: Objective) -> TrainConfig {
    match objective {
        Objective::NoiseContrastive => TrainConfig {
            objective,
            batch: 256,
            learning_rate: 1e-2,
            log_every: 250,
            ..TrainConfig::default()
        },
        Objective::ContrastiveDivergence => TrainConfig {
            objective,
            batch: 128,
            learning_rate: 3e-3,
            alpha: 0.1,
            log_every: 250,
            ..TrainConfig::default()
        },
    }
}

/// Langevin samples of the trained model from uniform starts over the toy's box.
fn sample(engine: &Engine, toy: &Toy) -> Result<Vec<f32>, String> {
    let (lo, hi) = toy.bounds();
    let mut rng = ebm::rng::HostRng::new(3, 0);
    let y0: Vec<f32> = (0..SAMPLES)
        .flat_map(|_| [0, 1])
        .map(|k| (lo[k] + (hi[k] - lo[k]) * 0.5 * (rng.symmetric() + 1.0)) as f32)
        .collect();
    let config = RefineConfig {
        steps: 1000,
        step_size: 0.01,
        temperature: 1.0,
        seed: 4,
        ..RefineConfig::default()
    };
    Ok(engine
        .refine(&[], &y0, &config)
        .map_err(|e| e.to_string())?
        .y)
}

fn draw(
    o: &Options,
    grid: &Grid,
    data: &[f32],
    energy: &[f32],
    learned: &[f64],
    truth: &[f64],
    samples: &[f32],
) -> Result<(), String> {
    let bounds = (grid.lo, grid.hi);
    let white = [255, 255, 255];
    let mut data_panel = Image::new(PANEL, PANEL, white);
    scatter(&mut data_panel, data, bounds, [40, 70, 160], 1);
    let mut energy_panel = heatmap(learned, grid.n, PANEL);
    let energy64: Vec<f64> = energy.iter().map(|&e| f64::from(e)).collect();
    contour(&mut energy_panel, &energy64, grid.n, 8, white);
    let mut samples_panel = heatmap(truth, grid.n, PANEL);
    scatter(&mut samples_panel, samples, bounds, [255, 140, 0], 1);
    let save = |image: &Image, name: &str| {
        let path = o.out.join(name);
        image.save(&path).map_err(|e| e.to_string())?;
        println!("wrote {}", path.display());
        Ok::<(), String>(())
    };
    save(&data_panel, "data.png")?;
    save(&energy_panel, "energy.png")?;
    save(&samples_panel, "samples.png")?;
    save(
        &side_by_side(
            &[data_panel, energy_panel, samples_panel],
            8,
            [235, 235, 235],
        ),
        "train_2d.png",
    )
}

/// A float32 array as a .npy file (version 1.0, C order).
fn write_npy(path: &Path, data: &[f32], columns: usize) -> Result<(), String> {
    let rows = data.len() / columns;
    let mut header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {columns}), }}");
    // Magic (6) + version (2) + length (2) + header + newline, padded to 64 bytes.
    let pad = 64 - (10 + header.len() + 1) % 64;
    header.push_str(&" ".repeat(pad % 64));
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(bytemuck::cast_slice(data));
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}
