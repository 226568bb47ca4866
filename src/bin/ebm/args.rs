//! The command line's flags, as clap parses them: one struct per subcommand.

use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{ArgGroup, Args, Parser, Subcommand};
use ebm::refine::Shape;
use ebm::{Activation, Objective, Optimizer, Output, PathChoice};

#[derive(Parser)]
#[command(
    name = "ebm",
    version,
    about = "Energy-based model inference and training on the GPU",
    after_help = "Exit codes: 0 success; 1 the run failed (no adapter, GPU error, lost device, out of memory, non-finite chains, training that diverged); 2 bad input (flags, files, values); 130 interrupted by Ctrl-C (output written; refine's marked cancelled)."
)]
pub struct Cli {
    /// Print nothing on success: no summary line, no progress bar (warnings and errors
    /// still go to stderr).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// List every GPU adapter, the one chosen, its backend, features and limits; with
    /// --model, the model's graph and the kernel paths that run it on this adapter.
    Info(InfoArgs),
    /// Energies and dE/dy of a batch: writes float32 tensors `energy` [B] and `grad`
    /// [B, y_dim], and prints a one-line summary to stderr.
    Eval(EvalArgs),
    /// Refine y0 by K steps of gradient descent (T = 0) or Langevin dynamics:
    /// y <- clamp(y - eta * (dE/dy + lambda * y) + sqrt(2 eta T) * N(0, I)).
    /// Writes float32 tensors `y` [B, y_dim], `energy` [B] (the prior included),
    /// `acceptance` [B] (the share of each chain's steps accepted by --mala or
    /// --keep-if-lower, 1 otherwise; with --adapt-steps also `acceptance_warmup` and
    /// `acceptance_after_warmup`) and `step_scale` [B] (its final step-size multiplier),
    /// and int32 tensors `steps_taken` [B] (fewer than K where it stopped early) and
    /// `accepted` [B] (the steps it accepted). Prints a one-line summary to stderr.
    Refine(Box<RefineArgs>),
    /// Train a model on data: contrastive divergence (negatives from the sampler, with a
    /// replay buffer) or noise-contrastive estimation, on the GPU. Writes the model file
    /// (--out), and optionally a per-step CSV log (--log) and checkpoints
    /// (<OUT>.ckpt.safetensors, --checkpoint-every) to resume from (--resume). Prints a
    /// one-line summary to stderr. The sampler options (--prior-l2, --clamp, --simplex,
    /// --clip-grad, --mala, --keep-if-lower and theirs) shape the negatives' sampler as
    /// they shape refine's.
    Train(Box<TrainArgs>),
    /// Time whole refinements of the standard workloads.
    Bench(BenchArgs),
}

#[derive(Args)]
pub struct EvalArgs {
    /// Model file (safetensors, see the README for the format).
    #[arg(long)]
    pub model: PathBuf,
    /// Observed inputs, float32 .npy [B, x_dim] (omit for x_dim = 0).
    #[arg(long)]
    pub x: Option<PathBuf>,
    /// Answers to evaluate, float32 .npy [B, y_dim].
    #[arg(long)]
    pub y: PathBuf,
    /// The landscape index t of an energy E(x, y, t) (default 0).
    #[arg(long, allow_negative_numbers = true)]
    pub landscape: Option<f32>,
    /// Output safetensors file.
    #[arg(long)]
    pub out: PathBuf,
    /// Write energies or gradients that are NaN or infinite instead of failing.
    #[arg(long)]
    pub keep_non_finite: bool,
}

