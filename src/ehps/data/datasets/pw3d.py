"""3DPW (SMPL ground truth), the official bespoke training loader.

Layout (data-root relative): ``PW3D/data/3DPW_train.json`` (COCO format; images carry
``sequence``, ``file_name`` and ``cam_param`` ``{"focal", "princpt"}``; annotations ``bbox`` and
``smpl_param`` ``{"pose" (72), "shape", "trans", "gender"}``), images
``PW3D/data/imageFiles/<sequence>/<file_name>``.

Semantics kept: the SMPL pose's root and first 21 body joints are used as SMPL-X root / body pose
with zero betas and no hands / face; shape is not supervised; keypoint targets come from the
SMPL-X fit projected with the image camera; ``is_3D`` is set. Deviation: the official 2D target
comes from the SMPL layer (which ehps does not ship) written into the first 22 slots of the 137
set (an index-order mismatch); ehps uses the SMPL-X fit's projected joints for all targets.
"""

from __future__ import annotations

import numpy as np

from ehps.data.datasets.coco_format import CocoLayout
from ehps.data.types import Annotation, FitParams
from ehps.geometry.crop import DEFAULT_BBOX_RATIO

__all__ = ["pw3d_records"]


def pw3d_records(coco: CocoLayout, bbox_ratio: float = DEFAULT_BBOX_RATIO) -> list[Annotation]:
    """Read the official 3DPW training layout into annotation records
    (:func:`~ehps.data.datasets.coco_format.load_coco_source`)."""
    records: list[Annotation] = []
    for person in coco.people(bbox_ratio):
        ann, img = person.ann, person.img
        smpl = ann["smpl_param"]
        pose = np.asarray(smpl["pose"], np.float32).reshape(-1, 3)
        fit = FitParams(
            global_orient=pose[0], body_pose=pose[1:22], left_hand_pose=None,
            right_hand_pose=None, jaw_pose=None, expression=None, betas=np.zeros(10, np.float32),
            transl=np.asarray(smpl["trans"], np.float32).reshape(3), source="smpl",
        )
        cam = img["cam_param"]
        records.append(Annotation(
            image_path=str(coco.image_root / img["sequence"] / img["file_name"]),
            image_hw=person.image_hw, bbox_xywh=person.bbox_xywh, fit=fit,
            focal=np.asarray(cam["focal"], np.float32),
            princpt=np.asarray(cam["princpt"], np.float32), targets_from_fit=True,
            shape_valid=False, is_3d=True, dataset=coco.name, extras={"ann_id": ann["id"]},
        ))
    return records
