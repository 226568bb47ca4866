#!/usr/bin/env python3
"""PyTorch counterpart of `ebm train`: the same energy model, objective, sampler and
hyperparameters, trained in PyTorch (float32) and timed per training step.

Usage:
    python benches/pytorch_train.py --data Y.npy [--x X.npy] [--hidden 64,64]
        [--activation silu] [--output identity|square|softplus] [--outputs M]
        [--init M.safetensors] [--objective cd|nce] [--steps N] [--batch B] [--lr LR]
        [--optimizer adam|sgd] [--weight-decay WD] [--clip C] [--alpha A] [--buffer S]
        [--reinit P] [--negative-steps K] [--negative-step-size ETA]
        [--negative-temperature T] [--seed SEED] [--warmup W] [--device cpu|cuda]
        [--variant eager|compile] [--out M.safetensors] [--log FILE.csv] [--log-every L]

    python benches/pytorch_train.py --data ring.npy --hidden 64,64 --activation silu \\
        --steps 300 --device cpu --out ring.safetensors --log ring.csv

Model. E(x, y) = out(MLP(concat(x, y))): nn.Linear layers of the --hidden widths with one
--activation (relu, leaky_relu, tanh, sigmoid, silu, gelu, gelu_tanh, softplus; the modules
of examples/export_pytorch.py) after every hidden layer, and a last layer with 1 output (M
with --outputs M, `square` only) whose outputs f go through --output: identity (E = f),
square (E = sum f^2) or softplus (E = softplus(f)). Weights: PyTorch's default nn.Linear
initialisation drawn after torch.manual_seed(--seed) on the CPU (the same numbers on every
device), or with --init the weights of an ebm safetensors file (layers.{i}.weight [out, in],
layers.{i}.bias, metadata ebm.x_dim, ebm.y_dim, ebm.activation, ebm.output), whose
architecture then replaces --hidden/--activation/--output/--outputs (giving one of those
flags with a different value is an error).

Data. --data Y.npy is [N, y_dim] float32, --x X.npy (optional) [N, x_dim] float32 with the
same N; x_dim = 0 without --x. No NaN or infinity. The noise distribution q is the
per-coordinate Gaussian N(mu_k, sd_k^2), mu and sd the mean and population standard
deviation (ddof 0) of the y columns, computed once in float64 and rounded to float32 (a
constant column, sd 0, is refused: q would have no density).

One training step (t = 0 .. N-1, batch B):
  1. Positives: B rows drawn uniformly with replacement from the data (their x and y).
  2. Negatives, one per positive with the positive's x:
     --objective cd (default): with --buffer S > 0 (persistent; S = 10000 by default, B <= S)
       a replay buffer of S negatives, filled from q before the first step; each step draws an
       offset o in [0, S) and takes slots (o + c) mod S, c = 0 .. B-1, and each negative
       independently (probability --reinit p, 0.05) starts from a fresh draw of q instead of
       its slot. With --buffer 0 every negative starts from q (short-run). Then K
       (--negative-steps, 20) steps of Langevin dynamics on E(x, .), weights fixed:
           y <- y - eta * dE/dy + sqrt(2 eta T) * N(0, I)
       (eta --negative-step-size 0.01, T --negative-temperature 1.0); the refined negatives go
       back to their slots. loss = mean E(x, y+) - mean E(x, y-)
                                   + alpha * (mean E(x, y+)^2 + mean E(x, y-)^2)
       (alpha --alpha 1.0; the negatives are constants for the weight gradient).
     --objective nce: B negatives y- ~ q, no Langevin; with the logit
       s(y) = -E(x, y) - log q(y), loss = mean softplus(-s(y+)) + mean softplus(s(y-)).
  3. The gradient of the loss w.r.t. the weights, clipped to global L2 norm --clip C (1.0;
     0: no clipping) by torch.nn.utils.clip_grad_norm_, then one optimiser update with
     --lr (1e-3): --optimizer adam is torch.optim.AdamW(betas (0.9, 0.999), eps 1e-8,
     weight_decay --weight-decay, 0.0: decoupled decay); --optimizer sgd is plain SGD with
     ebm's decoupled decay theta -= lr * wd * theta applied by hand before the gradient
     update (torch.optim.SGD's own weight_decay adds wd * theta to the gradient, i.e.
     coupled, and is not used).

Random numbers come from one torch.Generator on the device seeded with --seed (so they are
not ebm's numbers; the same seed gives the same run for eager and compile). Per step they are
drawn in this order: the positives' row indices; then, cd with a buffer: the offset, B fresh
draws of q (all B, used where reinitialised) and B uniforms for the reinit test; cd without
a buffer: B draws of q; nce: B draws of q; then one N(0, I) [B, y_dim] per Langevin step.

Variants: eager (default): autograd.grad w.r.t. y for each Langevin step, loss.backward()
for the weights. compile: torch.compile (dynamic=False) of one Langevin step (torch.func.grad
w.r.t. y) and of the loss (forward of positives and negatives together); the noise is drawn
outside the compiled code, the optimiser runs eagerly. If compilation fails (e.g. no C++
compiler for the CPU backend) the reason goes to stderr and the script exits with status 3.

Timing. --warmup W steps (5; for compile they include the compilation) are run first and not
counted; then the weights, optimiser state, replay buffer and generator are reset to their
initial state and the --steps N steps are timed as one span of wall-clock time (with CUDA,
synchronised before each clock read). The span holds the whole steps: sampling positives
and negatives, Langevin, loss, backward, clipping and the update, plus ten progress read-
backs (one loss value each, printed to stderr every 10% of the steps). The buffer fill and
optimiser creation are outside it. Matmuls run in full float32 (no TF32).

Output: one JSON line on stdout,
    {"backend": "pytorch-cpu"|"pytorch-cuda", "variant", "steps", "batch", "seconds",
     "ms_per_step", "final_loss", "device_name"}
(final_loss: the loss of the last timed step; null if it is not finite). --out M.safetensors
writes the trained model in ebm's format (examples/export_pytorch.export), so `ebm` can score
it. --log FILE.csv writes rows step,loss,energy_pos,energy_neg,grad_norm for the timed run at
steps 0, L, 2L, ... and the last step (L = --log-every, 100): the loss and mean energies of
positives and negatives of that step (for nce, the noise samples are the negatives) and the
global gradient norm before clipping. The logged values stay on the device until the run
ends (no extra synchronisation). Progress goes to stderr; nothing else goes to stdout.

Exit status: 0 on success, 2 for a usage error (bad flag value, missing or malformed input
file, --batch larger than --buffer, ...; one line on stderr), 3 if --variant compile cannot
compile, 1 for anything else.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

try:
    import numpy as np
except ImportError:
    np = None
try:
    import torch
    from torch import nn
    import torch.nn.functional as F
except ImportError:
    torch = None

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benches"))
sys.path.insert(0, str(ROOT / "examples"))
import pytorch_baseline as baseline  # noqa: E402  (sibling file: adapter_name, sync)

VARIANTS = ("eager", "compile")
OBJECTIVES = ("cd", "nce")
OPTIMIZERS = ("adam", "sgd")
ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid", "silu", "gelu", "gelu_tanh", "softplus")
OUTPUTS = ("identity", "square", "softplus")
# Defaults of the architecture flags, used when neither the flag nor --init gives them.
DEFAULT_HIDDEN = [64, 64]
DEFAULT_ACTIVATION = "silu"
DEFAULT_OUTPUT = "identity"
LOG_COLUMNS = ("step", "loss", "energy_pos", "energy_neg", "grad_norm")
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


class UsageError(Exception):
    """A user error: printed as one line, exit status 2."""


class CompileFailed(Exception):
    """torch.compile failed on the first compiled step; the message says why."""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block) and exit status 2."""

    def error(self, message):
        self.exit(2, f"error: {message}\n")


