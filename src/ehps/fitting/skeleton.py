"""A mesh-free surrogate of the body model for the early, cheap stages of the fit.

Both body models pose their 55 SMPL-X skeleton joints by SMPL-X forward kinematics on their
zero-pose skeleton (for Anny this is how the mapping is built: every bone's posed direction is the
SMPL-X global rotation applied to its T-pose direction). So the surrogate poses the skeleton
exactly, and approximates every landmark as rigidly attached to one joint's frame (its offset
measured on the zero-pose model of the current shape): exact for landmarks that are joints, close
for surface points skinned mostly by one bone, and blind to facial actions / expression (the
exact model takes over for the face and the final stages). The rest skeleton and the offsets
depend on the shape variables through a first-order expansion around the shape the surrogate was
built at (finite differences, one batched model call): exact for SMPL-X's linear betas, a close
approximation for Anny's phenotype near its start. One evaluation costs about a millisecond
instead of a mesh forward.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch

from ehps.fitting.landmarks import PARTS, LandmarkMap, model_keypoints
from ehps.geometry.rotations import aa_to_rotmat

__all__ = ["SkeletonSurrogate", "attachment_joints", "forward_kinematics"]

_HEAD = 15
# body landmark (mediapipe order) -> SMPL-X joint whose frame carries it
_BODY_ATTACH = (
    15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,  # face points and ears
    16, 17, 18, 19, 20, 21,  # shoulders, elbows, wrists
    31, 46, 25, 40, 38, 53,  # pinky / index knuckles, thumbs
    1, 2, 4, 5, 7, 8,  # hips (on the thighs), knees, ankles
    7, 8, 10, 11,  # heels, foot index
)  # fmt: skip


def _hand_attach(side: str) -> tuple[int, ...]:
    wrist, base = (20, 25) if side == "left" else (21, 40)
    finger = {"index": 0, "middle": 3, "pinky": 6, "ring": 9, "thumb": 12}
    rows = [wrist]
    for name in ("thumb", "index", "middle", "ring", "pinky"):
        j = base + finger[name]
        rows += [j, j + 1, j + 2, j + 2]  # three joints, then the tip on the distal segment
    return tuple(rows)


def attachment_joints(part: str, num_points: int) -> np.ndarray:
    """(N,) SMPL-X joint index carrying each compared point of ``part``."""
    if part == "body":
        table = np.asarray(_BODY_ATTACH)
    elif part in ("left_hand", "right_hand"):
        table = np.asarray(_hand_attach(part.split("_")[0]))
    else:
        table = np.full(num_points, _HEAD)
    if len(table) != num_points:
        raise ValueError(f"{part}: {num_points} points but {len(table)} attachments")
    return table.astype(np.int64)


def forward_kinematics(local_rotmats: torch.Tensor, rest_joints: torch.Tensor,
                       parents: np.ndarray, transl: torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """SMPL-X forward kinematics on a rest skeleton whose joint frames are world-aligned.

    Args:
        local_rotmats: (B, 55, 3, 3) parent-relative rotations (row 0 = global orientation).
        rest_joints: (B, 55, 3) zero-pose joints, metres.
        parents: (55,) parent indices (-1 for the root, parents before children).
        transl: (B, 3) metres, added after the rotation about the root joint.

    Returns:
        ``(joints (B, 55, 3), global rotations (B, 55, 3, 3))``.

    The chain is evaluated one tree level at a time (all joints of a depth in one batched
    product), which is the same arithmetic as the joint-by-joint loop in fewer operations.
    """
    glob = local_rotmats.new_zeros(local_rotmats.shape)
    pos = rest_joints.new_zeros(rest_joints.shape)
    root = int(np.flatnonzero(parents < 0)[0])
    glob[:, root] = local_rotmats[:, root]
    pos[:, root] = rest_joints[:, root] + transl
    for level in _levels(tuple(int(p) for p in parents))[1:]:
        idx = torch.as_tensor(level, device=rest_joints.device)
        par = torch.as_tensor(parents[list(level)], device=rest_joints.device)
        g_par = glob[:, par]
        offset = rest_joints[:, idx] - rest_joints[:, par]
        glob = glob.index_copy(1, idx, g_par @ local_rotmats[:, idx])
        pos = pos.index_copy(1, idx, pos[:, par] + (g_par @ offset[..., None])[..., 0])
    return pos, glob


@functools.lru_cache(maxsize=8)
def _levels(parents: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Joint indices grouped by depth in the kinematic tree (root level first)."""
    depth = []
    for p in parents:
        depth.append(0 if p < 0 else depth[p] + 1)
    return [tuple(j for j, d in enumerate(depth) if d == k) for k in range(max(depth) + 1)]


