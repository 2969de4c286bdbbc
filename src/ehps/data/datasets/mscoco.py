"""MSCOCO (COCO-WholeBody keypoints + NeuralAnnot SMPL-X fits), the official bespoke loader.

On-disk layout (data-root relative, official SMPLer-X): ``MSCOCO/annotations/
coco_wholebody_train_v1.0.json`` (COCO format with ``keypoints`` (17), ``foot_kpts`` (6),
``lefthand_kpts`` / ``righthand_kpts`` (21 each), ``face_kpts`` (68), ``*_box`` and ``*_valid``
per annotation), ``MSCOCO/annotations/MSCOCO_train_SMPLX_all_NeuralAnnot.json`` (annotation id ->
``{"smplx_param": {...}, "cam_param": {"focal", "princpt"}}``), images ``MSCOCO/images/train2017/``.

Semantics kept: annotations counted from 1 in file order and kept when ``count % interval == 0``;
crowd and zero-keypoint annotations skipped; body box through ``process_bbox`` with the config
ratio (1.2); the 134-joint set (COCO body + pelvis from the hips + feet + hands + face) where an
invalid hand-wrist / face-nose point is filled from the body's wrist / nose; part boxes with ratio
1.2. Keypoints supervise ``joint_img`` (their depth is 0, so the SMPLer-X truncation rule masks
them out of the 2D terms, as in the official code), the NeuralAnnot fit supervises the parameters
and ``smplx_joint_*`` (projected with its own camera). Annotations without a fit keep the
keypoints and get invalid parameter targets.
"""

from __future__ import annotations

import numpy as np

from ehps.data.datasets.coco_format import CocoLayout, coco_index
from ehps.data.datasets.common import fit_and_camera, map_to_137, part_box_xyxy
from ehps.data.types import Annotation
from ehps.geometry.crop import DEFAULT_BBOX_RATIO

__all__ = ["COCO_WHOLEBODY_134_NAMES", "merge_wholebody", "mscoco_records", "coco_index",
           "no_keypoints"]

#: The official 134-joint COCO-WholeBody set (body 17 + pelvis + 6 feet, 21 + 21 hands, 68 face).
COCO_WHOLEBODY_134_NAMES: tuple[str, ...] = (
    "Nose", "L_Eye", "R_Eye", "L_Ear", "R_Ear", "L_Shoulder", "R_Shoulder", "L_Elbow", "R_Elbow",
    "L_Wrist", "R_Wrist", "L_Hip", "R_Hip", "L_Knee", "R_Knee", "L_Ankle", "R_Ankle", "Pelvis",
    "L_Big_toe", "L_Small_toe", "L_Heel", "R_Big_toe", "R_Small_toe", "R_Heel",
    *(f"L_{f}" for f in ("Wrist_Hand",)),
    *(f"L_{f}_{k}" for f in ("Thumb", "Index", "Middle", "Ring", "Pinky") for k in (1, 2, 3, 4)),
    "R_Wrist_Hand",
    *(f"R_{f}_{k}" for f in ("Thumb", "Index", "Middle", "Ring", "Pinky") for k in (1, 2, 3, 4)),
    *(f"Face_{k}" for k in range(56, 73)),
    *(f"Face_{k}" for k in range(5, 56)),
)  # fmt: skip
_NAME_POS = {n: i for i, n in enumerate(COCO_WHOLEBODY_134_NAMES)}


def merge_wholebody(ann: dict) -> tuple[np.ndarray, np.ndarray]:
    """One COCO-WholeBody annotation -> ``(joints (134, 2), valid (134,))`` in the official order,
    with the wrist / nose fill-in for invalid hand-wrist / face points."""
    def kp(key: str, n: int) -> np.ndarray:
        return np.asarray(ann[key], np.float32).reshape(n, 3)

    body = kp("keypoints", 17)
    lhip, rhip = _NAME_POS["L_Hip"], _NAME_POS["R_Hip"]
    pelvis = (body[lhip] + body[rhip]) * 0.5
    pelvis[2] = body[lhip, 2] * body[rhip, 2]
    feet = kp("foot_kpts", 6)
    joints = np.concatenate(
        [body, pelvis[None], feet[:3], feet[3:], kp("lefthand_kpts", 21),
         kp("righthand_kpts", 21), kp("face_kpts", 68)]
    )
    valid = (joints[:, 2] > 0).astype(np.float32)
    xy = joints[:, :2].copy()
    for body_name, part_name in (("L_Wrist", "L_Wrist_Hand"), ("R_Wrist", "R_Wrist_Hand"),
                                 ("Nose", "Face_18")):
        p, q = _NAME_POS[part_name], _NAME_POS[body_name]
        if valid[p] == 0:
            xy[p], valid[p] = xy[q], valid[q]
    return xy, valid


def no_keypoints(ann: dict, img: dict | None = None) -> bool:
    """A crowd annotation or one without keypoints (the official COCO / UBody loaders skip
    them)."""
    return bool(ann.get("iscrowd") or ann.get("num_keypoints", 0) == 0)


def mscoco_records(coco: CocoLayout, bbox_ratio: float = DEFAULT_BBOX_RATIO) -> list[Annotation]:
    """Read the official MSCOCO training layout into annotation records
    (:func:`~ehps.data.datasets.coco_format.load_coco_source`)."""
    fits = coco.optional_json(1)
    records: list[Annotation] = []
    for person in coco.people(bbox_ratio, skip=no_keypoints):
        ann, (h, w) = person.ann, person.image_hw
        xy, valid = merge_wholebody(ann)
        joints, joints_valid = map_to_137(xy, valid, COCO_WHOLEBODY_134_NAMES)
        boxes = [
            part_box_xyxy(ann[f"{p}_box"], w, h, bbox_ratio) if ann.get(f"{p}_valid") else None
            for p in ("lefthand", "righthand", "face")
        ]
        fit, focal, princpt = fit_and_camera(
            fits.get(str(ann["id"])), bool(ann.get("lefthand_valid")),
            bool(ann.get("righthand_valid")), bool(ann.get("face_valid")),
        )
        records.append(Annotation(
            image_path=str(coco.image_root / "train2017" / person.img["file_name"]),
            image_hw=(h, w), bbox_xywh=person.bbox_xywh,
            lhand_bbox_xyxy=boxes[0], rhand_bbox_xyxy=boxes[1], face_bbox_xyxy=boxes[2],
            joints_img=joints, joints_valid=joints_valid, fit=fit, focal=focal, princpt=princpt,
            fit_joint_img=True, shape_valid=None if fit is None else True, dataset=coco.name,
            extras={"ann_id": ann["id"]},
        ))
    return records