# argparse types ------------------------------------------------------------------------------

def _number(kind, low=None, low_open=False, high=None):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a {'whole number' if kind is int else 'number'}, got {text!r}"
            ) from None
        if kind is float and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be finite, got {text!r}")
        if low is not None and (value <= low if low_open else value < low):
            raise argparse.ArgumentTypeError(
                f"must be {'above' if low_open else 'at least'} {low}, got {text}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high}, got {text}")
        return value

    return parse


def _hidden(text):
    """'64,64' -> [64, 64]; '' -> [] (no hidden layer)."""
    parts = [p.strip() for p in text.split(",")]
    if parts == [""]:
        return []
    try:
        widths = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated whole numbers such as 64,64, got {text!r}") from None
    if any(w < 1 for w in widths):
        raise argparse.ArgumentTypeError(f"every width must be at least 1, got {text!r}")
    return widths


def build_parser() -> Parser:
    parser = Parser(
        description="Train ebm's energy model in PyTorch (same objective, sampler and "
                    "hyperparameters as `ebm train`) and time the training steps.",
        epilog="example: %(prog)s --data ring.npy --hidden 64,64 --steps 300 --device cpu",
    )
    g = parser.add_argument_group("data and model")
    g.add_argument("--data", required=True, metavar="Y.npy", help="[N, y_dim] float32 targets")
    g.add_argument("--x", metavar="X.npy", help="[N, x_dim] float32 conditions (x_dim 0 without)")
    g.add_argument("--hidden", type=_hidden, metavar="W1,W2,...",
                   help="hidden widths (default 64,64; '' for none)")
    g.add_argument("--activation", choices=ACTIVATIONS, help="(default silu)")
    g.add_argument("--output", choices=OUTPUTS, help="output function (default identity)")
    g.add_argument("--outputs", type=_number(int, 1), metavar="M",
                   help="outputs of the last layer, square only (default 1)")
    g.add_argument("--init", metavar="M.safetensors",
                   help="start from this ebm model (architecture and weights)")
    g = parser.add_argument_group("training")
    g.add_argument("--objective", choices=OBJECTIVES, default="cd", help="(default cd)")
    g.add_argument("--steps", type=_number(int, 1), default=1000, help="training steps (1000)")
    g.add_argument("--batch", type=_number(int, 1), default=256, help="batch size B (256)")
    g.add_argument("--lr", type=_number(float, 0.0, low_open=True), default=1e-3,
                   help="learning rate (1e-3)")
    g.add_argument("--optimizer", choices=OPTIMIZERS, default="adam", help="(default adam)")
    g.add_argument("--weight-decay", type=_number(float, 0.0), default=0.0,
                   help="decoupled weight decay (0)")
    g.add_argument("--clip", type=_number(float, 0.0), default=1.0,
                   help="global gradient-norm clip, 0 = none (1.0)")
    g.add_argument("--alpha", type=_number(float, 0.0), default=1.0,
                   help="cd energy regulariser weight (1.0)")
    g.add_argument("--buffer", type=_number(int, 0), default=10000,
                   help="cd replay buffer size S, 0 = short-run (10000)")
    g.add_argument("--reinit", type=_number(float, 0.0, high=1.0), default=0.05,
                   help="cd probability of restarting a negative from q (0.05)")
    g.add_argument("--negative-steps", type=_number(int, 0), default=20,
                   help="cd Langevin steps K (20)")
    g.add_argument("--negative-step-size", type=_number(float, 0.0), default=0.01,
                   help="cd Langevin step size eta (0.01)")
    g.add_argument("--negative-temperature", type=_number(float, 0.0), default=1.0,
                   help="cd Langevin temperature T (1.0)")
    g.add_argument("--seed", type=_number(int, 0), default=0, help="random seed (0)")
    g = parser.add_argument_group("run and output")
    g.add_argument("--warmup", type=_number(int, 0), default=5,
                   help="untimed steps before the reset and the timed run (5)")
    g.add_argument("--device", choices=("cpu", "cuda"),
                   help="PyTorch device (default: cuda if available)")
    g.add_argument("--variant", choices=VARIANTS, default="eager", help="(default eager)")
    g.add_argument("--out", metavar="M.safetensors", help="write the trained model here")
    g.add_argument("--log", metavar="FILE.csv", help="write step,loss,energy_pos,energy_neg,"
                                                     "grad_norm rows here")
    g.add_argument("--log-every", type=_number(int, 1), default=100,
                   help="steps between log rows (100)")
    return parser


