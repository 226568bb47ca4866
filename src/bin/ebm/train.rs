//! `ebm train`: the flags made into a `TrainConfig` and a model (a model file's weights,
//! random weights of a given shape, or a checkpoint's), every file checked before the GPU
//! starts, then the run: a progress bar, the per-step CSV log, checkpoints every N steps,
//! Ctrl-C, and the trained model file at the end. A run that diverges writes no model.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use ebm::train::{Checkpoint, TrainProgress, TrainStats};
use ebm::{
    Context, Engine, Error, Model, ModelSpec, Objective, Optimizer, Output, PathChoice,
    ProgressBar, RefineConfig, Result, TrainConfig, TrainData, Trainer,
};

use crate::args::TrainArgs;
use crate::files::{check_not_input, check_output};
use crate::interrupt::interrupt_flag;
use crate::npy;
use crate::summary::{short, train_line, TrainRun};
use crate::trace_file::number32;
use crate::Outcome;

/// The log's header: one column per field of `TrainStats`.
pub const LOG_HEADER: &str = "step,loss,energy_pos,energy_neg,grad_norm,weight_norm,clip_scale";

/// Where `--checkpoint-every` writes: `<out>.ckpt.safetensors`.
pub fn checkpoint_path(out: &Path) -> PathBuf {
    let mut path = out.as_os_str().to_owned();
    path.push(".ckpt.safetensors");
    PathBuf::from(path)
}

pub fn train(args: &TrainArgs, quiet: bool) -> Result<Outcome> {
    check_flags(args)?;
    check_outputs(args)?;
    let resumed = match &args.resume {
        Some(path) => Some(load_checkpoint(path)?),
        None => None,
    };
    let config = config_of(args, resumed.as_ref())?;
    let from = resumed.as_ref().map_or(0, |c| c.step);
    if args.steps < from {
        return Err(Error::config(
            "--steps",
            format!(
                "{} is the step count to reach in all, but the checkpoint {} is already at step {from}",
                args.steps,
                shown(args.resume.as_deref())
            ),
        ));
    }
    let y = read_array("--data", &args.data)?;
    let x = match &args.x {
        Some(path) => Some(read_array("--x", path)?),
        None => None,
    };
    if let Some(x) = &x {
        if x.rows != y.rows {
            return Err(Error::input(
                x.name.clone(),
                format!("has {} rows but {} has {}", x.rows, y.name, y.rows),
            ));
        }
    }
    let model = model_of(args, resumed.as_ref(), &config, &y, x.as_ref())?;
    // Checked here too, to name the flag (`Trainer` names `TrainConfig::negatives`).
    if let Some(g) = config.negatives.simplex {
        if config.objective == Objective::ContrastiveDivergence && model.y_dim % g as usize != 0 {
            return Err(Error::config(
                "--simplex",
                format!(
                    "groups of {g} do not divide the model's y_dim {}",
                    model.y_dim
                ),
            ));
        }
    }
    let data = TrainData {
        y: y.values,
        x: x.map(|x| x.values).unwrap_or_default(),
    };

    let ctx = Context::new()?;
    let adapter = ctx.adapter_info().name.clone();
    let engine = Engine::with_path(&ctx, &model, args.kernel)?;
    let mut trainer = match &resumed {
        Some(checkpoint) => Trainer::resume(engine, data, &config, checkpoint)?,
        None => Trainer::new(engine, data, &config)?,
    };
    let mut rows = Rows::new(args.log.as_deref(), from)?;
    // From here on, Ctrl-C stops the run after its current step rather than the process.
    let interrupted = interrupt_flag("stopping after the current step");
    let mut checkpoints = Checkpoints {
        every: args.checkpoint_every.unwrap_or(0),
        path: checkpoint_path(&args.out),
        // The checkpoint that remains if the run diverges before it writes one.
        last: args.resume.clone().zip(resumed.as_ref().map(|c| c.step)),
    };
    let mut bar = ProgressBar::new(quiet);
    let started = Instant::now();
    let ending = run_steps(
        &mut trainer,
        args.steps,
        &mut rows,
        &mut checkpoints,
        &mut bar,
        &interrupted,
    );
    let time = started.elapsed();
    bar.finish();
    let ending = match ending {
        Ok(ending) => ending,
        Err(e @ Error::Diverged { .. }) => {
            let kept = match &checkpoints.last {
                Some((path, step)) => format!(
                    "the last checkpoint, {} (step {step}), remains",
                    path.display()
                ),
                None if checkpoints.every > 0 => format!(
                    "no checkpoint was written yet (--checkpoint-every {})",
                    checkpoints.every
                ),
                None => "no checkpoint was written (--checkpoint-every N writes them)".into(),
            };
            let note = format!(
                "{kept}; {} was not written{}",
                args.out.display(),
                match &args.log {
                    Some(log) => format!(", {} holds the steps read back before", log.display()),
                    None => String::new(),
                }
            );
            return Ok(Outcome::Diverged { error: e, note });
        }
        Err(e) => return Err(e),
    };
    let reached = trainer.step();
    let stopped = ending == Ending::Interrupted;
    // The last step's checkpoint too (to go on past --steps, or from where Ctrl-C stopped).
    if checkpoints.every > 0 && checkpoints.written() != Some(reached) {
        checkpoints.save(&mut trainer)?;
    }
    trainer.model()?.save(&args.out)?;
    if !quiet {
        let run = TrainRun {
            from,
            reached,
            total: args.steps,
            interrupted: stopped,
            time,
            loss: rows.first.zip(rows.last),
            path: trainer.sampler_path(),
            adapter: &adapter,
        };
        eprintln!("{}", train_line(&run));
    }
    if stopped {
        let resume = match checkpoints.every {
            0 => String::from(" (no checkpoint: --checkpoint-every was not given)"),
            _ if args.resume.is_some() => format!(
                "; go on with the same command, from --resume {}",
                checkpoints.path.display()
            ),
            _ => format!(
                "; go on with the same command, --resume {} in place of --init or --hidden (and its options)",
                checkpoints.path.display()
            ),
        };
        eprintln!(
            "interrupted at step {reached} of {}: {} written with the weights of step {reached}{resume}",
            args.steps,
            args.out.display()
        );
        return Ok(Outcome::Interrupted);
    }
    Ok(Outcome::Done)
}

