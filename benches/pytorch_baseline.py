#!/usr/bin/env python3
"""PyTorch baseline for `ebm bench`: the same refinement jobs, timed in PyTorch (float32).

Usage:
    python benches/pytorch_baseline.py [--workload r1|latency|toy2d] [--batch B] [--steps K]
        [--runs N] [--device cpu|cuda] [--variants eager,compile,cudagraph] [--suite] [--json]

    python benches/pytorch_baseline.py --workload r1 --batch 64 --steps 5 --runs 1 --device cpu

Each job is E(x, y) = MLP(concat(x, y)) (nn.Linear layers, SiLU after every hidden layer, one
output taken as the energy) refined for K steps of

    y <- y - eta * dE/dy + sqrt(2 * eta * T) * N(0, I)      (eta 0.01, T 0.001)

(resln: the pre-norm residual net of ebm's `resln` workload, h = W [x, y], twice
h += W gelu(LayerNorm(h)), E = w . h + 0.1 |y|^2, 256 wide, batch 8192, K 100, in the suite)
with the workloads, batch sizes and flag semantics of `ebm bench` (src/bin/ebm/workloads.rs): r1 (x_dim 32,
y_dim 32, hidden [256, 256, 256], batches 1024 and 8192, K 100), latency (the r1 model, batch
64, K 1000), toy2d (x_dim 2, y_dim 2, hidden [64, 64], batch 65536, K 1000), and with `--suite`
(as `ebm bench --suite`) r1 at batch 65536, K 100 too; `--batch` and `--steps` override every
selected job. Weights are PyTorch's default nn.Linear initialisation
(seed 0; not the same numbers as ebm's, the same shapes), x and y0 uniform in [-1, 1).

Variants (default: every one the device has):
    eager      one Python loop over K; torch.autograd.grad of the summed energies w.r.t. y
    compile    torch.compile of one step (torch.func.grad)
    cudagraph  CUDA only: a block of gcd(K, 10) steps (torch.func.grad) captured in a
               torch.cuda.CUDAGraph on static tensors, replayed until K steps are done
Where compilation or capture fails (e.g. no C++ compiler for compile on CPU), that variant is
skipped for the remaining jobs and the reason goes to stderr.

A timed run is one whole refinement: x and y0 copied from host memory to the device, K steps,
y copied back (the same span as ebm's `wall_seconds`). A one-step warm-up (for compile: the
compilation; for cudagraph: the capture and one replay of the block) is excluded; the median
of `--runs` runs is reported. Matmuls run in full float32 (no TF32). Output: one record per (job,
variant) with the fields of ebm's `Record`, as an aligned table or, with `--json`, a JSON
array; backend is pytorch-cpu or pytorch-cuda, kernel is torch-<variant>, timer is wall, and
GFLOP/s counts 4 P FLOPs per chain-step (P = multiply-adds of one forward pass).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from dataclasses import dataclass

try:
    import torch
    from torch import nn
except ImportError:
    torch = None

STEP_SIZE = 0.01
TEMPERATURE = 0.001
VARIANTS = ("eager", "compile", "cudagraph")
# Most steps captured in one CUDA graph; the block is gcd(K, this), so it divides K.
CUDA_GRAPH_BLOCK = 10


@dataclass
class Job:
    """One benchmark job, as in ebm's `bench::Workload` (seed-0 weights, one output)."""

    name: str
    x_dim: int
    y_dim: int
    hidden: list[int]
    batch: int
    steps: int
    # "mlp", or "resln": ebm's pre-norm residual workload (ebm::energy::samples::
    # pre_norm_residual), hidden[0] wide.
    kind: str = "mlp"

    def multiply_adds(self) -> int:
        """P, the multiply-adds of one forward pass of one chain (its linear layers)."""
        if self.kind == "resln":
            w = self.hidden[0]
            return (self.x_dim + self.y_dim) * w + 2 * w * w + w
        widths = [self.x_dim + self.y_dim, *self.hidden, 1]
        return sum(a * b for a, b in zip(widths, widths[1:]))


