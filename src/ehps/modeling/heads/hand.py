"""SMPLer-X hand branch: feature-level crop-and-upsample (``hand_roi_net``) and the shared
right-hand pose regressor (``hand_regressor``); official-spec a.2 steps 5-7, b.3.

Keys: ``hand_roi_net.deconv.{0,3}.weight`` + BatchNorms ``deconv.{1,4}.*``,
``hand_roi_net.conv.0.*`` (C/4 -> C), ``hand_regressor.hand_conv.{0,1}.*`` (1x1 conv C -> 512 +
BatchNorm), ``hand_regressor.hand_pose_out.0.*`` (20*515 -> 15*6).
"""

from __future__ import annotations

import torch
from torch import nn

from ehps.modeling.heads.common import conv1x1_stack, deconv_stack, linear_stack
from ehps.modeling.ops import BODY_HM_DHW, BODY_INPUT_HW, HAND_HM_DHW, sample_joint_features
from ehps.modeling.roi_align import roi_align

__all__ = ["HandRoI", "HandRegressor"]


class HandRoI(nn.Module):
    """Upsample the 16x12 features x4 (two deconvolutions, C -> C/2 -> C/4), RoIAlign a 16x16
    patch per hand box, mirror the left-hand patch horizontally, project back to C channels.

    Args:
        in_dim: feature channels C (divisible by 4).
        out_hw: RoI output (height, width), 16x16.
    """

    UPSCALE: int = 4

    def __init__(self, in_dim: int, out_hw: tuple[int, int] = HAND_HM_DHW[1:]) -> None:
        super().__init__()
        self.out_hw = (int(out_hw[0]), int(out_hw[1]))
        self.deconv = deconv_stack([in_dim, in_dim // 2, in_dim // 4])
        self.conv = conv1x1_stack([in_dim // 4, in_dim], bn_relu_last=False)

    def forward(
        self, feat: torch.Tensor, lhand_bbox: torch.Tensor, rhand_bbox: torch.Tensor
    ) -> torch.Tensor:
        """Args:
            feat: (B, C, 16, 12) ViT features.
            lhand_bbox, rhand_bbox: (B, 4) xyxy hand boxes in body-input pixels (192x256).

        Returns:
            (2B, C, 16, 16): the B mirrored left-hand patches, then the B right-hand patches.
        """
        b = feat.shape[0]
        up = self.deconv(feat)  # (B, C/4, 64, 48)
        # body-input pixels -> pixels of the x4 map (x: /192*12*4, y: /256*16*4)
        scale = feat.new_tensor(
            [
                BODY_HM_DHW[2] * self.UPSCALE / BODY_INPUT_HW[1],
                BODY_HM_DHW[1] * self.UPSCALE / BODY_INPUT_HW[0],
            ],
            dtype=torch.float32,
        ).repeat(2)
        batch_index = torch.arange(b, device=feat.device, dtype=torch.float32).repeat(2)[:, None]
        boxes = torch.cat((lhand_bbox, rhand_bbox), dim=0).float() * scale
        patches = roi_align(up, torch.cat((batch_index, boxes), dim=1), self.out_hw, 1.0, 0)
        hand_feat = torch.cat((torch.flip(patches[:b], dims=[3]), patches[b:]), dim=0)
        return self.conv(hand_feat)


class HandRegressor(nn.Module):
    """Right-hand finger rotations from hand features sampled at the hand joints.

    Args:
        in_dim: feature channels C.
        num_joints: positional hand joints (20).
        num_rot: finger rotations (15).
        hidden: joint feature width (512).
    """

    def __init__(
        self, in_dim: int, num_joints: int = 20, num_rot: int = 15, hidden: int = 512
    ) -> None:
        super().__init__()
        self.hand_conv = conv1x1_stack([in_dim, hidden], bn_relu_last=True)
        self.hand_pose_out = linear_stack([num_joints * (hidden + 3), num_rot * 6])

    def forward(self, hand_feat: torch.Tensor, hand_joint_img: torch.Tensor) -> torch.Tensor:
        """Args:
            hand_feat: (N, C, 16, 16) hand patches.
            hand_joint_img: (N, 20, 3) joint coordinates in hand heatmap units (detached).

        Returns:
            (N, 15*6) 6D finger rotations.
        """
        feat = self.hand_conv(hand_feat)
        joint_feat = sample_joint_features(feat, hand_joint_img[..., :2])
        joint_feat = torch.cat((joint_feat, hand_joint_img.to(joint_feat.dtype)), dim=2)
        return self.hand_pose_out(joint_feat.reshape(hand_feat.shape[0], -1))
