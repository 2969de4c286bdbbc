"""Result containers shared by every estimator (network regressor or landmark fitting), so that
inference, export, rendering, tracking and evaluation treat them alike.

Frames and units: ``*_cam`` arrays are metres in the OpenCV camera frame (x right, y down,
z forward) of the camera named next to them; ``*_img`` arrays are pixels of the original image.
Arrays are numpy, unbatched, float32 unless stated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ehps.geometry.camera import Intrinsics

__all__ = ["SMPLX_PARAM_KEYS", "PersonEstimate", "FrameResult"]

#: Keys of the per-person SMPL-X parameter files the official SMPLer-X demo wrote, with shapes.
SMPLX_PARAM_KEYS: dict[str, tuple[int, ...]] = {
    "global_orient": (1, 3),
    "body_pose": (21, 3),
    "left_hand_pose": (15, 3),
    "right_hand_pose": (15, 3),
    "jaw_pose": (1, 3),
    "leye_pose": (1, 3),
    "reye_pose": (1, 3),
    "betas": (1, 10),
    "expression": (1, 10),
    "transl": (1, 3),
}


@dataclass
class PersonEstimate:
    """One person in one image.

    Attributes:
        bbox_xywh: (4,) the detector (or user) box in image pixels.
        score: detection confidence in [0, 1].
        body_model: which body model the parameters drive: ``"smplx"`` or ``"anny"``.
        params: body-model parameters, unbatched. For ``"smplx"`` the keys and shapes of
            :data:`SMPLX_PARAM_KEYS` (axis-angle, hand poses in the official
            ``flat_hand_mean=False`` convention, ``transl`` in the person camera). For ``"anny"``
            the same pose keys plus ``phenotype`` and ``facial_actions`` (see
            :mod:`ehps.bodymodels.anny`).
        vertices_cam: (V, 3) posed mesh in the person camera (``intrinsics``), metres; always the
            model-frame mesh plus ``params["transl"]``.
        joints_cam: (J, 3) joints in the person camera, metres. The first 55 rows are always the
            SMPL-X skeleton joints in SMPL-X order; SMPL-X models add the rest of the 144 official
            joints.
        joints_img: (J, 2) ``joints_cam`` projected with ``intrinsics``, image pixels.
        intrinsics: the person camera in original-image pixels (per person for network crops:
            official-spec a.5; the shared image camera for fitting).
        transl_full: (3,) translation that places the same mesh in the frame's shared camera
            (:attr:`FrameResult.intrinsics`), so that all people of a frame share one 3D scene.
        crop_bbox_xywh: (4,) the processed crop box fed to a network, or ``None``.
        track_id: stable identity across video frames, or ``None`` for single images.
        estimator: short name of what produced this (``"fit-anny"``, ``"smplerx_b32"``, ...).
        extras: anything estimator-specific (hand/face boxes, landmark confidences, fit losses).
    """

    bbox_xywh: np.ndarray
    score: float
    body_model: str
    params: dict[str, np.ndarray]
    vertices_cam: np.ndarray
    joints_cam: np.ndarray
    joints_img: np.ndarray
    intrinsics: Intrinsics
    transl_full: np.ndarray | None = None
    crop_bbox_xywh: np.ndarray | None = None
    track_id: int | None = None
    estimator: str = ""
    extras: dict[str, Any] = field(default_factory=dict)

    def vertices_full(self) -> np.ndarray:
        """(V, 3) the mesh in the frame's shared camera (needs ``transl_full``)."""
        if self.transl_full is None:
            raise ValueError("this estimate has no shared-camera translation (transl_full)")
        own = self.params.get("transl")
        own = np.zeros(3, np.float32) if own is None else np.asarray(own, np.float32).reshape(3)
        return self.vertices_cam - own + np.asarray(self.transl_full, np.float32).reshape(3)


@dataclass
class FrameResult:
    """All people found in one image or video frame.

    Attributes:
        source: the image path, or ``"<video path>#<frame index>"``.
        frame_index: index within a video (0 for a single image).
        image_hw: (height, width) of the original image in pixels.
        intrinsics: the shared full-image camera (given, or derived from the image size).
        people: one :class:`PersonEstimate` per person, in detection order (or by track id).
        faces: (F, 3) int triangle indices of the body model's mesh (shared by all people).
        warnings: human-readable notes (e.g. "no person found").
    """

    source: str
    frame_index: int
    image_hw: tuple[int, int]
    intrinsics: Intrinsics
    people: list[PersonEstimate] = field(default_factory=list)
    faces: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)
