"""Geometry of person candidates: their boxes, silhouettes, and when two candidates (or two
hands) are the same one. All coordinates are original-image pixels."""

from __future__ import annotations

import math

import cv2
import numpy as np

from ehps.detection.landmarks import PoseResult
from ehps.detection.roi import Roi, roi_from_alignment, transform_roi

__all__ = [
    "bbox_from_points",
    "clip_box",
    "person_box",
    "mask_points",
    "mask_iou",
    "body_size",
    "same_person",
    "same_hand",
    "usable_roi",
    "circle_in_window",
    "roi_from_pose",
    "box_intersection_xywh",
    "box_iou_xywh",
    "mask_coverage",
    "in_mask",
    "mask_centres",
    "silhouette_inside",
]


def bbox_from_points(points: np.ndarray, height: int, width: int,
                     margin: float = 0.1) -> np.ndarray:
    """(4,) float32 xywh: the box of ``points`` (N, 2), grown by ``margin`` x its longer side on
    every side (landmarks are joints; the body surface and the top of the head lie beyond
    them), clipped to the image."""
    lo = points.min(axis=0)
    hi = points.max(axis=0)
    pad = margin * float(max(hi[0] - lo[0], hi[1] - lo[1]))
    return clip_box(lo - pad, hi + pad, height, width)


def clip_box(lo: np.ndarray, hi: np.ndarray, height: int, width: int) -> np.ndarray:
    """(4,) float32 xywh of the corners ``lo``/``hi`` (2,) clipped to the image."""
    x0, y0 = min(max(lo[0], 0.0), width), min(max(lo[1], 0.0), height)
    x1, y1 = min(max(hi[0], 0.0), width), min(max(hi[1], 0.0), height)
    return np.array([x0, y0, x1 - x0, y1 - y0], dtype=np.float32)


def mask_points(pose: PoseResult) -> np.ndarray:
    """(M, 2) image-pixel corners of the person-mask cells (segmentation logit > 0); empty when
    the model gave no mask."""
    if pose.mask_logits is None or pose.mask_roi is None:
        return np.zeros((0, 2))
    rows, cols = np.nonzero(pose.mask_logits > 0)
    if rows.size == 0:
        return np.zeros((0, 2))
    n = pose.mask_logits.shape[0]
    tl, tr, _, bl = pose.mask_roi.corners().astype(np.float64)
    ex, ey = (tr - tl) / n, (bl - tl) / n
    corners = []
    for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
        corners.append(tl + np.outer(cols + dx, ex) + np.outer(rows + dy, ey))
    return np.concatenate(corners)


def person_box(pose: PoseResult, extra_points: list[np.ndarray], height: int,
               width: int) -> np.ndarray:
    """(4,) float32 xywh: the box of the person's visible body in the image: the union of the
    pose model's person mask and every landmark (clipped to the image), grown by 2% of its
    longer side. Without a mask, :func:`bbox_from_points` (10% margin) is used."""
    landmarks = np.concatenate([pose.points[:, :2], *extra_points])
    silhouette = mask_points(pose)
    if silhouette.shape[0] == 0:
        return bbox_from_points(landmarks, height, width)
    lm_box = clip_box(landmarks.min(0), landmarks.max(0), height, width)
    ms_box = clip_box(silhouette.min(0), silhouette.max(0), height, width)
    lo = np.minimum(lm_box[:2], ms_box[:2])
    hi = np.maximum(lm_box[:2] + lm_box[2:], ms_box[:2] + ms_box[2:])
    pad = 0.02 * float(max(hi - lo))
    return clip_box(lo - pad, hi + pad, height, width)


def body_size(points: np.ndarray) -> float:
    """Longer side (pixels, at least 1) of the box of ``points`` (N, 2)."""
    ext = points.max(axis=0) - points.min(axis=0)
    return float(max(ext[0], ext[1], 1.0))


def mask_iou(a: PoseResult, b: PoseResult, canvas: int = 128) -> float:
    """IoU of two candidates' person masks (logit > 0), compared on a ``canvas``-pixel grid
    over the union of their crops; 0 when the crops do not overlap."""
    if a.mask_logits is None or b.mask_logits is None or a.mask_roi is None or b.mask_roi is None:
        return 0.0
    ca, cb = a.mask_roi.corners(), b.mask_roi.corners()
    lo = np.minimum(ca.min(0), cb.min(0))
    hi = np.maximum(ca.max(0), cb.max(0))
    if (np.minimum(ca.max(0), cb.max(0)) <= np.maximum(ca.min(0), cb.min(0))).any():
        return 0.0
    scale = canvas / float(max(hi - lo))
    size = (int(np.ceil((hi[0] - lo[0]) * scale)) + 1, int(np.ceil((hi[1] - lo[1]) * scale)) + 1)
    masks = []
    for res, corners in ((a, ca), (b, cb)):
        n = res.mask_logits.shape[0]
        src = np.array([[0, 0], [n, 0], [0, n]], np.float32)
        dst = ((corners[[0, 1, 3]] - lo) * scale).astype(np.float32)
        warped = cv2.warpAffine((res.mask_logits > 0).astype(np.uint8), cv2.getAffineTransform(
            src, dst), size, flags=cv2.INTER_NEAREST)
        masks.append(warped > 0)
    union = np.logical_or(*masks).sum()
    return float(np.logical_and(*masks).sum() / union) if union else 0.0


def same_person(a: PoseResult, b: PoseResult, distance: float, iou: float) -> bool:
    """Two candidates are one person: their 33 landmarks lie within ``distance`` x body size
    of each other (median), or their silhouettes overlap with an IoU above ``iou``."""
    pa, pb = a.points[:, :2], b.points[:, :2]
    dist = float(np.median(np.linalg.norm(pa - pb, axis=1)))
    size = min(body_size(pa), body_size(pb))
    return dist < distance * size or mask_iou(a, b) > iou


