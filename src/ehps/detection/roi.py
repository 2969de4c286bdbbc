"""Rotated regions of interest, as mediapipe's graphs build and crop them, in image pixels.

mediapipe keeps its rectangles normalised by the image size; every operation used by the pose,
hand and face graphs (alignment-point rects, rect transformation with ``square_long``, crops and
landmark projection) is equivalent to the pixel-space version here, which avoids the round trip.

Conventions: a :class:`Roi` is centred at ``(cx, cy)`` pixels with size ``(w, h)`` pixels and a
``rotation`` in radians (mediapipe's sign: positive turns the crop's up-vector clockwise in the
image, i.e. a person leaning right gets a positive angle). Crops map the rect onto a tensor the
way mediapipe's OpenCV converter does (corners onto corners, bilinear sampling).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

__all__ = [
    "Roi",
    "normalize_radians",
    "rotation_between",
    "roi_from_alignment",
    "roi_from_points",
    "transform_roi",
    "crop_roi",
    "roi_to_image",
    "letterbox_to_roi",
    "ImagePyramid",
    "as_pyramid",
]


@dataclass(frozen=True)
class Roi:
    """A rotated rectangle in image pixels (``rotation`` in radians)."""

    cx: float
    cy: float
    w: float
    h: float
    rotation: float = 0.0

    def corners(self) -> np.ndarray:
        """(4, 2) float32 corners: top-left, top-right, bottom-right, bottom-left of the crop."""
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        local = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]]) * [self.w, self.h]
        rot = np.array([[c, -s], [s, c]])
        return (local @ rot.T + [self.cx, self.cy]).astype(np.float32)

    def as_array(self) -> np.ndarray:
        """(5,) float32 ``[cx, cy, w, h, rotation]``."""
        return np.array([self.cx, self.cy, self.w, self.h, self.rotation], dtype=np.float32)


def normalize_radians(angle: float) -> float:
    """Wrap an angle into [-pi, pi)."""
    return angle - 2.0 * math.pi * math.floor((angle + math.pi) / (2.0 * math.pi))


def rotation_between(p0: np.ndarray, p1: np.ndarray, target_angle: float) -> float:
    """mediapipe's rect rotation: ``target - atan2(-(y1 - y0), x1 - x0)``, wrapped.

    Args:
        p0, p1: (2,) pixel points (start and end of the alignment vector).
        target_angle: angle (radians, counter-clockwise, y up) the vector should have upright.
    """
    return normalize_radians(target_angle - math.atan2(-(p1[1] - p0[1]), p1[0] - p0[0]))


def roi_from_alignment(center: np.ndarray, scale_point: np.ndarray, target_angle: float) -> Roi:
    """Square rect centred on ``center`` with side twice the distance to ``scale_point``, rotated
    so that the centre->scale vector points at ``target_angle`` (AlignmentPointsRectsCalculator).
    """
    size = 2.0 * float(np.hypot(*(np.asarray(scale_point) - np.asarray(center))))
    rot = rotation_between(center, scale_point, target_angle)
    return Roi(float(center[0]), float(center[1]), size, size, rot)


def roi_from_points(
    points: np.ndarray, rot_start: int | None = None, rot_end: int | None = None,
    target_angle: float = 0.0,
) -> Roi:
    """Axis-aligned bounding box of ``points`` (N, 2), optionally rotated by the vector from
    ``points[rot_start]`` to ``points[rot_end]`` (DetectionsToRectsCalculator on keypoints)."""
    pts = np.asarray(points, dtype=np.float64)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    rot = 0.0
    if rot_start is not None and rot_end is not None:
        rot = rotation_between(pts[rot_start], pts[rot_end], target_angle)
    return Roi(float(lo[0] + hi[0]) / 2, float(lo[1] + hi[1]) / 2, float(hi[0] - lo[0]),
               float(hi[1] - lo[1]), rot)


def transform_roi(
    roi: Roi,
    scale_x: float = 1.0,
    scale_y: float = 1.0,
    shift_x: float = 0.0,
    shift_y: float = 0.0,
    square_long: bool = False,
) -> Roi:
    """RectTransformationCalculator: shift along the rotated axes (fractions of the size), make
    square on the long side, then scale."""
    w, h, r = roi.w, roi.h, roi.rotation
    c, s = math.cos(r), math.sin(r)
    cx = roi.cx + w * shift_x * c - h * shift_y * s
    cy = roi.cy + w * shift_x * s + h * shift_y * c
    if square_long:
        w = h = max(w, h)
    return Roi(cx, cy, w * scale_x, h * scale_y, r)


def _pad_to_aspect(roi: Roi, out_hw: tuple[int, int]) -> tuple[Roi, np.ndarray]:
    """Grow the ROI to the tensor's aspect ratio; returns it and the letterbox padding
    ``[left, top, right, bottom]`` as fractions of the tensor (mediapipe's PadRoi)."""
    tensor_aspect = out_hw[0] / out_hw[1]
    roi_aspect = roi.h / roi.w
    pad = np.zeros(4, dtype=np.float64)
    if tensor_aspect > roi_aspect:
        pad[[1, 3]] = (1.0 - roi_aspect / tensor_aspect) / 2.0
        roi = replace(roi, h=roi.w * tensor_aspect)
    else:
        pad[[0, 2]] = (1.0 - tensor_aspect / roi_aspect) / 2.0
        roi = replace(roi, w=roi.h / tensor_aspect)
    return roi, pad


def crop_roi(
    image: np.ndarray,
    roi: Roi,
    out_hw: tuple[int, int],
    value_range: tuple[float, float] = (0.0, 1.0),
    keep_aspect_ratio: bool = True,
    border_zero: bool = False,
    flip_horizontally: bool = False,
) -> tuple[np.ndarray, Roi, np.ndarray]:
    """Warp the rotated ROI onto an ``out_hw`` float32 tensor (ImageToTensorCalculator, OpenCV).

    Args:
        image: (H, W, 3) uint8 RGB.
        roi: the region in image pixels.
        out_hw: (height, width) of the tensor.
        value_range: pixel values 0..255 map linearly onto this range.
        keep_aspect_ratio: letterbox (grow the ROI) instead of stretching.
        border_zero: fill outside the image with zeros (else replicate the border).
        flip_horizontally: mirror the crop (used for the right-eye iris crop).

    Returns:
        ``(tensor (out_h, out_w, 3) float32, padded_roi, padding (4,) [l, t, r, b])`` where the
        padded ROI is the rect that actually maps onto the whole tensor.
    """
    if roi.w <= 0 or roi.h <= 0 or not np.isfinite(roi.as_array()).all():
        raise ValueError(f"invalid ROI {roi}")
    pad = np.zeros(4)
    if keep_aspect_ratio:
        roi, pad = _pad_to_aspect(roi, out_hw)
    oh, ow = out_hw
    tl, tr, _, bl = roi.corners()
    src = np.stack([tl, tr, bl]).astype(np.float32)
    if flip_horizontally:
        src = np.stack([tr, tl, src[2] + (tr - tl)]).astype(np.float32)
    dst = np.array([[0.0, 0.0], [ow, 0.0], [0.0, oh]], dtype=np.float32)
    mat = cv2.getAffineTransform(src, dst)
    border = cv2.BORDER_CONSTANT if border_zero else cv2.BORDER_REPLICATE
    patch = cv2.warpAffine(image, mat, (ow, oh), flags=cv2.INTER_LINEAR, borderMode=border,
                           borderValue=0)
    lo, hi = value_range
    tensor = patch.astype(np.float32) * np.float32((hi - lo) / 255.0) + np.float32(lo)
    return tensor, roi, pad


def letterbox_to_roi(points_norm: np.ndarray, pad: np.ndarray) -> np.ndarray:
    """Tensor-normalised points (..., >=2) -> ROI-normalised (LandmarkLetterboxRemoval); a third
    column (z) is scaled like x."""
    out = np.array(points_norm, dtype=np.float64, copy=True)
    sx = 1.0 - pad[0] - pad[2]
    sy = 1.0 - pad[1] - pad[3]
    out[..., 0] = (out[..., 0] - pad[0]) / sx
    out[..., 1] = (out[..., 1] - pad[1]) / sy
    if out.shape[-1] > 2:
        out[..., 2] = out[..., 2] / sx
    return out


def roi_to_image(points_norm: np.ndarray, roi: Roi) -> np.ndarray:
    """ROI-normalised points (..., >=2) in [0, 1] -> image pixels (LandmarkProjectionCalculator);
    a third column (z, normalised like x) becomes pixels (scaled by the ROI width)."""
    pts = np.asarray(points_norm, dtype=np.float64)
    x, y = pts[..., 0] - 0.5, pts[..., 1] - 0.5
    c, s = math.cos(roi.rotation), math.sin(roi.rotation)
    out = np.array(pts, dtype=np.float64, copy=True)
    out[..., 0] = (c * x * roi.w - s * y * roi.h) + roi.cx
    out[..., 1] = (s * x * roi.w + c * y * roi.h) + roi.cy
    if pts.shape[-1] > 2:
        out[..., 2] = pts[..., 2] * roi.w
    return out


class ImagePyramid:
    """An image with lazily built 2x-downsampled copies (area averaging), so that crops that
    shrink the image a lot sample an anti-aliased level instead of skipping pixels.

    A crop whose source-to-tensor ratio ``s`` is below 8 reads the original image exactly as
    mediapipe does (bilinear; the landmark models are sensitive to the resampling, and this keeps
    their outputs identical to mediapipe's on ordinary photos); above, it reads level ``k``
    (``2**k`` times smaller) such that the remaining ratio lies in [2, 4). Coordinates in and out
    are always original pixels.

    Args:
        image: (H, W, 3) uint8 RGB.
    """

    def __init__(self, image: np.ndarray) -> None:
        self.image = image
        self._levels: list[np.ndarray] = [image]

    @property
    def shape(self) -> tuple[int, ...]:
        return self.image.shape

    def level(self, k: int) -> np.ndarray:
        """The image downsampled ``2**k`` times (level 0 is the original)."""
        while len(self._levels) <= k:
            prev = self._levels[-1]
            h, w = prev.shape[:2]
            if h < 2 or w < 2:
                return prev
            self._levels.append(cv2.resize(prev, ((w + 1) // 2, (h + 1) // 2),
                                           interpolation=cv2.INTER_AREA))
        return self._levels[k]

    def crop(
        self,
        roi: Roi,
        out_hw: tuple[int, int],
        value_range: tuple[float, float] = (0.0, 1.0),
        keep_aspect_ratio: bool = True,
        border_zero: bool = False,
        flip_horizontally: bool = False,
    ) -> tuple[np.ndarray, Roi, np.ndarray]:
        """:func:`crop_roi` through the pyramid; same arguments and results."""
        pad = np.zeros(4)
        if keep_aspect_ratio:
            roi, pad = _pad_to_aspect(roi, out_hw)
        ratio = max(roi.w / out_hw[1], roi.h / out_hw[0])
        k = int(math.floor(math.log2(ratio / 2.0))) if ratio >= 8.0 else 0
        src = self.level(k)
        if src is self.image:
            level_roi = roi
        else:
            sx = src.shape[1] / self.image.shape[1]
            sy = src.shape[0] / self.image.shape[0]
            level_roi = Roi((roi.cx + 0.5) * sx - 0.5, (roi.cy + 0.5) * sy - 0.5, roi.w * sx,
                            roi.h * sy, roi.rotation)
        tensor, _, _ = crop_roi(src, level_roi, out_hw, value_range, keep_aspect_ratio=False,
                                border_zero=border_zero, flip_horizontally=flip_horizontally)
        return tensor, roi, pad


def as_pyramid(image: np.ndarray | ImagePyramid) -> ImagePyramid:
    """Wrap an (H, W, 3) uint8 image in an :class:`ImagePyramid` (pyramids pass through)."""
    return image if isinstance(image, ImagePyramid) else ImagePyramid(image)
