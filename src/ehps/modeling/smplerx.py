"""SMPLer-X (NeurIPS 2023): ViT encoder with 31 task tokens plus component-guided heads.

Forward pass (official-spec a.2), images (B, 3, 512, 384) in [0, 1] -> :class:`Prediction`:

1. nearest resize to the 256x192 body input; ViT -> features (B, C, 16, 12) and 31 tokens in the
   order [shape, camera, expression, jaw, hand x2 (unused), body x25];
2. body 3D heatmaps (25 x 16x16x12) -> soft-argmax joint coordinates;
3. body regressor: root and 21 body rotations (6D) from the 25 body tokens + detached joint
   coordinates, betas from the shape token, camera from the camera token;
4. box net on [features, detached heatmaps] -> left hand / right hand / face centre and size;
   boxes squared and enlarged (x2 hands, x1.5 face) and detached;
5. hand RoI: x4 upsampled features, RoIAlign 16x16 per hand box, left patch mirrored;
6. hand 3D heatmaps (20 x 16^3) -> joint coordinates; shared right-hand regressor -> 15 6D
   finger rotations per hand; the left hand is un-mirrored ((x, y, z) -> (x, -y, -z) in
   axis-angle; x -> 15 - x for its joints);
7. expression and jaw from their tokens.

No body model, loss, dataset or mode switch is involved; every intermediate the training losses
need is returned (it costs nothing extra).
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ehps.errors import InputError
from ehps.geometry.camera import BODY_INPUT_HW, CROP_INPUT_HW, cam_params_to_trans
from ehps.geometry.rotations import flip_aa, rotmat_to_aa
from ehps.modeling.backbones.vit import ViT
from ehps.modeling.config import ModelConfig
from ehps.modeling.heads import (
    BodyRegressor,
    BoxNet,
    FaceRegressor,
    HandRegressor,
    HandRoI,
    PositionNet,
)
from ehps.modeling.heads.common import init_head_weights
from ehps.modeling.ops import BODY_HM_DHW, HAND_HM_DHW, restore_bbox, rot6d_to_rotmat_fp32
from ehps.modeling.prediction import Prediction

__all__ = ["SMPLerX", "check_images", "MIRROR_SIGNS"]

NUM_BODY_POS_JOINTS = 25
NUM_HAND_POS_JOINTS = 20
HAND_BOX_EXTENSION = 2.0
FACE_BOX_EXTENSION = 1.5
#: Element-wise signs that mirror a rotation matrix across the x = 0 plane: S R S, S = diag(-1,1,1).
MIRROR_SIGNS = ((1.0, -1.0, -1.0), (-1.0, 1.0, 1.0), (-1.0, 1.0, 1.0))


def check_images(images: torch.Tensor) -> None:
    """Raise :class:`InputError` unless ``images`` is a float (B, 3, 512, 384) batch."""
    if not isinstance(images, torch.Tensor):
        raise InputError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] != 3 or tuple(images.shape[2:]) != CROP_INPUT_HW:
        raise InputError(
            f"images must be (B, 3, {CROP_INPUT_HW[0]}, {CROP_INPUT_HW[1]}) RGB person crops, got "
            f"{tuple(images.shape)}; crop each person with ehps.geometry.crop first"
        )
    if not images.is_floating_point():
        raise InputError(
            f"images must be floating point in [0, 1], got {images.dtype}; divide uint8 images "
            "by 255 (no mean/std normalisation)"
        )


class ViTNetwork(nn.Module):
    """What SMPLer-X and SMPLest-X share: the config check, the ViT ``encoder`` and the encoding
    of the person crops. Subclasses set ``family`` and build their heads after ``__init__``.

    Args:
        config: architecture of family ``family``; see :class:`ModelConfig`.
    """

    family: ClassVar[str]

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.family != self.family:
            raise InputError(f"{type(self).__name__} needs a '{self.family}' config, got family "
                             f"{config.family!r}")
        self.config = config
        self.encoder = ViT(
            config.embed_dim,
            config.depth,
            config.num_heads,
            config.mlp_hidden,
            config.num_task_tokens,
            config.drop_path_rate,
            stem=config.stem,
        )

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Check (B, 3, 512, 384) crops in [0, 1], resize them to the body input (nearest) and
        run the encoder: (feature map, task tokens)."""
        check_images(images)
        body_img = F.interpolate(images, size=BODY_INPUT_HW, mode="nearest")
        return self.encoder(body_img)