# inputs ---------------------------------------------------------------------------------------

def load_matrix(flag: str, path: str) -> "np.ndarray":
    """A finite [N, d] float32 array from a .npy file, or UsageError naming the flag and file."""
    where = f"{flag} {path}"
    if not os.path.exists(path):
        raise UsageError(f"{where}: no such file")
    if os.path.isdir(path):
        raise UsageError(f"{where}: is a directory, expected a .npy file")
    try:
        a = np.load(path, allow_pickle=False)
    except Exception as e:  # ValueError, OSError, pickle refusals...
        raise UsageError(f"{where}: not a readable .npy file ({type(e).__name__}: "
                         f"{str(e).strip().splitlines()[0] if str(e).strip() else 'unknown'})")
    if not isinstance(a, np.ndarray):
        raise UsageError(f"{where}: holds several arrays (.npz); expected one .npy array")
    if a.dtype != np.float32:
        raise UsageError(f"{where}: dtype is {a.dtype}, expected float32 "
                         "(convert with a.astype(numpy.float32))")
    if a.ndim != 2:
        raise UsageError(f"{where}: shape {list(a.shape)} has rank {a.ndim}, expected [N, dim]")
    if a.shape[0] < 1:
        raise UsageError(f"{where}: has no rows")
    bad = ~np.isfinite(a)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise UsageError(f"{where}: {int(bad.sum())} non-finite value(s) (NaN or infinity), "
                         f"the first at row {row}, column {col}")
    return np.ascontiguousarray(a)


