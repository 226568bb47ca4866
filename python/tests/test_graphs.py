"""Energy graphs written in plain PyTorch, as a new user would, imported with
`Model.from_torch` (traced with torch.fx) and held to PyTorch's float64 autograd: energies
and dE/dy from `Engine.eval`, and a short gradient-descent trajectory from `Engine.refine`
(temperature 0) on every kernel path the engine can run the graph on, within a relative L2
error of 1e-4: chain, layered, and the smallest and largest tile sizes that fit (as the
library's own tests pick them; EBM_TEST_EVERY_TILE=1 runs every tile size that fits: on
lavapipe each tile size is a kernel compiled anew, seconds each). Then the graph's round
trips (file, `from_graph`, pickle) and what the importer refuses, by name and node."""

from __future__ import annotations

import copy
import importlib.util
import os
import pathlib
import pickle

import numpy as np
import pytest
import torch
from torch import nn
import torch.nn.functional as F

import ebm_wgpu as ebm
from ebm_wgpu import _torch
from _helpers import assert_same, rand

TOLERANCE = 1e-4
ROOT = pathlib.Path(__file__).resolve().parents[2]


def rel_l2(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


# --------------------------------------------------------------------------------------
# Eight energies of different kinds, as people write them
# --------------------------------------------------------------------------------------


class MLPEnergy(nn.Module):
    """A plain MLP over concat(x, y) with a scalar output."""

    def __init__(self, x_dim, y_dim, hidden=8):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(x_dim + y_dim, hidden),
            nn.SiLU(),
            nn.Linear(hidden, hidden),
            nn.Tanh(),
            nn.Linear(hidden, 1),
        )

    def forward(self, x, y):
        return self.net(torch.cat([x, y], dim=-1)).squeeze(-1)


class PreNormResidual(nn.Module):
    """Pre-norm residual blocks (LayerNorm, GELU MLP), a final norm, and a Gaussian prior."""

    def __init__(self, x_dim, y_dim, width=8, blocks=2):
        super().__init__()
        self.embed = nn.Linear(x_dim + y_dim, width)
        self.norms = nn.ModuleList([nn.LayerNorm(width) for _ in range(blocks)])
        self.ups = nn.ModuleList([nn.Linear(width, 2 * width) for _ in range(blocks)])
        self.downs = nn.ModuleList([nn.Linear(2 * width, width) for _ in range(blocks)])
        self.final_norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, 1)

    def forward(self, x, y):
        h = self.embed(torch.cat([x, y], dim=-1))
        for norm, up, down in zip(self.norms, self.ups, self.downs):
            h = h + down(F.gelu(up(norm(h))))
        e = self.head(self.final_norm(h)).squeeze(-1)
        return e + 0.1 * (y * y).sum(dim=-1)


class RMSNormResidual(nn.Module):
    """Residual blocks with RMSNorm (one with eps=None, one without a gain), a softplus
    energy."""

    def __init__(self, x_dim, y_dim, width=8):
        super().__init__()
        self.embed = nn.Linear(x_dim + y_dim, width)
        self.norm1 = nn.RMSNorm(width)
        self.ff1 = nn.Linear(width, width)
        self.norm2 = nn.RMSNorm(width, eps=1e-5, elementwise_affine=False)
        self.ff2 = nn.Linear(width, width, bias=False)
        self.out = nn.Linear(width, 1)

    def forward(self, x, y):
        h = self.embed(torch.cat([x, y], dim=-1))
        h = h + self.ff1(F.silu(self.norm1(h)))
        h = h + torch.tanh(self.ff2(self.norm2(h)))
        return F.softplus(self.out(h)).squeeze(-1)


