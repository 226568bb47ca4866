#!/usr/bin/env python3
"""Export a PyTorch MLP energy model to the safetensors format that `ebm` reads.

The model is E(x, y) = out(MLP(concat(x, y))): a stack of ``nn.Linear`` layers with one
activation type between them (none after the last layer), whose last layer's outputs f go
through the output function ``out``:

* ``identity``: E = f (one output),
* ``square``:   E = sum(f**2) (one or more outputs),
* ``softplus``: E = softplus(f) (one output).

Layer 0 reads the first ``x_dim`` inputs from x and the next ``y_dim`` from y. The file holds
``layers.{i}.weight`` [out_i, in_i] and ``layers.{i}.bias`` [out_i] (``nn.Linear``'s own
layout, float32) and the metadata strings ``ebm.x_dim``, ``ebm.y_dim``, ``ebm.activation``
and ``ebm.output``.

Supported activations (PyTorch module -> name in the file):

    nn.ReLU                         -> relu
    nn.LeakyReLU(0.01)              -> leaky_relu   (other slopes are refused)
    nn.Tanh                         -> tanh
    nn.Sigmoid                      -> sigmoid
    nn.SiLU                         -> silu
    nn.GELU()                       -> gelu         (exact, erf form)
    nn.GELU(approximate="tanh")     -> gelu_tanh
    nn.Softplus()                   -> softplus     (beta=1, threshold=20 only)

Usage as a library::

    import sys; sys.path.insert(0, "examples")
    from export_pytorch import export
    net = nn.Sequential(nn.Linear(4, 64), nn.SiLU(), nn.Linear(64, 1))
    export(net, "model.safetensors", x_dim=2, y_dim=2, output="softplus")

``export`` accepts an ``nn.Sequential`` or any module whose ``.layers`` or ``.net`` attribute
is one. Anything else in the stack (dropout, normalisation, mixed activations, ...) is refused
with a ValueError, since ``ebm`` could not reproduce it.

Demo::

    python examples/export_pytorch.py OUT.safetensors

builds a small random model (x_dim 2, y_dim 2, hidden [64, 64], silu, softplus output),
writes it to OUT.safetensors and prints what it wrote. Then e.g.
``ebm refine --model OUT.safetensors --x x.npy --y0 y0.npy ...``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch
from torch import nn

# The rules (which modules ebm can run, and how it reads them) live in the Python package's
# `_torch.py`, shared with `ebm_wgpu.Model.from_torch`; loaded by path so this script needs
# only PyTorch and safetensors, not the package.
_spec = importlib.util.spec_from_file_location(
    "ebm_torch_rules", Path(__file__).resolve().parent.parent / "python" / "ebm_wgpu" / "_torch.py"
)
_rules = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_rules)
ACTIVATIONS, OUTPUTS = _rules.ACTIVATIONS, _rules.OUTPUTS
activation_name, layers_of, layers_for_ebm, energy = (
    _rules.activation_name,
    _rules.layers_of,
    _rules.layers_for_ebm,
    _rules.energy,
)

__all__ = ["ACTIVATIONS", "OUTPUTS", "export", "energy", "layers_of", "activation_name"]


def export(model: nn.Module, path, x_dim: int, y_dim: int, output: str = "identity") -> dict:
    """Write `model` to `path` as an ebm safetensors file; returns the metadata written.

    `x_dim` is the length of the observed input x (0 for an unconditional model), `y_dim`
    the length of the refined answer y; the first Linear must have x_dim + y_dim inputs.
    `output` is one of "identity", "square", "softplus". Weights are written as contiguous
    float32; a Linear without bias gets a zero bias.
    """
    try:
        from safetensors.torch import save_file
    except ImportError as e:
        raise ImportError(
            "export needs the safetensors package: pip install safetensors"
        ) from e

    weights, biases, act = layers_for_ebm(model, x_dim, y_dim, output)
    tensors = {}
    for i, (w, b) in enumerate(zip(weights, biases)):
        tensors[f"layers.{i}.weight"] = torch.from_numpy(w)
        tensors[f"layers.{i}.bias"] = torch.from_numpy(b)
    metadata = {
        "ebm.x_dim": str(x_dim),
        "ebm.y_dim": str(y_dim),
        "ebm.activation": act,
        "ebm.output": output,
    }
    save_file(tensors, str(path), metadata=metadata)
    return metadata


def _demo(path: str) -> None:
    torch.manual_seed(0)
    x_dim, y_dim = 2, 2
    net = nn.Sequential(
        nn.Linear(x_dim + y_dim, 64),
        nn.SiLU(),
        nn.Linear(64, 64),
        nn.SiLU(),
        nn.Linear(64, 1),
    )
    meta = export(net, path, x_dim, y_dim, output="softplus")
    print(f"wrote {path}")
    for k, v in meta.items():
        print(f"  {k} = {v}")
    for i, lin in enumerate(layers_of(net)[0]):
        print(f"  layers.{i}.weight {list(lin.weight.shape)}  layers.{i}.bias [{lin.out_features}]")
    x = torch.zeros(1, x_dim)
    y = torch.zeros(1, y_dim)
    print(f"  E(x=0, y=0) = {energy(net, x, y, 'softplus').item():.6f}")


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        print(f"usage: {sys.argv[0]} OUT.safetensors", file=sys.stderr)
        sys.exit(2)
    _demo(sys.argv[1])