#[derive(Args)]
pub struct RefineArgs {
    /// Model file (safetensors).
    #[arg(long)]
    pub model: PathBuf,
    /// Observed inputs, float32 .npy [B, x_dim] (omit for x_dim = 0).
    #[arg(long)]
    pub x: Option<PathBuf>,
    /// Starting answers, float32 .npy [B, y_dim].
    #[arg(long)]
    pub y0: PathBuf,
    /// Number of steps K.
    #[arg(long)]
    pub steps: u32,
    /// Step size eta (at the first step, with a schedule); required unless --stages.
    #[arg(
        long,
        allow_negative_numbers = true,
        required_unless_present = "stages",
        conflicts_with = "stages"
    )]
    pub step_size: Option<f32>,
    /// Temperature T (at the first step, with a schedule; 0, the default: plain gradient
    /// descent).
    #[arg(long, allow_negative_numbers = true, conflicts_with = "stages")]
    pub temperature: Option<f32>,
    /// How eta and T go from --step-size / --temperature to --step-size-end /
    /// --temperature-end over the steps: constant, linear, cosine or geometric (the same
    /// ratio every step; annealing).
    #[arg(long, default_value = "constant")]
    pub schedule: Shape,
    /// eta at the last step (default: --step-size).
    #[arg(long, allow_negative_numbers = true)]
    pub step_size_end: Option<f32>,
    /// T at the last step (default: --temperature).
    #[arg(long, allow_negative_numbers = true)]
    pub temperature_end: Option<f32>,
    /// Stages STEPS:ETA:T,STEPS:ETA:T,... run in order instead of a schedule; their steps
    /// must add up to --steps. A stage may also set the landscape index t of an energy
    /// E(x, y, t) and its own clamp range: STEPS:ETA:T:LANDSCAPE or
    /// STEPS:ETA:T:LANDSCAPE:LO:HI (LANDSCAPE `-`: --landscape's).
    #[arg(long, allow_hyphen_values = true)]
    pub stages: Option<String>,
    /// The landscape index t of an energy E(x, y, t) (default 0), for the stages that set
    /// none.
    #[arg(long, allow_negative_numbers = true)]
    pub landscape: Option<f32>,
    /// Seed of the noise (default 0); the same seed gives bit-identical output on the same
    /// GPU.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Global index of the first chain of --y0 (default 0): its chains draw the noise they
    /// would as rows N.. of a whole batch, so shards refined apart (each with its offset)
    /// give the bits of one run over all of them. With --replicas, a multiple of R.
    #[arg(long, value_name = "N")]
    pub chain_offset: Option<u32>,
    /// The sampler's options (shared with the negatives of `ebm train`).
    #[command(flatten)]
    pub sampler: SamplerArgs,
    /// R chains per row of --x: --y0 (and --fixed) hold R starts per row, rows i*R..i*R+R
    /// for x row i; writes the lowest-energy chain of each x (`y`, `energy`), which one
    /// it was (`best`, int32) and the spread of the R final energies (`spread`).
    #[arg(long, value_name = "R")]
    pub best_of: Option<usize>,
    /// Replica exchange (parallel tempering): the chains are groups of R consecutive rows
    /// of --y0 (with --best-of, R divides its count), replica r of a group at --ladder
    /// factor r times the temperature; every --swap-every steps neighbouring replicas
    /// propose to swap with the exact Metropolis rule. Needs a temperature above 0 at every
    /// step; the replicas of a group must share x and --fixed. Writes `swap_acceptance`
    /// [R-1] (per pair over every group) and `round_trips` (int32, per group).
    #[arg(long, value_name = "R")]
    pub replicas: Option<u32>,
    /// With --replicas: temperature factors spaced geometrically from LO to HI (default
    /// 1,10).
    #[arg(long, value_name = "LO,HI", value_parser = parse_pair, requires = "replicas",
        conflicts_with = "ladder_factors", allow_hyphen_values = true)]
    pub ladder: Option<(f32, f32)>,
    /// With --replicas: the R temperature factors, increasing.
    #[arg(
        long,
        value_name = "F1,F2,...",
        value_delimiter = ',',
        num_args = 1,
        requires = "replicas",
        allow_negative_numbers = true
    )]
    pub ladder_factors: Option<Vec<f32>>,
    /// With --replicas: steps between swap rounds (default 10).
    #[arg(long, value_name = "S", requires = "replicas")]
    pub swap_every: Option<u32>,
    /// With --simplex: add W (1 - |group|^2) per group to the energy, which pushes each
    /// group toward a vertex (one-hot); W goes from START to END over the steps by
    /// --vertex-penalty-schedule. With --keep-if-lower only a constant W (START = END).
    #[arg(long, value_name = "START,END", value_parser = parse_pair, allow_hyphen_values = true)]
    pub vertex_penalty: Option<(f32, f32)>,
    /// How the vertex penalty's W moves: linear (default), constant, cosine or geometric.
    #[arg(long, value_name = "SHAPE", requires = "vertex_penalty")]
    pub vertex_penalty_schedule: Option<Shape>,
    /// With --simplex: after the last step round each group to its vertex (the largest
    /// coordinate; groups with a fixed coordinate stay) and evaluate the model there: writes
    /// `decoded_y` [B, y_dim] and `decoded_energy` [B] (the model's energy, no prior). With
    /// --best-of, each x's chain is picked by its decoded energy and its rounded answer is
    /// written as `y`, its energy as `energy`.
    #[arg(long)]
    pub decode: bool,
    /// Coordinates held at their start values: float32 .npy [B, y_dim], nonzero where fixed.
    #[arg(long)]
    pub fixed: Option<PathBuf>,
    /// Stop a chain once |dE/dy + lambda y| is at most TOL (tested before every step).
    #[arg(long, value_name = "TOL", allow_negative_numbers = true)]
    pub stop_grad: Option<f32>,
    /// Stop a chain once its last step changed its energy by at most TOL.
    #[arg(long, value_name = "TOL", allow_negative_numbers = true)]
    pub stop_change: Option<f32>,
    /// Stop a chain once its energy (the prior included) is at most E.
    #[arg(long, value_name = "E", allow_negative_numbers = true)]
    pub stop_below: Option<f32>,
    /// Write per step the batch's min / mean / max energy and mean gradient norm,
    /// reduced on the GPU, to FILE (.csv or .json; numbers in their shortest exact form,
    /// in scientific notation below 1e-4 and from 1e16).
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Most chains per dispatch (larger batches are split; results do not change).
    #[arg(long)]
    pub chunk: Option<usize>,
    /// The longest one GPU submission runs, in milliseconds (default 100): long
    /// refinements are split so that no display watchdog kills them, and progress shows
    /// between submissions. 0 runs every step in one dispatch (GPUs without a display).
    /// Results do not change.
    #[arg(long, value_name = "MS", allow_negative_numbers = true)]
    pub dispatch_ms: Option<f32>,
    /// Write chains whose y or energy became NaN or infinite (and an int32 `non_finite_at`
    /// tensor: the step each became so, -1 for finite chains) instead of failing.
    #[arg(long)]
    pub keep_non_finite: bool,
    #[arg(long, default_value = "auto", help = KERNEL_HELP)]
    pub kernel: PathChoice,
    /// Output safetensors file.
    #[arg(long)]
    pub out: PathBuf,
}

