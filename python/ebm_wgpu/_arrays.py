"""Arrays as users hold them, made into what the engine reads.

NumPy arrays of any layout, CPU PyTorch tensors (through DLPack, without a copy where they
are already float32 and contiguous), and anything with ``__dlpack__`` or the buffer protocol
are accepted. float32 is used as is; float64 and float16 (and PyTorch's bfloat16) are
converted to float32, which copies. Anything else raises ``TypeError``; a wrong rank or
shape raises ``ValueError`` naming the argument.
"""

from __future__ import annotations

import numpy as np

_CONVERTED = (np.float64, np.float16)


def _numpy(name: str, obj):
    """``obj`` as a NumPy array (a view where possible)."""
    if isinstance(obj, np.ndarray):
        return obj
    module = type(obj).__module__ or ""
    if module.startswith("torch"):
        device = getattr(obj, "device", None)
        if device is not None and device.type != "cpu":
            raise TypeError(
                f"{name}: a torch tensor on {device}; ebm reads host memory, so pass "
                f"{name}.cpu() (the GPU work itself runs on ebm's adapter)"
            )
        obj = obj.detach()
        if str(obj.dtype) == "torch.bfloat16":
            obj = obj.float()
        try:
            return np.from_dlpack(obj)
        except (TypeError, RuntimeError, BufferError):
            return obj.numpy()
    if hasattr(obj, "__dlpack__"):
        return np.from_dlpack(obj)
    try:
        return np.asarray(memoryview(obj))
    except TypeError:
        pass
    if isinstance(obj, (list, tuple)):
        return np.asarray(obj)
    raise TypeError(
        f"{name}: {type(obj).__name__} is not an array; pass a NumPy array, a CPU torch "
        "tensor, or anything with __dlpack__ or the buffer protocol"
    )


def as_float32(name: str, obj, ndim: int | None) -> np.ndarray:
    """``obj`` as a C-contiguous float32 array of rank ``ndim`` (any rank where None)."""
    a = _numpy(name, obj)
    if a.dtype != np.float32:
        if a.dtype.type in _CONVERTED:
            a = a.astype(np.float32)
        else:
            raise TypeError(
                f"{name}: dtype {a.dtype} is not a float; ebm takes float32 (float64 and "
                "float16 are converted, with a copy)"
            )
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name}: rank {a.ndim} (shape {tuple(a.shape)}); expected rank {ndim}")
    return np.ascontiguousarray(a)


def as_rows(name: str, obj, width: int, what: str) -> np.ndarray:
    """``obj`` as float32 rows ``[B, width]``, C-contiguous; ``what`` names the width."""
    a = _numpy(name, obj)
    if a.ndim != 2:
        raise ValueError(
            f"{name}: shape {tuple(a.shape)}; {what} is {width}, so {name} must be [B, {width}]"
        )
    if a.shape[1] != width:
        raise ValueError(
            f"{name}: shape {tuple(a.shape)}; {what} is {width}, so {name} must be [B, {width}]"
        )
    return as_float32(name, a, 2)


def as_mask(name: str, obj, rows: int, width: int) -> np.ndarray:
    """``obj`` as a boolean mask ``[rows, width]``: booleans, or numbers that are all 0 or 1."""
    a = _numpy(name, obj)
    if tuple(a.shape) != (rows, width):
        raise ValueError(f"{name}: shape {tuple(a.shape)}; expected [{rows}, {width}], like y0")
    if a.dtype != np.bool_:
        if a.dtype.kind not in "biuf" or not np.isin(a, (0, 1)).all():
            raise TypeError(
                f"{name}: dtype {a.dtype} with values other than 0 and 1; a mask is boolean "
                "(True: the coordinate stays at its start)"
            )
        a = a != 0
    return np.ascontiguousarray(a)