def load_init(path: str) -> tuple[dict, list[tuple["torch.Tensor", "torch.Tensor"]]]:
    """The metadata and (weight, bias) pairs of an ebm safetensors file; UsageError if bad."""
    where = f"--init {path}"
    if not os.path.isfile(path):
        raise UsageError(f"{where}: no such file")
    try:
        from safetensors import safe_open
    except ImportError:
        raise UsageError("--init needs the safetensors package (pip install safetensors)")
    try:
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:
        raise UsageError(f"{where}: not a readable safetensors file ({type(e).__name__}: "
                         f"{str(e).strip().splitlines()[0] if str(e).strip() else 'unknown'})")
    for key in ("ebm.x_dim", "ebm.y_dim", "ebm.activation", "ebm.output"):
        if key not in meta:
            raise UsageError(f"{where}: metadata {key} is missing (not an ebm model file)")
    try:
        meta["ebm.x_dim"], meta["ebm.y_dim"] = int(meta["ebm.x_dim"]), int(meta["ebm.y_dim"])
    except ValueError:
        raise UsageError(f"{where}: metadata ebm.x_dim/ebm.y_dim are not whole numbers")
    if meta["ebm.activation"] not in ACTIVATIONS:
        raise UsageError(f"{where}: unknown activation {meta['ebm.activation']!r}")
    if meta["ebm.output"] not in OUTPUTS:
        raise UsageError(f"{where}: unknown output {meta['ebm.output']!r}")
    layers = []
    while f"layers.{len(layers)}.weight" in tensors:
        i = len(layers)
        w, b = tensors[f"layers.{i}.weight"], tensors.get(f"layers.{i}.bias")
        if b is None:
            raise UsageError(f"{where}: layers.{i}.bias is missing")
        if w.ndim != 2 or b.ndim != 1 or b.shape[0] != w.shape[0]:
            raise UsageError(f"{where}: layers.{i}.weight {list(w.shape)} and layers.{i}.bias "
                             f"{list(b.shape)} are not [out, in] and [out]")
        want_in = meta["ebm.x_dim"] + meta["ebm.y_dim"] if i == 0 else layers[-1][0].shape[0]
        if w.shape[1] != want_in:
            raise UsageError(f"{where}: layers.{i}.weight has {w.shape[1]} inputs, expected "
                             f"{want_in}")
        layers.append((w.to(torch.float32), b.to(torch.float32)))
    if not layers:
        raise UsageError(f"{where}: no layers.0.weight")
    extra = sorted(set(tensors) - {f"layers.{i}.{p}" for i in range(len(layers))
                                   for p in ("weight", "bias")})
    if extra:
        raise UsageError(f"{where}: unexpected tensor {extra[0]}")
    return meta, layers


