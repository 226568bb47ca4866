"""PyTorch modules as ebm energy graphs: the importer behind ``Model.from_torch`` and
``examples/export_pytorch.py`` (which loads this file by path, so it needs only PyTorch and
NumPy, and the op table: see ``op_table``).

Two forms are read (``to_ebm``):

* **A module with ``forward(x, y)``** returning the energy ``[B]`` is traced with
  ``torch.fx.symbolic_trace`` and its graph mapped, node by node, to ebm's ops: x is
  ``[B, x_dim]`` (``[B, 0]`` for an unconditional model, which must not read it), y is
  ``[B, y_dim]``. A ``forward(x, y, t)`` is an energy of a landscape index t (IRED's and
  noise-conditional energies), called with t ``[B, 1]``: ebm gives t per stage
  (``Engine.refine(..., landscape=, stages=)``) and computes what depends on x and t alone
  once per stage. A sinusoidal embedding of t is read when written as a Linear from t
  (its frequencies, without bias) followed by ``torch.sin`` and ``torch.cos``.
  Parameters keep their ``state_dict`` names. What is read:

  - ``nn.Linear`` / ``F.linear`` (with or without bias) -> ``linear``, over the pieces of
    a ``torch.cat`` directly;
  - the activations ReLU, LeakyReLU (slope 0.01 only), Tanh, Sigmoid, SiLU, GELU (exact
    and ``approximate="tanh"``), Softplus (beta 1, threshold 20 only), as modules,
    functions (``F.silu``, ``torch.tanh``) or tensor methods (``.relu()``), and
    ``torch.sin`` / ``torch.cos`` (a sinusoidal embedding of t);
  - ``+ - *`` between tensors of one width (``add``, ``sub``, ``mul``), and with Python
    numbers, ``-t`` and ``t / c`` (``affine``: ``scale * t + shift``); ``t * t`` and
    ``t.pow(2)`` / ``t ** 2`` (``mul``);
  - ``nn.LayerNorm`` / ``F.layer_norm`` and ``nn.RMSNorm`` / ``F.rms_norm`` over the
    features, with or without affine parameters, PyTorch's eps (RMSNorm's ``eps=None``
    is float32's machine epsilon);
  - ``torch.cat`` / ``concat`` / ``concatenate`` along the last dim; ``t[:, a:b]``,
    ``t[..., a:b]``, ``.chunk(k, dim=-1)``, ``torch.split(t, sizes, dim=-1)``,
    ``.narrow(-1, start, length)``;
  - the heads that reduce a ``[B, w]`` tensor to ``[B]``: ``.sum(-1)``, ``.mean(-1)``,
    ``(t * t).sum(-1)`` / ``t.pow(2).sum(-1)`` (``sum_squares``), ``.pow(2).mean(-1)``
    (``mean_squares``), ``torch.logsumexp(t, -1)``, ``.squeeze(-1)`` or ``t[:, k]`` of a
    width-1 output (a ``sum``); and sums of such terms scaled by numbers
    (``-torch.logsumexp(...)``, ``e + 0.1 * (y * y).sum(-1)``). Elementwise ops on a
    ``[B]`` energy that is one width-1 output (``F.softplus(f.squeeze(-1))``) apply to
    that output. ``nn.Identity`` and ``.contiguous()`` pass their input on.

  Anything else (other ops, other dims, broadcasting between widths, a constant added to
  the energy, in-place ops whose input is read later, ...) raises ``ValueError`` naming
  the op, the fx node and the source line; nothing is approximated. Every import is then
  checked: the graph, evaluated here in float64, must give the module's energies on a few
  random rows.

* **An MLP**: an ``nn.Sequential`` of ``nn.Linear`` layers with one activation type between
  them (none after the last), or a module whose one-argument ``forward(v)`` only returns
  ``self.layers(v)`` or ``self.net(v)`` of one. Layer 0 reads concat(x, y); the last
  layer's outputs f go through ``output``: ``identity`` (E = f, one output), ``square``
  (E = sum(f**2)) or ``softplus`` (E = softplus(f), one output). Its parameters are named
  ``layers.{i}.weight`` / ``.bias`` (a Linear without bias gets zeros) and the model file
  also carries format 1's keys, so ``ebm`` 0.5 reads it.

The PyTorch spellings accepted for each op kind are ebm's op table (``ebm::TORCH_NAMES``,
from ``ebm_wgpu._ops()``), so the library and the importer keep one list.
"""

from __future__ import annotations

import builtins
import inspect
import json
import math
import operator
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

__all__ = [
    "ACTIVATIONS",
    "OUTPUTS",
    "HEADS",
    "Imported",
    "activation_name",
    "checked",
    "energy",
    "evaluate",
    "layers_for_ebm",
    "layers_of",
    "op_table",
    "to_ebm",
]

#: Activation names understood by ebm.
ACTIVATIONS = (
    "relu",
    "leaky_relu",
    "tanh",
    "sigmoid",
    "silu",
    "gelu",
    "gelu_tanh",
    "softplus",
    "sin",
    "cos",
)
#: Output functions of the MLP form.
OUTPUTS = ("identity", "square", "softplus")
#: How an energy term reduces a tensor (the heads of ebm's model files).
HEADS = ("sum", "mean", "sum_squares", "mean_squares", "logsumexp")

# Written for models without hidden layers, where the activation is never applied.
_UNUSED_ACTIVATION = "relu"

# --------------------------------------------------------------------------------------
# The op table
# --------------------------------------------------------------------------------------

_TABLE: dict[str, tuple[str, ...]] | None = None


def op_table() -> dict[str, tuple[str, ...]]:
    """ebm's op table: each op kind and the PyTorch spellings the importer maps to it.

    From the library (``ebm_wgpu._ops()``, Rust's ``TORCH_NAMES``); where the package is
    not installed (``examples/export_pytorch.py`` run from the repository), read from the
    same table in the repository's ``src/energy/ops.rs``.
    """
    global _TABLE
    if _TABLE is None:
        try:
            from ebm_wgpu._native import _ops  # type: ignore[import-not-found]

            table = {k: tuple(v) for k, v in _ops().items()}
        except ImportError:
            table = _table_from_source()
        _TABLE = table
    return _TABLE


def _table_from_source(source: Path | None = None) -> dict[str, tuple[str, ...]]:
    """The op table as ``src/energy/ops.rs`` writes it (by default the repository's this
    file sits in)."""
    if source is None:
        source = Path(__file__).resolve().parents[2] / "src" / "energy" / "ops.rs"
    try:
        text = source.read_text()
    except OSError as e:
        raise ImportError(
            "ebm's op table is needed to import PyTorch modules: install the ebm-wgpu "
            f"package (pip install ./python), or run from the repository ({source}: {e})"
        ) from e
    block = re.search(r"pub const TORCH_NAMES[^=]*=\s*&\[(.*?)\n\];", text, re.S)
    if block is None:
        raise ImportError(f"{source}: TORCH_NAMES not found")
    table = {
        kind: tuple(re.findall(r'"(\w+)"', names))
        for kind, names in re.findall(
            r'\(\s*"(\w+)"\s*,\s*&\[(.*?)\]\s*,?\s*\)', block.group(1), re.S
        )
    }
    if not table:
        raise ImportError(f"{source}: TORCH_NAMES could not be read")
    return table