class FiLMEnergy(nn.Module):
    """An embedding of x alone makes a scale and shift that modulate the y path."""

    def __init__(self, x_dim, y_dim, width=8):
        super().__init__()
        self.x_embed = nn.Sequential(nn.Linear(x_dim, width), nn.SiLU())
        self.film = nn.Linear(width, 2 * width)
        self.y_in = nn.Linear(y_dim, width)
        self.y_mid = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def forward(self, x, y):
        gamma, beta = self.film(self.x_embed(x)).chunk(2, dim=-1)
        h = torch.tanh(self.y_in(y))
        h = h * (1 + gamma) + beta
        h = F.silu(self.y_mid(h))
        return self.out(h).squeeze(-1)


class SwiGLUEnergy(nn.Module):
    """A gated (SwiGLU) residual block; the energy is a sum of squares."""

    def __init__(self, x_dim, y_dim, width=8, hidden=8):
        super().__init__()
        self.embed = nn.Linear(x_dim + y_dim, width)
        self.gate_up = nn.Linear(width, 2 * hidden, bias=False)
        self.down = nn.Linear(hidden, width, bias=False)
        self.out = nn.Linear(width, 3)

    def forward(self, x, y):
        h = self.embed(torch.cat([x, y], dim=-1))
        gate, up = self.gate_up(h).chunk(2, dim=-1)
        h = h + self.down(F.silu(gate) * up)
        f = self.out(h)
        return (f * f).sum(dim=-1)


class JEMEnergy(nn.Module):
    """A classifier's logits over concat(x, y) as an energy: E = -logsumexp(logits). Its
    `.net` is an nn.Sequential, which must not be read alone."""

    def __init__(self, x_dim, y_dim, width=8, classes=5):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(x_dim + y_dim, width),
            nn.GELU(approximate="tanh"),
            nn.Linear(width, width),
            nn.GELU(approximate="tanh"),
            nn.Linear(width, classes),
        )

    def forward(self, x, y):
        return -torch.logsumexp(self.net(torch.cat([x, y], dim=-1)), dim=-1)


class D2RLEnergy(nn.Module):
    """D2RL: the input fed again into every later layer."""

    def __init__(self, x_dim, y_dim, width=8):
        super().__init__()
        self.l1 = nn.Linear(x_dim + y_dim, width)
        self.l2 = nn.Linear(width + y_dim, width)
        self.l3 = nn.Linear(width + x_dim + y_dim, width)
        self.out = nn.Linear(width, 2)

    def forward(self, x, y):
        xy = torch.cat([x, y], dim=-1)
        h = F.leaky_relu(self.l1(xy))
        h = torch.sigmoid(self.l2(torch.cat([h, y], dim=-1)))
        h = F.softplus(self.l3(torch.cat([h, xy], dim=-1)))
        return self.out(h).mean(dim=-1)


class UnconditionalEnergy(nn.Module):
    """E(y) alone: x is [B, 0] and is never read (cat of an empty x is y)."""

    def __init__(self, y_dim, width=8):
        super().__init__()
        self.inp = nn.Linear(y_dim, width)
        self.mid = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def forward(self, x, y):
        h = torch.tanh(self.inp(torch.cat([x, y], dim=-1)))
        h = h + 0.5 * F.gelu(self.mid(h))
        return self.out(h)[:, 0] + 0.05 * y.pow(2).sum(-1)


# name, build, x_dim, y_dim, gradient-descent step size
GRAPHS = [
    pytest.param(lambda: MLPEnergy(3, 2), 3, 2, 0.8, id="mlp"),
    pytest.param(lambda: PreNormResidual(2, 3), 2, 3, 0.05, id="prenorm-layernorm-residual"),
    pytest.param(lambda: RMSNormResidual(2, 3), 2, 3, 0.2, id="rmsnorm-residual"),
    pytest.param(lambda: FiLMEnergy(3, 2), 3, 2, 0.6, id="film"),
    pytest.param(lambda: SwiGLUEnergy(2, 3), 2, 3, 0.05, id="swiglu-gated"),
    pytest.param(lambda: JEMEnergy(3, 2), 3, 2, 2.0, id="jem-logsumexp"),
    pytest.param(lambda: D2RLEnergy(2, 3), 2, 3, 1.2, id="d2rl"),
    pytest.param(lambda: UnconditionalEnergy(4), 0, 4, 0.1, id="unconditional"),
]