def check_writable(flag: str, path: str) -> None:
    """UsageError unless `path` can be created (checked before training, not after)."""
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError(f"{flag} {path}: is a directory")
    if not os.path.isdir(parent):
        raise UsageError(f"{flag} {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise UsageError(f"{flag} {path}: not writable")


def activation_module(name: str) -> "nn.Module":
    return {
        "relu": lambda: nn.ReLU(),
        "leaky_relu": lambda: nn.LeakyReLU(0.01),
        "tanh": lambda: nn.Tanh(),
        "sigmoid": lambda: nn.Sigmoid(),
        "silu": lambda: nn.SiLU(),
        "gelu": lambda: nn.GELU(),
        "gelu_tanh": lambda: nn.GELU(approximate="tanh"),
        "softplus": lambda: nn.Softplus(),
    }[name]()


def build_net(widths: list[int], activation: str) -> "nn.Sequential":
    """Linear, act, ..., Linear over `widths` (input, hidden..., outputs), default init."""
    modules = []
    for i, (n_in, n_out) in enumerate(zip(widths, widths[1:])):
        if i:
            modules.append(activation_module(activation))
        modules.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*modules)


def resolve(args: argparse.Namespace):
    """Loads and checks every input; returns (net on CPU, x_data, y_data). UsageError if bad."""
    y_np = load_matrix("--data", args.data)
    x_np = load_matrix("--x", args.x) if args.x else np.zeros((y_np.shape[0], 0), np.float32)
    if x_np.shape[0] != y_np.shape[0]:
        raise UsageError(f"--x {args.x} has {x_np.shape[0]} rows but --data {args.data} has "
                         f"{y_np.shape[0]}; they must have the same N")
    x_dim, y_dim = x_np.shape[1], y_np.shape[1]
    if args.device is None:
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    elif args.device == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device cuda: this PyTorch ({torch.__version__}) sees no CUDA device")
    if args.objective == "cd" and args.buffer > 0 and args.batch > args.buffer:
        raise UsageError(f"--batch {args.batch} is larger than --buffer {args.buffer}: the "
                         "replay buffer must hold a whole batch (or --buffer 0 for short-run "
                         "negatives)")
    sd = y_np.astype(np.float64).std(axis=0)
    if (sd == 0).any():
        k = int(np.flatnonzero(sd == 0)[0])
        raise UsageError(f"--data {args.data}: column {k} is constant (standard deviation 0); "
                         "the Gaussian noise distribution q needs sd > 0 in every column")
    args.mu = y_np.astype(np.float64).mean(axis=0).astype(np.float32)
    args.sd = sd.astype(np.float32)
    for flag in ("out", "log"):
        if getattr(args, flag):
            check_writable(f"--{flag}", getattr(args, flag))

    torch.manual_seed(args.seed)
    if args.init:
        meta, layers = load_init(args.init)
        if (meta["ebm.x_dim"], meta["ebm.y_dim"]) != (x_dim, y_dim):
            raise UsageError(
                f"--init {args.init}: model has x_dim {meta['ebm.x_dim']}, y_dim "
                f"{meta['ebm.y_dim']} but the data have x_dim {x_dim} (--x), y_dim {y_dim} "
                "(--data)")
        widths = [x_dim + y_dim] + [w.shape[0] for w, _ in layers]
        from_file = {"hidden": widths[1:-1], "activation": meta["ebm.activation"],
                     "output": meta["ebm.output"], "outputs": widths[-1]}
        for flag, value in from_file.items():
            given = getattr(args, flag)
            # The activation of a model without hidden layers is never applied.
            if flag == "activation" and not from_file["hidden"]:
                continue
            if given is not None and given != value:
                shown = ",".join(map(str, value)) if flag == "hidden" else value
                raise UsageError(f"--{flag} conflicts with --init {args.init}, which has "
                                 f"{flag} {shown}")
            setattr(args, flag, value)
        net = build_net(widths, args.activation or DEFAULT_ACTIVATION)
        with torch.no_grad():
            for lin, (w, b) in zip(net[::2], layers):
                lin.weight.copy_(w)
                lin.bias.copy_(b)
    else:
        if args.hidden is None:
            args.hidden = list(DEFAULT_HIDDEN)
        args.activation = args.activation or DEFAULT_ACTIVATION
        args.output = args.output or DEFAULT_OUTPUT
        args.outputs = args.outputs or 1
        net = build_net([x_dim + y_dim, *args.hidden, args.outputs], args.activation)
    if args.outputs != 1 and args.output != "square":
        raise UsageError(f"--outputs {args.outputs} needs --output square (identity and "
                         "softplus take exactly one output)")
    args.x_dim, args.y_dim = x_dim, y_dim
    return net, x_np, y_np


