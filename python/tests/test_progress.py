"""The progress callback: called between submissions with `Progress` objects; returning
False cancels (the result says so, with each chain's true step count); an exception raised
in it propagates once the GPU has stopped. `dispatch_ms=1e-6` makes every step a submission
of its own, so a short refinement reports many times."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import ebm_wgpu as ebm
from _helpers import assert_same, assert_same_refinement, rand

STEPS = 12
OPTS = dict(steps=STEPS, step_size=0.02, temperature=0.1, seed=8, dispatch_ms=1e-6)


@pytest.fixture(scope="module")
def batch():
    return rand(21, 20, 2), rand(22, 20, 4)


def test_progress_is_reported_between_submissions(cond_engine, batch):
    x, y0 = batch
    seen = []

    def progress(p):
        seen.append(p)

    out = cond_engine.refine(x, y0, progress=progress, **OPTS)
    assert len(seen) >= 2, f"only {len(seen)} progress calls"
    assert all(isinstance(p, ebm.Progress) for p in seen)
    done = [p.steps_done for p in seen]
    assert all(p.steps_total == STEPS for p in seen)
    assert done == sorted(set(done)), f"steps_done not increasing: {done}"
    assert 0 < done[0] and done[-1] == STEPS
    elapsed = [p.elapsed for p in seen]
    assert all(e >= 0 for e in elapsed) and elapsed == sorted(elapsed)
    assert not out.cancelled
    assert (out.steps_taken == STEPS).all()
    # Reporting changes nothing: the same bits as a run without a callback, in one
    # submission or many.
    assert_same_refinement(out, cond_engine.refine(x, y0, **OPTS))
    plain = dict(OPTS)
    del plain["dispatch_ms"]
    assert_same_refinement(out, cond_engine.refine(x, y0, **plain))


def test_progress_counts_every_chunk(context, cond_model, batch):
    """A batch split into chunks reports steps of every chunk: K per chunk in all."""
    x, y0 = batch
    engine = ebm.Engine(cond_model, context, chunk=8)  # 20 chains: 3 chunks
    seen = []
    out = engine.refine(x, y0, progress=seen.append, **OPTS)
    assert seen[-1].steps_total == 3 * STEPS
    assert seen[-1].steps_done == 3 * STEPS
    assert_same_refinement(out, ebm.Engine(cond_model, context).refine(x, y0, **OPTS))


def test_returning_false_cancels(cond_engine, batch):
    x, y0 = batch
    calls = []

    def stop_after_two(p):
        calls.append(p.steps_done)
        return len(calls) < 2

    out = cond_engine.refine(x, y0, progress=stop_after_two, **OPTS)
    assert out.cancelled
    assert "cancelled" in repr(out)
    assert len(calls) == 2, calls
    assert (out.steps_taken == calls[-1]).all(), (out.steps_taken, calls)
    assert calls[-1] < STEPS
    # What was done is the first steps of the whole run (a constant schedule: the same
    # step sizes and noise), bit for bit.
    short = cond_engine.refine(x, y0, **dict(OPTS, steps=calls[-1]))
    assert_same(out.y, short.y, "y")
    assert_same(out.energy, short.energy, "energy")


def test_only_false_cancels(cond_engine, batch):
    """None, 0, or any other value keeps going: only the bool False cancels."""
    x, y0 = batch
    for value in (None, True, 0, "", [], 1):
        out = cond_engine.refine(x, y0, progress=lambda p, v=value: v, **OPTS)
        assert not out.cancelled, f"returning {value!r} cancelled"
        assert (out.steps_taken == STEPS).all()


def test_cancelling_best_of(cond_engine, batch):
    x, y0 = batch
    out = cond_engine.refine(x[:5], y0, best_of=4, progress=lambda p: False, **OPTS)
    assert isinstance(out, ebm.BestOf)
    assert out.all.cancelled
    assert (out.all.steps_taken < STEPS).all()


class Boom(Exception):
    pass


def test_an_exception_in_the_callback_propagates(cond_engine, batch):
    x, y0 = batch
    calls = []

    def explode(p):
        calls.append(p.steps_done)
        if len(calls) == 2:
            raise Boom(f"stopped at {p.steps_done}")

    with pytest.raises(Boom, match="stopped at"):
        cond_engine.refine(x, y0, progress=explode, **OPTS)
    assert len(calls) == 2, "the callback was called again after it raised"
    # The engine is still usable, with the same bits as before.
    again = cond_engine.refine(x, y0, **OPTS)
    assert not again.cancelled and (again.steps_taken == STEPS).all()


def test_a_callback_that_is_not_callable_raises(cond_engine, batch):
    x, y0 = batch
    with pytest.raises(TypeError):
        cond_engine.refine(x, y0, progress=42, **OPTS)


def test_trainer_progress(context, cond_model):
    y, x = rand(31, 64, 4), rand(32, 64, 2)
    trainer = ebm.Trainer(
        cond_model, y, x, context=context, batch=16, replay=64, negative_steps=5, seed=1, log_every=2
    )
    seen = []
    stats = trainer.run(6, progress=seen.append)
    assert [p.steps_done for p in seen] == [1, 2, 3, 4, 5, 6]
    assert all(isinstance(p, ebm.Progress) and p.steps_total == 6 for p in seen)
    assert len(stats["loss"]) == 6
    # Returning False stops after that step.
    stats = trainer.run(6, progress=lambda p: p.steps_done < 8)
    assert trainer.step == 8
    assert len(stats["loss"]) == 2


def test_the_callback_may_use_the_same_engine(cond_engine, batch):
    """An engine serves calls made from its own refinement's callback (between submissions)."""
    x, y0 = batch
    ref = cond_engine.eval(x, y0)
    inner = []

    def progress(p):
        inner.append(cond_engine.eval(x, y0))

    out = cond_engine.refine(x, y0, progress=progress, **OPTS)
    assert_same_refinement(out, cond_engine.refine(x, y0, **OPTS))
    assert len(inner) >= 2
    for e in inner:
        assert_same(e.energy, ref.energy)