CHAINS = 37  # not a multiple of any tile size: a partial workgroup on every tile path
STEPS = 12


def energy64(net64, x64, y):
    return net64(x64, y)


def paths_to_test(model, context):
    """chain, layered, and the smallest and largest tile sizes that fit (every one that
    fits with EBM_TEST_EVERY_TILE=1)."""
    paths = ebm.Engine.fitting_paths(model, context)
    assert paths[0] == "chain" and paths[-1] == "layered", paths
    tiles = [p for p in paths if p.startswith("tile")]
    assert tiles, f"no tile size fits: {paths}"
    if os.environ.get("EBM_TEST_EVERY_TILE") != "1":
        tiles = sorted({tiles[0], tiles[-1]}, key=tiles.index)
    return ["chain", *tiles, "layered"]


@pytest.mark.parametrize("build, x_dim, y_dim, eta", GRAPHS)
def test_graph_matches_pytorch_on_every_path(build, x_dim, y_dim, eta, context):
    torch.manual_seed(x_dim * 7 + y_dim)
    module = build()
    model = ebm.Model.from_torch(module, x_dim, y_dim)
    assert (model.x_dim, model.y_dim) == (x_dim, y_dim)
    # The parameters are the module's, under their state_dict names, as float32.
    state = module.state_dict()
    assert model.params, "no parameters"
    for name, value in model.params.items():
        assert_same(value, state[name].numpy().astype(np.float32), name)

    net64 = copy.deepcopy(module).double()
    x = rand(1, CHAINS, x_dim)
    y0 = rand(2, CHAINS, y_dim)
    x64 = torch.from_numpy(x).double()

    # E and dE/dy at y0.
    y = torch.from_numpy(y0).double().requires_grad_(True)
    e = energy64(net64, x64, y)
    assert e.shape == (CHAINS,)
    (g,) = torch.autograd.grad(e.sum(), y)
    engines = {
        path: ebm.Engine(model, context, kernel=path) for path in paths_to_test(model, context)
    }
    got = engines["chain"].eval(x if x_dim else None, y0)  # evaluations take one path
    assert rel_l2(got.energy, e.detach().numpy()) < TOLERANCE
    assert rel_l2(got.grad, g.numpy()) < TOLERANCE

    # STEPS plain gradient-descent steps on sum_b E(x_b, y_b), in float64.
    y = torch.from_numpy(y0).double()
    for _ in range(STEPS):
        y.requires_grad_(True)
        (g,) = torch.autograd.grad(energy64(net64, x64, y).sum(), y)
        y = (y - eta * g).detach()
    want = y.numpy()
    assert (
        rel_l2(want, y0.astype(np.float64)) > 5e-2
    ), "the trajectory barely moved: too weak a test"
    final = energy64(net64, x64, torch.from_numpy(want)).detach().numpy()

    for path, engine in engines.items():
        out = engine.refine(x if x_dim else None, y0, steps=STEPS, step_size=eta)
        assert out.path == path
        assert (out.steps_taken == STEPS).all()
        error = rel_l2(out.y, want)
        assert error < TOLERANCE, f"{path}: relative L2 error of the final y {error:.3g}"
        error = rel_l2(out.energy, final)
        assert error < TOLERANCE, f"{path}: relative L2 error of the final energy {error:.3g}"


# --------------------------------------------------------------------------------------
# Many spellings of the same ops in one graph
# --------------------------------------------------------------------------------------


