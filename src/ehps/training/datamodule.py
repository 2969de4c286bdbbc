"""LightningDataModule over :mod:`ehps.data`: catalog (or explicit HumanData files) -> sources ->
:class:`~ehps.data.TrainingDataset` -> :class:`~ehps.data.MultiDatasetSampler` -> DataLoader.

Exact resume: the train DataLoader is *stateful* in Lightning's sense (``state_dict`` /
``load_state_dict``), so Lightning stores its state in every checkpoint (``loops`` ->
``combined_loader``) and restores it before the first batch after ``--resume``. The state is the
sampler's ``(epoch, samples of this epoch already consumed by this rank)``; because every sample
is a pure function of its :class:`~ehps.data.SampleKey` (augmentation seeded by
``(seed, epoch, position)``, no global RNG, no per-worker state), the resumed run sees exactly the
batches the uninterrupted run would have seen, with any number of workers.

Ranks: samplers are built with the trainer's ``global_rank`` / ``world_size`` (Lightning's own
DistributedSampler injection must be off: ``Trainer(use_distributed_sampler=False)``, set by
:mod:`ehps.training.launch`); every rank computes the same global epoch plan and takes every
``world_size``-th sample, so the union of the ranks' batches equals the single-process batch of
the same global size.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Sampler

from ehps.data import (
    DatasetSpec,
    MultiDatasetSampler,
    SampleKey,
    TrainingDataset,
    build_sources,
    collate_samples,
    find_data_root,
    get_preset,
)
from ehps.data.datasets.common import AnnotationSource
from ehps.errors import InputError
from ehps.geometry.crop import DEFAULT_BBOX_RATIO
from ehps.training.config import TrainConfig

__all__ = ["ResumableSampler", "ResumableDataLoader", "EHPSDataModule", "humandata_sources"]


class ResumableSampler(Sampler[SampleKey]):
    """Wraps :class:`MultiDatasetSampler` so that Lightning's per-epoch ``set_epoch`` does not undo
    a restored mid-epoch position, and so that ``len()`` stays the full epoch length (Lightning
    counts the already-consumed batches itself when it resumes).

    Args:
        base: the sampler (its ``rank`` / ``world_size`` already set).
    """

    def __init__(self, base: MultiDatasetSampler) -> None:
        self.base = base
        self._resume_epoch: int | None = None

    @property
    def epoch(self) -> int:
        return self.base.epoch

    @property
    def start(self) -> int:
        return self.base.start

    def set_epoch(self, epoch: int) -> None:
        """Select ``epoch``; keeps the restored position when it is the resumed epoch."""
        if self._resume_epoch is not None and int(epoch) == self._resume_epoch:
            return
        self._resume_epoch = None
        self.base.set_epoch(int(epoch), 0)

    def __iter__(self) -> Iterator[SampleKey]:
        self._resume_epoch = None  # the restored position is used by this iteration only
        return iter(self.base)

    def __len__(self) -> int:
        return self.base.num_samples

    def state_dict(self, consumed: int) -> dict[str, Any]:
        return self.base.state_dict(consumed=consumed)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.base.load_state_dict(state)
        self._resume_epoch = int(state["epoch"])


class ResumableDataLoader(DataLoader):
    """A DataLoader over a :class:`ResumableSampler` that knows how many batches it has handed
    out in the current epoch (Lightning fetches without look-ahead when the length is known, so
    that is the number of batches trained on when a checkpoint is written)."""

    def __init__(self, dataset: Any, sampler: ResumableSampler, batch_size: int,
                 **kwargs: Any) -> None:
        super().__init__(dataset, batch_size=batch_size, sampler=sampler, **kwargs)
        self._iter_epoch = sampler.epoch
        self._iter_start = sampler.start
        self._yielded = 0

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        sampler: ResumableSampler = self.sampler  # type: ignore[assignment]
        self._iter_epoch, self._iter_start, self._yielded = sampler.epoch, sampler.start, 0
        for batch in super().__iter__():
            self._yielded += 1
            yield batch

    def state_dict(self) -> dict[str, Any]:
        """``{"sampler": ...}`` with the samples of the current epoch consumed by this rank."""
        sampler: ResumableSampler = self.sampler  # type: ignore[assignment]
        consumed = self._iter_start + self._yielded * int(self.batch_size or 1)
        state = sampler.state_dict(consumed=min(consumed, sampler.base.num_samples))
        state["epoch"] = self._iter_epoch
        return {"sampler": state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        sampler: ResumableSampler = self.sampler  # type: ignore[assignment]
        sampler.load_state_dict(state["sampler"])
        self._iter_epoch, self._iter_start = sampler.epoch, sampler.start


def _worker_init(_worker_id: int) -> None:
    """One torch thread per worker (the workers are the parallelism).

    OpenCV's thread count is deliberately left alone: ``cv2.setNumThreads`` in a forked worker
    tears down the thread pool inherited from the parent, and when the parent had used that pool
    (decoding with ``num_workers=0`` earlier in the same process, or rendering) the child blocks
    forever in ``pthread_cond_destroy`` on a condition variable whose waiters exist only in the
    parent (reproduced with opencv-python-headless 4.14 + torch 2.13).
    """
    torch.set_num_threads(1)


def humandata_sources(
    files: Sequence[str], data_root: str | os.PathLike[str], system: str,
    shuffle_seed: int | None, cache_dir: str | None = None,
    bbox_ratio: float = DEFAULT_BBOX_RATIO,
) -> list[AnnotationSource]:
    """One :class:`~ehps.data.datasets.humandata_source.HumanDataSource` per file (image paths
    relative to ``data_root``)."""
    from ehps.data.datasets.humandata_source import HumanDataSource

    out: list[AnnotationSource] = []
    root = Path(data_root)
    for f in files:
        path = Path(f) if Path(f).is_absolute() else root / f
        if not path.is_file():
            raise InputError(f"HumanData file not found: {path} (data root {root})")
        spec = DatasetSpec(path.stem, "humandata", (str(path),), "")
        out.append(HumanDataSource(spec, root, system, shuffle_seed=shuffle_seed,  # type: ignore[arg-type]
                                   cache_dir=cache_dir, bbox_ratio=bbox_ratio))
    return out


class EHPSDataModule(L.LightningDataModule):
    """Training / validation data of a :class:`TrainConfig`.

    Args:
        cfg: the run config (``data`` section; ``trainer.seed`` seeds the sampler).
        body_model: SMPL-X layer for fit-derived joint targets (datasets without 3D keypoints);
            ``None`` masks those targets out (see :class:`~ehps.data.TrainingDataset`).
    """

    def __init__(self, cfg: TrainConfig, body_model: torch.nn.Module | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.body_model = body_model
        self.train_set: TrainingDataset | None = None
        self.val_set: TrainingDataset | None = None
        self._sampler_args: dict[str, Any] = {}

    # ------------------------------------------------------------------ datasets
    def _system(self) -> str:
        return self.cfg.family

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        d = self.cfg.data
        root = find_data_root(d.root)
        system = self._system()
        if d.humandata:
            strategy = d.strategy or "concat"
            sources = humandata_sources(d.humandata, root, system,
                                        None if strategy == "concat" else 2023, d.cache_dir,
                                        d.bbox_ratio)
            total_len, weights = d.total_data_len, None
        else:
            preset = get_preset(d.mixture)
            if preset.system != system:
                raise InputError(
                    f"mixture '{d.mixture}' is a {preset.system} mixture but the model is "
                    f"{system}; pick a {system} mixture or model"
                )
            strategy = d.strategy or preset.strategy
            sources = build_sources(preset, root, cache_dir=d.cache_dir,
                                    bbox_ratio=d.bbox_ratio)
            total_len = d.total_data_len if d.total_data_len is not None else (
                preset.total_data_len)
            weights = None if preset.weights is None else [
                int(preset.weights[n]) for n in preset.datasets]
        self.train_set = TrainingDataset(
            sources, system=system, body_model=self.body_model,  # type: ignore[arg-type]
            augment=d.augment, base_seed=self.cfg.trainer.seed, image_uint8=d.image_uint8)
        self._sampler_args = dict(strategy=strategy, total_len=total_len, weights=weights)
        if d.val_humandata:
            vsrc = humandata_sources(d.val_humandata, root, system, None, d.cache_dir,
                                     d.bbox_ratio)
            self.val_set = TrainingDataset(
                vsrc, system=system, body_model=self.body_model,  # type: ignore[arg-type]
                augment=False, base_seed=self.cfg.trainer.seed, image_uint8=d.image_uint8)

    def _rank_world(self) -> tuple[int, int]:
        trainer = self.trainer
        if trainer is None:
            return 0, 1
        return int(trainer.global_rank), int(trainer.world_size)

    def train_sampler(self) -> ResumableSampler:
        """A fresh epoch-0 sampler for this rank."""
        assert self.train_set is not None, "call setup() first"
        rank, world = self._rank_world()
        base = MultiDatasetSampler(
            self.train_set.lengths, self._sampler_args["strategy"],
            self._sampler_args["total_len"], self._sampler_args["weights"],
            seed=self.cfg.trainer.seed, shuffle=True, rank=rank, world_size=world)
        base.set_epoch(0)
        return ResumableSampler(base)

    def _loader_kwargs(self) -> dict[str, Any]:
        workers = int(self.cfg.data.num_workers)
        return dict(
            num_workers=workers, collate_fn=collate_samples,
            worker_init_fn=_worker_init if workers > 0 else None,
            persistent_workers=False, prefetch_factor=2 if workers > 0 else None,
            # an own generator: creating an iterator must not consume the global torch RNG
            # (that would break exact resume of stochastic layers such as drop-path)
            generator=torch.Generator().manual_seed(int(self.cfg.trainer.seed)),
        )

    def train_dataloader(self) -> ResumableDataLoader:
        self.setup("fit")
        assert self.train_set is not None
        return ResumableDataLoader(self.train_set, self.train_sampler(),
                                   batch_size=self.cfg.data.batch_size, drop_last=True,
                                   **self._loader_kwargs())

    def val_dataloader(self) -> DataLoader | list:
        self.setup("fit")
        if self.val_set is None:
            return []
        rank, world = self._rank_world()
        sampler = MultiDatasetSampler(self.val_set.lengths, "concat", seed=0, shuffle=False,
                                      rank=rank, world_size=world)
        return DataLoader(self.val_set, batch_size=self.cfg.data.batch_size, sampler=sampler,
                          drop_last=False, **self._loader_kwargs())
