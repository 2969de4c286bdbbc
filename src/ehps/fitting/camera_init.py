"""Closed-form initialisation of a person's orientation and full-perspective camera translation.

Frames: the camera frame is OpenCV's (x right, y down, z forward, metres). mediapipe's world
landmarks are hip-centred with camera-aligned axes as seen *from the person's crop*; a person far
from the image centre is seen along a slanted ray, so :func:`ray_rotation` turns those landmarks
into the full-image camera frame (the correction CLIFF argues for).
"""

from __future__ import annotations

import math

import roma
import torch

__all__ = [
    "MODEL_TO_CAMERA",
    "ray_rotation",
    "align_orientation",
    "solve_translation",
    "depth_from_height",
    "limb_ik",
]

#: The SMPL-X model frame (y up, facing +z) seen by an OpenCV camera (y down, z forward) that the
#: person faces: a half turn about x.
MODEL_TO_CAMERA: tuple[tuple[float, float, float], ...] = (
    (1.0, 0.0, 0.0),
    (0.0, -1.0, 0.0),
    (0.0, 0.0, -1.0),
)


def ray_rotation(center_px: torch.Tensor, focal: torch.Tensor, princpt: torch.Tensor
                 ) -> torch.Tensor:
    """Rotation that takes the optical axis (0, 0, 1) onto the viewing ray through a pixel.

    Args:
        center_px: (B, 2) pixels (e.g. the hip centre of each person).
        focal: (2,) or (B, 2) pixels.
        princpt: (2,) or (B, 2) pixels.

    Returns:
        (B, 3, 3) rotation matrices (minimal rotation, no roll about the ray).
    """
    xy = (center_px - princpt) / focal
    ray = torch.cat((xy, torch.ones_like(xy[:, :1])), dim=1)
    ray = ray / ray.norm(dim=1, keepdim=True)
    z = torch.zeros_like(ray)
    z[:, 2] = 1.0
    axis = torch.cross(z, ray, dim=1)
    sin = axis.norm(dim=1, keepdim=True)
    cos = (z * ray).sum(1, keepdim=True)
    angle = torch.atan2(sin, cos)
    rotvec = axis / sin.clamp_min(1e-12) * angle
    return roma.rotvec_to_rotmat(rotvec)


