"""Energies of a landscape index t, E(x, y, t), written as IRED writes them (FiLM by an
embedding of t, yilundu/ired_code_release models.py class EBM, scaled down; its
sinusoidal time embedding as a Linear of frequencies then sin and cos), imported with
`Model.from_torch` from a `forward(x, y, t)` and held to PyTorch's float64 autograd:
energies and dE/dy at several t, and a staged descent whose stages set t and the clamp
range, with keep-if-lower that rejects a step raising the energy without shrinking (IRED's
`opt_step`), written out in PyTorch beside it, on every kernel path."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import torch
from torch import nn
import torch.nn.functional as F

import ebm_wgpu as ebm
from _helpers import ired_example, rand
from test_graphs import paths_to_test, rel_l2

X_DIM, Y_DIM = 3, 4


class FilmByT(nn.Module):
    def __init__(self, h=16, t_dim=8):
        super().__init__()
        self.time_mlp = nn.Sequential(nn.Linear(1, t_dim), nn.GELU(), nn.Linear(t_dim, t_dim))
        self.fc1 = nn.Linear(X_DIM + Y_DIM, h)
        self.fc2 = nn.Linear(h, h)
        self.fc3 = nn.Linear(h, h)
        self.fc4 = nn.Linear(h, Y_DIM)
        self.t_map_fc2 = nn.Linear(t_dim, 2 * h)
        self.t_map_fc3 = nn.Linear(t_dim, 2 * h)

    def forward(self, x, y, t):
        t_emb = self.time_mlp(t)
        fc2_gain, fc2_bias = torch.chunk(self.t_map_fc2(t_emb), 2, dim=-1)
        fc3_gain, fc3_bias = torch.chunk(self.t_map_fc3(t_emb), 2, dim=-1)
        h = F.silu(self.fc1(torch.cat([x, y], dim=-1)))
        h = F.silu(self.fc2(h) * (fc2_gain + 1) + fc2_bias)
        h = F.silu(self.fc3(h) * (fc3_gain + 1) + fc3_bias)
        return self.fc4(h).pow(2).sum(dim=-1)


@pytest.fixture(scope="module")
def film():
    torch.manual_seed(3)
    module = FilmByT().double()
    return module, ebm.Model.from_torch(module, X_DIM, Y_DIM)


def column(t: float, n: int) -> torch.Tensor:
    return torch.full((n, 1), t, dtype=torch.float64)


def test_an_energy_of_t_matches_pytorch_at_every_t(film, context):
    module, model = film
    engine = ebm.Engine(model, context)
    x, y = rand(1, 12, X_DIM), rand(2, 12, Y_DIM)
    xt = torch.from_numpy(x).double()
    energies = []
    for t in (0.0, 0.5, 3.0, -2.0):
        yt = torch.from_numpy(y).double().requires_grad_(True)
        e = module(xt, yt, column(t, 12))
        (grad,) = torch.autograd.grad(e.sum(), yt)
        got = engine.eval(x, y, landscape=t)
        assert rel_l2(got.energy, e.detach().numpy()) < 1e-4, t
        assert rel_l2(got.grad, grad.numpy()) < 1e-4, t
        energies.append(got.energy)
    assert not np.allclose(energies[0], energies[2]), "t was not read"
    np.testing.assert_array_equal(engine.eval(x, y).energy, energies[0])


# (steps, step size, landscape t, clamp range): smooth to sharp, as IRED walks its
# landscapes, the last stage without a clamp range of its own.
STAGES = [(3, 0.05, 2.0, (-1.0, 1.0)), (4, 0.02, 1.0, (-0.5, 0.5)), (3, 0.01, 0.0, None)]


def as_stages(stages) -> list:
    """The `stages` option: an ebm.Stage per (steps, step size, t, clamp), temperature 0."""
    return [ebm.Stage(steps, eta, landscape=t, clamp=clamp) for steps, eta, t, clamp in stages]


def spelled(stages) -> str:
    """The `stages` option: STEPS:ETA:T:LANDSCAPE[:LO:HI] (T, the temperature, 0)."""
    parts = []
    for steps, eta, t, clamp in stages:
        part = f"{steps}:{eta}:0:{t}"
        if clamp is not None:
            part += f":{clamp[0]}:{clamp[1]}"
        parts.append(part)
    return ",".join(parts)


def staged_descent(module, x, y, stages) -> np.ndarray:
    """IRED's opt_step over the stages, in float64: a gradient step, the clamp, and the
    step undone where it raised the energy."""
    x = torch.from_numpy(x).double()
    y = torch.from_numpy(y).double()
    for steps, eta, t, clamp in stages:
        tt = column(t, len(y))
        for _ in range(steps):
            y = y.detach().requires_grad_(True)
            energy = module(x, y, tt)
            (grad,) = torch.autograd.grad(energy.sum(), y)
            with torch.no_grad():
                new = y - eta * grad
                if clamp is not None:
                    new = new.clamp(*clamp)
                worse = module(x, new, tt) > energy
                y = torch.where(worse[:, None], y, new)
    return y.detach().numpy()


def test_stages_that_set_the_landscape_match_pytorch_on_every_path(film, context):
    module, model = film
    x, y0 = rand(5, 10, X_DIM), rand(6, 10, Y_DIM, scale=0.8)
    want = staged_descent(module, x, y0, STAGES)
    steps = sum(s[0] for s in STAGES)
    assert rel_l2(want, y0) > 1e-2, "the descent barely moved"
    for path in paths_to_test(model, context):
        engine = ebm.Engine(model, context, kernel=path)
        for dispatch_ms in (None, 1e-6):
            out = engine.refine(
                x,
                y0,
                steps=steps,
                stages=as_stages(STAGES),
                keep_if_lower=True,
                shrink=1.0,
                dispatch_ms=dispatch_ms,
            )
            assert rel_l2(out.y, want) < 1e-4, (path, dispatch_ms)


def test_stages_as_fields_and_as_the_command_lines_text_give_the_same_bits(film, context):
    _, model = film
    engine = ebm.Engine(model, context)
    x, y0 = rand(5, 10, X_DIM), rand(6, 10, Y_DIM, scale=0.8)
    # A first stage that takes its one step (IRED's denoising step), then STAGES.
    listed = [ebm.Stage(1, 0.3, landscape=2.0, take_every_step=True)] + as_stages(STAGES)
    text = "1:0.3:0:2.0:take," + spelled(STAGES)
    options = dict(steps=1 + sum(s[0] for s in STAGES), keep_if_lower=True, shrink=1.0)
    a = engine.refine(x, y0, stages=listed, **options)
    b = engine.refine(x, y0, stages=text, **options)
    np.testing.assert_array_equal(a.y, b.y)
    np.testing.assert_array_equal(a.accepted, b.accepted)
    assert rel_l2(a.y, y0) > 1e-2, "the stages barely moved y"


def test_a_stage_reads_back_pickles_and_is_checked(film, context):
    stage = ebm.Stage(4, 0.25, landscape=2.0, clamp=(-1.0, 1.0), take_every_step=True)
    fields = (stage.steps, stage.step_size, stage.temperature, stage.landscape, stage.clamp)
    assert fields == (4, 0.25, 0.0, 2.0, (-1.0, 1.0)) and stage.take_every_step
    assert repr(stage) == "Stage(4, 0.25, 0.0, landscape=2.0, clamp=(-1.0, 1.0), take_every_step=True)"
    assert pickle.loads(pickle.dumps(stage)) == stage
    assert ebm.Stage(4, 0.25) != stage
    _, model = film
    engine = ebm.Engine(model, context)
    x, y0 = rand(5, 4, X_DIM), rand(6, 4, Y_DIM)
    with pytest.raises(TypeError, match=r"invalid option stages: .* got tuple at index 1"):
        engine.refine(x, y0, steps=4, stages=[ebm.Stage(2, 0.1), (2, 0.1)])
    with pytest.raises(TypeError, match=r"invalid option stages: .* got int"):
        engine.refine(x, y0, steps=4, stages=4)
    with pytest.raises(ValueError, match="invalid option stages: give at least one Stage"):
        engine.refine(x, y0, steps=4, stages=[])
    with pytest.raises(ValueError, match="invalid option stages"):
        engine.refine(x, y0, steps=4, stages=[ebm.Stage(2, 0.1), ebm.Stage(2, -0.1)])
    with pytest.raises(ValueError, match="invalid option stages"):
        engine.refine(x, y0, steps=5, stages=[ebm.Stage(2, 0.1), ebm.Stage(2, 0.1)])


class SinusoidalPosEmb(nn.Module):
    """IRED's time embedding, verbatim (models.py): t [B] to [B, dim]."""

    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        device = x.device
        half_dim = self.dim // 2
        emb = math.log(10000) / (half_dim - 1)
        emb = torch.exp(torch.arange(half_dim, device=device) * -emb)
        emb = x[:, None] * emb[None, :]
        emb = torch.cat((emb.sin(), emb.cos()), dim=-1)
        return emb


