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
import compare  # noqa: E402  (a sibling folder's file, not an installed module)
import pytorch_baseline as baseline  # noqa: E402

ROOT = BENCHES.parent
REDUCED = {"batch": 64, "steps": 3, "runs": 1}
PATH_ORDER = ("chain", "tile4", "tile8", "tile16", "tile32", "layered")
COMPILED = ("compile", "cudagraph")
PEAK_LINE = re.compile(r"float32 FMA peak of (?P<adapter>.*): (?P<gflops>[0-9.]+) GFLOP/s"
                       r"(?: \((?P<detail>.*)\))?")
# (key, job (workload, batch, steps), reference, threshold, description)
TARGETS = (
    ("r1-8192-eager", ("r1", 8192, 100), "eager", 5.0,
     "r1 batch 8192, K 100: ebm >= 5x torch eager"),
    ("r1-8192-compiled", ("r1", 8192, 100), "compiled", 2.0,
     "r1 batch 8192, K 100: ebm >= 2x best of torch compile / cudagraph"),
    ("r1-65536-peak", ("r1", 65536, 100), "peak", 0.40,
     "r1 batch 65536, K 100: >= 40% of the measured FMA peak"),
    ("latency-eager", ("latency", 64, 1000), "eager", 10.0,
     "latency batch 64, K 1000: ebm >= 10x torch eager"),
)


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
        help="the ebm binary (default target/release/ebm of the repository, else ./ebm of the "
             "bundle)")
    add("--runs", type=baseline.positive, help="timed runs per job, median reported (3; --reduced: 1)")
    args = parser.parse_args()
    if args.runs is None:
        args.runs = REDUCED["runs"] if args.reduced else 3
    return args


def find_ebm(path: Path | None) -> Path:
    """The ebm binary to run: `path`, else the repository's release build, else the bundle's."""
    if path is None:
        candidates = [ROOT / "target" / "release" / "ebm", ROOT / "ebm"]
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


def job_key(record: dict) -> tuple:
    """(workload, batch, steps): what identifies a job."""
    return record["workload"], record["batch"], record["steps"]


def group_jobs(records: list[dict]) -> list[tuple[tuple, list[dict]]]:
    """Consecutive records of the same job, grouped, in order (a job may come back later: the
    reduced suite runs r1 at batch 64 twice, so groups, not a dict)."""
    groups: list[tuple[tuple, list[dict]]] = []
    for r in records:
        if groups and groups[-1][0] == job_key(r):
            groups[-1][1].append(r)
        else:
            groups.append((job_key(r), [r]))
    return groups


def wall_rate(record: dict) -> float:
    """Chain-steps/s by the wall clock of the whole call (uploads, K steps, read-back)."""
    return record["batch"] * record["steps"] / record["wall_seconds"]


def peak_share(record: dict, peak: dict | None) -> float | None:
    """The record's kernel-time GFLOP/s as a share of the measured FMA peak."""
    if record.get("peak_share") is not None:
        return record["peak_share"]
    return record["gflops"] / peak["gflops"] if peak else None


def job_rows(ebm: list[dict], torch_records: list[dict]) -> list[dict]:
    """One row per ebm job: its records by kernel path, the best path by wall clock, and the
    PyTorch records of the same job (the n-th time a job comes is matched with the n-th)."""
    torch_groups = group_jobs(torch_records)
    rows, seen = [], {}
    for key, records in group_jobs(ebm):
        nth = seen[key] = seen.get(key, -1) + 1
        same = [g for k, g in torch_groups if k == key]
        theirs = same[nth] if nth < len(same) else []
        rows.append({
            "workload": key[0], "batch": key[1], "steps": key[2],
            "ebm": {r["kernel"]: r for r in records},
            "best": max(records, key=wall_rate),
            "torch": {r["kernel"].removeprefix("torch-"): r for r in theirs},
        })
    return rows


