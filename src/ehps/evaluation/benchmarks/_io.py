"""Small readers shared by the benchmark evaluators: JSON and COCO-style annotation files, PLY
meshes (:func:`ehps.utils.ply.read_ply_vertices`, re-exported), SMPL-X parameter records and the
official box processing."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ehps.errors import InputError
from ehps.geometry.crop import process_bbox
from ehps.utils.io import PathLike
from ehps.utils.ply import read_ply_vertices
from ehps.utils.safe_yaml import load_json_file

__all__ = [
    "read_json",
    "coco_records",
    "read_ply_vertices",
    "crop_box",
    "rodrigues_np",
    "merge_rotation_into_root",
    "image_size",
    "strip_trim",
]



def read_json(path: PathLike) -> Any:
    """Parse a JSON file; :class:`InputError` naming the file when it is missing or invalid."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"annotation file not found: {p}")
    return load_json_file(p, InputError, "annotation file", max_bytes=None)


def coco_records(db: Mapping[str, Any], path: PathLike) -> Iterator[tuple[dict, dict]]:
    """(annotation, image) pairs of a COCO-style dict, in annotation order (the order of
    ``pycocotools.COCO(...).anns``)."""
    if "annotations" not in db or "images" not in db:
        raise InputError(f"{path} is not a COCO-style file (needs 'images' and 'annotations')")
    images = {img["id"]: img for img in db["images"]}
    for ann in db["annotations"]:
        img = images.get(ann["image_id"])
        if img is None:
            raise InputError(f"{path}: annotation {ann.get('id')} names unknown image "
                             f"{ann['image_id']}")
        yield ann, img


def crop_box(bbox_xywh: Any, img_w: int, img_h: int, ratio: float) -> np.ndarray | None:
    """The official ``process_bbox`` (clip, aspect 3:4, scale by ``ratio``) or ``None``."""
    box = np.asarray(bbox_xywh, np.float64).reshape(-1)[:4]
    return process_bbox(box, int(img_w), int(img_h), ratio=ratio)


def rodrigues_np(rotvec: Any) -> np.ndarray:
    """(3,) axis-angle -> (3, 3) float64 rotation, with OpenCV's ``Rodrigues`` (the official
    tool)."""
    r, _ = cv2.Rodrigues(np.asarray(rotvec, np.float64).reshape(3, 1))
    return r


def merge_rotation_into_root(root_aa: Any, rotation: np.ndarray) -> np.ndarray:
    """Axis-angle (3,) of ``rotation @ R(root)``: how the official loaders put a camera
    extrinsic rotation into the root pose."""
    r = rotation @ rodrigues_np(root_aa)
    aa, _ = cv2.Rodrigues(r)
    return aa.reshape(3)


@functools.lru_cache(maxsize=4096)
def _image_size(key: str) -> tuple[int, int]:
    img = cv2.imread(key, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if img is None:
        raise InputError(f"cannot read image {key}")
    return int(img.shape[0]), int(img.shape[1])


def image_size(path: PathLike) -> tuple[int, int]:
    """(height, width) of an image file (decoded once and cached)."""
    return _image_size(str(path))


def strip_trim(video_name: str) -> str:
    """UBody video folder names drop a ``_Trim...`` suffix before the split-list lookup."""
    return video_name.split("_Trim")[0]
