"""The full-range face detector (``face_detection_full_range_sparse.tflite``, bundled in mediapipe
0.10.21) as a second source of person proposals.

The pose detector finds a person from the head and the body's alignment keypoints; the face
detector, trained for faces up to about 5 m away, still fires on a face whose body is hidden or
cut by the image border. Each face becomes a guess of the pose landmark model's crop
(:func:`roi_from_face`): the hips lie about four face heights below the eyes along the face's
vertical axis, and the crop spans about twelve face heights, upright with the face. The landmark
model then says whether a person is there (its presence score) and where.

Graph options follow ``modules/face_detection/face_detection_full_range.pbtxt``: 192x192
letterboxed input (zero border, values in [-1, 1]), 2304 SSD anchors (one per cell of a 48x48
grid), six keypoints (right eye, left eye, nose tip, mouth, right ear, left ear), weighted NMS at
IoU 0.3.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ehps.detection.litert import TfliteModel
from ehps.detection.roi import ImagePyramid, Roi, as_pyramid, letterbox_to_roi, roi_to_image
from ehps.detection.ssd import SsdOptions, decode_detections, ssd_anchors, weighted_nms

__all__ = ["FACE_FULL_RANGE_SSD", "FaceDetections", "FaceDetector", "roi_from_face",
           "FACE_TO_HIPS", "FACE_TO_CROP"]

#: face_detection_full_range: one 48x48 grid of fixed-size anchors.
FACE_FULL_RANGE_SSD = SsdOptions(input_size=192, strides=(4,), num_keypoints=6,
                                 interpolated_scale_aspect_ratio=0.0)
#: Distance from the eyes' midpoint to the hip centre, in face-box heights.
FACE_TO_HIPS: float = 4.0
#: Side of the pose landmark crop, in face-box heights.
FACE_TO_CROP: float = 12.5


@dataclass
class FaceDetections:
    """Faces in image pixels: ``boxes_xyxy`` (N, 4), ``keypoints`` (N, 6, 2) (right eye, left eye,
    nose tip, mouth, right ear, left ear; the person's own sides), ``scores`` (N,), descending."""

    boxes_xyxy: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return int(self.scores.shape[0])


class FaceDetector:
    """Runs the bundled full-range face detector on a window of an image.

    Args:
        num_threads: LiteRT CPU threads.
        min_score: score threshold (mediapipe's graph: 0.6).
        nms_iou: IoU above which faces merge.
    """

    def __init__(self, num_threads: int = 2, min_score: float = 0.6, nms_iou: float = 0.3
                 ) -> None:
        self.model = TfliteModel("face_detection_full_range", num_threads)
        self.anchors = ssd_anchors(FACE_FULL_RANGE_SSD)
        self.min_score = float(min_score)
        self.nms_iou = float(nms_iou)

    def __call__(self, image: np.ndarray | ImagePyramid, window: Roi | None = None
                 ) -> FaceDetections:
        """Faces in ``window`` (default: the whole image) of an (H, W, 3) uint8 RGB image, in
        full-image pixels."""
        pyr = as_pyramid(image)
        if window is None:
            h, w = pyr.shape[:2]
            window = Roi(w / 2.0, h / 2.0, float(w), float(h))
        size = FACE_FULL_RANGE_SSD.input_size
        tensor, _, pad = pyr.crop(window, (size, size), value_range=(-1.0, 1.0),
                                  keep_aspect_ratio=True, border_zero=True)
        raw_boxes, raw_scores = self.model(tensor[None])
        boxes, kps, scores = decode_detections(raw_boxes[0], raw_scores[0], self.anchors,
                                               FACE_FULL_RANGE_SSD, self.min_score)
        if scores.size == 0:
            return FaceDetections(np.zeros((0, 4), np.float32), np.zeros((0, 6, 2), np.float32),
                                  np.zeros(0, np.float32))
        boxes, kps, scores = weighted_nms(boxes, kps, scores, self.nms_iou)
        corners = roi_to_image(letterbox_to_roi(boxes.reshape(-1, 2, 2), pad), window)
        kps_img = roi_to_image(letterbox_to_roi(kps, pad), window)
        return FaceDetections(corners.reshape(-1, 4).astype(np.float32),
                              kps_img.astype(np.float32), scores)


def roi_from_face(box_xyxy: np.ndarray, keypoints: np.ndarray,
                  to_hips: float = FACE_TO_HIPS, crop: float = FACE_TO_CROP) -> Roi:
    """The pose landmark crop guessed from one face (pixels; see the module docstring).

    Args:
        box_xyxy: (4,) face box. keypoints: (6, 2) face keypoints.
        to_hips: eye-to-hip distance in face heights. crop: crop side in face heights.
    """
    eyes = 0.5 * (keypoints[0] + keypoints[1])
    across = keypoints[1] - keypoints[0]  # right eye -> left eye: the image's +x when upright
    down = np.array([-across[1], across[0]], np.float64)  # turned a quarter clockwise: down
    down /= max(float(np.hypot(*down)), 1e-9)
    if float(np.dot(keypoints[3] - eyes, down)) < 0:  # the mouth is below the eyes
        down = -down
    face_h = float(max(box_xyxy[3] - box_xyxy[1], box_xyxy[2] - box_xyxy[0]))
    hips = eyes + down * to_hips * face_h
    rotation = math.atan2(-down[0], down[1])  # 0 when down is +y; mediapipe's sign
    side = crop * face_h
    return Roi(float(hips[0]), float(hips[1]), side, side, rotation)
