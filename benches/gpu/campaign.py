#!/usr/bin/env python3
"""The GPU benchmark campaign: ebm's whole suite and the PyTorch baseline of the same jobs, in one
report.

Usage (normally through campaign.sh beside this file, which finds Python, the binary and the
Vulkan driver first):
    python benches/gpu/campaign.py [--reduced] [--out DIR] [--ebm PATH] [--runs N]

    XDG_RUNTIME_DIR=/tmp WGPU_BACKEND=vulkan .venv/bin/python benches/gpu/campaign.py --reduced

Runs, one after the other: `ebm --version`, `ebm info`, `ebm bench --suite --json --runs N`
(the float32 FMA peak, then every suite job on every kernel path the adapter can run: r1 batch
1024 and 8192 K 100, latency batch 64 K 1000, toy2d batch 65536 K 1000, r1 batch 65536 K 100),
then benches/pytorch_baseline.py in this process on the same jobs (device cuda when PyTorch
sees one, else cpu; every variant the device has). `--runs` defaults to 3. `--reduced` runs
every job at batch 64, K 3, one run (and on CPU PyTorch eager only): a check that the whole
chain works, a few minutes on a software adapter; its targets read "not measured".

Writes into --out (default campaign-<UTC date and time>-<short commit> in the current folder;
it must be new or empty, and is checked writable before anything runs):
    campaign.md    a header (date, commit, ebm version, adapter, backend, driver, FMA peak,
                   PyTorch and its device, host), one table row per job, the targets met or
                   missed, and `ebm info`'s output
    campaign.json  all of that, with every raw record of both sides and the skipped variants
and prints the table and the targets. Rates are chain-steps/s by the wall clock of a whole
refinement (uploads, K steps, read-back) on both sides; the peak share is the kernel time's
GFLOP/s (GPU timestamps where the adapter has them) over the measured FMA peak.

The commit is the COMMIT file beside the binary (bundle.sh writes one), else `git rev-parse
HEAD` (plus "-dirty" when the tree has changes) where the repository is a git checkout, else the
COMMIT file at its root, else "unknown". Exit status: 0 done, 1 a failure (the message says
which), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCHES = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BENCHES))
import pytorch_baseline as baseline  # noqa: E402
from campaign_report import (  # noqa: E402  (this folder's: the tables and the targets)
    REDUCED, TARGETS, evaluate_target, job_rows, markdown_report, results_table,
    targets_table, warnings_for,
)

ROOT = BENCHES.parent
PEAK_LINE = re.compile(r"float32 FMA peak of (?P<adapter>.*): (?P<gflops>[0-9.]+) GFLOP/s"
                       r"(?: \((?P<detail>.*)\))?")



class Failure(Exception):
    """A campaign step that failed; the message says which and why."""


def log(message: str) -> None:
    """A progress line on stderr."""
    print(f"campaign: {message}", file=sys.stderr, flush=True)


def parse_args() -> argparse.Namespace:
    """The campaign's flags."""
    parser = argparse.ArgumentParser(
        description="Run ebm's benchmark suite and the PyTorch baseline; write campaign.md/json.",
        epilog="example: %(prog)s --reduced --out /tmp/campaign-test",
    )
    add = parser.add_argument
    add("--reduced", action="store_true",
        help="every job at batch 64, K 3, one run (on CPU PyTorch eager only): a quick check")
    add("--out", type=Path, metavar="DIR",
        help="output folder, new or empty (default campaign-<UTC date>-<short commit>)")
    add("--ebm", type=Path, metavar="PATH",
        help="the ebm binary (default release/ebm of $CARGO_TARGET_DIR or of the repository's "
             "target/, else ./ebm of the bundle)")
    add("--runs", type=baseline.positive, help="timed runs per job, median reported (3; --reduced: 1)")
    args = parser.parse_args()
    if args.runs is None:
        args.runs = REDUCED["runs"] if args.reduced else 3
    return args


def find_ebm(path: Path | None) -> Path:
    """The ebm binary to run: `path`, else the repository's release build, else the bundle's."""
    if path is None:
        # Cargo's target folder: $CARGO_TARGET_DIR (relative to the current folder, as cargo
        # reads it), else target/ of the repository.
        given = os.environ.get("CARGO_TARGET_DIR")
        target = Path(given).absolute() if given else ROOT / "target"
        candidates = [target / "release" / "ebm", ROOT / "ebm"]
        path = next((c for c in candidates if c.is_file()), None)
        if path is None:
            raise Failure("no ebm binary: looked for " + " and ".join(map(str, candidates))
                          + " (build with cargo build --release, or pass --ebm PATH)")
    if not path.is_file():
        raise Failure(f"--ebm {path}: no such file")
    if not os.access(path, os.X_OK):
        raise Failure(f"--ebm {path}: not executable")
    return path.resolve()


