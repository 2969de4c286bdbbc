"""AGORA (synthetic, SMPL-X ground truth), the official bespoke training loader (4K setting).

Layout (data-root relative): ``AGORA/data/AGORA_train_fix_betas.json`` (COCO format; annotations
carry ``is_valid``, ``kid``, ``gender``, ``lhand_bbox`` / ``rhand_bbox`` / ``face_bbox`` (xywh at
3840x2160) and paths ``smplx_joints_2d_path`` (JSON, 127 x 2 at 3840x2160),
``smplx_joints_3d_path`` (JSON, 127 x 3, metres), ``smplx_param_path`` (pickle of the SMPL-X
parameters)), and the pre-cropped images
``AGORA/data/3840x2160/<folder>_crop/<stem>_ann_id_<id>.png`` with ``.json`` crop records
(``img2bb_trans`` 2x3, ``resized_height``, ``resized_width``).

Semantics kept: invalid annotations and annotations without a crop record are skipped; the crop
box is the whole pre-cropped image; part boxes go through the crop transform and are clipped with
the 4K image size (an official oddity); 3D keypoints are made part-relative (body / pelvis, hands /
wrist, face / neck) and their depth discretised per part; the parameters use ``betas_neutral`` for
adults (``agora_fix_betas``), the first 10 betas otherwise; the root rotation is supervised
(``agora_valid_root_pose``). Keypoints, 3D joints and parameters are read per item (lazily), as
the official loader does. The parameter pickles are read with the restricted unpickler (numpy
arrays and plain containers only).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ehps.data.catalog import DatasetSpec
from ehps.data.datasets.coco_format import coco_index
from ehps.data.datasets.common import every_nth, load_json, map_to_137, official_shuffle
from ehps.data.npz_access import restricted_loads
from ehps.data.transforms import part_relative
from ehps.data.types import Annotation, FitParams
from ehps.errors import InputError
from ehps.geometry.crop import apply_affine, sanitize_bbox
from ehps.utils.untrusted import checked_array

__all__ = ["AGORA_127_NAMES", "AGORA_RESOLUTION_HW", "AgoraSource", "load_agora"]

AGORA_RESOLUTION_HW = (2160, 3840)

AGORA_127_NAMES: tuple[str, ...] = (
    "Pelvis", "L_Hip", "R_Hip", "Spine_1", "L_Knee", "R_Knee", "Spine_2", "L_Ankle", "R_Ankle",
    "Spine_3", "L_Foot", "R_Foot", "Neck", "L_Collar", "R_Collar", "Head", "L_Shoulder",
    "R_Shoulder", "L_Elbow", "R_Elbow", "L_Wrist", "R_Wrist",
    "Jaw", "L_Eye_SMPLH", "R_Eye_SMPLH",
    *(f"L_{f}_{k}" for f in ("Index", "Middle", "Pinky", "Ring", "Thumb") for k in (1, 2, 3)),
    *(f"R_{f}_{k}" for f in ("Index", "Middle", "Pinky", "Ring", "Thumb") for k in (1, 2, 3)),
    "Nose", "R_Eye", "L_Eye", "R_Ear", "L_Ear",
    "L_Big_toe", "L_Small_toe", "L_Heel", "R_Big_toe", "R_Small_toe", "R_Heel",
    *(f"L_{f}_4" for f in ("Thumb", "Index", "Middle", "Ring", "Pinky")),
    *(f"R_{f}_4" for f in ("Thumb", "Index", "Middle", "Ring", "Pinky")),
    *(f"Face_{k}" for k in range(5, 56)),
)  # fmt: skip


@dataclass
class _Item:
    image_path: str
    hw: tuple[int, int]
    img2bb: np.ndarray
    boxes: list[np.ndarray | None]
    joints_2d: Path
    joints_3d: Path
    params: Path
    kid: bool
    ann_id: int


def _part_box(box: list[float], img2bb: np.ndarray) -> np.ndarray | None:
    corners = np.asarray(box, np.float64).reshape(2, 2)
    corners[1] += corners[0]  # xywh -> xyxy
    moved = apply_affine(corners, img2bb)
    xywh = np.concatenate([moved[0], moved[1] - moved[0]])
    clipped = sanitize_bbox(xywh, AGORA_RESOLUTION_HW[1], AGORA_RESOLUTION_HW[0])
    if clipped is None:
        return None
    return np.array([clipped[0], clipped[1], clipped[0] + clipped[2], clipped[1] + clipped[3]],
                    np.float32)


class AgoraSource:
    """AGORA items; annotations are assembled on access (joint files and parameters are read
    then)."""

    def __init__(self, name: str, items: list[_Item], fix_betas: bool = True) -> None:
        self.name = name
        self.items = items
        self.fix_betas = fix_betas

    def __len__(self) -> int:
        return len(self.items)

    def annotation(self, index: int) -> Annotation:
        it = self.items[index]
        xy = np.asarray(load_json(it.joints_2d), np.float32).reshape(-1, 2)
        xy = apply_affine(xy, it.img2bb).astype(np.float32)
        xyz = np.asarray(load_json(it.joints_3d), np.float32).reshape(-1, 3)
        ones = np.ones(len(AGORA_127_NAMES), np.float32)
        joints, valid = map_to_137(xy, ones, AGORA_127_NAMES)
        joints3d, _ = map_to_137(xyz, ones, AGORA_127_NAMES)
        return Annotation(
            image_path=it.image_path, image_hw=it.hw,
            bbox_xywh=np.array([0.0, 0.0, it.hw[1], it.hw[0]], np.float32),
            lhand_bbox_xyxy=it.boxes[0], rhand_bbox_xyxy=it.boxes[1], face_bbox_xyxy=it.boxes[2],
            joints_img=joints, joints_valid=valid, joints_cam=part_relative(joints3d),
            joints_cam_relative=True, depth_per_part=True, fit=self._fit(it),
            shape_valid=True, is_3d=True, dataset=self.name, extras={"ann_id": it.ann_id},
        )

    def _fit(self, it: _Item) -> FitParams:
        if not it.params.is_file():
            raise InputError(f"AGORA parameter file not found: {it.params}")
        param = restricted_loads(it.params.read_bytes(), str(it.params))
        if not isinstance(param, dict):
            raise InputError(f"{it.params}: expected a dict of SMPL-X parameters")

        def get(key: str, n: int) -> np.ndarray:
            if key not in param:
                raise InputError(f"{it.params}: SMPL-X parameter '{key}' is missing")
            value = checked_array(param[key], f"{it.params}: '{key}'", InputError)
            return value.astype(np.float32).reshape(-1)[:n]

        betas_key = "betas_neutral" if self.fix_betas and not it.kid else "betas"
        betas = np.zeros(10, np.float32)
        raw = get(betas_key, 10)
        betas[: raw.size] = raw
        return FitParams(
            global_orient=get("global_orient", 3), body_pose=get("body_pose", 63).reshape(21, 3),
            left_hand_pose=get("left_hand_pose", 45).reshape(15, 3),
            right_hand_pose=get("right_hand_pose", 45).reshape(15, 3),
            jaw_pose=get("jaw_pose", 3), expression=get("expression", 10), betas=betas,
            transl=get("transl", 3),
        )


def load_agora(
    spec: DatasetSpec,
    data_root: str | os.PathLike[str],
    shuffle_seed: int | None = 2023,
    fix_betas: bool = True,
) -> AgoraSource:
    """Index the official AGORA training layout (4K pre-cropped images)."""
    files, data_path = spec.resolve(Path(data_root))
    images, anns = coco_index(load_json(files[0]))
    items: list[_Item] = []
    for ann in every_nth(anns, spec.sample_interval):
        if not ann.get("is_valid", True):
            continue
        img = images[int(ann["image_id"])]
        folder, fname = str(img["file_name_3840x2160"]).split("/")[-2:]
        stem = f"{Path(fname).stem}_ann_id_{ann['id']}"
        crop_dir = data_path / "3840x2160" / f"{folder}_crop"
        info_path = crop_dir / f"{stem}.json"
        if not info_path.is_file():
            continue
        info = load_json(info_path)
        img2bb = np.asarray(info["img2bb_trans"], np.float32).reshape(2, 3)
        hw = (int(info["resized_height"]), int(info["resized_width"]))
        boxes = [_part_box(ann[k], img2bb) for k in ("lhand_bbox", "rhand_bbox", "face_bbox")]
        items.append(_Item(
            image_path=str(crop_dir / f"{stem}.png"), hw=hw, img2bb=img2bb, boxes=boxes,
            joints_2d=data_path / ann["smplx_joints_2d_path"],
            joints_3d=data_path / ann["smplx_joints_3d_path"],
            params=data_path / ann["smplx_param_path"], kid=bool(ann.get("kid", False)),
            ann_id=int(ann["id"]),
        ))
    return AgoraSource(spec.name, official_shuffle(items, shuffle_seed), fix_betas)