def smplx_fields(aa: torch.Tensor, rotmat: torch.Tensor, betas: torch.Tensor,
                 expression: torch.Tensor, cam_param: torch.Tensor) -> dict[str, torch.Tensor]:
    """The :class:`Prediction` fields both networks fill the same way.

    Args:
        aa: (B, >=53, 3) axis-angle rotations in the official 53-joint order (root, 21 body,
            15 left hand, 15 right hand, jaw).
        rotmat: (B, >=53, 3, 3) the same rotations as matrices.
        betas: (B, 10) shape. expression: (B, 10) expression.
        cam_param: (B, 3) official camera parameters (crop camera translation follows).

    Returns:
        Pose, shape, expression and camera fields, float32 where the network computed otherwise.
    """
    cam_param = cam_param.float()
    return dict(
        global_orient=aa[:, 0], body_pose=aa[:, 1:22], left_hand_pose=aa[:, 22:37],
        right_hand_pose=aa[:, 37:52], jaw_pose=aa[:, 52], betas=betas.float(),
        expression=expression.float(), cam_trans=cam_params_to_trans(cam_param),
        cam_param=cam_param, global_orient_rotmat=rotmat[:, 0], body_pose_rotmat=rotmat[:, 1:22],
        left_hand_pose_rotmat=rotmat[:, 22:37], right_hand_pose_rotmat=rotmat[:, 37:52],
        jaw_pose_rotmat=rotmat[:, 52],
    )


