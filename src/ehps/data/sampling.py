"""Multi-dataset sampling with the official SMPLer-X / SMPLest-X semantics, made deterministic.

The official trainers wrap the datasets in ``MultipleDatasets`` (a *virtual* index space whose
``__getitem__`` maps a virtual index to (dataset, item), drawing ``random.randint`` for the
"remainder" items) and shuffle that space with ``DistributedSampler(shuffle=True)`` seeded by the
epoch. Randomness inside ``__getitem__`` makes an epoch irreproducible across workers and resumes.
Here the whole epoch plan is a pure function of ``(seed, epoch)``: the same virtual-index maps
(below) with the random fills drawn from a generator seeded by ``(seed, epoch)``, the same
``torch.randperm`` shuffle the DistributedSampler uses (generator seeded with ``seed + epoch``), and
the same rank sharding (``plan[rank::world_size]`` after padding). Every rank computes the same
global plan, so the union of the rank shards is the single-process order and complete global
batches are identical for any world size.

Strategies (``L_d`` = length of dataset ``d``, ``D`` datasets, ``v`` a virtual index):

- ``concat``: ``V = sum L_d``; ``v`` walks the datasets one after the other.
- ``balance`` with ``total_len = T``: ``P = T // D`` slots per dataset; ``d = v // P``,
  ``j = v % P``. The ``T % D`` tail slots pick a random dataset. A dataset shorter than ``P`` is
  repeated (``j % L_d``) and the last incomplete repetition is filled with random items; a longer
  one contributes its first ``P`` items (its item order is fixed once, see
  :mod:`ehps.data.datasets.humandata_source`, so this is a fixed subset, as in the official code).
- ``balance`` without ``total_len``: ``P = max L_d``, ``V = P * D``, same filling rule.
- ``weighted`` (SMPLest-X ``length_dict``): dataset ``d`` gets ``W_d`` consecutive slots
  (``V = sum W_d``), filled like ``balance``.

The sampler yields :class:`SampleKey` ``(flat_index, seed)`` pairs: ``flat_index`` indexes the
concatenation of the datasets, ``seed`` is the per-sample augmentation seed (a hash of the sampler
seed, the epoch and the sample's global position), so ``__getitem__`` needs no global RNG.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
import torch
from torch.utils.data import Sampler

from ehps.errors import InputError

__all__ = [
    "Strategy",
    "SampleKey",
    "virtual_length",
    "map_virtual_indices",
    "EpochPlan",
    "build_epoch_plan",
    "sample_seeds",
    "MultiDatasetSampler",
]

Strategy = Literal["concat", "balance", "weighted"]


class SampleKey(NamedTuple):
    """What the sampler yields: an index into the concatenated datasets and an augmentation seed."""

    index: int
    seed: int


def _check(lengths: Sequence[int], strategy: str, weights: Sequence[int] | None) -> np.ndarray:
    lens = np.asarray(lengths, dtype=np.int64)
    if lens.ndim != 1 or lens.size == 0:
        raise InputError("need at least one dataset length")
    if (lens <= 0).any():
        raise InputError(f"every dataset needs at least one sample, got lengths {lens.tolist()}")
    if strategy not in ("concat", "balance", "weighted"):
        raise InputError(f"unknown sampling strategy '{strategy}' (concat, balance, weighted)")
    if strategy == "weighted":
        if weights is None or len(weights) != lens.size:
            raise InputError("the 'weighted' strategy needs one weight (sample count) per dataset")
        if any(int(w) <= 0 for w in weights):
            raise InputError(f"weights must be positive sample counts, got {list(weights)}")
    return lens


def virtual_length(
    lengths: Sequence[int],
    strategy: Strategy,
    total_len: int | None = None,
    weights: Sequence[int] | None = None,
) -> int:
    """Size of the virtual index space (the official ``len(MultipleDatasets)``)."""
    lens = _check(lengths, strategy, weights)
    if strategy == "concat":
        return int(lens.sum())
    if strategy == "weighted":
        return int(np.sum(np.asarray(weights, dtype=np.int64)))
    if total_len is None:
        return int(lens.max()) * lens.size
    if total_len < lens.size:
        raise InputError(f"total_len {total_len} is smaller than the number of datasets")
    return int(total_len)


def map_virtual_indices(
    v: np.ndarray,
    lengths: Sequence[int],
    strategy: Strategy,
    total_len: int | None,
    weights: Sequence[int] | None,
    fill_u: np.ndarray,
    pick_u: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Map virtual indices to ``(dataset, item)`` with the official rules (vectorised).

    Args:
        v: (M,) int64 virtual indices.
        lengths, strategy, total_len, weights: as in :func:`virtual_length`.
        fill_u: (M,) uniform [0, 1) numbers: the random item for a remainder slot is
            ``floor(u * L_d)`` (the official ``random.randint(0, L_d - 1)``).
        pick_u: (M,) uniform [0, 1): the random dataset of a ``balance`` tail slot,
            ``floor(u * D)``.

    Returns:
        ``(dataset (M,) int64, item (M,) int64)``.
    """
    lens = _check(lengths, strategy, weights)
    v = np.asarray(v, dtype=np.int64)
    n_db = lens.size
    if strategy == "concat":
        bounds = np.cumsum(lens)
        d = np.searchsorted(bounds, v, side="right")
        j = v - np.concatenate([[0], bounds])[d]
        return d, j
    if strategy == "weighted":
        w = np.asarray(weights, dtype=np.int64)
        bounds = np.cumsum(w)
        d = np.searchsorted(bounds, v, side="right")
        j = v - np.concatenate([[0], bounds])[d]
        slots = w[d]
    else:
        per = int(lens.max()) if total_len is None else int(total_len) // n_db
        d = v // per
        j = v % per
        tail = d > n_db - 1
        d = np.where(tail, np.minimum((pick_u * n_db).astype(np.int64), n_db - 1), d)
        slots = np.full_like(v, per)
    ld = lens[d]
    random_fill = (ld < slots) & (j >= ld * (slots // ld))
    rand_item = np.minimum((fill_u * ld).astype(np.int64), ld - 1)
    j = np.where(random_fill, rand_item, j % ld)
    return d, j


@dataclass
class EpochPlan:
    """The global order of one epoch (before rank sharding).

    Attributes:
        dataset: (V,) int64 dataset of each position.
        item: (V,) int64 item within its dataset.
        flat: (V,) int64 index into the concatenation of the datasets.
        seeds: (V,) uint64 per-sample augmentation seeds.
    """

    dataset: np.ndarray
    item: np.ndarray
    flat: np.ndarray
    seeds: np.ndarray


def sample_seeds(seed: int, epoch: int, positions: np.ndarray) -> np.ndarray:
    """Per-sample seeds: a splitmix64 hash of ``(seed, epoch, global position)`` (uint64)."""
    with np.errstate(over="ignore"):
        x = (
            np.uint64(seed & 0xFFFFFFFFFFFFFFFF) * np.uint64(0x9E3779B97F4A7C15)
            + np.uint64(epoch & 0xFFFFFFFF) * np.uint64(0xBF58476D1CE4E5B9)
            + np.asarray(positions, dtype=np.uint64)
        )
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def build_epoch_plan(
    lengths: Sequence[int],
    strategy: Strategy,
    seed: int,
    epoch: int,
    total_len: int | None = None,
    weights: Sequence[int] | None = None,
    shuffle: bool = True,
) -> EpochPlan:
    """The full global plan of ``epoch``: a pure function of its arguments.

    Random fills use ``np.random.default_rng([seed, epoch])``; the order is
    ``torch.randperm(V)`` with a CPU generator seeded ``seed + epoch`` (the DistributedSampler
    rule) when ``shuffle``, else the virtual order.
    """
    size = virtual_length(lengths, strategy, total_len, weights)
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(epoch) & 0xFFFFFFFF])
    fill_u = rng.random(size)
    pick_u = rng.random(size)
    if shuffle:
        gen = torch.Generator()
        gen.manual_seed(int(seed) + int(epoch))
        order = torch.randperm(size, generator=gen).numpy()
    else:
        order = np.arange(size, dtype=np.int64)
    d, j = map_virtual_indices(order, lengths, strategy, total_len, weights,
                               fill_u[order], pick_u[order])
    offsets = np.concatenate([[0], np.cumsum(np.asarray(lengths, dtype=np.int64))])
    return EpochPlan(d, j, offsets[d] + j, sample_seeds(seed, epoch, np.arange(size)))


