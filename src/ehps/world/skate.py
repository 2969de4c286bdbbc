"""Foot-skate cleanup: planted feet stay put, the rest of the pose is kept.

For each contact (see :mod:`ehps.world.contacts`) of each foot, the foot is locked: its ankle
keeps, along the floor, its median position over the contact, and at every frame the height that
puts the sole on the floor (a heel rising onto the ball of the foot still rises); with
``lock_orientation`` the foot keeps its mean heading over the contact (a rotation about the floor
normal; its pitch and roll stay as estimated).
Around a contact the correction of its first / last frame fades out over ``blend_frames`` frames
(smoothstep weights), and the corrections are met in two steps:

1. **Root.** The body is translated by ``root_share`` (one half) of the weighted mean of the
   feet's corrections (``sum w_f c_f / max(1, sum w_f)``, ``c_f`` the ankle correction) along
   the floor and by ``vertical_share`` (all) of it along the normal, smoothed over time
   (Gaussian, ``root_sigma`` frames): estimators slide feet through the global translation and
   through the leg angles, so the two share the correction along the floor; a stance leg is
   nearly straight and cannot reach lower, so a share of the vertical correction left to the
   legs would be taken by the body anyway when the foot must go down, and by the knee when it
   must go up, and that asymmetry lowered the whole body on average.
2. **Legs.** Two-bone IK on hip-knee-ankle brings each locked ankle the rest of the way: the
   knee bends in its current plane (law of cosines), then the hip swings the leg onto the target
   (minimal rotation); the foot takes the locked orientation. This is exact for any body model
   whose thigh and shin are rigid in their joints' frames (SMPL-X, and Anny through ehps's
   mapping). Everything above the hips is untouched.

Only ``transl`` and the hip, knee and ankle rotations of ``body_pose`` change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from ehps.world.contacts import runs

__all__ = ["CleanupConfig", "CleanupResult", "clean_foot_skate", "foot_sliding_mm", "LEGS"]

#: SMPL-X joints of each leg: (hip, knee, ankle, ball of the foot); the pelvis is joint 0.
LEGS = ((1, 4, 7, 10), (2, 5, 8, 11))
Forward = Callable[[dict[str, np.ndarray]], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class CleanupConfig:
    """``blend_frames``: ramp length on each side of a contact; ``root_sigma``: smoothing of the
    root correction (frames, 0 = none); ``lock_orientation``: also fix the foot's heading;
    ``iterations``: rounds of moving the body towards locks the legs cannot reach, until every
    locked ankle is within ``tolerance_m``; ``root_share``: the part of the feet's mean correction
    along the floor the body takes (the legs take the rest); ``vertical_share``: the same along
    the floor normal; ``max_correction_m``: a contact whose ankle would
    move more than this (median over the contact) is left alone: such a foot is not where a
    planted foot could be (the floor's inlier band is at most 8 cm), it is the estimate's depth
    error, and moving the body that far would make it jump more than the sliding does (on
    vtest, 25 cm let one track's pelvis jump 28 cm between frames, 15 cm leaves that contact
    alone)."""

    blend_frames: int = 4
    root_sigma: float = 1.0
    lock_orientation: bool = True
    iterations: int = 4
    tolerance_m: float = 0.002
    root_share: float = 0.5
    vertical_share: float = 1.0
    max_correction_m: float = 0.15


@dataclass
class CleanupResult:
    """What :func:`clean_foot_skate` did (camera frame, metres).

    Attributes:
        params: the cleaned parameters (same keys and shapes as given).
        joints_before, joints_after: (T, 55, 3).
        weights: (T, 2) lock weight of each foot.
        root_offset: (T, 3) translation added to the body.
        ik_error_m: largest distance of a fully locked ankle from its target after cleanup.
    """

    params: dict[str, np.ndarray]
    joints_before: np.ndarray
    joints_after: np.ndarray
    weights: np.ndarray
    root_offset: np.ndarray
    ik_error_m: float


def foot_sliding_mm(joints: np.ndarray, contacts: np.ndarray, normal: np.ndarray,
                    valid: np.ndarray | None = None) -> float:
    """Mean horizontal speed (mm/frame) of the ankle and ball-of-foot joints over consecutive
    frames that are both in contact; NaN without any."""
    vals = []
    ok = np.ones(len(joints), bool) if valid is None else np.asarray(valid, bool)
    for f, leg in enumerate(LEGS):
        both = contacts[1:, f] & contacts[:-1, f] & ok[1:] & ok[:-1]
        if not both.any():
            continue
        d = joints[1:, [leg[2], leg[3]]] - joints[:-1, [leg[2], leg[3]]]
        d = d - (d @ normal)[..., None] * normal
        vals.append(np.linalg.norm(d, axis=-1)[both].reshape(-1))
    return float(np.concatenate(vals).mean() * 1000.0) if vals else float("nan")


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _flat(v: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """Components of (..., 3) vectors along the floor."""
    return v - (v @ normal)[..., None] * normal


def _signed_angle(a: np.ndarray, b: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """Angle (radians) about ``normal`` from the floor directions ``a`` to ``b`` (..., 3)."""
    return np.arctan2(np.cross(a, b) @ normal, (a * b).sum(-1))


def _locks(contact: np.ndarray, ankle: np.ndarray, ball: np.ndarray, sole: np.ndarray,
           normal: np.ndarray, offset: float, blend: int, max_correction: float = np.inf
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame weight (T,), ankle correction (T, 3) and heading correction (T,) radians.

    In a contact the correction moves the ankle to the contact's anchor along the floor (its
    median position) and to the height that puts the sole on the floor at that frame (a heel
    rising onto the ball of the foot still rises), and turns the foot to the contact's mean
    heading (ankle -> ball along the floor). Over ``blend`` frames on either side the edge
    frame's correction fades out (it is not re-aimed at the anchor, so a swinging foot is never
    pulled back). A contact whose median correction exceeds ``max_correction`` is cleared in
    ``contact`` (in place) and left alone.
    """
    n_t = len(contact)
    w = np.zeros(n_t)
    corr = np.zeros((n_t, 3))
    yaw = np.zeros(n_t)
    height = ankle @ normal + offset
    heading = _flat(ball - ankle, normal)
    for a, b in runs(contact):
        anchor = np.median(ankle[a:b + 1] - height[a:b + 1, None] * normal, axis=0)
        anchor = anchor - (anchor @ normal + offset) * normal  # back onto the floor
        seg = slice(a, b + 1)
        c = anchor + (height[seg] - sole[seg])[:, None] * normal - ankle[seg]
        if np.median(np.linalg.norm(c, axis=-1)) > max_correction:
            contact[seg] = False
            continue
        mean_head = heading[seg].mean(0)
        y = _signed_angle(heading[seg], np.broadcast_to(mean_head, heading[seg].shape), normal)
        w[seg], corr[seg], yaw[seg] = 1.0, c, y
        for k in range(1, blend + 1):
            r = float(_smoothstep(np.array(1.0 - k / (blend + 1))))
            for t, edge in ((a - k, 0), (b + k, -1)):
                if 0 <= t < n_t and r > w[t]:
                    w[t], corr[t], yaw[t] = r, r * c[edge], r * y[edge]
    return w, corr, yaw


def _gaussian(x: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0 or len(x) < 2:
        return x
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(x, sigma, axis=0, mode="nearest")


def _swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 3) x 2 -> (N, 3, 3) minimal rotations taking direction a onto direction b."""
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    axis = np.cross(a, b)
    s = np.linalg.norm(axis, axis=-1)
    ang = np.arctan2(s, (a * b).sum(-1))
    axis = axis / np.maximum(s, 1e-12)[:, None]
    return Rotation.from_rotvec(axis * ang[:, None]).as_matrix()


def _two_bone(hip: np.ndarray, knee: np.ndarray, ankle: np.ndarray, target: np.ndarray,
              knee_x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World rotations (N, 3, 3) to apply at the hip (to the whole leg) and at the knee (to the
    shin, before the hip's) so that the ankle reaches ``target``."""
    u, v = hip - knee, ankle - knee
    l1, l2 = np.linalg.norm(u, axis=-1), np.linalg.norm(v, axis=-1)
    d = np.clip(np.linalg.norm(target - hip, axis=-1), np.abs(l1 - l2) + 1e-4, l1 + l2 - 1e-4)
    th0 = np.arccos(np.clip((u * v).sum(-1) / (l1 * l2), -1.0, 1.0))
    th1 = np.arccos(np.clip((l1**2 + l2**2 - d**2) / (2 * l1 * l2), -1.0, 1.0))
    axis = np.cross(u, v)
    straight = np.linalg.norm(axis, axis=-1) < 1e-3 * l1 * l2
    axis[straight] = -knee_x[straight]  # a straight leg flexes about the knee's +x
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    r_knee = Rotation.from_rotvec(axis * (th1 - th0)[:, None]).as_matrix()
    ankle1 = knee + (r_knee @ v[..., None])[..., 0]
    r_hip = _swing(ankle1 - hip, target - hip)
    return r_hip, r_knee


def clean_foot_skate(forward: Forward, params: dict[str, np.ndarray], contacts: np.ndarray,
                     normal: np.ndarray, offset: float, clearance: np.ndarray,
                     cfg: CleanupConfig | None = None) -> CleanupResult:
    """Clean the foot skate of one track (see the module docstring).

    Args:
        forward: parameters -> ``(joints (T, 55, 3), global rotations (T, 55, 3, 3))`` in the
            camera frame (the track's body model at its shape).
        params: per-frame parameters (``transl`` (T, 3) or (T, 1, 3) in the camera,
            ``body_pose`` (T, 21, 3) axis-angle, ...).
        contacts: (T, 2) bool, left and right foot; a contact left alone (``max_correction_m``)
            is cleared in place.
        normal, offset: the floor (camera frame; height = ``normal . p + offset``).
        clearance: (2, 2) rest heights of (ankle, ball) above the sole per foot.
    """
    cfg = cfg or CleanupConfig()
    joints, glob = forward(params)
    locks = []
    for f, leg in enumerate(LEGS):
        feet = joints[:, [leg[2], leg[3]]]
        sole = (feet @ normal + offset - clearance[f][None]).min(1)
        locks.append(_locks(contacts[:, f], joints[:, leg[2]], joints[:, leg[3]], sole, normal,
                            offset, cfg.blend_frames, cfg.max_correction_m))
    w = np.stack([lk[0] for lk in locks], 1)
    corr = np.stack([lk[1] for lk in locks], 1)
    mean_corr = (w[..., None] * corr).sum(1) / np.maximum(1.0, w.sum(1))[:, None]
    vert = (mean_corr @ normal)[:, None] * normal
    root = cfg.root_share * (mean_corr - vert) + cfg.vertical_share * vert
    root = _gaussian(root, cfg.root_sigma) * (w.sum(1) > 0)[:, None]
    want = np.stack([joints[:, leg[2]] + corr[:, f] for f, leg in enumerate(LEGS)], 1)
    for _ in range(cfg.iterations):
        out = _apply(params, joints, glob, locks, root, normal, cfg.lock_orientation)
        after, _ = forward(out)
        # A lock the leg cannot reach: move the body the rest of the way (and solve again).
        miss = want - after[:, [LEGS[0][2], LEGS[1][2]]]
        miss *= (w > 0)[..., None]
        err = float(np.linalg.norm(miss[w >= 1.0], axis=-1).max(initial=0.0))
        if err < cfg.tolerance_m:
            break
        extra = (w[..., None] * miss).sum(1) / np.maximum(1.0, w.sum(1))[:, None]
        root = root + _gaussian(extra, cfg.root_sigma) * (w.sum(1) > 0)[:, None]
    return CleanupResult(out, joints, after, w, root, err)


def _apply(params: dict[str, np.ndarray], joints: np.ndarray, glob: np.ndarray,
           locks: list[tuple[np.ndarray, np.ndarray, np.ndarray]], root: np.ndarray,
           normal: np.ndarray, lock_orientation: bool) -> dict[str, np.ndarray]:
    """The parameters with the body moved by ``root`` and the legs solved for the locks."""
    n_t = len(joints)
    out = {k: np.array(v, np.float64, copy=True) for k, v in params.items()}
    out["transl"] = (out["transl"].reshape(n_t, 3) + root).reshape(np.shape(params["transl"]))
    joints1 = joints + root[:, None]
    body = out["body_pose"].reshape(n_t, 21, 3)
    for f, leg in enumerate(LEGS):
        wf, cf, yawf = locks[f]
        act = np.flatnonzero(wf > 0)
        if not len(act):
            continue
        hip, knee, ankle = (joints1[act, j] for j in leg[:3])
        target = ankle + cf[act] - root[act]
        g_hip, g_knee, g_ank = (glob[act, j] for j in leg[:3])
        r_hip, r_knee = _two_bone(hip, knee, ankle, target, g_knee[:, :, 0])
        new_hip = r_hip @ g_hip
        new_knee = r_hip @ r_knee @ g_knee
        new_ank = g_ank
        if lock_orientation:
            new_ank = Rotation.from_rotvec(normal[None] * yawf[act, None]).as_matrix() @ g_ank
        pelvis = glob[act, 0]
        locals_ = (np.swapaxes(pelvis, 1, 2) @ new_hip, np.swapaxes(new_hip, 1, 2) @ new_knee,
                   np.swapaxes(new_knee, 1, 2) @ new_ank)
        for j, loc in zip(leg[:3], locals_):
            body[act, j - 1] = Rotation.from_matrix(loc).as_rotvec()
    out["body_pose"] = body.reshape(np.shape(params["body_pose"]))
    return out