CTRL_C = """
import signal, threading, time, _thread, numpy as np, ebm_wgpu as ebm
# A shell that starts a command in the background without job control (as CI runners do)
# starts it with SIGINT ignored, and then Python installs no handler and interrupt_main()
# does nothing. A terminal's Ctrl-C reaches Python's own handler: install it, as there.
signal.signal(signal.SIGINT, signal.default_int_handler)
rng = np.random.default_rng(0)
x = rng.standard_normal((20, 2)).astype(np.float32)
y = rng.standard_normal((20, 3)).astype(np.float32)
e = ebm.Engine(ebm.Model.random(2, 3, [16], seed=1))
threading.Timer(0.3, _thread.interrupt_main).start()
t0 = time.time()
try:
    e.refine(x, y, steps=10**6, step_size=0.001, temperature=0.01, seed=1)
    print("refine returned")
except KeyboardInterrupt:
    print("refine interrupted", time.time() - t0)
assert not e.refine(x, y, steps=5, step_size=0.01).cancelled
t = ebm.Trainer(ebm.Model.random(0, 2, [16], seed=1), y[:, :2], batch=8, replay=20, negative_steps=5)
threading.Timer(0.3, _thread.interrupt_main).start()
t0 = time.time()
try:
    t.run(10**7)
    print("run returned")
except KeyboardInterrupt:
    print("run interrupted", time.time() - t0, t.step)
"""


def test_ctrl_c_stops_a_refinement_and_a_training_run():
    """Ctrl-C (SIGINT) during `refine` or `Trainer.run` stops it at the next submission and
    raises KeyboardInterrupt; the engine stays usable. In a subprocess, so a failure cannot
    interrupt the test run itself (the subprocess installs Python's SIGINT handler, which
    a parent that ignores SIGINT would otherwise leave out)."""
    env = dict(os.environ, XDG_RUNTIME_DIR=os.environ.get("XDG_RUNTIME_DIR", "/tmp"))
    try:
        done = subprocess.run([sys.executable, "-c", CTRL_C], capture_output=True, text=True, timeout=120, env=env)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"not stopped within 120 s; it printed: {e.stdout!r}")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("refine interrupted"), done.stdout
    assert float(lines[0].split()[-1]) < 10
    assert lines[1].startswith("run interrupted"), done.stdout
    _, _, seconds, step = lines[1].split()
    assert float(seconds) < 10 and int(step) > 0