class Spellings(nn.Module):
    """Functional forms, tensor methods, slicing and arithmetic with numbers, reading
    parameters through F.linear / F.layer_norm / F.rms_norm."""

    def __init__(self):
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(12, 5) * 0.4)
        self.b1 = nn.Parameter(torch.randn(12) * 0.1)
        self.ln_w = nn.Parameter(1 + 0.2 * torch.randn(12))
        self.ln_b = nn.Parameter(0.1 * torch.randn(12))
        self.rms_w = nn.Parameter(1 + 0.2 * torch.randn(6))
        self.mix = nn.Linear(12, 6)
        self.last = nn.Linear(6, 1, bias=False)

    def forward(self, x, y):
        h = F.linear(torch.concat((x, y), 1), self.w1, self.b1)
        h = F.layer_norm(h, (12,), self.ln_w, self.ln_b, eps=1e-4)
        a, b, c = torch.split(h, 4, dim=-1)
        h = torch.concatenate([a.relu(), torch.sigmoid(b), -c], axis=-1)
        g = self.mix(h)
        g = F.rms_norm(g, [6], self.rms_w, eps=1e-6)
        g += 1.5
        left = g[:, :3].div(2) + torch.square(g[:, :3]) * 0.1
        right = 1 - g.narrow(-1, 3, 3)
        z = torch.cat([left * right, g[..., 1:4], y[:, :0]], dim=-1)
        s = F.softplus(self.last(z).squeeze(1))
        q = (z.pow(2).mean(dim=-1, keepdim=True) * 0.25).squeeze(-1)
        lse = torch.logsumexp(F.gelu(z), dim=1)
        return s - q + 0.1 * lse + z.tanh().sum(-1) / 3


def test_spellings_match_autograd(context):
    torch.manual_seed(3)
    module = Spellings()
    model = ebm.Model.from_torch(module, 2, 3)
    assert set(model.params) == {
        "w1",
        "b1",
        "ln_w",
        "ln_b",
        "rms_w",
        "mix.weight",
        "mix.bias",
        "last.weight",
    }
    heads = sorted(t["head"] for t in model.graph["energy"])
    assert heads == ["logsumexp", "mean_squares", "sum", "sum"]
    x, y0 = rand(4, 20, 2), rand(5, 20, 3)
    net64 = copy.deepcopy(module).double()
    y = torch.from_numpy(y0).double().requires_grad_(True)
    e = net64(torch.from_numpy(x).double(), y)
    (g,) = torch.autograd.grad(e.sum(), y)
    got = ebm.Engine(model, context).eval(x, y0)
    assert rel_l2(got.energy, e.detach().numpy()) < TOLERANCE
    assert rel_l2(got.grad, g.numpy()) < TOLERANCE


# --------------------------------------------------------------------------------------
# The graph as data: getters, from_graph, file and pickle round trips
# --------------------------------------------------------------------------------------


def test_graph_round_trips(tmp_path, context):
    torch.manual_seed(11)
    module = PreNormResidual(2, 3)
    model = ebm.Model.from_torch(module, 2, 3)
    # Not an MLP: the MLP getters say so with None.
    assert model.activation is None and model.output is None
    assert model.weights is None and model.biases is None
    graph = model.graph
    assert set(graph) == {"params", "nodes", "energy"}
    assert graph["params"] == list(model.params)
    assert {n["op"] for n in graph["nodes"]} == {"linear", "layer_norm", "activation", "add"}
    assert {"head": "sum_squares", "input": "y", "scale": pytest.approx(0.1)} in graph["energy"]
    assert "Model(x_dim 2, y_dim 3, a graph of" in repr(model)

    x, y = rand(6, 9, 2), rand(7, 9, 3)
    want = ebm.Engine(model, context).eval(x, y)
    rebuilt = ebm.Model.from_graph(graph, 2, 3, model.params)
    assert rebuilt == model
    import json

    assert ebm.Model.from_graph(json.dumps(graph), 2, 3, model.params) == model
    assert pickle.loads(pickle.dumps(model)) == model

    path = tmp_path / "prenorm.safetensors"
    model.save(path)
    loaded = ebm.Model.load(path)
    assert loaded == model
    got = ebm.Engine(loaded, context).eval(x, y)
    assert_same(got.energy, want.energy, "energy after load")
    assert_same(got.grad, want.grad, "grad after load")