def best_compiled(row: dict) -> dict | None:
    """The faster of the row's torch compile and cudagraph records, if either ran."""
    records = [row["torch"][v] for v in COMPILED if v in row["torch"]]
    return max(records, key=wall_rate, default=None)


def kernel_columns(rows: list[dict]) -> list[str]:
    """The ebm kernel paths that ran, in the suite's order (unknown names last)."""
    names = {k for row in rows for k in row["ebm"]}
    rank = {name: i for i, name in enumerate(PATH_ORDER)}
    return sorted(names, key=lambda k: (rank.get(k, len(rank)), k))


def rate_cell(record: dict | None, missing: str = "-") -> str:
    """A chain-steps/s cell (wall clock), or `missing`."""
    if record is None:
        return missing
    rate = wall_rate(record)
    return f"{rate:,.0f}" if rate >= 100 else f"{rate:.3g}"


def ratio_cell(row: dict, reference: dict | None) -> str:
    """ebm best / reference (wall clock over wall clock), or '-'."""
    return f"{wall_rate(row['best']) / wall_rate(reference):.2f}x" if reference else "-"


def results_table(rows: list[dict], variants: list[str], skipped: dict[str, str],
                  peak: dict | None) -> str:
    """The campaign's markdown table: a row per job, ebm per path, PyTorch per variant, ratios."""
    kernels = kernel_columns(rows)
    show_compiled = any(v in COMPILED for v in variants)
    header = ["workload", "batch", "steps", *(f"ebm {k}" for k in kernels), "best ebm",
              *(f"torch {v}" for v in variants), "best / eager"]
    if show_compiled:
        header.append("best / compiled")
    header.append("best: % of peak")
    lines = []
    for row in rows:
        cells = [row["workload"], str(row["batch"]), str(row["steps"])]
        cells += [rate_cell(row["ebm"].get(k)) for k in kernels]
        cells.append(row["best"]["kernel"])
        cells += [rate_cell(row["torch"].get(v), "skipped" if v in skipped else "-")
                  for v in variants]
        cells.append(ratio_cell(row, row["torch"].get("eager")))
        if show_compiled:
            cells.append(ratio_cell(row, best_compiled(row)))
        share = peak_share(row["best"], peak)
        cells.append(f"{100 * share:.1f}%" if share is not None else "-")
        lines.append(cells)
    return compare.markdown(header, lines, left={0, len(kernels) + 3})


def evaluate_target(target: tuple, rows: list[dict], peak: dict | None, device: str,
                    reduced: bool) -> dict:
    """One target: status (met, missed, not measured (why)), the measured value, a note."""
    key, job, reference, threshold, description = target
    result = {"target": key, "description": description, "threshold": threshold,
              "value": None, "status": None, "note": ""}
    row = next((r for r in rows if (r["workload"], r["batch"], r["steps"]) == job), None)
    if reduced:
        result["status"] = "not measured (reduced run)"
        return result
    if row is None:
        result["status"] = "not measured (job not run)"
        return result
    if reference == "peak":
        if peak is None:
            result["status"] = "not measured (no FMA peak)"
            return result
        best = max(row["ebm"].values(), key=lambda r: peak_share(r, peak))
        result["value"] = peak_share(best, peak)
        result["note"] = (f"path {best['kernel']}, {best['gflops']:.1f} GFLOP/s "
                          f"({best['timer']} timer)")
    else:
        theirs = row["torch"].get("eager") if reference == "eager" else best_compiled(row)
        if theirs is None:
            what = "torch eager" if reference == "eager" else "torch compile and cudagraph"
            result["status"] = f"not measured ({what} did not run)"
            return result
        result["value"] = wall_rate(row["best"]) / wall_rate(theirs)
        result["note"] = f"ebm {row['best']['kernel']} vs {theirs['kernel']}"
        if device != "cuda":
            result["status"] = "not measured (no CUDA)"
            result["note"] += f" on {device}"
            return result
    result["status"] = "met" if result["value"] >= threshold else "missed"
    return result


