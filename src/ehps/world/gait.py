"""A procedural walk that is physically plausible on a flat floor: a footstep plan, a smooth
pelvis path and an exact two-bone IK of both legs to the planned feet.

Used by :mod:`ehps.world.synthetic` to make ground truth for the floor fit, the foot contacts and
the foot-skate cleanup; the truth must itself be clean there:

- each foot is flat on the floor (its rest orientation turned to the heading) and does not move
  at all during its stance (60 % of the gait cycle);
- the swing foot leaves and lands with zero speed and acceleration (a minimum-jerk path forward
  and a ``64 s^3 (1 - s)^3`` lift), so it never goes under the floor;
- both feet are planted in two double supports (10 % of the cycle each);
- the pelvis moves at a constant speed along the heading with small sinusoidal side sway and
  vertical bob (highest at mid-stance), so its path is smooth (no jumps);
- the hips, knees and ankles are solved in closed form for any skeleton whose child joints
  follow the parent's global rotation applied to the rest offsets (SMPL-X and ehps's Anny; the
  knee flexes about its local x axis).

Frames: the *walking frame* is the body frame at heading 0: +z forward, +x the person's left,
+y up, floor ``y = 0``. Gait time is counted in ``cycles`` (strides); the left heel strikes at
integer cycles, the right half a cycle later.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

__all__ = ["STANCE_SHARE", "foot_contacts", "stance_foot", "LegGeometry", "pelvis_rotation",
           "plan_walk", "solve_legs"]

#: Share of a gait cycle that a foot spends on the floor; the double supports are
#: ``STANCE_SHARE - 0.5`` of the cycle each.
STANCE_SHARE = 0.6
_MID_STANCE = STANCE_SHARE / 2
_FEET = ((7, 4, 1), (8, 5, 2))  # (ankle, knee, hip) of the left and the right leg


def foot_contacts(cycles: np.ndarray) -> np.ndarray:
    """(T, 2) bool: whether the left / right foot is planted at each gait time (T,) cycles."""
    u = np.stack([np.mod(cycles, 1.0), np.mod(cycles - 0.5, 1.0)], 1)
    return u < STANCE_SHARE


def stance_foot(cycles: np.ndarray) -> np.ndarray:
    """(T,) the foot that carries the body (0 left, 1 right): the switch is in the middle of
    each double support."""
    u = np.mod(cycles, 1.0)
    half = (STANCE_SHARE - 0.5) / 2
    return np.where((u >= half) & (u < 0.5 + half), 0, 1)


@dataclass
class LegGeometry:
    """The rest skeleton of the legs (SMPL-X frame, metres).

    Attributes:
        hip: (2, 3) hip joint minus pelvis joint; ``thigh``: (2, 3) knee minus hip; ``shin``:
            (2, 3) ankle minus knee (left, right); ``ankle_height``: (2,) height of the ankle
            joint above the lowest vertex of its foot in the rest pose (the foot flat on the
            floor at its rest orientation); ``root``: (3,) the rest pelvis joint.
    """

    hip: np.ndarray
    thigh: np.ndarray
    shin: np.ndarray
    ankle_height: np.ndarray
    root: np.ndarray

    @classmethod
    def from_rest(cls, joints: np.ndarray, foot_low: np.ndarray) -> LegGeometry:
        """From the rest joints (55, 3) and the lowest rest vertex height of each foot (2,)."""
        j = np.asarray(joints, np.float64)
        a, k, h = (np.array([j[leg[i]] for leg in _FEET]) for i in range(3))
        return cls(h - j[0], k - h, a - k, a[:, 1] - np.asarray(foot_low, np.float64), j[0])

    def reach(self) -> np.ndarray:
        """(2,) the longest hip-to-ankle distance the knee allows (metres)."""
        b, c, const = _knee_terms(self.thigh, self.shin)
        return np.sqrt(const + 2 * np.hypot(b, c))


def _knee_terms(thigh: np.ndarray, shin: np.ndarray) -> tuple[np.ndarray, ...]:
    """|thigh + Rx(q) shin|^2 = const + 2 (b cos q + c sin q), per leg."""
    const = (thigh ** 2).sum(-1) + (shin ** 2).sum(-1) + 2 * thigh[..., 0] * shin[..., 0]
    b = thigh[..., 1] * shin[..., 1] + thigh[..., 2] * shin[..., 2]
    c = thigh[..., 2] * shin[..., 1] - thigh[..., 1] * shin[..., 2]
    return b, c, const


def _min_jerk(s: np.ndarray) -> np.ndarray:
    return s ** 3 * (10 - 15 * s + 6 * s ** 2)


def _yaw(deg: np.ndarray | float) -> Rotation:
    return Rotation.from_rotvec(np.radians(np.atleast_1d(deg))[:, None] * [0.0, 1.0, 0.0])


def pelvis_rotation(cycles: np.ndarray, lean_deg: float = 3.0, yaw_deg: float = 4.0
                    ) -> np.ndarray:
    """(T, 3, 3) the pelvis rotation in the walking frame: a forward lean and a yaw that brings
    the hip of the swinging leg forward (the left one at the left heel strike)."""
    c = np.asarray(cycles, np.float64)
    yaw = Rotation.from_rotvec(np.radians(-yaw_deg * np.cos(2 * np.pi * c))[:, None]
                               * [0.0, 1.0, 0.0])
    lean = Rotation.from_rotvec(np.radians(lean_deg) * np.array([1.0, 0.0, 0.0]))
    return (yaw * lean).as_matrix()


def _layout(cycles: np.ndarray, legs: LegGeometry, stride: float, lift_m: float,
            width_share: float, sway_m: float) -> tuple[np.ndarray, np.ndarray]:
    """The planned ankles (T, 2, 3) and the pelvis (T, 3) with its height left at 0."""
    ankles = np.zeros((len(cycles), 2, 3))
    for f in (0, 1):
        c = cycles - 0.5 * f
        k, u = np.floor(c), np.mod(c, 1.0)
        s = np.clip((u - STANCE_SHARE) / (1 - STANCE_SHARE), 0.0, 1.0)
        ankles[:, f, 2] = stride * (k + _MID_STANCE + 0.5 * f + _min_jerk(s))
        ankles[:, f, 1] = legs.ankle_height[f] + lift_m * 64 * s ** 3 * (1 - s) ** 3
        ankles[:, f, 0] = width_share * legs.hip[f, 0]
    pelvis = np.zeros((len(cycles), 3))
    pelvis[:, 2] = stride * cycles
    pelvis[:, 0] = sway_m * np.cos(2 * np.pi * (cycles - _MID_STANCE))
    return ankles, pelvis


def plan_walk(cycles: np.ndarray, legs: LegGeometry, *, stride_legs: float = 1.25,
              lift_m: float = 0.10, width_share: float = 0.8, sway_m: float = 0.02,
              bob_max_m: float = 0.03, reach_share: float = 0.99
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Plan the feet and the pelvis in the walking frame.

    Args:
        cycles: (T,) gait time in strides.
        legs: the rest leg skeleton.
        stride_legs: stride length (two steps) in leg lengths (the longer ``reach``).
        lift_m: the swing ankle's highest lift above its planted height.
        width_share: each foot's sideways offset as a share of its hip's.
        sway_m: amplitude of the pelvis's side sway (towards the stance foot).
        bob_max_m: the largest amplitude of the pelvis's vertical bob (twice a cycle, about
            highest at mid-stance): the bob follows the legs' reach up to this.
        reach_share: the legs stretch to at most this share of their reach.

    Returns:
        ``ankles`` (T, 2, 3) the planned ankle joints (left, right), ``pelvis`` (T, 3) the pelvis
        joint (at ``x = z = 0`` at ``cycles[0]``) and ``pelvis_rot`` (T, 3, 3) its rotation
        (:func:`pelvis_rotation`), all in the walking frame.
    """
    cycles = np.asarray(cycles, np.float64)
    stride = stride_legs * float(legs.reach().max())
    ankles, pelvis = _layout(cycles, legs, stride, lift_m, width_share, sway_m)
    # The pelvis height: as high as the legs allow at the tightest moment of a cycle (on a fine
    # grid of one cycle, the gait being periodic).
    grid = np.linspace(0.0, 1.0, 801)
    g_ank, g_pel = _layout(grid, legs, stride, lift_m, width_share, sway_m)
    g_rot = pelvis_rotation(grid)
    reach = reach_share * legs.reach()
    top = np.full(len(grid), np.inf)
    for f in (0, 1):
        hip = g_rot @ legs.hip[f]
        flat = np.linalg.norm((g_pel + hip - g_ank[:, f])[:, [0, 2]], axis=1)
        if (flat >= reach[f]).any():
            raise ValueError("the planned stride is longer than the legs reach")
        top = np.minimum(top, g_ank[:, f, 1] + np.sqrt(reach[f] ** 2 - flat ** 2) - hip[:, 1])
    # The bob: a sinusoid of half a cycle whose amplitude and phase give the highest mean height
    # under the allowed one (a small grid search).
    best = (-np.inf, 0.0, 0.0)
    for amp in np.linspace(0.0, bob_max_m, 16):
        for lag in np.linspace(0.0, 0.5, 51, endpoint=False):
            base = float(np.min(top - amp * np.cos(4 * np.pi * (grid - lag))))
            best = max(best, (base, amp, lag))
    base, amp, lag = best
    pelvis[:, 1] = base + amp * np.cos(4 * np.pi * (cycles - lag))
    shift = pelvis[0].copy()
    shift[1] = 0.0
    return ankles - shift, pelvis - shift, pelvis_rotation(cycles)