def same_hand(a: np.ndarray, b: np.ndarray, threshold: float = 0.25) -> bool:
    """Two 21-point hands lie on each other: median point distance below ``threshold`` x the
    smaller hand's size."""
    dist = float(np.median(np.linalg.norm(a[:, :2] - b[:, :2], axis=1)))
    return dist < threshold * min(body_size(a[:, :2]), body_size(b[:, :2]))


def usable_roi(roi: Roi) -> bool:
    """A crop worth running a model on: finite, at least 2 pixels wide."""
    return bool(np.isfinite(roi.as_array()).all() and roi.w >= 2.0 and roi.h >= 2.0)


def circle_in_window(keypoints: np.ndarray, window: Roi, slack: float = 0.3) -> np.ndarray:
    """(N,) bool: the detection's full-body circle (centre keypoint 0, through keypoint 1) lies
    in the axis-aligned window grown by ``slack`` x its side."""
    centre = keypoints[:, 0]
    radius = np.linalg.norm(keypoints[:, 1] - keypoints[:, 0], axis=1)[:, None]
    half = np.array([window.w, window.h]) * (0.5 + slack)
    lo = np.array([window.cx, window.cy]) - half
    hi = np.array([window.cx, window.cy]) + half
    return np.all((centre - radius >= lo) & (centre + radius <= hi), axis=1)


def roi_from_pose(pose: PoseResult) -> Roi:
    """The crop mediapipe's tracking would use next: from the two auxiliary landmarks
    (PoseLandmarksToRoi: hip centre -> scale point upright, x1.25, square)."""
    roi = roi_from_alignment(pose.auxiliary[0], pose.auxiliary[1], math.pi / 2)
    return transform_roi(roi, 1.25, 1.25, square_long=True)


def box_intersection_xywh(a: np.ndarray, b: np.ndarray) -> float:
    """Area (pixels^2) of the intersection of two (4,) xywh boxes."""
    iw = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return float(iw * ih)


def box_iou_xywh(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two (4,) xywh boxes."""
    inter = box_intersection_xywh(a, b)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return float(inter / union) if union > 0 else 0.0


def mask_coverage(pose: PoseResult, box_xywh: np.ndarray, samples: int = 8) -> float:
    """Fraction of a ``samples`` x ``samples`` grid of points over ``box_xywh`` (image pixels)
    that fall inside the candidate's person mask (segmentation logit > 0); 0 without a mask."""
    if pose.mask_logits is None or pose.mask_roi is None:
        return 0.0
    x, y, w, h = (float(v) for v in box_xywh)
    u = (np.arange(samples) + 0.5) / samples
    pts = np.stack(np.meshgrid(x + u * w, y + u * h), -1).reshape(-1, 2)
    return float(in_mask(pose, pts).mean())


def in_mask(pose: PoseResult, points: np.ndarray) -> np.ndarray:
    """(N,) bool: which of the image-pixel ``points`` (N, 2) fall inside the candidate's person
    mask (segmentation logit > 0); all False without a mask."""
    if pose.mask_logits is None or pose.mask_roi is None:
        return np.zeros(len(points), bool)
    roi = pose.mask_roi
    c, s = math.cos(roi.rotation), math.sin(roi.rotation)
    d = np.asarray(points, np.float64).reshape(-1, 2) - np.array([roi.cx, roi.cy])
    # into the mask's own frame: rotate back, then [0, 1] over the (padded) crop
    lx = (c * d[:, 0] + s * d[:, 1]) / roi.w + 0.5
    ly = (-s * d[:, 0] + c * d[:, 1]) / roi.h + 0.5
    n = pose.mask_logits.shape[0]
    inside = (lx >= 0) & (lx < 1) & (ly >= 0) & (ly < 1)
    cols = np.clip((lx * n).astype(int), 0, n - 1)
    rows = np.clip((ly * n).astype(int), 0, n - 1)
    return inside & (pose.mask_logits[rows, cols] > 0)


def mask_centres(pose: PoseResult, stride: int = 4) -> np.ndarray:
    """(M, 2) image-pixel centres of the person-mask cells (segmentation logit > 0), every
    ``stride``-th cell along each axis; empty without a mask."""
    if pose.mask_logits is None or pose.mask_roi is None:
        return np.zeros((0, 2))
    logits = pose.mask_logits[::stride, ::stride]
    rows, cols = np.nonzero(logits > 0)
    if rows.size == 0:
        return np.zeros((0, 2))
    n = pose.mask_logits.shape[0]
    tl, tr, _, bl = pose.mask_roi.corners().astype(np.float64)
    ex, ey = (tr - tl) / n, (bl - tl) / n
    return (tl + np.outer(cols * stride + 0.5 * stride, ex)
            + np.outer(rows * stride + 0.5 * stride, ey))


def silhouette_inside(part: PoseResult, whole: PoseResult, height: int, width: int) -> float:
    """Fraction of ``part``'s silhouette (its person-mask cells inside the image) that lies
    inside ``whole``'s person mask: near 1 when ``part`` is a piece of ``whole`` (a leg, a
    torso seen by a small tile), near 0 for a visible person beside or behind ``whole``
    (visible pixels of one are not pixels of the other). 0 without masks."""
    pts = mask_centres(part)
    pts = pts[(pts[:, 0] >= 0) & (pts[:, 0] < width) & (pts[:, 1] >= 0) & (pts[:, 1] < height)]
    if pts.shape[0] == 0:
        return 0.0
    return float(in_mask(whole, pts).mean())