/// How the steps ended, short of an error.
#[derive(Debug, PartialEq)]
enum Ending {
    Done,
    Interrupted,
}

/// Runs the trainer up to step `total`, in stretches that end where a checkpoint is due.
fn run_steps(
    trainer: &mut Trainer,
    total: u64,
    rows: &mut Rows,
    checkpoints: &mut Checkpoints,
    bar: &mut ProgressBar,
    interrupted: &AtomicBool,
) -> Result<Ending> {
    let started = Instant::now();
    while trainer.step() < total {
        let step = trainer.step();
        let until = match checkpoints.every {
            0 => total,
            every => ((step / every + 1) * every).min(total),
        };
        let mut failed = None;
        let stats = {
            let mut on_progress = |p: &TrainProgress<'_>| {
                if let Err(e) = rows.take(p.stats) {
                    failed = Some(e);
                    return ControlFlow::Break(());
                }
                let loss = rows.last.map(|l| format!("loss {}", short(f64::from(l))));
                bar.show_steps(p.step, total, started.elapsed(), loss.as_deref());
                match interrupted.load(Ordering::SeqCst) {
                    true => ControlFlow::Break(()),
                    false => ControlFlow::Continue(()),
                }
            };
            trainer.run(until - step, Some(&mut on_progress))?
        };
        if let Some(e) = failed {
            return Err(e);
        }
        rows.take(&stats)?;
        let reached = trainer.step();
        if checkpoints.every > 0 && reached % checkpoints.every == 0 {
            checkpoints.save(trainer)?;
        }
        if reached < total && interrupted.load(Ordering::SeqCst) {
            return Ok(Ending::Interrupted);
        }
    }
    Ok(Ending::Done)
}

/// The checkpoints of a run (`every` 0: none), and the last that remains on disk.
struct Checkpoints {
    every: u64,
    path: PathBuf,
    /// The last checkpoint written, or the one the run resumed from: its file and step.
    last: Option<(PathBuf, u64)>,
}

impl Checkpoints {
    /// Writes the trainer's checkpoint (atomically: a good one is never half replaced).
    fn save(&mut self, trainer: &mut Trainer) -> Result<()> {
        trainer.checkpoint()?.save(&self.path)?;
        self.last = Some((self.path.clone(), trainer.step()));
        Ok(())
    }

    /// The step of the last checkpoint this run wrote to its own path.
    fn written(&self) -> Option<u64> {
        self.last
            .as_ref()
            .filter(|(path, _)| *path == self.path)
            .map(|(_, step)| *step)
    }
}

/// The statistics as they come back: the log's rows, and the first and last loss.
struct Rows {
    log: Option<(PathBuf, BufWriter<File>)>,
    /// The first step not yet taken in.
    next: u64,
    first: Option<f32>,
    last: Option<f32>,
}

