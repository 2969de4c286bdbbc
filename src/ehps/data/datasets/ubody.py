"""UBody (COCO-WholeBody-style keypoints + SMPL-X pseudo-labels per scene), the official bespoke
training loader.

Layout (data-root relative): ``UBody/images/<scene>/<video>/<frame>``,
``UBody/annotations/<scene>/keypoint_annotation.json`` (COCO-WholeBody format plus ``valid_label``)
and ``UBody/annotations/<scene>/smplx_annotation.json`` (annotation id -> ``{"smplx_param",
"cam_param"}``), ``UBody/splits/intra_scene_test_list.npy`` (test video names).

Semantics kept: per scene, the 1-based ``count % interval`` rule (the official config's
``train_sample_interval`` = 10); videos in the test list and missing images are skipped, as are
crowd / zero-keypoint annotations, ``valid_label == 0`` and annotations without a fit; the body box
goes through ``process_bbox`` with the *default* ratio 1.25 (the official UBody loader passes no
ratio); hand boxes are the annotated boxes scaled by 0.65 about their centre, the face box is the
extent of all 68 face keypoints scaled by 1.2; all keypoint targets come from the fit (``is_3D``).
Scenes are read in sorted order (the official ``os.listdir`` order is filesystem dependent).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ehps.data.catalog import DatasetSpec
from ehps.data.datasets.coco_format import coco_index, coco_people
from ehps.data.datasets.common import (
    ListSource,
    every_nth,
    fit_and_camera,
    load_json,
    map_to_137,
    official_shuffle,
)
from ehps.data.datasets.mscoco import COCO_WHOLEBODY_134_NAMES, merge_wholebody, no_keypoints
from ehps.data.types import Annotation
from ehps.errors import InputError
from ehps.utils.safe_npz import load_npy

__all__ = ["load_ubody", "scale_box_xyxy", "UBODY_BODY_BOX_RATIO"]

#: The official UBody loader calls ``process_bbox`` without a ratio: the 1.25 default.
UBODY_BODY_BOX_RATIO = 1.25


def scale_box_xyxy(box: np.ndarray, scale: float) -> np.ndarray:
    """Scale an xyxy box about its centre (official ``resize_bbox``)."""
    x0, y0, x1, y1 = (float(v) for v in np.asarray(box).reshape(4))
    cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2 * scale, (y1 - y0) / 2 * scale
    return np.array([cx - hw, cy - hh, cx + hw, cy + hh], np.float32)


def _video_name(file_name: str) -> str:
    name = file_name.split("/")[-2]
    return name.split("_Trim")[0] if "Trim" in name else name


def load_ubody(
    spec: DatasetSpec,
    data_root: str | os.PathLike[str],
    shuffle_seed: int | None = 2023,
    check_images: bool = True,
) -> ListSource:
    """Read the official UBody training layout (all scenes) into annotation records."""
    root = Path(data_root)
    files, image_root = spec.resolve(root)
    test_list = files[0]
    if not test_list.is_file():
        raise InputError(f"UBody test split list not found: {test_list}")
    test_videos = {str(v) for v in load_npy(test_list, InputError).tolist()}
    annot_root = root / "UBody" / "annotations"
    if not image_root.is_dir():
        raise InputError(f"UBody image folder not found: {image_root}")
    records: list[Annotation] = []
    for scene in sorted(p.name for p in image_root.iterdir() if p.is_dir()):
        images, anns = coco_index(load_json(annot_root / scene / "keypoint_annotation.json"))
        fits = load_json(annot_root / scene / "smplx_annotation.json")
        def skip(ann: dict, img: dict, scene: str = scene) -> bool:
            file_name = str(img["file_name"]).lstrip("/")
            return (_video_name(file_name) in test_videos
                    or (check_images and not (image_root / scene / file_name).exists())
                    or no_keypoints(ann))

        for person in coco_people(images, every_nth(anns, spec.sample_interval),
                                  UBODY_BODY_BOX_RATIO, skip=skip):
            ann = person.ann
            path = image_root / scene / str(person.img["file_name"]).lstrip("/")
            xy, valid = merge_wholebody(ann)
            joints, joints_valid = map_to_137(xy, valid, COCO_WHOLEBODY_134_NAMES)
            boxes = []
            for p in ("lefthand", "righthand"):
                if ann.get(f"{p}_valid"):
                    x, y, bw, bh = (float(v) for v in ann[f"{p}_box"])
                    boxes.append(scale_box_xyxy(np.array([x, y, x + bw, y + bh]), 0.65))
                else:
                    boxes.append(None)
            face = None
            if ann.get("face_valid"):
                fk = np.asarray(ann["face_kpts"], np.float32).reshape(68, 3)
                face = scale_box_xyxy(np.array([fk[:, 0].min(), fk[:, 1].min(),
                                                fk[:, 0].max(), fk[:, 1].max()]), 1.2)
            if ann.get("valid_label", 1) == 0 or str(ann["id"]) not in fits:
                continue
            fit, focal, princpt = fit_and_camera(
                fits[str(ann["id"])], bool(ann.get("lefthand_valid")),
                bool(ann.get("righthand_valid")), bool(ann.get("face_valid")),
            )
            records.append(Annotation(
                image_path=str(path), image_hw=person.image_hw, bbox_xywh=person.bbox_xywh,
                lhand_bbox_xyxy=boxes[0], rhand_bbox_xyxy=boxes[1], face_bbox_xyxy=face,
                joints_img=joints, joints_valid=joints_valid, fit=fit, focal=focal, princpt=princpt,
                targets_from_fit=True, shape_valid=True, is_3d=True, dataset=spec.name,
                extras={"ann_id": ann["id"], "scene": scene},
            ))
    return ListSource(spec.name, official_shuffle(records, shuffle_seed))