def show_value(result: dict) -> str:
    """The measured value beside its threshold: '7.31x (target >= 5x)' or '45.2% (>= 40%)'."""
    if result["value"] is None:
        return "-"
    if result["target"].endswith("peak"):
        return f"{100 * result['value']:.1f}% (target >= {100 * result['threshold']:.0f}%)"
    return f"{result['value']:.2f}x (target >= {result['threshold']:g}x)"


def targets_table(results: list[dict]) -> str:
    """The targets as a markdown table."""
    rows = [[r["description"], r["status"], show_value(r), r["note"]] for r in results]
    return compare.markdown(["target", "status", "measured", "note"], rows, left={0, 1, 2, 3})


def header_lines(report: dict) -> list[str]:
    """campaign.md's header: what ran, where, when."""
    ebm, torch_side, host = report["ebm"], report["torch"], report["host"]
    peak = ebm["peak"]
    peak_text = "not measured" if peak is None else f"{peak['gflops']:.1f} GFLOP/s" + (
        f" ({peak['detail']})" if peak.get("detail") else "")
    run = (f"reduced (every job at batch {REDUCED['batch']}, K {REDUCED['steps']}), "
           if report["reduced"] else "full, ") + f"{report['runs']} timed run(s) per job"
    lines = [
        f"- date (UTC): {report['date']}",
        f"- commit: `{report['commit']}`",
        f"- ebm version: {ebm['version']} (`{ebm['binary']}`)",
        f"- adapter: {ebm['adapter']}" + (f" ({ebm['adapter_type']})" if ebm["adapter_type"]
                                           else ""),
        f"- backend: {ebm['backend']}",
        f"- driver: {ebm['driver']}",
        f"- measured float32 FMA peak: {peak_text}",
        f"- PyTorch: {torch_side['version']} on {torch_side['device']}: "
        f"{torch_side['device_name']}",
        f"- host: {host['hostname']}, {host['cpu']} ({host['cpu_count']} CPUs), "
        f"{host['platform']}",
    ]
    if host["nvidia_smi"]:
        lines.append(f"- nvidia-smi: {'; '.join(host['nvidia_smi'].splitlines())}")
    lines.append(f"- run: {run}; `{' '.join(ebm['command'])}`")
    return lines + [f"- **warning**: {w}" for w in report["warnings"]]


def markdown_report(report: dict) -> str:
    """The whole of campaign.md."""
    torch_side = report["torch"]
    notes = [f"- torch {v}: {why}" for v, why in torch_side["skipped"].items()]
    parts = [
        "# ebm GPU benchmark campaign", "", *header_lines(report), "",
        "## Results", "",
        "Chain-steps/s (batch x steps / median seconds of a whole refinement, by the wall clock "
        "around the call: uploads, K steps, read-back), ebm per kernel path and PyTorch per "
        "variant. *best ebm* is the fastest path by that clock; the ratios divide its rate by "
        "torch eager's and by the faster of torch compile / cudagraph (*compiled*); *% of peak* "
        "is that path's GFLOP/s by kernel time (GPU timestamps where the adapter has them) over "
        "the measured FMA peak.", "",
        report["table"], "",
    ]
    if notes:
        parts += ["PyTorch variants not in the table or skipped:", "", *notes, ""]
    parts += ["## Targets", "", targets_table(report["targets"]), "",
              "## ebm info", "", "```", report["ebm"]["info"].rstrip(), "```", ""]
    return "\n".join(parts)


def warnings_for(adapter_kind: str | None, device: str, reduced: bool) -> list[str]:
    """Things the reader of the results should know before trusting them."""
    warnings = []
    if adapter_kind == "Cpu":
        warnings.append("ebm ran on a CPU (software) adapter, not a GPU: check the Vulkan "
                        "driver (VK_DRIVER_FILES) if this machine has one")
    if device != "cuda" and not reduced:
        warnings.append("PyTorch saw no CUDA device: its figures are CPU figures")
    return warnings


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
