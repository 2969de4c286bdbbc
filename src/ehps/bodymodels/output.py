"""What every body model's forward returns, and the protocol they share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import torch

__all__ = ["BodyModelOutput", "BodyModel"]


@dataclass
class BodyModelOutput:
    """Output of a body model forward pass (batch-first, metres, the model's world frame).

    The model frame is the SMPL-X one for every body model in ehps: y up, the person faces +z,
    x points to the person's left (the Anny wrapper converts into it).

    Attributes:
        vertices: (B, V, 3) posed mesh vertices.
        joints: (B, J, 3) joints. SMPL-X: the 144 official joints (55 skeleton, 21 vertex joints,
            51 face landmarks, 17 contour landmarks) or 127 without the contour. Anny: the 55
            SMPL-X skeleton joints mapped from its bones. ``joints[:, :55]`` is always the SMPL-X
            skeleton in SMPL-X order.
        joint_transforms: (B, 55, 4, 4) posed world transforms of the 55 skeleton joints: rotation =
            the joint's global orientation (relative to the rest frame), translation = the posed
            joint position (``transl`` included).
        rotmats: (B, 55, 3, 3) local (parent-relative) joint rotations that were applied.
        extras: model-specific tensors (e.g. ``"full_pose"``, Anny ``"bone_poses"``).
    """

    vertices: torch.Tensor
    joints: torch.Tensor
    joint_transforms: torch.Tensor | None = None
    rotmats: torch.Tensor | None = None
    extras: dict[str, torch.Tensor] = field(default_factory=dict)


@runtime_checkable
class BodyModel(Protocol):
    """Structural type shared by :class:`ehps.bodymodels.smplx.SMPLX` and
    :class:`ehps.bodymodels.anny.AnnyBody`: an ``nn.Module`` whose ``forward`` takes SMPL-X-named
    pose keywords (``global_orient``, ``body_pose``, ``left_hand_pose``, ``right_hand_pose``,
    ``jaw_pose``, ``transl``; axis-angle or rotation matrices) plus its own shape / face keywords,
    and returns :class:`BodyModelOutput`."""

    name: str
    faces: torch.Tensor  # (F, 3) int64

    @property
    def num_vertices(self) -> int: ...

    def __call__(self, **params: torch.Tensor) -> BodyModelOutput: ...
