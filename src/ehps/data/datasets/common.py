"""Helpers shared by the dataset sources: the source protocol, vectorised box processing, the
official one-time shuffle, and mapping of named joint sets into the 137-keypoint set."""

from __future__ import annotations

import os
import random
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from ehps.bodymodels.joint_sets import JOINT_137_NAMES
from ehps.data.types import Annotation, FitParams
from ehps.errors import InputError
from ehps.geometry.crop import CROP_ASPECT, process_bbox
from ehps.utils.safe_yaml import load_json_file

__all__ = [
    "AnnotationSource",
    "ListSource",
    "OFFICIAL_SHUFFLE_SEED",
    "official_shuffle_order",
    "official_shuffle",
    "every_nth",
    "coco_body_box",
    "fit_and_camera",
    "process_bboxes",
    "part_box_xyxy",
    "map_to_137",
    "load_json",
    "fit_from_official_dict",
]

#: Seed of the official one-time shuffle of each dataset's item list (``random.seed(2023)``).
OFFICIAL_SHUFFLE_SEED = 2023

_T = TypeVar("_T")


@runtime_checkable
class AnnotationSource(Protocol):
    """Anything that yields :class:`Annotation` records by index (one dataset of a mixture)."""

    name: str

    def __len__(self) -> int: ...

    def annotation(self, index: int) -> Annotation: ...


class ListSource:
    """An :class:`AnnotationSource` over an in-memory list (bespoke loaders, tests)."""

    def __init__(self, name: str, records: Sequence[Annotation]) -> None:
        self.name = name
        self.records = list(records)

    def __len__(self) -> int:
        return len(self.records)

    def annotation(self, index: int) -> Annotation:
        return self.records[index]


def official_shuffle_order(n: int, seed: int = OFFICIAL_SHUFFLE_SEED) -> np.ndarray:
    """The permutation ``random.seed(seed); random.shuffle(lst)`` applies to a list of ``n`` items
    (element ``k`` of the result is the original index now at position ``k``). This is exactly the
    official balance-mode shuffle of a datalist of that length."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return np.asarray(order, dtype=np.int64)


def official_shuffle(items: Sequence[_T], seed: int | None) -> list[_T]:
    """``items`` in the order of :func:`official_shuffle_order` (as a new list, unshuffled when
    ``seed`` is ``None``)."""
    if seed is None:
        return list(items)
    return [items[i] for i in official_shuffle_order(len(items), seed)]


def every_nth(items: Iterable[_T], interval: int) -> Iterator[_T]:
    """The official training subsampling: items counted from 1 in order, kept when
    ``count % interval == 0`` (an interval below 1 keeps everything)."""
    n = max(1, int(interval))
    for count, item in enumerate(items, start=1):
        if count % n == 0:
            yield item


def coco_body_box(
    img: dict[str, Any], box: Sequence[float], ratio: float
) -> tuple[tuple[int, int], np.ndarray | None]:
    """Image size and processed body box of one COCO-format annotation.

    Args:
        img: the COCO image record (``width``, ``height`` in pixels).
        box: the annotation's raw body box, xywh pixels.
        ratio: enlargement factor for :func:`ehps.geometry.crop.process_bbox`.

    Returns:
        ``((height, width), box)``: the box (4,) float32 xywh, or ``None`` when it is degenerate.
    """
    w, h = int(img["width"]), int(img["height"])
    return (h, w), process_bbox(np.asarray(box, np.float32), w, h, ratio=ratio)


def fit_and_camera(
    entry: dict[str, Any] | None,
    lhand_valid: bool | None = None,
    rhand_valid: bool | None = None,
    face_valid: bool | None = None,
) -> tuple[FitParams | None, np.ndarray | None, np.ndarray | None]:
    """An official fit record ``{"smplx_param": {...}, "cam_param": {"focal", "princpt"}}``
    (NeuralAnnot JSON) -> ``(fit, focal (2,), princpt (2,))`` float32 pixels; all ``None`` for a
    missing record. The validity flags are passed on to :func:`fit_from_official_dict`."""
    if entry is None:
        return None, None, None
    fit = fit_from_official_dict(entry["smplx_param"], lhand_valid, rhand_valid, face_valid)
    cam = entry["cam_param"]
    return fit, np.asarray(cam["focal"], np.float32), np.asarray(cam["princpt"], np.float32)


def process_bboxes(
    boxes_xywh: np.ndarray,
    img_w: np.ndarray,
    img_h: np.ndarray,
    ratio: float,
    aspect: float = CROP_ASPECT,
) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised :func:`ehps.geometry.crop.process_bbox` (sanitise, 3:4 aspect, ``ratio``).

    Args:
        boxes_xywh: (N, >=4) boxes in pixels.
        img_w, img_h: (N,) or scalar image sizes.
        ratio: enlargement factor.

    Returns:
        ``(boxes (N, 4) float32, valid (N,) bool)``; invalid rows hold zeros (the scalar version
        returns ``None`` for them).
    """
    b = np.asarray(boxes_xywh, np.float64)[:, :4]
    iw = np.broadcast_to(np.asarray(img_w, np.float64), b.shape[:1])
    ih = np.broadcast_to(np.asarray(img_h, np.float64), b.shape[:1])
    x, y, w, h = b.T
    x1, y1 = np.maximum(0.0, x), np.maximum(0.0, y)
    x2 = np.minimum(iw - 1.0, x1 + np.maximum(0.0, w - 1.0))
    y2 = np.minimum(ih - 1.0, y1 + np.maximum(0.0, h - 1.0))
    valid = (w * h > 0) & (x2 > x1) & (y2 > y1)
    bw, bh = x2 - x1, y2 - y1
    cx, cy = x1 + bw / 2.0, y1 + bh / 2.0
    wide = bw > aspect * bh
    narrow = bw < aspect * bh
    bh = np.where(wide, bw / aspect, bh)
    bw = np.where(narrow, bh * aspect, bw)
    bw, bh = bw * ratio, bh * ratio
    out = np.stack([cx - bw / 2.0, cy - bh / 2.0, bw, bh], axis=1).astype(np.float32)
    out[~valid] = 0.0
    return out, valid