impl Rows {
    /// Creates the log (a new file, its header written) if one was asked for.
    fn new(log: Option<&Path>, from: u64) -> Result<Rows> {
        let log = match log {
            Some(path) => {
                let io = |source| Error::Io {
                    path: path.to_path_buf(),
                    source,
                };
                let mut file = BufWriter::new(File::create(path).map_err(io)?);
                writeln!(file, "{LOG_HEADER}").map_err(io)?;
                file.flush().map_err(io)?;
                Some((path.to_path_buf(), file))
            }
            None => None,
        };
        Ok(Rows {
            log,
            next: from,
            first: None,
            last: None,
        })
    }

    /// Takes in the rows of `stats` not yet seen, and writes them to the log.
    fn take(&mut self, stats: &[TrainStats]) -> Result<()> {
        let new: Vec<&TrainStats> = stats.iter().filter(|s| s.step >= self.next).collect();
        let Some(latest) = new.last() else {
            return Ok(());
        };
        self.next = latest.step + 1;
        self.first = self.first.or(Some(new[0].loss));
        self.last = Some(latest.loss);
        if let Some((path, file)) = &mut self.log {
            let io = |source| Error::Io {
                path: path.clone(),
                source,
            };
            for s in new {
                writeln!(
                    file,
                    "{},{},{},{},{},{},{}",
                    s.step,
                    number32(s.loss),
                    number32(s.energy_pos),
                    number32(s.energy_neg),
                    number32(s.grad_norm),
                    number32(s.weight_norm),
                    number32(s.clip_scale)
                )
                .map_err(io)?;
            }
            file.flush().map_err(io)?;
        }
        Ok(())
    }
}

/// Checks of the flags alone, before any file is read.
fn check_flags(args: &TrainArgs) -> Result<()> {
    if args.checkpoint_every == Some(0) {
        return Err(Error::config("--checkpoint-every", "must be at least 1"));
    }
    if args.resume.is_none() && args.steps == 0 {
        return Err(Error::config("--steps", "must be at least 1"));
    }
    if let Some(widths) = &args.hidden {
        if widths.contains(&0) {
            return Err(Error::config(
                "--hidden",
                format!("every width must be at least 1, got {widths:?}"),
            ));
        }
    }
    match (args.outputs, args.output.unwrap_or(Output::Identity)) {
        (Some(0), _) => Err(Error::config("--outputs", "must be at least 1")),
        (Some(m), output) if m > 1 && output != Output::Square => Err(Error::config(
            "--outputs",
            format!("{m} outputs need --output square (output {output} has one)"),
        )),
        _ => Ok(()),
    }
}

/// Refuses outputs that cannot be written or would overwrite an input, before any work.
/// A run's own checkpoint may be the one it resumes from: later ones replace it.
fn check_outputs(args: &TrainArgs) -> Result<()> {
    let mut inputs = vec![args.data.as_path()];
    inputs.extend(args.x.as_deref());
    inputs.extend(args.init.as_deref());
    let without_resume = inputs.clone();
    inputs.extend(args.resume.as_deref());
    check_output("--out", &args.out, &inputs)?;
    let checkpoint = checkpoint_path(&args.out);
    let mut outputs = vec![args.out.as_path()];
    if args.checkpoint_every.is_some() {
        check_not_input("--checkpoint-every", &checkpoint, &without_resume).map_err(|_| {
            Error::config(
                "--checkpoint-every",
                format!(
                    "would write its checkpoints to {}, one of the inputs; choose another --out",
                    checkpoint.display()
                ),
            )
        })?;
        outputs.push(&checkpoint);
    }
    if let Some(log) = &args.log {
        check_output("--log", log, &inputs)?;
        check_not_input("--log", log, &outputs).map_err(|_| {
            Error::config(
                "--log",
                format!(
                    "{} is written by --out or as the checkpoint; choose another path",
                    log.display()
                ),
            )
        })?;
    }
    Ok(())
}

/// Reads the checkpoint of --resume; an error names the flag and file (and, from the
/// library, what a checkpoint is: a model file is not one).
fn load_checkpoint(path: &Path) -> Result<Checkpoint> {
    Checkpoint::load(path).map_err(|e| match e {
        Error::ModelFile { message, .. } => {
            Error::input(format!("--resume {}", path.display()), message)
        }
        Error::Io { source, .. } => Error::input(
            format!("--resume {}", path.display()),
            format!("cannot be read: {source}"),
        ),
        other => other,
    })
}

/// The settings a resumed run keeps, as its checkpoint holds them.
struct Kept<'a> {
    path: &'a Path,
    seed: u64,
    objective: Objective,
    optimizer: Optimizer,
    slots: usize,
}

