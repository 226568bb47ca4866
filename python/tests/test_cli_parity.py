"""Python gives the command line's bits: the same model, inputs and options through
`Engine.refine` and through `ebm refine` (every tensor of its safetensors output), and
through `Engine.eval` and `ebm eval`."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file

import ebm_wgpu as ebm
from _helpers import assert_same, rand

# The tensors `ebm refine` writes from the best of R per x; the others come from every chain.
BEST_OF_TENSORS = ("y", "energy", "best", "spread")


# Keep-if-lower with steps that overshoot the prior's minimum: the rise tolerance takes some
# of the steps it would refuse (test_the_rise_tolerance_takes_small_rises).
RISE_TOLERANCE_CASE = dict(
    steps=30, step_size=2.2, prior_l2=1.0, keep_if_lower=True, shrink=0.7, rise_tolerance=0.3
)


def flags(options: dict, folder) -> list[str]:
    """`Engine.refine` keywords as `ebm refine` flags (`step_size=0.01` is `--step-size
    0.01`, `clamp=(-2, 2)` is `--clamp=-2,2`, `mala=True` is `--mala`)."""
    out = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if key == "fixed":
            path = folder / "fixed.npy"
            np.save(path, np.asarray(value, dtype=np.float32))
            out += [flag, str(path)]
        elif key == "trace":
            if value:
                out += [flag, str(folder / "trace.csv")]
        elif isinstance(value, bool):
            if value:
                out.append(flag)
        elif isinstance(value, (tuple, list)):
            out.append(f"{flag}={','.join(str(v) for v in value)}")
        else:
            out += [flag, str(value)]
    return out


def run_cli(ebm_bin, args: list[str]) -> subprocess.CompletedProcess:
    env = dict(os.environ, XDG_RUNTIME_DIR=os.environ.get("XDG_RUNTIME_DIR", "/tmp"))
    done = subprocess.run(
        [str(ebm_bin), "--quiet", *args], capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, f"ebm {' '.join(args)} exited {done.returncode}:\n{done.stderr}"
    return done


def cli_refine(ebm_bin, folder, model: ebm.Model, x, y0, options: dict, engine_options: dict):
    """Runs `ebm refine` on (x, y0) and returns its tensors and metadata."""
    model_path, y_path, out = folder / "model.safetensors", folder / "y0.npy", folder / "out.safetensors"
    model.save(model_path)
    np.save(y_path, y0)
    args = ["refine", "--model", str(model_path), "--y0", str(y_path), "--out", str(out)]
    if x is not None:
        x_path = folder / "x.npy"
        np.save(x_path, x)
        args += ["--x", str(x_path)]
    args += flags(options, folder)
    args += flags(engine_options, folder)
    run_cli(ebm_bin, args)
    with safe_open(str(out), framework="numpy") as f:
        metadata = f.metadata()
    return load_file(str(out)), metadata


def simplex_starts(seed: int, n: int, groups: int, width: int) -> np.ndarray:
    """Points inside the simplex of each group: positive, summing to 1 per group."""
    v = np.random.default_rng(seed).random((n, groups, width)) + 0.05
    return (v / v.sum(axis=2, keepdims=True)).reshape(n, groups * width).astype(np.float32)


# (id, model, chains, best_of-or-replica grouping of x, options, engine options)
CASES = [
    pytest.param(
        "cond",
        48,
        dict(steps=30, step_size=0.01, temperature=0.1, seed=7, prior_l2=0.1, clamp=(-2.0, 2.0), trace=True),
        {},
        id="langevin-prior-clamp-trace",
    ),
    pytest.param(
        "cond",
        48,
        dict(
            steps=30, step_size=0.05, temperature=0.5, schedule="cosine", step_size_end=0.005,
            temperature_end=0.01, seed=11, clip_grad=0.5, stop_change=1e-7,
        ),
        {},
        id="cosine-schedule-clip-stop",
    ),
    pytest.param(
        "cond",
        40,
        dict(steps=30, stages="10:0.02:0.2,20:0.01:0.05", seed=3),
        {},
        id="stages",
    ),
    pytest.param(
        "cond",
        48,
        dict(steps=40, step_size=0.2, temperature=0.3, mala=True, adapt_steps=15, target_accept=0.6, seed=5),
        {},
        id="mala-adapt",
    ),
    pytest.param(
        "cond",
        48,
        dict(steps=30, step_size=0.2, temperature=0.05, keep_if_lower=True, shrink=0.7, seed=9, fixed="random"),
        {},
        id="keep-if-lower-fixed",
    ),
    pytest.param(
        "cond",
        48,
        RISE_TOLERANCE_CASE,
        {},
        id="keep-if-lower-rise-tolerance",
    ),
    pytest.param(
        "cond",
        64,
        dict(steps=30, step_size=0.02, temperature=0.1, seed=13, best_of=4),
        {},
        id="best-of",
    ),
    pytest.param(
        "uncond",
        48,
        dict(steps=30, step_size=0.02, temperature=0.2, seed=17, replicas=4, ladder=(1.0, 8.0), swap_every=5),
        {},
        id="replicas-ladder",
    ),
    pytest.param(
        "uncond",
        48,
        dict(
            steps=30, step_size=0.1, temperature=0.3, seed=21, mala=True, replicas=2,
            ladder_factors=[1.0, 3.0], swap_every=3,
        ),
        {},
        id="mala-replicas-ladder-factors",
    ),
    pytest.param(
        "uncond",
        48,
        dict(
            steps=30, step_size=0.02, temperature=0.05, seed=19, simplex=3, vertex_penalty=(0.0, 2.0),
            vertex_penalty_schedule="cosine", decode=True,
        ),
        {},
        id="simplex-vertex-penalty-decode",
    ),
    pytest.param(
        "uncond",
        48,
        dict(
            steps=30, step_size=0.02, temperature=0.1, seed=23, simplex=3, vertex_penalty=(0.0, 1.0),
            decode=True, best_of=4, replicas=2, ladder=(1.0, 4.0),
        ),
        {},
        id="best-of-decode-replicas",
    ),
    pytest.param(
        "cond",
        48,
        dict(steps=30, step_size=0.01, temperature=0.1, seed=7, chain_offset=1000),
        {},
        id="chain-offset",
    ),
    pytest.param(
        "cond",
        48,
        dict(steps=25, step_size=0.01, temperature=0.1, seed=29, dispatch_ms=1e-6, trace=True),
        dict(kernel="tile4", chunk=16),
        id="tile4-chunked-per-step-submissions",
    ),
    pytest.param(
        "uncond",
        32,
        # The prior's step multiplies y by (1 - 1000) each step: overflow in a few steps,
        # but for the chains whose every coordinate is fixed.
        dict(steps=20, step_size=1000.0, prior_l2=1.0, keep_non_finite=True, fixed="half"),
        {},
        id="keep-non-finite",
    ),
]


@pytest.mark.parametrize("which, chains, options, engine_options", CASES)
def test_refine_matches_cli(
    which, chains, options, engine_options, ebm_bin, tmp_path, context, cond_model, uncond_model
):
    model = cond_model if which == "cond" else uncond_model
    options = dict(options)
    per_x = options.get("best_of") or 1
    replicas = options.get("replicas") or 1
    if options.get("simplex"):
        y0 = simplex_starts(100 + chains, chains, model.y_dim // options["simplex"], options["simplex"])
    else:
        y0 = rand(100 + chains, chains, model.y_dim)
    x = None
    if model.x_dim > 0:
        # One row of x per best_of group, shared by the replicas of a group.
        rows = rand(200 + chains, chains // per_x // (replicas if per_x == 1 else 1), model.x_dim)
        x = rows if per_x > 1 or replicas == 1 else np.repeat(rows, replicas, axis=0)
    if isinstance(options.get("fixed"), str):
        if options["fixed"] == "random":
            options["fixed"] = np.random.default_rng(7).random((chains, model.y_dim)) < 0.25
        else:  # "half": every other chain held at its start
            options["fixed"] = np.repeat((np.arange(chains) % 2 == 0)[:, None], model.y_dim, axis=1)

    engine = ebm.Engine(model, context, **engine_options)
    result = engine.refine(x, y0, **options)
    files, metadata = cli_refine(ebm_bin, tmp_path, model, x, y0, options, engine_options)

    assert metadata.get("ebm.status") == "complete"
    every = result.all if isinstance(result, ebm.BestOf) else result
    assert not every.cancelled
    expected = {"y", "energy"}
    if per_x > 1:
        assert isinstance(result, ebm.BestOf)
        expected |= {"best", "spread"}
    else:
        assert isinstance(result, ebm.Refinement)
        expected |= {"steps_taken", "accepted", "acceptance", "step_scale"}
        if options.get("adapt_steps"):
            expected |= {"acceptance_warmup", "acceptance_after_warmup"}
        if options.get("keep_non_finite"):
            expected.add("non_finite_at")
    if options.get("decode"):
        expected |= {"decoded_y", "decoded_energy"}
    if options.get("replicas"):
        expected |= {"swap_acceptance", "round_trips"}
    assert set(files) == expected

    for name, cli in files.items():
        source = result if (per_x > 1 and name in BEST_OF_TENSORS) else every
        mine = getattr(source, name)
        assert mine is not None, f"the CLI wrote {name} but the Python result has none"
        assert_same(mine, cli, name)

    if options.get("keep_non_finite"):
        # The case is there to hold chains that went non-finite, and finite ones.
        went = every.non_finite_at >= 0
        assert went.any() and not went.all(), every.non_finite_at
    if options.get("trace"):
        lines = (tmp_path / "trace.csv").read_text().splitlines()
        assert lines[0] == "step,min_energy,mean_energy,max_energy,mean_grad_norm"
        table = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
        assert len(table) == options["steps"]
        for k, name in enumerate(lines[0].split(",")):
            assert every.trace[name].dtype == np.float64
            assert_same(every.trace[name], table[:, k], f"trace {name}")


def test_eval_matches_cli(ebm_bin, tmp_path, cond_engine, cond_model):
    x, y = rand(1, 37, cond_model.x_dim), rand(2, 37, cond_model.y_dim)
    cond_model.save(tmp_path / "m.safetensors")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    out = tmp_path / "out.safetensors"
    run_cli(
        ebm_bin,
        ["eval", "--model", str(tmp_path / "m.safetensors"), "--x", str(tmp_path / "x.npy"),
         "--y", str(tmp_path / "y.npy"), "--out", str(out)],
    )
    files = load_file(str(out))
    e = cond_engine.eval(x, y)
    assert set(files) == {"energy", "grad"}
    assert e.energy.shape == (37,) and e.grad.shape == (37, cond_model.y_dim)
    assert_same(e.energy, files["energy"], "energy")
    assert_same(e.grad, files["grad"], "grad")


def test_model_file_round_trip(tmp_path, cond_model, cond_engine, context):
    """A model saved and loaded is the same model and gives the same bits."""
    path = tmp_path / "m.safetensors"
    cond_model.save(path)
    loaded = ebm.Model.load(path)
    assert loaded == cond_model
    assert (loaded.x_dim, loaded.y_dim, loaded.activation, loaded.output) == (2, 4, "silu", "softplus")
    for a, b in zip(loaded.weights + loaded.biases, cond_model.weights + cond_model.biases):
        assert_same(a, b)
    x, y0 = rand(3, 20, 2), rand(4, 20, 4)
    opts = dict(steps=10, step_size=0.01, temperature=0.1, seed=1)
    assert_same(ebm.Engine(loaded, context).refine(x, y0, **opts).y, cond_engine.refine(x, y0, **opts).y)
    with pytest.raises(ebm.EbmError, match="missing.safetensors"):
        ebm.Model.load(tmp_path / "missing.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(b"not a model")
    with pytest.raises((ValueError, ebm.EbmError), match="bad.safetensors"):
        ebm.Model.load(tmp_path / "bad.safetensors")


def test_the_rise_tolerance_takes_small_rises(cond_engine, cond_model):
    """The parity case above is one where the tolerance matters: it takes some of the rises
    keep-if-lower refuses without it, and still refuses the larger ones."""
    x, y0 = rand(1, 48, cond_model.x_dim), rand(2, 48, cond_model.y_dim)
    case = dict(RISE_TOLERANCE_CASE)
    tolerant = cond_engine.refine(x, y0, **case)
    del case["rise_tolerance"]
    strict = cond_engine.refine(x, y0, **case)
    refused = lambda out: int((case["steps"] - out.accepted).sum())  # noqa: E731
    assert 0 < refused(tolerant) < refused(strict), (refused(tolerant), refused(strict))
