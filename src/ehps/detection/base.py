"""What every person detector returns, and the protocol detectors follow.

Frames and units:
- ``*_2d`` arrays are pixels of the original image, x right, y down, as mediapipe defines them
  (its normalised landmark times the image size; OpenCV's sub-pixel convention, pixel (c, r)
  centred at (c, r), up to the half pixel that convention leaves open). Points of body parts
  outside the image are extrapolated beyond it.
- ``body_world`` is mediapipe's metric "world" pose: metres, origin half-way between the hips,
  axes aligned with the camera that took the image: x to the image right, y down, z away from the
  camera (a right-handed frame, the same orientation as the OpenCV camera frame, but centred on
  the hips rather than on the camera). A point with negative z is nearer the camera than the hips.
- "left"/"right" always mean the person's own side (mediapipe's convention): for a person facing
  the camera, ``left_hand_2d`` lies on the image's right.

Confidences are in [0, 1]. Body points use mediapipe's ``sigmoid(visibility) *
sigmoid(presence)``; hand and face points have no per-point score in the models, so they carry the
hand's (or face's) model score for every point.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "NUM_BODY",
    "NUM_HAND",
    "NUM_FACE",
    "BODY_LANDMARK_NAMES",
    "PersonLandmarks",
    "Detector",
]

NUM_BODY: int = 33
NUM_HAND: int = 21
NUM_FACE: int = 478

#: mediapipe's 33 BlazePose landmark names, in model order.
BODY_LANDMARK_NAMES: tuple[str, ...] = (
    "nose",
    "left_eye_inner",
    "left_eye",
    "left_eye_outer",
    "right_eye_inner",
    "right_eye",
    "right_eye_outer",
    "left_ear",
    "right_ear",
    "mouth_left",
    "mouth_right",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_pinky",
    "right_pinky",
    "left_index",
    "right_index",
    "left_thumb",
    "right_thumb",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_heel",
    "right_heel",
    "left_foot_index",
    "right_foot_index",
)


def _as(arr: Any, shape: tuple[int, ...], name: str) -> np.ndarray:
    out = np.asarray(arr, dtype=np.float32)
    if out.shape != shape:
        raise ValueError(f"PersonLandmarks.{name} must have shape {shape}, got {out.shape}")
    return out


@dataclass
class PersonLandmarks:
    """Whole-body landmarks of one person in one image.

    Attributes:
        bbox_xywh: (4,) float32 box in image pixels around the whole visible body: the union
            of the person's silhouette (the pose model's segmentation) and all landmarks, grown
            by 2% and clipped to the image.
        score: person confidence in [0, 1] (the pose model's presence score).
        body_2d: (33, 2) float32 body landmarks in image pixels (mediapipe BlazePose order,
            :data:`BODY_LANDMARK_NAMES`). Points outside the image are extrapolated.
        body_conf: (33,) float32 per-point confidence, visibility * presence, in [0, 1].
        body_world: (33, 3) float32 metric world landmarks in metres (hip-centred; x right,
            y down, z away from the camera; see the module docstring).
        left_hand_2d: (21, 2) float32 landmarks of the person's own left hand in image pixels
            (mediapipe hand order: wrist, thumb 1-4, index 1-4, middle, ring, pinky), or ``None``
            when that hand was not found.
        left_hand_conf: (21,) float32 per-point confidence, or ``None``.
        right_hand_2d: (21, 2) float32, the person's right hand, or ``None``.
        right_hand_conf: (21,) float32, or ``None``.
        face_2d: (478, 2) float32 face-mesh landmarks in image pixels (468 mesh points followed
            by 5 left-iris and 5 right-iris points), or ``None``.
        face_conf: (478,) float32 per-point confidence, or ``None``.
        extras: detector-specific data. :class:`~ehps.detection.MediapipeDetector` sets
            ``"detector_score"``, ``"visibility"`` and ``"presence"`` (33,) (whose product is
            ``body_conf``), ``"body_z"`` (33,) relative depth (pixels, smaller is nearer, hips
            at about 0), ``"roi"`` the pose crop ``[cx, cy, w, h, rotation]``,
            ``"left_hand_roi"``/``"right_hand_roi"``/``"face_roi"`` likewise, ``"mask_logits"``
            (256, 256) person-segmentation logits over the quadrilateral ``"mask_corners"``
            (4, 2) (image pixels: top-left, top-right, bottom-right, bottom-left of the mask),
            and ``"box_index"`` when boxes were given.
    """

    bbox_xywh: np.ndarray
    score: float
    body_2d: np.ndarray
    body_conf: np.ndarray
    body_world: np.ndarray
    left_hand_2d: np.ndarray | None = None
    left_hand_conf: np.ndarray | None = None
    right_hand_2d: np.ndarray | None = None
    right_hand_conf: np.ndarray | None = None
    face_2d: np.ndarray | None = None
    face_conf: np.ndarray | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.bbox_xywh = _as(self.bbox_xywh, (4,), "bbox_xywh")
        self.score = float(self.score)
        self.body_2d = _as(self.body_2d, (NUM_BODY, 2), "body_2d")
        self.body_conf = _as(self.body_conf, (NUM_BODY,), "body_conf")
        self.body_world = _as(self.body_world, (NUM_BODY, 3), "body_world")
        for part, n in (("left_hand", NUM_HAND), ("right_hand", NUM_HAND), ("face", NUM_FACE)):
            pts, conf = getattr(self, f"{part}_2d"), getattr(self, f"{part}_conf")
            if (pts is None) != (conf is None):
                raise ValueError(f"PersonLandmarks.{part}_2d and {part}_conf must both be set")
            if pts is not None:
                setattr(self, f"{part}_2d", _as(pts, (n, 2), f"{part}_2d"))
                setattr(self, f"{part}_conf", _as(conf, (n,), f"{part}_conf"))

    def all_points_2d(self) -> np.ndarray:
        """(N, 2) every available 2D point (body, hands, face), for boxes and drawing."""
        parts = [self.body_2d]
        parts += [p for p in (self.left_hand_2d, self.right_hand_2d, self.face_2d) if p is not None]
        return np.concatenate(parts, axis=0)


@runtime_checkable
class Detector(Protocol):
    """A whole-body landmark detector.

    Every method takes an (H, W, 3) uint8 RGB image. Boxes are (N, 4) float xywh in image pixels.
    """

    def __call__(self, image_rgb: np.ndarray) -> list[PersonLandmarks]:
        """Every person in the image (same as ``detect(image_rgb)``)."""
        ...

    def detect(
        self, image_rgb: np.ndarray, boxes_xywh: np.ndarray | None = None
    ) -> list[PersonLandmarks]:
        """Every person in the image; with ``boxes_xywh`` skip person detection and return one
        entry per given box in which a person was found (landmarks inside that box)."""
        ...

    def detect_people(self, image_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Person boxes only (cheap): ``(boxes_xywh (N, 4) float32, scores (N,) float32)``."""
        ...
