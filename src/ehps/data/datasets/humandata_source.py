"""HumanData-backed annotation source: the official ``HumanDataset.load_data`` semantics without
building a Python dict per row.

At construction only per-row metadata is read (boxes, image sizes, the NaN check of the 3D
keypoints, SMPLest-X skip flags), vectorised; the surviving row numbers are kept in an int array.
:meth:`HumanDataSource.annotation` builds one :class:`Annotation` on demand from memory-mapped
arrays. Official rules kept on purpose:

- training rows are subsampled per file with ``row % interval == 0`` (multi-part datasets restart
  the count in every part); rows whose processed box is empty, or whose 3D keypoints contain NaN,
  are dropped; the body box ratio is ``bbox_ratio * 0.833`` (stored boxes are already padded by
  1.2), part boxes use ``bbox_ratio``;
- with ``shuffle_seed`` set (the official balance / weighted strategies), each file's surviving
  rows are permuted once as ``random.seed(2023); random.shuffle(rows)`` would (the balance sampler
  then takes each large dataset's *first* rows every epoch, as the official code does);
- joint validity is the per-dataset keypoint mask (3D mask when a 3D key exists, else 2D); the
  per-row keypoint confidence is ignored, as in the official loader;
- ``betas_neutral`` replaces ``betas`` when present; SMPL / SMPL-H labels drop their betas and
  SMPL's body pose keeps its first 21 joints; hand labels stored with ``flat_hand_mean=True``
  (spec ``flat_hand_mean_in``) get the mean hand subtracted;
- SMPLest-X additionally skips AGORA ``annot_valid == 0``, UBody / MSCOCO crowd, zero-keypoint and
  invalid-label rows and kids (``betas_extra != 0``), treats an all-zero hand pose as missing (and
  then also the hand's keypoints; the official code writes this into a mask array shared by all
  rows, an aliasing bug we do not copy) and applies the quirks named in the spec.

The Talkshow quirk (right-hand label taken from the left hand) is an official bug kept for
fidelity; drop it with ``dataclasses.replace(spec, quirks=frozenset())``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Literal

import numpy as np

from ehps.bodymodels.joint_sets import JOINT_137_LWRIST_IDX, JOINT_137_PARTS, JOINT_137_RWRIST_IDX
from ehps.data.catalog import DatasetSpec
from ehps.data.datasets.common import official_shuffle_order, part_box_xyxy, process_bboxes
from ehps.data.humandata import HumanData, Keypoints
from ehps.data.humandata_conventions import SMPLX_HAND_MEAN_LEFT, SMPLX_HAND_MEAN_RIGHT
from ehps.data.types import Annotation, FitParams
from ehps.errors import InputError
from ehps.geometry.crop import DEFAULT_BBOX_RATIO, process_bbox

__all__ = ["HumanDataSource", "BODY_BOX_RATIO_FACTOR"]

#: Stored HumanData body boxes are padded by 1.2 already; the loader multiplies its ratio by this.
BODY_BOX_RATIO_FACTOR = 0.833
_NAN_CHUNK = 65536


class _File:
    def __init__(self, hd: HumanData, rows: np.ndarray, hw: np.ndarray) -> None:
        self.hd = hd
        self.rows = rows
        self.hw = hw  # (N, 2) per-row image size
        self.kp3d: Keypoints | None = hd.first_keypoints("3d")
        self.kp2d: Keypoints | None = hd.first_keypoints("2d")
        self.params = hd.body_params()
        mask = self.kp3d if self.kp3d is not None else self.kp2d
        self.joint_mask = (
            mask.mask_of() if mask is not None else np.zeros(137, np.float32)
        )


class HumanDataSource:
    """One catalog dataset read from its HumanData files.

    Args:
        spec: the dataset spec (``loader == "humandata"``); its ``sample_interval`` is applied.
        data_root: the data root the spec's relative paths start from.
        system: whose loader rules apply (``"smplerx"`` or ``"smplestx"``).
        bbox_ratio: the official ``cfg.bbox_ratio`` (1.2).
        shuffle_seed: seed of the one-time row shuffle (2023 for the official balance / weighted
            strategies), or ``None`` to keep file order (official ``concat``).
        cache_dir: where deflated ``.npz`` members and the row index are cached.
        files: override the spec's file list (absolute or data-root relative).
    """

    def __init__(
        self,
        spec: DatasetSpec,
        data_root: str | os.PathLike[str],
        system: Literal["smplerx", "smplestx"] = "smplerx",
        bbox_ratio: float = DEFAULT_BBOX_RATIO,
        shuffle_seed: int | None = 2023,
        cache_dir: str | os.PathLike[str] | None = None,
        files: tuple[str, ...] | None = None,
    ) -> None:
        if spec.loader != "humandata":
            raise InputError(f"dataset '{spec.name}' has loader '{spec.loader}', not humandata")
        self.name = spec.name
        self.spec = spec
        self.system = system
        self.bbox_ratio = float(bbox_ratio)
        root = Path(data_root)
        paths = [root / f for f in files] if files else spec.resolve(root)[0]
        self.image_root = root / spec.image_root
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._files: list[_File] = []
        for path in paths:
            hd = HumanData(path, cache_dir=self.cache_dir)
            rows, hw = self._select_rows(hd)
            if shuffle_seed is not None:
                rows = rows[official_shuffle_order(rows.size, shuffle_seed)]
            self._files.append(_File(hd, rows, hw))
        self._bounds = np.cumsum([f.rows.size for f in self._files])

    # ------------------------------------------------------------------ selection
    def _image_hw(self, hd: HumanData) -> np.ndarray:
        hw = hd.image_hw()
        if hw is not None:
            return hw
        if self.spec.image_hw is None:
            raise InputError(
                f"{hd.path}: per-row image sizes are missing ('meta.height' / 'meta.width') and "
                f"dataset '{self.name}' has no fixed image_hw; add them to the file or register "
                "the spec with image_hw=(height, width)"
            )
        return np.broadcast_to(np.asarray(self.spec.image_hw, np.int64), (hd.num_rows, 2))

    def _select_rows(self, hd: HumanData) -> tuple[np.ndarray, np.ndarray]:
        n = hd.num_rows
        interval = max(1, int(self.spec.sample_interval))
        keep = np.zeros(n, bool)
        keep[::interval] = True
        hw = self._image_hw(hd)
        _, box_ok = process_bboxes(
            hd.array("bbox_xywh"), hw[:, 1], hw[:, 0], self.bbox_ratio * BODY_BOX_RATIO_FACTOR
        )
        keep &= box_ok
        if self.system == "smplestx":
            keep &= ~self._smplestx_skips(hd)
        kp3d = hd.first_keypoints("3d")
        if kp3d is not None:
            keep &= ~self._nan_rows(hd, kp3d, np.flatnonzero(keep))
        return np.flatnonzero(keep).astype(np.int64), hw

    def _nan_rows(self, hd: HumanData, kp: Keypoints, candidates: np.ndarray) -> np.ndarray:
        bad = np.zeros(hd.num_rows, bool)
        tag = None
        if self.cache_dir is not None:
            st = hd.path.stat()
            tag = hashlib.sha1(
                f"{hd.path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{kp.key}|nan".encode()
            ).hexdigest()[:16]
            cached = self.cache_dir / f"{tag}.nanrows.npy"
            if cached.is_file():
                bad[np.load(cached, allow_pickle=False)] = True
                return bad
        for start in range(0, candidates.size, _NAN_CHUNK):
            rows = candidates[start : start + _NAN_CHUNK]
            block = kp.take(rows, dims=3)
            bad[rows[np.isnan(block).any(axis=(1, 2))]] = True
        if tag is not None:
            assert self.cache_dir is not None
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            np.save(self.cache_dir / f"{tag}.nanrows.npy", np.flatnonzero(bad))
        return bad

    @staticmethod
    def _smplestx_skips(hd: HumanData) -> np.ndarray:
        skip = np.zeros(hd.num_rows, bool)
        if "meta" in hd:
            meta = hd.param_dict("meta")
            if "annot_valid" in meta:
                skip |= ~np.asarray(meta["annot_valid"]).astype(bool).reshape(-1)
            if "iscrowd" in meta:
                crowd = np.asarray(meta["iscrowd"]).astype(bool).reshape(-1)
                no_kps = np.asarray(meta["num_keypoints"]).reshape(-1) == 0
                skip |= crowd | no_kps
            if "valid_label" in meta:
                skip |= np.asarray(meta["valid_label"]).reshape(-1) == 0
        params = hd.body_params()
        if params is not None and "betas_extra" in params[1]:
            extra = np.asarray(params[1]["betas_extra"]).reshape(hd.num_rows, -1)
            skip |= (extra != 0).any(axis=1)
        return skip

    # ------------------------------------------------------------------ records
    def __len__(self) -> int:
        return int(self._bounds[-1]) if self._files else 0

    def locate(self, index: int) -> tuple[int, int]:
        """(file number, row number) of item ``index``."""
        if not 0 <= index < len(self):
            raise IndexError(f"{self.name}: index {index} out of range ({len(self)} items)")
        f = int(np.searchsorted(self._bounds, index, side="right"))
        start = 0 if f == 0 else int(self._bounds[f - 1])
        return f, int(self._files[f].rows[index - start])

    def annotation(self, index: int) -> Annotation:
        fnum, row = self.locate(index)
        f = self._files[fnum]
        hd = f.hd
        h, w = (int(v) for v in f.hw[row])
        rel = str(hd.array("image_path")[row])
        image_path = str(self.image_root / rel.lstrip("/"))
        body = process_bbox(
            hd.array("bbox_xywh")[row][:4], w, h, ratio=self.bbox_ratio * BODY_BOX_RATIO_FACTOR
        )
        if body is None:  # rows were filtered at construction
            raise InputError(f"{hd.path}: row {row} has an empty box")
        boxes = []
        for key in ("lhand_bbox_xywh", "rhand_bbox_xywh", "face_bbox_xywh"):
            raw = hd.array(key)[row] if key in hd else None
            boxes.append(part_box_xyxy(raw, w, h, self.bbox_ratio))
        joints_img = f.kp2d.take(row, dims=2) if f.kp2d is not None else None
        joints_cam = f.kp3d.take(row, dims=3) if f.kp3d is not None else None
        valid = f.joint_mask.copy()
        fit = self._fit(f, row)
        if self.system == "smplestx" and fit is not None:
            for hand, part, wrist in (
                (fit.left_hand_pose, "lhand", JOINT_137_LWRIST_IDX),
                (fit.right_hand_pose, "rhand", JOINT_137_RWRIST_IDX),
            ):
                flag = 0.0 if hand is None else 1.0
                valid[np.asarray(JOINT_137_PARTS[part])] = flag
                valid[wrist] = flag
        return Annotation(
            image_path=image_path,
            image_hw=(h, w),
            bbox_xywh=body,
            lhand_bbox_xyxy=boxes[0],
            rhand_bbox_xyxy=boxes[1],
            face_bbox_xyxy=boxes[2],
            joints_img=joints_img,
            joints_valid=valid,
            joints_cam=joints_cam,
            fit=fit,
            focal=None if self.spec.focal is None else np.asarray(self.spec.focal, np.float32),
            princpt=(
                None if self.spec.princpt is None else np.asarray(self.spec.princpt, np.float32)
            ),
            joints_cam_from_fit="joints_from_fit" in self.spec.quirks,
            dataset=self.name,
            extras={"file": str(hd.path), "row": row},
        )

    def _fit(self, f: _File, row: int) -> FitParams | None:
        if f.params is None:
            return None
        kind, fields = f.params
        p = {k: np.asarray(v[row], np.float32) for k, v in fields.items()
             if k != "gender" and np.asarray(v).dtype.kind in "fiub"}
        quirks = self.spec.quirks
        est = self.system == "smplestx"
        root = p.get("global_orient", np.zeros(3, np.float32)).reshape(3)
        body = p.get("body_pose")
        body = None if body is None else body.reshape(-1, 3)
        shape = p.get("betas", np.zeros(10, np.float32)).reshape(-1)
        if "betas_neutral" in p:
            shape = p["betas_neutral"].reshape(-1)
        lhand = p.get("left_hand_pose")
        rhand = p.get("right_hand_pose")
        lhand = None if lhand is None else lhand.reshape(15, 3)
        rhand = None if rhand is None else rhand.reshape(15, 3)
        expr = p.get("expression")
        jaw = p.get("jaw_pose")
        if "talkshow_hands" in quirks:
            if lhand is not None:
                rhand = lhand.copy()
            if expr is not None:
                expr = expr.reshape(-1)[:10]
        if est and "zero_shape" in quirks:
            shape = np.zeros(10, np.float32)
        if self.system in self.spec.flat_hand_mean_in:
            if lhand is not None:
                lhand = lhand - SMPLX_HAND_MEAN_LEFT
            if rhand is not None:
                rhand = rhand - SMPLX_HAND_MEAN_RIGHT
        if kind in ("smpl", "smplh"):
            shape = np.zeros(10, np.float32)
            if body is not None:
                body = body[:21]
        if est and "hand_only" in quirks:
            shape = np.zeros(10, np.float32)
            root = np.zeros(3, np.float32)
            body = np.zeros((21, 3), np.float32)
        if est:
            lhand = None if lhand is None or not lhand.any() else lhand
            rhand = None if rhand is None or not rhand.any() else rhand
        shape10 = np.zeros(10, np.float32)
        shape10[: min(10, shape.size)] = shape[:10]
        return FitParams(
            global_orient=root,
            body_pose=body,
            left_hand_pose=lhand,
            right_hand_pose=rhand,
            jaw_pose=None if jaw is None else jaw.reshape(3),
            expression=None if expr is None else _first10(expr),
            betas=shape10,
            transl=p.get("transl", np.zeros(3, np.float32)).reshape(3),
            lhand_root=None if "lhand_root" not in p else p["lhand_root"].reshape(3),
            rhand_root=None if "rhand_root" not in p else p["rhand_root"].reshape(3),
            source=kind,  # type: ignore[arg-type]
        )


def _first10(expr: np.ndarray) -> np.ndarray:
    out = np.zeros(10, np.float32)
    flat = expr.reshape(-1)
    out[: min(10, flat.size)] = flat[:10]
    return out
