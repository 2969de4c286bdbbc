"""Random hard poses: lunges, kicks, crouches, arms overhead, lying, side views, self-occlusion.

Each pose *kind* is an archetype whose joint angles are drawn from anatomical ranges (degrees,
then radians), mirrored at random between the person's left and right, plus the placement a
photo of it typically has (yaw, forward/backward lean, lying orientation, camera elevation).
Poses stay inside the fit's joint limits (:func:`ehps.fitting.priors.body_limits`), so a fitter
can reach every one of them.

Conventions are those of :mod:`ehps.fitting.priors` (SMPL-X ``body_pose`` rows, axis-angle in
the model frame: y up, the person faces +z, x = the person's left; the right side mirrors with
``(x, y, z) -> (x, -y, -z)``):

- hip: flexion (thigh forward) ``-rx``, abduction ``+rz``; knee flexion ``+rx``;
- ankle: plantar flexion ``+rx``; spine / neck / head: forward bend ``+rx``;
- shoulder: raising the arm from the T-pose ``+rz``, swinging it forward ``-ry``;
- elbow: flexion ``-ry``; collar: as the shoulder, small.

The global placement is returned as a rotation from the model frame to the OpenCV camera frame
(x right, y down, z forward).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ehps.fitting.priors import body_limits

__all__ = ["POSE_KINDS", "HARD_POSE_KINDS", "JOINT_ROWS", "sample_pose", "placement_rotation"]

#: SMPL-X body joint name -> body_pose row.
JOINT_ROWS: dict[str, int] = {
    name: i for i, name in enumerate((
        "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
        "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar",
        "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
        "right_wrist",
    ))
}  # fmt: skip


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


class _Pose:
    """Builds a body pose side by side: ``set(side, joint, rx, ry, rz)`` in left-side degrees."""

    def __init__(self) -> None:
        self.aa = np.zeros((21, 3), np.float64)

    def set(self, side: str, joint: str, rx: float = 0.0, ry: float = 0.0, rz: float = 0.0
            ) -> None:
        vec = np.radians([rx, ry, rz])
        if side == "right":
            vec = vec * np.array([1.0, -1.0, -1.0])
        name = joint if side == "mid" else f"{side}_{joint}"
        self.aa[JOINT_ROWS[name]] = vec

    def spine(self, total_deg: float, rng: np.random.Generator, twist: float = 0.0) -> None:
        share = rng.dirichlet([3.0, 3.0, 3.0])
        for frac, joint in zip(share, ("spine1", "spine2", "spine3")):
            self.set("mid", joint, total_deg * frac, twist / 3.0, 0.0)


def _sides(rng: np.random.Generator) -> tuple[str, str]:
    return ("left", "right") if rng.uniform() < 0.5 else ("right", "left")


def _arms_relaxed(p: _Pose, rng: np.random.Generator) -> None:
    """Arms hanging or loosely moved: the common case for arms that are not the point."""
    for side in ("left", "right"):
        p.set(side, "shoulder", _u(rng, -15, 15), _u(rng, -40, 20), _u(rng, -80, -45))
        p.set(side, "elbow", 0.0, _u(rng, -90, -5), 0.0)


def _arms_balance(p: _Pose, rng: np.random.Generator) -> None:
    """Arms out for balance (kicks, lunges)."""
    for side in ("left", "right"):
        p.set(side, "shoulder", _u(rng, -20, 20), _u(rng, -60, 30), _u(rng, -45, 10))
        p.set(side, "elbow", 0.0, _u(rng, -70, 0), 0.0)


def _lunge(p: _Pose, rng: np.random.Generator) -> dict[str, float]:
    front, back = _sides(rng)
    p.set(front, "hip", -_u(rng, 70, 105), _u(rng, -10, 10), _u(rng, 0, 15))
    p.set(front, "knee", _u(rng, 70, 110))
    p.set(front, "ankle", -_u(rng, 0, 25))
    p.set(back, "hip", _u(rng, 10, 30), _u(rng, -10, 10), _u(rng, 0, 10))
    p.set(back, "knee", _u(rng, 10, 70))
    p.set(back, "ankle", _u(rng, 0, 40))
    p.spine(_u(rng, -5, 20), rng)
    (_arms_balance if rng.uniform() < 0.5 else _arms_relaxed)(p, rng)
    return {"lean": _u(rng, 0, 20)}


def _kick(p: _Pose, rng: np.random.Generator) -> dict[str, float]:
    kick, stand = _sides(rng)
    p.set(kick, "hip", -_u(rng, 60, 110), _u(rng, -15, 15), _u(rng, 0, 25))
    p.set(kick, "knee", _u(rng, 0, 40))
    p.set(kick, "ankle", _u(rng, 0, 45))
    p.set(stand, "hip", -_u(rng, 0, 20), 0.0, _u(rng, 0, 10))
    p.set(stand, "knee", _u(rng, 0, 25))
    p.spine(-_u(rng, 0, 15), rng, twist=_u(rng, -20, 20))
    _arms_balance(p, rng)
    return {"lean": -_u(rng, 5, 25)}


def _crouch(p: _Pose, rng: np.random.Generator) -> dict[str, float]:
    for side in ("left", "right"):
        p.set(side, "hip", -_u(rng, 85, 120), _u(rng, -10, 15), _u(rng, 5, 35))
        p.set(side, "knee", _u(rng, 100, 145))
        p.set(side, "ankle", -_u(rng, 5, 30))
        p.set(side, "shoulder", _u(rng, -20, 20), -_u(rng, 20, 85), -_u(rng, 20, 65))
        p.set(side, "elbow", 0.0, -_u(rng, 10, 100), 0.0)
    p.spine(_u(rng, 10, 40), rng)
    p.set("mid", "neck", -_u(rng, 0, 25))
    return {"lean": _u(rng, 10, 35)}


def _arms_overhead(p: _Pose, rng: np.random.Generator) -> dict[str, float]:
    for side in ("left", "right"):
        up = rng.uniform() < 0.85
        rz = _u(rng, 55, 90) if up else _u(rng, -20, 30)
        p.set(side, "shoulder", _u(rng, -25, 25), _u(rng, -40, 25), rz)
        p.set(side, "collar", 0.0, 0.0, _u(rng, 5, 25) if up else 0.0)
        p.set(side, "elbow", 0.0, -_u(rng, 0, 70), 0.0)
        p.set(side, "hip", -_u(rng, 0, 15), 0.0, _u(rng, 0, 25))
        p.set(side, "knee", _u(rng, 0, 20))
    p.spine(-_u(rng, -5, 15), rng)
    return {"lean": _u(rng, -10, 10)}


def _lying(p: _Pose, rng: np.random.Generator) -> dict[str, float]:
    for side in ("left", "right"):
        p.set(side, "hip", -_u(rng, -10, 70), _u(rng, -10, 10), _u(rng, 0, 30))
        p.set(side, "knee", _u(rng, 0, 100))
        p.set(side, "shoulder", _u(rng, -20, 20), _u(rng, -60, 20), _u(rng, -80, 60))
        p.set(side, "elbow", 0.0, -_u(rng, 0, 110), 0.0)
    p.spine(_u(rng, -10, 25), rng, twist=_u(rng, -20, 20))
    return {"lying": 1.0}


def _walk(p: _Pose, rng: np.random.Generator, run: bool) -> None:
    fwd, bwd = _sides(rng)
    amp = 1.0 if run else 0.6
    p.set(fwd, "hip", -_u(rng, 20, 60) * amp, 0.0, _u(rng, 0, 8))
    p.set(fwd, "knee", _u(rng, 5, 70) * amp)
    p.set(bwd, "hip", _u(rng, 5, 30) * amp, 0.0, _u(rng, 0, 8))
    p.set(bwd, "knee", _u(rng, 20, 110) * amp)
    p.set(bwd, "ankle", _u(rng, 0, 40) * amp)
    # arms swing against the legs
    p.set(bwd, "shoulder", 0.0, -_u(rng, 15, 60) * amp, -_u(rng, 60, 78))
    p.set(fwd, "shoulder", 0.0, _u(rng, 5, 40) * amp, -_u(rng, 60, 78))
    p.set(bwd, "elbow", 0.0, -_u(rng, 30, 110) * amp, 0.0)
    p.set(fwd, "elbow", 0.0, -_u(rng, 10, 90) * amp, 0.0)
    p.spine(_u(rng, 0, 15) * amp, rng, twist=_u(rng, -10, 10))


def _side_view(p: _Pose, rng: np.random.Generator) -> dict[str, float]:
    _walk(p, rng, run=rng.uniform() < 0.5)
    yaw = _u(rng, 70, 110) * (1.0 if rng.uniform() < 0.5 else -1.0)
    return {"yaw": yaw, "lean": _u(rng, 0, 15)}


def _self_occlusion(p: _Pose, rng: np.random.Generator) -> dict[str, float]:
    mode = int(rng.integers(3))
    for side in ("left", "right"):
        p.set(side, "hip", -_u(rng, 0, 20), 0.0, _u(rng, 0, 12))
        p.set(side, "knee", _u(rng, 0, 25))
    if mode == 0:  # arms crossed in front of the chest
        for side in ("left", "right"):
            p.set(side, "shoulder", _u(rng, -20, 20), -_u(rng, 60, 90), -_u(rng, 35, 65))
            p.set(side, "elbow", 0.0, -_u(rng, 100, 140), 0.0)
    elif mode == 1:  # one arm behind the back, the other across the body
        a, b = _sides(rng)
        p.set(a, "shoulder", _u(rng, -10, 10), _u(rng, 25, 50), -_u(rng, 60, 78))
        p.set(a, "elbow", 0.0, -_u(rng, 40, 100), 0.0)
        p.set(b, "shoulder", _u(rng, -20, 20), -_u(rng, 50, 90), -_u(rng, 30, 60))
        p.set(b, "elbow", 0.0, -_u(rng, 80, 130), 0.0)
    else:  # bending over: torso far forward, arms hanging
        for side in ("left", "right"):
            p.set(side, "hip", -_u(rng, 50, 95), 0.0, _u(rng, 0, 15))
            p.set(side, "knee", _u(rng, 0, 30))
            p.set(side, "shoulder", _u(rng, -15, 15), -_u(rng, 50, 90), -_u(rng, 55, 78))
            p.set(side, "elbow", 0.0, -_u(rng, 0, 40), 0.0)
        p.spine(_u(rng, 15, 45), rng)
        return {"lean": _u(rng, 30, 60), "yaw": _u(rng, -100, 100)}
    return {"lean": _u(rng, -5, 10)}


def _truncated(p: _Pose, rng: np.random.Generator) -> dict[str, float]:
    _walk(p, rng, run=False)
    for side in ("left", "right"):
        p.set(side, "shoulder", _u(rng, -20, 20), -_u(rng, 0, 80), _u(rng, -75, -20))
        p.set(side, "elbow", 0.0, -_u(rng, 10, 120), 0.0)
    return {"truncated": 1.0, "lean": _u(rng, -5, 10)}


def _standing(p: _Pose, rng: np.random.Generator) -> dict[str, float]:
    if rng.uniform() < 0.5:
        _walk(p, rng, run=False)
    else:
        _arms_relaxed(p, rng)
        for side in ("left", "right"):
            p.set(side, "hip", -_u(rng, -5, 15), 0.0, _u(rng, 0, 12))
            p.set(side, "knee", _u(rng, 0, 20))
    return {"lean": _u(rng, -5, 10)}


_KINDS: dict[str, Callable[[_Pose, np.random.Generator], dict[str, float]]] = {
    "lunge": _lunge,
    "kick": _kick,
    "crouch": _crouch,
    "arms_overhead": _arms_overhead,
    "lying": _lying,
    "side_view": _side_view,
    "self_occlusion": _self_occlusion,
    "truncated": _truncated,
    "standing": _standing,
}
#: Every pose kind :func:`sample_pose` knows.
POSE_KINDS: tuple[str, ...] = tuple(_KINDS)
#: The kinds of the hard-pose set (issue 19's list). ``"truncated"`` (the lower body outside the
#: image) and ``"standing"`` are measured beside it.
HARD_POSE_KINDS: tuple[str, ...] = (
    "lunge", "kick", "crouch", "arms_overhead", "lying", "side_view", "self_occlusion",
)


def sample_pose(rng: np.random.Generator, kind: str) -> tuple[np.ndarray, dict[str, float]]:
    """One random pose of ``kind``.

    Args:
        rng: the random generator.
        kind: one of :data:`POSE_KINDS`.

    Returns:
        ``(body_pose (21, 3) float32 axis-angle radians, placement)``, the pose clipped to the
        fit's joint limits; ``placement`` holds ``"lean"`` (degrees, forward lean of the whole
        body, negative = backwards), and, where the kind asks for them, ``"yaw"`` (degrees),
        ``"lying"`` and ``"truncated"`` (flags).
    """
    if kind not in _KINDS:
        raise ValueError(f"unknown pose kind {kind!r}; known: {POSE_KINDS}")
    p = _Pose()
    placement = _KINDS[kind](p, rng)
    # a little of everything else, so no two poses of a kind share the untouched joints
    jitter = np.radians(rng.normal(0.0, 3.0, (21, 3)))
    lim = body_limits().astype(np.float64)
    pose = np.clip(p.aa + jitter, lim[..., 0], lim[..., 1])
    return pose.astype(np.float32), placement


def _rot(axis: int, deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    r = np.eye(3)
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    return r


def placement_rotation(rng: np.random.Generator, placement: dict[str, float],
                       yaw_range_deg: float = 120.0, elevation_deg: tuple[float, float] = (-5, 25)
                       ) -> np.ndarray:
    """(3, 3) float32 rotation from the model frame to the OpenCV camera frame.

    Upright kinds: a yaw about the vertical (``placement["yaw"]`` or uniform in
    +-``yaw_range_deg``), the kind's forward lean about the hip axis, a small roll, then the camera
    elevation (looking down by ``elevation_deg``). Lying: the body's long axis turned horizontal,
    rolled about itself at random (on the back, side or front), turned about the vertical, then
    seen from a camera looking down by 10-45 degrees.
    """
    yaw = placement.get("yaw", _u(rng, -yaw_range_deg, yaw_range_deg))
    if placement.get("lying", 0.0):
        body = (_rot(1, _u(rng, -50, 50)) @ _rot(0, _u(rng, -180, 180))
                @ _rot(2, 90.0 if rng.uniform() < 0.5 else -90.0))
        elevation = _u(rng, 10, 45)
    else:
        body = _rot(1, yaw) @ _rot(2, _u(rng, -6, 6)) @ _rot(0, placement.get("lean", 0.0))
        elevation = _u(rng, *elevation_deg)
    to_cam = np.diag([1.0, -1.0, -1.0])  # model (y up, facing +z) -> camera facing the person
    # a camera pitched down by `elevation` sees the world turned about its x axis (the top of a
    # standing person comes nearer)
    cam = _rot(0, elevation) @ to_cam @ body
    return cam.astype(np.float32)