def test_from_graph_errors_name_what_is_wrong():
    model = ebm.Model.from_torch(JEMEnergy(3, 2), 3, 2)
    graph, params = model.graph, model.params
    missing = dict(params)
    missing.pop("net.2.weight")
    with pytest.raises(ValueError, match='"net.2.weight" is missing'):
        ebm.Model.from_graph(graph, 3, 2, missing)
    with pytest.raises(ValueError, match='"extra" is not in the graph'):
        ebm.Model.from_graph(graph, 3, 2, {**params, "extra": np.zeros(3, np.float32)})
    bad = copy.deepcopy(graph)
    bad["nodes"][0]["op"] = "conv"
    with pytest.raises(ValueError, match='unknown op "conv"'):
        ebm.Model.from_graph(bad, 3, 2, params)
    with pytest.raises(ValueError, match=r"expected \[out, 6\]"):
        ebm.Model.from_graph(graph, 4, 2, params)
    with pytest.raises(ValueError, match="neither a dict nor a JSON string"):
        ebm.Model.from_graph(3, 3, 2, params)


def test_mlp_form_is_the_library_mlp():
    """An nn.Sequential with output= builds exactly the library's MLP (Model::mlp's node
    and parameter names), which the MLP getters read back."""
    torch.manual_seed(2)
    net = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 1))
    for output in ("identity", "softplus"):
        model = ebm.Model.from_torch(net, 2, 3, output)
        layers = ebm.Model.from_layers(
            2,
            3,
            [m.weight for m in net if isinstance(m, nn.Linear)],
            [m.bias for m in net if isinstance(m, nn.Linear)],
            activation="tanh",
            output=output,
        )
        assert model == layers
        assert (model.activation, model.output) == ("tanh", output)
    square = nn.Sequential(nn.Linear(3, 8), nn.SiLU(), nn.Linear(8, 2))
    model = ebm.Model.from_torch(square, 0, 3, "square")
    assert model == ebm.Model.from_layers(
        0,
        3,
        [square[0].weight, square[2].weight],
        [square[0].bias, square[2].bias],
        activation="silu",
        output="square",
    )
    assert list(model.params) == [
        "layers.0.weight",
        "layers.0.bias",
        "layers.1.weight",
        "layers.1.bias",
    ]


def test_trainer_trains_a_traced_graph(context):
    torch.manual_seed(4)
    model = ebm.Model.from_torch(FiLMEnergy(3, 2), 3, 2)
    y, x = rand(12, 48, 2), rand(13, 48, 3)
    trainer = ebm.Trainer(model, y, x, context=context, batch=16, replay=64, negative_steps=4)
    stats = trainer.run(3)
    assert np.isfinite(stats["loss"]).all() and len(stats["loss"]) == 3
    trained = trainer.model()
    assert trained.graph == model.graph
    assert any(not np.array_equal(trained.params[k], v) for k, v in model.params.items())


# --------------------------------------------------------------------------------------
# JEM with .net: the forward is traced, not .net alone
# --------------------------------------------------------------------------------------


def test_jem_module_with_net_is_traced_not_read_as_its_net(context):
    torch.manual_seed(5)
    module = JEMEnergy(3, 2)
    model = ebm.Model.from_torch(module, 3, 2)
    assert model.graph["energy"] == [{"head": "logsumexp", "input": "net_4", "scale": -1.0}]
    x, y = rand(8, 10, 3), rand(9, 10, 2)
    with torch.no_grad():
        want = module(torch.from_numpy(x), torch.from_numpy(y)).numpy()
    got = ebm.Engine(model, context).eval(x, y)
    assert rel_l2(got.energy, want) < TOLERANCE


def test_one_input_module_that_does_more_than_its_net_is_refused():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))

        def forward(self, v):
            return 2 * self.net(v)

    with pytest.raises(ValueError, match="does more than return self.net"):
        ebm.Model.from_torch(Scaled(), 2, 2)


# --------------------------------------------------------------------------------------
# What the importer refuses, by name, node and line
# --------------------------------------------------------------------------------------


class _Refused(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 8)
        self.conv = nn.Conv1d(1, 1, 3)
        self.drop = nn.Dropout(0.1)
        self.head = nn.Linear(8, 1)
        self.scale = nn.Parameter(torch.ones(8))


