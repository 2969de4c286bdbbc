"""Test-time augmentation of the pose landmark model: a second look at the same crop, mirrored.

BlazePose's landmark model sometimes folds a limb it cannot see well onto another body part (a
crouching person's far leg collapses onto the hands; an arm in front of the torso lands on the
hip). Its answer on the horizontally mirrored crop, mapped back (``PoseLandmarker(...,
flip=True)``), makes different mistakes of this kind, while both agree to a pixel or two on the
points that are clearly seen. :func:`merge_flipped` keeps the per-landmark mean of the two
answers and lowers the confidence of the landmarks on which they disagree, so the fitter leans
on its pose prior there instead of on a collapsed limb.

Measured on the synthetic hard-pose set (``benchmarks/fit_hard_poses.py``); one more landmark
model call per person (the crop is the same, so no new detection).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ehps.detection.landmarks import PoseResult
from ehps.detection.people import body_size as box_long_side

__all__ = ["POSE_TTA_MODES", "disagreement_weight", "merge_flipped", "body_size"]

#: ``"none"``: the landmark model once (mediapipe's behaviour); ``"flip-mean"``: mean of the plain
#: and the mirrored answers; ``"flip"``: that mean with the confidence of disagreeing landmarks
#: lowered (:func:`disagreement_weight`); ``"flip-2d"``: the mean of the image points only (the
#: world landmarks of the plain pass).
POSE_TTA_MODES: tuple[str, ...] = ("none", "flip-mean", "flip", "flip-2d")

#: Landmarks that size the body: shoulders, hips, knees, ankles (BlazePose indices).
_SIZE_POINTS = (11, 12, 23, 24, 25, 26, 27, 28)


def body_size(points_px: np.ndarray) -> float:
    """Long side (pixels) of the box around the shoulders, hips, knees and ankles.

    Args:
        points_px: (33, >=2) BlazePose landmarks in image pixels.
    """
    return box_long_side(np.asarray(points_px, np.float64)[list(_SIZE_POINTS), :2])


def disagreement_weight(points_a: np.ndarray, points_b: np.ndarray, size_px: float,
                        scale: float = 0.08) -> np.ndarray:
    """Per-landmark confidence factor from the distance between two answers.

    ``exp(-(d / (scale * size_px))**2)`` with ``d`` the (N,) pixel distances between the two
    answers' x, y: 1 where they agree, 0.78 at half of ``scale``, 0.37 at ``scale``.

    Args:
        points_a: (N, >=2) pixels.
        points_b: (N, >=2) pixels.
        size_px: body size in pixels (e.g. :func:`body_size`).
        scale: distance (fraction of ``size_px``) at which the factor is 1/e.

    Returns:
        (N,) float64 factors in (0, 1].
    """
    d = np.linalg.norm(np.asarray(points_a, np.float64)[:, :2]
                       - np.asarray(points_b, np.float64)[:, :2], axis=1)
    tau = max(scale * float(size_px), 1e-6)
    return np.exp(-(d / tau) ** 2)


def merge_flipped(plain: PoseResult, mirrored: PoseResult, down_weight: bool = True,
                  scale: float = 0.08, world: bool = True) -> PoseResult:
    """Consensus of the landmark model's answers on a crop and on its mirror image.

    Args:
        plain: the answer on the crop.
        mirrored: the answer on the mirrored crop, already mapped back (same ``roi``).
        down_weight: multiply each landmark's visibility by :func:`disagreement_weight`.
        scale: see :func:`disagreement_weight` (fraction of :func:`body_size`).
        world: average the world landmarks too (else keep those of ``plain``).

    Returns:
        a :class:`PoseResult` with the mean points (x, y, z), world points, auxiliary points,
        visibility, presence and mask logits of the two; ``score`` and ``roi`` of ``plain``.
    """
    points = 0.5 * (plain.points + mirrored.points)
    visibility = 0.5 * (plain.visibility + mirrored.visibility)
    if down_weight:
        size = body_size(points)
        visibility = visibility * disagreement_weight(plain.points, mirrored.points, size, scale)
    mask = plain.mask_logits
    if mask is not None and mirrored.mask_logits is not None:
        mask = 0.5 * (mask + mirrored.mask_logits)
    return replace(
        plain, points=points, visibility=visibility,
        presence=0.5 * (plain.presence + mirrored.presence),
        auxiliary=0.5 * (plain.auxiliary + mirrored.auxiliary),
        world=0.5 * (plain.world + mirrored.world) if world else plain.world, mask_logits=mask,
    )
