"""The campaign's report: ebm's and PyTorch's records of the same jobs joined into one table
row per job, the targets evaluated against them, and the whole rendered as Markdown
(campaign.py runs the campaign and writes what this makes)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import compare  # noqa: E402  (a sibling folder's file, not an installed module)

# A reduced campaign: every job at this batch and K, one timed run.
REDUCED = {"batch": 64, "steps": 3, "runs": 1}
PATH_ORDER = ("chain", "tile4", "tile8", "tile16", "tile32", "layered")
COMPILED = ("compile", "cudagraph")
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