/// The options of the sampler: `refine`'s chains, and the negatives of `train`.
#[derive(Args)]
pub struct SamplerArgs {
    /// lambda of the prior (lambda/2)|y|^2 added to the energy.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub prior_l2: f32,
    /// Clamp every coordinate of y to [LO, HI] after each step, e.g. `--clamp=-1,1`.
    #[arg(long, value_parser = parse_pair, allow_hyphen_values = true)]
    pub clamp: Option<(f32, f32)>,
    /// Project every group of G consecutive coordinates of y onto the probability simplex
    /// after each step (a one-hot relaxation; y_dim must be a multiple of G).
    #[arg(long, value_name = "G")]
    pub simplex: Option<u32>,
    /// Scale each chain's step direction dE/dy + lambda y down to at most this norm.
    #[arg(long, allow_negative_numbers = true)]
    pub clip_grad: Option<f32>,
    /// Metropolis-adjusted Langevin: each step is a proposal that each chain accepts or
    /// refuses with the exact MALA ratio, so the chains sample exp(-E / T) with no
    /// step-size bias. Needs a temperature above 0; not with --clamp, --clip-grad or
    /// --simplex. (`refine` writes each chain's acceptance rate, `acceptance`.)
    #[arg(long, conflicts_with = "keep_if_lower")]
    pub mala: bool,
    /// With --mala: adapt each chain's step size toward --target-accept during the first
    /// N steps by dual averaging (then it stays fixed, and sampling is exact again); the
    /// summary gives the acceptance during and after the warm-up.
    #[arg(long, value_name = "N", requires = "mala")]
    pub adapt_steps: Option<u32>,
    /// With --mala --adapt-steps: the acceptance rate to adapt toward (default 0.574).
    #[arg(long, allow_negative_numbers = true, requires = "adapt_steps")]
    pub target_accept: Option<f32>,
    /// Keep-if-lower descent: a step that raises a chain's energy (by more than
    /// --rise-tolerance) is refused, and that chain's step size is multiplied by --shrink;
    /// each accepted step grows it again by 1 / sqrt(--shrink), never past --step-size.
    #[arg(long)]
    pub keep_if_lower: bool,
    /// With --keep-if-lower: the factor in (0, 1] a refused step shrinks the step size by (1:
    /// refuse without shrinking, as IRED's opt_step).
    #[arg(
        long,
        default_value_t = ebm::refine::DEFAULT_SHRINK,
        allow_negative_numbers = true,
        requires = "keep_if_lower"
    )]
    pub shrink: f32,
    /// With --keep-if-lower: refuse a step only where the energy rises by more than REL
    /// times its size, U' > U + REL |U| (default 0: any rise). float32 resolves U to about
    /// 6e-8 |U| per rounding, more through a network; about 1e-6 keeps rounding from
    /// deciding steps that barely change an energy far from 0 (Sampler::KeepIfLower::
    /// rise_tolerance).
    #[arg(
        long,
        value_name = "REL",
        allow_negative_numbers = true,
        requires = "keep_if_lower"
    )]
    pub rise_tolerance: Option<f32>,
}

