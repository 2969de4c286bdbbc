"""Person proposals that do not need a face: mediapipe's bundled selfie segmenter, and windows on
the image border, each verified by the pose landmark model and by the segmenter.

The BlazePose detector anchors every detection on a face, so people whose face is outside the
image (cut by the border), turned away or hidden are never proposed. Two sources reach them:

1. **Leftover blobs**: the selfie segmenter (``selfie_segmentation.tflite``, 256x256) runs on
   the whole image and on 1/2 tiles; its person probability (max over windows) minus the masks
   of the people found so far leaves blobs; each blob big enough gets a landmark crop.
2. **Border windows**: square windows along the four edges (centred :data:`BORDER_INSET` of
   their side inside the edge), where the leftover mask shows something, get a landmark crop;
   the result counts only if its person box touches the border (a person cut by it).

When the leftover covers more than half of the image the segmenter is failing on it (it marks
close-up objects, a cat, a cup, as a person) and neither source runs.

A proposal becomes a person only when the landmark model's presence exceeds
``SearchConfig.segment_presence`` *and* the segmenter agrees with the landmark model's own
person mask (:func:`mask_agreement`; two independent models: the landmark model alone
hallucinates people on textures such as gravel) *and* it swallows no person found already.
The search's duplicate and part rules then apply as for every candidate.

All coordinates are original-image pixels; the probability map has cells of ``stride`` pixels
(:func:`map_stride`: 2, coarser for very large images).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from ehps.detection.landmarks import PoseResult
from ehps.detection.litert import TfliteModel
from ehps.detection.people import in_mask, mask_centres
from ehps.detection.roi import ImagePyramid, Roi

__all__ = ["SelfieSegmenter", "map_stride", "segment_windows", "leftover_mask", "blob_boxes",
           "border_windows", "cells_in_window", "mask_agreement", "touches_border",
           "BORDER_INSET"]

#: A border window's centre lies this fraction of its side inside the image edge.
BORDER_INSET: float = 0.2


def map_stride(height: int, width: int, cells: int = 1024) -> int:
    """Pixels per cell of the segmenter's map: 2, or more for images whose long side exceeds
    ``2 * cells`` (the segmenter sees 256 cells per window, so finer maps add nothing)."""
    return max(2, int(math.ceil(max(height, width) / cells)))


class SelfieSegmenter:
    """The bundled selfie segmenter on square windows, merged into one probability map.

    Args:
        num_threads: interpreter threads.
    """

    def __init__(self, num_threads: int = 2) -> None:
        self.model = TfliteModel("selfie_segmentation", num_threads)

    def __call__(self, pyramid: ImagePyramid, windows: Sequence[Roi], stride: int
                 ) -> np.ndarray:
        """(ceil(H / stride), ceil(W / stride)) float32 person probability in [0, 1]: the
        maximum over ``windows`` (axis-aligned; letterboxed, zero outside the image)."""
        h, w = pyramid.shape[:2]
        s = int(stride)
        gh, gw = (h + s - 1) // s, (w + s - 1) // s
        out = np.zeros((gh, gw), np.float32)
        size = self.model.input_hw
        for win in windows:
            tensor, padded, _ = pyramid.crop(win, size, value_range=(0.0, 1.0),
                                             keep_aspect_ratio=True, border_zero=True)
            prob = self.model(tensor[None])[0].reshape(size)
            scale = padded.w / size[1] / s
            x0 = ((padded.cx - padded.w / 2.0) / s)
            y0 = ((padded.cy - padded.h / 2.0) / s)
            warp = np.array([[scale, 0.0, x0], [0.0, scale, y0]], np.float32)
            mapped = cv2.warpAffine(prob.astype(np.float32), warp, (gw, gh),
                                    flags=cv2.INTER_LINEAR, borderValue=0.0)
            np.maximum(out, mapped, out=out)
        return out


def segment_windows(height: int, width: int) -> list[Roi]:
    """The segmenter's windows: the whole image (a square of its long side) and 3x2 squares of
    half the long side spread over it."""
    long_side = float(max(height, width))
    half = long_side / 2.0
    out = [Roi(width / 2.0, height / 2.0, long_side, long_side)]
    xs = np.linspace(half / 2.0, max(width - half / 2.0, half / 2.0), 3)
    ys = np.linspace(half / 2.0, max(height - half / 2.0, half / 2.0), 2)
    out += [Roi(float(x), float(y), half, half) for x in xs for y in ys]
    return out


def leftover_mask(prob: np.ndarray, people: Sequence[PoseResult], stride: int,
                  threshold: float = 0.5, grow: int = 2) -> np.ndarray:
    """(h, w) bool cells of the map where the segmenter sees a person (``prob > threshold``)
    that no found person's mask (grown by ``grow`` cells) explains, opened by a 3x3 kernel
    (thin slivers along known silhouettes go)."""
    gh, gw = prob.shape
    known = np.zeros((gh, gw), bool)
    for pose in people:
        if pose.mask_roi is None:
            continue
        corners = pose.mask_roi.corners() / stride  # only the cells under this person's crop
        x0, y0 = np.clip(np.floor(corners.min(0)).astype(int), 0, [gw, gh])
        x1, y1 = np.clip(np.ceil(corners.max(0)).astype(int) + 1, 0, [gw, gh])
        if x1 <= x0 or y1 <= y0:
            continue
        gy, gx = np.mgrid[y0:y1, x0:x1]
        pts = np.stack([gx.ravel() * stride + stride / 2.0,
                        gy.ravel() * stride + stride / 2.0], 1)
        known[y0:y1, x0:x1] |= in_mask(pose, pts).reshape(y1 - y0, x1 - x0)
    if people and grow > 0:
        kernel = np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)
        known = cv2.dilate(known.astype(np.uint8), kernel) > 0
    left = ((prob > threshold) & ~known).astype(np.uint8)
    return cv2.morphologyEx(left, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)) > 0


def blob_boxes(left: np.ndarray, stride: int, min_side_px: float, max_area_frac: float = 0.5,
               min_area_px: float = 300.0) -> list[np.ndarray]:
    """(4,) float xywh image-pixel boxes of the connected blobs of ``left``: at least
    ``min_side_px`` on their longer side and ``min_area_px`` in area; a blob whose box covers
    more than ``max_area_frac`` of the image is the segmenter failing on the background, not a
    person."""
    gh, gw = left.shape
    count, _, stats, _ = cv2.connectedComponentsWithStats(left.astype(np.uint8))
    out = []
    for k in range(1, count):
        x, y, bw, bh, area = (int(v) for v in stats[k])
        if max(bw, bh) * stride < min_side_px or area * stride * stride < min_area_px:
            continue
        if bw * bh > max_area_frac * gh * gw:
            continue
        out.append(np.array([x, y, bw, bh], np.float64) * stride)
    return out


def border_windows(height: int, width: int, sides: Sequence[float],
                   inset: float = BORDER_INSET) -> list[Roi]:
    """Square windows along the four edges: for each side (fraction of the long side), centres
    ``inset`` x side inside the edge, half a side apart along it."""
    long_side = float(max(height, width))
    out: list[Roi] = []
    for frac in sides:
        side = frac * long_side
        off = inset * side
        xs = (np.arange(side / 2.0, width - side / 2.0 + 1e-6, side / 2.0)
              if width > side else np.array([width / 2.0]))
        ys = (np.arange(side / 2.0, height - side / 2.0 + 1e-6, side / 2.0)
              if height > side else np.array([height / 2.0]))
        out += [Roi(float(x), off, side, side) for x in xs]
        out += [Roi(float(x), height - off, side, side) for x in xs]
        out += [Roi(off, float(y), side, side) for y in ys]
        out += [Roi(width - off, float(y), side, side) for y in ys]
    return out


def cells_in_window(left: np.ndarray, stride: int, window: Roi) -> int:
    """How many ``True`` cells of ``left`` lie in the axis-aligned ``window``."""
    gh, gw = left.shape
    x0 = int(max(np.floor((window.cx - window.w / 2.0) / stride), 0))
    x1 = int(min(np.ceil((window.cx + window.w / 2.0) / stride), gw))
    y0 = int(max(np.floor((window.cy - window.h / 2.0) / stride), 0))
    y1 = int(min(np.ceil((window.cy + window.h / 2.0) / stride), gh))
    if x1 <= x0 or y1 <= y0:
        return 0
    return int(left[y0:y1, x0:x1].sum())


def mask_agreement(pose: PoseResult, prob: np.ndarray, stride: int,
                   threshold: float = 0.5) -> float:
    """Fraction of the landmark model's person-mask cells (inside the image) where the
    segmenter's probability exceeds ``threshold``; 0 without a mask."""
    gh, gw = prob.shape
    pts = mask_centres(pose)
    if pts.shape[0] == 0:
        return 0.0
    cols = np.floor(pts[:, 0] / stride).astype(int)
    rows = np.floor(pts[:, 1] / stride).astype(int)
    ok = (cols >= 0) & (cols < gw) & (rows >= 0) & (rows < gh)
    if not ok.any():
        return 0.0
    return float((prob[rows[ok], cols[ok]] > threshold).mean())


def touches_border(box_xywh: np.ndarray, height: int, width: int, margin: float = 3.0) -> bool:
    """The (4,) xywh box reaches within ``margin`` pixels of an image edge."""
    x, y, bw, bh = (float(v) for v in box_xywh)
    return x < margin or y < margin or x + bw > width - margin or y + bh > height - margin
