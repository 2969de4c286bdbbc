"""HumanData (mmhuman3d ``.npz``) writer: new files from arrays, and flattening of official files.

Files are written atomically. Dict values (``smplx``, ``smpl``, ``meta``, ``misc``) are stored as
flat ``<key>.<field>`` members by default (readable without unpickling and memory-mappable by
:class:`ehps.data.humandata.HumanData`), or as pickled dicts like mmhuman3d for the official tools.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ehps.data.humandata_conventions import (
    NUM_HUMAN_DATA_KEYPOINTS,
    PARAM_DICT_KEYS,
    SMPLX_137_MAPPING,
)
from ehps.errors import InputError
from ehps.utils.io import atomic_open

__all__ = ["write_humandata", "keypoints_to_human_data", "flatten_humandata"]


def keypoints_to_human_data(
    joints: np.ndarray, convention: Literal["smplx144", "smplx137"] = "smplx144"
) -> tuple[np.ndarray, np.ndarray]:
    """Scatter SMPL-X joints into the 190-point HUMAN_DATA layout.

    Args:
        joints: (N, 144, D) SMPL-X output joints, or (N, 137, D) supervision joints.
        convention: which of the two ``joints`` holds.

    Returns:
        ``(keypoints (N, 190, D) float32, mask (190,) float32)``; reading them back with
        :meth:`Keypoints.take` gives the 137 set, except that the face "eyeball" slots 67 / 68
        return the body's right / left eye (the official 190 -> 137 table maps both pairs to the
        same two HUMAN_DATA points).
    """
    joints = np.asarray(joints, dtype=np.float32)
    n, j, d = joints.shape
    out = np.zeros((n, NUM_HUMAN_DATA_KEYPOINTS, d), dtype=np.float32)
    mask = np.zeros(NUM_HUMAN_DATA_KEYPOINTS, dtype=np.float32)
    if convention == "smplx144":
        if j != 144:
            raise InputError(f"expected (N, 144, D) SMPL-X joints, got {joints.shape}")
        out[:, :144] = joints
        mask[:144] = 1.0
    else:
        if j != 137:
            raise InputError(f"expected (N, 137, D) supervision joints, got {joints.shape}")
        # two HUMAN_DATA points (the eyes) serve two 137 slots each; the body slots win
        slots, first = np.unique(SMPLX_137_MAPPING, return_index=True)
        out[:, slots] = joints[:, first]
        mask[slots] = 1.0
    return out, mask


def _as_rows(name: str, value: Any, n: int) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim == 0 or arr.shape[0] != n:
        raise InputError(f"'{name}' must have {n} rows (one per image_path), got shape {arr.shape}")
    if arr.dtype == object:
        raise InputError(f"'{name}' must be a numeric or string array, not objects")
    return arr


def write_humandata(
    path: str | os.PathLike[str],
    *,
    image_path: Sequence[str] | np.ndarray,
    bbox_xywh: np.ndarray,
    keypoints2d: np.ndarray | None = None,
    keypoints2d_mask: np.ndarray | None = None,
    keypoints3d: np.ndarray | None = None,
    keypoints3d_mask: np.ndarray | None = None,
    keypoints3d_key: str = "keypoints3d",
    keypoints2d_key: str = "keypoints2d",
    lhand_bbox_xywh: np.ndarray | None = None,
    rhand_bbox_xywh: np.ndarray | None = None,
    face_bbox_xywh: np.ndarray | None = None,
    smplx: Mapping[str, np.ndarray] | None = None,
    smpl: Mapping[str, np.ndarray] | None = None,
    meta: Mapping[str, Any] | None = None,
    misc: Mapping[str, Any] | None = None,
    compress_keypoints: bool = False,
    layout: Literal["flat", "official"] = "flat",
    compressed: bool = False,
) -> Path:
    """Write a HumanData ``.npz`` atomically.

    Args:
        path: output file.
        image_path: (N,) image paths relative to the dataset's image root.
        bbox_xywh: (N, 4) or (N, 5) body boxes in pixels (+ confidence; 1 is added when absent).
        keypoints2d, keypoints3d: (N, 190, 3) / (N, 190, 4) in the HUMAN_DATA convention (see
            :func:`keypoints_to_human_data`), pixels / metres (camera frame), last column
            confidence.
        keypoints2d_mask, keypoints3d_mask: (190,) validity; default all ones.
        keypoints3d_key, keypoints2d_key: member names (e.g. ``"keypoints3d_cam"``).
        lhand_bbox_xywh, rhand_bbox_xywh, face_bbox_xywh: (N, 5) part boxes, confidence 0 = absent.
        smplx, smpl: dicts of (N, ...) arrays (``global_orient``, ``body_pose``, ``betas`` ...).
        meta: dict of (N,) arrays (e.g. ``height``, ``width``, ``gender``) or scalars.
        misc: free-form dict of arrays / scalars.
        compress_keypoints: store only the mask-valid keypoint columns
            (``__keypoints_compressed__``).
        layout: ``"flat"`` stores dicts as ``<key>.<field>`` members (no pickle needed to read);
            ``"official"`` stores them as pickled dicts like mmhuman3d, for the official tools.
        compressed: deflate the archive (smaller, but then readers cannot memory-map it).

    Returns:
        The written path.
    """
    paths = np.asarray(list(image_path) if not isinstance(image_path, np.ndarray) else image_path)
    if paths.ndim != 1:
        raise InputError(f"'image_path' must be 1-D, got shape {paths.shape}")
    paths = paths.astype(str)
    n = paths.shape[0]
    members: dict[str, Any] = {"image_path": paths, "__data_len__": np.asarray(n)}
    box = _as_rows("bbox_xywh", bbox_xywh, n).astype(np.float32)
    if box.ndim != 2 or box.shape[1] not in (4, 5):
        raise InputError(f"'bbox_xywh' must have shape (N, 4) or (N, 5), got {box.shape}")
    if box.shape[1] == 4:
        box = np.concatenate([box, np.ones((n, 1), np.float32)], axis=1)
    members["bbox_xywh"] = box
    for name, value in (
        ("lhand_bbox_xywh", lhand_bbox_xywh),
        ("rhand_bbox_xywh", rhand_bbox_xywh),
        ("face_bbox_xywh", face_bbox_xywh),
    ):
        if value is not None:
            arr = _as_rows(name, value, n).astype(np.float32)
            if arr.ndim != 2 or arr.shape[1] != 5:
                raise InputError(f"'{name}' must have shape (N, 5), got {arr.shape}")
            members[name] = arr
    for key, kps, mask, dim in (
        (keypoints2d_key, keypoints2d, keypoints2d_mask, 3),
        (keypoints3d_key, keypoints3d, keypoints3d_mask, 4),
    ):
        if kps is None:
            continue
        arr = _as_rows(key, kps, n).astype(np.float32)
        if arr.ndim != 3 or arr.shape[1] != NUM_HUMAN_DATA_KEYPOINTS or arr.shape[2] != dim:
            raise InputError(f"'{key}' must have shape (N, 190, {dim}), got {arr.shape}")
        m = (
            np.ones(NUM_HUMAN_DATA_KEYPOINTS, np.float32)
            if mask is None
            else np.asarray(mask, np.float32).reshape(-1)
        )
        if m.shape != (NUM_HUMAN_DATA_KEYPOINTS,):
            raise InputError(f"'{key}_mask' must have shape (190,), got {m.shape}")
        members[key] = arr[:, m > 0] if compress_keypoints else arr
        members[f"{key}_mask"] = m
    members["__keypoints_compressed__"] = np.asarray(bool(compress_keypoints))
    for group, value in (("smplx", smplx), ("smpl", smpl), ("meta", meta), ("misc", misc)):
        if value is None:
            continue
        fields: dict[str, np.ndarray] = {}
        for field, v in value.items():
            arr = np.asarray(v)
            if group in ("smplx", "smpl"):
                arr = _as_rows(f"{group}.{field}", arr, n).astype(np.float32)
            elif arr.dtype == object:
                raise InputError(f"'{group}.{field}' must be a numeric or string array")
            fields[str(field)] = arr
        if layout == "official":
            holder = np.empty((), dtype=object)
            holder[()] = fields
            members[group] = holder
        else:
            for field, arr in fields.items():
                members[f"{group}.{field}"] = arr
    target = Path(path)
    with atomic_open(target, "wb") as fh:
        (np.savez_compressed if compressed else np.savez)(fh, **members)
    return target


def flatten_humandata(
    src: str | os.PathLike[str], dst: str | os.PathLike[str]
) -> Path:
    """Rewrite any HumanData file (official pickled dicts, deflated) as an uncompressed file with
    flat ``<key>.<field>`` members, which :class:`HumanData` memory-maps without unpickling or
    decompressing anything. Keypoint compression and masks are kept as they are.

    Args:
        src: the input file (read through the restricted unpickler).
        dst: the output file (written atomically).
    """
    from ehps.data.humandata import HumanData

    hd = HumanData(src)
    members: dict[str, Any] = {}
    for key in hd.keys():
        if key in PARAM_DICT_KEYS:
            for field, value in hd.param_dict(key).items():
                arr = np.asarray(value)
                if arr.dtype == object:
                    raise InputError(f"{hd.path}: '{key}.{field}' holds Python objects; cannot "
                                     "store it without pickling")
                members[f"{key}.{field}"] = arr
        else:
            members[key] = hd.array(key)
    target = Path(dst)
    with atomic_open(target, "wb") as fh:
        np.savez(fh, **members)
    return target
