"""The people's vertical: which way is up, from the people standing in the video.

The floor's tilt is hard to get from the feet alone: a monocular depth error that drifts by 1-3 %
across a walk tilts the plane through the feet by degrees (:mod:`ehps.world.floor`, step 4). Two
cues that do not depend on the people's distance give the vertical instead, and
:func:`people_up` combines them into the floor normal's prior:

- the **standing axis** of each person (:func:`standing_axis`): the 3-D line from the middle of
  the ankles to the middle of the shoulders, in the frames where the body is straight. Its mean
  over everybody is a few degrees off (the estimate's lean towards or away from the camera is a
  guess: 0.2-3.9 degrees on walks rendered through the embedded estimator);
- the **image lines** of the same people (:func:`image_line_normals`): a standing person's
  ankle-to-shoulder line, as the image shows it, lies in a plane through the camera centre that
  contains the vertical. One such plane fixes the vertical's sideways lean (the camera's roll);
  people at different places in the image fix its tilt towards the camera too (their lines
  converge on the vertical vanishing point), without any depth.

:func:`people_up` is the unit vector closest to the mean standing axis (weight
``1 / axis_sigma^2``) and to all the image-line planes (each ``1 / line_sigma^2``, counted once
per ``line_indep_s`` seconds of a track, as consecutive frames are not independent; where the
lines scatter more than ``line_sigma`` about the solution, their robust scatter is used). On five
rendered walks it is 0.3-3.8 degrees from the truth (the standing axis alone 0.2-3.9, the plane
through the feet 1.8-12.3); on ``vtest.avi`` it is within 0.5 degrees of the vertical vanishing
point of the buildings and posts in the background (the standing axis alone: 8.4 degrees).

Camera frame (OpenCV axes: x right, y down, z forward), metres.
"""

from __future__ import annotations

import numpy as np

__all__ = ["standing_axis", "image_line_normals", "people_up", "unit_quadratic_min"]

_ANKLES, _SHOULDERS = (7, 8), (16, 17)  # SMPL-X joint indices


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _mid_ankle_shoulder(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, 3) mid-ankle and (T, 3) mid-shoulder points of (T, 55, 3) joints."""
    return joints[:, list(_ANKLES)].mean(1), joints[:, list(_SHOULDERS)].mean(1)


def standing_axis(joints: np.ndarray, pelvis_up: np.ndarray, max_bend_deg: float = 25.0
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The body's standing axis per frame.

    From the mid-ankle to the mid-shoulder point where the body is straight: the legs' line
    (mid-ankle to pelvis) and the trunk's (pelvis to mid-shoulder) within ``max_bend_deg`` of
    each other, as when standing or walking. Elsewhere (sitting, crouching, bending over) that
    line is not vertical, and the pelvis frame's up axis is used. The ankle-to-shoulder line is
    the person's outline, so it stays right when the estimate tips the pelvis (by 1-8 degrees
    on the rendered walks).

    Args:
        joints: (T, 55, 3) SMPL-X-order joints (metres).
        pelvis_up: (T, 3) unit up axis of the pelvis frame.
        max_bend_deg: the largest angle between legs and trunk that counts as straight.

    Returns:
        ``(axis, straight)``: (T, 3) unit vectors and (T,) bool.
    """
    ankles, shoulders = _mid_ankle_shoulder(joints)
    pelvis = joints[:, 0]
    legs, trunk = _unit(pelvis - ankles), _unit(shoulders - pelvis)
    straight = (legs * trunk).sum(-1) >= np.cos(np.radians(max_bend_deg))
    axis = np.where(straight[:, None], _unit(shoulders - ankles), _unit(pelvis_up))
    return axis, straight


def image_line_normals(joints: np.ndarray, straight: np.ndarray) -> np.ndarray:
    """(T, 3) unit normals of the planes through the camera centre (the origin) and each
    frame's mid-ankle and mid-shoulder points (the person's line in the image); NaN where the
    body is not ``straight`` (T,)."""
    n = _unit(np.cross(*_mid_ankle_shoulder(joints)))
    return np.where(np.asarray(straight, bool)[:, None], n, np.nan)


def unit_quadratic_min(s: np.ndarray, lam: float, prior: np.ndarray) -> np.ndarray:
    """The unit vector ``n`` minimising ``n^T s n + lam |n - prior|^2`` (``s`` (3, 3) symmetric
    positive semi-definite, ``lam`` > 0, ``prior`` unit), by bisection on the Lagrange
    multiplier of ``|n| = 1`` (``|n(mu)|`` is monotonic below the smallest eigenvalue)."""
    a, q = np.linalg.eigh(s + lam * np.eye(3))
    beta = q.T @ (lam * prior)

    def norm2(mu: float) -> float:
        return float(((beta / (a - mu)) ** 2).sum())

    lo, hi = a[0] - np.linalg.norm(beta) - 1e-12, a[0] - 1e-15 * max(1.0, abs(a[0]))
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if norm2(mid) > 1.0:
            hi = mid
        else:
            lo = mid
    return _unit(q @ (beta / (a - 0.5 * (lo + hi))))


def people_up(axes: list[np.ndarray], lines: list[np.ndarray | None], fps: float,
              axis_sigma_deg: float = 4.0, line_sigma_deg: float = 3.0,
              line_indep_s: float = 0.2) -> np.ndarray:
    """The people's vertical (see the module docstring).

    Args:
        axes: per track, (T_k, 3) standing axes of its usable frames.
        lines: per track, (T_k, 3) image-line plane normals of the same frames (NaN rows are
            skipped), or None.
        fps: frame rate (the image lines count once per ``line_indep_s`` seconds).
        axis_sigma_deg: the mean standing axis' error.
        line_sigma_deg: one frame's image line's angle to the plane of the true vertical
            (sway, gait, the estimate's own 2-D error); the lines' robust scatter about the
            first solution replaces it when larger.
        line_indep_s: how long an image line's error lasts.

    Returns:
        (3,) unit vector, on the side of the mean standing axis.
    """
    mean_axis = _unit(np.concatenate([np.asarray(a, np.float64) for a in axes]).mean(0))
    rows = [c[np.all(np.isfinite(c), axis=1)] for c in lines if c is not None]
    rows = [c for c in rows if len(c)]
    if not rows:
        return mean_axis
    c = np.concatenate(rows)
    lam = 1.0 / np.sin(np.radians(axis_sigma_deg)) ** 2
    share = min(1.0, 1.0 / max(fps * line_indep_s, 1e-9))
    n, sigma = mean_axis, np.sin(np.radians(line_sigma_deg))
    for _ in range(2):
        n = unit_quadratic_min(share / sigma**2 * (c.T @ c), lam, mean_axis)
        # the lines' own scatter about the solution, when wider than assumed, weighs them less
        sigma = max(sigma, 1.4826 * float(np.median(np.abs(c @ n))))
    return n if n @ mean_axis >= 0 else -n
