"""The BlazePose person detector (``pose_detection.tflite``) run on a whole image or a window.

Follows ``modules/pose_detection/pose_detection_cpu.pbtxt``: letterbox the window onto 224x224
(zero border, values in [-1, 1]), decode 2254 SSD anchors (min score 0.5 there), weighted NMS at
IoU 0.3, then undo the letterbox. Each detection carries a box around the *head* and four
keypoints: 0 mid-hip centre, 1 a point on the full-body circle, 2 mid-shoulder centre, 3 a point
on the upper-body circle. ``modules/pose_landmark/pose_detection_to_roi.pbtxt`` then turns
keypoints 0 and 1 into the landmark model's rotated crop (:func:`roi_from_detection`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ehps.detection.litert import TfliteModel
from ehps.detection.roi import (
    ImagePyramid,
    Roi,
    as_pyramid,
    letterbox_to_roi,
    roi_from_alignment,
    roi_to_image,
    transform_roi,
)
from ehps.detection.ssd import POSE_DETECTOR_SSD, decode_detections, ssd_anchors, weighted_nms

__all__ = ["PoseDetections", "PoseDetector", "roi_from_detection", "full_image_roi"]


@dataclass
class PoseDetections:
    """Person detections in image pixels.

    Attributes:
        boxes_xyxy: (N, 4) float32 head boxes.
        keypoints: (N, 4, 2) float32 alignment keypoints (hip centre, full-body scale point,
            shoulder centre, upper-body scale point).
        scores: (N,) float32 detector scores in [0, 1], descending.
    """

    boxes_xyxy: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    @staticmethod
    def empty() -> PoseDetections:
        return PoseDetections(np.zeros((0, 4), np.float32), np.zeros((0, 4, 2), np.float32),
                              np.zeros(0, np.float32))

    def take(self, keep: np.ndarray) -> PoseDetections:
        """The detections selected by ``keep`` ((N,) bool or int indices)."""
        return PoseDetections(self.boxes_xyxy[keep], self.keypoints[keep], self.scores[keep])

    @staticmethod
    def concat(items: list[PoseDetections]) -> PoseDetections:
        items = [d for d in items if len(d)]
        if not items:
            return PoseDetections.empty()
        return PoseDetections(np.concatenate([d.boxes_xyxy for d in items]),
                              np.concatenate([d.keypoints for d in items]),
                              np.concatenate([d.scores for d in items]))


def full_image_roi(height: int, width: int) -> Roi:
    """The axis-aligned ROI covering a whole ``height`` x ``width`` image."""
    return Roi(width / 2.0, height / 2.0, float(width), float(height), 0.0)


def roi_from_detection(keypoints: np.ndarray) -> Roi:
    """Landmark-model crop from one detection's (4, 2) pixel keypoints: centred on the hip
    centre, side 2 x 1.25 x the full-body radius, rotated so hips->scale point is upright."""
    roi = roi_from_alignment(keypoints[0], keypoints[1], math.pi / 2)
    return transform_roi(roi, scale_x=1.25, scale_y=1.25, square_long=True)


class PoseDetector:
    """Runs the bundled BlazePose detector.

    Args:
        num_threads: LiteRT CPU threads.
        min_score: detection score threshold before NMS (mediapipe uses 0.5).
        nms_iou: IoU above which detections merge in the weighted NMS (mediapipe: 0.3).
    """

    def __init__(self, num_threads: int = 2, min_score: float = 0.5, nms_iou: float = 0.3):
        self.model = TfliteModel("pose_detection", num_threads)
        self.anchors = ssd_anchors(POSE_DETECTOR_SSD)
        self.min_score = float(min_score)
        self.nms_iou = float(nms_iou)

    def __call__(
        self, image: np.ndarray | ImagePyramid, window: Roi | None = None
    ) -> PoseDetections:
        """Detect people in ``window`` (default: the whole image) of an (H, W, 3) uint8 RGB image.

        Returns:
            detections in full-image pixels, after NMS within this window.
        """
        return self.detect_with_weak(image, window)[0]

    def detect_with_weak(
        self, image: np.ndarray | ImagePyramid, window: Roi | None = None,
        weak_score: float | None = None,
    ) -> tuple[PoseDetections, PoseDetections]:
        """Detections at ``min_score`` (exactly those of :meth:`__call__`) and, separately, the
        weak ones scoring in ``[weak_score, min_score)`` (NMS among themselves; empty when
        ``weak_score`` is ``None``): hints of people too small for this window.

        Returns:
            ``(strong, weak)`` detections in full-image pixels.
        """
        if window is None:
            window = full_image_roi(*image.shape[:2])
        size = POSE_DETECTOR_SSD.input_size
        tensor, _, pad = as_pyramid(image).crop(window, (size, size), value_range=(-1.0, 1.0),
                                  keep_aspect_ratio=True, border_zero=True)
        raw_boxes, raw_scores = self.model(tensor[None])
        low = self.min_score if weak_score is None else min(weak_score, self.min_score)
        boxes, kps, scores = decode_detections(raw_boxes[0], raw_scores[0], self.anchors,
                                               POSE_DETECTOR_SSD, low)
        strong = scores >= self.min_score
        out = []
        for sel in (strong, ~strong):
            if not sel.any():
                out.append(PoseDetections.empty())
                continue
            b, k, sc = weighted_nms(boxes[sel], kps[sel], scores[sel], self.nms_iou)
            corners_img = roi_to_image(letterbox_to_roi(b.reshape(-1, 2, 2), pad), window)
            kps_img = roi_to_image(letterbox_to_roi(k, pad), window)
            out.append(PoseDetections(corners_img.reshape(-1, 4).astype(np.float32),
                                      kps_img.astype(np.float32), sc))
        return out[0], out[1]