class SkeletonSurrogate:
    """Posed joints and landmarks from pose variables, without the mesh.

    Args:
        adapter: the fit's :class:`~ehps.fitting.adapters.BodyAdapter`.
        maps: part -> :class:`LandmarkMap`.
        v: current fit variables; the shape variables there are the expansion point.
        shape_step: finite-difference step of each shape variable (in its own units).
    """

    def __init__(self, adapter: Any, maps: dict[str, LandmarkMap],
                 v: dict[str, torch.Tensor], shape_step: float | None = None) -> None:
        b = v["transl"].shape[0]
        shape0 = adapter.shape_value(v["shape"].detach())
        n_shape = shape0.shape[1]
        step = adapter.shape_fd_step if shape_step is None else shape_step
        # batch: the expansion point, then one step along each shape variable, for every person
        # (stepping down where stepping up would leave the variable's range)
        up = adapter.shape_value(shape0 + step)
        steps = torch.where((up - shape0).abs() < 0.5 * step, -step, step)  # (B, S)
        shapes = shape0.repeat(n_shape + 1, 1)
        for k in range(n_shape):
            shapes[(k + 1) * b : (k + 2) * b, k] += steps[:, k]
        zero = {}
        for k, t in v.items():
            t = t.detach().repeat(n_shape + 1, *([1] * (t.dim() - 1)))
            zero[k] = torch.zeros_like(t) if k in _POSE_VARIABLES else t
        zero["shape"] = adapter.shape_variable(shapes)
        with torch.no_grad():
            out = adapter.forward(zero)
            kp = model_keypoints(adapter.fit_model, out, maps)
        joints = out.joints[:, :55].reshape(n_shape + 1, b, 55, 3)
        self.shape0 = shape0
        self.rest_joints = joints[0]
        inv = (1.0 / steps).T[:, :, None, None]  # (S, B, 1, 1)
        self.d_joints = ((joints[1:] - joints[:1]) * inv).permute(1, 0, 2, 3)  # (B, S, 55, 3)
        self.parents = np.asarray(
            adapter.body_model.parents.detach().cpu().numpy()
            if hasattr(adapter.body_model.parents, "detach") else adapter.body_model.parents
        ).astype(np.int64)
        self.adapter = adapter
        self.attach: dict[str, torch.Tensor] = {}
        self.offsets: dict[str, torch.Tensor] = {}
        self.d_offsets: dict[str, torch.Tensor] = {}
        for part in PARTS:
            idx = attachment_joints(part, kp[part].shape[1])
            t_idx = torch.as_tensor(idx, device=out.joints.device)
            self.attach[part] = t_idx
            pts = kp[part].reshape(n_shape + 1, b, -1, 3)
            off = pts - joints[:, :, t_idx]
            self.offsets[part] = off[0]
            self.d_offsets[part] = ((off[1:] - off[:1]) * inv).permute(1, 0, 2, 3)

    def rest(self, shape: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Rest joints (B, 55, 3) and landmark offsets for shape variables (B, S)."""
        ds = self.adapter.shape_value(shape) - self.shape0
        joints = self.rest_joints + torch.einsum("bs,bsjk->bjk", ds, self.d_joints)
        offsets = {p: o + torch.einsum("bs,bsjk->bjk", ds, self.d_offsets[p])
                   for p, o in self.offsets.items()}
        return joints, offsets

    def __call__(self, v: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``(joints (B, 55, 3), part -> (B, N, 3) landmarks)`` in the camera frame."""
        rest_joints, offsets = self.rest(v["shape"])
        b = v["transl"].shape[0]
        dtype, dev = v["transl"].dtype, v["transl"].device
        aa = torch.zeros(b, 55, 3, dtype=dtype, device=dev)
        aa = torch.cat(
            (
                v["global_orient"].reshape(b, 1, 3),
                v["body_pose"].reshape(b, 21, 3),
                v["jaw_pose"].reshape(b, 1, 3),
                aa[:, 23:25],
                v["left_hand_pose"].reshape(b, 15, 3),
                v["right_hand_pose"].reshape(b, 15, 3),
            ),
            dim=1,
        )
        joints, glob = forward_kinematics(aa_to_rotmat(aa), rest_joints, self.parents,
                                          v["transl"])
        kp = {}
        for part, idx in self.attach.items():
            rot = glob[:, idx]
            kp[part] = joints[:, idx] + (rot @ offsets[part][..., None])[..., 0]
        return joints, kp


_POSE_VARIABLES = frozenset(
    ("global_orient", "transl", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose")
)
