"""One engine shared by several Python threads: refinements run at once give exactly the
results of the same calls run one after the other, and the GIL is released while the GPU
works."""

from __future__ import annotations

import threading
import time

import numpy as np

import ebm_wgpu as ebm
from _helpers import assert_same, assert_same_best_of, assert_same_refinement, rand


def calls(model):
    """Refinements of different sizes and samplers (keyword arguments of refine)."""
    out = []
    for k, n in enumerate((24, 40, 64, 17, 33, 48)):
        x = rand(300 + k, n, model.x_dim)
        y0 = rand(400 + k, n, model.y_dim)
        options = dict(steps=20 + 5 * k, step_size=0.02, temperature=0.1, seed=k)
        if k == 2:
            options.update(mala=True, adapt_steps=8)
        if k == 4:
            options.update(keep_if_lower=True, temperature=0.01)
        if k == 5:
            x = x[: n // 4]
            options.update(best_of=4)
        out.append((x, y0, options))
    return out


def compare(a, b, what):
    if isinstance(a, ebm.BestOf):
        assert_same_best_of(a, b, what)
    else:
        assert_same_refinement(a, b, what)


def run_threads(targets):
    errors = []

    def guarded(f):
        def go():
            try:
                f()
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        return go

    threads = [threading.Thread(target=guarded(f)) for f in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
        assert not t.is_alive(), "a thread did not finish"
    if errors:
        raise errors[0]


def test_threads_sharing_one_engine_give_the_sequential_results(cond_engine, cond_model):
    jobs = calls(cond_model)
    sequential = [cond_engine.refine(x, y0, **o) for x, y0, o in jobs]
    concurrent = [None] * len(jobs)
    start = threading.Barrier(3)

    def worker(indices):
        def go():
            start.wait()
            # Each thread runs its calls twice, so calls of other threads overlap them.
            for _ in range(2):
                for i in indices:
                    x, y0, o = jobs[i]
                    r = cond_engine.refine(x, y0, **o)
                    if concurrent[i] is None:
                        concurrent[i] = r
                    else:
                        compare(r, concurrent[i], f"call {i} repeated: ")

        return go

    run_threads([worker([0, 3]), worker([1, 4]), worker([2, 5])])
    for i, (a, b) in enumerate(zip(concurrent, sequential)):
        compare(a, b, f"call {i}: ")


def test_threads_mixing_eval_and_refine(cond_engine, cond_model):
    x, y = rand(1, 50, 2), rand(2, 50, 4)
    e_ref = cond_engine.eval(x, y)
    r_ref = cond_engine.refine(x, y, steps=15, step_size=0.02, temperature=0.1, seed=3)
    results = {}

    def evals():
        results["eval"] = [cond_engine.eval(x, y) for _ in range(10)]

    def refines():
        results["refine"] = [
            cond_engine.refine(x, y, steps=15, step_size=0.02, temperature=0.1, seed=3) for _ in range(4)
        ]

    run_threads([evals, refines, evals])
    for e in results["eval"]:
        assert_same(e.energy, e_ref.energy)
        assert_same(e.grad, e_ref.grad)
    for r in results["refine"]:
        assert_same_refinement(r, r_ref)


def test_the_gil_is_released_while_the_gpu_works(cond_engine):
    """While one thread refines (about a second here), this thread keeps running: no gap
    between its iterations comes near the refinement's length."""
    x, y0 = rand(5, 64, 2), rand(6, 64, 4)
    done = threading.Event()
    span = {}

    def refine():
        t0 = time.perf_counter()
        cond_engine.refine(x, y0, steps=1000, step_size=0.001, temperature=0.1, seed=1)
        span["seconds"] = time.perf_counter() - t0
        done.set()

    t = threading.Thread(target=refine)
    stamps = [time.perf_counter()]
    t.start()
    while not done.is_set():
        stamps.append(time.perf_counter())
    t.join()
    gaps = np.diff(stamps)
    assert span["seconds"] > 0.2, "the refinement was too short to tell"
    assert gaps.max() < 0.5 * span["seconds"], (
        f"this thread stalled {gaps.max():.3f} s of a {span['seconds']:.3f} s refinement: the GIL was held"
    )
