"""HumanData (mmhuman3d ``.npz``) reader. The writer, which uses this reader, lives in
:mod:`ehps.data.humandata_writer` (``write_humandata``, ``keypoints_to_human_data``,
``flatten_humandata``); both are exported by :mod:`ehps.data`.

Reader (:class:`HumanData`): opens a file without reading it; each key is loaded on first use and
memory-mapped when the member is stored uncompressed (or decompressed once into ``cache_dir``), so a
ten-million-row file costs nothing until rows are touched and DataLoader workers share pages. Dict
values (``smplx``, ``smpl``, ``smplh``, ``meta``, ``misc``) are accepted in both layouts:

- *official*: a pickled 0-d object array, read with a restricted unpickler (numpy arrays and plain
  containers only; see :mod:`ehps.data.npz_access`);
- *flat* (what :func:`write_humandata` writes by default): one plain member per field, named
  ``<key>.<field>`` (e.g. ``smplx.global_orient``), loadable with ``allow_pickle=False``.

Keypoints follow the 190-point ``HUMAN_DATA`` convention; with ``__keypoints_compressed__`` only
the mask-valid columns are stored and :class:`Keypoints` scatters them back. The 3D / 2D key
actually used is the first present one in :data:`KPS3D_KEYS` / :data:`KPS2D_KEYS`.

Shapes: ``N`` rows (one person instance each). Units: pixels for 2D keypoints and boxes, metres in
the dataset's camera frame for 3D keypoints, axis-angle radians for poses.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ehps.bodymodels.joint_sets import SMPLX_POSE_SHAPES
from ehps.data.humandata_conventions import (
    KPS2D_KEYS,
    KPS3D_KEYS,
    NUM_HUMAN_DATA_KEYPOINTS,
    PARAM_DICT_KEYS,
    SMPLX_137_MAPPING,
)
from ehps.data.npz_access import NpzArchive
from ehps.errors import InputError
from ehps.utils.untrusted import checked_array

__all__ = ["HumanData", "Keypoints"]

#: Expected trailing shapes of body-model parameter fields (first axis = rows).
_PARAM_SHAPES: dict[str, tuple[int, ...]] = {
    **SMPLX_POSE_SHAPES,
    "leye_pose": (3,),
    "reye_pose": (3,),
    "transl": (3,),
    "lhand_root": (3,),
    "rhand_root": (3,),
}
_BOX_KEYS = ("bbox_xywh", "lhand_bbox_xywh", "rhand_bbox_xywh", "face_bbox_xywh")


@dataclass
class Keypoints:
    """One keypoint key of a HumanData file, possibly compressed.

    Attributes:
        key: the member name, e.g. ``"keypoints3d_cam"``.
        data: (N, K, D) raw array: K = 190, or the number of valid columns when compressed.
        mask: (190,) float32, 1 where the keypoint exists in the source dataset.
        compressed: whether ``data`` holds only the mask-valid columns.
    """

    key: str
    data: np.ndarray
    mask: np.ndarray
    compressed: bool

    def __post_init__(self) -> None:
        valid = np.flatnonzero(self.mask > 0)
        # position of each of the 190 keypoints inside ``data`` (-1: not stored)
        pos = np.full(NUM_HUMAN_DATA_KEYPOINTS, -1, dtype=np.int64)
        if self.compressed:
            pos[valid] = np.arange(valid.size)
        else:
            pos[:] = np.arange(NUM_HUMAN_DATA_KEYPOINTS)
        self._pos = pos

    def take(
        self, rows: int | np.ndarray, index: np.ndarray = SMPLX_137_MAPPING, dims: int = 3
    ) -> np.ndarray:
        """Rows of keypoints selected by a 190-index table, decompressed.

        Args:
            rows: one row or an array of rows.
            index: (J,) indices into the 190 keypoints (default: the official 137 mapping).
            dims: how many leading coordinates to keep (2 for x, y; 3 for x, y, z).

        Returns:
            (J, dims) or (R, J, dims) float32; keypoints absent from a compressed file are zero.
        """
        src = self._pos[np.asarray(index)]
        present = src >= 0
        single = np.ndim(rows) == 0
        block = self.data[rows]
        block = block[None] if single else block
        out = np.zeros((block.shape[0], src.size, dims), dtype=np.float32)
        out[:, present] = block[:, src[present], :dims]
        return out[0] if single else out

    def mask_of(self, index: np.ndarray = SMPLX_137_MAPPING) -> np.ndarray:
        """(J,) float32 validity of the keypoints selected by ``index``."""
        return self.mask[np.asarray(index)].astype(np.float32)


class HumanData:
    """Read-only, lazy view of one HumanData ``.npz`` file.

    Args:
        path: the ``.npz`` file.
        cache_dir: directory where deflated (``savez_compressed``) members are decompressed once so
            that they can be memory-mapped; ``None`` loads such members into memory on first use.

    Raises:
        InputError: the file is missing, not an ``.npz``, lacks ``image_path`` / ``bbox_xywh``, or
            a key has the wrong shape (the message names the key and the problem).
    """

    def __init__(
        self, path: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None = None
    ) -> None:
        self.path = Path(path)
        self._archive = NpzArchive(self.path, cache_dir)
        self._arrays: dict[str, np.ndarray] = {}
        self._dicts: dict[str, dict[str, np.ndarray]] = {}
        members = self._archive.keys()
        self._flat_groups: dict[str, list[str]] = {}
        for name in members:
            head, dot, field = name.partition(".")
            if dot and head in PARAM_DICT_KEYS:
                self._flat_groups.setdefault(head, []).append(field)
        self._members = set(members)
        for required in ("image_path", "bbox_xywh"):
            if required not in self._members:
                raise InputError(
                    f"{self.path}: HumanData key '{required}' is missing; every HumanData file "
                    "needs 'image_path' (N,) and 'bbox_xywh' (N, 5)"
                )
        shape, _ = self._archive.header("image_path")
        if len(shape) != 1:
            raise InputError(f"{self.path}: 'image_path' must be 1-D (N,), got shape {shape}")
        self.num_rows: int = int(shape[0])
        self._check_headers()

    # ------------------------------------------------------------------ structure
    def __len__(self) -> int:
        return self.num_rows

    def keys(self) -> list[str]:
        """Top-level keys (flattened ``<key>.<field>`` members are reported as ``<key>``)."""
        plain = [k for k in self._members if k.partition(".")[0] not in self._flat_groups]
        return sorted(set(plain) | set(self._flat_groups))

    def __contains__(self, key: object) -> bool:
        return key in self._members or key in self._flat_groups

    def _check_headers(self) -> None:
        n = self.num_rows
        for key in self._members:
            numeric = True
            if "." in key and key.partition(".")[0] in self._flat_groups:
                shape, dtype = self._archive.header(key)
                field = key.partition(".")[2]
                if key.startswith("meta.") or key.startswith("misc."):
                    continue
                self._check_param(key.partition(".")[0], field, shape)
            elif key in _BOX_KEYS:
                shape, dtype = self._archive.header(key)
                if len(shape) != 2 or shape[0] != n or shape[1] not in (4, 5):
                    raise InputError(
                        f"{self.path}: '{key}' must have shape ({n}, 5) (xywh + confidence), "
                        f"got {shape}"
                    )
            elif key.startswith("keypoints") and not key.endswith("_mask"):
                shape, dtype = self._archive.header(key)
                if len(shape) != 3 or shape[0] != n or shape[2] < 2:
                    raise InputError(
                        f"{self.path}: '{key}' must have shape ({n}, K, D) with D >= 2, got {shape}"
                    )
            elif key.endswith("_mask") and key.startswith("keypoints"):
                shape, dtype = self._archive.header(key)
                if shape != (NUM_HUMAN_DATA_KEYPOINTS,):
                    raise InputError(
                        f"{self.path}: '{key}' must have shape (190,) (HUMAN_DATA convention), "
                        f"got {shape}"
                    )
            else:
                numeric = False
            if numeric and dtype.kind not in "biuf":
                raise InputError(
                    f"{self.path}: '{key}' must hold numbers, got dtype {dtype}; the file is "
                    "corrupt or not HumanData"
                )

    def _check_param(self, group: str, field: str, shape: tuple[int, ...]) -> None:
        n = self.num_rows
        if not shape or shape[0] != n:
            raise InputError(
                f"{self.path}: '{group}.{field}' must have {n} rows (one per image_path), "
                f"got shape {shape}"
            )
        want = _PARAM_SHAPES.get(field)
        if want is not None and int(np.prod(shape[1:])) != int(np.prod(want)):
            if not (group == "smpl" and field == "body_pose"):
                raise InputError(
                    f"{self.path}: '{group}.{field}' must hold {want} values per row, "
                    f"got shape {shape}"
                )

    # ------------------------------------------------------------------ values
    def array(self, key: str) -> np.ndarray:
        """A plain array member (memory-mapped when possible)."""
        if key in self._flat_groups or (key in PARAM_DICT_KEYS and key in self._members):
            raise InputError(f"{self.path}: '{key}' is a dict; use HumanData.param_dict('{key}')")
        if key not in self._arrays:
            if key not in self._members:
                raise InputError(
                    f"{self.path}: HumanData key '{key}' is missing (present: {self.keys()})"
                )
            arr = self._archive.load(key)
            if arr.dtype.hasobject:  # a pickled member: only text (e.g. image paths) is plain
                items = arr.reshape(-1).tolist()
                if not all(isinstance(v, str) for v in items):
                    raise InputError(
                        f"{self.path}: '{key}' holds pickled Python objects, not an array of "
                        "numbers or text; the file is corrupt or not HumanData"
                    )
                arr = np.asarray(items, dtype=str).reshape(arr.shape)
            self._arrays[key] = arr
        return self._arrays[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.array(key) if key in self._members and "." not in key else default

    def param_dict(self, key: str) -> dict[str, np.ndarray]:
        """A dict value (``smplx``, ``smpl``, ``smplh``, ``meta``, ``misc``) as field -> array.

        Official files store the dict pickled (read through the restricted unpickler); files from
        :func:`write_humandata` store one member per field. Both give the same result.
        """
        if key in self._dicts:
            return self._dicts[key]
        if key in self._flat_groups:
            value = {f: self._archive.load(f"{key}.{f}") for f in self._flat_groups[key]}
            if key not in ("meta", "misc"):
                value = {f: checked_array(v, f"{self.path}: '{key}.{f}'", InputError)
                         for f, v in value.items()}
        elif key in self._members:
            raw = self._archive.load(key)
            obj = raw.item() if isinstance(raw, np.ndarray) and raw.dtype == object else raw
            if not isinstance(obj, Mapping):
                raise InputError(
                    f"{self.path}: '{key}' must be a dict of arrays, got {type(obj).__name__}"
                )
            value = {str(k): v for k, v in obj.items()}
            if key not in ("meta", "misc"):
                value = {f: checked_array(v, f"{self.path}: '{key}.{f}'", InputError)
                         for f, v in value.items()}
                for field, arr in value.items():
                    self._check_param(key, field, np.shape(arr))
        else:
            raise InputError(f"{self.path}: HumanData key '{key}' is missing")
        self._dicts[key] = value
        return value

    @property
    def keypoints_compressed(self) -> bool:
        """The ``__keypoints_compressed__`` flag (absent means False)."""
        if "__keypoints_compressed__" not in self._members:
            return False
        flag = np.asarray(self.array("__keypoints_compressed__")).reshape(-1)
        if flag.size != 1 or flag.dtype.kind not in "biuf":
            raise InputError(f"{self.path}: '__keypoints_compressed__' must be one boolean, got "
                             f"{flag.dtype} {flag.shape}")
        return bool(flag[0])

    def keypoints(self, key: str) -> Keypoints:
        """The keypoint member ``key`` with its mask (``<key>_mask``, else the generic
        ``keypoints3d_mask`` / ``keypoints2d_mask``, else all ones for uncompressed files)."""
        data = self.array(key)
        kind = "keypoints3d" if key.startswith("keypoints3d") else "keypoints2d"
        compressed = self.keypoints_compressed
        if f"{key}_mask" in self._members:
            mask = np.asarray(self.array(f"{key}_mask"), dtype=np.float32)
        elif f"{kind}_mask" in self._members and not compressed:
            mask = np.asarray(self.array(f"{kind}_mask"), dtype=np.float32)
        elif compressed:
            raise InputError(
                f"{self.path}: '{key}' is compressed but '{key}_mask' is missing; a compressed "
                "keypoint array cannot be expanded without its mask"
            )
        else:
            mask = np.ones(NUM_HUMAN_DATA_KEYPOINTS, dtype=np.float32)
        if compressed:
            if int((mask > 0).sum()) != data.shape[1]:
                raise InputError(
                    f"{self.path}: '{key}' stores {data.shape[1]} keypoints but '{key}_mask' marks "
                    f"{int((mask > 0).sum())} as valid; the file is inconsistent"
                )
        elif data.shape[1] != NUM_HUMAN_DATA_KEYPOINTS:
            raise InputError(
                f"{self.path}: '{key}' must have 190 keypoints (HUMAN_DATA), got {data.shape[1]}"
            )
        return Keypoints(key=key, data=data, mask=mask, compressed=compressed)

    def first_keypoints(self, kind: Literal["2d", "3d"]) -> Keypoints | None:
        """The highest-priority keypoint key of ``kind`` present, or ``None``."""
        for key in KPS3D_KEYS if kind == "3d" else KPS2D_KEYS:
            if key in self._members:
                return self.keypoints(key)
        return None

    def body_params(self) -> tuple[str, dict[str, np.ndarray]] | None:
        """``("smplx" | "smpl" | "smplh", fields)`` by the official priority, or ``None``."""
        for key in ("smplx", "smpl", "smplh"):
            if key in self:
                return key, self.param_dict(key)
        return None

    def image_hw(self) -> np.ndarray | None:
        """(N, 2) int per-row image (height, width) from ``meta``, or ``None``."""
        if "meta" not in self:
            return None
        meta = self.param_dict("meta")
        if "height" not in meta or "width" not in meta:
            return None
        h = checked_array(meta["height"], f"{self.path}: 'meta.height'", InputError).reshape(-1)
        w = checked_array(meta["width"], f"{self.path}: 'meta.width'", InputError).reshape(-1)
        if h.size != self.num_rows or w.size != self.num_rows:
            raise InputError(
                f"{self.path}: 'meta.height'/'meta.width' must have {self.num_rows} entries, "
                f"got {h.size}/{w.size}"
            )
        return np.stack([h, w], axis=-1).astype(np.int64)
