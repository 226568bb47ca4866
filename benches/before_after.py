#!/usr/bin/env python3
"""Two `ebm` binaries side by side on the same jobs and paths: the kernel time of each
(`ebm bench --json`, GPU timestamps where the adapter has them), A and B in turn, pair by
pair, so that a drift of the machine's speed hits both alike.

Usage:
    python3 benches/before_after.py --a OLD_BINARY --b NEW_BINARY [--pairs 3]
        [--job r1:1024:10:chain,tile16,layered] [--job latency:64:20:chain] ...

Each job is WORKLOAD:BATCH:STEPS:PATH[,PATH...]. Prints, per job and path, the median
seconds of A and of B, the median of the pair-by-pair ratios B/A, and the machine's noise:
the median relative difference between consecutive runs of A (the same binary twice).
With --json FILE also writes every run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

DEFAULT_JOBS = [
    "r1:1024:10:chain,tile16,layered",
    "latency:64:20:chain,tile4,layered",
    "toy2d:4096:20:chain,tile32,layered",
]


def run(binary: str, workload: str, batch: int, steps: int, path: str) -> float:
    """The kernel seconds of one refinement (`ebm bench`, one timed run after its warm-up)."""
    cmd = [binary, "bench", "--workload", workload, "--batch", str(batch), "--steps",
           str(steps), "--kernel", path, "--runs", "1", "--json"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"before_after: {' '.join(cmd)} failed:\n{done.stderr}")
    record = json.loads(done.stdout)[0]
    if record["kernel"] != path:
        sys.exit(f"before_after: {binary} ran {record['kernel']}, not {path}")
    return record["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--a", required=True, help="the binary before")
    parser.add_argument("--b", required=True, help="the binary after")
    parser.add_argument("--pairs", type=int, default=3, help="A-B pairs per job and path (3)")
    parser.add_argument("--job", action="append", help="WORKLOAD:BATCH:STEPS:PATH[,PATH...]")
    parser.add_argument("--json", help="write every run here")
    args = parser.parse_args()
    jobs = args.job or DEFAULT_JOBS
    rows, runs = [], []
    for job in jobs:
        workload, batch, steps, paths = job.split(":")
        for path in paths.split(","):
            a, b = [], []
            for _ in range(args.pairs):
                a.append(run(args.a, workload, int(batch), int(steps), path))
                b.append(run(args.b, workload, int(batch), int(steps), path))
            ratios = [y / x for x, y in zip(a, b)]
            noise = [abs(y / x - 1) for x, y in zip(a, a[1:])]
            row = {
                "workload": workload, "batch": int(batch), "steps": int(steps), "path": path,
                "a_seconds": statistics.median(a), "b_seconds": statistics.median(b),
                "ratio": statistics.median(ratios),
                "noise": statistics.median(noise) if noise else None,
            }
            rows.append(row)
            runs.append({**row, "a": a, "b": b})
            print(f"{workload:8} {batch:>6} {steps:>5} {path:8} A {row['a_seconds']:8.4f} s  "
                  f"B {row['b_seconds']:8.4f} s  B/A {row['ratio']:.3f}  "
                  f"noise {row['noise'] if row['noise'] is None else round(row['noise'], 3)}",
                  flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(runs, f, indent=2)


if __name__ == "__main__":
    main()