class MultiDatasetSampler(Sampler[SampleKey]):
    """Deterministic, resumable, rank-aware sampler over concatenated datasets.

    Args:
        lengths: number of items of each dataset, in concatenation order.
        strategy: ``"concat"``, ``"balance"`` or ``"weighted"``.
        total_len: ``balance``: samples per epoch (``None``: longest dataset x number of datasets).
        weights: ``weighted``: samples per epoch of each dataset.
        seed: base seed (the official DistributedSampler default is 0).
        shuffle: shuffle the virtual order each epoch.
        rank, world_size: this process and the number of processes.
        drop_last: drop the tail instead of padding it so every rank gets the same count (the
            DistributedSampler ``drop_last``; the DataLoader's own ``drop_last`` is separate).

    Call :meth:`set_epoch` before each epoch; resume with ``set_epoch(epoch, start=consumed)``
    where ``consumed`` counts the samples this rank has already trained on in that epoch (or via
    :meth:`state_dict` / :meth:`load_state_dict`).
    """

    def __init__(
        self,
        lengths: Sequence[int],
        strategy: Strategy = "balance",
        total_len: int | None = None,
        weights: Sequence[int] | None = None,
        seed: int = 0,
        shuffle: bool = True,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = False,
    ) -> None:
        if world_size < 1 or not 0 <= rank < world_size:
            raise InputError(f"need 0 <= rank < world_size, got rank {rank}, world {world_size}")
        self.lengths = [int(x) for x in lengths]
        self.strategy: Strategy = strategy
        self.total_len = total_len
        self.weights = None if weights is None else [int(w) for w in weights]
        self.size = virtual_length(self.lengths, strategy, total_len, self.weights)
        self.seed = int(seed)
        self.shuffle = shuffle
        self.rank = rank
        self.world_size = world_size
        self.drop_last = drop_last
        self.epoch = 0
        self.start = 0
        self._cache: tuple[int, np.ndarray, np.ndarray] | None = None

    @property
    def num_samples(self) -> int:
        """Samples per rank per epoch (before ``start``)."""
        if self.drop_last:
            return self.size // self.world_size
        return math.ceil(self.size / self.world_size)

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Select the epoch; ``start`` skips the first samples of this rank's shard (resume)."""
        if not 0 <= start <= self.num_samples:
            raise InputError(f"start {start} outside this rank's epoch of {self.num_samples}")
        self.epoch = int(epoch)
        self.start = int(start)

    def shard(self, epoch: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """This rank's ``(flat indices, seeds)`` for an epoch (cached)."""
        epoch = self.epoch if epoch is None else int(epoch)
        if self._cache is not None and self._cache[0] == epoch:
            return self._cache[1], self._cache[2]
        plan = build_epoch_plan(self.lengths, self.strategy, self.seed, epoch, self.total_len,
                                self.weights, self.shuffle)
        flat, seeds = plan.flat, plan.seeds
        total = self.num_samples * self.world_size
        if total > flat.size:  # pad by repeating the head, as DistributedSampler does
            reps = math.ceil((total - flat.size) / flat.size)
            extra_flat = np.tile(flat, reps)[: total - flat.size]
            # padded copies get fresh seeds (positions past the end of the plan)
            extra_seeds = sample_seeds(self.seed, epoch, np.arange(flat.size, total))
            flat = np.concatenate([flat, extra_flat])
            seeds = np.concatenate([seeds, extra_seeds])
        flat = flat[self.rank : total : self.world_size]
        seeds = seeds[self.rank : total : self.world_size]
        self._cache = (epoch, flat, seeds)
        return flat, seeds

    def __iter__(self) -> Iterator[SampleKey]:
        flat, seeds = self.shard()
        for i in range(self.start, flat.size):
            yield SampleKey(int(flat[i]), int(seeds[i]))

    def __len__(self) -> int:
        return self.num_samples - self.start

    def state_dict(self, consumed: int | None = None) -> dict[str, Any]:
        """Resume state: ``consumed`` = samples of this epoch already trained on by this rank
        (default: the current ``start``)."""
        return {
            "epoch": self.epoch,
            "start": self.start if consumed is None else int(consumed),
            "seed": self.seed,
            "lengths": list(self.lengths),
            "strategy": self.strategy,
            "total_len": self.total_len,
            "world_size": self.world_size,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; refuses a state from a different data setup."""
        for key in ("seed", "lengths", "strategy", "total_len", "world_size"):
            mine = getattr(self, key)
            mine = list(mine) if isinstance(mine, list) else mine
            if state.get(key) != mine:
                raise InputError(
                    f"sampler state does not match this setup: {key} was {state.get(key)!r}, "
                    f"now {mine!r} (datasets, strategy or world size changed since the checkpoint)"
                )
        self.set_epoch(int(state["epoch"]), int(state["start"]))