class SMPLerX(ViTNetwork):
    """The SMPLer-X network. Attribute names equal the official checkpoint prefixes.

    Args:
        config: architecture (family ``"smplerx"``); see :class:`ModelConfig`.
    """

    family = "smplerx"

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        c = config.embed_dim
        self.body_position_net = PositionNet(c, NUM_BODY_POS_JOINTS, BODY_HM_DHW)
        self.body_regressor = BodyRegressor(c, NUM_BODY_POS_JOINTS, hidden=config.head_dim)
        self.box_net = BoxNet(c, NUM_BODY_POS_JOINTS * BODY_HM_DHW[0], config.box_dim)
        self.hand_roi_net = HandRoI(c, HAND_HM_DHW[1:])
        self.hand_position_net = PositionNet(c, NUM_HAND_POS_JOINTS, HAND_HM_DHW)
        self.hand_regressor = HandRegressor(c, NUM_HAND_POS_JOINTS, hidden=config.head_dim)
        self.face_regressor = FaceRegressor(c)

    def neck_modules(self) -> list[nn.Module]:
        """The official "neck": box net and hand RoI net (frozen by ``fine_tune='head'``)."""
        return [self.box_net, self.hand_roi_net]

    def head_modules(self) -> list[nn.Module]:
        """The official "head": position nets and regressors (what ``fine_tune='head'`` trains;
        ``'backbone'`` freezes these and the neck, ``'neck_and_head'`` freezes the encoder)."""
        return [
            self.body_position_net,
            self.body_regressor,
            self.hand_position_net,
            self.hand_regressor,
            self.face_regressor,
        ]

    @torch.no_grad()
    def init_weights(self) -> None:
        """Official random init: ViT trunc-normal; heads: conv N(0, 1e-3), Linear N(0, 1e-2),
        BatchNorm (1, 0)."""
        self.encoder.init_weights()
        for module in self.neck_modules() + self.head_modules():
            init_head_weights(module)

    def forward(self, images: torch.Tensor) -> Prediction:
        """Args:
            images: (B, 3, 512, 384) float RGB person crops in [0, 1] (no mean/std).

        Returns:
            :class:`Prediction` with the common fields plus the SMPLer-X heatmap coordinates
            and boxes (float32).
        """
        feat, tokens = self.encode(images)
        b = images.shape[0]
        shape_tok, cam_tok, expr_tok, jaw_tok = (
            tokens[:, 0],
            tokens[:, 1],
            tokens[:, 2],
            tokens[:, 3],
        )
        body_tok = tokens[:, 6 : 6 + NUM_BODY_POS_JOINTS]

        body_joint_img, body_hm = self.body_position_net(feat)
        root_6d, body_6d, betas, cam_param = self.body_regressor(
            body_tok, shape_tok, cam_tok, body_joint_img.detach()
        )

        centers, sizes = self.box_net(feat, body_hm.detach())
        lhand_bbox = restore_bbox(centers[:, 0], sizes[:, 0], 1.0, HAND_BOX_EXTENSION).detach()
        rhand_bbox = restore_bbox(centers[:, 1], sizes[:, 1], 1.0, HAND_BOX_EXTENSION).detach()
        face_bbox = restore_bbox(centers[:, 2], sizes[:, 2], 1.0, FACE_BOX_EXTENSION).detach()

        hand_feat = self.hand_roi_net(feat, lhand_bbox, rhand_bbox)  # (2B, C, 16, 16)
        hand_joint_img, _ = self.hand_position_net(hand_feat)  # (2B, 20, 3)
        hand_6d = self.hand_regressor(hand_feat, hand_joint_img.detach())  # (2B, 90)
        expression, jaw_6d = self.face_regressor(expr_tok, jaw_tok)

        pose_6d = torch.cat(
            (
                root_6d.reshape(b, 1, 6),
                body_6d.reshape(b, -1, 6),
                hand_6d[:b].reshape(b, -1, 6),
                hand_6d[b:].reshape(b, -1, 6),
                jaw_6d.reshape(b, 1, 6),
            ),
            dim=1,
        ).float()  # (B, 53, 6); rows 22..36 are the mirrored left hand
        rotmat = rot6d_to_rotmat_fp32(pose_6d)
        aa = rotmat_to_aa(rotmat)
        # un-mirror the left hand (rows 22..36): aa (x, y, z) -> (x, -y, -z); R -> S R S
        lhand_aa = flip_aa(aa[:, 22:37])
        lhand_rotmat = rotmat[:, 22:37] * rotmat.new_tensor(MIRROR_SIGNS)

        hand_hm_w = HAND_HM_DHW[2]
        lhand_joint = hand_joint_img[:b]
        lhand_joint = torch.cat((hand_hm_w - 1 - lhand_joint[..., :1], lhand_joint[..., 1:]), dim=2)
        hand_joint_box = torch.cat((lhand_joint, hand_joint_img[b:]), dim=1)  # (B, 40, 3)
        hand_joint_body = torch.cat(
            (
                _box_to_body_hm(lhand_joint, lhand_bbox),
                _box_to_body_hm(hand_joint_img[b:], rhand_bbox),
            ),
            dim=1,
        )
        crop_scale = lhand_bbox.new_tensor(
            [CROP_INPUT_HW[1] / BODY_INPUT_HW[1], CROP_INPUT_HW[0] / BODY_INPUT_HW[0]]
        ).repeat(2)

        fields = smplx_fields(aa, rotmat, betas, expression, cam_param)
        fields.update(left_hand_pose=lhand_aa, left_hand_pose_rotmat=lhand_rotmat)
        return Prediction(
            **fields,
            pose_6d=pose_6d,
            body_joint_img=body_joint_img,
            hand_joint_img=hand_joint_body,
            hand_joint_img_box=hand_joint_box,
            lhand_bbox=lhand_bbox * crop_scale,
            rhand_bbox=rhand_bbox * crop_scale,
            face_bbox=face_bbox * crop_scale,
            lhand_bbox_center=centers[:, 0],
            rhand_bbox_center=centers[:, 1],
            face_bbox_center=centers[:, 2],
            lhand_bbox_size=sizes[:, 0],
            rhand_bbox_size=sizes[:, 1],
            face_bbox_size=sizes[:, 2],
        )


def _box_to_body_hm(joint_box: torch.Tensor, bbox: torch.Tensor) -> torch.Tensor:
    """Hand joints (N, J, 3) in hand heatmap units of ``bbox`` (N, 4) xyxy body-input pixels ->
    body heatmap units (x, y); z is kept (official test-time conversion)."""
    sx = BODY_HM_DHW[2] / BODY_INPUT_HW[1]
    sy = BODY_HM_DHW[1] / BODY_INPUT_HW[0]
    x0, y0, x1, y1 = (bbox[:, i : i + 1] for i in range(4))
    x = joint_box[..., 0] * ((x1 - x0) * sx / HAND_HM_DHW[2]) + x0 * sx
    y = joint_box[..., 1] * ((y1 - y0) * sy / HAND_HM_DHW[1]) + y0 * sy
    return torch.stack((x, y, joint_box[..., 2]), dim=2)
