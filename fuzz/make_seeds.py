"""Writes the fuzz targets' seed corpora, fuzz/seeds/<target>/: small real files.

model_file: the two format-1 MLPs of tests/fixtures, and format-2 files written by
ebm_wgpu (the Python package, built from this repository): an MLP, a graph with every op
and head, an energy of t, and a checkpoint-like file with F16/BF16/F64 tensors and a
train.* tensor. npy_batch: float32 arrays as numpy writes them (1-D, 2-D, big-endian,
format 2.0, one with a NaN, one float64).

Run from the repository root with the virtualenv that has ebm_wgpu, numpy and safetensors:
    .venv/bin/python fuzz/make_seeds.py
"""

import json
import shutil
from pathlib import Path

import numpy as np
import ebm_wgpu as ebm
from safetensors.numpy import save_file

root = Path(__file__).resolve().parent
models = root / "seeds" / "model_file"
arrays = root / "seeds" / "npy_batch"
models.mkdir(parents=True, exist_ok=True)
arrays.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(25)


def params(shapes):
    return {k: (rng.standard_normal(s) * 0.3).astype(np.float32) for k, s in shapes.items()}


for name in ["gelu_square", "tanh_uncond"]:
    shutil.copy(root.parent / "tests" / "fixtures" / f"{name}.safetensors", models / f"format1_{name}.safetensors")

ebm.Model.random(2, 3, [8], activation="silu", output="softplus", seed=1).save(models / "format2_mlp.safetensors")

# Every op and head (src/energy/samples.rs, all_ops, smaller).
every_op = {
    "params": ["emb.w", "emb.b", "h.w", "h.b", "ln.w", "ln.b", "rms.w", "out.w"],
    "nodes": [
        {"name": "emb", "op": "linear", "inputs": ["x"], "weight": "emb.w", "bias": "emb.b"},
        {"name": "gain", "op": "slice", "inputs": ["emb"], "start": 0, "len": 3},
        {"name": "h", "op": "linear", "inputs": ["x", "y"], "weight": "h.w", "bias": "h.b"},
        {"name": "n", "op": "layer_norm", "inputs": ["h"], "eps": 1e-5, "weight": "ln.w", "bias": "ln.b"},
        {"name": "a", "op": "activation", "inputs": ["n"], "activation": "silu"},
        {"name": "m", "op": "mul", "inputs": ["a", "gain"]},
        {"name": "s", "op": "sub", "inputs": ["m", "h"]},
        {"name": "r", "op": "rms_norm", "inputs": ["s"], "eps": 1e-6, "weight": "rms.w"},
        {"name": "c", "op": "concat", "inputs": ["r", "y"]},
        {"name": "q", "op": "affine", "inputs": ["c"], "scale": 0.5, "shift": 0.1},
        {"name": "t2", "op": "add", "inputs": ["q", "c"]},
        {"name": "l", "op": "linear", "inputs": ["t2"], "weight": "out.w", "bias": None},
    ],
    "energy": [
        {"head": "logsumexp", "input": "l", "scale": -1.0},
        {"head": "mean_squares", "input": "t2", "scale": 0.5},
        {"head": "mean", "input": "r", "scale": 0.25},
    ],
}
every_params = params({"emb.w": (6, 3), "emb.b": (6,), "h.w": (3, 7), "h.b": (3,), "ln.w": (3,),
                       "ln.b": (3,), "rms.w": (3,), "out.w": (5, 7)})
ebm.Model.from_graph(every_op, 3, 4, every_params).save(models / "format2_every_op.safetensors")

# An energy of t (the landscape index): FiLM by t, one block.
by_t = {
    "params": ["emb.w", "emb.b", "in.w", "gb.w", "z.w", "out.w", "out.b"],
    "nodes": [
        {"name": "emb", "op": "linear", "inputs": ["t"], "weight": "emb.w", "bias": "emb.b"},
        {"name": "e", "op": "activation", "inputs": ["emb"], "activation": "gelu"},
        {"name": "h", "op": "linear", "inputs": ["x", "y"], "weight": "in.w", "bias": None},
        {"name": "gb", "op": "linear", "inputs": ["e"], "weight": "gb.w", "bias": None},
        {"name": "gain", "op": "slice", "inputs": ["gb"], "start": 0, "len": 4},
        {"name": "shift", "op": "slice", "inputs": ["gb"], "start": 4, "len": 4},
        {"name": "one_plus", "op": "affine", "inputs": ["gain"], "scale": 1.0, "shift": 1.0},
        {"name": "z", "op": "linear", "inputs": ["h"], "weight": "z.w", "bias": None},
        {"name": "zg", "op": "mul", "inputs": ["z", "one_plus"]},
        {"name": "zs", "op": "add", "inputs": ["zg", "shift"]},
        {"name": "o", "op": "linear", "inputs": ["zs", "t"], "weight": "out.w", "bias": "out.b"},
    ],
    "energy": [{"head": "sum_squares", "input": "o", "scale": 1.0}],
}
by_t_params = params({"emb.w": (4, 1), "emb.b": (4,), "in.w": (4, 5), "gb.w": (8, 4), "z.w": (4, 4),
                      "out.w": (2, 5), "out.b": (2,)})
ebm.Model.from_graph(by_t, 3, 2, by_t_params).save(models / "format2_energy_of_t.safetensors")

# Other dtypes, and a training checkpoint's own tensor, written by the safetensors package.
mixed = {
    "params": ["w", "b"],
    "nodes": [
        {"name": "h", "op": "linear", "inputs": ["y", "x"], "weight": "w", "bias": "b"},
        {"name": "a", "op": "activation", "inputs": ["h"], "activation": "tanh"},
    ],
    "energy": [{"head": "sum", "input": "a", "scale": 1.0}],
}
save_file(
    {
        "w": (rng.standard_normal((3, 4)) * 0.3).astype(np.float16),
        "b": np.zeros(3, np.float64),
        "train.step": np.array([7.0], np.float32),
    },
    models / "format2_f16_f64_checkpoint.safetensors",
    metadata={"ebm.format": "2", "ebm.x_dim": "2", "ebm.y_dim": "2", "ebm.graph": json.dumps(mixed)},
)

np.save(arrays / "batch_2d.npy", rng.standard_normal((4, 3)).astype(np.float32))
np.save(arrays / "batch_1d.npy", rng.standard_normal(5).astype(np.float32))
np.save(arrays / "big_endian.npy", rng.standard_normal((2, 2)).astype(">f4"))
nan = rng.standard_normal((2, 3)).astype(np.float32)
nan[1, 2] = np.nan
np.save(arrays / "nan.npy", nan)
np.save(arrays / "float64.npy", rng.standard_normal((2, 2)))
with open(arrays / "version2.npy", "wb") as f:
    np.lib.format.write_array(f, rng.standard_normal((3, 2)).astype(np.float32), version=(2, 0))
