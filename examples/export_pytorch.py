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

import sys

import torch
from torch import nn
import torch.nn.functional as F

__all__ = ["ACTIVATIONS", "OUTPUTS", "export", "energy", "layers_of", "activation_name"]

#: Activation names understood by ebm.
ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid", "silu", "gelu", "gelu_tanh", "softplus")
#: Output functions understood by ebm.
OUTPUTS = ("identity", "square", "softplus")

# Written for models without hidden layers, where the activation is never applied.
_UNUSED_ACTIVATION = "relu"


def activation_name(module: nn.Module) -> str:
    """The ebm name of an activation module, or ValueError if ebm cannot reproduce it."""
    if isinstance(module, nn.ReLU):
        return "relu"
    if isinstance(module, nn.LeakyReLU):
        if module.negative_slope != 0.01:
            raise ValueError(
                f"nn.LeakyReLU(negative_slope={module.negative_slope}) is not supported: "
                "ebm's leaky_relu has slope 0.01 (PyTorch's default)"
            )
        return "leaky_relu"
    if isinstance(module, nn.Tanh):
        return "tanh"
    if isinstance(module, nn.Sigmoid):
        return "sigmoid"
    if isinstance(module, nn.SiLU):
        return "silu"
    if isinstance(module, nn.GELU):
        if module.approximate == "none":
            return "gelu"
        if module.approximate == "tanh":
            return "gelu_tanh"
        raise ValueError(f"nn.GELU(approximate={module.approximate!r}) is not supported")
    if isinstance(module, nn.Softplus):
        if module.beta != 1 or module.threshold != 20:
            raise ValueError(
                f"nn.Softplus(beta={module.beta}, threshold={module.threshold}) is not "
                "supported: ebm's softplus has beta=1 and threshold=20 (PyTorch's defaults)"
            )
        return "softplus"
    raise ValueError(
        f"unsupported module {type(module).__name__} in the stack: expected nn.Linear or one "
        "of nn.ReLU, nn.LeakyReLU(0.01), nn.Tanh, nn.Sigmoid, nn.SiLU, nn.GELU, nn.Softplus"
    )


def _sequential(model: nn.Module) -> nn.Sequential:
    if isinstance(model, nn.Sequential):
        return model
    for attr in ("layers", "net"):
        inner = getattr(model, attr, None)
        if isinstance(inner, nn.Sequential):
            return inner
    raise ValueError(
        f"cannot export {type(model).__name__}: expected an nn.Sequential of nn.Linear and "
        "activation modules, or a module whose .layers or .net attribute is one"
    )


def layers_of(model: nn.Module) -> tuple[list[nn.Linear], str | None]:
    """The Linear layers of `model` and the name of its one activation (None if no hidden layer).

    Raises ValueError unless the stack is Linear, act, Linear, act, ..., Linear with a single
    activation type and layer widths that chain together.
    """
    modules = list(_sequential(model))
    if not modules:
        raise ValueError("the model is an empty nn.Sequential")
    linears: list[nn.Linear] = []
    act: str | None = None
    act_at = None
    for i, m in enumerate(modules):
        if i % 2 == 0:
            if not isinstance(m, nn.Linear):
                raise ValueError(
                    f"module {i} is {type(m).__name__}; expected nn.Linear (the stack must "
                    "alternate Linear, activation, Linear, ..., ending with Linear)"
                )
            if linears and m.in_features != linears[-1].out_features:
                raise ValueError(
                    f"module {i} (nn.Linear) has in_features={m.in_features}, but the "
                    f"previous Linear has out_features={linears[-1].out_features}"
                )
            linears.append(m)
        else:
            if isinstance(m, nn.Linear):
                raise ValueError(
                    f"module {i} is nn.Linear right after another nn.Linear; an activation is "
                    "needed between Linear layers"
                )
            name = activation_name(m)
            if act is None:
                act, act_at = name, i
            elif name != act:
                raise ValueError(
                    f"mixed activations: module {act_at} is {act} but module {i} is {name}; "
                    "ebm supports one activation type per model"
                )
    if not isinstance(modules[-1], nn.Linear):
        raise ValueError(
            f"the last module is {type(modules[-1]).__name__}; the stack must end with nn.Linear "
            "(the output function is given by `output`, not by a module)"
        )
    return linears, act


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

    if output not in OUTPUTS:
        raise ValueError(f"unknown output {output!r}; expected one of {', '.join(OUTPUTS)}")
    if int(x_dim) != x_dim or x_dim < 0:
        raise ValueError(f"x_dim must be a whole number >= 0, got {x_dim!r}")
    if int(y_dim) != y_dim or y_dim < 1:
        raise ValueError(f"y_dim must be a whole number >= 1, got {y_dim!r}")
    x_dim, y_dim = int(x_dim), int(y_dim)
    linears, act = layers_of(model)
    if linears[0].in_features != x_dim + y_dim:
        raise ValueError(
            f"the first nn.Linear has in_features={linears[0].in_features}, but "
            f"x_dim + y_dim = {x_dim} + {y_dim} = {x_dim + y_dim}"
        )
    n_out = linears[-1].out_features
    if n_out != 1 and output != "square":
        raise ValueError(
            f"the last nn.Linear has {n_out} outputs, but output {output!r} needs exactly 1 "
            "(only 'square' allows several: E = sum(f**2))"
        )

    tensors = {}
    for i, lin in enumerate(linears):
        w = lin.weight.detach().to(device="cpu", dtype=torch.float32).contiguous()
        if lin.bias is not None:
            b = lin.bias.detach().to(device="cpu", dtype=torch.float32).contiguous()
        else:
            b = torch.zeros(lin.out_features, dtype=torch.float32)
        for name, t in ((f"layers.{i}.weight", w), (f"layers.{i}.bias", b)):
            if not torch.isfinite(t).all():
                raise ValueError(f"{name} holds non-finite values (after conversion to float32)")
            tensors[name] = t.clone()  # own storage: save_file refuses shared tensors
    metadata = {
        "ebm.x_dim": str(x_dim),
        "ebm.y_dim": str(y_dim),
        "ebm.activation": act if act is not None else _UNUSED_ACTIVATION,
        "ebm.output": output,
    }
    save_file(tensors, str(path), metadata=metadata)
    return metadata


def energy(model: nn.Module, x, y, output: str = "identity") -> torch.Tensor:
    """E(x, y) per row in PyTorch (differentiable), exactly as ebm defines it.

    `x` is [B, x_dim] (None or a [B, 0] tensor for an unconditional model), `y` is
    [B, y_dim]; returns [B]. Runs the model's Linear/activation stack on concat(x, y) and
    applies the output function.
    """
    seq = _sequential(model)
    inp = y if x is None or x.shape[-1] == 0 else torch.cat([x, y], dim=-1)
    f = seq(inp)
    if output == "identity":
        return f[..., 0]
    if output == "square":
        return (f * f).sum(dim=-1)
    if output == "softplus":
        return F.softplus(f[..., 0])
    raise ValueError(f"unknown output {output!r}; expected one of {', '.join(OUTPUTS)}")


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
