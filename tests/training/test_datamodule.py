"""The stateful train loader: a stopped-and-restored loader continues with exactly the batches an
uninterrupted one yields (reference: the uninterrupted iteration), Lightning's ``set_epoch`` does
not undo a restored position, and rank shards union to the single-process batches."""

from __future__ import annotations

import itertools

import numpy as np
import torch

from ehps.data import MultiDatasetSampler
from ehps.training.datamodule import ResumableDataLoader, ResumableSampler


class _KeyDataset(torch.utils.data.Dataset):
    """Returns the sample key itself (index, seed) as a tensor."""

    def __len__(self) -> int:
        return 23

    def __getitem__(self, key):
        return torch.tensor([int(key[0]), int(key[1]) & 0x7FFFFFFF])


def _loader(rank: int = 0, world: int = 1, batch: int = 3, workers: int = 0):
    base = MultiDatasetSampler([10, 13], "balance", total_len=24, seed=5, rank=rank,
                               world_size=world)
    sampler = ResumableSampler(base)
    return ResumableDataLoader(_KeyDataset(), sampler, batch_size=batch, drop_last=True,
                               num_workers=workers)


def _epoch(loader, epoch: int, limit: int | None = None) -> list[torch.Tensor]:
    loader.sampler.set_epoch(epoch)
    return list(itertools.islice(loader, limit))  # no look-ahead, like Lightning


def test_restored_loader_continues_exactly() -> None:
    full = _loader()
    ref = {e: _epoch(full, e) for e in (0, 1)}
    assert len(full) == 8 and len(ref[0]) == 8  # 24 samples per epoch, batch 3

    stopped = _loader()
    _epoch(stopped, 1, limit=2)
    state = stopped.state_dict()
    assert state["sampler"]["epoch"] == 1 and state["sampler"]["start"] == 6

    resumed = _loader()
    resumed.load_state_dict(state)
    # len stays the full epoch: Lightning counts the consumed batches itself
    assert len(resumed) == 8
    resumed.sampler.set_epoch(1)  # what Lightning calls at the start of the resumed epoch
    rest = list(resumed)
    assert len(rest) == 6
    for a, b in zip(rest, ref[1][2:]):
        assert torch.equal(a, b)
    # the next epoch starts from its beginning again
    nxt = _epoch(resumed, 2)
    assert torch.equal(torch.cat(nxt), torch.cat(_epoch(_loader(), 2)))


def test_restored_loader_with_workers() -> None:
    ref = _epoch(_loader(workers=2), 0)
    stopped = _loader(workers=2)
    _epoch(stopped, 0, limit=1)
    resumed = _loader(workers=2)
    resumed.load_state_dict(stopped.state_dict())
    resumed.sampler.set_epoch(0)
    assert torch.equal(torch.cat(list(resumed)), torch.cat(ref[1:]))


def test_rank_shards_union_to_the_single_process_batches() -> None:
    """Global batch 4 on one process == per-rank batches of 2 on two ranks, step by step."""
    single = _epoch(_loader(batch=4), 3)
    r0, r1 = _epoch(_loader(0, 2, batch=2), 3), _epoch(_loader(1, 2, batch=2), 3)
    assert len(single) == len(r0) == len(r1)
    for s, a, b in zip(single, r0, r1):
        got = sorted(map(tuple, torch.cat([a, b]).tolist()))
        assert got == sorted(map(tuple, s.tolist()))
    keys = np.concatenate([torch.cat(single).numpy()])
    assert keys.shape[0] == 24
