"""Helpers shared by the tests: seeded inputs, bit-for-bit comparisons, the IRED example."""

from __future__ import annotations

import importlib.util
import pathlib

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]


def ired_example():
    """examples/ired_matrix/ired_matrix.py as a module (loaded by its path)."""
    path = ROOT / "examples" / "ired_matrix" / "ired_matrix.py"
    spec = importlib.util.spec_from_file_location("ired_matrix", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rand(seed: int, *shape, scale: float = 1.0) -> np.ndarray:
    """Seeded standard-normal float32 values (never zeros)."""
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


def same(a, b) -> bool:
    """Bit-for-bit equality of two arrays (dtype, shape and values; NaN equals NaN)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.kind == "f":
        # Compare bit patterns, so NaN == NaN and -0.0 != 0.0.
        view = {2: np.uint16, 4: np.uint32, 8: np.uint64}[a.dtype.itemsize]
        a_bits, b_bits = a.view(view), b.view(view)
        both_nan = np.isnan(a) & np.isnan(b)
        return bool(np.all((a_bits == b_bits) | both_nan))
    return bool(np.array_equal(a, b))


def assert_same(a, b, what: str = "") -> None:
    """`a` and `b` equal bit for bit (NaN where both are NaN), with a readable failure."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype, f"{what}: dtype {a.dtype} != {b.dtype}"
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    if same(a, b):
        return
    if a.dtype.kind == "f":
        view = {2: np.uint16, 4: np.uint32, 8: np.uint64}[a.dtype.itemsize]
        differ = (a.view(view) != b.view(view)) & ~(np.isnan(a) & np.isnan(b))
    else:
        differ = a != b
    where = np.argwhere(np.atleast_1d(differ))
    first = tuple(where[0])
    raise AssertionError(
        f"{what}: {len(where)} of {a.size} values differ; first at {first}: "
        f"{np.atleast_1d(a)[first]!r} != {np.atleast_1d(b)[first]!r}"
    )


PER_CHAIN = (
    "y",
    "energy",
    "steps_taken",
    "accepted",
    "acceptance",
    "step_scale",
    "acceptance_warmup",
    "acceptance_after_warmup",
    "non_finite_at",
    "decoded_y",
    "decoded_energy",
    "swap_acceptance",
    "round_trips",
    "swaps_proposed",
    "swaps_accepted",
)


def assert_same_refinement(a, b, what: str = "") -> None:
    """Every array field of two refinements (Refinement or gathered ShardResult) equal."""
    for name in PER_CHAIN:
        va, vb = getattr(a, name), getattr(b, name)
        assert (va is None) == (vb is None), f"{what}{name}: {va!r} vs {vb!r}"
        if va is not None:
            assert_same(va, vb, f"{what}{name}")
    assert a.cancelled == b.cancelled


def assert_same_best_of(a, b, what: str = "") -> None:
    for name in ("y", "energy", "best", "spread"):
        assert_same(getattr(a, name), getattr(b, name), f"{what}{name}")
    assert_same_refinement(a.all, b.all, f"{what}all.")
