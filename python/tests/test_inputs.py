"""What `Engine.refine`, `Engine.eval`, `Engine` and `Trainer` accept and refuse: every bad
input raises its exception with a message naming it; every accepted form of the same values
(layouts, dtypes that convert exactly, torch tensors, lists) gives the same bits."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

import ebm_wgpu as ebm
from _helpers import assert_same, assert_same_refinement, rand

N = 12
OPTS = dict(steps=6, step_size=0.05, temperature=0.1, seed=4)


@pytest.fixture(scope="module")
def batch(cond_model):
    """x [N, 2] and y0 [N, 4], with values float16 holds exactly (so every conversion is
    exact and the results must be bit-identical)."""
    x = rand(11, N, cond_model.x_dim).astype(np.float16).astype(np.float32)
    y0 = rand(12, N, cond_model.y_dim).astype(np.float16).astype(np.float32)
    return x, y0


@pytest.fixture(scope="module")
def reference(cond_engine, batch):
    x, y0 = batch
    return cond_engine.refine(x, y0, **OPTS)


class DLPackOnly:
    """An object that offers only the DLPack protocol."""

    def __init__(self, array):
        self._a = array

    def __dlpack__(self, *args, **kwargs):
        return self._a.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self._a.__dlpack_device__()


def strided(a: np.ndarray) -> np.ndarray:
    """`a`'s values in a non-contiguous view (every other row and column of a larger array)."""
    big = np.full((2 * a.shape[0], 2 * a.shape[1]), 7.0, np.float32)
    big[::2, ::2] = a
    view = big[::2, ::2]
    assert not view.flags.c_contiguous
    return view


def transposed(a: np.ndarray) -> np.ndarray:
    view = np.ascontiguousarray(a.T).T
    assert not view.flags.c_contiguous and view.flags.f_contiguous
    return view


FORMS = {
    "fortran-order": lambda a: np.asfortranarray(a),
    "strided-slice": strided,
    "transpose": transposed,
    "reversed-rows": lambda a: a[::-1].copy()[::-1],
    "float64": lambda a: a.astype(np.float64),
    "float16": lambda a: a.astype(np.float16),
    "float64-transposed": lambda a: transposed(a).astype(np.float64, order="K"),
    "read-only": lambda a: np.lib.stride_tricks.as_strided(a, writeable=False),
    "torch": lambda a: torch.from_numpy(a.copy()),
    "torch-requires-grad": lambda a: torch.tensor(a, requires_grad=True),
    "torch-transposed": lambda a: torch.from_numpy(a.T.copy()).t(),
    "torch-float64": lambda a: torch.from_numpy(a.astype(np.float64)),
    "torch-float16": lambda a: torch.from_numpy(a).half(),
    "torch-bfloat16-exact": None,  # below: needs values bfloat16 holds
    "list": lambda a: a.tolist(),
    "tuple-of-lists": lambda a: tuple(a.tolist()),
    "dlpack-object": lambda a: DLPackOnly(a.copy()),
    "memoryview": lambda a: memoryview(a.copy()),
}


@pytest.mark.parametrize("form", [f for f in FORMS if FORMS[f] is not None])
@pytest.mark.parametrize("which", ["x", "y0", "both"])
def test_equivalent_inputs_give_the_same_bits(form, which, cond_engine, batch, reference):
    x, y0 = batch
    convert = FORMS[form]
    xs = convert(x) if which in ("x", "both") else x
    ys = convert(y0) if which in ("y0", "both") else y0
    out = cond_engine.refine(xs, ys, **OPTS)
    assert_same_refinement(out, reference, f"{form} {which}: ")
    # The caller's arrays are not changed.
    assert_same(np.asarray(x), batch[0])
    assert_same(np.asarray(y0), batch[1])


def test_bfloat16_tensors_are_converted(cond_engine, cond_model):
    y0 = torch.randn(N, cond_model.y_dim, generator=torch.Generator().manual_seed(3)).bfloat16()
    x = torch.randn(N, cond_model.x_dim, generator=torch.Generator().manual_seed(4)).bfloat16()
    a = cond_engine.refine(x, y0, **OPTS)
    b = cond_engine.refine(x.float().numpy(), y0.float().numpy(), **OPTS)
    assert_same_refinement(a, b)