def part_box_xyxy(
    box: np.ndarray | None, img_w: int, img_h: int, ratio: float | None
) -> np.ndarray | None:
    """Hand / face box (xywh + optional confidence) -> processed xyxy, or ``None``.

    ``ratio`` ``None`` keeps the box as is (only xywh -> xyxy), else it goes through
    :func:`process_bbox` with that ratio (the official ``cfg.bbox_ratio`` path).
    """
    if box is None:
        return None
    arr = np.asarray(box, np.float32).reshape(-1)
    if arr.size >= 5 and not arr[4] > 0:
        return None
    xywh = arr[:4]
    if ratio is not None:
        processed = process_bbox(xywh, img_w, img_h, ratio=ratio)
        if processed is None:
            return None
        xywh = processed
    return np.array([xywh[0], xywh[1], xywh[0] + xywh[2], xywh[1] + xywh[3]], np.float32)


def map_to_137(
    joints: np.ndarray, valid: np.ndarray, names: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Move a named joint set into the 137 set by name (official
    ``transform_joint_to_other_db``): joints absent from the 137 set are dropped, 137 joints
    absent from ``names`` get zeros and validity 0.

    Args:
        joints: (J, D) joints in the source order.
        valid: (J,) validity.
        names: (J,) source joint names (official spelling, e.g. ``"L_Wrist"``).
    """
    joints = np.asarray(joints, np.float32)
    out = np.zeros((137, joints.shape[1]), np.float32)
    out_valid = np.zeros(137, np.float32)
    src, dst = _name_index(tuple(names))
    out[dst] = joints[src]
    out_valid[dst] = np.asarray(valid, np.float32).reshape(-1)[src]
    return out, out_valid


_NAME_CACHE: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray]] = {}


def _name_index(names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    if names not in _NAME_CACHE:
        pos = {n: i for i, n in enumerate(JOINT_137_NAMES)}
        pairs = [(i, pos[n]) for i, n in enumerate(names) if n in pos]
        src = np.array([p[0] for p in pairs], np.int64)
        dst = np.array([p[1] for p in pairs], np.int64)
        _NAME_CACHE[names] = (src, dst)
    return _NAME_CACHE[names]


def load_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON annotation file with a clear error when it is missing or malformed."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"annotation file not found: {p}")
    return load_json_file(p, InputError, "annotation file", max_bytes=None)


def fit_from_official_dict(
    param: dict[str, Any],
    lhand_valid: bool | None = None,
    rhand_valid: bool | None = None,
    face_valid: bool | None = None,
) -> FitParams:
    """A fit in the official per-sample dict layout (``root_pose``, ``body_pose``, ``shape``,
    ``trans``, ``lhand_pose``, ``rhand_pose``, ``jaw_pose``, ``expr`` and optional
    ``lhand_valid`` / ``rhand_valid`` / ``face_valid``; NeuralAnnot JSON and loader records) as
    :class:`FitParams`. Missing validity flags come from the arguments (the annotation's own
    flags, as the official loaders fill them), else default to True when the values exist.

    The face is valid only with both ``jaw_pose`` and ``expr`` present and ``face_valid``.
    """

    def arr(key: str, n: int | None = None) -> np.ndarray | None:
        if key not in param or param[key] is None:
            return None
        out = np.asarray(param[key], np.float32).reshape(-1)
        return out if n is None else out[:n]

    def flag(key: str, default: bool | None) -> bool:
        if key in param:
            return bool(param[key])
        return True if default is None else bool(default)

    lh, rh = arr("lhand_pose"), arr("rhand_pose")
    jaw, expr = arr("jaw_pose"), arr("expr")
    shape = np.zeros(10, np.float32)
    raw_shape = arr("shape")
    if raw_shape is not None:
        shape[: min(10, raw_shape.size)] = raw_shape[:10]
    expr10 = None
    if expr is not None:
        expr10 = np.zeros(10, np.float32)
        expr10[: min(10, expr.size)] = expr[:10]
    face = jaw is not None and expr is not None and flag("face_valid", face_valid)
    body = arr("body_pose")
    root = arr("root_pose")
    trans = arr("trans")
    return FitParams(
        global_orient=np.zeros(3, np.float32) if root is None else root[:3],
        body_pose=None if body is None else body[:63].reshape(21, 3),
        left_hand_pose=lh.reshape(15, 3) if lh is not None and flag("lhand_valid", lhand_valid)
        else None,
        right_hand_pose=rh.reshape(15, 3) if rh is not None and flag("rhand_valid", rhand_valid)
        else None,
        jaw_pose=jaw[:3] if face else None,
        expression=expr10 if face else None,
        betas=shape,
        transl=np.zeros(3, np.float32) if trans is None else trans[:3],
    )
