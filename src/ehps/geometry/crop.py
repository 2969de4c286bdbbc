"""Person boxes and crops exactly as the official models expect (official-spec a.0).

Boxes are ``xywh`` in image pixels unless a name says ``xyxy``. The crop maps the processed box
onto a 384x512 (W x H) patch by an affine warp (bilinear, black border); training augmentation
(scale, in-plane rotation, horizontal flip) is folded into the same transform so that inference
and training share one code path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ehps.geometry.camera import CROP_INPUT_HW
from ehps.geometry.constants import DEFAULT_BBOX_RATIO

__all__ = [
    "CROP_ASPECT",
    "DEFAULT_BBOX_RATIO",
    "sanitize_bbox",
    "process_bbox",
    "crop_transform",
    "CropResult",
    "crop_person",
    "apply_affine",
    "xyxy_to_xywh",
    "xywh_to_xyxy",
]

#: width / height of the network input (384 / 512).
CROP_ASPECT: float = CROP_INPUT_HW[1] / CROP_INPUT_HW[0]


def xyxy_to_xywh(box: np.ndarray) -> np.ndarray:
    box = np.asarray(box, dtype=np.float64)
    return np.concatenate([box[..., :2], box[..., 2:4] - box[..., :2]], axis=-1)


def xywh_to_xyxy(box: np.ndarray) -> np.ndarray:
    box = np.asarray(box, dtype=np.float64)
    return np.concatenate([box[..., :2], box[..., :2] + box[..., 2:4]], axis=-1)


def sanitize_bbox(bbox_xywh: np.ndarray, img_width: int, img_height: int) -> np.ndarray | None:
    """Clip a box to the image (inclusive pixel grid); ``None`` if nothing of it is left."""
    x, y, w, h = (float(v) for v in bbox_xywh[:4])
    x1, y1 = max(0.0, x), max(0.0, y)
    x2 = min(img_width - 1.0, x1 + max(0.0, w - 1.0))
    y2 = min(img_height - 1.0, y1 + max(0.0, h - 1.0))
    if w * h > 0 and x2 > x1 and y2 > y1:
        return np.array([x1, y1, x2 - x1, y2 - y1], dtype=np.float64)
    return None


def process_bbox(
    bbox_xywh: np.ndarray,
    img_width: int,
    img_height: int,
    ratio: float = DEFAULT_BBOX_RATIO,
    aspect: float = CROP_ASPECT,
    sanitize: bool = True,
) -> np.ndarray | None:
    """Detector box -> crop box: clip to the image, grow the short side to ``aspect`` (w/h), scale
    both sides by ``ratio`` about the centre. Returns float32 xywh, or ``None`` for an empty box.

    Official values: ratio 1.2 (SMPLest-X demo, SMPLer-X EHF test), 1.25 (SMPLer-X demo).
    """
    box = sanitize_bbox(bbox_xywh, img_width, img_height) if sanitize else np.asarray(
        bbox_xywh[:4], dtype=np.float64
    )
    if box is None:
        return None
    w, h = box[2], box[3]
    cx, cy = box[0] + w / 2.0, box[1] + h / 2.0
    if w > aspect * h:
        h = w / aspect
    elif w < aspect * h:
        w = h * aspect
    w, h = w * ratio, h * ratio
    return np.array([cx - w / 2.0, cy - h / 2.0, w, h], dtype=np.float32)


def crop_transform(
    center_xy: tuple[float, float],
    size_wh: tuple[float, float],
    out_hw: tuple[int, int] = CROP_INPUT_HW,
    scale: float = 1.0,
    rot_deg: float = 0.0,
    inverse: bool = False,
) -> np.ndarray:
    """(2, 3) float32 affine mapping the box (centre, size, scaled by ``scale`` and rotated by
    ``rot_deg`` counter-clockwise in the image) onto an ``out_hw`` patch; ``inverse`` gives the
    patch -> image map. The box centre goes to the patch centre, its half-height (rotated) to the
    patch's half-height and its half-width to the patch's half-width.
    """
    src_w, src_h = size_wh[0] * scale, size_wh[1] * scale
    rad = math.radians(rot_deg)
    sn, cs = math.sin(rad), math.cos(rad)

    def rot(v: tuple[float, float]) -> np.ndarray:
        return np.array([v[0] * cs - v[1] * sn, v[0] * sn + v[1] * cs], dtype=np.float32)

    c = np.asarray(center_xy, dtype=np.float32)
    src = np.stack([c, c + rot((0.0, src_h * 0.5)), c + rot((src_w * 0.5, 0.0))])
    dst_h, dst_w = out_hw
    d = np.array([dst_w * 0.5, dst_h * 0.5], dtype=np.float32)
    dst = np.stack([d, d + [0.0, dst_h * 0.5], d + [dst_w * 0.5, 0.0]]).astype(np.float32)
    pair = (dst, src) if inverse else (src, dst)
    return cv2.getAffineTransform(pair[0], pair[1]).astype(np.float32)


@dataclass
class CropResult:
    """A person crop. ``image`` is (H, W, 3) float32 RGB in the input's value range;
    ``img2crop`` / ``crop2img`` are (2, 3) affines between image and crop pixels."""

    image: np.ndarray
    bbox_xywh: np.ndarray
    img2crop: np.ndarray
    crop2img: np.ndarray
    flipped: bool = False


def crop_person(
    image: np.ndarray,
    bbox_xywh: np.ndarray,
    out_hw: tuple[int, int] = CROP_INPUT_HW,
    scale: float = 1.0,
    rot_deg: float = 0.0,
    flip: bool = False,
) -> CropResult:
    """Warp the processed box ``bbox_xywh`` of ``image`` (H, W, C) to an ``out_hw`` patch.

    With ``flip`` the image is mirrored first (pixel x -> W - 1 - x) and the box centre with it,
    as in the official augmentation; the returned affines then refer to the *mirrored* image.
    """
    img = image
    cx = float(bbox_xywh[0] + 0.5 * bbox_xywh[2])
    cy = float(bbox_xywh[1] + 0.5 * bbox_xywh[3])
    if flip:
        img = img[:, ::-1]
        cx = img.shape[1] - cx - 1
    size = (float(bbox_xywh[2]), float(bbox_xywh[3]))
    fwd = crop_transform((cx, cy), size, out_hw, scale, rot_deg)
    inv = crop_transform((cx, cy), size, out_hw, scale, rot_deg, inverse=True)
    patch = cv2.warpAffine(
        np.ascontiguousarray(img),
        fwd,
        (int(out_hw[1]), int(out_hw[0])),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
    )
    return CropResult(patch.astype(np.float32), np.asarray(bbox_xywh, np.float32), fwd, inv, flip)


def apply_affine(points_xy: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine to (..., 2) points."""
    pts = np.asarray(points_xy, dtype=np.float64)
    return pts @ np.asarray(affine, np.float64)[:, :2].T + np.asarray(affine, np.float64)[:, 2]
