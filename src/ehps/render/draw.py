"""2D annotation helpers for overlays: person boxes with labels, keypoints with skeleton edges.

Images are (H, W, 3) uint8 RGB; coordinates are image pixels (x right, y down). Drawing uses
OpenCV's anti-aliased primitives; inputs are never modified in place.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ehps.errors import InputError
from ehps.render.shading import color_for_index, parse_color

__all__ = ["draw_boxes", "draw_keypoints"]

ColorLike = Sequence[float] | np.ndarray


def _rgb255(color: ColorLike) -> tuple[int, int, int]:
    c = np.rint(parse_color(color) * 255.0).astype(int).reshape(3)
    return int(c[0]), int(c[1]), int(c[2])


def _checked_image(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise InputError(f"image must be (H, W, 3) uint8 RGB, got {img.shape} {img.dtype}")
    return np.ascontiguousarray(img).copy()


def draw_boxes(
    image: np.ndarray,
    boxes_xywh: np.ndarray | Sequence[Sequence[float]],
    colors: Sequence[ColorLike] | None = None,
    labels: Sequence[str] | None = None,
    thickness: int = 2,
) -> np.ndarray:
    """Draw boxes (N, 4) xywh in pixels, each in its person colour, with optional text labels.

    Returns a new (H, W, 3) uint8 image.
    """
    out = _checked_image(image)
    boxes = np.asarray(boxes_xywh, dtype=np.float64).reshape(-1, 4)
    if labels is not None and len(labels) != len(boxes):
        raise InputError(f"got {len(labels)} labels for {len(boxes)} boxes")
    scale = max(0.4, min(out.shape[:2]) / 900.0)
    for i, (x, y, w, h) in enumerate(boxes):
        col = _rgb255(colors[i] if colors is not None else color_for_index(i))
        p1 = (int(round(x)), int(round(y)))
        p2 = (int(round(x + w)), int(round(y + h)))
        cv2.rectangle(out, p1, p2, col, thickness, cv2.LINE_AA)
        if labels is not None and labels[i]:
            (tw, th), base = cv2.getTextSize(labels[i], cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
            top = max(0, p1[1] - th - base - 2)
            cv2.rectangle(out, (p1[0], top), (p1[0] + tw + 4, top + th + base + 2), col, -1)
            lum = 0.299 * col[0] + 0.587 * col[1] + 0.114 * col[2]
            ink = (20, 20, 20) if lum > 140 else (245, 245, 245)
            org = (p1[0] + 2, top + th + 1)
            cv2.putText(out, labels[i], org, cv2.FONT_HERSHEY_SIMPLEX, scale, ink, 1, cv2.LINE_AA)
    return out


def draw_keypoints(
    image: np.ndarray,
    points_xy: np.ndarray,
    confidence: np.ndarray | None = None,
    edges: Sequence[tuple[int, int]] | None = None,
    color: ColorLike = (1.0, 0.85, 0.2),
    radius: int | None = None,
    min_confidence: float = 0.3,
) -> np.ndarray:
    """Draw one person's keypoints (N, 2) pixels and optional skeleton ``edges`` (index pairs).

    Points with ``confidence`` below ``min_confidence`` or non-finite coordinates are skipped.
    Returns a new (H, W, 3) uint8 image.
    """
    out = _checked_image(image)
    pts = np.asarray(points_xy, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] < 2:
        raise InputError(f"points_xy must be (N, 2), got {pts.shape}")
    pts = pts[:, :2]
    ok = np.isfinite(pts).all(axis=1)
    if confidence is not None:
        conf = np.asarray(confidence, dtype=np.float64).reshape(-1)
        if conf.shape[0] != pts.shape[0]:
            raise InputError(f"got {conf.shape[0]} confidences for {pts.shape[0]} points")
        ok &= conf >= min_confidence
    col = _rgb255(color)
    r = radius if radius is not None else max(2, int(round(min(out.shape[:2]) / 220)))
    shift = 4  # sub-pixel precision for OpenCV drawing
    fixed = np.zeros_like(pts, dtype=np.int64)
    fixed[ok] = np.rint(pts[ok] * (1 << shift)).astype(np.int64)
    for a, b in edges or ():
        if a < len(pts) and b < len(pts) and ok[a] and ok[b]:
            pa = (int(fixed[a, 0]), int(fixed[a, 1]))
            pb = (int(fixed[b, 0]), int(fixed[b, 1]))
            cv2.line(out, pa, pb, col, max(1, r // 2), cv2.LINE_AA, shift)
    for i in np.nonzero(ok)[0]:
        centre = (int(fixed[i, 0]), int(fixed[i, 1]))
        cv2.circle(out, centre, r << shift, (30, 30, 30), -1, cv2.LINE_AA, shift)
        cv2.circle(out, centre, max(1, r - 1) << shift, col, -1, cv2.LINE_AA, shift)
    return out
