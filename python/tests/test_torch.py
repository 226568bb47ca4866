"""A PyTorch model read by `Model.from_torch` is the same energy: `Engine.eval` gives
autograd's energies and gradients, and `Engine.refine` at temperature 0 follows autograd's
own gradient-descent trajectory (float64). Stacks ebm cannot reproduce are refused."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn
import torch.nn.functional as F

import ebm_wgpu as ebm
from _helpers import assert_same, rand


def make_net(x_dim, y_dim, hidden, act, outputs=1, seed=0):
    torch.manual_seed(seed)
    layers, width = [], x_dim + y_dim
    for h in hidden:
        layers += [nn.Linear(width, h), act()]
        width = h
    layers.append(nn.Linear(width, outputs))
    return nn.Sequential(*layers)


def energy64(net64, x, y, output):
    """E(x, y) per row, float64, as ebm defines it."""
    inp = y if x is None else torch.cat([x, y], dim=1)
    f = net64(inp)
    if output == "identity":
        return f[:, 0]
    if output == "softplus":
        return F.softplus(f[:, 0])
    if output == "square":
        return (f * f).sum(dim=1)
    raise ValueError(output)


def rel_l2(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


MODELS = [
    pytest.param(3, 2, [16, 16], nn.Tanh, "identity", 1, id="conditional-tanh-identity"),
    pytest.param(2, 3, [24], nn.SiLU, "softplus", 1, id="conditional-silu-softplus"),
    pytest.param(0, 4, [16, 8], nn.SiLU, "square", 3, id="unconditional-silu-square"),
    pytest.param(1, 2, [16], nn.GELU, "identity", 1, id="conditional-gelu-identity"),
]


@pytest.mark.parametrize("x_dim, y_dim, hidden, act, output, outputs", MODELS)
def test_from_torch_matches_autograd(x_dim, y_dim, hidden, act, output, outputs, context):
    net = make_net(x_dim, y_dim, hidden, act, outputs, seed=x_dim + 10 * y_dim)
    model = ebm.Model.from_torch(net, x_dim, y_dim, output)
    assert (model.x_dim, model.y_dim, model.output) == (x_dim, y_dim, output)
    # The layers are the module's, as float32.
    linears = [m for m in net if isinstance(m, nn.Linear)]
    assert len(model.weights) == len(linears)
    for w, b, lin in zip(model.weights, model.biases, linears):
        assert_same(w, lin.weight.detach().numpy())
        assert_same(b, lin.bias.detach().numpy())
    engine = ebm.Engine(model, context)
    net64 = copy.deepcopy(net).double()

    n = 24
    x = rand(1, n, x_dim) if x_dim else None
    y0 = rand(2, n, y_dim)
    x64 = torch.from_numpy(x).double() if x_dim else None

    # Energies and gradients at y0.
    y = torch.from_numpy(y0).double().requires_grad_(True)
    e = energy64(net64, x64, y, output)
    (g,) = torch.autograd.grad(e.sum(), y)
    got = engine.eval(x, y0)
    assert got.energy.dtype == np.float32 and got.grad.dtype == np.float32
    np.testing.assert_allclose(got.energy, e.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert rel_l2(got.grad, g.numpy()) < 1e-5

    # K plain gradient-descent steps on sum_b E(x_b, y_b), T = 0.
    steps, eta = 25, 0.2
    y = torch.from_numpy(y0).double()
    for _ in range(steps):
        y.requires_grad_(True)
        (g,) = torch.autograd.grad(energy64(net64, x64, y, output).sum(), y)
        y = (y - eta * g).detach()
    out = engine.refine(x, y0, steps=steps, step_size=eta)
    assert isinstance(out, ebm.Refinement) and out.path
    assert (out.steps_taken == steps).all()
    moved = rel_l2(y.numpy(), y0.astype(np.float64))
    assert moved > 5e-2, "the trajectory barely moved: too weak a test"
    error = rel_l2(out.y, y.numpy())
    assert error < 1e-4, f"relative L2 error of the final y: {error:.3g}"
    # The final energy is the model's at the final y (no prior here).
    final = energy64(net64, x64, torch.from_numpy(out.y).double(), output).detach().numpy()
    np.testing.assert_allclose(out.energy, final, rtol=1e-5, atol=1e-6)


def test_from_torch_module_with_net_attribute(context):
    class Energy(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = make_net(2, 2, [8], nn.Sigmoid, seed=4)

        def forward(self, v):
            return self.net(v)

    module = Energy()
    a = ebm.Model.from_torch(module, 2, 2, "softplus")
    b = ebm.Model.from_torch(module.net, 2, 2, "softplus")
    assert a == b and a.activation == "sigmoid"


def test_from_torch_keeps_the_model_independent_of_the_module(context):
    net = make_net(0, 2, [8], nn.Tanh, seed=5)
    model = ebm.Model.from_torch(net, 0, 2)
    before = [w.copy() for w in model.weights]
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    for w, b in zip(model.weights, before):
        assert_same(w, b)


REFUSED = [
    pytest.param(
        lambda: nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.1), nn.Linear(8, 1)), "Dropout", id="dropout"
    ),
    pytest.param(
        lambda: nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 1)),
        "mixed activations",
        id="mixed-activations",
    ),
    pytest.param(
        lambda: nn.Sequential(nn.Linear(4, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1)),
        "LeakyReLU",
        id="leaky-relu-other-slope",
    ),
    pytest.param(
        lambda: nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 1)), "BatchNorm1d", id="batchnorm"
    ),
    pytest.param(
        lambda: nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1), nn.Tanh()), "last module", id="ends-in-act"
    ),
    pytest.param(lambda: nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 1)), "in_features", id="wrong-width"),
    pytest.param(lambda: nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2)), "outputs", id="two-outputs"),
    pytest.param(lambda: nn.Linear(4, 1), "nn.Sequential", id="not-sequential"),
]


@pytest.mark.parametrize("build, message", REFUSED)
def test_from_torch_refuses_what_ebm_cannot_run(build, message):
    with pytest.raises(ValueError, match=message):
        ebm.Model.from_torch(build(), 2, 2, "identity")


def test_from_torch_refuses_unknown_output():
    net = make_net(2, 2, [8], nn.Tanh)
    with pytest.raises(ValueError, match="unknown output"):
        ebm.Model.from_torch(net, 2, 2, "relu")
