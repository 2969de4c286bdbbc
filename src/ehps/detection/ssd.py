"""SSD anchors, box decoding and weighted non-maximum suppression for mediapipe's BlazeFace-style
detectors (the pose detector and the short-range face detector).

The anchor scheme and the decoding follow mediapipe's ``SsdAnchorsCalculator`` and
``TensorsToDetectionsCalculator`` for the options the bundled graphs use (fixed-size anchors,
``reverse_output_order``: boxes are x-centre, y-centre, w, h followed by (x, y) keypoints, all in
input-tensor pixels relative to the anchor centre). Everything here is vectorised numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "SsdOptions",
    "POSE_DETECTOR_SSD",
    "FACE_SHORT_RANGE_SSD",
    "ssd_anchors",
    "decode_detections",
    "weighted_nms",
    "box_iou",
]


@dataclass(frozen=True)
class SsdOptions:
    """Anchor and decoding options of one detector (from its mediapipe graph)."""

    input_size: int
    strides: tuple[int, ...]
    num_keypoints: int
    min_scale: float = 0.1484375
    max_scale: float = 0.75
    anchor_offset: float = 0.5
    interpolated_scale_aspect_ratio: float = 1.0
    aspect_ratios: tuple[float, ...] = (1.0,)
    score_clip: float = 100.0


#: pose_detection.tflite (modules/pose_detection/pose_detection_cpu.pbtxt): 2254 anchors.
POSE_DETECTOR_SSD = SsdOptions(input_size=224, strides=(8, 16, 32, 32, 32), num_keypoints=4)
#: face_detection_short_range.tflite (modules/face_detection/face_detection_short_range.pbtxt).
FACE_SHORT_RANGE_SSD = SsdOptions(input_size=128, strides=(8, 16, 16, 16), num_keypoints=6)


def ssd_anchors(opts: SsdOptions) -> np.ndarray:
    """(N, 2) float32 anchor centres ``(x, y)`` normalised to [0, 1] (fixed anchor size 1).

    Layers that share a stride share one feature map; each cell gets one anchor per aspect ratio
    of every layer in the group, plus one interpolated-scale anchor per layer.
    """
    per_layer = len(opts.aspect_ratios) + (1 if opts.interpolated_scale_aspect_ratio > 0 else 0)
    centres = []
    i = 0
    while i < len(opts.strides):
        j = i
        while j < len(opts.strides) and opts.strides[j] == opts.strides[i]:
            j += 1
        n_per_cell = per_layer * (j - i)
        fm = math.ceil(opts.input_size / opts.strides[i])
        ys, xs = np.meshgrid(np.arange(fm), np.arange(fm), indexing="ij")
        cx = (xs + opts.anchor_offset) / fm
        cy = (ys + opts.anchor_offset) / fm
        grid = np.stack([cx, cy], axis=-1).reshape(-1, 1, 2)
        centres.append(np.repeat(grid, n_per_cell, axis=1).reshape(-1, 2))
        i = j
    return np.concatenate(centres).astype(np.float32)


def decode_detections(
    raw_boxes: np.ndarray,
    raw_scores: np.ndarray,
    anchors: np.ndarray,
    opts: SsdOptions,
    min_score: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode the raw regressor output of one image.

    Args:
        raw_boxes: (N, 4 + 2K) model regressors in input pixels.
        raw_scores: (N,) or (N, 1) logits.
        anchors: (N, 2) from :func:`ssd_anchors`.
        opts: the detector's options.
        min_score: keep detections with sigmoid score >= this.

    Returns:
        ``(boxes (M, 4) xyxy, keypoints (M, K, 2), scores (M,))``, normalised to the input tensor
        ([0, 1]), float32.
    """
    scale = float(opts.input_size)
    logits = np.clip(np.asarray(raw_scores, np.float64).reshape(-1), -opts.score_clip,
                     opts.score_clip)
    scores = 1.0 / (1.0 + np.exp(-logits))
    keep = scores >= min_score
    raw = np.asarray(raw_boxes, np.float32)[keep]
    anc = anchors[keep]
    cx = raw[:, 0] / scale + anc[:, 0]
    cy = raw[:, 1] / scale + anc[:, 1]
    w = raw[:, 2] / scale
    h = raw[:, 3] / scale
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    k = opts.num_keypoints
    kps = raw[:, 4 : 4 + 2 * k].reshape(-1, k, 2) / scale + anc[:, None, :]
    valid = (w >= 0) & (h >= 0) & np.isfinite(boxes).all(axis=1)
    return boxes[valid], kps[valid].astype(np.float32), scores[keep][valid].astype(np.float32)


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one xyxy box (4,) against many (M, 4); 0 where there is no overlap."""
    ix = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = ix * iy
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def weighted_nms(
    boxes: np.ndarray,
    keypoints: np.ndarray,
    scores: np.ndarray,
    iou_threshold: float = 0.3,
    return_index: bool = False,
) -> tuple[np.ndarray, ...]:
    """mediapipe's WEIGHTED non-maximum suppression.

    Repeatedly take the best remaining detection, gather every remaining one whose IoU with it
    exceeds ``iou_threshold`` (itself included), and output the score-weighted mean of their
    boxes and keypoints with the best score.

    Returns:
        ``(boxes (R, 4), keypoints (R, K, 2), scores (R,))`` in descending score order, plus
        ``best (R,)`` int64 indices of each group's top detection when ``return_index``.
    """
    order = np.argsort(-scores, kind="stable")
    out_b, out_k, out_s, out_i = [], [], [], []
    while order.size:
        best = order[0]
        iou = box_iou(boxes[best], boxes[order])
        group = order[iou > iou_threshold]
        if group.size == 0:  # degenerate (zero-area) box: keep it alone
            group = order[:1]
        wts = scores[group][:, None]
        total = wts.sum()
        out_b.append((boxes[group] * wts).sum(0) / total)
        out_k.append((keypoints[group] * wts[:, :, None]).sum(0) / total)
        out_s.append(scores[best])
        out_i.append(best)
        order = order[~np.isin(order, group)]
    k = keypoints.shape[1] if keypoints.ndim == 3 else 0
    result: tuple[np.ndarray, ...] = (
        np.asarray(out_b, np.float32).reshape(-1, 4),
        np.asarray(out_k, np.float32).reshape(-1, k, 2),
        np.asarray(out_s, np.float32),
    )
    if return_index:
        result += (np.asarray(out_i, np.int64),)
    return result
