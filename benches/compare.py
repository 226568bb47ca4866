#!/usr/bin/env python3
"""Run `ebm bench` and the PyTorch baseline on the same jobs and print one markdown table.

Usage:
    python benches/compare.py [--workload r1|latency|toy2d] [--batch B] [--steps K] [--runs N]
        [--device cpu|cuda] [--variants eager,compile,cudagraph] [--ebm PATH] [--kernel PATH]
        [--json-out FILE]

    WGPU_BACKEND=vulkan python benches/compare.py --workload r1 --batch 64 --steps 5 --runs 1

Runs `ebm bench --json` with the same --workload/--batch/--steps/--runs (the binary is --ebm,
by default release/ebm of cargo's target folder, $CARGO_TARGET_DIR or target/ of this
repository, built with `cargo build --release` first if it is missing), then benches/pytorch_baseline.py in this process with those settings and
--device/--variants. Prints both sides' adapters, then one row per job: ebm's chain-steps/s,
each PyTorch variant's, and ebm / the best PyTorch variant. `--json-out FILE` saves every raw
record of both sides (the fields of ebm's `Record`) as one JSON array. The environment passes
through to ebm unchanged (WGPU_BACKEND, WGPU_ADAPTER_NAME choose its adapter).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pytorch_baseline as baseline  # noqa: E402  (a sibling file, not an installed module)

ROOT = Path(__file__).resolve().parent.parent
# Where cargo builds: $CARGO_TARGET_DIR (relative to the current directory, as cargo reads
# it), else target/ of the repository.
TARGET_DIR = (Path(os.environ["CARGO_TARGET_DIR"]).absolute()
              if os.environ.get("CARGO_TARGET_DIR") else ROOT / "target")
DEFAULT_EBM = TARGET_DIR / "release" / "ebm"


def ebm_binary(path: Path) -> Path:
    """`path`, after building it with cargo when it is this repository's missing release binary."""
    if path.is_file():
        return path
    if path.resolve() != DEFAULT_EBM:
        sys.exit(f"error: --ebm {path}: no such file")
    print(f"{DEFAULT_EBM} does not exist; running cargo build --release in {ROOT}",
          file=sys.stderr, flush=True)
    try:
        # The target folder made absolute: cargo runs in ROOT, not here.
        env = {**os.environ, "CARGO_TARGET_DIR": str(TARGET_DIR)}
        subprocess.run(["cargo", "build", "--release"], cwd=ROOT, env=env, check=True)
    except FileNotFoundError:
        sys.exit("error: cargo is not on PATH; build ebm first or pass --ebm PATH")
    except subprocess.CalledProcessError as e:
        sys.exit(f"error: cargo build --release failed (exit {e.returncode})")
    if not path.is_file():
        sys.exit(f"error: cargo build --release did not produce {path}")
    return path


def run_ebm(binary: Path, args: argparse.Namespace) -> list[dict]:
    """The records of `ebm bench --json` for the selected jobs (ebm's errors go to stderr)."""
    cmd = [str(binary), "bench", "--json", "--runs", str(args.runs), "--kernel", args.kernel]
    for flag in ("workload", "batch", "steps"):
        value = getattr(args, flag)
        if value is not None:
            cmd += [f"--{flag}", str(value)]
    print("running: " + " ".join(cmd), file=sys.stderr, flush=True)
    try:
        done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    except OSError as e:
        sys.exit(f"error: cannot run {binary}: {e}")
    if done.returncode != 0:
        sys.exit(f"error: ebm bench failed (exit {done.returncode})")
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError:
        sys.exit(f"error: ebm bench --json printed something other than JSON:\n{done.stdout}")