def _kinds_of(spelling: str) -> list[str]:
    return [kind for kind, names in op_table().items() if spelling in names]


def _supported() -> str:
    names = sorted({n for names in op_table().values() for n in names})
    return ", ".join(names) + "; heads: sum, mean, logsumexp, squeeze(-1); nn.Identity, contiguous"


# --------------------------------------------------------------------------------------
# What an import gives
# --------------------------------------------------------------------------------------


@dataclass
class Imported:
    """A module as ebm reads it: format 2's graph (a dict, see ``Model.graph``) and its
    parameters (name -> float32 NumPy array). ``mlp`` is (activation, output) for the MLP
    form, whose file also carries format 1's keys; None for a traced graph."""

    x_dim: int
    y_dim: int
    graph: dict
    params: dict
    mlp: tuple | None = None
    landscape: bool = False

    def metadata(self) -> dict:
        """The model file's metadata strings (format 2, and format 1's keys for an MLP)."""
        meta = {
            "ebm.format": "2",
            "ebm.x_dim": str(self.x_dim),
            "ebm.y_dim": str(self.y_dim),
            "ebm.graph": json.dumps(self.graph, separators=(",", ":")),
        }
        if self.mlp is not None:
            meta["ebm.activation"], meta["ebm.output"] = self.mlp
        return meta


def _check_dims(x_dim, y_dim) -> tuple[int, int]:
    if isinstance(x_dim, bool) or int(x_dim) != x_dim or x_dim < 0:
        raise ValueError(f"x_dim must be a whole number >= 0, got {x_dim!r}")
    if isinstance(y_dim, bool) or int(y_dim) != y_dim or y_dim < 1:
        raise ValueError(f"y_dim must be a whole number >= 1, got {y_dim!r}")
    return int(x_dim), int(y_dim)


def to_ebm(
    module, x_dim: int, y_dim: int, output: str | None = None, *, verify: bool = True
) -> Imported:
    """``module`` as an ebm energy graph (see the module's docs for the two forms).

    ``output`` applies to the MLP form only (default ``identity``); a traced
    ``forward(x, y)`` returns the energy itself, so it must be None (or ``identity``).
    With ``verify``, the graph is evaluated in float64 on a few random rows and must give
    the module's energies. Raises ValueError naming what ebm cannot run.
    """
    x_dim, y_dim = _check_dims(x_dim, y_dim)
    if not isinstance(module, nn.Module):
        raise ValueError(f"expected a torch.nn.Module, got {type(module).__name__}")
    if output is not None and output not in OUTPUTS:
        raise ValueError(f"unknown output {output!r}; expected one of {', '.join(OUTPUTS)}")
    if not isinstance(module, nn.Sequential) and _positional_arity(module) >= 2:
        if output not in (None, "identity"):
            raise ValueError(
                f"output={output!r} applies to the nn.Sequential form; {type(module).__name__}."
                "forward(x, y) is traced and must return the energy [B] itself (write "
                "F.softplus(...), (f * f).sum(-1) ... in forward)"
            )
        imported = _trace(module, x_dim, y_dim)
        if verify:
            if imported.landscape:
                _verify(imported, lambda x, y, t: module(x, y, t), module)
            else:
                _verify(imported, lambda x, y, t: module(x, y), module)
        return imported
    output = output or "identity"
    if isinstance(module, nn.Sequential):
        seq = module
    else:
        seq = _inner_sequential(module)
    imported = _mlp(seq, x_dim, y_dim, output)
    if verify:
        _verify(imported, lambda x, y, t: energy(seq, x, y, output), module)
    return imported


def _positional_arity(module: nn.Module) -> int:
    """How many positional inputs ``module.forward`` takes (a ``*args`` forward: 1)."""
    try:
        sig = inspect.signature(module.forward)
    except (TypeError, ValueError):
        return 1
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(1 for p in sig.parameters.values() if p.kind in kinds)


def _inner_sequential(module: nn.Module) -> nn.Sequential:
    """The ``.layers`` or ``.net`` Sequential of a one-input module whose forward only
    returns it applied to its input (checked by tracing: anything more is refused, since
    reading .net alone would drop it)."""
    for attr in ("layers", "net"):
        inner = getattr(module, attr, None)
        if isinstance(inner, nn.Sequential):
            break
    else:
        raise ValueError(
            f"cannot import {type(module).__name__}: expected a module whose forward(x, y) "
            "returns the energy [B] (traced), an nn.Sequential of nn.Linear and activation "
            "modules, or a module whose forward(v) returns self.layers(v) or self.net(v) of one"
        )
    name = type(module).__name__
    try:
        graph = torch.fx.Tracer().trace(module)
    except Exception as e:  # noqa: BLE001 - any failure to trace is reported the same way
        raise ValueError(
            f"cannot import {name}: its forward could not be traced with torch.fx ({e}), so "
            f"ebm cannot tell that it only returns self.{attr}(v); define forward(x, y) "
            "returning the energy [B] instead"
        ) from e
    nodes = [n for n in graph.nodes if n.op != "placeholder"]
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    prev = placeholders[0] if placeholders else None
    children = [f"{attr}.{k}" for k in inner._modules]
    ok = len(nodes) == len(children) + 1
    if ok:
        for n, target in zip(nodes, children):
            if n.op != "call_module" or n.target != target or n.args != (prev,) or n.kwargs:
                ok = False
                break
            prev = n
        last = nodes[-1]
        ok = ok and last.op == "output" and last.args == (prev,)
    if not ok:
        raise ValueError(
            f"cannot import {name}: its forward does more than return self.{attr}(v), and "
            f"reading self.{attr} alone would give another energy; define forward(x, y) "
            "returning the energy [B] to have all of it traced"
        )
    return inner


# --------------------------------------------------------------------------------------
# The MLP form
# --------------------------------------------------------------------------------------


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
        "of nn.ReLU, nn.LeakyReLU(0.01), nn.Tanh, nn.Sigmoid, nn.SiLU, nn.GELU, nn.Softplus "
        "(for other graphs, write a module whose forward(x, y) returns the energy)"
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
    """The Linear layers of an MLP ``model`` and the name of its one activation (None if no
    hidden layer).

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
                    "alternate Linear, activation, Linear, ..., ending with Linear; for other "
                    "graphs, write a module whose forward(x, y) returns the energy)"
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
                    "an nn.Sequential is read as an MLP with one activation type (for other "
                    "graphs, write a module whose forward(x, y) returns the energy)"
                )
    if not isinstance(modules[-1], nn.Linear):
        raise ValueError(
            f"the last module is {type(modules[-1]).__name__}; the stack must end with nn.Linear "
            "(the output function is given by `output`, not by a module)"
        )
    return linears, act


def checked(model: nn.Module, x_dim: int, y_dim: int, output: str):
    """The Linear layers and activation name of the MLP ``model`` for ``x_dim``, ``y_dim``
    and ``output``, or ValueError naming what ebm cannot run."""
    if output not in OUTPUTS:
        raise ValueError(f"unknown output {output!r}; expected one of {', '.join(OUTPUTS)}")
    x_dim, y_dim = _check_dims(x_dim, y_dim)
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


def _array(t: torch.Tensor, name: str) -> np.ndarray:
    a = t.detach().to(device="cpu", dtype=torch.float32).contiguous().numpy().copy()
    if not np.isfinite(a).all():
        raise ValueError(f"{name} holds non-finite values (after conversion to float32)")
    return a


def layers_for_ebm(model: nn.Module, x_dim: int, y_dim: int, output: str):
    """(weights, biases, activation) of the MLP ``model`` as float32 NumPy arrays, each
    layer's ``[out, in]`` weight and ``[out]`` bias (zeros for a Linear without bias)."""
    linears, act = checked(model, x_dim, y_dim, output)
    weights, biases = [], []
    for i, lin in enumerate(linears):
        weights.append(_array(lin.weight, f"layers.{i}.weight"))
        if lin.bias is not None:
            biases.append(_array(lin.bias, f"layers.{i}.bias"))
        else:
            biases.append(np.zeros(lin.out_features, np.float32))
    return weights, biases, act if act is not None else _UNUSED_ACTIVATION


