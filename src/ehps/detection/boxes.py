"""Person boxes given by the user, read from JSON.

Accepted layouts (boxes in image pixels):

- a list of ``[x, y, w, h]``;
- ``{"boxes": [[...], ...], "format": "xywh" | "xyxy"}`` (``format`` defaults to ``"xywh"``);
- COCO-style ``[{"bbox": [x, y, w, h], ...}, ...]`` or ``{"annotations": [...]}`` (entries
  with ``"category_id"`` other than 1, COCO's person, are skipped).

Pass the result to ``MediapipeDetector.detect(image, boxes_xywh)`` to get landmarks inside each
box without running the person search.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ehps.errors import InputError
from ehps.utils.safe_yaml import load_json_file

__all__ = ["load_boxes", "parse_boxes"]


def parse_boxes(data: Any, source: str = "boxes") -> np.ndarray:
    """Boxes from already-parsed JSON (see the module docstring) -> (N, 4) float32 xywh.

    Raises:
        InputError: unknown layout, a box that is not 4 finite numbers, or a non-positive size.
    """
    fmt = "xywh"
    if isinstance(data, dict):
        if "boxes" in data:
            fmt = str(data.get("format", "xywh")).lower()
            data = data["boxes"]
        elif "annotations" in data:
            data = data["annotations"]
        else:
            raise InputError(
                f"{source}: expected a list of boxes or an object with 'boxes' or "
                f"'annotations', got keys {sorted(data)}"
            )
    if fmt not in ("xywh", "xyxy"):
        raise InputError(f"{source}: box format must be 'xywh' or 'xyxy', got {fmt!r}")
    if not isinstance(data, list):
        raise InputError(f"{source}: expected a list of boxes, got {type(data).__name__}")
    rows = []
    for i, item in enumerate(data):
        if isinstance(item, dict):
            if item.get("category_id", 1) != 1:
                continue
            if "bbox" not in item:
                raise InputError(f"{source}: entry {i} has no 'bbox'")
            item = item["bbox"]
        try:
            row = np.asarray(item, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError, OverflowError, RecursionError) as exc:
            raise InputError(f"{source}: box {i} is not a list of numbers: {item!r}") from exc
        if row.size != 4 or not np.isfinite(row).all():
            raise InputError(f"{source}: box {i} must be 4 finite numbers, got {item!r}")
        if fmt == "xyxy":
            row = np.array([row[0], row[1], row[2] - row[0], row[3] - row[1]])
        if row[2] <= 0 or row[3] <= 0:
            raise InputError(f"{source}: box {i} has a non-positive width or height: {item!r}")
        rows.append(row)
    return np.asarray(rows, dtype=np.float32).reshape(-1, 4)


def load_boxes(path: str | os.PathLike[str]) -> np.ndarray:
    """Read person boxes from a JSON file -> (N, 4) float32 xywh in image pixels.

    Raises:
        InputError: the file is missing, unreadable, not JSON or not a known box layout.
    """
    path = Path(path)
    data = load_json_file(path, InputError, "boxes file")
    return parse_boxes(data, source=f"boxes '{path}'")
