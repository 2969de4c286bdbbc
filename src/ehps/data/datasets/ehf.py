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

import numpy as np

from ehps.data.datasets.coco_format import CocoLayout
from ehps.data.datasets.common import part_box_xyxy
from ehps.data.types import Annotation
from ehps.geometry.crop import DEFAULT_BBOX_RATIO
from ehps.utils.ply import read_ply_vertices as read_ply_vertices_f64

__all__ = ["EHF_CAMERA_ROTVEC", "ehf_records", "read_ply_vertices"]

#: Rotation (axis-angle, radians) from the EHF scan frame into the camera frame.
EHF_CAMERA_ROTVEC: tuple[float, float, float] = (-2.98747896, 0.01172457, -0.05704687)

def read_ply_vertices(path: str | os.PathLike[str]) -> np.ndarray:
    """(V, 3) float32 vertex positions of a PLY file (ASCII or binary, scalar vertex properties
    first; faces are not read): :func:`ehps.utils.ply.read_ply_vertices` in float32."""
    return read_ply_vertices_f64(path).astype(np.float32)


def ehf_records(coco: CocoLayout, bbox_ratio: float = DEFAULT_BBOX_RATIO) -> list[Annotation]:
    """Read the EHF test layout into annotation records (no training targets)
    (:func:`~ehps.data.datasets.coco_format.load_coco_source`)."""
    image_root = coco.image_root
    records: list[Annotation] = []
    for person in coco.people(bbox_ratio, box_key="body_bbox", subsample=False):
        ann, (h, w) = person.ann, person.image_hw
        boxes = [part_box_xyxy(np.asarray(ann[k], np.float32), w, h, bbox_ratio)
                 for k in ("lefthand_bbox", "righthand_bbox", "face_bbox")]
        name = str(person.img["file_name"])
        records.append(Annotation(
            image_path=str(image_root / name), image_hw=(h, w), bbox_xywh=person.bbox_xywh,
            lhand_bbox_xyxy=boxes[0], rhand_bbox_xyxy=boxes[1], face_bbox_xyxy=boxes[2],
            dataset=coco.name,
            extras={"mesh_gt_path": str(image_root / (name.split("_")[0] + "_align.ply")),
                    "ann_id": ann["id"]},
        ))
    return records