impl SamplerArgs {
    /// These flags in the library's terms.
    pub fn options(&self) -> ebm::refine::SamplerOptions {
        ebm::refine::SamplerOptions {
            prior_l2: self.prior_l2,
            clamp: self.clamp,
            clip_grad: self.clip_grad,
            simplex: self.simplex,
            mala: self.mala,
            adapt_steps: self.adapt_steps,
            target_accept: self.target_accept,
            keep_if_lower: self.keep_if_lower,
            shrink: Some(self.shrink),
            rise_tolerance: self.rise_tolerance,
        }
    }

    /// The first of these flags that was given (set away from its default), if any.
    pub fn first_given(&self) -> Option<&'static str> {
        [
            ("--prior-l2", self.prior_l2 != 0.0),
            ("--clamp", self.clamp.is_some()),
            ("--simplex", self.simplex.is_some()),
            ("--clip-grad", self.clip_grad.is_some()),
            ("--mala", self.mala),
            ("--keep-if-lower", self.keep_if_lower),
        ]
        .into_iter()
        .find(|(_, given)| *given)
        .map(|(flag, _)| flag)
    }
}

#[derive(Args)]
#[command(group(
    ArgGroup::new("model_from")
        .required(true)
        .args(["init", "hidden", "resume"])
))]
pub struct TrainArgs {
    /// The training data: answers y, float32 .npy [N, y_dim].
    #[arg(long, value_name = "Y.npy")]
    pub data: PathBuf,
    /// What each row of --data is conditioned on, float32 .npy [N, x_dim] (omit for an
    /// unconditional model, x_dim 0).
    #[arg(long, value_name = "X.npy")]
    pub x: Option<PathBuf>,
    /// Start from this model file's weights.
    #[arg(long, value_name = "M.safetensors", conflicts_with_all = ["hidden", "resume"])]
    pub init: Option<PathBuf>,
    /// Start from random weights (PyTorch's nn.Linear initialisation) of an MLP with these
    /// hidden widths, e.g. 128,128; y_dim is --data's columns, x_dim --x's (0 without).
    #[arg(
        long,
        value_name = "W1,W2,...",
        value_delimiter = ',',
        num_args = 1,
        requires = "activation",
        conflicts_with = "resume"
    )]
    pub hidden: Option<Vec<usize>>,
    /// With --hidden: the activation after every hidden layer (relu, leaky_relu, tanh,
    /// sigmoid, silu, gelu, gelu_tanh, softplus).
    #[arg(long, requires = "hidden")]
    pub activation: Option<Activation>,
    /// With --hidden: the output function, identity (default), square or softplus.
    #[arg(long, requires = "hidden")]
    pub output: Option<Output>,
    /// With --hidden --output square: outputs of the last layer (default 1).
    #[arg(long, value_name = "M", requires = "hidden")]
    pub outputs: Option<usize>,
    /// With --hidden: the seed of the random weights (default: --seed).
    #[arg(long, value_name = "S", requires = "hidden")]
    pub init_seed: Option<u64>,
    /// The step count to reach, in all: a run resumed from a checkpoint at step S takes
    /// STEPS - S more.
    #[arg(long, value_name = "STEPS")]
    pub steps: u64,
    /// Positives (rows of --data, drawn with replacement) per step, and as many negatives.
    #[arg(long, value_name = "B")]
    pub batch: usize,
    /// The optimiser's learning rate.
    #[arg(long, value_name = "LR", allow_negative_numbers = true)]
    pub lr: f32,
    /// The loss: cd (contrastive divergence, negatives from the sampler; the default) or
    /// nce (noise-contrastive estimation against a Gaussian fitted to --data).
    #[arg(long, value_parser = objective_parser())]
    pub objective: Option<Objective>,
    /// The optimiser: adam (AdamW, betas 0.9, 0.999; the default) or sgd.
    #[arg(long, value_parser = optimizer_parser())]
    pub optimizer: Option<Optimizer>,
    /// Decoupled weight decay (default 0).
    #[arg(long, value_name = "DECAY", allow_negative_numbers = true)]
    pub weight_decay: Option<f32>,
    /// Scale the weight gradient down to at most this global L2 norm (default 1; 0: never).
    #[arg(long, value_name = "NORM", allow_negative_numbers = true)]
    pub clip_grad_norm: Option<f32>,
    /// cd: the weight of the energy-square regulariser alpha (mean E+^2 + mean E-^2)
    /// (default 1).
    #[arg(long, value_name = "A", allow_negative_numbers = true)]
    pub alpha: Option<f32>,
    /// cd: sampler steps K that refine each step's negatives (default 20).
    #[arg(long, value_name = "K")]
    pub negative_steps: Option<u32>,
    /// cd: the negatives' sampler step size eta (default 0.01).
    #[arg(long, value_name = "ETA", allow_negative_numbers = true)]
    pub negative_step_size: Option<f32>,
    /// cd: the negatives' sampler temperature T (default 1; 0: gradient descent).
    #[arg(long, value_name = "T", allow_negative_numbers = true)]
    pub negative_temperature: Option<f32>,
    /// cd: the negatives' sampler options.
    #[command(flatten)]
    pub sampler: SamplerArgs,
    /// cd: slots of the replay buffer of persistent negatives, at least --batch (default
    /// 10000; 0: every step's negatives start from noise).
    #[arg(long, value_name = "SIZE")]
    pub buffer: Option<usize>,
    /// cd with a buffer: the share of each step's negatives restarted from noise instead of
    /// their slot (default 0.05).
    #[arg(long, value_name = "P", allow_negative_numbers = true)]
    pub reinit: Option<f32>,
    /// Seeds every draw of the run: batches, negatives, the buffer's start (default 0; a
    /// resumed run keeps its checkpoint's). The same seed gives bit-identical output on
    /// the same GPU.
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Read the statistics back every N steps (default 100); the log still gets every
    /// step's row.
    #[arg(long, value_name = "N")]
    pub log_every: Option<u32>,
    #[arg(long, default_value = "auto", help = NEGATIVES_KERNEL_HELP)]
    pub kernel: PathChoice,
    /// The trained model file (safetensors, the format every ebm command reads).
    #[arg(long, value_name = "M.safetensors")]
    pub out: PathBuf,
    /// Write every step's statistics to FILE.csv: step, loss, energy_pos, energy_neg,
    /// grad_norm, weight_norm, clip_scale (a new file; a resumed run's holds its own
    /// steps).
    #[arg(long, value_name = "FILE.csv")]
    pub log: Option<PathBuf>,
    /// Every N steps, at the last step and when Ctrl-C stops the run, write a checkpoint
    /// to <OUT>.ckpt.safetensors (e.g. m.safetensors.ckpt.safetensors for --out
    /// m.safetensors), replacing the last one; a run that diverges leaves the last good one.
    #[arg(long, value_name = "N")]
    pub checkpoint_every: Option<u64>,
    /// Go on from this checkpoint (the model, optimiser, buffer and step in it; --seed,
    /// --objective, --optimizer and --buffer default to its own): the same command with
    /// --resume ends where the uninterrupted run would have, bit for bit.
    #[arg(long, value_name = "CKPT")]
    pub resume: Option<PathBuf>,
}