def markdown(header: list[str], rows: list[list[str]], left: set[int]) -> str:
    """A padded markdown table; the columns numbered in `left` are left-aligned, others right."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells):
        padded = [c.ljust(w) if i in left else c.rjust(w)
                  for i, (c, w) in enumerate(zip(cells, widths))]
        return "| " + " | ".join(padded) + " |"

    rule = ["-" * w if i in left else "-" * (w - 1) + ":" for i, w in enumerate(widths)]
    return "\n".join([line(header), line(rule), *(line(r) for r in rows)])


def sides(records: list[dict]) -> str:
    """'adapter (backend, timer ...)' for each distinct adapter in `records`."""
    seen = {}
    for r in records:
        seen.setdefault((r["adapter"], r["backend"]), set()).add(r["timer"])
    return "; ".join(f"{a} ({b}, timer {'/'.join(sorted(t))})" for (a, b), t in seen.items())


def table(ebm: list[dict], torch_records: list[dict], variants: list[str],
          skipped: dict[str, str]) -> str:
    """One row per ebm record, with the PyTorch rates of the same job beside it."""
    rate = {(r["workload"], r["batch"], r["steps"], r["kernel"]): r["chain_steps_per_s"]
            for r in torch_records}
    kernels = [f"torch-{v}" for v in variants]
    header = ["workload", "batch", "steps", "ebm kernel", "ebm kernels chain-steps/s",
              "ebm wall chain-steps/s", *kernels, "ebm wall / best PyTorch"]
    rows = []
    for e in ebm:
        job = (e["workload"], e["batch"], e["steps"])
        theirs = [rate.get((*job, k)) for k in kernels]
        cells = [f"{v:,.0f}" if v is not None else ("skipped" if var in skipped else "-")
                 for v, var in zip(theirs, variants)]
        best = max((v for v in theirs if v is not None), default=None)
        # Wall clock on both sides (uploads, every step, read-back): the same span.
        wall = e["batch"] * e["steps"] / e["wall_seconds"]
        ratio = f"{wall / best:.2f}" if best else "-"
        rows.append([e["workload"], str(e["batch"]), str(e["steps"]), e["kernel"],
                     f"{e['chain_steps_per_s']:,.0f}", f"{wall:,.0f}", *cells, ratio])
    return markdown(header, rows, left={0, 3})


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Compare `ebm bench` with the PyTorch baseline on the same jobs.",
        epilog="example: %(prog)s --workload r1 --batch 64 --steps 5 --runs 1",
    )
    baseline.add_arguments(parser)
    parser.add_argument("--ebm", type=Path, default=DEFAULT_EBM, metavar="PATH",
                        help="the ebm binary (default: release/ebm of $CARGO_TARGET_DIR, else of "
                             "target/, built if missing)")
    parser.add_argument("--kernel", default="auto",
                        help="ebm's kernel path (see `ebm bench --help`; default auto)")
    parser.add_argument("--json-out", type=Path, metavar="FILE",
                        help="save every raw record of both sides as one JSON array")
    args = parser.parse_args()
    if args.json_out is not None and not args.json_out.resolve().parent.is_dir():
        parser.error(f"--json-out {args.json_out}: the folder does not exist")
    baseline.resolve(parser, args)

    ebm = run_ebm(ebm_binary(args.ebm), args)
    torch_version = baseline.torch.__version__
    print(f"running: PyTorch {torch_version} baseline on {args.device}, variants "
          f"{','.join(args.variants)}", file=sys.stderr, flush=True)
    torch_records, skipped = baseline.run(args)

    if args.json_out is not None:
        try:
            args.json_out.write_text(json.dumps(ebm + torch_records, indent=2) + "\n")
        except OSError as e:
            sys.exit(f"error: cannot write --json-out {args.json_out}: {e}")
    print(f"ebm:     {sides(ebm)}")
    print(f"PyTorch: {sides(torch_records) or args.device}, torch {torch_version}")
    print()
    print(table(ebm, torch_records, args.variants, skipped))
    print()
    print("Rates are chain-steps/s: batch * steps / median seconds of a whole refinement. "
          "'ebm kernels' is timed by GPU timestamps around ebm's kernels where the adapter has "
          "them; 'wall' columns by the wall clock around the whole call, host copies included, "
          "on both sides. The ratio compares wall with wall.")
    for variant, reason in skipped.items():
        print(f"torch-{variant} skipped: {reason}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
