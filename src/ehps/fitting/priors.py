"""Priors of the fit in SMPL-X joint space: joint limits, pose / shape / face priors and a penalty
for obviously impossible self-intersections.

Every body model in ehps takes SMPL-X pose parameters (parent-relative axis-angle rotations whose
rest frames are aligned with the model frame: y up, the person faces +z, x = the person's left),
so one table serves Anny and SMPL-X. Rest pose = T-pose, palms down.

Joint limits are boxes on the axis-angle components (rx, ry, rz) in radians: exact for a rotation
about one axis, a good approximation for the moderate combined rotations of real poses. Derivation
of the signs (left side; the right side mirrors with (x, y, z) -> (x, -y, -z)):

- knees: flexion swings the shin backwards: +rx only (no hyper-extension), little twist/varus;
- hips: flexion lifts the thigh forwards: -rx; abduction moves the left thigh to +x: +rz;
- elbows: the left forearm (along +x, palm down) flexes forwards (+z): -ry only, hinge-like;
- shoulders: lowering the left arm: -rz; swinging it forwards: -ry;
- fingers (left hand along +x, palm down): curling towards the palm (-y) is -rz; spreading is ry;
- spine / neck / head: bending forwards: +rx;
- jaw: opening (chin down): +rx.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = [
    "BODY_LIMITS_DEG",
    "HAND_LIMITS_DEG",
    "JAW_LIMITS_DEG",
    "body_limits",
    "hand_limits",
    "mirror_limits",
    "limit_penalty",
    "pose_prior",
    "BODY_PRIOR_WEIGHTS",
    "BODY_PRIOR_MEAN_DEG",
    "body_prior_tables",
    "hand_prior_tables",
    "HAND_PRIOR_WEIGHTS",
    "HAND_REST_FLEXION",
    "self_penetration_penalty",
]

# (lo, hi) per axis (rx, ry, rz) in degrees, left side or midline joint, SMPL-X body joint names.
BODY_LIMITS_DEG: dict[str, tuple[tuple[float, float], ...]] = {
    "left_hip": ((-125, 35), (-45, 45), (-30, 75)),
    "spine1": ((-30, 60), (-25, 25), (-25, 25)),
    "left_knee": ((-3, 150), (-20, 20), (-6, 6)),
    "spine2": ((-20, 35), (-25, 25), (-20, 20)),
    "left_ankle": ((-35, 55), (-30, 30), (-25, 25)),
    "spine3": ((-20, 35), (-25, 25), (-20, 20)),
    "left_foot": ((-35, 25), (-6, 6), (-6, 6)),
    "neck": ((-40, 50), (-50, 50), (-30, 30)),
    "left_collar": ((-18, 18), (-25, 18), (-18, 30)),
    "head": ((-30, 35), (-40, 40), (-25, 25)),
    "left_shoulder": ((-95, 95), (-100, 55), (-100, 90)),
    "left_elbow": ((-60, 60), (-150, 4), (-18, 18)),
    "left_wrist": ((-90, 90), (-35, 35), (-75, 70)),
}
_BODY_ORDER = (
    "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar",
    "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
    "right_wrist",
)  # fmt: skip

# Left-hand joints per finger segment (1 = MCP/CMC, 2 = PIP/MCP, 3 = DIP/IP), degrees.
HAND_LIMITS_DEG: dict[str, tuple[tuple[float, float], ...]] = {
    "finger1": ((-15, 15), (-25, 25), (-100, 20)),
    "finger2": ((-8, 8), (-6, 6), (-115, 3)),
    "finger3": ((-8, 8), (-6, 6), (-90, 5)),
    "thumb1": ((-55, 55), (-55, 55), (-55, 55)),
    "thumb2": ((-35, 35), (-55, 55), (-55, 55)),
    "thumb3": ((-25, 25), (-70, 30), (-50, 50)),
}
_HAND_ORDER = ("index", "middle", "pinky", "ring", "thumb")
#: (finger, segment 1-3, key of the hand tables) of the 15 hand joints in SMPL-X order.
_HAND_JOINTS: tuple[tuple[str, int, str], ...] = tuple(
    (finger, seg, f"thumb{seg}" if finger == "thumb" else f"finger{seg}")
    for finger in _HAND_ORDER for seg in (1, 2, 3)
)

JAW_LIMITS_DEG: tuple[tuple[float, float], ...] = ((-3, 35), (-6, 6), (-6, 6))

#: Relaxed finger flexion (degrees, per segment 1-3) that the hand prior pulls towards.
HAND_REST_FLEXION: tuple[float, float, float] = (12.0, 18.0, 10.0)

#: Per-joint, per-axis weights of the quadratic body-pose prior (twists are penalised most: 2D
#: landmarks barely see them).
BODY_PRIOR_WEIGHTS: dict[str, tuple[float, float, float]] = {
    "left_hip": (0.3, 1.5, 0.5),
    "spine1": (1.5, 2.0, 2.0),
    "left_knee": (0.1, 3.0, 6.0),
    "spine2": (2.0, 3.0, 3.0),
    "left_ankle": (1.0, 1.5, 1.5),
    "spine3": (2.0, 3.0, 3.0),
    "left_foot": (3.0, 6.0, 6.0),
    "neck": (1.0, 1.0, 1.5),
    "left_collar": (3.0, 3.0, 3.0),
    "head": (1.0, 1.0, 1.5),
    "left_shoulder": (0.6, 0.2, 0.1),
    "left_elbow": (1.0, 0.05, 3.0),
    "left_wrist": (0.8, 1.0, 0.3),
}
HAND_PRIOR_WEIGHTS: dict[str, tuple[float, float, float]] = {
    "finger1": (4.0, 1.0, 0.2),
    "finger2": (6.0, 6.0, 0.2),
    "finger3": (6.0, 6.0, 0.2),
    "thumb1": (0.5, 0.5, 0.5),
    "thumb2": (0.5, 0.5, 0.5),
    "thumb3": (1.0, 0.5, 0.5),
}


def mirror_limits(lo_hi: np.ndarray) -> np.ndarray:
    """Mirror (..., 3, 2) axis-angle bounds from the left to the right side: (x, y, z) ->
    (x, -y, -z), so the y and z intervals are negated and swapped."""
    out = lo_hi.copy()
    out[..., 1:, 0] = -lo_hi[..., 1:, 1]
    out[..., 1:, 1] = -lo_hi[..., 1:, 0]
    return out


def _side_table(table: dict[str, tuple], name: str, mirror: bool) -> np.ndarray:
    arr = np.asarray(table[name], np.float64)
    return mirror_limits(arr) if mirror and arr.shape[-1] == 2 else arr


def body_limits() -> np.ndarray:
    """(21, 3, 2) float32 (lo, hi) radians for the 21 SMPL-X body joints (body_pose order)."""
    rows = []
    for name in _BODY_ORDER:
        base = name.replace("right_", "left_")
        rows.append(_side_table(BODY_LIMITS_DEG, base, name.startswith("right_")))
    return np.radians(np.stack(rows)).astype(np.float32)


def _body_prior_weights() -> np.ndarray:
    return np.asarray(
        [BODY_PRIOR_WEIGHTS[n.replace("right_", "left_")] for n in _BODY_ORDER], np.float32
    )


def hand_limits(side: str) -> np.ndarray:
    """(15, 3, 2) float32 radians for one hand's joints in SMPL-X order (index, middle, pinky,
    ring, thumb; segments 1-3), in the *flat-hand* convention (zero = straight fingers)."""
    rows = [_side_table(HAND_LIMITS_DEG, key, side == "right") for _, _, key in _HAND_JOINTS]
    return np.radians(np.stack(rows)).astype(np.float32)


def _hand_prior(side: str) -> tuple[np.ndarray, np.ndarray]:
    """(15, 3) rest pose and (15, 3) weights of the hand prior (flat-hand convention)."""
    mean = np.zeros((15, 3), np.float32)
    weights = np.zeros((15, 3), np.float32)
    sign = -1.0 if side == "left" else 1.0  # flexion is -rz on the left, +rz on the right
    for i, (finger, seg, key) in enumerate(_HAND_JOINTS):
        weights[i] = HAND_PRIOR_WEIGHTS[key]
        if finger != "thumb":
            mean[i, 2] = sign * math.radians(HAND_REST_FLEXION[seg - 1])
    return mean, weights


def limit_penalty(pose_aa: torch.Tensor, limits: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Squared distance of each axis-angle component outside its interval, summed per item.

    Args:
        pose_aa: (B, J, 3) axis-angle, radians.
        limits: (J, 3, 2) (lo, hi) radians.

    Returns:
        (B,) penalty in rad^2 (zero inside the limits).
    """
    lim = torch.as_tensor(limits, dtype=pose_aa.dtype, device=pose_aa.device)
    below = torch.relu(lim[..., 0] - pose_aa)
    above = torch.relu(pose_aa - lim[..., 1])
    return (below.square() + above.square()).flatten(1).sum(1)