def _mlp(seq: nn.Module, x_dim: int, y_dim: int, output: str) -> Imported:
    """The graph ``ebm::Model::mlp`` builds for these layers (its node and parameter
    names), so that the file is format 1's MLP too."""
    weights, biases, act = layers_for_ebm(seq, x_dim, y_dim, output)
    params, nodes = {}, []
    inputs = ["x", "y"] if x_dim else ["y"]
    last = len(weights) - 1
    for i, (w, b) in enumerate(zip(weights, biases)):
        params[f"layers.{i}.weight"] = w
        params[f"layers.{i}.bias"] = b
        name = f"layers.{i}"
        nodes.append(
            {
                "name": name,
                "op": "linear",
                "inputs": inputs,
                "weight": f"layers.{i}.weight",
                "bias": f"layers.{i}.bias",
            }
        )
        if i != last:
            nodes.append(
                {"name": f"act{i}", "op": "activation", "inputs": [name], "activation": act}
            )
            name = f"act{i}"
        elif output == "softplus":
            nodes.append(
                {"name": "softplus", "op": "activation", "inputs": [name], "activation": "softplus"}
            )
            name = "softplus"
        inputs = [name]
    head = "sum_squares" if output == "square" else "sum"
    graph = {
        "params": list(params),
        "nodes": nodes,
        "energy": [{"head": head, "input": inputs[0], "scale": 1.0}],
    }
    return Imported(x_dim, y_dim, graph, params, mlp=(act, output))


def energy(model: nn.Module, x, y, output: str = "identity") -> torch.Tensor:
    """E(x, y) per row of an MLP ``model`` in PyTorch (differentiable), as ebm defines it.

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


# --------------------------------------------------------------------------------------
# The traced form: values the walk over the fx graph carries
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _T:
    """A tensor [B, width]: the concatenation of ebm tensors (name, width), kept apart so
    that a Linear reads a torch.cat's pieces directly."""

    pieces: tuple

    @property
    def width(self) -> int:
        return sum(w for _, w in self.pieces)


@dataclass(frozen=True)
class _E:
    """An energy: the sum of terms (head, tensor, width, scale); [B], or [B, 1] if kept."""

    terms: tuple
    keep: bool = False

    def single(self):
        """(tensor, scale) where this energy is one width-1 output times a number, or None."""
        if len(self.terms) == 1:
            head, t, w, scale = self.terms[0]
            if head == "sum" and w == 1:
                return t, scale
        return None


@dataclass(frozen=True)
class _P:
    """A parameter or buffer read with get_attr (for F.linear, F.layer_norm, ...)."""

    name: str
    tensor: torch.Tensor


@dataclass(frozen=True)
class _Tuple:
    """The results of .chunk or torch.split."""

    items: tuple


_REQUIRED = object()


_TORCH_DIR = str(Path(torch.__file__).resolve().parent)


def _where(node) -> str:
    """The user's source line of an fx node, from its recorded stack trace, if any."""
    trace = getattr(node, "stack_trace", None) or node.meta.get("stack_trace")
    if not trace:
        return ""
    lines = trace.splitlines()
    found = ""
    for i, line in enumerate(lines):
        m = re.match(r'\s*File "([^"]+)", line (\d+), in (\S+)', line)
        if not m or str(Path(m.group(1)).resolve()).startswith(_TORCH_DIR):
            continue
        code = ""
        if i + 1 < len(lines) and not lines[i + 1].lstrip().startswith("File "):
            code = lines[i + 1].strip()
        found = f" at {m.group(1)}:{m.group(2)} in {m.group(3)}" + (f": {code}" if code else "")
    return found


def _function_label(target) -> tuple[str | None, str]:
    """(name, qualified label) of a call_function target from torch, torch.nn.functional,
    operator or builtins; (None, repr) for anything else."""
    name = getattr(target, "__name__", None)
    if name:
        for namespace, label in (
            (operator, "operator"),
            (torch, "torch"),
            (F, "torch.nn.functional"),
            (torch.Tensor, "torch.Tensor"),
        ):
            if getattr(namespace, name, None) is target:
                return name, f"{label}.{name}"
        if getattr(builtins, name, None) is target:
            return None, f"builtins.{name}"
    return None, getattr(target, "__qualname__", None) or repr(target)


