"""Multi-dataset sampling: official semantics (against a loop transcription of the official
``MultipleDatasets.__getitem__``), the DistributedSampler order, rank sharding, resume."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.utils.data import DistributedSampler

from ehps.data.sampling import (
    MultiDatasetSampler,
    build_epoch_plan,
    map_virtual_indices,
    virtual_length,
)
from ehps.errors import InputError


def _official_getitem(index, lens, make_same_len, total_len, length_dict, randint):
    """Loop transcription of the official MultipleDatasets index logic (SMPLest-X version, which
    includes SMPLer-X's); ``randint(a, b)`` replaces ``random.randint``."""
    db_num = len(lens)
    if length_dict is not None:
        db_len_cumsum = np.cumsum(length_dict)
    else:
        db_len_cumsum = np.cumsum(lens)
    if make_same_len:
        if total_len is None:
            m = max(lens)
            db_idx, data_idx = index // m, index % m
            if data_idx >= lens[db_idx] * (m // lens[db_idx]):
                data_idx = randint(0, lens[db_idx] - 1)
            else:
                data_idx = data_idx % lens[db_idx]
        else:
            per = total_len // db_num
            db_idx, data_idx = index // per, index % per
            if db_idx > db_num - 1:
                db_idx = randint(0, db_num - 1)
            if lens[db_idx] < per and data_idx >= lens[db_idx] * (per // lens[db_idx]):
                data_idx = randint(0, lens[db_idx] - 1)
            else:
                data_idx = data_idx % lens[db_idx]
    else:
        for i in range(db_num):
            if index < db_len_cumsum[i]:
                db_idx = i
                break
        data_idx = index if db_idx == 0 else index - db_len_cumsum[db_idx - 1]
        if length_dict is not None:
            if lens[db_idx] < length_dict[db_idx] and data_idx >= lens[db_idx] * (
                length_dict[db_idx] // lens[db_idx]
            ):
                data_idx = randint(0, lens[db_idx] - 1)
            else:
                data_idx = data_idx % lens[db_idx]
    return db_idx, data_idx


CASES = [
    ("balance", [3, 10, 50, 7], 40, None),
    ("balance", [3, 10, 50, 7], 43, None),  # 3 tail slots pick a random dataset
    ("balance", [5, 12, 2], None, None),  # no total: longest x number of datasets
    ("concat", [4, 9, 1], None, None),
    ("weighted", [4, 30, 6], None, [10, 7, 13]),
]


@pytest.mark.parametrize(("strategy", "lens", "total", "weights"), CASES)
def test_map_matches_official_loop(strategy, lens, total, weights) -> None:
    size = virtual_length(lens, strategy, total, weights)
    rng = np.random.default_rng(5)
    fill_u, pick_u = rng.random(size), rng.random(size)
    got_d, got_j = map_virtual_indices(np.arange(size), lens, strategy, total, weights,
                                       fill_u, pick_u)
    for v in range(size):
        # the official code draws the dataset first, then the item: feed the same uniforms
        draws = iter([pick_u[v], fill_u[v]] if strategy == "balance" and total is not None
                     and v // (total // len(lens)) > len(lens) - 1 else [fill_u[v]])

        def randint(a: int, b: int, draws=draws) -> int:
            return a + int(next(draws) * (b - a + 1))

        ref = _official_getitem(v, lens, strategy == "balance", total, weights, randint)
        assert (int(got_d[v]), int(got_j[v])) == ref, v
    if strategy == "balance" and total is not None:
        per = total // len(lens)  # every dataset owns exactly `per` slots before the tail
        counts = np.bincount(got_d[: per * len(lens)], minlength=len(lens))
        assert counts.tolist() == [per] * len(lens)
        big = int(np.argmax(lens))  # a large dataset contributes its first `per` items
        head_d, head_j = got_d[: per * len(lens)], got_j[: per * len(lens)]
        assert sorted(head_j[head_d == big].tolist()) == list(range(per))


def test_order_is_the_distributed_sampler_order() -> None:
    lens = [6, 11, 4]  # concat: flat index == virtual index, so the orders must coincide
    size = sum(lens)
    for world in (1, 2, 3):
        for rank in range(world):
            ours = MultiDatasetSampler(lens, "concat", seed=7, rank=rank, world_size=world)
            ref = DistributedSampler(range(size), num_replicas=world, rank=rank, shuffle=True,
                                     seed=7)
            for epoch in (0, 3):
                ours.set_epoch(epoch)
                ref.set_epoch(epoch)
                assert [k.index for k in ours] == list(ref)


def test_ranks_partition_the_single_process_order() -> None:
    lens, total = [13, 40, 7, 22], 100
    single = MultiDatasetSampler(lens, "balance", total, seed=3)
    single.set_epoch(2)
    one = list(single)
    for world in (2, 4):
        shards = []
        for rank in range(world):
            s = MultiDatasetSampler(lens, "balance", total, seed=3, rank=rank, world_size=world)
            s.set_epoch(2)
            shards.append(list(s))
        assert all(len(x) == math.ceil(total / world) for x in shards)
        interleaved = [shards[r][i] for i in range(len(shards[0])) for r in range(world)]
        assert interleaved[:total] == one  # same samples and seeds at the same global positions
        per_rank_batch = 4  # global batch k of `world` ranks == batch k of one process
        for k in range(total // (per_rank_batch * world)):
            glob = {x for sh in shards for x in sh[k * per_rank_batch:(k + 1) * per_rank_batch]}
            size = per_rank_batch * world
            assert glob == set(one[k * size:(k + 1) * size])


def test_deterministic_across_instances_and_epochs() -> None:
    lens = [30, 5, 17]
    a = build_epoch_plan(lens, "balance", seed=1, epoch=4, total_len=60)
    b = build_epoch_plan(lens, "balance", seed=1, epoch=4, total_len=60)
    c = build_epoch_plan(lens, "balance", seed=1, epoch=5, total_len=60)
    np.testing.assert_array_equal(a.flat, b.flat)
    np.testing.assert_array_equal(a.seeds, b.seeds)
    assert not np.array_equal(a.flat, c.flat)
    assert len(set(a.seeds.tolist())) == a.seeds.size  # distinct per-sample seeds
    offsets = np.concatenate([[0], np.cumsum(lens)])
    np.testing.assert_array_equal(a.flat, offsets[a.dataset] + a.item)
    assert (a.item < np.asarray(lens)[a.dataset]).all()
    unshuffled = build_epoch_plan(lens, "balance", seed=1, epoch=4, total_len=60, shuffle=False)
    assert unshuffled.dataset[:20].tolist() == [0] * 20  # virtual order: dataset blocks


def test_resume_from_a_position() -> None:
    lens = [9, 21, 14]
    s = MultiDatasetSampler(lens, "balance", 50, seed=11, rank=1, world_size=2)
    s.set_epoch(6)
    full = list(s)
    consumed = 13
    state = s.state_dict(consumed=consumed)
    resumed = MultiDatasetSampler(lens, "balance", 50, seed=11, rank=1, world_size=2)
    resumed.load_state_dict(state)
    assert resumed.epoch == 6 and len(resumed) == len(full) - consumed
    assert list(resumed) == full[consumed:]
    other = MultiDatasetSampler(lens, "balance", 60, seed=11, rank=1, world_size=2)
    with pytest.raises(InputError, match="total_len"):
        other.load_state_dict(state)


def test_drop_last_and_errors() -> None:
    s = MultiDatasetSampler([5, 6], "concat", rank=0, world_size=3, drop_last=True)
    assert len(s) == 11 // 3
    with pytest.raises(InputError, match="rank"):
        MultiDatasetSampler([5], rank=2, world_size=2)
    with pytest.raises(InputError, match="unknown sampling strategy"):
        virtual_length([3], "random")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="at least one sample"):
        virtual_length([3, 0], "concat")
    with pytest.raises(InputError, match="one weight"):
        virtual_length([3, 4], "weighted", weights=[1])
    s = MultiDatasetSampler([5, 6], "concat")
    with pytest.raises(InputError, match="outside"):
        s.set_epoch(0, start=12)


def test_sampler_is_a_torch_sampler_with_seeds() -> None:
    s = MultiDatasetSampler([3, 4], "balance", 10, seed=0)
    keys = list(s)
    assert len(keys) == 10 and all(isinstance(k.seed, int) for k in keys)
    loader = torch.utils.data.DataLoader(list(range(7)), sampler=[k.index for k in keys])
    assert len(list(loader)) == 10
