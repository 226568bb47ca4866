"""The PyTorch models ebm can run, and how it reads them.

A stack of ``nn.Linear`` layers with one activation type between them (none after the last),
as an ``nn.Sequential`` or a module whose ``.layers`` or ``.net`` attribute is one. The last
layer's outputs f go through the output function: ``identity`` (E = f, one output),
``square`` (E = sum(f**2)) or ``softplus`` (E = softplus(f), one output). Layer 0 reads the
first ``x_dim`` inputs from x and the next ``y_dim`` from y. Anything ebm could not reproduce
(dropout, normalisation, mixed activations, other slopes) raises ``ValueError``.

These rules are shared: ``Model.from_torch`` uses them, and ``examples/export_pytorch.py``
loads this file to write model files by the same rules. It needs only PyTorch.
"""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

__all__ = ["ACTIVATIONS", "OUTPUTS", "activation_name", "layers_of", "checked", "energy", "layers_for_ebm"]

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


def checked(model: nn.Module, x_dim: int, y_dim: int, output: str):
    """The Linear layers and activation name of ``model`` for ``x_dim``, ``y_dim`` and
    ``output``, or ValueError naming what ebm cannot run."""
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

    return linears, act


def layers_for_ebm(model: nn.Module, x_dim: int, y_dim: int, output: str):
    """(weights, biases, activation) of ``model`` as float32 NumPy arrays, each layer's
    ``[out, in]`` weight and ``[out]`` bias (zeros for a Linear without bias)."""
    linears, act = checked(model, x_dim, y_dim, output)
    weights, biases = [], []
    for i, lin in enumerate(linears):
        w = lin.weight.detach().to(device="cpu", dtype=torch.float32).contiguous()
        if lin.bias is not None:
            b = lin.bias.detach().to(device="cpu", dtype=torch.float32).contiguous()
        else:
            b = torch.zeros(lin.out_features, dtype=torch.float32)
        for name, t in ((f"layers.{i}.weight", w), (f"layers.{i}.bias", b)):
            if not torch.isfinite(t).all():
                raise ValueError(f"{name} holds non-finite values (after conversion to float32)")
        weights.append(w.numpy().copy())
        biases.append(b.numpy().copy())
    return weights, biases, act if act is not None else _UNUSED_ACTIVATION


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