class _Import:
    """One walk over a traced fx graph, building ebm's graph."""

    def __init__(self, root: nn.Module, graph, x_dim: int, y_dim: int):
        self.root = root
        self.fx = graph
        self.x_dim, self.y_dim = x_dim, y_dim
        self.nodes: list[dict] = []
        self.names = {"x", "y", "t"}
        self.widths = {"x": x_dim, "y": y_dim, "t": 1}
        self.landscape = False
        self.params: dict[str, torch.Tensor] = {}
        self.square_of: dict[str, str] = {}
        self.concats: dict[tuple, str] = {}
        self.slices: dict[tuple, str] = {}
        self.order = {n: i for i, n in enumerate(graph.nodes)}
        self.node = None  # the fx node being read
        self.label = ""

    # ---- errors -------------------------------------------------------------------

    def fail(self, message: str):
        node = self.node
        raise ValueError(f"{self.label} (fx node {node.name!r}){_where(node)}: {message}")

    def unsupported(self, detail: str = ""):
        node = self.node
        raise ValueError(
            f"unsupported op {self.label} (fx node {node.name!r}, {node.op}){_where(node)}"
            + (f": {detail}" if detail else "")
            + f". ebm reads: {_supported()}"
        )

    # ---- building -----------------------------------------------------------------

    def fresh(self, base: str) -> str:
        base = re.sub(r"\W", "_", base) or "node"
        name, k = base, 1
        while name in self.names:
            k += 1
            name = f"{base}_{k}"
        self.names.add(name)
        return name

    def add(self, base: str, op: str, inputs: list, width: int, **fields) -> str:
        name = self.fresh(base)
        self.nodes.append({"name": name, "op": op, "inputs": list(inputs), **fields})
        self.widths[name] = width
        return name

    def param(self, name: str, tensor, shape: tuple) -> str:
        if not isinstance(tensor, torch.Tensor):
            self.fail(f"{name} is not a tensor ({type(tensor).__name__})")
        if tuple(tensor.shape) != tuple(shape):
            self.fail(f"parameter {name} has shape {list(tensor.shape)}, expected {list(shape)}")
        if name in self.params and self.params[name] is not tensor:
            self.fail(f"two different tensors are both named {name}")
        self.params[name] = tensor
        return name

    def tensor(self, v, what: str = "input") -> str:
        """The one ebm tensor holding `v` (a concat node where it is several pieces)."""
        v = self.as_tensor(v, what)
        if v.width == 0:
            self.fail(
                f"its {what} has width 0 (an empty slice, or x of an unconditional model, "
                "x_dim 0, which must not be read)"
            )
        if len(v.pieces) == 1:
            return v.pieces[0][0]
        key = v.pieces
        if key not in self.concats:
            self.concats[key] = self.add(
                f"{self.node.name}_cat", "concat", [n for n, _ in v.pieces], v.width
            )
        return self.concats[key]

    def as_tensor(self, v, what: str = "input") -> _T:
        if isinstance(v, _T):
            return v
        if isinstance(v, _E):
            # An energy [B, 1] that is one output is that width-1 tensor; an energy [B] only
            # goes through elementwise ops (a tensor op would see B features).
            t = self.energy_tensor(v) if v.keep else None
            if t is not None:
                return _T(((t, 1),))
            self.fail(
                f"its {what} is {self.describe(v)} (a sum of heads), which only adds to other "
                "energies, scales by numbers and goes through elementwise ops"
            )
        self.fail(f"its {what} is {self.describe(v)}, expected a tensor [B, features]")

    def describe(self, v) -> str:
        if isinstance(v, _T):
            return f"a tensor [B, {v.width}]"
        if isinstance(v, _E):
            return "an energy [B, 1]" if v.keep else "an energy [B]"
        if isinstance(v, _P):
            return f"the parameter {v.name} (used outside linear or a norm)"
        if isinstance(v, _Tuple):
            return "a tuple of tensors"
        return repr(v)

    def slice(self, v: _T, start: int, length: int) -> _T:
        """Features [start, start + length) of `v`: slices of the pieces they fall in."""
        if length <= 0 or start < 0 or start + length > v.width:
            self.fail(f"takes features [{start}, {start + length}) of a tensor {v.width} wide")
        out, offset, end = [], 0, start + length
        for name, w in v.pieces:
            a, b = max(start, offset), min(end, offset + w)
            if a < b:
                if a == offset and b == offset + w:
                    out.append((name, w))
                else:
                    key = (name, a - offset, b - a)
                    if key not in self.slices:
                        self.slices[key] = self.add(
                            f"{self.node.name}_{a - offset}_{b - offset}",
                            "slice",
                            [name],
                            b - a,
                            start=a - offset,
                            len=b - a,
                        )
                    out.append((self.slices[key], b - a))
            offset += w
        return _T(tuple(out))

    def energy_tensor(self, v: _E):
        """The width-1 tensor an energy is, where it is one output times a number (an
        affine node for the number), or None."""
        single = v.single()
        if single is None:
            return None
        t, scale = single
        if scale != 1.0:
            t = self.add(f"{self.node.name}_scale", "affine", [t], 1, scale=float(scale), shift=0.0)
        return t

    def elementwise(self, v, base: str, op: str, **fields):
        """`op` applied to `v`: a tensor, or an energy that is one width-1 output."""
        if isinstance(v, _E):
            t = self.energy_tensor(v)
            if t is None:
                self.fail(
                    f"applies {op} to an energy of several terms; only an energy that is one "
                    "width-1 output can go through an elementwise op"
                )
            t = self.add(base, op, [t], 1, **fields)
            return _E((("sum", t, 1, 1.0),), v.keep)
        name = self.tensor(v)
        return _T(((self.add(base, op, [name], self.widths[name], **fields), self.widths[name]),))

    # ---- the walk -----------------------------------------------------------------

    def run(self) -> Imported:
        values = {}
        placeholders = 0
        result = None

        def value(a):
            if isinstance(a, torch.fx.Node):
                return values[a]
            if isinstance(a, (list, tuple)):
                return type(a)(value(b) for b in a)
            if isinstance(a, dict):
                return {k: value(b) for k, b in a.items()}
            if isinstance(a, slice):
                return slice(value(a.start), value(a.stop), value(a.step))
            return a

        for node in self.fx.nodes:
            self.node = node
            self.label = self.label_of(node)
            if node.op == "placeholder":
                if placeholders == 0:
                    values[node] = _T((("x", self.x_dim),) if self.x_dim else ())
                elif placeholders == 1:
                    values[node] = _T((("y", self.y_dim),))
                elif placeholders == 2:
                    values[node] = _T((("t", 1),))
                    self.landscape = True
                else:
                    self.fail("forward takes more than three inputs (x, y, t) without defaults")
                placeholders += 1
            elif node.op == "get_attr":
                values[node] = self.get_attr(node.target)
            elif node.op == "call_module":
                values[node] = self.call_module(node, value(node.args), value(node.kwargs))
            elif node.op in ("call_function", "call_method"):
                if (
                    node.op == "call_function"
                    and getattr(node.target, "__name__", "") == "_assert_is_none"
                ):
                    continue
                values[node] = self.call(node, value(node.args), value(node.kwargs))
            elif node.op == "output":
                result = value(node.args[0])
            else:
                self.unsupported()
        return self.finish(result)

    def label_of(self, node) -> str:
        if node.op == "call_module":
            try:
                mod = self.root.get_submodule(node.target)
                return f"{type(mod).__name__} module {node.target!r}"
            except AttributeError:
                return f"module {node.target!r}"
        if node.op == "call_function":
            return _function_label(node.target)[1]
        if node.op == "call_method":
            return f"tensor method .{node.target}()"
        if node.op == "get_attr":
            return f"attribute {node.target!r}"
        return node.op

    def get_attr(self, target: str):
        obj = self.root
        for part in target.split("."):
            obj = getattr(obj, part)
        if isinstance(obj, torch.Tensor):
            return _P(target, obj)
        return obj

    def finish(self, result) -> Imported:
        self.label = "the forward's result"
        if not isinstance(result, _E) or result.keep:
            what = self.describe(result)
            hint = (
                " (reduce it over the features with .sum(-1), .squeeze(-1) of a width-1 output, "
                "torch.logsumexp(t, -1) ...)"
                if isinstance(result, _T) or (isinstance(result, _E) and result.keep)
                else ""
            )
            self.fail(f"forward(x, y) must return the energy [B], but returns {what}{hint}")
        energy = [
            {"head": head, "input": t, "scale": float(scale)} for head, t, _, scale in result.terms
        ]
        # Only what the energy reads: unused branches, chunks and squares go.
        needed = {term["input"] for term in energy}
        keep = []
        for node in reversed(self.nodes):
            if node["name"] in needed:
                keep.append(node)
                needed.update(node["inputs"])
        keep.reverse()
        params: dict[str, np.ndarray] = {}
        for node in keep:
            for key in ("weight", "bias"):
                name = node.get(key)
                if name is not None and name not in params:
                    params[name] = _array(self.params[name], name)
        graph = {"params": list(params), "nodes": keep, "energy": energy}
        return Imported(self.x_dim, self.y_dim, graph, params, landscape=self.landscape)

    # ---- modules --------------------------------------------------------------------

    def call_module(self, node, args, kwargs):
        mod = self.root.get_submodule(node.target)
        kind = type(mod).__name__
        if isinstance(mod, nn.Identity):
            return self.bind(args, kwargs, [("input", _REQUIRED)], skip_extra=True)["input"]
        kinds = _kinds_of(kind) if type(mod).__module__.startswith("torch.nn") else []
        if not kinds:
            self.unsupported(
                f"ebm has no op for nn.{kind}"
                if type(mod).__module__.startswith("torch.nn")
                else ""
            )
        a = self.bind(args, kwargs, [("input", _REQUIRED)])
        v = a["input"]
        t = node.target
        if "linear" in kinds and isinstance(mod, nn.Linear):
            return self.linear(v, mod.weight, mod.bias, f"{t}.weight", f"{t}.bias")
        if "activation" in kinds:
            try:
                act = activation_name(mod)
            except ValueError as e:
                self.fail(str(e))
            if getattr(mod, "inplace", False):
                self.check_inplace(node)
            return self.elementwise(v, node.name, "activation", activation=act)
        if "layer_norm" in kinds and isinstance(mod, nn.LayerNorm):
            w = mod.weight if mod.weight is not None else None
            b = getattr(mod, "bias", None)
            return self.layer_norm(
                v,
                tuple(mod.normalized_shape),
                mod.eps,
                _P(f"{t}.weight", w) if w is not None else None,
                _P(f"{t}.bias", b) if b is not None else None,
            )
        if "rms_norm" in kinds and kind == "RMSNorm":
            w = mod.weight if mod.weight is not None else None
            return self.rms_norm(
                v,
                tuple(mod.normalized_shape),
                mod.eps,
                _P(f"{t}.weight", w) if w is not None else None,
            )
        self.unsupported(
            f"this importer has no reader for nn.{kind}, though ebm's op table lists it"
        )

    # ---- functions and methods --------------------------------------------------------

    def call(self, node, args, kwargs):
        if node.op == "call_function":
            name, label = _function_label(node.target)
            if name is None:
                if label == "builtins.getattr":
                    self.unsupported(
                        f"it reads the attribute {args[1]!r} of a tensor; write widths as numbers"
                    )
                self.unsupported()
        else:
            name = node.target
        if name in _RESHAPES:
            self.unsupported(
                "ebm's tensors stay [B, features]; reshapes, shapes and new dims are not supported"
            )
        kinds = _kinds_of(name)
        if name in ("sum", "mean", "logsumexp", "squeeze"):
            return self.head(name, args, kwargs)
        if name == "contiguous" and node.op == "call_method":
            return self.bind(args, kwargs, [("input", _REQUIRED)], skip_extra=True)["input"]
        if not kinds:
            self.unsupported()
        if "linear" in kinds:
            a = self.bind(
                args, kwargs, [("input", _REQUIRED), ("weight", _REQUIRED), ("bias", None)]
            )
            for key in ("weight", "bias"):
                if a[key] is not None and not isinstance(a[key], _P):
                    self.fail(
                        f"its {key} must be a parameter of the module (read with get_attr), got {self.describe(a[key])}"
                    )
            w, b = a["weight"], a["bias"]
            return self.linear(
                a["input"], w.tensor, b.tensor if b else None, w.name, b.name if b else None
            )
        if "activation" in kinds:
            return self.activation(node, name, args, kwargs)
        if "layer_norm" in kinds:
            a = self.bind(
                args,
                kwargs,
                [
                    ("input", _REQUIRED),
                    ("normalized_shape", _REQUIRED),
                    ("weight", None),
                    ("bias", None),
                    ("eps", 1e-5),
                ],
            )
            return self.layer_norm(
                a["input"], a["normalized_shape"], a["eps"], a["weight"], a["bias"]
            )
        if "rms_norm" in kinds:
            a = self.bind(
                args,
                kwargs,
                [
                    ("input", _REQUIRED),
                    ("normalized_shape", _REQUIRED),
                    ("weight", None),
                    ("eps", None),
                ],
            )
            return self.rms_norm(a["input"], a["normalized_shape"], a["eps"], a["weight"])
        if "concat" in kinds:
            spec = [("tensors", _REQUIRED), ("axis" if name == "concatenate" else "dim", 0)]
            a = self.bind(args, kwargs, spec)
            self.feature_dim(a.get("dim", a.get("axis")), "torch.cat")
            pieces = []
            for i, t in enumerate(a["tensors"]):
                pieces.extend(self.as_tensor(t, f"tensor {i}").pieces)
            return _T(tuple(pieces))
        if "slice" in kinds:
            return self.slicing(name, args, kwargs)
        if {"affine", "add", "sub", "mul"} & set(kinds):
            return self.arithmetic(node, name, args, kwargs)
        self.unsupported("this importer has no reader for it, though ebm's op table lists it")

    def bind(self, args, kwargs, spec, skip_extra: bool = False) -> dict:
        """Positional and keyword arguments matched to `spec` [(name, default)]."""
        out = {}
        if len(args) > len(spec) and not skip_extra:
            self.fail(f"takes at most {len(spec)} arguments here, got {len(args)}")
        for (key, _), a in zip(spec, args):
            out[key] = a
        for key, a in kwargs.items():
            if key not in {k for k, _ in spec}:
                if key == "inplace" and not a:
                    continue
                self.fail(f"argument {key}={a!r} is not supported")
            if key in out:
                self.fail(f"argument {key} given twice")
            out[key] = a
        for key, default in spec:
            if key not in out:
                if default is _REQUIRED:
                    self.fail(f"argument {key} is missing")
                out[key] = default
        return out

    def feature_dim(self, dim, what: str):
        if isinstance(dim, (list, tuple)) and len(dim) == 1:
            dim = dim[0]
        if isinstance(dim, bool) or dim not in (-1, 1):
            self.fail(
                f"{what} along dim {dim!r}: ebm's tensors are [B, features], so only the "
                "last dim (-1 or 1) is supported"
            )

    def check_inplace(self, node):
        """An in-place op whose input is read after it would change what that read sees."""
        first = node.args[0] if node.args else None
        if isinstance(first, torch.fx.Node):
            later = [u for u in first.users if self.order[u] > self.order[node]]
            if later or first.op == "placeholder":
                self.fail(
                    f"it works in place on {first.name}, which "
                    + (
                        "is an input of forward"
                        if first.op == "placeholder"
                        else f"is read again later (by {later[0].name})"
                    )
                    + "; write it out of place"
                )

    def linear(self, v, weight, bias, wname, bname):
        v = self.as_tensor(v)
        if v.width == 0:
            self.fail(
                "its input has width 0 (an empty slice, or x of an unconditional model, x_dim 0, "
                "which must not be read)"
            )
        if not isinstance(weight, torch.Tensor) or weight.dim() != 2:
            self.fail(f"its weight {wname} must be a matrix [out, in]")
        n_out, n_in = weight.shape
        if n_in != v.width:
            self.fail(f"its weight {wname} takes {n_in} inputs, but its input is {v.width} wide")
        w = self.param(wname, weight, (n_out, n_in))
        b = self.param(bname, bias, (n_out,)) if bias is not None else None
        name = self.add(self.node.name, "linear", [n for n, _ in v.pieces], n_out, weight=w, bias=b)
        return _T(((name, n_out),))

    def activation(self, node, name, args, kwargs):
        spec = {
            "relu": [("inplace", False)],
            "leaky_relu": [("negative_slope", 0.01), ("inplace", False)],
            "tanh": [],
            "sigmoid": [],
            "silu": [("inplace", False)],
            "gelu": [("approximate", "none")],
            "softplus": [("beta", 1.0), ("threshold", 20.0)],
            "sin": [],
            "cos": [],
        }
        if name not in spec:
            self.unsupported("this importer has no reader for it, though ebm's op table lists it")
        a = self.bind(args, kwargs, [("input", _REQUIRED)] + spec[name])
        act = name
        if name == "leaky_relu" and a["negative_slope"] != 0.01:
            self.fail(
                f"negative_slope={a['negative_slope']} is not supported: ebm's leaky_relu has "
                "slope 0.01 (PyTorch's default)"
            )
        if name == "gelu":
            if a["approximate"] not in ("none", "tanh"):
                self.fail(f"approximate={a['approximate']!r} is not supported")
            act = "gelu_tanh" if a["approximate"] == "tanh" else "gelu"
        if name == "softplus" and (a["beta"] != 1 or a["threshold"] != 20):
            self.fail(
                f"softplus(beta={a['beta']}, threshold={a['threshold']}) is not supported: "
                "ebm's softplus has beta=1 and threshold=20 (PyTorch's defaults)"
            )
        if a.get("inplace"):
            self.check_inplace(node)
        return self.elementwise(a["input"], node.name, "activation", activation=act)

    def layer_norm(self, v, shape, eps, weight, bias):
        v = self.as_tensor(v)
        w = v.width
        if isinstance(shape, int):
            shape = (shape,)
        if tuple(shape) != (w,):
            self.fail(
                f"normalized_shape {tuple(shape)}: only the features ({w},) can be normalised"
            )
        for p, role in ((weight, "weight"), (bias, "bias")):
            if p is not None and not isinstance(p, _P):
                self.fail(f"its {role} must be a parameter of the module, got {self.describe(p)}")
        fields = {
            "eps": float(eps),
            "weight": self.param(weight.name, weight.tensor, (w,)) if weight is not None else None,
            "bias": self.param(bias.name, bias.tensor, (w,)) if bias is not None else None,
        }
        return self.elementwise(v, self.node.name, "layer_norm", **fields)

    def rms_norm(self, v, shape, eps, weight):
        v = self.as_tensor(v)
        w = v.width
        if isinstance(shape, int):
            shape = (shape,)
        if tuple(shape) != (w,):
            self.fail(
                f"normalized_shape {tuple(shape)}: only the features ({w},) can be normalised"
            )
        if weight is not None and not isinstance(weight, _P):
            self.fail(f"its weight must be a parameter of the module, got {self.describe(weight)}")
        if eps is None:
            eps = torch.finfo(torch.float32).eps
        fields = {
            "eps": float(eps),
            "weight": self.param(weight.name, weight.tensor, (w,)) if weight is not None else None,
        }
        return self.elementwise(v, self.node.name, "rms_norm", **fields)

    def slicing(self, name, args, kwargs):
        if name == "getitem":
            v, index = args[0], args[1]
            if isinstance(v, _Tuple):
                if isinstance(index, int) and -len(v.items) <= index < len(v.items):
                    return v.items[index]
                self.fail(f"index {index!r} into {len(v.items)} results")
            return self.index(v, index)
        if name == "chunk":
            a = self.bind(args, kwargs, [("input", _REQUIRED), ("chunks", _REQUIRED), ("dim", 0)])
            self.feature_dim(a["dim"], ".chunk")
            v = self.as_tensor(a["input"])
            k = a["chunks"]
            if not isinstance(k, int) or k < 1:
                self.fail(f"chunks={k!r}")
            size = -(-v.width // k)
            return _Tuple(
                tuple(self.slice(v, s, min(size, v.width - s)) for s in range(0, v.width, size))
            )
        if name == "split":
            a = self.bind(
                args,
                kwargs,
                [("input", _REQUIRED), ("split_size_or_sections", _REQUIRED), ("dim", 0)],
            )
            self.feature_dim(a["dim"], "split")
            v = self.as_tensor(a["input"])
            sizes = a["split_size_or_sections"]
            if isinstance(sizes, int):
                if sizes < 1:
                    self.fail(f"split size {sizes}")
                sizes = [min(sizes, v.width - s) for s in range(0, v.width, sizes)]
            sizes = list(sizes)
            if not all(isinstance(s, int) for s in sizes) or sum(sizes) != v.width:
                self.fail(f"sections {sizes} do not add up to the {v.width} features")
            out, s = [], 0
            for n in sizes:
                out.append(self.slice(v, s, n) if n else _T(()))
                s += n
            return _Tuple(tuple(out))
        if name == "narrow":
            a = self.bind(
                args,
                kwargs,
                [
                    ("input", _REQUIRED),
                    ("dim", _REQUIRED),
                    ("start", _REQUIRED),
                    ("length", _REQUIRED),
                ],
            )
            self.feature_dim(a["dim"], ".narrow")
            v = self.as_tensor(a["input"])
            start, length = a["start"], a["length"]
            if not isinstance(start, int) or not isinstance(length, int):
                self.fail("start and length must be numbers")
            if start < 0:
                start += v.width
            return self.slice(v, start, length)
        self.unsupported("this importer has no reader for it, though ebm's op table lists it")

    def index(self, v, index):
        """`v[index]` for a tensor [B, w] or an energy: only the features' dim is indexed."""
        parts = index if isinstance(index, tuple) else (index,)
        if parts and parts[0] is Ellipsis:
            parts = (slice(None),) + parts[1:]
        if not parts or parts[0] != slice(None, None, None):
            self.fail(
                f"indexes the batch dim ({index!r}); only t[:, a:b] or t[..., a:b] is supported"
            )
        feature = parts[1:] if len(parts) > 1 else (slice(None),)
        if len(feature) != 1:
            self.fail(f"index {index!r}: ebm's tensors are [B, features]")
        f = feature[0]
        if isinstance(v, _E):
            if f == slice(None, None, None):
                return v
            if v.keep and isinstance(f, int) and f in (0, -1):
                return _E(v.terms, keep=False)
            self.fail(f"index {index!r} of {self.describe(v)}")
        v = self.as_tensor(v)
        if isinstance(f, bool) or not isinstance(f, (int, slice)):
            self.fail(f"index {f!r} of the features: only numbers and slices a:b")
        if isinstance(f, int):
            k = f + v.width if f < 0 else f
            if not 0 <= k < v.width:
                self.fail(f"feature {f} of a tensor {v.width} wide")
            t = self.tensor(self.slice(v, k, 1))
            return _E((("sum", t, 1, 1.0),))
        for part in (f.start, f.stop, f.step):
            if part is not None and (isinstance(part, bool) or not isinstance(part, int)):
                self.fail(f"slice {f!r}: its bounds must be numbers")
        if f.step not in (None, 1):
            self.fail(f"slice {f!r}: only step 1 is supported")
        r = range(*f.indices(v.width))
        if len(r) == 0:
            return _T(())  # empty: torch.cat drops it, anything else refuses it
        return self.slice(v, r.start, len(r))

    def head(self, name, args, kwargs):
        if name == "squeeze":
            a = self.bind(args, kwargs, [("input", _REQUIRED), ("dim", None)])
            if a["dim"] is None:
                self.fail(
                    "squeeze() without a dim would also squeeze a batch of 1: use .squeeze(-1)"
                )
            self.feature_dim(a["dim"], "squeeze")
            v = a["input"]
            if isinstance(v, _E):
                if v.keep:
                    return _E(v.terms, keep=False)
                self.fail("squeeze of an energy [B]")
            v = self.as_tensor(v)
            if v.width != 1:
                return v  # PyTorch leaves a dim that is not 1 as it is
            return _E((("sum", self.tensor(v), 1, 1.0),))
        spec = [
            ("input", _REQUIRED),
            ("dim", _REQUIRED if name == "logsumexp" else None),
            ("keepdim", False),
        ]
        if name != "logsumexp":
            spec.append(("dtype", None))
        a = self.bind(args, kwargs, spec)
        if a["dim"] is None:
            self.fail(
                f"{name} without a dim also reduces over the batch: reduce the features with "
                f".{name}(-1) to get the energy [B]"
            )
        self.feature_dim(a["dim"], name)
        if a.get("dtype") is not None:
            self.fail(f"dtype={a['dtype']} is not supported")
        if isinstance(a["input"], _E):
            if a["input"].keep:
                return _E(a["input"].terms, keep=bool(a["keepdim"]))  # over one feature
            self.fail(f"{name} of an energy [B] would reduce over the batch")
        v = self.as_tensor(a["input"])
        t = self.tensor(v)
        head = name
        if name in ("sum", "mean") and t in self.square_of:
            t, head = self.square_of[t], f"{name}_squares"
        return _E(((head, t, self.widths[t], 1.0),), keep=bool(a["keepdim"]))

    def arithmetic(self, node, name, args, kwargs):
        op = {
            "add": "add",
            "iadd": "add",
            "radd": "add",
            "sub": "sub",
            "isub": "sub",
            "rsub": "sub",
            "mul": "mul",
            "imul": "mul",
            "rmul": "mul",
            "truediv": "div",
            "div": "div",
            "neg": "neg",
            "pow": "pow",
            "square": "square",
        }.get(name)
        if op is None:
            self.unsupported("this importer has no reader for it, though ebm's op table lists it")
        if name in ("iadd", "isub", "imul"):
            self.check_inplace(node)
        if op == "neg":
            a = self.bind(args, kwargs, [("input", _REQUIRED)])
            return self.affine(a["input"], -1.0, 0.0)
        if op == "square":
            a = self.bind(args, kwargs, [("input", _REQUIRED)])
            return self.product(a["input"], a["input"])
        if op == "pow":
            a = self.bind(args, kwargs, [("input", _REQUIRED), ("exponent", _REQUIRED)])
            e = a["exponent"]
            if not _is_number(e) or e != 2:
                self.fail(f"exponent {e!r}: only pow(2) (a square) is supported")
            return self.product(a["input"], a["input"])
        spec = [("input", _REQUIRED), ("other", _REQUIRED)]
        if op in ("add", "sub"):
            spec.append(("alpha", 1))
        if name == "div":
            spec.append(("rounding_mode", None))
        a = self.bind(args, kwargs, spec)
        if a.get("rounding_mode") is not None:
            self.fail(f"rounding_mode={a['rounding_mode']!r} is not supported")
        lhs, rhs = a["input"], a["other"]
        if a.get("alpha", 1) != 1:
            self.fail(f"alpha={a['alpha']} is not supported: write a + c * b")
        if name == "rsub":  # torch.rsub(a, b) is b - a
            lhs, rhs = rhs, lhs
        for v in (lhs, rhs):
            if not _is_number(v) and not isinstance(v, (_T, _E)):
                self.fail(
                    f"{op} with {self.describe(v)}: only tensors, energies and Python numbers are supported"
                )
        if _is_number(lhs) and _is_number(rhs):
            self.fail("arithmetic on two numbers")
        if op == "div":
            if not _is_number(rhs):
                self.fail(
                    f"divides by {self.describe(rhs)}: only division by a number is supported"
                )
            if rhs == 0:
                self.fail("divides by 0")
            return self.affine(lhs, 1.0 / rhs, 0.0)
        if op == "mul":
            if _is_number(rhs):
                return self.affine(lhs, float(rhs), 0.0)
            if _is_number(lhs):
                return self.affine(rhs, float(lhs), 0.0)
            return self.product(lhs, rhs)
        sign = 1.0 if op == "add" else -1.0
        if _is_number(rhs):  # t + c, t - c
            return self.affine(lhs, 1.0, sign * float(rhs))
        if _is_number(lhs):  # c + t, c - t
            return self.affine(rhs, sign, float(lhs))
        if isinstance(lhs, _E) or isinstance(rhs, _E):
            if not (isinstance(lhs, _E) and isinstance(rhs, _E)):
                self.fail(
                    f"{op} of {self.describe(lhs)} and {self.describe(rhs)}: broadcasting is not "
                    "supported (reduce the tensor to an energy first)"
                )
            if lhs.keep != rhs.keep:
                self.fail(f"{op} of an energy [B] and an energy [B, 1] would broadcast to [B, B]")
            terms = rhs.terms if sign > 0 else tuple((h, t, w, -s) for h, t, w, s in rhs.terms)
            return _E(lhs.terms + terms, lhs.keep)
        return self.binary(op, lhs, rhs)

    def affine(self, v, scale: float, shift: float):
        """scale * v + shift: an affine node, or, for an energy, its terms' scales."""
        if scale == 1.0 and shift == 0.0:
            return v
        if isinstance(v, _E):
            if shift == 0.0:
                return _E(tuple((h, t, w, s * scale) for h, t, w, s in v.terms), v.keep)
            if v.single() is None:
                self.fail(
                    f"adds the constant {shift} to an energy of several terms, which ebm's "
                    "energies cannot hold (a constant does not change dE/dy: leave it out)"
                )
        return self.elementwise(v, self.node.name, "affine", scale=float(scale), shift=float(shift))

    def product(self, lhs, rhs):
        if isinstance(lhs, _E) and isinstance(rhs, _E) and lhs.keep == rhs.keep:
            a, b = self.energy_tensor(lhs), self.energy_tensor(rhs)
            if a is not None and b is not None:
                t = self.binary("mul", _T(((a, 1),)), _T(((b, 1),)))
                return _E((("sum", t.pieces[0][0], 1, 1.0),), lhs.keep)
        return self.binary("mul", lhs, rhs)

    def binary(self, op: str, lhs, rhs) -> _T:
        for v in (lhs, rhs):
            if isinstance(v, _P):
                self.fail(
                    f"{op} with {self.describe(v)}: only module inputs and activations are supported"
                )
        a, b = self.tensor(lhs, "first input"), self.tensor(rhs, "second input")
        wa, wb = self.widths[a], self.widths[b]
        if wa != wb:
            self.fail(
                f"{op} of tensors {wa} and {wb} wide: broadcasting is not supported, both must be one width"
            )
        name = self.add(self.node.name, op, [a, b], wa)
        if op == "mul" and a == b:
            self.square_of[name] = a
        return _T(((name, wa),))


_RESHAPES = {
    "view",
    "reshape",
    "unsqueeze",
    "flatten",
    "unflatten",
    "permute",
    "transpose",
    "t",
    "expand",
    "repeat",
    "size",
    "stack",
    "unbind",
    "squeeze_",
    "unsqueeze_",
}


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class _Tracer(torch.fx.Tracer):
    """fx's tracer, keeping every frame of a node's stack trace (fx keeps those below a
    function named `forward`); `_where` picks the user's line from them."""

    def _filter_traceback_frames(self, user_stack_summary):
        return user_stack_summary


def _trace(module: nn.Module, x_dim: int, y_dim: int) -> Imported:
    name = type(module).__name__
    sig = inspect.signature(module.forward)
    positional = [
        p
        for p in sig.parameters.values()
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    # forward(x, y, t): a third input without a default is the landscape index t, [B, 1].
    landscape = len(positional) > 2 and positional[2].default is inspect.Parameter.empty
    concrete = {}
    for p in positional[3 if landscape else 2 :]:
        if p.default is inspect.Parameter.empty:
            raise ValueError(
                f"{name}.forward takes a fourth input {p.name!r} without a default; ebm calls "
                "forward(x, y) or forward(x, y, t)"
            )
        concrete[p.name] = p.default
    tracer = _Tracer()
    tracer.record_stack_traces = True
    try:
        graph = tracer.trace(module, concrete_args=concrete or None)
    except Exception as e:  # noqa: BLE001 - any failure to trace is reported the same way
        raise ValueError(
            f"cannot trace {name}.forward with torch.fx.symbolic_trace ({type(e).__name__}: {e}); "
            "ebm imports a forward(x, y) that torch.fx can trace: no control flow on tensor "
            "values, no reads of shapes"
        ) from e
    return _Import(module, graph, x_dim, y_dim).run()


# --------------------------------------------------------------------------------------
# The graph in float64, to check an import against the module
# --------------------------------------------------------------------------------------

_ACT = {
    "relu": F.relu,
    "leaky_relu": F.leaky_relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "silu": F.silu,
    "gelu": F.gelu,
    "gelu_tanh": lambda t: F.gelu(t, approximate="tanh"),
    "softplus": F.softplus,
    "sin": torch.sin,
    "cos": torch.cos,
}


def evaluate(
    graph: dict, params: dict, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor | None = None
) -> torch.Tensor:
    """E(x, y, t) [B] of an ebm graph (``Model.graph``, ``Model.params``) in PyTorch, in the
    inputs' dtype: ebm's definition of each op and head, written out. ``t`` is the landscape
    index, [B, 1] (zeros when None)."""
    p = {
        k: torch.as_tensor(np.asarray(v)).to(dtype=y.dtype, device=y.device)
        for k, v in params.items()
    }
    if t is None:
        t = torch.zeros(y.shape[0], 1, dtype=y.dtype, device=y.device)
    env = {"x": x, "y": y, "t": t}
    for node in graph["nodes"]:
        ins = [env[i] for i in node["inputs"]]
        op = node["op"]
        if op == "linear":
            t = torch.cat(ins, -1) if len(ins) > 1 else ins[0]
            out = t @ p[node["weight"]].T
            if node.get("bias") is not None:
                out = out + p[node["bias"]]
        elif op == "activation":
            out = _ACT[node["activation"]](ins[0])
        elif op == "affine":
            out = node["scale"] * ins[0] + node["shift"]
        elif op == "add":
            out = ins[0] + ins[1]
        elif op == "sub":
            out = ins[0] - ins[1]
        elif op == "mul":
            out = ins[0] * ins[1]
        elif op == "layer_norm":
            t = ins[0]
            w = p[node["weight"]] if node.get("weight") is not None else None
            b = p[node["bias"]] if node.get("bias") is not None else None
            out = F.layer_norm(t, (t.shape[-1],), w, b, node["eps"])
        elif op == "rms_norm":
            t = ins[0]
            out = t * torch.rsqrt((t * t).mean(-1, keepdim=True) + node["eps"])
            if node.get("weight") is not None:
                out = out * p[node["weight"]]
        elif op == "concat":
            out = torch.cat(ins, -1)
        elif op == "slice":
            out = ins[0][:, node["start"] : node["start"] + node["len"]]
        else:
            raise ValueError(f"unknown op {op!r}")
        env[node["name"]] = out
    total = torch.zeros(y.shape[0], dtype=y.dtype, device=y.device)
    for term in graph["energy"]:
        t = env[term["input"]]
        head = term["head"]
        if head == "sum":
            e = t.sum(-1)
        elif head == "mean":
            e = t.mean(-1)
        elif head == "sum_squares":
            e = (t * t).sum(-1)
        elif head == "mean_squares":
            e = (t * t).mean(-1)
        elif head == "logsumexp":
            e = torch.logsumexp(t, -1)
        else:
            raise ValueError(f"unknown head {head!r}")
        total = total + term.get("scale", 1.0) * e
    return total


def _verify(imported: Imported, run, module: nn.Module, rows: int = 5) -> None:
    """The graph must give the module's energies on a few random rows (float64 here, the
    module in its own dtype and device)."""
    first = next(iter(module.parameters()), None)
    dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
    device = first.device if first is not None else torch.device("cpu")
    gen = torch.Generator().manual_seed(1234)
    x = torch.randn(rows, imported.x_dim, generator=gen, dtype=torch.float64)
    y = torch.randn(rows, imported.y_dim, generator=gen, dtype=torch.float64)
    t = 3 * torch.randn(rows, 1, generator=gen, dtype=torch.float64)
    name = type(module).__name__
    try:
        with torch.no_grad():
            want = run(x.to(device, dtype), y.to(device, dtype), t.to(device, dtype))
    except Exception as e:  # noqa: BLE001
        raise ValueError(f"{name}(x, y) failed on random inputs of the given widths: {e}") from e
    if not isinstance(want, torch.Tensor) or tuple(want.shape) != (rows,):
        shape = tuple(want.shape) if isinstance(want, torch.Tensor) else type(want).__name__
        raise ValueError(f"{name}(x, y) returned {shape} for {rows} rows; the energy must be [B]")
    want = want.detach().to("cpu", torch.float64)
    got = evaluate(imported.graph, imported.params, x, y, t if imported.landscape else None)
    err = float(torch.linalg.norm(got - want))
    scale = float(torch.linalg.norm(want))
    tol = {torch.float64: 1e-9, torch.float32: 1e-4}.get(dtype, 2e-2)
    if not math.isfinite(err) or err > tol * scale + tol:
        raise ValueError(
            f"the graph read from {name} does not give its energies (relative error "
            f"{err / max(scale, 1e-30):.3g} on random inputs): it uses something the tracer "
            "could not see (a Python-side branch, a mutated tensor, ...); please report it"
        )
