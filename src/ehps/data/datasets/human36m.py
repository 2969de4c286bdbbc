"""Human3.6M with NeuralAnnot SMPL-X fits, the official bespoke training loader.

Layout (data-root relative): ``Human36M/annotations/Human36M_subject{S}_data.json`` (COCO format;
images carry ``subject``, ``action_idx``, ``subaction_idx``, ``frame_idx``, ``cam_idx``),
``..._camera.json`` (``{cam_idx: {"R", "t" (mm), "f", "c"}}``), ``..._joint_3d.json``,
``..._SMPLX_NeuralAnnot.json`` (``[action][subaction][frame] -> smplx params``); images
``Human36M/images/<file_name>``. Training subjects 1, 5, 6, 7, 8.

Semantics kept: every 5th frame (``frame_idx % 5 == 0``) and the 1-based ``count % interval``
rule; body box ratio 1.2; the fit (world frame) is moved into the camera with ``R`` and
``t / 1000`` and projected with ``f, c``; all keypoint targets come from the fit (the official
training targets do not use the MoCap joints), ``is_3D`` is set, the fit's ankle / wrist
rotations and toe / heel joints are not supervised.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from ehps.data.catalog import DatasetSpec
from ehps.data.datasets.coco_format import coco_people
from ehps.data.datasets.common import (
    ListSource,
    every_nth,
    fit_from_official_dict,
    load_json,
    official_shuffle,
)
from ehps.data.datasets.mpii import NEURALANNOT_JOINT_INVALID, NEURALANNOT_POSE_INVALID
from ehps.data.types import Annotation
from ehps.geometry.crop import DEFAULT_BBOX_RATIO

__all__ = ["H36M_NAMES", "TRAIN_FRAME_STRIDE", "load_human36m"]

H36M_NAMES: tuple[str, ...] = (
    "Pelvis", "R_Hip", "R_Knee", "R_Ankle", "L_Hip", "L_Knee", "L_Ankle", "Torso", "Neck", "Head",
    "Head_top", "L_Shoulder", "L_Elbow", "L_Wrist", "R_Shoulder", "R_Elbow", "R_Wrist",
)  # fmt: skip
#: The official training subsampling of Human3.6M frames.
TRAIN_FRAME_STRIDE = 5


def load_human36m(
    spec: DatasetSpec,
    data_root: str | os.PathLike[str],
    bbox_ratio: float = DEFAULT_BBOX_RATIO,
    shuffle_seed: int | None = 2023,
) -> ListSource:
    """Read the official Human3.6M training layout into annotation records."""
    files, image_root = spec.resolve(Path(data_root))
    by_subject: dict[str, dict[str, Path]] = {}
    for f in files:
        m = re.search(r"subject(\d+)_(data|camera|joint_3d|SMPLX_NeuralAnnot)\.json$", f.name)
        if m:
            by_subject.setdefault(m.group(1), {})[m.group(2)] = f
    images: dict[int, dict] = {}
    anns: list[dict] = []
    cameras: dict[str, dict] = {}
    fits: dict[str, dict] = {}
    for subject, parts in by_subject.items():
        data = load_json(parts["data"])
        images.update({int(img["id"]): img for img in data["images"]})
        anns.extend(data["annotations"])
        cameras[subject] = load_json(parts["camera"])
        fits[subject] = load_json(parts["SMPLX_NeuralAnnot"])
    records: list[Annotation] = []
    def off_stride(ann: dict, img: dict) -> bool:
        return int(img["frame_idx"]) % TRAIN_FRAME_STRIDE != 0

    for person in coco_people(images, every_nth(anns, spec.sample_interval), bbox_ratio,
                              skip=off_stride):
        img = person.img
        s, a, sa, fr = (str(img[k]) for k in ("subject", "action_idx", "subaction_idx",
                                              "frame_idx"))
        cam = cameras[s][str(img["cam_idx"])]
        records.append(Annotation(
            image_path=str(image_root / img["file_name"]), image_hw=person.image_hw,
            bbox_xywh=person.bbox_xywh,
            fit=fit_from_official_dict(fits[s][a][sa][fr]),
            focal=np.asarray(cam["f"], np.float32), princpt=np.asarray(cam["c"], np.float32),
            cam_R=np.asarray(cam["R"], np.float32).reshape(3, 3),
            cam_t=np.asarray(cam["t"], np.float32).reshape(3) / 1000.0,
            targets_from_fit=True, fit_pose_invalid=NEURALANNOT_POSE_INVALID,
            fit_joint_invalid=NEURALANNOT_JOINT_INVALID, shape_valid=True, is_3d=True,
            dataset=spec.name, extras={"ann_id": person.ann["id"]},
        ))
    return ListSource(spec.name, official_shuffle(records, shuffle_seed))
