"""The file loaders under fuzz, each with its valid seed files and its structural mutations.

A :class:`Target` knows how to write a few valid seed files (small, built here, nothing
downloaded), how to mutate one (byte-level edits plus edits that know the format: zip members,
``.npy`` headers, crafted pickles, forged metadata) and how to load a file the way ``ehps`` does.
A load either succeeds or raises :class:`~ehps.errors.EhpsError` (a clear error); any other
exception, a crash or a hang is a finding.

Targets: ``image`` (:func:`ehps.detection.load_image`), ``video``
(:func:`ehps.inference.sources.iter_video`), ``humandata`` (:class:`ehps.data.HumanData`, every
key touched), ``checkpoint`` (official ``.pth.tar`` and ehps ``.safetensors`` through
:func:`ehps.modeling.load_model`), ``bodymodel`` (SMPL-X ``.npz`` / ``.pkl`` into an
:class:`ehps.bodymodels.smplx.SMPLX` and one forward pass).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ehps.testing import targets_media as media
from ehps.testing import targets_models as models
from ehps.testing.targets_models import TINY_NET

__all__ = ["Target", "TARGETS", "SELFTEST", "TINY_NET", "get_target"]


@dataclass(frozen=True)
class Target:
    """One loader under fuzz.

    Attributes:
        name: the target name.
        make_seeds: ``(folder) -> [valid seed files]``.
        mutate: ``(rng, seed bytes, seed path) -> mutated bytes``.
        load: ``(path) -> None``; raises on a bad file.
    """

    name: str
    make_seeds: Callable[[Path], list[Path]]
    mutate: Callable[[np.random.Generator, bytes, Path], bytes]
    load: Callable[[Path], None]


TARGETS: dict[str, Target] = {
    "image": Target("image", media.image_seeds, media.image_mutate, media.image_load),
    "video": Target("video", media.video_seeds, media.video_mutate, media.video_load),
    "humandata": Target("humandata", models.humandata_seeds, models.humandata_mutate,
                        models.humandata_load),
    "checkpoint": Target("checkpoint", models.checkpoint_seeds, models.checkpoint_mutate,
                         models.checkpoint_load),
    "bodymodel": Target("bodymodel", models.bodymodel_seeds, models.bodymodel_mutate,
                        models.bodymodel_load),
}
#: Checks the harness itself (not fuzzed; see :func:`ehps.testing.targets_media.selftest_load`).
SELFTEST = Target("selftest", media.selftest_seeds, lambda rng, data, seed: data,
                  media.selftest_load)


def get_target(name: str) -> Target:
    """The target called ``name`` (see :data:`TARGETS`)."""
    if name == SELFTEST.name:
        return SELFTEST
    if name not in TARGETS:
        raise KeyError(f"unknown fuzz target {name!r}; choose from {sorted(TARGETS)}")
    return TARGETS[name]