def test_eval_accepts_the_same_forms(cond_engine, batch):
    x, y = batch
    ref = cond_engine.eval(x, y)
    for form in ("transpose", "float64", "torch-requires-grad", "list"):
        e = cond_engine.eval(FORMS[form](x), FORMS[form](y))
        assert_same(e.energy, ref.energy, form)
        assert_same(e.grad, ref.grad, form)


def test_fixed_mask_forms(cond_engine, batch):
    x, y0 = batch
    mask = np.random.default_rng(5).random(y0.shape) < 0.4
    ref = cond_engine.refine(x, y0, fixed=mask, **OPTS)
    # Fixed coordinates stay at their start, bit for bit; the others move.
    assert_same(ref.y[mask], y0[mask])
    assert (ref.y[~mask] != y0[~mask]).all()
    for form in (
        mask.astype(np.float32),
        mask.astype(np.int8),
        np.asfortranarray(mask),
        torch.from_numpy(mask.copy()),
        mask.tolist(),
    ):
        assert_same_refinement(cond_engine.refine(x, y0, fixed=form, **OPTS), ref)


def test_model_from_layers_accepts_array_forms(cond_model):
    w = [np.asfortranarray(a.astype(np.float64)) for a in cond_model.weights]
    b = [torch.from_numpy(a) for a in cond_model.biases]
    again = ebm.Model.from_layers(2, 4, w, b, activation="silu", output="softplus")
    assert again == cond_model


# --- refused inputs ---------------------------------------------------------------------

BAD_Y0 = [
    pytest.param(lambda y: y.astype(np.int64), TypeError, "y0: dtype int64 is not a float", id="int64"),
    pytest.param(lambda y: y.astype(np.int32), TypeError, "y0: dtype int32 is not a float", id="int32"),
    pytest.param(lambda y: y > 0, TypeError, "y0: dtype bool is not a float", id="bool"),
    pytest.param(lambda y: y.astype(np.complex64), TypeError, "y0: dtype complex64 is not a float", id="complex"),
    pytest.param(lambda y: torch.from_numpy(y).long(), TypeError, "y0: dtype int64 is not a float", id="torch-int"),
    pytest.param(lambda y: "y0", TypeError, "y0: str is not an array", id="string"),
    pytest.param(lambda y: None, TypeError, "y0: NoneType is not an array", id="none"),
    pytest.param(
        lambda y: y.ravel(), ValueError, re.escape("y0: shape (48,); the model's y_dim is 4, so y0 must be [B, 4]"),
        id="rank-1",
    ),
    pytest.param(
        lambda y: y[None], ValueError, re.escape("y0: shape (1, 12, 4); the model's y_dim is 4"), id="rank-3"
    ),
    pytest.param(
        lambda y: y[:, :3], ValueError, re.escape("y0: shape (12, 3); the model's y_dim is 4, so y0 must be [B, 4]"),
        id="width",
    ),
    pytest.param(
        lambda y: np.where(np.arange(48).reshape(12, 4) == 9, np.nan, y).astype(np.float32),
        ValueError,
        re.escape("y0: holds a non-finite value (NaN) at flat index 9"),
        id="nan",
    ),
    pytest.param(
        lambda y: np.where(np.arange(48).reshape(12, 4) == 5, -np.inf, y).astype(np.float32),
        ValueError,
        re.escape("y0: holds a non-finite value (-inf) at flat index 5"),
        id="inf",
    ),
]


@pytest.mark.parametrize("make, error, message", BAD_Y0)
def test_bad_y0_is_refused(make, error, message, cond_engine, batch):
    x, y0 = batch
    with pytest.raises(error, match=message):
        cond_engine.refine(x, make(y0), **OPTS)


def test_empty_batch_is_refused(cond_engine, uncond_engine, batch):
    x, y0 = batch
    with pytest.raises(ValueError, match="y0: empty batch: at least one chain is needed"):
        cond_engine.refine(x[:0], y0[:0], **OPTS)
    with pytest.raises(ValueError, match="y0: empty batch"):
        uncond_engine.refine(None, np.empty((0, 6), np.float32), **OPTS)
    with pytest.raises(ValueError, match="y: empty batch"):
        cond_engine.eval(x[:0], y0[:0])


