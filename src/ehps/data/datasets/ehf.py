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
from ehps.data.datasets.common import ListSource, load_json, part_box_xyxy
from ehps.data.datasets.mscoco import coco_index
from ehps.data.types import Annotation
from ehps.errors import InputError
from ehps.geometry.crop import process_bbox

__all__ = ["EHF_CAMERA_ROTVEC", "load_ehf", "read_ply_vertices"]

#: Rotation (axis-angle, radians) from the EHF scan frame into the camera frame.
EHF_CAMERA_ROTVEC: tuple[float, float, float] = (-2.98747896, 0.01172457, -0.05704687)

_PLY_TYPES = {
    "char": "i1", "uchar": "u1", "short": "i2", "ushort": "u2", "int": "i4", "uint": "u4",
    "float": "f4", "double": "f8", "int8": "i1", "uint8": "u1", "int16": "i2", "uint16": "u2",
    "int32": "i4", "uint32": "u4", "float32": "f4", "float64": "f8",
}  # fmt: skip


def read_ply_vertices(path: str | os.PathLike[str]) -> np.ndarray:
    """(V, 3) float32 vertex positions of a PLY file (ASCII or binary, scalar vertex properties
    first; faces are not read)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"PLY file not found: {p}")
    with open(p, "rb") as fh:
        if fh.readline().strip() != b"ply":
            raise InputError(f"{p} is not a PLY file")
        fmt, count, props, in_vertex = "", 0, [], False
        while True:
            line = fh.readline()
            if not line:
                raise InputError(f"{p}: PLY header has no end_header")
            words = line.decode("ascii", "replace").split()
            if not words:
                continue
            if words[0] == "format":
                fmt = words[1]
            elif words[0] == "element":
                in_vertex = words[1] == "vertex"
                if in_vertex:
                    count = int(words[2])
            elif words[0] == "property" and in_vertex:
                if words[1] == "list":
                    raise InputError(f"{p}: list properties on vertices are not supported")
                props.append((words[2], _PLY_TYPES[words[1]]))
            elif words[0] == "end_header":
                break
        names = [n for n, _ in props]
        if not {"x", "y", "z"} <= set(names):
            raise InputError(f"{p}: vertices lack x / y / z")
        if fmt == "ascii":
            rows = [fh.readline().split() for _ in range(count)]
            data = np.asarray(rows, np.float64)[:, [names.index(a) for a in "xyz"]]
            return data.astype(np.float32)
        order = "<" if fmt == "binary_little_endian" else ">"
        dtype = np.dtype([(n, order + t) for n, t in props])
        rec = np.frombuffer(fh.read(dtype.itemsize * count), dtype=dtype, count=count)
        return np.stack([rec["x"], rec["y"], rec["z"]], axis=1).astype(np.float32)


def load_ehf(
    spec: DatasetSpec, data_root: str | os.PathLike[str], bbox_ratio: float = 1.2
) -> ListSource:
    """Read the EHF test layout into annotation records (no training targets)."""
    files, image_root = spec.resolve(Path(data_root))
    images, anns = coco_index(load_json(files[0]))
    records: list[Annotation] = []
    for ann in anns:
        img = images[int(ann["image_id"])]
        w, h = int(img["width"]), int(img["height"])
        bbox = process_bbox(np.asarray(ann["body_bbox"], np.float32), w, h, ratio=bbox_ratio)
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
