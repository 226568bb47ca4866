"""Sharding (`ebm_wgpu.shard`): a batch split into ranges refined apart, each with
`chain_offset` at its first chain, gathers into one engine's bits; `refine_on_ray` does it
over Ray actors on a local cluster; `split` cuts whole groups with no empty range; models
pickle (that is how they reach the actors)."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import ebm_wgpu as ebm
from ebm_wgpu.shard import ShardResult, gather, refine_on_ray, split
from _helpers import assert_same, assert_same_best_of, assert_same_refinement, rand


# --- split ------------------------------------------------------------------------------


def test_split_examples():
    assert split(10, 3) == [(0, 3), (3, 6), (6, 10)]
    assert split(10, 1) == [(0, 10)]
    assert split(3, 8) == [(0, 1), (1, 2), (2, 3)]  # fewer ranges than asked, none empty
    assert split(12, 5, group=4) == [(0, 4), (4, 8), (8, 12)]
    assert split(24, 2, group=4) == [(0, 12), (12, 24)]
    assert split(20, 3, group=4) == [(0, 4), (4, 12), (12, 20)]


@pytest.mark.parametrize("group", [1, 2, 3, 4, 6])
def test_split_cuts_whole_groups_and_no_empty_range(group):
    for groups in range(1, 30):
        chains = groups * group
        for shards in range(1, 12):
            ranges = split(chains, shards, group)
            assert len(ranges) == min(shards, groups)
            assert ranges[0][0] == 0 and ranges[-1][1] == chains
            for (a, b), (c, _) in zip(ranges, ranges[1:]):
                assert b == c, "ranges are not consecutive"
            sizes = [b - a for a, b in ranges]
            assert all(s > 0 for s in sizes), f"an empty range in {ranges}"
            assert all(a % group == 0 and b % group == 0 for a, b in ranges), ranges
            assert max(sizes) - min(sizes) <= group, f"uneven: {ranges}"


def test_split_refuses_bad_arguments():
    with pytest.raises(ValueError, match="not whole groups of 4"):
        split(10, 3, group=4)
    for args in ((0, 2), (10, 0), (10, 2, 0), (-1, 2)):
        with pytest.raises(ValueError, match="must be above 0"):
            split(*args)


# --- gather of shards refined by hand ---------------------------------------------------


def refine_shards(engine, x, y0, ranges, per_x=1, fixed=None, **options):
    parts = []
    for start, end in ranges:
        xs = None if x is None else x[start // per_x : end // per_x]
        f = None if fixed is None else fixed[start:end]
        parts.append(engine.refine(xs, y0[start:end], chain_offset=start, fixed=f, **options))
    return parts


def test_gathered_shards_equal_the_whole_run(cond_engine):
    x, y0 = rand(1, 45, 2), rand(2, 45, 4)
    fixed = np.random.default_rng(3).random(y0.shape) < 0.2
    options = dict(steps=20, step_size=0.02, temperature=0.2, seed=11, mala=True, adapt_steps=6,
                   keep_non_finite=True, trace=True)
    whole = cond_engine.refine(x, y0, fixed=fixed, **options)
    parts = refine_shards(cond_engine, x, y0, split(45, 3), fixed=fixed, **options)
    out = gather(parts)
    assert isinstance(out, ShardResult) and out.shards == 3
    assert_same_refinement(out, whole)
    assert out.path == whole.path
    assert len(out.trace) == 3 and all(t is not None for t in out.trace)
    # Without the offsets the shards draw other noise.
    wrong = gather([cond_engine.refine(x[a:b], y0[a:b], fixed=fixed[a:b], **options) for a, b in split(45, 3)])
    assert not np.array_equal(wrong.y, whole.y)


def test_gathered_replica_shards_equal_the_whole_run(uncond_engine):
    y0 = rand(5, 40, 6)
    options = dict(steps=24, step_size=0.05, temperature=0.2, seed=13, replicas=4, ladder=(1.0, 6.0), swap_every=4)
    whole = uncond_engine.refine(None, y0, **options)
    parts = refine_shards(uncond_engine, None, y0, split(40, 3, group=4), **options)
    out = gather(parts)
    assert_same_refinement(out, whole)
    # The swap counts sum over the shards' groups to the whole run's acceptance.
    assert out.swaps_proposed.shape == (10, 3)
    assert_same(out.swap_acceptance, whole.swap_acceptance, "swap_acceptance")


def test_gathered_best_of_shards_equal_the_whole_run(cond_engine):
    x, y0 = rand(7, 9, 2), rand(8, 36, 4)
    options = dict(steps=20, step_size=0.02, temperature=0.1, seed=17, best_of=4)
    whole = cond_engine.refine(x, y0, **options)
    parts = refine_shards(cond_engine, x, y0, split(36, 2, group=4), per_x=4, **options)
    out = gather(parts)
    assert_same_best_of(out, whole)


def test_gather_refuses_what_it_cannot_gather():
    with pytest.raises(ValueError, match="no results"):
        gather([])
    with pytest.raises(TypeError, match="not a Refinement"):
        gather([42])


# --- pickling ---------------------------------------------------------------------------


def test_model_pickles(cond_model, uncond_model, cond_engine, context):
    for model in (cond_model, uncond_model):
        again = pickle.loads(pickle.dumps(model))
        assert again == model
        assert (again.x_dim, again.y_dim, again.activation, again.output) == (
            model.x_dim, model.y_dim, model.activation, model.output,
        )
        for a, b in zip(again.weights + again.biases, model.weights + model.biases):
            assert_same(a, b)
        assert copy.deepcopy(model) == model
    x, y0 = rand(1, 16, 2), rand(2, 16, 4)
    opts = dict(steps=10, step_size=0.02, temperature=0.1, seed=2)
    shipped = ebm.Engine(pickle.loads(pickle.dumps(cond_model)), context)
    assert_same_refinement(shipped.refine(x, y0, **opts), cond_engine.refine(x, y0, **opts))


def test_ebm_error_pickles():
    """An EbmError raised in a Ray actor (a GPU failure, non-finite chains) must travel back
    to the driver, which pickles it."""
    e = ebm.EbmError("a lost device")
    try:
        again = pickle.loads(pickle.dumps(e))
    except pickle.PicklingError as why:
        raise AssertionError(
            f"ebm_wgpu.EbmError cannot be pickled (its __module__ is {type(e).__module__!r}): {why}"
        ) from None
    assert type(again) is ebm.EbmError and str(again) == "a lost device"


# --- Ray --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_cluster():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_refine_on_ray_langevin_equals_one_engine(ray_cluster, cond_model, cond_engine):
    x, y0 = rand(21, 41, 2), rand(22, 41, 4)
    fixed = np.random.default_rng(4).random(y0.shape) < 0.25
    options = dict(steps=25, step_size=0.02, temperature=0.2, seed=23, prior_l2=0.05)
    out = refine_on_ray(cond_model, x, y0, shards=2, fixed=fixed, **options)
    whole = cond_engine.refine(x, y0, fixed=fixed, **options)
    assert isinstance(out, ShardResult) and out.shards == 2
    assert_same_refinement(out, whole)
    assert out.path == whole.path


def test_refine_on_ray_best_of_equals_one_engine(ray_cluster, cond_model, cond_engine):
    x, y0 = rand(31, 10, 2), rand(32, 40, 4)
    options = dict(steps=25, step_size=0.02, temperature=0.2, seed=29, best_of=4, replicas=2, ladder=(1.0, 3.0),
                   swap_every=5)
    out = refine_on_ray(cond_model, x, y0, shards=2, **options)
    whole = cond_engine.refine(x, y0, **options)
    assert isinstance(whole, ebm.BestOf)
    assert out.shards == 2
    assert_same_best_of(out, whole)


def test_refine_on_ray_refuses_per_shard_options(cond_model):
    x, y0 = rand(1, 8, 2), rand(2, 8, 4)
    for name, value in (("chain_offset", 5), ("progress", print)):
        with pytest.raises(ValueError, match=f"refine_on_ray: {name} is set per shard"):
            refine_on_ray(cond_model, x, y0, shards=2, steps=3, step_size=0.1, **{name: value})
    with pytest.raises(ValueError, match=r"y0: shape \(8, 3\)"):
        refine_on_ray(cond_model, x, y0[:, :3], shards=2, steps=3, step_size=0.1)


def test_refine_on_ray_failure_raises_ebm_error(ray_cluster, uncond_model):
    """A shard that fails on its GPU (here: every chain overflows) raises in the driver, as
    `ebm_wgpu.EbmError`, the exception one engine raises for the same batch."""
    y0 = rand(41, 8, uncond_model.y_dim)
    options = dict(steps=20, step_size=1000.0, prior_l2=1.0)
    with pytest.raises(ebm.EbmError, match="became non-finite"):
        ebm.Engine(uncond_model).refine(None, y0, **options)
    try:
        refine_on_ray(uncond_model, None, y0, shards=2, **options)
    except ebm.EbmError as e:
        assert "became non-finite" in str(e)
    except Exception as e:  # noqa: BLE001 - the failure reported
        raise AssertionError(
            "refine_on_ray's shard failure is not an ebm_wgpu.EbmError: got "
            f"{type(e).__name__} with bases {[f'{c.__module__}.{c.__qualname__}' for c in type(e).__mro__[1:4]]}"
        ) from None
    else:
        raise AssertionError("refine_on_ray did not raise for chains that all became non-finite")
