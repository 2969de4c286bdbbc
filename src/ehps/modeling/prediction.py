"""What a SMPLer-X / SMPLest-X network returns: one typed container instead of a dict of strings.

Frames and units used below:

- *axis-angle* fields are (..., 3) radians (angle = norm), SMPL-X's kinematic-tree-local rotations.
  Hand poses follow the official ``flat_hand_mean=False`` convention (relative to the SMPL-X mean
  hand pose, as the released models were trained).
- *rotmat* fields are (..., 3, 3) rotation matrices acting on column vectors, the same rotations.
- *crop camera*: the virtual pinhole camera of the network input, focal 5000 px and principal point
  (96, 128) on the 192x256 (W x H) body input (:mod:`ehps.geometry.camera`); metres, x right,
  y down, z forward.
- *crop pixels*: pixels of the 384x512 (W x H) network input crop; the body input is the same
  image at half resolution, so body-input pixels = crop pixels / 2.
- *body heatmap units*: the 12x16 (W x H) grid of the ViT feature map (one unit = 16 body-input
  pixels) and, for depth, 16 bins; SMPLer-X's 3D heatmaps have shape (D, H, W) = (16, 16, 12).
- *hand heatmap units*: the 16x16x16 grid of one hand box (SMPLer-X hand branch).

Every tensor is batch-first and float32 (also under bf16 autocast: heads run in float32).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

__all__ = ["Prediction", "ROTATION_GROUPS"]

#: The 53 regressed rotations in official order: (field name, number of joints).
ROTATION_GROUPS: tuple[tuple[str, int], ...] = (
    ("global_orient", 1),
    ("body_pose", 21),
    ("left_hand_pose", 15),
    ("right_hand_pose", 15),
    ("jaw_pose", 1),
)


@dataclass
class Prediction:
    """Output of :class:`~ehps.modeling.smplerx.SMPLerX` and :class:`~ehps.modeling.SMPLestX`.

    Attributes:
        global_orient: (B, 3) root (pelvis) rotation, axis-angle, in the crop camera frame.
        body_pose: (B, 21, 3) body joints 1..21 (SMPL-X order), axis-angle, parent-relative.
        left_hand_pose: (B, 15, 3) left finger joints (SMPL-X order), axis-angle,
            ``flat_hand_mean=False``. SMPLer-X regresses it on a mirrored crop and un-mirrors it
            (``(x, y, z) -> (x, -y, -z)``), exactly as the official code.
        right_hand_pose: (B, 15, 3) right finger joints, axis-angle, ``flat_hand_mean=False``.
        jaw_pose: (B, 3) jaw rotation, axis-angle. Eye poses are not predicted (always zero).
        betas: (B, 10) shape coefficients of the neutral SMPL-X model.
        expression: (B, 10) expression coefficients.
        cam_trans: (B, 3) translation of the SMPL-X model (metres) in the crop camera:
            ``(tx, ty, 56.38 * sigmoid(gamma))`` (official-spec a.5).
        cam_param: (B, 3) the raw camera head output ``(tx, ty, gamma)``.
        global_orient_rotmat: (B, 3, 3) rotation matrix of ``global_orient``.
        body_pose_rotmat: (B, 21, 3, 3).
        left_hand_pose_rotmat: (B, 15, 3, 3) (un-mirrored, like ``left_hand_pose``).
        right_hand_pose_rotmat: (B, 15, 3, 3).
        jaw_pose_rotmat: (B, 3, 3).
        pose_6d: (B, 53, 6) the raw 6D head outputs (interleaved layout,
            :func:`ehps.geometry.rotations.rot6d_to_rotmat`) in the 53-rotation order of
            :data:`ROTATION_GROUPS`. For SMPLer-X rows 22..36 (left hand) are the raw outputs
            of the shared right-hand regressor on the *mirrored* left-hand crop.
        body_joint_img: SMPLer-X only. (B, 25, 3) soft-argmax of the body 3D heatmap:
            x in [0, 12), y in [0, 16) body heatmap units, z in [0, 16) depth bins.
        hand_joint_img: SMPLer-X only. (B, 40, 3) left (20) then right (20) hand joints mapped
            into the body heatmap frame (x, y in body heatmap units; z stays in hand depth bins),
            as the official test output.
        hand_joint_img_box: SMPLer-X only. (B, 40, 3) the same joints in hand heatmap units of
            their own predicted box (16x16x16), left hand already un-flipped (``x -> 15 - x``);
            this is the frame of the official training targets.
        lhand_bbox, rhand_bbox, face_bbox: SMPLer-X only. (B, 4) xyxy in crop pixels (384x512),
            made square and enlarged (x2 hands, x1.5 face); detached, as in the official code.
        lhand_bbox_center, rhand_bbox_center, face_bbox_center: SMPLer-X only. (B, 2) raw box
            centres (x, y) in body heatmap units (the box-loss targets' frame).
        lhand_bbox_size, rhand_bbox_size, face_bbox_size: SMPLer-X only. (B, 2) raw box sizes
            (w, h) in body heatmap units.
        hand_root_pose: SMPLest-X only. (B, 2, 3) global (camera-frame) orientation of the left
            and right wrist predicted by the hand-root tokens, axis-angle (feeds the hand-root
            losses only; not used to pose the mesh).
        hand_root_rotmat: SMPLest-X only. (B, 2, 3, 3) the same as rotation matrices.
    """

    global_orient: torch.Tensor
    body_pose: torch.Tensor
    left_hand_pose: torch.Tensor
    right_hand_pose: torch.Tensor
    jaw_pose: torch.Tensor
    betas: torch.Tensor
    expression: torch.Tensor
    cam_trans: torch.Tensor
    cam_param: torch.Tensor
    global_orient_rotmat: torch.Tensor
    body_pose_rotmat: torch.Tensor
    left_hand_pose_rotmat: torch.Tensor
    right_hand_pose_rotmat: torch.Tensor
    jaw_pose_rotmat: torch.Tensor
    pose_6d: torch.Tensor
    # SMPLer-X only
    body_joint_img: torch.Tensor | None = None
    hand_joint_img: torch.Tensor | None = None
    hand_joint_img_box: torch.Tensor | None = None
    lhand_bbox: torch.Tensor | None = None
    rhand_bbox: torch.Tensor | None = None
    face_bbox: torch.Tensor | None = None
    lhand_bbox_center: torch.Tensor | None = None
    rhand_bbox_center: torch.Tensor | None = None
    face_bbox_center: torch.Tensor | None = None
    lhand_bbox_size: torch.Tensor | None = None
    rhand_bbox_size: torch.Tensor | None = None
    face_bbox_size: torch.Tensor | None = None
    # SMPLest-X only
    hand_root_pose: torch.Tensor | None = None
    hand_root_rotmat: torch.Tensor | None = None

    @property
    def batch_size(self) -> int:
        return int(self.global_orient.shape[0])

    @property
    def pose_aa(self) -> torch.Tensor:
        """(B, 53, 3) all regressed rotations, axis-angle, in :data:`ROTATION_GROUPS` order."""
        b = self.global_orient.shape[0]
        parts = [getattr(self, name).reshape(b, n, 3) for name, n in ROTATION_GROUPS]
        return torch.cat(parts, dim=1)

    @property
    def pose_rotmat(self) -> torch.Tensor:
        """(B, 53, 3, 3) all regressed rotations as matrices, :data:`ROTATION_GROUPS` order."""
        b = self.global_orient.shape[0]
        parts = [getattr(self, f"{name}_rotmat").reshape(b, n, 3, 3) for name, n in ROTATION_GROUPS]
        return torch.cat(parts, dim=1)

    @property
    def joint_img(self) -> torch.Tensor | None:
        """SMPLer-X: (B, 65, 3) body joints (body heatmap units) then 40 hand joints in their
        box's hand heatmap units: the official training-time ``joint_img``. ``None`` otherwise."""
        if self.body_joint_img is None or self.hand_joint_img_box is None:
            return None
        return torch.cat((self.body_joint_img, self.hand_joint_img_box), dim=1)

    def smplx_params(self) -> dict[str, torch.Tensor]:
        """The SMPL-X keyword arguments of this prediction (axis-angle, batch-first).

        Keys: global_orient (B, 3), body_pose (B, 63), left_hand_pose (B, 45),
        right_hand_pose (B, 45), jaw_pose (B, 3), leye_pose / reye_pose (B, 3) zeros,
        betas (B, 10), expression (B, 10), transl (B, 3) = ``cam_trans``.
        """
        b = self.batch_size
        zeros = self.global_orient.new_zeros(b, 3)
        return {
            "global_orient": self.global_orient,
            "body_pose": self.body_pose.reshape(b, -1),
            "left_hand_pose": self.left_hand_pose.reshape(b, -1),
            "right_hand_pose": self.right_hand_pose.reshape(b, -1),
            "jaw_pose": self.jaw_pose,
            "leye_pose": zeros,
            "reye_pose": zeros,
            "betas": self.betas,
            "expression": self.expression,
            "transl": self.cam_trans,
        }

    def to_dict(self) -> dict[str, torch.Tensor]:
        """All fields that are set (``None`` ones left out), plus ``pose_aa``, ``pose_rotmat``
        and (SMPLer-X) ``joint_img``."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out = {k: v for k, v in out.items() if v is not None}
        out["pose_aa"] = self.pose_aa
        out["pose_rotmat"] = self.pose_rotmat
        joint_img = self.joint_img
        if joint_img is not None:
            out["joint_img"] = joint_img
        return out

    def detach(self) -> Prediction:
        """A copy whose tensors are detached from the autograd graph."""
        kwargs = {
            f.name: (None if getattr(self, f.name) is None else getattr(self, f.name).detach())
            for f in fields(self)
        }
        return Prediction(**kwargs)

    def to(self, device: torch.device | str) -> Prediction:
        """A copy with every tensor moved to ``device``."""
        kwargs = {
            f.name: (None if getattr(self, f.name) is None else getattr(self, f.name).to(device))
            for f in fields(self)
        }
        return Prediction(**kwargs)
