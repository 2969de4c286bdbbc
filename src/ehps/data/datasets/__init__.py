"""Dataset sources: HumanData files and the bespoke official formats, behind one protocol.

``build_source(spec, data_root, system)`` picks the reader named by ``spec.loader``;
``build_sources(preset, data_root)`` builds every dataset of a mixture preset in its official
order (with the preset's sample intervals).
"""

from __future__ import annotations

import importlib
import os
from dataclasses import replace
from typing import Literal

from ehps.data.catalog import DatasetSpec, MixturePreset
from ehps.data.datasets.common import AnnotationSource, ListSource
from ehps.errors import InputError
from ehps.geometry.crop import DEFAULT_BBOX_RATIO

__all__ = ["AnnotationSource", "ListSource", "build_source", "build_sources"]

#: The COCO-format bespoke loaders: loader name -> (module, records function, shuffled once).
#: EHF is a test set: never shuffled.
_COCO_FORMAT: dict[str, tuple[str, str, bool]] = {
    "mscoco": ("ehps.data.datasets.mscoco", "mscoco_records", True),
    "mpii": ("ehps.data.datasets.mpii", "mpii_records", True),
    "pw3d": ("ehps.data.datasets.pw3d", "pw3d_records", True),
    "ehf": ("ehps.data.datasets.ehf", "ehf_records", False),
}


def build_source(
    spec: DatasetSpec,
    data_root: str | os.PathLike[str],
    system: Literal["smplerx", "smplestx"] = "smplerx",
    shuffle_seed: int | None = 2023,
    bbox_ratio: float = DEFAULT_BBOX_RATIO,
    cache_dir: str | os.PathLike[str] | None = None,
) -> AnnotationSource:
    """The annotation source of one dataset.

    Args:
        spec: catalog entry (with the sample interval to use).
        data_root: folder the spec's relative paths start from.
        system: loader rules (``"smplerx"`` / ``"smplestx"``).
        shuffle_seed: one-time item shuffle (2023 for balance / weighted; ``None`` for concat).
        bbox_ratio: the official ``cfg.bbox_ratio``.
        cache_dir: HumanData decompression / row-index cache.
    """
    if spec.loader == "humandata":
        from ehps.data.datasets.humandata_source import HumanDataSource

        return HumanDataSource(spec, data_root, system, bbox_ratio, shuffle_seed, cache_dir)
    if spec.loader in _COCO_FORMAT:
        from ehps.data.datasets.coco_format import load_coco_source

        module, function, shuffled = _COCO_FORMAT[spec.loader]
        records = getattr(importlib.import_module(module), function)
        return load_coco_source(spec, data_root, records, bbox_ratio,
                                shuffle_seed if shuffled else None)
    if spec.loader == "human36m":
        from ehps.data.datasets.human36m import load_human36m

        return load_human36m(spec, data_root, bbox_ratio, shuffle_seed)
    if spec.loader == "ubody":
        from ehps.data.datasets.ubody import load_ubody

        return load_ubody(spec, data_root, shuffle_seed)
    if spec.loader == "agora":
        from ehps.data.datasets.agora import load_agora

        return load_agora(spec, data_root, shuffle_seed)
    raise InputError(f"dataset '{spec.name}': unknown loader '{spec.loader}'")


def build_sources(
    preset: MixturePreset,
    data_root: str | os.PathLike[str],
    cache_dir: str | os.PathLike[str] | None = None,
    overrides: dict[str, DatasetSpec] | None = None,
    bbox_ratio: float = DEFAULT_BBOX_RATIO,
) -> list[AnnotationSource]:
    """Every dataset of ``preset`` in its official order, with the preset's intervals and the
    official one-time shuffle when the strategy is ``balance`` or ``weighted`` (body crops
    enlarged by ``bbox_ratio``)."""
    seed = None if preset.strategy == "concat" else 2023
    out = []
    for spec in preset.specs():
        if overrides and spec.name in overrides:
            spec = replace(overrides[spec.name], sample_interval=spec.sample_interval)
        out.append(build_source(spec, data_root, preset.system, seed, bbox_ratio, cache_dir))
    return out