#[derive(Args)]
pub struct InfoArgs {
    /// A model file: print its graph (nodes, shapes, parameters, energy terms) and which
    /// kernel paths run it on this adapter, with the reason for each that does not.
    #[arg(long, value_name = "FILE")]
    pub model: Option<std::path::PathBuf>,
}

#[derive(Args)]
pub struct BenchArgs {
    /// Only this workload (r1, latency, toy2d, resln).
    #[arg(long, conflicts_with = "model")]
    pub workload: Option<String>,
    /// Time this model file instead of the standard workloads (1024 chains and 100 steps
    /// unless --batch and --steps say otherwise).
    #[arg(long, value_name = "FILE", conflicts_with = "suite")]
    pub model: Option<std::path::PathBuf>,
    /// Override the batch size.
    #[arg(long)]
    pub batch: Option<usize>,
    /// Override the number of steps.
    #[arg(long)]
    pub steps: Option<u32>,
    /// Timed runs per workload (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    #[arg(long, default_value = "auto", help = KERNEL_HELP)]
    pub kernel: PathChoice,
    /// First measure the adapter's float32 FMA peak, and report each run's share of it.
    #[arg(long)]
    pub peak: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Every standard workload on every kernel path this adapter can run, after --peak
    /// (the GPU campaign's ebm side; with --workload, --batch and --steps to reduce it).
    #[arg(long, conflicts_with = "kernel")]
    pub suite: bool,
    /// The longest one GPU submission runs, in milliseconds (default 100; 0: one dispatch
    /// per refinement).
    #[arg(long, value_name = "MS", allow_negative_numbers = true)]
    pub dispatch_ms: Option<f32>,
}

