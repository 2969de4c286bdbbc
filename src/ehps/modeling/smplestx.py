"""SMPLest-X (2025): ViT encoder with 80 task tokens + transformer decoder + grouped linear heads.

Forward pass (official-spec a.3), images (B, 3, 512, 384) in [0, 1] -> :class:`Prediction`:
nearest resize to 256x192; ViT -> features and 80 tokens; the decoder runs 6 layers over the
272 [task, patch] tokens (cross-attending to the patches) and reads 11 token groups with one
linear head each. There is no heatmap, box or RoI and no left-hand mirroring: both hands are
regressed directly. The body root, 21 body joints, both hands' fingers, jaw, betas, expression
and the body camera pose the mesh; the hand-root rotations only feed the hand-root losses;
the hand cameras, face root and face camera heads are computed by the official code but unused
(they are not returned here).
"""

from __future__ import annotations

import torch
from torch import nn

from ehps.geometry.rotations import rotmat_to_aa
from ehps.modeling.config import ModelConfig
from ehps.modeling.decoder import SMPLestXDecoder
from ehps.modeling.ops import rot6d_to_rotmat_fp32
from ehps.modeling.prediction import Prediction
from ehps.modeling.smplerx import ViTNetwork, smplx_fields

__all__ = ["SMPLestX"]


class SMPLestX(ViTNetwork):
    """The SMPLest-X network (attribute names = official checkpoint prefixes).

    Args:
        config: architecture (family ``"smplestx"``); see :class:`ModelConfig`.
    """

    family = "smplestx"

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.decoder = SMPLestXDecoder(
            config.embed_dim,
            num_tokens=config.num_task_tokens,
            depth=config.decoder_depth,
            heads=config.decoder_heads,
            head_dim=config.decoder_head_dim,
            dim_out=config.decoder_dim_out,
            mlp_dim=config.decoder_mlp_dim,
        )

    def neck_modules(self) -> list[nn.Module]:
        """SMPLest-X has no neck (kept for a uniform interface with SMPLer-X)."""
        return []

    def head_modules(self) -> list[nn.Module]:
        """Everything after the encoder: the decoder and its linear heads."""
        return [self.decoder]

    @torch.no_grad()
    def init_weights(self) -> None:
        """Official random init: ViT trunc-normal; the decoder keeps PyTorch's default layer init
        and a standard-normal ``pos_embedding`` (the official code applies nothing else)."""
        self.encoder.init_weights()
        for m in self.decoder.modules():
            if isinstance(m, (nn.Linear, nn.LayerNorm)):
                m.reset_parameters()
        nn.init.normal_(self.decoder.transformer.pos_embedding)

    def forward(self, images: torch.Tensor) -> Prediction:
        """Args:
            images: (B, 3, 512, 384) float RGB person crops in [0, 1] (no mean/std).

        Returns:
            :class:`Prediction` with the common fields plus ``hand_root_pose`` /
            ``hand_root_rotmat`` (float32).
        """
        feat, tokens = self.encode(images)
        b = images.shape[0]
        out = self.decoder(tokens, feat)
        pose_6d = torch.cat(
            (
                out["dec_body_root_pose"].reshape(b, 1, 6),
                out["dec_body_pose"].reshape(b, 21, 6),
                out["dec_hand_pose"].reshape(b, 30, 6),  # left 15 then right 15
                out["dec_face_jaw_pose"].reshape(b, 1, 6),
                out["dec_hand_root_pose"].reshape(b, 2, 6),  # left, right wrist (global)
            ),
            dim=1,
        ).float()
        rotmat = rot6d_to_rotmat_fp32(pose_6d)  # (B, 55, 3, 3)
        aa = rotmat_to_aa(rotmat)
        return Prediction(
            **smplx_fields(aa, rotmat, out["dec_body_shape"], out["dec_face_expression"],
                           out["dec_body_cam"]),
            pose_6d=pose_6d[:, :53],
            hand_root_pose=aa[:, 53:55],
            hand_root_rotmat=rotmat[:, 53:55],
        )
