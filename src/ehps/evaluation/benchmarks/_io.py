"""Small readers shared by the benchmark evaluators: JSON and COCO-style annotation files, PLY
meshes, SMPL-X parameter records and the official box processing."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ehps.errors import InputError
from ehps.geometry.crop import process_bbox

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

PathLike = str | os.PathLike[str]


def read_json(path: PathLike) -> Any:
    """Parse a JSON file; :class:`InputError` naming the file when it is missing or invalid."""
    p = Path(path)
    try:
        with open(p, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError as exc:
        raise InputError(f"annotation file not found: {p}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{p} is not valid JSON: {exc}") from exc


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


_PLY_TYPES = {
    "char": "i1", "uchar": "u1", "int8": "i1", "uint8": "u1", "short": "i2", "ushort": "u2",
    "int16": "i2", "uint16": "u2", "int": "i4", "uint": "u4", "int32": "i4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}  # fmt: skip


def read_ply_vertices(path: PathLike) -> np.ndarray:
    """(N, 3) float64 vertex positions of a PLY file (ASCII or binary, little or big endian).

    Only the ``vertex`` element is read (its scalar properties ``x``, ``y``, ``z`` among
    others); it must come first in the file, as in every mesh writer we know (EHF's
    ``*_align.ply`` included). Written here instead of adding a mesh library to the evaluation
    dependencies.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(f"mesh file not found: {p}") from exc
    end = raw.find(b"end_header")
    if not raw.startswith(b"ply") or end < 0:
        raise InputError(f"{p} is not a PLY file")
    body_start = raw.index(b"\n", end) + 1
    header = raw[:end].decode("ascii", errors="replace").splitlines()
    fmt, n_vert, props, first = None, None, [], None
    current = None
    for line in header:
        tok = line.split()
        if not tok:
            continue
        if tok[0] == "format":
            fmt = tok[1]
        elif tok[0] == "element":
            current = tok[1]
            if first is None:
                first = current
            if current == "vertex":
                n_vert = int(tok[2])
        elif tok[0] == "property" and current == "vertex":
            if tok[1] == "list":
                raise InputError(f"{p}: list properties on vertices are not supported")
            props.append((tok[2], _PLY_TYPES.get(tok[1])))
    names = [n for n, _ in props]
    if n_vert is None or first != "vertex" or not {"x", "y", "z"} <= set(names):
        raise InputError(f"{p}: expected a leading 'vertex' element with x, y, z properties")
    if any(t is None for _, t in props):
        raise InputError(f"{p}: unknown vertex property type in {props}")
    cols = [names.index(c) for c in ("x", "y", "z")]
    if fmt == "ascii":
        lines = raw[body_start:].decode("ascii", errors="replace").splitlines()
        rows = [ln.split() for ln in lines[:n_vert]]
        if len(rows) < n_vert:
            raise InputError(f"{p}: the file ends before {n_vert} vertices")
        data = np.array([[float(r[c]) for c in cols] for r in rows], dtype=np.float64)
        return data
    if fmt not in ("binary_little_endian", "binary_big_endian"):
        raise InputError(f"{p}: unknown PLY format {fmt!r}")
    order = "<" if fmt == "binary_little_endian" else ">"
    dtype = np.dtype([(n, order + t) for n, t in props])  # type: ignore[operator]
    need = dtype.itemsize * n_vert
    if len(raw) - body_start < need:
        raise InputError(f"{p}: the file ends before {n_vert} vertices")
    arr = np.frombuffer(raw, dtype=dtype, count=n_vert, offset=body_start)
    return np.stack([arr["x"], arr["y"], arr["z"]], axis=1).astype(np.float64)


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