def test_bad_x_is_refused(cond_engine, uncond_engine, batch):
    x, y0 = batch
    with pytest.raises(ValueError, match=re.escape("x: missing; the model's x_dim is 2, so x must be [B, 2]")):
        cond_engine.refine(None, y0, **OPTS)
    with pytest.raises(ValueError, match=re.escape("x: missing; the model's x_dim is 2")):
        cond_engine.eval(None, y0)
    with pytest.raises(ValueError, match="x: 11 rows; expected 12 rows, one per row of y0"):
        cond_engine.refine(x[:11], y0, **OPTS)
    with pytest.raises(ValueError, match=re.escape("x: 4 rows; expected one row per 4 rows of y0 (best_of=4): 3")):
        cond_engine.refine(x[:4], y0, best_of=4, **OPTS)
    with pytest.raises(ValueError, match=re.escape("x: shape (12, 3); the model's x_dim is 2, so x must be [B, 2]")):
        cond_engine.refine(np.ones((12, 3), np.float32), y0, **OPTS)
    with pytest.raises(TypeError, match="x: dtype int64 is not a float"):
        cond_engine.refine(x.astype(np.int64), y0, **OPTS)
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match=re.escape("x: holds a non-finite value (NaN) at flat index 7")):
        cond_engine.refine(bad, y0, **OPTS)
    # An unconditional model takes no x.
    y6 = rand(1, 5, 6)
    with pytest.raises(ValueError, match="x: shape"):
        uncond_engine.refine(np.ones((5, 2), np.float32), y6, **OPTS)


def test_bad_fixed_mask_is_refused(cond_engine, batch):
    x, y0 = batch
    with pytest.raises(ValueError, match=re.escape("fixed: shape (12, 3); expected [12, 4], like y0")):
        cond_engine.refine(x, y0, fixed=np.ones((12, 3), bool), **OPTS)
    with pytest.raises(ValueError, match=re.escape("fixed: shape (48,); expected [12, 4], like y0")):
        cond_engine.refine(x, y0, fixed=np.ones(48, bool), **OPTS)
    with pytest.raises(TypeError, match="fixed: dtype float64 with values other than 0 and 1"):
        cond_engine.refine(x, y0, fixed=np.full((12, 4), 0.5), **OPTS)


BAD_OPTIONS = [
    (dict(step_size=-0.1), "invalid option step_size: must be a positive number, got -0.1"),
    (dict(step_size=None), re.escape("invalid option step_size: give step_size (or stages)")),
    (dict(temperature=0.0), "invalid option seed: would be ignored: no step has noise"),
    (dict(schedule="zigzag"), 'invalid option schedule: unknown schedule "zigzag"'),
    (dict(mala=True, keep_if_lower=True), "invalid option mala: not with keep_if_lower"),
    (dict(adapt_steps=3), "invalid option adapt_steps / target_accept: only with mala=True"),
    (dict(shrink=0.5), "invalid option shrink: only with keep_if_lower=True"),
    (dict(rise_tolerance=1e-6), "invalid option rise_tolerance: only with keep_if_lower=True"),
    (dict(keep_if_lower=True, rise_tolerance=-1.0), re.escape("invalid option rise_tolerance: must be finite and at least 0")),
    (dict(mala=True, clamp=(-1.0, 1.0)), "invalid option clamp: cannot be used with mala"),
    (dict(best_of=0), "invalid option best_of: needs at least 1 chain per x"),
    (dict(ladder=(1.0, 2.0)), "invalid option ladder / ladder_factors / swap_every: only with replicas"),
    (dict(replicas=4, ladder=(1.0, 2.0), ladder_factors=[1.0, 2.0]), "invalid option ladder: give ladder or ladder_factors"),
    (dict(replicas=2, best_of=3), "invalid option replicas: 2 replicas do not divide the 3 chains per x of best_of"),
    (dict(vertex_penalty_schedule="linear"), "invalid option vertex_penalty_schedule: only with vertex_penalty"),
    (dict(stages="6:0.1:0.1"), "invalid option stages: sets every step's step size and temperature"),
]


@pytest.mark.parametrize("change, message", BAD_OPTIONS, ids=[m.split(":")[0][15:] + str(i) for i, (_, m) in enumerate(BAD_OPTIONS)])
def test_bad_options_are_refused(change, message, cond_engine, batch):
    x, y0 = batch
    options = dict(OPTS, **change)
    if options["step_size"] is None:
        del options["step_size"]
    if options.get("best_of") == 3:
        x = x[:4]
    with pytest.raises(ValueError, match=message):
        cond_engine.refine(x, y0, **options)


