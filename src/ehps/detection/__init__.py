"""Person and whole-body landmark detection.

The embedded default, :class:`MediapipeDetector`, runs the tflite models bundled in mediapipe
0.10.21 directly (through ``ai_edge_litert``) and finds every person in an image. Heavy modules
are imported on first attribute access, so ``import ehps.detection`` stays cheap.
"""

from __future__ import annotations

from ehps.detection.base import (
    BODY_LANDMARK_NAMES,
    NUM_BODY,
    NUM_FACE,
    NUM_HAND,
    Detector,
    PersonLandmarks,
)
from ehps.utils.lazy import lazy_getattr

_LAZY = {
    "MediapipeDetector": "ehps.detection.mediapipe_detector",
    # images are read by ehps.io.image; these two names stay here for older imports
    "load_image": "ehps.io.image",
    "load_image_reduced": "ehps.io.image",
    "load_boxes": "ehps.detection.boxes",
}

__all__ = [
    "BODY_LANDMARK_NAMES",
    "NUM_BODY",
    "NUM_FACE",
    "NUM_HAND",
    "Detector",
    "PersonLandmarks",
    *_LAZY,
]

__getattr__ = lazy_getattr(__name__, _LAZY)