def read_text(path: Path) -> str | None:
    """The stripped contents of `path`, or None when it cannot be read or is empty."""
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def git(*args: str) -> str | None:
    """The stripped output of `git -C ROOT ARGS`, or None when git fails or is absent."""
    try:
        done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                              timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def commit_of(ebm: Path) -> str:
    """The commit the binary was built from, as well as it can be known (module docstring)."""
    beside = read_text(ebm.parent / "COMMIT")
    if beside:
        return beside
    top = git("rev-parse", "--show-toplevel")
    if top and Path(top).resolve() == ROOT:
        head = git("rev-parse", "HEAD")
        if head:
            return head + ("-dirty" if git("status", "--porcelain") else "")
    return read_text(ROOT / "COMMIT") or "unknown"


def prepare_out(out: Path) -> bool:
    """Makes `out` ready to write: new or empty, and writable. Returns whether it was made here."""
    if out.exists() and not out.is_dir():
        raise Failure(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        raise Failure(f"--out {out}: the folder is not empty; give a new or empty one")
    made = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out):
            pass
    except OSError as e:
        raise Failure(f"--out {out}: cannot write there: {e}") from None
    return made


def run_command(cmd: list[str], what: str, hint: str = "") -> str:
    """The stdout of `cmd` (its stderr passes through); raises Failure when it fails."""
    log("running: " + " ".join(cmd))
    try:
        done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    except OSError as e:
        raise Failure(f"cannot run {cmd[0]}: {e}") from None
    if done.returncode != 0:
        raise Failure(f"{what} failed (exit {done.returncode}){hint}")
    return done.stdout


def run_suite(cmd: list[str], side: dict) -> list[dict]:
    """The records of `cmd` (`ebm bench --suite --json ...`); its stderr is echoed as it comes
    and kept in side["stderr"], also when it fails."""
    log("running: " + " ".join(cmd))
    lines = []
    with tempfile.TemporaryFile("w+") as stdout:
        try:
            child = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE, text=True)
        except OSError as e:
            raise Failure(f"cannot run {cmd[0]}: {e}") from None
        for line in child.stderr:
            sys.stderr.write(line)
            lines.append(line)
        code = child.wait()
        stdout.seek(0)
        text = stdout.read()
    side["stderr"] = "".join(lines)
    if code != 0:
        raise Failure(f"ebm bench --suite failed (exit {code}); its messages are above")
    try:
        records = json.loads(text)
    except json.JSONDecodeError:
        raise Failure(f"ebm bench --suite --json printed something other than JSON:\n{text}") \
            from None
    if not records:
        raise Failure("ebm bench --suite ran no job")
    return records


def peak_of(records: list[dict], stderr: str) -> dict | None:
    """The measured FMA peak: GFLOP/s (from the records where they carry it) and ebm's line."""
    found = PEAK_LINE.search(stderr)
    gflops = next((r["peak_gflops"] for r in records if r.get("peak_gflops")), None)
    if gflops is None and found:
        gflops = float(found["gflops"])
    if gflops is None:
        share = next((r for r in records if r.get("peak_share")), None)
        gflops = share["gflops"] / share["peak_share"] if share else None
    if gflops is None:
        return None
    return {"gflops": gflops, "line": found[0] if found else None,
            "detail": found["detail"] if found else None}


def adapter_type(info: str) -> str | None:
    """The chosen adapter's device type (DiscreteGpu, Cpu, ...) from `ebm info`'s starred line."""
    found = re.search(r"^\s*\*\s*\[\d+\].*\(\w+, (\w+), driver", info, re.MULTILINE)
    return found[1] if found else None


def torch_settings(args: argparse.Namespace) -> argparse.Namespace:
    """The baseline's settings for the suite's jobs: device, variants, and the reduced sizes."""
    settings = argparse.Namespace(
        workload=None, batch=None, steps=None, runs=args.runs, device=None, variants=None,
        suite=True)
    if args.reduced:
        settings.batch, settings.steps = REDUCED["batch"], REDUCED["steps"]
    baseline.resolve(argparse.ArgumentParser(prog="campaign"), settings)
    if args.reduced and settings.device == "cpu":
        settings.variants = ["eager"]
    return settings