def _refused(forward):
    return type("Refused", (_Refused,), {"forward": forward})()


REFUSED = [
    pytest.param(
        lambda s, x, y: torch.exp(s.lin(torch.cat([x, y], -1))).sum(-1),
        r"unsupported op torch\.exp \(fx node 'exp', call_function\) at .*test_graphs\.py:\d+ in <lambda>",
        id="torch.exp",
    ),
    pytest.param(
        lambda s, x, y: s.conv(s.lin(torch.cat([x, y], -1))).sum(-1),
        r"unsupported op Conv1d module 'conv' \(fx node 'conv', call_module\).*ebm has no op for nn\.Conv1d",
        id="conv",
    ),
    pytest.param(
        lambda s, x, y: s.head(s.drop(s.lin(torch.cat([x, y], -1)))).squeeze(-1),
        r"unsupported op Dropout module 'drop' \(fx node 'drop', call_module\).*ebm has no op for nn\.Dropout",
        id="dropout",
    ),
    pytest.param(
        lambda s, x, y: F.leaky_relu(s.lin(torch.cat([x, y], -1)), 0.2).sum(-1),
        r"leaky_relu \(fx node 'leaky_relu'\).*negative_slope=0\.2",
        id="leaky-relu-slope",
    ),
    pytest.param(
        lambda s, x, y: (s.lin(torch.cat([x, y], -1)) * s.head(s.lin(torch.cat([x, y], -1)))).sum(
            -1
        ),
        r"fx node 'mul'.*8 and 1 wide: broadcasting is not supported",
        id="broadcast",
    ),
    pytest.param(
        lambda s, x, y: (s.lin(torch.cat([x, y], -1)) * s.scale).sum(-1),
        r"fx node 'mul'.*the parameter scale",
        id="parameter-in-arithmetic",
    ),
    pytest.param(
        lambda s, x, y: s.head(s.lin(torch.cat([x, y], -1))).sum(),
        r"fx node 'sum_1'.*without a dim also reduces over the batch",
        id="sum-over-batch",
    ),
    pytest.param(
        lambda s, x, y: s.head(s.lin(torch.cat([x, y], -1))),
        r"must return the energy \[B\], but returns a tensor \[B, 1\]",
        id="returns-b-by-1",
    ),
    pytest.param(
        lambda s, x, y: s.lin(torch.cat([x, y])).sum(-1),
        r"torch\.cat along dim 0",
        id="cat-over-batch",
    ),
    pytest.param(
        lambda s, x, y: s.lin(torch.cat([x, y], -1)).sum(-1) + (y * y).sum(-1) + 1.0,
        r"adds the constant 1\.0 to an energy",
        id="constant-energy",
    ),
    pytest.param(
        lambda s, x, y: s.lin(torch.cat([x, y], -1)).view(x.shape[0], -1).sum(-1),
        r"builtins\.getattr \(fx node 'getattr_1'",
        id="shape-read",
    ),
    pytest.param(
        lambda s, x, y: s.lin(torch.cat([x, y], -1)).pow(3).sum(-1),
        r"exponent 3",
        id="pow-3",
    ),
    pytest.param(
        lambda s, x, y: y.sum(-1) if x.sum() > 0 else -y.sum(-1),
        r"cannot trace Refused\.forward with torch\.fx",
        id="control-flow",
    ),
]


