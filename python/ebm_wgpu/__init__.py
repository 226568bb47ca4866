"""ebm from Python: energy-based model inference and training on any Vulkan, Metal or DX12 GPU.

An energy E(x, y) is a graph of ops over x and y with named parameters (``Model``: loaded
from safetensors, drawn at random as an MLP, built with ``Model.from_graph``, or read from a
PyTorch module with ``Model.from_torch``, which traces its ``forward(x, y)`` with torch.fx;
``ebm_wgpu._ops()`` is the op table with the PyTorch spellings each op is read from). An ``Engine``
places it on a GPU (``Context``) and refines whole batches of answers y by gradient descent,
Langevin dynamics, MALA or keep-if-lower, every step on the GPU: ``Engine.refine`` takes
every option ``ebm refine`` has, as keyword arguments, and returns NumPy arrays.
``Trainer`` trains a model's weights on the GPU. ``ebm_wgpu.shard`` splits a batch over
several engines (Ray actors, one per GPU) with the same bits as one engine.

Arrays: float32 NumPy arrays or CPU torch tensors, any layout (float64 and float16 are
converted, with a copy). Bad input raises ValueError or TypeError naming the argument; a
failure on the GPU raises ``EbmError``.

    import numpy as np, ebm_wgpu as ebm
    model = ebm.Model.random(2, 2, [64, 64])
    engine = ebm.Engine(model)
    out = engine.refine(np.zeros((1000, 2), np.float32), np.random.randn(1000, 2).astype(np.float32),
                        steps=100, step_size=0.01, temperature=0.1, seed=7)
    out.y, out.energy
"""

from ._native import (
    BestOf,
    Context,
    EbmError,
    Engine,
    Evaluation,
    Model,
    Progress,
    Refinement,
    Stage,
    Trainer,
    __version__,
    _ops,
    adapters,
)

__all__ = [
    "BestOf",
    "Context",
    "EbmError",
    "Engine",
    "Evaluation",
    "Model",
    "Progress",
    "Refinement",
    "Stage",
    "Trainer",
    "__version__",
    "adapters",
]


def _rebuild_stage(steps, step_size, temperature, landscape, clamp, take_every_step):
    """A pickled Stage, rebuilt (see ``Stage.__reduce__``)."""
    return Stage(
        steps, step_size, temperature, landscape=landscape, clamp=clamp, take_every_step=take_every_step
    )


def _rebuild_graph(graph, x_dim, y_dim, params):
    """A pickled Model, rebuilt (see ``Model.__reduce__``): its graph JSON and parameters."""
    return Model.from_graph(graph, x_dim, y_dim, params)


def _rebuild_model(x_dim, y_dim, weights, biases, activation, output):
    """A Model pickled by ebm-wgpu 0.5 (an MLP's layers), rebuilt."""
    return Model.from_layers(
        x_dim, y_dim, weights, biases, activation=activation, output=output
    )
