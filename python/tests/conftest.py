"""Shared fixtures of the ebm_wgpu tests.

Every test runs on whatever GPU adapter wgpu picks (lavapipe on a machine without a GPU);
none is skipped for want of one: `Context()` raising is a failure. Inputs are small seeded
random batches (never zeros), so the whole suite stays fast on a software rasteriser.
"""

from __future__ import annotations

import os
import pathlib

# Mesa warns (and some drivers misbehave) without a runtime folder; set one before any
# Vulkan instance is made, here and in every process started from the tests (Ray workers).
os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")

import pytest

import ebm_wgpu as ebm

PYTHON_DIR = pathlib.Path(__file__).resolve().parent.parent


def pytest_report_header(config):
    try:
        return f"ebm_wgpu {ebm.__version__}; adapters: {ebm.adapters()}"
    except Exception as e:  # the context fixture fails the tests themselves
        return f"ebm_wgpu {ebm.__version__}; adapters: none ({e})"


def cargo_target_dir(root: pathlib.Path = PYTHON_DIR.parent) -> pathlib.Path:
    """Where cargo builds: $CARGO_TARGET_DIR (relative to the current directory, as cargo
    reads it), else target/ of the repository."""
    given = os.environ.get("CARGO_TARGET_DIR")
    return pathlib.Path(given).absolute() if given else root / "target"


@pytest.fixture(scope="session")
def ebm_bin() -> pathlib.Path:
    """The `ebm` command line binary: $EBM_BIN, else release/ebm of cargo's target folder
    ($CARGO_TARGET_DIR, else target/ of the repository)."""
    given = os.environ.get("EBM_BIN")
    path = pathlib.Path(given) if given else cargo_target_dir() / "release" / "ebm"
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(
            f"the ebm CLI binary is missing at {path}: build it with `cargo build --release` "
            "in the repository root (with the same CARGO_TARGET_DIR), or point EBM_BIN at it",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def context() -> ebm.Context:
    """The GPU every test runs on. No adapter is a failure, never a skip."""
    try:
        return ebm.Context()
    except Exception as e:
        pytest.fail(f"no GPU adapter could be opened (ebm_wgpu.Context() raised {e!r})", pytrace=False)


@pytest.fixture(scope="session")
def cond_model() -> ebm.Model:
    """A small conditional model: x_dim 2, y_dim 4."""
    return ebm.Model.random(2, 4, [16, 16], activation="silu", output="softplus", seed=3)


@pytest.fixture(scope="session")
def cond_engine(context, cond_model) -> ebm.Engine:
    return ebm.Engine(cond_model, context)


@pytest.fixture(scope="session")
def uncond_model() -> ebm.Model:
    """A small unconditional model: y_dim 6 (two simplex groups of 3)."""
    return ebm.Model.random(0, 6, [16], activation="tanh", output="square", outputs=3, seed=5)


@pytest.fixture(scope="session")
def uncond_engine(context, uncond_model) -> ebm.Engine:
    return ebm.Engine(uncond_model, context)
