"""SMPLer-X body heads: the 3D joint heatmap (``PositionNet``) and the body regressor.

Checkpoint keys (official-spec b.3): ``body_position_net.conv.0.*`` (C -> 25*16 1x1 conv) and
``body_regressor.{body_conv,root_pose_out,body_pose_out,shape_out,cam_out}.0.*``.
"""

from __future__ import annotations

import torch
from torch import nn

from ehps.modeling.heads.common import conv1x1_stack, linear_stack
from ehps.modeling.ops import soft_argmax_3d

__all__ = ["PositionNet", "BodyRegressor"]


class PositionNet(nn.Module):
    """1x1 conv to per-joint 3D heatmaps, softmax over each whole heatmap, soft-argmax.

    Args:
        in_dim: feature channels C.
        num_joints: 25 (body) or 20 (hand).
        hm_dhw: heatmap (depth, height, width); height and width must equal the feature map's.
    """

    def __init__(self, in_dim: int, num_joints: int, hm_dhw: tuple[int, int, int]) -> None:
        super().__init__()
        self.num_joints = num_joints
        self.hm_dhw = hm_dhw
        self.conv = conv1x1_stack([in_dim, num_joints * hm_dhw[0]], bn_relu_last=False)

    def forward(self, feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, H, W) -> joint coords (B, J, 3) (x, y, z bin indices, float32) and the softmax
        heatmaps (B, J, D, H, W) float32."""
        d, h, w = self.hm_dhw
        logits = self.conv(feat).reshape(feat.shape[0], self.num_joints, d, h, w)
        coords, prob = soft_argmax_3d(logits)
        return coords, prob


class BodyRegressor(nn.Module):
    """Body pose, shape and camera from the task tokens and the body joint coordinates.

    Args:
        in_dim: token width C.
        num_joints: positional body joints (25); each has its own body-pose token.
        num_body_rot: body rotations without the root (21).
        num_betas: shape coefficients (10).
        hidden: per-token projection width (512).
    """

    def __init__(
        self,
        in_dim: int,
        num_joints: int = 25,
        num_body_rot: int = 21,
        num_betas: int = 10,
        hidden: int = 512,
    ) -> None:
        super().__init__()
        self.body_conv = linear_stack([in_dim, hidden])
        joint_feat = num_joints * (hidden + 3)
        self.root_pose_out = linear_stack([joint_feat, 6])
        self.body_pose_out = linear_stack([joint_feat, num_body_rot * 6])
        self.shape_out = linear_stack([in_dim, num_betas])
        self.cam_out = linear_stack([in_dim, 3])

    def forward(
        self,
        body_pose_tokens: torch.Tensor,
        shape_token: torch.Tensor,
        cam_token: torch.Tensor,
        body_joint_img: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Args:
            body_pose_tokens: (B, 25, C) one token per positional body joint.
            shape_token: (B, C).
            cam_token: (B, C).
            body_joint_img: (B, 25, 3) joint coordinates (detached by the caller).

        Returns:
            root_6d (B, 6), body_6d (B, 21*6), betas (B, 10), cam_param (B, 3).
        """
        b = body_pose_tokens.shape[0]
        tokens = self.body_conv(body_pose_tokens)
        joint_feat = torch.cat((tokens, body_joint_img.to(tokens.dtype)), dim=2).reshape(b, -1)
        return (
            self.root_pose_out(joint_feat),
            self.body_pose_out(joint_feat),
            self.shape_out(shape_token),
            self.cam_out(cam_token),
        )
