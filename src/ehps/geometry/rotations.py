"""Rotation conversions used across ehps (batch-first, any leading shape, differentiable).

Conventions:
- axis-angle (``_aa``): (..., 3), angle = norm in radians.
- rotation matrices (``_rotmat``): (..., 3, 3), acting on column vectors.
- 6D (``_6d``): (..., 6) in the *interleaved* layout of the official SMPLer-X / SMPLest-X heads
  (HMR/SPIN convention): the six numbers are read as a row-major 3x2 matrix, so the first column is
  elements (0, 2, 4) and the second (1, 3, 5). Keeping this layout is what makes official
  checkpoints map onto our heads.
- quaternions (``_quat``): (..., 4) as (x, y, z, w), roma's convention.

The heavy lifting is done by ``roma`` (BSD-3), which is numerically careful near 0 and pi.
"""

from __future__ import annotations

import roma
import torch
import torch.nn.functional as F

__all__ = [
    "aa_to_rotmat",
    "rotmat_to_aa",
    "rot6d_to_rotmat",
    "rotmat_to_rot6d",
    "rot6d_to_aa",
    "aa_to_quat",
    "quat_to_aa",
    "flip_aa",
]


def aa_to_rotmat(aa: torch.Tensor) -> torch.Tensor:
    """Axis-angle (..., 3) -> rotation matrix (..., 3, 3) (Rodrigues)."""
    return roma.rotvec_to_rotmat(aa)


def rotmat_to_aa(rotmat: torch.Tensor) -> torch.Tensor:
    """Rotation matrix (..., 3, 3) -> axis-angle (..., 3) with angle in [0, pi].

    NaNs (degenerate input) become 0, as in the official post-processing.
    """
    aa = roma.rotmat_to_rotvec(rotmat)
    return torch.nan_to_num(aa, nan=0.0)


def rot6d_to_rotmat(x: torch.Tensor) -> torch.Tensor:
    """Interleaved 6D (..., 6) -> rotation matrix (..., 3, 3) by Gram-Schmidt.

    Column 1 = normalise(x[0], x[2], x[4]); column 2 = the part of (x[1], x[3], x[5]) orthogonal to
    column 1, normalised; column 3 = column 1 x column 2.
    """
    m = x.reshape(*x.shape[:-1], 3, 2)
    a1, a2 = m[..., 0], m[..., 1]
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-1)


def rotmat_to_rot6d(rotmat: torch.Tensor) -> torch.Tensor:
    """Rotation matrix (..., 3, 3) -> interleaved 6D (..., 6), inverse of ``rot6d_to_rotmat``."""
    return rotmat[..., :, :2].reshape(*rotmat.shape[:-2], 6)


def rot6d_to_aa(x: torch.Tensor) -> torch.Tensor:
    """Interleaved 6D (..., 6) -> axis-angle (..., 3), NaN -> 0 (official head post-processing)."""
    return rotmat_to_aa(rot6d_to_rotmat(x))


def aa_to_quat(aa: torch.Tensor) -> torch.Tensor:
    """Axis-angle (..., 3) -> unit quaternion (..., 4) as (x, y, z, w)."""
    return roma.rotvec_to_unitquat(aa)


def quat_to_aa(quat: torch.Tensor) -> torch.Tensor:
    """Unit quaternion (..., 4) (x, y, z, w) -> axis-angle (..., 3)."""
    return roma.unitquat_to_rotvec(quat)


def flip_aa(aa: torch.Tensor) -> torch.Tensor:
    """Mirror an axis-angle rotation across the camera's x = 0 plane: (x, y, z) -> (x, -y, -z).

    This is how the official code mirrors the left hand (and flip augmentation mirrors all joints).
    """
    return aa * aa.new_tensor([1.0, -1.0, -1.0])