# training -------------------------------------------------------------------------------------

class Trainer:
    """The training loop of `ebm train`, in PyTorch, with a reset to the initial state."""

    def __init__(self, args, net, x_np, y_np):
        from export_pytorch import energy

        self.args = a = args
        dev = self.device = torch.device(args.device)
        self.net = net.to(dev)
        self.params = [p for p in self.net.parameters()]
        self.initial = [p.detach().clone() for p in self.params]
        self.x = torch.from_numpy(x_np).to(dev)
        self.y = torch.from_numpy(y_np).to(dev)
        self.n = self.y.shape[0]
        self.mu = torch.from_numpy(args.mu).to(dev)
        self.sd = torch.from_numpy(args.sd).to(dev)
        self.log_sd_sum = float(np.log(args.sd.astype(np.float64)).sum())
        self.gen = torch.Generator(device=dev).manual_seed(args.seed)
        self.gen_initial = self.gen.get_state()
        self.persistent = a.objective == "cd" and a.buffer > 0
        self.eta = a.negative_step_size
        self.noise_scale = math.sqrt(2 * a.negative_step_size * a.negative_temperature)
        self.offsets = torch.arange(a.batch, device=dev)
        output = a.output

        def energies(x, y):
            return energy(self.net, x, y, output)

        self.energies = energies

        if a.objective == "cd":
            def loss_terms(x, y_pos, y_neg):
                e = energies(torch.cat([x, x]), torch.cat([y_pos, y_neg]))
                e_pos, e_neg = e[: a.batch], e[a.batch:]
                loss = (e_pos.mean() - e_neg.mean()
                        + a.alpha * ((e_pos * e_pos).mean() + (e_neg * e_neg).mean()))
                return loss, e_pos.mean(), e_neg.mean()
        else:
            def log_q(y):
                z = (y - self.mu) / self.sd
                return -0.5 * (z * z).sum(1) - (self.log_sd_sum + a.y_dim * HALF_LOG_2PI)

            def loss_terms(x, y_pos, y_neg):
                e = energies(torch.cat([x, x]), torch.cat([y_pos, y_neg]))
                s = -e - log_q(torch.cat([y_pos, y_neg]))
                s_pos, s_neg = s[: a.batch], s[a.batch:]
                loss = F.softplus(-s_pos).mean() + F.softplus(s_neg).mean()
                return loss, e[: a.batch].mean(), e[a.batch:].mean()

        if a.variant == "compile":
            grad_y = torch.func.grad(lambda y, x: energies(x, y).sum())

            def langevin_fn(x, y, noise):
                return y - self.eta * grad_y(y, x) + self.noise_scale * noise

            compiled_step = torch.compile(langevin_fn, dynamic=False)

            def langevin(x, y, noise):
                with torch.no_grad():  # func.grad still differentiates w.r.t. y inside
                    return compiled_step(x, y, noise)

            self.langevin = langevin
            self.loss_terms = torch.compile(loss_terms, dynamic=False)
        else:
            def langevin(x, y, noise):
                with torch.enable_grad():
                    y = y.detach().requires_grad_(True)
                    (g,) = torch.autograd.grad(energies(x, y).sum(), y)
                return (y.detach() - self.eta * g + self.noise_scale * noise)

            self.langevin = langevin
            self.loss_terms = loss_terms
        self.compiled_ok = a.variant != "compile"

    def q_sample(self, rows: int) -> "torch.Tensor":
        eps = torch.randn(rows, self.args.y_dim, generator=self.gen, device=self.device)
        return self.mu + self.sd * eps

    def reset(self) -> None:
        """Initial weights, a fresh optimiser, the generator as seeded, a fresh buffer."""
        a = self.args
        with torch.no_grad():
            for p, p0 in zip(self.params, self.initial):
                p.copy_(p0)
        for p in self.params:
            p.grad = None
        self.gen.set_state(self.gen_initial)
        if a.optimizer == "adam":
            self.opt = torch.optim.AdamW(self.params, lr=a.lr, betas=(0.9, 0.999), eps=1e-8,
                                         weight_decay=a.weight_decay)
        else:
            self.opt = torch.optim.SGD(self.params, lr=a.lr, momentum=0.0, weight_decay=0.0)
        self.buffer = self.q_sample(a.buffer) if self.persistent else None

    def negatives(self, x: "torch.Tensor") -> "torch.Tensor":
        a, gen, dev = self.args, self.gen, self.device
        if a.objective == "nce":
            return self.q_sample(a.batch)
        if self.persistent:
            o = torch.randint(a.buffer, (1,), generator=gen, device=dev)
            slots = (o + self.offsets) % a.buffer
            fresh = self.q_sample(a.batch)
            restart = torch.rand(a.batch, generator=gen, device=dev) < a.reinit
            y = torch.where(restart[:, None], fresh, self.buffer[slots])
        else:
            y = self.q_sample(a.batch)
        for _ in range(a.negative_steps):
            noise = torch.randn(a.batch, a.y_dim, generator=gen, device=dev)
            y = self.langevin(x, y, noise)
        y = y.detach()
        if self.persistent:
            self.buffer[slots] = y
        return y

    def step(self, want_norm: bool):
        """One training step; returns (loss, mean E+, mean E-, grad norm or None) on device."""
        a = self.args
        rows = torch.randint(self.n, (a.batch,), generator=self.gen, device=self.device)
        x, y_pos = self.x[rows], self.y[rows]
        y_neg = self.negatives(x)
        loss, e_pos, e_neg = self.loss_terms(x, y_pos, y_neg)
        for p in self.params:
            p.grad = None
        loss.backward()
        norm = None
        if a.clip > 0:
            norm = torch.nn.utils.clip_grad_norm_(self.params, a.clip)
        elif want_norm:
            norm = torch.linalg.vector_norm(
                torch.stack([torch.linalg.vector_norm(p.grad) for p in self.params]))
        if a.optimizer == "sgd" and a.weight_decay > 0:
            with torch.no_grad():  # ebm's decoupled decay, before the gradient update
                torch._foreach_mul_(self.params, 1.0 - a.lr * a.weight_decay)
        self.opt.step()
        return loss.detach(), e_pos.detach(), e_neg.detach(), norm

    def guarded_step(self, want_norm: bool):
        """step(), turning a failure of the first compiled step into CompileFailed."""
        if self.compiled_ok:
            return self.step(want_norm)
        try:
            out = self.step(want_norm)
            baseline.sync(self.args.device)
        except Exception as e:
            lines = str(e).strip().splitlines()
            raise CompileFailed(f"{type(e).__name__}: {lines[0] if lines else ''}") from e
        self.compiled_ok = True
        return out

    def run(self, steps: int, progress: bool, log_every: int | None):
        """`steps` steps from the current state; returns (seconds, last loss, log rows)."""
        rows = []
        every = max(1, math.ceil(steps / 10))
        baseline.sync(self.args.device)
        start = time.perf_counter()
        loss = None
        for t in range(steps):
            logged = log_every is not None and (t % log_every == 0 or t == steps - 1)
            loss, e_pos, e_neg, norm = self.guarded_step(logged)
            if logged:
                nan = torch.full((), float("nan"), device=self.device)
                rows.append((t, torch.stack([loss, e_pos, e_neg,
                                             norm.detach() if norm is not None else nan])))
            if progress and ((t + 1) % every == 0 or t == steps - 1):
                value = loss.item()
                print(f"step {t + 1}/{steps}  loss {value:.6g}  "
                      f"{time.perf_counter() - start:.2f} s", file=sys.stderr, flush=True)
        baseline.sync(self.args.device)
        seconds = time.perf_counter() - start
        return seconds, (loss.item() if loss is not None else float("nan")), rows