def _frame(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(T, 3, 3) orthonormal columns: a's direction, b made orthogonal to it, their cross."""
    e1 = a / np.linalg.norm(a, axis=-1, keepdims=True)
    e2 = b - (b * e1).sum(-1, keepdims=True) * e1
    e2 = e2 / np.linalg.norm(e2, axis=-1, keepdims=True)
    return np.stack([e1, e2, np.cross(e1, e2)], -1)


def solve_legs(legs: LegGeometry, pelvis: np.ndarray, pelvis_rot: np.ndarray,
               ankles: np.ndarray, foot_rot: np.ndarray) -> np.ndarray:
    """Local rotations of the hips, knees and ankles that put each ankle joint exactly at its
    target with its foot at the given global rotation (closed form).

    The knee flexes about its local x axis; the hip's twist keeps the knee's axis along the
    foot's x axis (the knee points over the toes).

    Args:
        legs: the rest leg skeleton; pelvis: (T, 3) pelvis joint; pelvis_rot: (T, 3, 3) its
            global rotation; ankles: (T, 2, 3) ankle targets; foot_rot: (T, 2, 3, 3) the feet's
            global rotations. Any common frame (metres).

    Returns:
        (T, 2, 3, 3, 3): per leg the local rotations of (hip, knee, ankle).

    Raises:
        ValueError: when a target is beyond the leg's reach (by more than 0.1 mm).
    """
    n = len(pelvis)
    out = np.zeros((n, 2, 3, 3, 3))
    b, c, const = _knee_terms(legs.thigh, legs.shin)
    reach = legs.reach()
    for f in (0, 1):
        hip = pelvis + pelvis_rot @ legs.hip[f]
        dist = np.linalg.norm(ankles[:, f] - hip, axis=1)
        if (dist > reach[f] + 1e-4).any():
            raise ValueError(f"an ankle target is {dist.max() - reach[f]:.4f} m beyond reach")
        q = (np.minimum(dist, reach[f]) ** 2 - const[f]) / 2
        phi = np.arctan2(c[f], b[f])
        knee_angle = phi + np.arccos(np.clip(q / np.hypot(b[f], c[f]), -1.0, 1.0))
        knee = Rotation.from_rotvec(knee_angle[:, None] * [1.0, 0.0, 0.0]).as_matrix()
        v = legs.thigh[f] + knee @ legs.shin[f]
        w = np.einsum("tji,tj->ti", pelvis_rot, ankles[:, f] - hip)
        axis = np.einsum("tji,tj->ti", pelvis_rot, foot_rot[:, f, :, 0])
        hip_rot = _frame(w, axis) @ np.swapaxes(_frame(v, np.broadcast_to([1.0, 0, 0], v.shape)),
                                                 -1, -2)
        ankle = np.swapaxes(pelvis_rot @ hip_rot @ knee, -1, -2) @ foot_rot[:, f]
        out[:, f] = np.stack([hip_rot, knee, ankle], 1)
    return out