def align_orientation(
    model_pts: torch.Tensor, target_pts: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """Rotation R (B, 3, 3) minimising sum_i w_i |R (m_i - m_c) - (t_i - t_c)|^2 (weighted Kabsch).

    Args:
        model_pts: (B, N, 3) model points (e.g. shoulders and hips in the model frame).
        target_pts: (B, N, 3) the same points measured in the camera frame (any origin).
        weights: (B, N) non-negative weights (at least 3 non-collinear points with weight > 0).
    """
    w = weights.clamp_min(0.0) + 1e-6
    rot, _ = roma.rigid_points_registration(model_pts, target_pts, weights=w)
    return rot


def solve_translation(
    points_cam: torch.Tensor,
    uv: torch.Tensor,
    weights: torch.Tensor,
    focal: torch.Tensor,
    princpt: torch.Tensor,
) -> torch.Tensor:
    """Translation t that best projects oriented model points onto pixels (linear least squares).

    For each point X (camera-oriented, before translation) with pixel (u, v), perspective
    projection of X + t gives the linear equations
    ``fx t_x - (u - cx) t_z = (u - cx) X_z - fx X_x`` and the same in y.

    Args:
        points_cam: (B, N, 3) metres, already rotated into the camera orientation.
        uv: (B, N, 2) pixels.
        weights: (B, N) non-negative weights.
        focal: (2,) pixels (fx, fy). princpt: (2,) pixels (cx, cy).

    Returns:
        (B, 3) translation in metres. Items with fewer than two weighted points get t = 0 (the
        caller falls back to :func:`depth_from_height`).
    """
    dtype = points_cam.dtype
    f = torch.as_tensor(focal, dtype=dtype, device=points_cam.device).reshape(-1)
    c = torch.as_tensor(princpt, dtype=dtype, device=points_cam.device).reshape(-1)
    du = uv[..., 0] - c[0]
    dv = uv[..., 1] - c[1]
    zeros = torch.zeros_like(du)
    fx = torch.full_like(du, float(f[0]))
    fy = torch.full_like(dv, float(f[1]))
    rows_x = torch.stack((fx, zeros, -du), dim=-1)  # (B, N, 3)
    rows_y = torch.stack((zeros, fy, -dv), dim=-1)
    rhs_x = du * points_cam[..., 2] - f[0] * points_cam[..., 0]
    rhs_y = dv * points_cam[..., 2] - f[1] * points_cam[..., 1]
    a = torch.cat((rows_x, rows_y), dim=1)  # (B, 2N, 3)
    b = torch.cat((rhs_x, rhs_y), dim=1)
    sw = torch.cat((weights, weights), dim=1).clamp_min(0.0).sqrt()
    # normalise each row by the focal so the system is well conditioned
    a = a * (sw / f[0]).unsqueeze(-1)
    b = b * sw / f[0]
    ata = a.transpose(1, 2) @ a + 1e-9 * torch.eye(3, dtype=dtype, device=a.device)
    atb = a.transpose(1, 2) @ b.unsqueeze(-1)
    t = torch.linalg.solve(ata, atb).squeeze(-1)
    enough = (weights > 0).sum(1) >= 2
    return torch.where(enough[:, None], t, torch.zeros_like(t))


def depth_from_height(height_px: torch.Tensor, height_m: float | torch.Tensor, fy: float
                      ) -> torch.Tensor:
    """Depth (metres) at which an object ``height_m`` tall spans ``height_px`` pixels."""
    return fy * torch.as_tensor(height_m, dtype=height_px.dtype) / height_px.clamp_min(1.0)


# (upper joint, hinge joint, end joint, mediapipe points of the three, hinge axis, flexion sign)
_LIMBS: tuple[tuple[int, int, int, tuple[int, int, int], int, float], ...] = (
    (16, 18, 20, (11, 13, 15), 1, -1.0),  # left arm: elbow flexes about -y
    (17, 19, 21, (12, 14, 16), 1, 1.0),  # right arm: about +y
    (1, 4, 7, (23, 25, 27), 0, 1.0),  # left leg: knee flexes about +x
    (2, 5, 8, (24, 26, 28), 0, 1.0),  # right leg
)


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(1e-9)


def _frame(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Rotation matrix (..., 3, 3) with columns a, b' , a x b' (b' = b made orthogonal to a)."""
    a = _unit(a)
    b = _unit(b - (a * b).sum(-1, keepdim=True) * a)
    return torch.stack((a, b, torch.cross(a, b, dim=-1)), dim=-1)


def limb_ik(
    rest_joints: torch.Tensor,
    root_rot: torch.Tensor,
    world: torch.Tensor,
    world_conf: torch.Tensor,
    min_bend_deg: float = 12.0,
    min_conf: float = 0.5,
    fallback: torch.Tensor | None = None,
) -> torch.Tensor:
    """Analytic arm and leg rotations from 3D landmark directions (the fit's starting pose).

    Each limb is a ball joint (shoulder / hip) followed by a hinge (elbow / knee, flexing only
    the anatomical way). The upper segment is turned onto the measured upper direction and
    twisted so that the hinge axis is normal to the plane of the two measured segments; the hinge
    angle is the angle between them. A nearly straight limb keeps the minimal-twist solution.
    Spine and collars are left at zero, so the limbs' parent frame is the root rotation.

    Args:
        rest_joints: (B, 55, 3) joints of the zero-pose model in the model frame (metres).
        root_rot: (B, 3, 3) global orientation in the camera frame.
        world: (B, 33, 3) mediapipe world landmarks in the camera frame.
        world_conf: (B, 33) their confidences (a limb with a point below ``min_conf`` keeps
            the pose it has in ``fallback``).
        min_bend_deg: a limb bent less than this keeps the minimal-twist solution.
        fallback: (B, 21, 3) pose for limbs that are not seen well enough (default zeros).

    Returns:
        (B, 21, 3) body pose, axis-angle (zeros except hips, knees, shoulders, elbows).
    """
    b = rest_joints.shape[0]
    pose = torch.zeros(b, 21, 3, dtype=rest_joints.dtype, device=rest_joints.device)
    if fallback is not None:
        pose = fallback.clone().to(pose)
    eye = torch.eye(3, dtype=rest_joints.dtype, device=rest_joints.device)
    sin_min = math.sin(math.radians(min_bend_deg))
    for upper, hinge, end, (pa, pb, pc), axis, sign in _LIMBS:
        d_up = _unit(torch.einsum("bji,bj->bi", root_rot,
                                  world[:, pb] - world[:, pa]))  # parent (root) frame
        d_lo = _unit(torch.einsum("bji,bj->bi", root_rot, world[:, pc] - world[:, pb]))
        r_up = _unit(rest_joints[:, hinge] - rest_joints[:, upper])
        r_lo = _unit(rest_joints[:, end] - rest_joints[:, hinge])
        h_rest = eye[axis].expand(b, 3)
        # minimal-twist hinge axis: the rest hinge carried by the swing r_up -> d_up
        swing = _swing(r_up, d_up)
        h_min = (swing @ h_rest[..., None])[..., 0]
        # measured hinge axis: flexing by +angle about h must take d_up towards d_lo
        normal = torch.cross(d_up, d_lo, dim=-1)
        bent = normal.norm(dim=-1) > sin_min
        # rotating d_up about h by sign*phi (phi > 0) reaches d_lo  <=>  h ~ sign * d_up x d_lo
        h_meas = _unit(sign * normal)
        h = torch.where(bent[:, None], h_meas, h_min)
        g_up = _frame(d_up, h) @ _frame(r_up, h_rest).transpose(-1, -2)
        phi = torch.atan2(normal.norm(dim=-1), (d_up * d_lo).sum(-1))
        phi = torch.where(bent, phi, torch.zeros_like(phi))
        # the hinge's rest frame: how the rest lower segment sits relative to the rest upper one
        hinge_rot = roma.rotvec_to_rotmat(h_rest * (sign * phi)[:, None])
        del r_lo
        ok = (world_conf[:, [pa, pb, pc]] >= min_conf).all(1)
        up_aa = roma.rotmat_to_rotvec(g_up)
        hi_aa = roma.rotmat_to_rotvec(hinge_rot)
        pose[:, upper - 1] = torch.where(ok[:, None], up_aa, pose[:, upper - 1])
        pose[:, hinge - 1] = torch.where(ok[:, None], hi_aa, pose[:, hinge - 1])
    return pose


def _swing(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Minimal rotation (B, 3, 3) taking unit vectors a onto b."""
    axis = torch.cross(a, b, dim=-1)
    sin = axis.norm(dim=-1, keepdim=True)
    cos = (a * b).sum(-1, keepdim=True)
    angle = torch.atan2(sin, cos)
    return roma.rotvec_to_rotmat(axis / sin.clamp_min(1e-9) * angle)
