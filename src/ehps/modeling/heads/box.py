"""SMPLer-X hand and face box regression (``box_net``; official-spec a.2 step 4, b.3).

Keys: ``deconv.{0,3,6}.weight`` (transposed convs, no bias), ``deconv.{1,4,7}.*`` (BatchNorm),
``bbox_center.0.*`` (256 -> 3 1x1 conv), ``{lhand,rhand,face}_size.{0,2}.*`` (256 -> 256 -> 2 MLPs).
"""

from __future__ import annotations

import torch
from torch import nn

from ehps.modeling.heads.common import conv1x1_stack, deconv_stack, linear_stack
from ehps.modeling.ops import sample_joint_features, soft_argmax_2d

__all__ = ["BoxNet"]


class BoxNet(nn.Module):
    """Three x2 deconvolutions of [features, body heatmaps] (16x12 -> 128x96), a 3-channel 2D
    soft-argmax for the left-hand / right-hand / face centres, and one size MLP per part fed with
    the deconvolved features sampled at the (detached) centre.

    Args:
        in_dim: feature channels C.
        heatmap_channels: body heatmap channels appended to the features (25 joints x 16 depth).
        hidden: deconvolution and MLP width (256).
    """

    #: 128x96 deconvolved map -> 16x12 body heatmap units.
    DOWNSCALE: float = 8.0

    def __init__(self, in_dim: int, heatmap_channels: int = 400, hidden: int = 256) -> None:
        super().__init__()
        self.deconv = deconv_stack([in_dim + heatmap_channels, hidden, hidden, hidden])
        self.bbox_center = conv1x1_stack([hidden, 3], bn_relu_last=False)
        self.lhand_size = linear_stack([hidden, hidden, 2])
        self.rhand_size = linear_stack([hidden, hidden, 2])
        self.face_size = linear_stack([hidden, hidden, 2])

    def forward(
        self, feat: torch.Tensor, body_heatmap: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Args:
            feat: (B, C, 16, 12) ViT features.
            body_heatmap: (B, 25, 16, 16, 12) softmax body heatmaps (detached by the caller).

        Returns:
            centers: (B, 3, 2) (x, y) of left hand, right hand, face in body heatmap units.
            sizes: (B, 3, 2) (w, h) in body heatmap units.
        """
        b, _, h, w = feat.shape
        hm = body_heatmap.reshape(b, -1, h, w).to(feat.dtype)
        up = self.deconv(torch.cat((feat, hm), dim=1))  # (B, 256, 128, 96)
        centers_px = soft_argmax_2d(self.bbox_center(up))  # (B, 3, 2) in 128x96 pixels
        part_feat = sample_joint_features(up, centers_px.detach())  # (B, 3, 256)
        sizes = torch.stack(
            (
                self.lhand_size(part_feat[:, 0]),
                self.rhand_size(part_feat[:, 1]),
                self.face_size(part_feat[:, 2]),
            ),
            dim=1,
        )
        return centers_px / self.DOWNSCALE, sizes.float()