@pytest.mark.parametrize("forward, message", REFUSED)
def test_from_torch_refuses_what_ebm_cannot_run(forward, message):
    with pytest.raises(ValueError, match=message):
        ebm.Model.from_torch(_refused(forward), 2, 2)


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")
def test_unconditional_model_must_not_read_x():
    class ReadsX(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(0, 4)
            self.b = nn.Linear(3, 4)

        def forward(self, x, y):
            return (self.a(x) + self.b(y)).sum(-1)

    with pytest.raises(
        ValueError, match=r"fx node 'a'.*width 0 \(an empty slice, or x of an unconditional model"
    ):
        ebm.Model.from_torch(ReadsX(), 0, 3)


def test_traced_module_takes_no_output_function():
    with pytest.raises(ValueError, match="output='softplus' applies to the nn.Sequential form"):
        ebm.Model.from_torch(MLPEnergy(2, 2), 2, 2, "softplus")


def test_inplace_op_whose_input_is_read_later_is_refused():
    class InPlace(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4)

        def forward(self, x, y):
            h = self.lin(torch.cat([x, y], -1))
            g = F.relu(h, inplace=True)
            return (g + h).sum(-1)

    with pytest.raises(ValueError, match="works in place on lin, which is read again later"):
        ebm.Model.from_torch(InPlace(), 2, 2)


# --------------------------------------------------------------------------------------
# One op table; the example script writes the same graphs
# --------------------------------------------------------------------------------------


def test_op_table_comes_from_the_library():
    table = ebm._ops()
    assert list(table) == [
        "linear",
        "activation",
        "affine",
        "add",
        "sub",
        "mul",
        "layer_norm",
        "rms_norm",
        "concat",
        "slice",
    ]
    assert "LayerNorm" in table["layer_norm"] and "chunk" in table["slice"]
    assert _torch.op_table() == table
    # What examples/export_pytorch.py reads where the package is not installed.
    assert _torch._table_from_source(ROOT / "src" / "energy" / "ops.rs") == table


def _example():
    spec = importlib.util.spec_from_file_location(
        "export_pytorch", ROOT / "examples" / "export_pytorch.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_exports_traced_graphs_and_mlps(tmp_path, context):
    example = _example()
    torch.manual_seed(8)
    module = FiLMEnergy(3, 2)
    path = tmp_path / "film.safetensors"
    meta = example.export(module, path, x_dim=3, y_dim=2)
    assert meta["ebm.format"] == "2" and "ebm.activation" not in meta
    assert ebm.Model.load(path) == ebm.Model.from_torch(module, 3, 2)

    net = nn.Sequential(nn.Linear(4, 8), nn.SiLU(), nn.Linear(8, 1))
    path = tmp_path / "mlp.safetensors"
    meta = example.export(net, path, x_dim=2, y_dim=2, output="softplus")
    assert (meta["ebm.activation"], meta["ebm.output"]) == ("silu", "softplus")
    loaded = ebm.Model.load(path)
    assert loaded == ebm.Model.from_torch(net, 2, 2, "softplus")
    assert loaded.activation == "silu"


# --------------------------------------------------------------------------------------
# The README's example, as it is written there (smaller batch)
# --------------------------------------------------------------------------------------


class ReadmeEnergy(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp, self.norm = nn.Linear(4, 64), nn.LayerNorm(64)
        self.block, self.out = nn.Linear(64, 64), nn.Linear(64, 1)

    def forward(self, x, y):
        h = self.inp(torch.cat([x, y], -1))
        h = h + self.block(nn.functional.silu(self.norm(h)))
        return self.out(h).squeeze(-1) + 0.1 * (y * y).sum(-1)


def test_the_readme_example_runs_and_matches_autograd(context):
    torch.manual_seed(5)
    module = ReadmeEnergy()
    model = ebm.Model.from_torch(module, x_dim=2, y_dim=2)
    engine = ebm.Engine(model, context)
    x, y0 = rand(7, 64, 2), rand(8, 64, 2)
    out = engine.refine(x, y0, steps=20, step_size=0.01, temperature=0.05, seed=7)
    assert out.y.shape == (64, 2) and np.isfinite(out.energy).all()
    net64 = copy.deepcopy(module).double()
    y = torch.from_numpy(y0).double().requires_grad_(True)
    e = net64(torch.from_numpy(x).double(), y)
    (g,) = torch.autograd.grad(e.sum(), y)
    got = engine.eval(x, y0)
    assert rel_l2(got.energy, e.detach().numpy()) < TOLERANCE
    assert rel_l2(got.grad, g.numpy()) < TOLERANCE
