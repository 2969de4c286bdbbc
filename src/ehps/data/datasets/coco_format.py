"""The walk every bespoke COCO-format loader shares (MSCOCO, MPII, 3DPW, Human3.6M, EHF, UBody):
index the JSON, take every ``sample_interval``-th annotation, find its image record, process its
body box and drop degenerate ones, then shuffle the records once (official order)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ehps.data.datasets.common import (
    ListSource,
    coco_body_box,
    every_nth,
    load_json,
    official_shuffle,
)
from ehps.data.types import Annotation

if TYPE_CHECKING:
    from ehps.data.catalog import DatasetSpec

__all__ = ["CocoLayout", "CocoPerson", "coco_index", "coco_people", "load_coco_source"]


def coco_index(db: dict) -> tuple[dict[int, dict], list[dict]]:
    """(image id -> image record, annotations in file order) of a COCO-format dict."""
    images = {int(img["id"]): img for img in db.get("images", [])}
    return images, list(db.get("annotations", []))


@dataclass(frozen=True)
class CocoPerson:
    """One kept annotation of a COCO-format file.

    Attributes:
        ann: the annotation record. img: its image record.
        image_hw: (height, width) of the image, pixels.
        bbox_xywh: (4,) float32 processed body box, pixels.
    """

    ann: dict[str, Any]
    img: dict[str, Any]
    image_hw: tuple[int, int]
    bbox_xywh: np.ndarray


def coco_people(
    images: dict[int, dict],
    anns: Iterable[dict],
    bbox_ratio: float,
    skip: Callable[[dict, dict], bool] | None = None,
    box_key: str = "bbox",
) -> Iterator[CocoPerson]:
    """The annotations of ``anns`` with their image record and a usable body box.

    Args:
        images: image id -> image record (:func:`coco_index`).
        anns: annotations to walk (already subsampled).
        bbox_ratio: body box enlargement (:func:`ehps.data.datasets.common.coco_body_box`).
        skip: ``skip(ann, img)`` true drops an annotation before its box is processed.
        box_key: the annotation key of the raw xywh body box.
    """
    for ann in anns:
        img = images[int(ann["image_id"])]
        if skip is not None and skip(ann, img):
            continue
        hw, bbox = coco_body_box(img, ann[box_key], bbox_ratio)
        if bbox is not None:
            yield CocoPerson(ann, img, hw, bbox)


class CocoLayout:
    """A dataset whose first spec file is a COCO-format JSON, with its image folder.

    Attributes:
        files: the spec's files, resolved. image_root: its image folder.
        images / anns: :func:`coco_index` of ``files[0]``.
    """

    def __init__(self, spec: DatasetSpec, data_root: str | os.PathLike[str]) -> None:
        self.name = spec.name
        self.sample_interval = spec.sample_interval
        self.files, self.image_root = spec.resolve(Path(data_root))
        self.images, self.anns = coco_index(load_json(self.files[0]))

    def optional_json(self, index: int) -> Any:
        """The spec's ``index``-th file read as JSON; ``{}`` when the spec names fewer files."""
        return load_json(self.files[index]) if len(self.files) > index else {}

    def people(self, bbox_ratio: float, skip: Callable[[dict, dict], bool] | None = None,
               box_key: str = "bbox", subsample: bool = True) -> Iterator[CocoPerson]:
        """:func:`coco_people` over every ``sample_interval``-th annotation (all of them when
        ``subsample`` is false)."""
        anns = every_nth(self.anns, self.sample_interval) if subsample else self.anns
        return coco_people(self.images, anns, bbox_ratio, skip, box_key)

    def source(self, records: Sequence[Annotation], shuffle_seed: int | None) -> ListSource:
        """The records as a source, in the official one-time shuffle order of ``shuffle_seed``
        (unshuffled for ``None``)."""
        return ListSource(self.name, official_shuffle(records, shuffle_seed))


def load_coco_source(
    spec: DatasetSpec,
    data_root: str | os.PathLike[str],
    records: Callable[[CocoLayout, float], list[Annotation]],
    bbox_ratio: float,
    shuffle_seed: int | None,
) -> ListSource:
    """Read a COCO-format layout into a source: ``records(layout, bbox_ratio)`` makes the
    annotation records (e.g. :func:`ehps.data.datasets.mpii.mpii_records`), shuffled once in the
    official order of ``shuffle_seed`` (kept in file order for ``None``)."""
    coco = CocoLayout(spec, data_root)
    return coco.source(records(coco, bbox_ratio), shuffle_seed)
