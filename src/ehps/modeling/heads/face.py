"""SMPLer-X face regressor (``face_regressor``): expression and jaw from two task tokens.

Keys: ``face_regressor.expr_out.0.*`` (C -> 10), ``face_regressor.jaw_pose_out.0.*`` (C -> 6).
There is no face RoI in SMPLer-X (the face box is predicted but never used for cropping).
"""

from __future__ import annotations

import torch
from torch import nn

from ehps.modeling.heads.common import linear_stack

__all__ = ["FaceRegressor"]


class FaceRegressor(nn.Module):
    """Args:
    in_dim: token width C.
    num_expression: expression coefficients (10).
    """

    def __init__(self, in_dim: int, num_expression: int = 10) -> None:
        super().__init__()
        self.expr_out = linear_stack([in_dim, num_expression])
        self.jaw_pose_out = linear_stack([in_dim, 6])

    def forward(
        self, expr_token: torch.Tensor, jaw_token: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C), (B, C) -> expression (B, 10), jaw 6D (B, 6)."""
        return self.expr_out(expr_token), self.jaw_pose_out(jaw_token)
