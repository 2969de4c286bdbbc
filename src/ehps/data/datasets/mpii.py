"""MPII (2D body keypoints + NeuralAnnot SMPL-X fits), the official bespoke loader.

Layout (data-root relative): ``MPII/data/annotations/train.json`` (COCO format, 16 keypoints),
``MPII/data/annotations/MPII_train_SMPLX_NeuralAnnot.json`` (annotation id -> ``{"smplx_param",
"cam_param"}``), images ``MPII/data/<file_name>``.

Semantics kept: 1-based count with ``count % interval == 0``; body box ratio 1.2; no part boxes;
the fit's ankle and wrist rotations and its toe / heel joints are not supervised; annotations
without a fit get invalid parameter targets.
"""

from __future__ import annotations

import numpy as np

from ehps.bodymodels.joint_sets import JOINT_137_NAMES, ORIG_53_NAMES
from ehps.data.datasets.coco_format import CocoLayout
from ehps.data.datasets.common import fit_and_camera, map_to_137
from ehps.data.types import Annotation
from ehps.geometry.crop import DEFAULT_BBOX_RATIO

__all__ = ["MPII_NAMES", "NEURALANNOT_POSE_INVALID", "NEURALANNOT_JOINT_INVALID", "mpii_records"]

MPII_NAMES: tuple[str, ...] = (
    "R_Ankle", "R_Knee", "R_Hip", "L_Hip", "L_Knee", "L_Ankle", "Pelvis", "Thorax", "Neck",
    "Head_top", "R_Wrist", "R_Elbow", "R_Shoulder", "L_Shoulder", "L_Elbow", "L_Wrist",
)  # fmt: skip
#: Rotation joints (53 set) of NeuralAnnot fits the official MPII / Human3.6M loaders ignore.
NEURALANNOT_POSE_INVALID: tuple[int, ...] = tuple(
    ORIG_53_NAMES.index(n) for n in ("L_Ankle", "R_Ankle", "L_Wrist", "R_Wrist")
)
#: 137-set joints of NeuralAnnot fits the official MPII / Human3.6M loaders ignore (feet).
NEURALANNOT_JOINT_INVALID: tuple[int, ...] = tuple(
    JOINT_137_NAMES.index(n)
    for n in ("L_Big_toe", "L_Small_toe", "L_Heel", "R_Big_toe", "R_Small_toe", "R_Heel")
)


def mpii_records(coco: CocoLayout, bbox_ratio: float = DEFAULT_BBOX_RATIO) -> list[Annotation]:
    """Read the official MPII training layout into annotation records
    (:func:`~ehps.data.datasets.coco_format.load_coco_source`)."""
    fits = coco.optional_json(1)
    records: list[Annotation] = []
    for person in coco.people(bbox_ratio):
        ann = person.ann
        kps = np.asarray(ann["keypoints"], np.float32).reshape(-1, 3)
        joints, valid = map_to_137(kps[:, :2], kps[:, 2], MPII_NAMES)
        fit, focal, princpt = fit_and_camera(fits.get(str(ann["id"])))
        records.append(Annotation(
            image_path=str(coco.image_root / person.img["file_name"]),
            image_hw=person.image_hw, bbox_xywh=person.bbox_xywh,
            joints_img=joints, joints_valid=valid, fit=fit, focal=focal, princpt=princpt,
            fit_joint_img=True, fit_pose_invalid=NEURALANNOT_POSE_INVALID,
            fit_joint_invalid=NEURALANNOT_JOINT_INVALID,
            shape_valid=None if fit is None else True, dataset=coco.name,
            extras={"ann_id": ann["id"]},
        ))
    return records