def write_log(path: str, rows) -> None:
    with open(path, "w") as f:
        f.write(",".join(LOG_COLUMNS) + "\n")
        for t, values in rows:
            f.write(f"{t}," + ",".join(f"{v:.9g}" for v in values.cpu().tolist()) + "\n")


def main() -> int:
    parser = build_parser()
    args = parser.parse_args()
    if torch is None or np is None:
        raise UsageError("this script needs PyTorch and NumPy (pip install torch numpy)")
    net, x_np, y_np = resolve(args)
    torch.set_float32_matmul_precision("highest")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    trainer = Trainer(args, net, x_np, y_np)
    backend = f"pytorch-{args.device}"
    arch = ",".join(map(str, args.hidden)) or "none"
    print(f"{backend} {args.variant}: {args.objective}, hidden {arch} {args.activation}, "
          f"output {args.output}, batch {args.batch}, {args.steps} steps "
          f"(+{args.warmup} warm-up)", file=sys.stderr, flush=True)
    try:
        if args.warmup:
            trainer.reset()
            trainer.run(args.warmup, progress=False, log_every=None)
        trainer.reset()
        seconds, final_loss, rows = trainer.run(args.steps, progress=True,
                                                log_every=args.log_every if args.log else None)
    except CompileFailed as e:
        print(f"error: --variant compile: torch.compile failed ({e}); "
              "use --variant eager, or install what it needs (a C++ compiler for the CPU "
              "backend, Triton for CUDA)", file=sys.stderr)
        return 3
    if args.log:
        write_log(args.log, rows)
    if args.out:
        from export_pytorch import export

        try:
            export(trainer.net, args.out, args.x_dim, args.y_dim, args.output)
        except ValueError as e:  # non-finite weights after a diverged run
            print(f"error: --out {args.out}: not written: {e}", file=sys.stderr)
            return 1
    if not math.isfinite(final_loss):
        print(f"warning: the final loss is {final_loss}", file=sys.stderr)
    record = {
        "backend": backend,
        "variant": args.variant,
        "steps": args.steps,
        "batch": args.batch,
        "seconds": seconds,
        "ms_per_step": 1000 * seconds / args.steps,
        "final_loss": final_loss if math.isfinite(final_loss) else None,
        "device_name": baseline.adapter_name(args.device),
    }
    print(json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