impl<'a> Kept<'a> {
    fn of(path: &'a Path, c: &Checkpoint) -> Result<Kept<'a>> {
        let bad = |key: &str, value: &str, expected: &str| Error::ModelFile {
            path: path.to_path_buf(),
            message: format!("metadata {key:?} = {value:?} is not {expected}"),
        };
        let objective = match c.objective.as_str() {
            "cd" => Objective::ContrastiveDivergence,
            "nce" => Objective::NoiseContrastive,
            other => return Err(bad("train.objective", other, "cd or nce")),
        };
        let optimizer = match c.optimizer.as_str() {
            "adam" => Optimizer::ADAM,
            "sgd" => Optimizer::Sgd,
            other => return Err(bad("train.optimizer", other, "adam or sgd")),
        };
        Ok(Kept {
            path,
            seed: c.seed,
            objective,
            optimizer,
            slots: c.replay.len() / c.model.y_dim.max(1),
        })
    }

    /// `given` if it is the checkpoint's (or not given: the checkpoint's).
    fn keep<T: PartialEq>(
        &self,
        flag: &'static str,
        given: Option<T>,
        theirs: T,
        show: impl Fn(&T) -> String,
    ) -> Result<T> {
        match given {
            Some(ours) if ours != theirs => Err(Error::config(
                flag,
                format!(
                    "{} differs from the checkpoint's {} ({}): a resumed run keeps it; leave {flag} out",
                    show(&ours),
                    show(&theirs),
                    self.path.display()
                ),
            )),
            _ => Ok(theirs),
        }
    }
}

/// The run the flags ask for, checked; `resumed` gives the settings a resumed run keeps.
fn config_of(args: &TrainArgs, resumed: Option<&Checkpoint>) -> Result<TrainConfig> {
    let default = TrainConfig::default();
    let kept = match (args.resume.as_deref(), resumed) {
        (Some(path), Some(c)) => Some(Kept::of(path, c)?),
        _ => None,
    };
    let (seed, objective, optimizer) = match &kept {
        Some(k) => (
            k.keep("--seed", args.seed, k.seed, u64::to_string)?,
            k.keep("--objective", args.objective, k.objective, |o| {
                o.name().into()
            })?,
            k.keep("--optimizer", args.optimizer, k.optimizer, |o| {
                o.name().into()
            })?,
        ),
        None => (
            args.seed.unwrap_or(default.seed),
            args.objective.unwrap_or(default.objective),
            args.optimizer.unwrap_or(default.optimizer),
        ),
    };
    let cd = objective == Objective::ContrastiveDivergence;
    let replay = match (&kept, cd) {
        (Some(k), true) => k.keep("--buffer", args.buffer, k.slots, usize::to_string)?,
        _ => args.buffer.unwrap_or(default.replay),
    };
    if !cd {
        let ignored = [
            ("--alpha", args.alpha.is_some()),
            ("--negative-steps", args.negative_steps.is_some()),
            ("--negative-step-size", args.negative_step_size.is_some()),
            (
                "--negative-temperature",
                args.negative_temperature.is_some(),
            ),
            ("--buffer", args.buffer.is_some()),
            ("--reinit", args.reinit.is_some()),
            ("--kernel", args.kernel != PathChoice::Auto),
        ]
        .into_iter()
        .find(|(_, given)| *given)
        .map(|(flag, _)| flag)
        .or(args.sampler.first_given());
        if let Some(flag) = ignored {
            return Err(Error::config(
                flag,
                "would be ignored: the objective is nce, whose negatives are drawn from the noise (no sampler, no buffer)",
            ));
        }
    } else if replay == 0 && args.reinit.is_some() {
        return Err(Error::config(
            "--reinit",
            "would be ignored: with --buffer 0 every negative starts from noise",
        ));
    }
    let negatives = args.sampler.options().apply(RefineConfig {
        steps: args.negative_steps.unwrap_or(default.negatives.steps),
        step_size: args
            .negative_step_size
            .unwrap_or(default.negatives.step_size),
        temperature: args
            .negative_temperature
            .unwrap_or(default.negatives.temperature),
        ..default.negatives.clone()
    });
    if cd {
        // Checked here, so that its errors name the negatives' own flags.
        negatives.validate()?;
    }
    let config = TrainConfig {
        objective,
        alpha: args.alpha.unwrap_or(default.alpha),
        optimizer,
        learning_rate: args.lr,
        weight_decay: args.weight_decay.unwrap_or(default.weight_decay),
        clip_grad_norm: match args.clip_grad_norm {
            Some(0.0) => None,
            Some(c) => Some(c),
            None => default.clip_grad_norm,
        },
        batch: args.batch,
        negatives,
        replay,
        reinit: args.reinit.unwrap_or(default.reinit),
        seed,
        log_every: args.log_every.unwrap_or(default.log_every),
    };
    config.validate()?;
    Ok(config)
}

/// A float32 2-D array read for a flag.
struct Array {
    /// `--data y.npy`: the flag and file, for messages.
    name: String,
    rows: usize,
    columns: usize,
    values: Vec<f32>,
}

/// Reads `path`, given by `flag`; errors name both.
fn read_array(flag: &str, path: &Path) -> Result<Array> {
    let name = format!("{flag} {}", path.display());
    match npy::read_matrix(path) {
        Ok((rows, columns, values)) => Ok(Array {
            name,
            rows,
            columns,
            values,
        }),
        Err(Error::Input { message, .. }) => Err(Error::input(name, message)),
        Err(Error::Io { source, .. }) => {
            Err(Error::input(name, format!("cannot be read: {source}")))
        }
        Err(e) => Err(e),
    }
}

/// `path` for messages (`-` where there is none).
fn shown(path: Option<&Path>) -> String {
    path.map_or_else(|| "-".into(), |p| p.display().to_string())
}

/// The model training starts from: the checkpoint's, --init's, or random weights of the
/// --hidden shape (x_dim and y_dim from the data); checked against the data.
fn model_of(
    args: &TrainArgs,
    resumed: Option<&Checkpoint>,
    config: &TrainConfig,
    y: &Array,
    x: Option<&Array>,
) -> Result<Model> {
    let (model, source) = match (resumed, &args.init, &args.hidden) {
        (Some(c), _, _) => (
            c.model.clone(),
            format!("the checkpoint --resume {}", shown(args.resume.as_deref())),
        ),
        (None, Some(path), _) => (
            Model::load(path)?,
            format!("the model --init {}", path.display()),
        ),
        (None, None, Some(hidden)) => {
            let output = args.output.unwrap_or(Output::Identity);
            let spec = ModelSpec {
                x_dim: x.map_or(0, |x| x.columns),
                y_dim: y.columns,
                hidden: hidden.clone(),
                outputs: args.outputs.unwrap_or(1),
                // clap requires --activation with --hidden.
                activation: args.activation.unwrap_or(ebm::Activation::Silu),
                output,
            };
            let seed = args.init_seed.unwrap_or(config.seed);
            return Model::random(&spec, seed);
        }
        (None, None, None) => {
            return Err(Error::config(
                "--init",
                "one of --init, --hidden or --resume is needed",
            ))
        }
    };
    if y.columns != model.y_dim {
        return Err(Error::input(
            y.name.clone(),
            format!(
                "has {} columns; {source} has y_dim {}",
                y.columns, model.y_dim
            ),
        ));
    }
    match (x, model.x_dim) {
        (None, 0) => {}
        (None, d) => {
            return Err(Error::config(
                "--x",
                format!("is required: {source} has x_dim {d}"),
            ))
        }
        (Some(x), 0) => {
            return Err(Error::input(
                x.name.clone(),
                format!("{source} is unconditional (x_dim 0): leave out --x"),
            ))
        }
        (Some(x), d) if x.columns != d => {
            return Err(Error::input(
                x.name.clone(),
                format!("has {} columns; {source} has x_dim {d}", x.columns),
            ))
        }
        _ => {}
    }
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_sit_beside_the_output() {
        assert_eq!(
            checkpoint_path(Path::new("runs/m.safetensors")),
            PathBuf::from("runs/m.safetensors.ckpt.safetensors")
        );
    }

    #[test]
    fn the_log_gets_each_step_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.csv");
        let stats = |step: u64| TrainStats {
            step,
            loss: 0.5 + step as f32,
            energy_pos: -1.0,
            energy_neg: 2.0,
            grad_norm: 0.1,
            weight_norm: 3.0,
            clip_scale: 1.0,
        };
        let mut rows = Rows::new(Some(&path), 4).unwrap();
        rows.take(&[stats(4), stats(5)]).unwrap();
        // A run's return value repeats the rows its callback saw.
        rows.take(&[stats(4), stats(5), stats(6)]).unwrap();
        rows.take(&[]).unwrap();
        assert_eq!((rows.first, rows.last), (Some(4.5), Some(6.5)));
        drop(rows);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            format!("{LOG_HEADER}\n4,4.5,-1,2,0.1,3,1\n5,5.5,-1,2,0.1,3,1\n6,6.5,-1,2,0.1,3,1\n")
        );
    }
}
