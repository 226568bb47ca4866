"""`Trainer`: the same seed gives the same weights bit for bit; a run saved to a checkpoint
and resumed ends with the uninterrupted run's weights; every step's statistics come back."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import ebm_wgpu as ebm
from _helpers import assert_same

STATS = ("step", "loss", "energy_pos", "energy_neg", "grad_norm", "weight_norm", "clip_scale")


@pytest.fixture(scope="module")
def ring():
    """256 points from eight Gaussians on a ring (the README's 2-D toy)."""
    rng = np.random.default_rng(42)
    k = rng.integers(0, 8, 256)
    centres = np.stack([np.cos(2 * np.pi * k / 8), np.sin(2 * np.pi * k / 8)], axis=1) * 2.0
    return (centres + 0.1 * rng.standard_normal((256, 2))).astype(np.float32)


@pytest.fixture(scope="module")
def init():
    return ebm.Model.random(0, 2, [16, 16], activation="silu", output="softplus", seed=9)


OPTIONS = dict(batch=32, replay=256, negative_steps=10, negative_step_size=0.05, seed=3, log_every=7)


def trainer(init, ring, context, **changes):
    return ebm.Trainer(init, ring, context=context, **dict(OPTIONS, **changes))


def assert_same_weights(a: ebm.Model, b: ebm.Model, what=""):
    assert len(a.weights) == len(b.weights)
    for i, (wa, wb, ba, bb) in enumerate(zip(a.weights, b.weights, a.biases, b.biases)):
        assert_same(wa, wb, f"{what}layers.{i}.weight")
        assert_same(ba, bb, f"{what}layers.{i}.bias")
    assert a == b


def test_same_seed_same_weights(init, ring, context):
    a = trainer(init, ring, context)
    stats_a = a.run(20)
    b = trainer(init, ring, context)
    stats_b = b.run(20)
    assert a.step == b.step == 20
    assert_same_weights(a.model(), b.model())
    for name in STATS:
        assert_same(stats_a[name], stats_b[name], name)
    # It trained: the weights moved, and another seed gives other weights.
    moved = a.model()
    assert any(not np.array_equal(w, w0) for w, w0 in zip(moved.weights, init.weights))
    c = trainer(init, ring, context, seed=4)
    c.run(20)
    assert c.model() != moved


def test_statistics_have_one_entry_per_step(init, ring, context):
    t = trainer(init, ring, context)
    stats = t.run(20)
    assert set(stats) == set(STATS)
    for name in STATS:
        assert stats[name].shape == (20,), name
        assert stats[name].dtype == np.float64, name
        assert np.isfinite(stats[name]).all(), name
    assert_same(stats["step"], np.arange(20, dtype=np.float64))
    assert ((stats["clip_scale"] > 0) & (stats["clip_scale"] <= 1)).all()
    assert (stats["weight_norm"] > 0).all()
    more = t.run(5)
    assert_same(more["step"], np.arange(20, 25, dtype=np.float64))
    assert t.step == 25
    empty = t.run(0)
    assert all(len(empty[name]) == 0 for name in STATS)


def test_resumed_run_ends_with_the_uninterrupted_weights(init, ring, context, tmp_path):
    whole = trainer(init, ring, context)
    whole_stats = whole.run(20)

    first = trainer(init, ring, context)
    first.run(10)
    path = tmp_path / "run.ckpt.safetensors"
    first.save_checkpoint(path)
    # A checkpoint is a model file too: the weights of step 10.
    assert_same_weights(ebm.Model.load(path), first.model(), "checkpoint ")

    # The model given is the checkpoint's (a checkpoint is a model file too).
    resumed = trainer(ebm.Model.load(path), ring, context, resume=path)
    assert resumed.step == 10
    assert_same_weights(resumed.model(), first.model(), "resumed at 10 ")
    stats = resumed.run(10)
    assert resumed.step == 20
    assert_same_weights(resumed.model(), whole.model(), "step 20 ")
    for name in STATS:
        assert_same(stats[name], whole_stats[name][10:], name)
    # The first trainer goes on too, and also ends with the same weights.
    first.run(10)
    assert_same_weights(first.model(), whole.model(), "continued ")


def test_resume_with_the_initial_model_goes_on_from_the_checkpoint(init, ring, context, tmp_path):
    """`Trainer(model, y, resume=path)` as documented ("from step 0, or from the checkpoint
    file `resume`"; the CLI's --resume takes the model from the checkpoint): the run goes on
    from the checkpoint's weights, whatever initial model is given."""
    first = trainer(init, ring, context)
    first.run(10)
    path = tmp_path / "ckpt.safetensors"
    first.save_checkpoint(path)
    try:
        resumed = trainer(init, ring, context, resume=path)
    except ValueError as e:
        raise AssertionError(
            "Trainer(init_model, y, resume=checkpoint) is refused: the binding builds the "
            f"engine from `model` instead of the checkpoint's model: {e}"
        ) from None
    assert resumed.step == 10
    assert_same_weights(resumed.model(), first.model())


def test_resume_with_another_seed_is_refused(init, ring, context, tmp_path):
    first = trainer(init, ring, context)
    first.run(2)
    path = tmp_path / "ckpt.safetensors"
    first.save_checkpoint(path)
    with pytest.raises(ValueError, match="invalid option seed: 99 differs from the checkpoint's 3"):
        trainer(ebm.Model.load(path), ring, context, resume=path, seed=99)
    with pytest.raises(ValueError, match="invalid option objective: .*differs from the checkpoint's"):
        trainer(ebm.Model.load(path), ring, context, resume=path, objective="nce", replay=0)
    with pytest.raises(ebm.EbmError, match="missing"):
        trainer(init, ring, context, resume=tmp_path / "missing.safetensors")


def test_nce_and_conditional_training_are_deterministic(context):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((128, 1)).astype(np.float32)
    y = np.concatenate([np.sin(2 * x), np.cos(x)], axis=1).astype(np.float32) + 0.05 * rng.standard_normal(
        (128, 2)
    ).astype(np.float32)
    model = ebm.Model.random(1, 2, [16], activation="tanh", output="identity", seed=2)
    for objective, extra in (("nce", dict(replay=0)), ("cd", dict(mala=True, negative_temperature=0.5))):
        runs = []
        for _ in range(2):
            t = ebm.Trainer(model, y, x, context=context, objective=objective, batch=32, seed=5,
                            negative_steps=5, **extra)
            stats = t.run(10)
            assert np.isfinite(stats["loss"]).all()
            runs.append(t.model())
        assert_same_weights(runs[0], runs[1], f"{objective} ")
        assert runs[0] != model


def test_trained_model_runs_on_an_engine(init, ring, context):
    t = trainer(init, ring, context)
    t.run(10)
    model = t.model()
    engine = ebm.Engine(model, context)
    e = engine.eval(None, ring[:16])
    assert np.isfinite(e.energy).all() and np.isfinite(e.grad).all()


def run_snippet(code: str, timeout: float = 20.0) -> subprocess.CompletedProcess | None:
    """Runs `code` in a fresh interpreter; None when it hangs past `timeout` (then killed)."""
    env = dict(os.environ, XDG_RUNTIME_DIR=os.environ.get("XDG_RUNTIME_DIR", "/tmp"))
    try:
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return None


SETUP = """
import threading, time, numpy as np, ebm_wgpu as ebm
m = ebm.Model.random(0, 2, [16], seed=1)
y = np.random.default_rng(0).standard_normal((256, 2)).astype(np.float32)
t = ebm.Trainer(m, y, batch=32, replay=256, negative_steps=10, seed=1)
"""


def test_reading_step_while_another_thread_trains():
    """`trainer.step` read from one thread while another runs `trainer.run` (a progress
    display, say) answers, and the run finishes. Run in a subprocess: it may hang."""
    done = run_snippet(
        SETUP
        + """
started = threading.Event()
th = threading.Thread(target=lambda: t.run(100, progress=lambda p: started.set()))
th.start()
started.wait()  # the run is under way
seen = t.step
th.join()
assert 1 <= seen <= 100 and t.step == 100, (seen, t.step)
print("ok")
"""
    )
    assert done is not None, "deadlock: reading Trainer.step while another thread runs Trainer.run hung"
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr


def test_checkpoint_from_the_progress_callback(tmp_path):
    """Saving a checkpoint (or `model()`) from `run`'s own progress callback raises
    EbmError saying the trainer is running, instead of hanging (the run holds the trainer);
    `step` can be read there. Run in a subprocess: a regression would hang."""
    path = tmp_path / "ckpt.safetensors"
    done = run_snippet(
        SETUP
        + f"""
steps_seen = []
def every_two(p):
    steps_seen.append(t.step)
    if p.steps_done == 2:
        try:
            t.save_checkpoint({str(path)!r})
        except ebm.EbmError as e:
            print("refused:", e)
            return False
t.run(6, progress=every_two)
print("ok", t.step, steps_seen)
"""
    )
    assert done is not None, "deadlock: Trainer.save_checkpoint called from Trainer.run's progress callback hung"
    assert done.returncode == 0, done.stderr
    assert "refused: the trainer is running" in done.stdout, done.stdout
    assert "ok 2 [1, 2]" in done.stdout, done.stdout
    assert not path.exists()