def workloads() -> list[Job]:
    """Every standard workload, in the order `ebm bench` runs them."""
    return [
        Job("r1", 32, 32, [256, 256, 256], 1024, 100),
        Job("r1", 32, 32, [256, 256, 256], 8192, 100),
        Job("latency", 32, 32, [256, 256, 256], 64, 1000),
        Job("toy2d", 2, 2, [64, 64], 65536, 1000),
    ]


def suite() -> list[Job]:
    """The jobs of `ebm bench --suite` (`bench::suite`): every standard workload, r1 at batch
    65536 (the batch of the FMA-peak target), and resln at batch 8192."""
    return [*workloads(), Job("r1", 32, 32, [256, 256, 256], 65536, 100),
            Job("resln", 32, 32, [256], 8192, 100, "resln")]


def select_jobs(workload: str | None, batch: int | None, steps: int | None,
                suite_jobs: bool = False) -> list[Job]:
    """The jobs `ebm bench [--suite] --workload W --batch B --steps K` runs (same filtering,
    override and de-duplication of equal jobs, the first kept); `suite_jobs` starts from
    `suite()` instead of `workloads()`."""
    jobs = [j for j in (suite() if suite_jobs or workload else workloads())
            if workload is None or j.name == workload]
    if batch is not None:
        for j in jobs:
            j.batch = batch
        seen = set()
        jobs = [j for j in jobs if not ((j.name, j.batch) in seen or seen.add((j.name, j.batch)))]
    if steps is not None:
        for j in jobs:
            j.steps = steps
    return jobs


def require_torch() -> None:
    """Exits with an installation hint unless PyTorch imported."""
    if torch is None:
        sys.exit("error: PyTorch is not installed for this Python (pip install torch)")


def positive(text: str) -> int:
    """argparse type: a whole number >= 1 (also campaign.py's)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _variants(text: str) -> list[str]:
    names = [v.strip() for v in text.split(",") if v.strip()]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown variant(s) {', '.join(unknown) or repr(text)}; expected a comma-separated "
            f"subset of {','.join(VARIANTS)}"
        )
    return list(dict.fromkeys(names))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The job and PyTorch flags, shared with benches/compare.py."""
    add = parser.add_argument
    add("--workload", choices=("r1", "latency", "toy2d", "resln"), help="only this workload")
    add("--batch", type=positive, help="override the batch size")
    add("--steps", type=positive, help="override the number of steps K")
    add("--runs", type=positive, default=3, help="timed runs per job, median reported (3)")
    add("--device", choices=("cpu", "cuda"), help="PyTorch device (default: cuda if available)")
    add("--variants", type=_variants,
        help="comma-separated subset of eager,compile,cudagraph (default: all the device has)")


