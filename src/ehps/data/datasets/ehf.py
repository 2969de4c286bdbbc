"""EHF (100 frames, SMPL-X-aligned scans), the official bespoke test loader.

Layout (data-root relative): ``EHF/data/EHF.json`` (COCO format from Hand4Whole; annotations carry
``body_bbox``, ``lefthand_bbox``, ``righthand_bbox``, ``face_bbox`` in xywh), images
``EHF/data/<file_name>`` and ground-truth meshes ``EHF/data/<NN>_align.ply`` (``NN`` = the image
name before the first ``_``). The meshes are in the scanner frame; the official evaluation rotates
them into the camera by :data:`EHF_CAMERA_ROTVEC` (Rodrigues vector).

Records carry the processed body box (ratio 1.2), the part boxes (ratio 1.2, xyxy) and
``extras["mesh_gt_path"]``; :func:`read_ply_vertices` reads the meshes (ASCII or binary PLY).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ehps.data.catalog import DatasetSpec
from ehps.data.datasets.common import ListSource, coco_body_box, load_json, part_box_xyxy
from ehps.data.datasets.mscoco import coco_index
from ehps.data.types import Annotation
from ehps.geometry.crop import DEFAULT_BBOX_RATIO
from ehps.utils.ply import read_ply_vertices as read_ply_vertices_f64

__all__ = ["EHF_CAMERA_ROTVEC", "load_ehf", "read_ply_vertices"]

#: Rotation (axis-angle, radians) from the EHF scan frame into the camera frame.
EHF_CAMERA_ROTVEC: tuple[float, float, float] = (-2.98747896, 0.01172457, -0.05704687)

def read_ply_vertices(path: str | os.PathLike[str]) -> np.ndarray:
    """(V, 3) float32 vertex positions of a PLY file (ASCII or binary, scalar vertex properties
    first; faces are not read): :func:`ehps.utils.ply.read_ply_vertices` in float32."""
    return read_ply_vertices_f64(path).astype(np.float32)


def load_ehf(
    spec: DatasetSpec, data_root: str | os.PathLike[str], bbox_ratio: float = DEFAULT_BBOX_RATIO
) -> ListSource:
    """Read the EHF test layout into annotation records (no training targets)."""
    files, image_root = spec.resolve(Path(data_root))
    images, anns = coco_index(load_json(files[0]))
    records: list[Annotation] = []
    for ann in anns:
        img = images[int(ann["image_id"])]
        (h, w), bbox = coco_body_box(img, ann["body_bbox"], bbox_ratio)
        if bbox is None:
            continue
        boxes = [part_box_xyxy(np.asarray(ann[k], np.float32), w, h, bbox_ratio)
                 for k in ("lefthand_bbox", "righthand_bbox", "face_bbox")]
        name = str(img["file_name"])
        records.append(Annotation(
            image_path=str(image_root / name), image_hw=(h, w), bbox_xywh=bbox,
            lhand_bbox_xyxy=boxes[0], rhand_bbox_xyxy=boxes[1], face_bbox_xyxy=boxes[2],
            dataset=spec.name,
            extras={"mesh_gt_path": str(image_root / (name.split("_")[0] + "_align.ply")),
                    "ann_id": ann["id"]},
        ))
    return ListSource(spec.name, records)