const KERNEL_HELP: &str = "Kernel path: auto (chosen from the model, batch and adapter), chain (one chain per invocation), tile (workgroup tiles, size chosen by batch), tile4, tile8, tile16, tile32, or layered (a dispatch per layer)";

const NEGATIVES_KERNEL_HELP: &str = "cd: the kernel path of the negatives' sampler: auto (the default), chain, tile, tile4, tile8, tile16, tile32 or layered";

/// `--objective cd|nce`.
fn objective_parser() -> impl TypedValueParser<Value = Objective> {
    PossibleValuesParser::new(["cd", "nce"]).map(|s| match s.as_str() {
        "nce" => Objective::NoiseContrastive,
        _ => Objective::ContrastiveDivergence,
    })
}

/// `--optimizer adam|sgd`.
fn optimizer_parser() -> impl TypedValueParser<Value = Optimizer> {
    PossibleValuesParser::new(["adam", "sgd"]).map(|s| match s.as_str() {
        "sgd" => Optimizer::Sgd,
        _ => Optimizer::ADAM,
    })
}

/// `--clamp LO,HI`.
/// `LO,HI` (`--clamp`, `--ladder`, `--vertex-penalty`).
fn parse_pair(s: &str) -> Result<(f32, f32), String> {
    let (lo, hi) = s
        .split_once(',')
        .ok_or_else(|| format!("expected LO,HI, got {s:?}"))?;
    let num = |v: &str| {
        v.trim()
            .parse::<f32>()
            .map_err(|_| format!("{v:?} is not a number"))
    };
    Ok((num(lo)?, num(hi)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamp_takes_lo_comma_hi() {
        assert_eq!(parse_pair("-1, 2.5"), Ok((-1.0, 2.5)));
        assert!(parse_pair("1").unwrap_err().contains("expected LO,HI"));
        assert!(parse_pair("a,1").unwrap_err().contains("not a number"));
    }

    #[test]
    fn quiet_is_global() {
        let cli = Cli::try_parse_from(["ebm", "info", "--quiet"]).unwrap();
        assert!(cli.quiet);
        let cli = Cli::try_parse_from(["ebm", "-q", "info"]).unwrap();
        assert!(cli.quiet);
        assert!(!Cli::try_parse_from(["ebm", "info"]).unwrap().quiet);
    }
}