def test_replica_groups_must_be_whole(uncond_engine):
    with pytest.raises(ValueError, match="y0: 10 chains are not whole groups of replicas = 4"):
        uncond_engine.refine(None, rand(1, 10, 6), steps=4, step_size=0.1, temperature=0.1, replicas=4)


def test_bad_engine_options_are_refused(cond_model, context):
    with pytest.raises(ValueError, match='invalid option kernel: unknown kernel path "tile3"'):
        ebm.Engine(cond_model, context, kernel="tile3")
    with pytest.raises(ValueError, match="invalid option chunk: must be at least 1"):
        ebm.Engine(cond_model, context, chunk=0)
    with pytest.raises(ValueError, match='invalid option backend: "nonsense" is not a backend'):
        ebm.Context(backend="nonsense")
    with pytest.raises(ebm.EbmError, match='no GPU adapter found whose name holds "no such gpu"'):
        ebm.Context(adapter="no such gpu")


def test_bad_trainer_options_are_refused(cond_model, context, batch):
    x, y = batch
    with pytest.raises(ValueError, match='invalid option objective: "ml"; expected "cd" or "nce"'):
        ebm.Trainer(cond_model, y, x, context=context, objective="ml")
    with pytest.raises(ValueError, match='invalid option optimizer: "lbfgs"'):
        ebm.Trainer(cond_model, y, x, context=context, optimizer="lbfgs")
    with pytest.raises(ValueError, match="invalid option kernel"):
        ebm.Trainer(cond_model, y, x, context=context, kernel="nope")
    with pytest.raises(ValueError, match="invalid option batch: must be at least 1"):
        ebm.Trainer(cond_model, y, x, context=context, batch=0)
    with pytest.raises(ValueError, match="invalid option negative_step_size: must be a positive number"):
        ebm.Trainer(cond_model, y, x, context=context, negative_step_size=-1.0)
    with pytest.raises(ValueError, match="invalid option rise_tolerance: only with keep_if_lower=True"):
        ebm.Trainer(cond_model, y, x, context=context, rise_tolerance=1e-6)
    with pytest.raises(ValueError, match="invalid option rise_tolerance: must be finite and at least 0"):
        ebm.Trainer(cond_model, y, x, context=context, keep_if_lower=True, rise_tolerance=-1.0)
    with pytest.raises(ValueError, match="invalid option replay: 8 slots cannot give a batch of 12"):
        ebm.Trainer(cond_model, y, x, context=context, batch=12, replay=8)
    with pytest.raises(ValueError, match="x: 11 rows; expected 12, one per row of y"):
        ebm.Trainer(cond_model, y, x[:11], context=context)
    with pytest.raises(ValueError, match=re.escape("y: shape (12, 3); the model's y_dim is 4")):
        ebm.Trainer(cond_model, y[:, :3], x, context=context)
    with pytest.raises(TypeError, match="y: dtype int64 is not a float"):
        ebm.Trainer(cond_model, y.astype(np.int64), x, context=context)
    bad = y.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match=re.escape("y: holds a non-finite value (NaN)")):
        ebm.Trainer(cond_model, bad, x, context=context)
    with pytest.raises(ValueError, match="^x:"):
        ebm.Trainer(cond_model, y, None, context=context)


def test_bad_models_are_refused():
    with pytest.raises(ValueError, match='unknown activation "swish"'):
        ebm.Model.random(2, 3, [8], activation="swish")
    with pytest.raises(ValueError, match="output"):
        ebm.Model.random(2, 3, [8], output="cube")
    with pytest.raises(ValueError, match="2 weights but 1 biases"):
        ebm.Model.from_layers(1, 1, [np.ones((4, 2)), np.ones((1, 4))], [np.ones(4)], activation="relu", output="identity")
    with pytest.raises(ValueError, match="only square allows several"):
        ebm.Model.from_layers(2, 3, [np.ones((8, 5))], [np.ones(8)], activation="relu", output="softplus")
    with pytest.raises(TypeError, match="layers.0.weight: dtype int64"):
        ebm.Model.from_layers(1, 1, [np.ones((1, 2), np.int64)], [np.ones(1)], activation="relu", output="identity")
