"""One batch over several engines: GPUs, or machines of a Ray cluster.

Each shard is a range of the batch's chains refined with ``chain_offset`` set to its first
chain, so it draws the noise it would draw in one whole run: gathered, the shards' results
are bit-identical to one engine refining the whole batch on the same kind of adapter.

``split`` cuts a batch into ranges (whole groups: rows of x with ``best_of``, groups of
replicas with ``replicas``); ``gather`` concatenates the shards' results; ``refine_on_ray``
does both over Ray actors, one engine per actor (``num_gpus=1`` each where the cluster has
GPUs). On a multi-machine cluster, start Ray on every machine (``ray start --head`` on one,
``ray start --address=HEAD:6379`` on the others, each with ebm-wgpu installed), then call
``ray.init(address="auto")`` before ``refine_on_ray``: Ray places one actor per GPU across
the machines, the model travels to each actor pickled, and only each shard's arrays cross
the network.
"""

from __future__ import annotations

import numpy as np

from ._native import BestOf, Engine, Model, Refinement

__all__ = ["split", "gather", "refine_on_ray", "ShardResult"]


def split(chains: int, shards: int, group: int = 1) -> list[tuple[int, int]]:
    """``shards`` ranges ``(start, end)`` of ``chains`` chains, as equal as whole groups of
    ``group`` chains allow (no empty range; fewer ranges when there are fewer groups)."""
    if chains <= 0 or shards <= 0 or group <= 0:
        raise ValueError(
            f"split: chains ({chains}), shards ({shards}) and group ({group}) must be above 0"
        )
    if chains % group != 0:
        raise ValueError(f"split: {chains} chains are not whole groups of {group}")
    groups = chains // group
    shards = min(shards, groups)
    cuts = [group * (groups * k // shards) for k in range(shards + 1)]
    return [(cuts[k], cuts[k + 1]) for k in range(shards)]


class ShardResult:
    """The gathered results of a sharded refinement: the fields of a ``Refinement``
    (NumPy arrays, concatenated in chain order; ``swap_acceptance`` recomputed from the
    summed swap counts; ``gpu_seconds`` summed over the shards; ``trace`` the list of the
    shards' traces), or of a ``BestOf`` with ``all`` gathered too."""

    def __init__(self, fields: dict):
        self.__dict__.update(fields)

    def __repr__(self):
        n = len(self.energy)
        return f"ShardResult({n} rows from {self.shards} shards)"


_PER_CHAIN = (
    "y",
    "energy",
    "steps_taken",
    "accepted",
    "acceptance",
    "step_scale",
    "acceptance_warmup",
    "acceptance_after_warmup",
    "non_finite_at",
    "decoded_y",
    "decoded_energy",
    "round_trips",
    "swaps_proposed",
    "swaps_accepted",
)


def _fields(r) -> dict:
    if isinstance(r, (Refinement, BestOf)):
        names = ("y", "energy", "best", "spread", "all") if isinstance(r, BestOf) else _PER_CHAIN + (
            "swap_acceptance",
            "cancelled",
            "path",
            "gpu_seconds",
            "trace",
        )
        return {name: getattr(r, name) for name in names}
    if isinstance(r, ShardResult):
        return dict(r.__dict__)
    if isinstance(r, dict):
        return r
    raise TypeError(f"gather: {type(r).__name__} is not a Refinement, BestOf or ShardResult")


def gather(results) -> ShardResult:
    """The results of consecutive shards as one: arrays concatenated in order. Traces
    (reduced over each shard's chains) are not gathered: ``trace`` is the list of the shards'."""
    parts = [_fields(r) for r in results]
    if not parts:
        raise ValueError("gather: no results")
    if "best" in parts[0]:
        out = {k: np.concatenate([p[k] for p in parts]) for k in ("y", "energy", "best", "spread")}
        out["all"] = gather([p["all"] for p in parts])
        out["shards"] = len(parts)
        return ShardResult(out)
    out = {}
    for k in _PER_CHAIN:
        values = [p.get(k) for p in parts]
        out[k] = None if values[0] is None else np.concatenate(values)
    if out["swaps_proposed"] is not None:
        proposed = out["swaps_proposed"].astype(np.int64).sum(axis=0)
        accepted = out["swaps_accepted"].astype(np.int64).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = accepted.astype(np.float32) / proposed.astype(np.float32)
        out["swap_acceptance"] = np.where(proposed == 0, np.float32(np.nan), share).astype(np.float32)
    else:
        out["swap_acceptance"] = None
    out["cancelled"] = any(p["cancelled"] for p in parts)
    out["path"] = ",".join(sorted({p["path"] for p in parts}))
    seconds = [p.get("gpu_seconds") for p in parts]
    out["gpu_seconds"] = None if any(s is None for s in seconds) else sum(seconds)
    out["trace"] = [p.get("trace") for p in parts]
    out["shards"] = len(parts)
    return ShardResult(out)


class _ShardWorker:
    """A Ray actor's state: one engine, made once, refining shards."""

    def __init__(self, model: Model, kernel: str, adapter, backend):
        from ._native import Context

        self.engine = Engine(model, Context(adapter, backend), kernel=kernel)
        self.adapter = self.engine.__repr__()

    def refine(self, x, y0, options: dict) -> dict:
        r = self.engine.refine(x, y0, **options)
        fields = _fields(r)
        if "all" in fields:
            fields["all"] = _fields(fields["all"])
        return fields

    def describe(self) -> str:
        return self.adapter


def refine_on_ray(
    model: Model,
    x,
    y0,
    *,
    shards: int,
    kernel: str = "auto",
    adapter: str | None = None,
    backend: str | None = None,
    num_gpus: float | None = None,
    fixed=None,
    **options,
) -> ShardResult:
    """Refines the batch ``(x, y0)`` over ``shards`` Ray actors, one engine each, and
    gathers the results: bit-identical to ``Engine(model).refine(x, y0, **options)`` on the
    same kind of adapter. ``options`` are ``Engine.refine``'s (not ``chain_offset`` or
    ``progress``). ``num_gpus`` per actor defaults to 1 where Ray sees GPUs, else 0 (plain
    actors, e.g. lavapipe on a CPU machine). Ray must be installed (``pip install
    ebm-wgpu[ray]``); ``ray.init`` is called if it was not."""
    import ray

    for name in ("chain_offset", "progress"):
        if name in options:
            raise ValueError(f"refine_on_ray: {name} is set per shard; leave it out")
    x_dim, y_dim = model.x_dim, model.y_dim
    y0 = np.asarray(y0)
    if y0.ndim != 2 or y0.shape[1] != y_dim:
        raise ValueError(f"y0: shape {tuple(y0.shape)}; the model's y_dim is {y_dim}, so y0 must be [B, {y_dim}]")
    per_x = options.get("best_of") or 1
    replicas = options.get("replicas") or 1
    group = per_x * replicas // np.gcd(per_x, replicas)
    ranges = split(len(y0), shards, group)
    if not ray.is_initialized():
        ray.init()
    if num_gpus is None:
        num_gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
    worker = ray.remote(num_gpus=num_gpus)(_ShardWorker)
    actors = [worker.remote(model, kernel, adapter, backend) for _ in ranges]
    calls = []
    for actor, (start, end) in zip(actors, ranges):
        xs = None
        if x_dim > 0:
            x = np.asarray(x)
            xs = x[start // per_x : end // per_x]
        shard_options = dict(options, chain_offset=start)
        if fixed is not None:
            shard_options["fixed"] = np.asarray(fixed)[start:end]
        calls.append(actor.refine.remote(xs, y0[start:end], shard_options))
    results = ray.get(calls)
    for actor in actors:
        ray.kill(actor)
    return gather(results)