def pose_prior(pose_aa: torch.Tensor, mean: torch.Tensor | np.ndarray | None,
               weights: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Weighted quadratic prior sum_j,k w_jk (theta_jk - mu_jk)^2.

    Args:
        pose_aa: (B, J, 3) axis-angle, radians.
        mean: (J, 3) rest pose, or ``None`` for zeros.
        weights: (J, 3) non-negative weights.

    Returns:
        (B,) prior value.
    """
    w = torch.as_tensor(weights, dtype=pose_aa.dtype, device=pose_aa.device)
    diff = pose_aa if mean is None else pose_aa - torch.as_tensor(
        mean, dtype=pose_aa.dtype, device=pose_aa.device
    )
    return (w * diff.square()).flatten(1).sum(1)


#: Relaxed standing pose the body prior pulls towards (degrees, left side; mirrored on the
#: right): arms hanging about 72 degrees below horizontal, elbows slightly bent. Unseen limbs end
#: up here instead of in the T-pose.
BODY_PRIOR_MEAN_DEG: dict[str, tuple[float, float, float]] = {
    "left_shoulder": (0.0, -10.0, -72.0),
    "left_elbow": (0.0, -15.0, 0.0),
}


def _body_prior_mean() -> np.ndarray:
    mean = np.zeros((21, 3), np.float64)
    for i, name in enumerate(_BODY_ORDER):
        base = name.replace("right_", "left_")
        if base in BODY_PRIOR_MEAN_DEG:
            m = np.radians(np.asarray(BODY_PRIOR_MEAN_DEG[base], np.float64))
            mean[i] = m * np.array([1.0, -1.0, -1.0]) if name.startswith("right_") else m
    return mean.astype(np.float32)


def body_prior_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(21, 3, 2) limits, (21, 3) prior weights and (21, 3) prior mean of the body pose."""
    return body_limits(), _body_prior_weights(), _body_prior_mean()


def hand_prior_tables(side: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(15, 3, 2) limits, (15, 3) rest pose and (15, 3) weights of one hand (flat convention)."""
    mean, weights = _hand_prior(side)
    return hand_limits(side), mean, weights


def _point_segment_distance(p: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Distance (...,) from points p (..., 3) to segments [a, b] (..., 3)."""
    ab = b - a
    t = ((p - a) * ab).sum(-1) / ab.square().sum(-1).clamp_min(1e-8)
    closest = a + t.clamp(0.0, 1.0).unsqueeze(-1) * ab
    return (p - closest).norm(dim=-1)


# (point joint, segment start, segment end, radius as a fraction of the pelvis-neck length)
_CONTACT_RULES: tuple[tuple[int, int, int, float], ...] = (
    # wrists, mid fingers and elbows through the torso core (pelvis - spine3 - neck)
    (20, 0, 9, 0.20), (21, 0, 9, 0.20), (29, 0, 9, 0.20), (44, 0, 9, 0.20),
    (18, 0, 9, 0.17), (19, 0, 9, 0.17), (20, 9, 12, 0.12), (21, 9, 12, 0.12),
    # a knee or ankle through the other leg
    (4, 2, 5, 0.12), (5, 1, 4, 0.12), (7, 5, 8, 0.10), (8, 4, 7, 0.10),
    (4, 5, 8, 0.12), (5, 4, 7, 0.12),
    # a hand through the head (head joint - neck)
    (20, 12, 15, 0.10), (21, 12, 15, 0.10),
)  # fmt: skip


def self_penetration_penalty(joints: torch.Tensor) -> torch.Tensor:
    """Penalty for obviously impossible interpenetrations, from the 55 SMPL-X skeleton joints.

    Each rule keeps a joint (wrist, finger, elbow, knee, ankle) out of a capsule around a body
    segment (the torso core, the other leg, the head); capsule radii scale with the person's
    pelvis-neck length and are deliberately small, so legitimate contact (hands on the belly,
    crossed legs) costs nothing.

    Args:
        joints: (B, >=55, 3) joints in any metric frame, metres.

    Returns:
        (B,) sum of squared penetration depths, in units of the pelvis-neck length squared.
    """
    torso = (joints[:, 12] - joints[:, 0]).norm(dim=-1).clamp_min(1e-3)  # (B,)
    idx = torch.as_tensor(_CONTACT_RULES, device=joints.device)
    p = joints[:, idx[:, 0].long()]
    a = joints[:, idx[:, 1].long()]
    b = joints[:, idx[:, 2].long()]
    radius = idx[:, 3].to(joints.dtype) * torso[:, None]
    d = _point_segment_distance(p, a, b)
    return (torch.relu(radius - d) / torso[:, None]).square().sum(1)