def not_run(settings: argparse.Namespace, reduced: bool) -> dict[str, str]:
    """{variant: why} for the baseline's variants not attempted on this device."""
    why = {}
    for variant in baseline.VARIANTS:
        if variant in settings.variants:
            continue
        if variant == "cudagraph" and settings.device != "cuda":
            why[variant] = "not run: needs CUDA"
        elif reduced:
            why[variant] = "not run: reduced run on CPU (eager only)"
        else:
            why[variant] = "not run"
    return why


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what platform says."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def nvidia_smi() -> str | None:
    """The GPUs nvidia-smi lists (name, driver, memory), or None without it."""
    if shutil.which("nvidia-smi") is None:
        return None
    query = "--query-gpu=name,driver_version,memory.total"
    try:
        done = subprocess.run(["nvidia-smi", query, "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def host_info() -> dict:
    """Where the campaign ran: hostname, CPU, cores, OS, Python, GPUs (nvidia-smi)."""
    return {
        "hostname": socket.gethostname(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "nvidia_smi": nvidia_smi(),
        "env": {k: os.environ[k] for k in ("WGPU_BACKEND", "WGPU_ADAPTER_NAME", "VK_DRIVER_FILES",
                                           "VK_ICD_FILENAMES", "LD_LIBRARY_PATH")
                if k in os.environ},
    }


def write_report(out: Path, report: dict) -> None:
    """campaign.json (everything), and campaign.md when the campaign got that far."""
    try:
        (out / "campaign.json").write_text(json.dumps(report, indent=2) + "\n")
        if report.get("table") is not None:
            (out / "campaign.md").write_text(markdown_report(report))
    except OSError as e:
        raise Failure(f"cannot write the report into {out}: {e}") from None


def run_campaign(args: argparse.Namespace, ebm_binary: Path, settings: argparse.Namespace,
                 report: dict) -> None:
    """Runs ebm, then the baseline with `settings`, filling in `report` as it goes (so a failure
    keeps what ran)."""
    ebm = report["ebm"]
    ebm["version"] = run_command([str(ebm_binary), "--version"], "ebm --version").strip()
    hint = (": no usable adapter? Check the Vulkan loader (libvulkan.so.1) and driver "
            "(VK_DRIVER_FILES), or WGPU_BACKEND")
    ebm["info"] = run_command([str(ebm_binary), "info"], "ebm info", hint)
    ebm["adapter_type"] = adapter_type(ebm["info"])
    flags = ["--runs", str(args.runs)]
    if args.reduced:
        flags += ["--batch", str(REDUCED["batch"]), "--steps", str(REDUCED["steps"])]
    ebm["command"] = [str(ebm_binary), "bench", "--suite", "--json", *flags]
    started = time.monotonic()
    ebm["records"] = run_suite(ebm["command"], ebm)
    ebm["seconds"] = time.monotonic() - started
    first = ebm["records"][0]
    ebm.update(adapter=first["adapter"], driver=first.get("driver", ""), backend=first["backend"],
               peak=peak_of(ebm["records"], ebm["stderr"]))

    torch_side = report["torch"]
    log(f"running: PyTorch {torch_side['version']} baseline of the suite's jobs on "
        f"{settings.device}, variants {','.join(settings.variants)}")
    started = time.monotonic()
    try:
        records, skipped = baseline.run(settings)
    except Exception as e:  # eager failing is a real failure; keep what ebm measured
        raise Failure(f"the PyTorch baseline failed: {type(e).__name__}: {e}") from None
    torch_side["seconds"] = time.monotonic() - started
    torch_side["records"] = records
    torch_side["skipped"].update(skipped)

    rows = job_rows(ebm["records"], records)
    report["warnings"] = warnings_for(ebm["adapter_type"], settings.device, args.reduced)
    report["table"] = results_table(rows, settings.variants, skipped, ebm["peak"])
    report["targets"] = [evaluate_target(t, rows, ebm["peak"], settings.device, args.reduced)
                         for t in TARGETS]


def new_report(args: argparse.Namespace, ebm_binary: Path, commit: str,
               settings: argparse.Namespace) -> dict:
    """The report's skeleton: what is known before anything runs."""
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "commit": commit,
        "reduced": args.reduced,
        "runs": args.runs,
        "host": host_info(),
        "ebm": {"binary": str(ebm_binary), "version": None, "info": None, "adapter_type": None,
                "command": None, "adapter": None, "driver": None, "backend": None, "peak": None,
                "records": [], "stderr": None},
        "torch": {"version": baseline.torch.__version__, "device": settings.device,
                  "device_name": baseline.adapter_name(settings.device),
                  "variants": settings.variants,
                  "skipped": not_run(settings, args.reduced), "records": []},
        "warnings": [], "table": None, "targets": [], "error": None,
    }


def main() -> int:
    """Checks everything that can fail fast, then runs the campaign and writes the report."""
    args = parse_args()
    if baseline.torch is None:
        raise Failure(f"PyTorch is not installed for {sys.executable}: install it (pip install "
                      "torch) or pass campaign.sh --python PY for a Python that has it")
    ebm_binary = find_ebm(args.ebm)
    commit = commit_of(ebm_binary)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = args.out or Path(f"campaign-{stamp}-{commit[:7]}")
    made = prepare_out(out)
    settings = torch_settings(args)
    report = new_report(args, ebm_binary, commit, settings)
    log(f"writing into {out.resolve()}")
    try:
        run_campaign(args, ebm_binary, settings, report)
    except Failure as e:
        if report["ebm"]["command"] is not None:  # the long part had begun: keep what it said
            report["error"] = str(e)
            write_report(out, report)
            log(f"what ran is in {out / 'campaign.json'}")
        elif made:
            out.rmdir()
        raise
    write_report(out, report)
    print(report["table"])
    print()
    print(targets_table(report["targets"]))
    log(f"wrote {out / 'campaign.md'} and {out / 'campaign.json'}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failure as e:
        print(f"campaign: error: {e}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
