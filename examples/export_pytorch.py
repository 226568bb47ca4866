#!/usr/bin/env python3
"""Export a PyTorch energy model to the safetensors model file that `ebm` reads.

Any module whose ``forward(x, y)`` returns the energy ``[B]`` is traced with ``torch.fx``
and written as a graph of ebm's ops (model file format 2: each parameter a float32 tensor
under its ``state_dict`` name, and the graph as JSON in the metadata ``ebm.graph``, beside
``ebm.format``, ``ebm.x_dim`` and ``ebm.y_dim``). x is ``[B, x_dim]`` (``[B, 0]`` for an
unconditional model), y is ``[B, y_dim]``. What is read: ``nn.Linear`` / ``F.linear``;
ReLU, LeakyReLU(0.01), Tanh, Sigmoid, SiLU, GELU (exact or tanh), Softplus (defaults), as
modules, functions or tensor methods; ``+ - *`` between tensors of one width and with
numbers (``-t``, ``t / c``, ``t * t``, ``t.pow(2)``); LayerNorm and RMSNorm (modules or
functional); ``torch.cat`` along the last dim, ``t[:, a:b]``, ``.chunk``, ``torch.split``,
``.narrow``; and the energy as a sum of scaled heads: ``.sum(-1)``, ``.mean(-1)``,
``(t * t).sum(-1)``, ``torch.logsumexp(t, -1)``, ``.squeeze(-1)`` of a width-1 output.
Anything else raises ValueError naming the op, the traced node and the source line.

The older form still works: an ``nn.Sequential`` of ``nn.Linear`` layers with one
activation between them (or a module whose ``forward(v)`` only returns ``self.layers(v)``
or ``self.net(v)`` of one) over concat(x, y), with ``output``:

* ``identity``: E = f (one output),
* ``square``:   E = sum(f**2) (one or more outputs),
* ``softplus``: E = softplus(f) (one output).

Its file names the layers ``layers.{i}.weight`` / ``.bias`` and also carries format 1's
keys (``ebm.activation``, ``ebm.output``), so ``ebm`` 0.5 reads it too.

The rules live in the Python package's ``_torch.py`` (``ebm_wgpu.Model.from_torch`` uses
the same importer); this script loads that file by path, so it needs only PyTorch, NumPy
and safetensors, not the package (the op table then comes from the repository's
``src/energy/ops.rs``). Usage as a library::

    import sys; sys.path.insert(0, "examples")
    from export_pytorch import export

    class Energy(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(4, 64), nn.SiLU(), nn.Linear(64, 5))
        def forward(self, x, y):
            return -torch.logsumexp(self.net(torch.cat([x, y], -1)), -1)

    export(Energy(), "model.safetensors", x_dim=2, y_dim=2)
    export(nn.Sequential(nn.Linear(4, 64), nn.SiLU(), nn.Linear(64, 1)),
           "mlp.safetensors", x_dim=2, y_dim=2, output="softplus")

Every export is checked: the graph, evaluated in float64, must give the module's energies
on a few random rows.

Demo::

    python examples/export_pytorch.py OUT.safetensors

builds a small random pre-norm residual energy (x_dim 2, y_dim 2), writes it to
OUT.safetensors and prints its graph. Then e.g.
``ebm refine --model OUT.safetensors --x x.npy --y0 y0.npy ...``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch
from torch import nn
import torch.nn.functional as F

# The importer, shared with `ebm_wgpu.Model.from_torch`, loaded by path.
_spec = importlib.util.spec_from_file_location(
    "ebm_torch_rules", Path(__file__).resolve().parent.parent / "python" / "ebm_wgpu" / "_torch.py"
)
_rules = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _rules  # its dataclasses look their module up by name
_spec.loader.exec_module(_rules)
ACTIVATIONS, OUTPUTS = _rules.ACTIVATIONS, _rules.OUTPUTS
activation_name, layers_of, layers_for_ebm, energy, to_ebm, evaluate = (
    _rules.activation_name,
    _rules.layers_of,
    _rules.layers_for_ebm,
    _rules.energy,
    _rules.to_ebm,
    _rules.evaluate,
)

__all__ = [
    "ACTIVATIONS",
    "OUTPUTS",
    "export",
    "energy",
    "evaluate",
    "to_ebm",
    "layers_of",
    "activation_name",
]


def export(model: nn.Module, path, x_dim: int, y_dim: int, output: str | None = None) -> dict:
    """Write `model` to `path` as an ebm model file; returns the metadata written.

    `x_dim` is the length of the observed input x (0 for an unconditional model), `y_dim`
    the length of the refined answer y. A module with ``forward(x, y)`` is traced (leave
    `output` None); an MLP ``nn.Sequential`` takes `output` ("identity" by default,
    "square" or "softplus"). Raises ValueError for anything ebm cannot run.
    """
    try:
        from safetensors.numpy import save_file
    except ImportError as e:
        raise ImportError("export needs the safetensors package: pip install safetensors") from e

    imported = to_ebm(model, x_dim, y_dim, output)
    metadata = imported.metadata()
    save_file(dict(imported.params), str(path), metadata=metadata)
    return metadata


class _PreNormEnergy(nn.Module):
    def __init__(self, x_dim: int, y_dim: int, width: int = 32):
        super().__init__()
        self.embed = nn.Linear(x_dim + y_dim, width)
        self.norm = nn.LayerNorm(width)
        self.up = nn.Linear(width, 2 * width)
        self.down = nn.Linear(2 * width, width)
        self.head = nn.Linear(width, 1)

    def forward(self, x, y):
        h = self.embed(torch.cat([x, y], dim=-1))
        h = h + self.down(F.silu(self.up(self.norm(h))))
        return F.softplus(self.head(h)).squeeze(-1) + 0.01 * (y * y).sum(-1)


def _demo(path: str) -> None:
    torch.manual_seed(0)
    x_dim, y_dim = 2, 2
    net = _PreNormEnergy(x_dim, y_dim)
    meta = export(net, path, x_dim, y_dim)
    imported = to_ebm(net, x_dim, y_dim)
    print(f"wrote {path} (format {meta['ebm.format']}, x_dim {x_dim}, y_dim {y_dim})")
    for node in imported.graph["nodes"]:
        fields = {k: v for k, v in node.items() if k not in ("name", "op", "inputs")}
        print(
            f"  {node['name']:<10} {node['op']:<11} {', '.join(node['inputs']):<14} {fields or ''}"
        )
    for term in imported.graph["energy"]:
        print(f"  energy += {term['scale']:g} * {term['head']}({term['input']})")
    x = torch.zeros(1, x_dim)
    y = torch.zeros(1, y_dim)
    with torch.no_grad():
        print(f"  E(x=0, y=0) = {net(x, y).item():.6f}")


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        print(f"usage: {sys.argv[0]} OUT.safetensors", file=sys.stderr)
        sys.exit(2)
    _demo(sys.argv[1])