def resolve(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Fills in --device and --variants and checks them against this machine (needs torch)."""
    require_torch()
    if args.device is None:
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    elif args.device == "cuda" and not torch.cuda.is_available():
        parser.error(f"--device cuda: this PyTorch ({torch.__version__}) sees no CUDA device")
    if args.variants is None:
        args.variants = [v for v in VARIANTS if v != "cudagraph" or args.device == "cuda"]
    elif "cudagraph" in args.variants and args.device != "cuda":
        parser.error("--variants cudagraph needs --device cuda")


def adapter_name(device: str) -> str:
    """The CUDA device's name, or the CPU model and the threads PyTorch uses."""
    if device == "cuda":
        return torch.cuda.get_device_name()
    model = "CPU"
    try:
        with open("/proc/cpuinfo") as f:
            names = (line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
            model = next(names, model)
    except OSError:
        pass
    return f"{model} ({torch.get_num_threads()} threads)"


def sync(device: str) -> None:
    """Waits for the device's queued work."""
    if device == "cuda":
        torch.cuda.synchronize()


class MlpEnergy(nn.Module if nn is not None else object):
    """E(x, y) = MLP(concat(x, y)), SiLU after every hidden layer, one output."""

    def __init__(self, job: Job):
        super().__init__()
        widths = [job.x_dim + job.y_dim, *job.hidden]
        modules: list[nn.Module] = []
        for n_in, n_out in zip(widths, widths[1:]):
            modules += [nn.Linear(n_in, n_out), nn.SiLU()]
        modules.append(nn.Linear(widths[-1], 1))
        self.net = nn.Sequential(*modules)

    def forward(self, x, y):
        return self.net(torch.cat([x, y], 1)).sum(1)


class ResLnEnergy(nn.Module if nn is not None else object):
    """ebm's resln: h = W [x, y]; twice h += W gelu(LayerNorm(h)); E = w . h + 0.1 |y|^2."""

    def __init__(self, job: Job):
        super().__init__()
        w = job.hidden[0]
        self.inp = nn.Linear(job.x_dim + job.y_dim, w)
        self.norms = nn.ModuleList([nn.LayerNorm(w) for _ in range(2)])
        self.blocks = nn.ModuleList([nn.Linear(w, w) for _ in range(2)])
        self.out = nn.Linear(w, 1)

    def forward(self, x, y):
        h = self.inp(torch.cat([x, y], 1))
        for norm, block in zip(self.norms, self.blocks):
            h = h + block(nn.functional.gelu(norm(h)))
        return self.out(h).sum(1) + 0.1 * (y * y).sum(1)


def build_net(job: Job, device: str) -> nn.Module:
    """The job's energy with seed-0 weights, frozen (gradients flow to y only)."""
    torch.manual_seed(0)
    net = (ResLnEnergy(job) if job.kind == "resln" else MlpEnergy(job)).to(device)
    net.requires_grad_(False)
    return net


def energies(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """E per chain, [batch]."""
    return net(x, y)


def functional_step(net: nn.Module):
    """One refinement step as a pure function of (x, y), differentiated with torch.func."""
    grad = torch.func.grad(lambda y, x: energies(net, x, y).sum())
    noise = math.sqrt(2 * STEP_SIZE * TEMPERATURE)

    def step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return y - STEP_SIZE * grad(y, x) + noise * torch.randn_like(y)

    return step


# Each refiner builder takes (net, job, device) and returns (refine, warm-up steps), where
# refine(x_host, y0_host, steps) runs a whole refinement and returns y in host memory.


def eager_refiner(net, job, device):
    noise = math.sqrt(2 * STEP_SIZE * TEMPERATURE)

    def refine(x_host, y0_host, steps):
        x, y = x_host.to(device, copy=True), y0_host.to(device, copy=True)
        for _ in range(steps):
            y.requires_grad_(True)
            (g,) = torch.autograd.grad(energies(net, x, y).sum(), y)
            with torch.no_grad():
                y = y - STEP_SIZE * g + noise * torch.randn_like(y)
        return y.cpu()

    return refine, 1


def compile_refiner(net, job, device):
    step = torch.compile(functional_step(net), dynamic=False)

    def refine(x_host, y0_host, steps):
        x, y = x_host.to(device, copy=True), y0_host.to(device, copy=True)
        for _ in range(steps):
            y = step(x, y)
        return y.cpu()

    return refine, 1


def cudagraph_refiner(net, job, device):
    step = functional_step(net)
    block = math.gcd(job.steps, CUDA_GRAPH_BLOCK)
    x = torch.zeros(job.batch, job.x_dim, device=device)
    y = torch.zeros(job.batch, job.y_dim, device=device)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up before capture, as torch.cuda.graph asks
        for _ in range(3):
            step(x, y)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(block):
            y.copy_(step(x, y))

    def refine(x_host, y0_host, steps):
        x.copy_(x_host)
        y.copy_(y0_host)
        for _ in range(steps // block):
            graph.replay()
        return y.cpu()

    return refine, block


REFINERS = {"eager": eager_refiner, "compile": compile_refiner, "cudagraph": cudagraph_refiner}


class Skipped(Exception):
    """A variant that cannot run here; the message says why."""


def bench(job: Job, variant: str, device: str, runs: int) -> dict:
    """Times `variant` on `job` and returns a record with the fields of ebm's `Record`."""
    net = build_net(job, device)
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(job.batch, job.x_dim, generator=gen) * 2 - 1
    y0 = torch.rand(job.batch, job.y_dim, generator=gen) * 2 - 1
    try:
        refine, warm_steps = REFINERS[variant](net, job, device)
        refine(x, y0, warm_steps)  # compilation errors surface on this first call
    except Exception as e:
        if variant == "eager":
            raise
        reason = str(e).strip().splitlines()
        raise Skipped(f"{type(e).__name__}: {reason[0] if reason else ''}") from None
    times = []
    for _ in range(runs):
        sync(device)
        start = time.perf_counter()
        refine(x, y0, job.steps)
        sync(device)
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    chain_steps = job.batch * job.steps
    return {
        "adapter": adapter_name(device),
        "backend": f"pytorch-{device}",
        "workload": job.name,
        "kernel": f"torch-{variant}",
        "batch": job.batch,
        "steps": job.steps,
        "seconds": seconds,
        "timer": "wall",
        "wall_seconds": seconds,
        "chain_steps_per_s": chain_steps / seconds,
        "gflops": 4 * job.multiply_adds() * chain_steps / seconds / 1e9,
        "runs": runs,
    }


def run(args: argparse.Namespace, on_record=None) -> tuple[list[dict], dict[str, str]]:
    """Benchmarks every selected job with every variant in `args` (after `resolve`); with
    `args.suite` set (absent: unset), the jobs of `ebm bench --suite`.

    Calls on_record(record) as each one finishes; returns the records and {variant: reason}
    for the variants skipped (each reason also goes to stderr, once)."""
    torch.set_float32_matmul_precision("highest")
    records, skipped = [], {}
    jobs = select_jobs(args.workload, args.batch, args.steps, getattr(args, "suite", False))
    for job in jobs:
        for variant in args.variants:
            if variant in skipped:
                continue
            try:
                record = bench(job, variant, args.device, args.runs)
            except Skipped as e:
                skipped[variant] = str(e)
                print(f"torch-{variant} skipped: {e}", file=sys.stderr)
                continue
            records.append(record)
            if on_record:
                on_record(record)
    return records, skipped


TABLE_HEADER = ("adapter", "backend", "workload", "kernel", "batch", "steps", "seconds", "timer",
                "chain-steps/s", "GFLOP/s")


def table_row(values, adapter_width: int) -> str:
    """One line of the table in ebm's layout (a wider kernel column for torch-cudagraph)."""
    layout = "{:<{w}} {:<12} {:<9} {:<16} {:>7} {:>6} {:>10} {:>5} {:>14} {:>9}"
    return layout.format(*values, w=adapter_width)


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Time the `ebm bench` jobs in PyTorch (float32).",
        epilog="example: %(prog)s --workload r1 --batch 64 --steps 5 --runs 1 --device cpu",
    )
    add_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    parser.add_argument("--suite", action="store_true",
                        help="the jobs of `ebm bench --suite` (adds r1 at batch 65536)")
    args = parser.parse_args()
    resolve(parser, args)
    if args.json:
        records, _ = run(args)
        print(json.dumps(records, indent=2))
        return
    width = max(28, len(adapter_name(args.device)))
    print(f"torch {torch.__version__}, device {args.device}, "
          f"variants {','.join(args.variants)}")
    print(table_row(TABLE_HEADER, width))

    def show(r: dict) -> None:
        cells = [r[k] for k in ("adapter", "backend", "workload", "kernel", "batch", "steps")]
        cells += [f"{r['seconds']:.4f}", r["timer"], f"{r['chain_steps_per_s']:.0f}",
                  f"{r['gflops']:.2f}"]
        print(table_row(cells, width), flush=True)

    run(args, show)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
