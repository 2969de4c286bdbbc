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

import os
from pathlib import Path

import numpy as np

from ehps.data.catalog import DatasetSpec
from ehps.data.datasets.common import (
    ListSource,
    coco_body_box,
    every_nth,
    load_json,
    official_shuffle,
)
from ehps.data.datasets.mscoco import coco_index
from ehps.data.types import Annotation, FitParams
from ehps.geometry.crop import DEFAULT_BBOX_RATIO

__all__ = ["load_pw3d"]


def load_pw3d(
    spec: DatasetSpec,
    data_root: str | os.PathLike[str],
    bbox_ratio: float = DEFAULT_BBOX_RATIO,
    shuffle_seed: int | None = 2023,
) -> ListSource:
    """Read the official 3DPW training layout into annotation records."""
    files, image_root = spec.resolve(Path(data_root))
    images, anns = coco_index(load_json(files[0]))
    records: list[Annotation] = []
    for ann in every_nth(anns, spec.sample_interval):
        img = images[int(ann["image_id"])]
        (h, w), bbox = coco_body_box(img, ann["bbox"], bbox_ratio)
        if bbox is None:
            continue
        smpl = ann["smpl_param"]
        pose = np.asarray(smpl["pose"], np.float32).reshape(-1, 3)
        fit = FitParams(
            global_orient=pose[0], body_pose=pose[1:22], left_hand_pose=None,
            right_hand_pose=None, jaw_pose=None, expression=None, betas=np.zeros(10, np.float32),
            transl=np.asarray(smpl["trans"], np.float32).reshape(3), source="smpl",
        )
        cam = img["cam_param"]
        records.append(Annotation(
            image_path=str(image_root / img["sequence"] / img["file_name"]), image_hw=(h, w),
            bbox_xywh=bbox, fit=fit, focal=np.asarray(cam["focal"], np.float32),
            princpt=np.asarray(cam["princpt"], np.float32), targets_from_fit=True,
            shape_valid=False, is_3d=True, dataset=spec.name, extras={"ann_id": ann["id"]},
        ))
    return ListSource(spec.name, official_shuffle(records, shuffle_seed))