# The same embedding as ebm reads it: t [B, 1] through a Linear holding the frequencies (no
# bias, not trained), then sin and cos; the IRED example's.
LinearSinusoidal = ired_example().SinusoidalPosEmb


class SinusoidalFilm(nn.Module):
    def __init__(self, dim=16, h=12):
        super().__init__()
        self.time = nn.Sequential(LinearSinusoidal(dim), nn.Linear(dim, dim), nn.GELU())
        self.t_map = nn.Linear(dim, 2 * h)
        self.fc1 = nn.Linear(X_DIM + Y_DIM, h)
        self.fc2 = nn.Linear(h, Y_DIM)

    def forward(self, x, y, t):
        gain, bias = torch.chunk(self.t_map(self.time(t)), 2, dim=-1)
        h = F.silu(self.fc1(torch.cat([x, y], -1)) * (gain + 1) + bias)
        return self.fc2(h).pow(2).sum(-1)


def test_a_sinusoidal_embedding_of_t_runs_as_pytorch_computes_it(context):
    t = torch.arange(10, dtype=torch.float64)
    np.testing.assert_allclose(
        LinearSinusoidal(16).double()(t[:, None]).numpy(),
        SinusoidalPosEmb(16)(t).numpy(),
        rtol=1e-12,
        atol=1e-12,
    )
    torch.manual_seed(4)
    module = SinusoidalFilm().double()
    engine = ebm.Engine(ebm.Model.from_torch(module, X_DIM, Y_DIM), context)
    x, y = rand(7, 6, X_DIM), rand(8, 6, Y_DIM)
    for level in (0.0, 3.0, 9.0):
        yt = torch.from_numpy(y).double().requires_grad_(True)
        e = module(torch.from_numpy(x).double(), yt, column(level, 6))
        (grad,) = torch.autograd.grad(e.sum(), yt)
        got = engine.eval(x, y, landscape=level)
        assert rel_l2(got.energy, e.detach().numpy()) < 1e-4, level
        assert rel_l2(got.grad, grad.numpy()) < 1e-4, level
    # IRED's own spelling (torch.arange, broadcasting t[:, None]) is refused by name.
    class Verbatim(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = SinusoidalPosEmb(4)
            self.fc = nn.Linear(X_DIM + Y_DIM + 4, 1)

        def forward(self, x, y, t):
            return self.fc(torch.cat([x, y, self.emb(t[:, 0])], -1)).squeeze(-1)

    with pytest.raises(ValueError, match="emb"):
        ebm.Model.from_torch(Verbatim(), X_DIM, Y_DIM)


def test_training_refuses_an_energy_of_t(film, context):
    _, model = film
    with pytest.raises(Exception, match="landscape"):
        ebm.Trainer(model, rand(1, 8, Y_DIM), rand(2, 8, X_DIM), context=context, batch=4)
