"""SMPLer-X training losses, exactly as the official ``Model.forward(mode='train')`` computes them
(official-spec c.1).

Inputs: the network :class:`~ehps.modeling.prediction.Prediction`, a collated
:class:`~ehps.data.types.Batch`, and ``joints_cam``: the (B, 144, 3) joints of the SMPL-X layer
evaluated on the prediction with ``transl = pred.cam_trans`` (``model(**pred.smplx_params())``),
i.e. crop-camera metres with the translation included.

Terms (element-wise masked L1; each reported as its mean, total = sum of means):

- ``smplx_pose``: the 53 axis-angle rotations (159 values) x 10, root included (all released
  configs set ``agora_fix_global_orient_transl``); ``supervise_root=False`` drops the root.
- ``smplx_shape`` x 1 (masked by ``smplx_shape_valid``), ``smplx_expr`` x 1.
- ``joint_cam``: pelvis-relative 137 joints vs ``joint_cam``, mask ``joint_valid * is_3d``, x 100.
- ``smplx_joint_cam``: part-relative joints vs ``smplx_joint_cam``, mask ``smplx_joint_valid``,
  x 100.
- ``lhand_bbox`` / ``rhand_bbox`` / ``face_bbox``: centre + size (heatmap units), only when at least
  one sample of the batch has that box, x 1.
- ``joint_proj``: projected joints vs 2D targets, mask ``joint_trunc``, x 1. When any hand box is
  valid in the batch, hand targets (and their truncation) are first moved into the frame of the
  *predicted* hand box (16x16 units) and the projected hand joints too; then each hand's, and
  (when any face box is valid) the face's projected joints are translated per sample so that
  their masked mean matches the target's (only the relative 2D layout is supervised).
- ``joint_img``: the 65 heatmap joints (body in body units, hands in their box units) vs the
  targets, mask ``joint_trunc``, depth only for 3D samples, x 1.
- ``smplx_joint_img``: the same vs ``smplx_joint_img``, mask ``smplx_joint_trunc``, x 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ehps.bodymodels.joint_sets import JOINT_137_PARTS
from ehps.data.types import Batch
from ehps.errors import InputError
from ehps.geometry.camera import CROP_INPUT_HW
from ehps.losses.common import (
    HEATMAP_HW,
    coord_l1,
    masked_l1,
    reduced,
    shape_expr_terms,
    supervision_joints,
)
from ehps.modeling.prediction import Prediction

__all__ = ["SMPLerXLossWeights", "smplerx_loss_terms", "smplerx_losses"]

#: Hand heatmap (depth, height, width) of SMPLer-X's hand branch.
HAND_HM_SHAPE: tuple[int, int, int] = (16, 16, 16)


@dataclass(frozen=True)
class SMPLerXLossWeights:
    """Official weights (``config_smpler_x_*.py``).

    Attributes:
        smplx_pose: ``smplx_pose_weight``. smplx_shape: ``smplx_loss_weight``.
        smplx_expr: hard-coded 1. joint_cam / smplx_joint_cam: ``smplx_kps_3d_weight``.
        joint_proj: ``smplx_kps_2d_weight``. joint_img / smplx_joint_img: ``net_kps_2d_weight``.
        bbox: the box terms (no weight in the official code).
        supervise_root: include the root rotation in ``smplx_pose``.
        smplx_orient: optional extra root term (official ``smplx_orient_weight``; unset in the
            released configs).
    """

    smplx_pose: float = 10.0
    smplx_shape: float = 1.0
    smplx_expr: float = 1.0
    joint_cam: float = 100.0
    smplx_joint_cam: float = 100.0
    joint_proj: float = 1.0
    joint_img: float = 1.0
    smplx_joint_img: float = 1.0
    bbox: float = 1.0
    supervise_root: bool = True
    smplx_orient: float | None = None


def _range(part: str) -> slice:
    r = JOINT_137_PARTS[part]
    return slice(r.start, r.stop)


def _to_box_frame(
    xy: torch.Tensor, box_hm: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Body heatmap units (B, J, 2) -> units of a 16x16 grid over ``box_hm`` (B, 4) xyxy in body
    heatmap units; also the scale factors (B, 1, 2) (used for depth-free coordinates)."""
    size = (box_hm[:, 2:] - box_hm[:, :2])[:, None]
    scale = xy.new_tensor([HAND_HM_SHAPE[2], HAND_HM_SHAPE[1]]) / size
    return (xy - box_hm[:, None, :2]) * scale, scale


def _align_translation(
    proj: torch.Tensor, target: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Shift (B, J, 2) ``proj`` per sample by the masked mean of ``target - proj`` (zero when no
    joint is valid); gradients flow through the shift, as in the official code."""
    m = (mask == 1).to(proj.dtype)[..., None]
    count = m.sum(dim=1, keepdim=True)
    shift = ((target - proj) * m).sum(dim=1, keepdim=True) / count.clamp(min=1.0)
    return proj + torch.where(count > 0, shift, torch.zeros_like(shift))


def smplerx_loss_terms(
    pred: Prediction,
    batch: Batch,
    joints_cam: torch.Tensor,
    weights: SMPLerXLossWeights = SMPLerXLossWeights(),
) -> dict[str, torch.Tensor]:
    """The weighted element-wise loss tensors (see module docstring), before reduction.

    Args:
        pred: SMPLer-X prediction for the batch.
        batch: collated targets (:class:`~ehps.data.types.Batch`, same device as ``pred``).
        joints_cam: (B, 144, 3) SMPL-X joints of the prediction with ``transl = cam_trans``.
        weights: loss weights (official defaults).
    """
    if pred.joint_img is None or pred.lhand_bbox is None or pred.lhand_bbox_center is None:
        raise InputError("smplerx losses need a SMPLer-X prediction (joint_img and part boxes)")
    b = pred.batch_size
    f = joints_cam.dtype
    w = weights
    terms: dict[str, torch.Tensor] = {}

    # parameters
    pose = pred.pose_aa.reshape(b, -1)
    pose_t = batch.smplx_pose.reshape(b, -1).to(f)
    pose_v = batch.smplx_pose_valid.to(f).repeat_interleave(3, dim=1)
    pose_l1 = masked_l1(pose, pose_t, pose_v)
    if w.smplx_orient is not None:
        terms["smplx_orient"] = pose_l1[:, :3] * w.smplx_orient
    terms["smplx_pose"] = (pose_l1 if w.supervise_root else pose_l1[:, 3:]) * w.smplx_pose
    terms.update(shape_expr_terms(pred, batch, w.smplx_shape, w.smplx_expr))

    # 3D joints
    joint_proj, jc_wo, jc_ra = supervision_joints(joints_cam)
    terms["joint_cam"] = coord_l1(
        jc_wo, batch.joint_cam, batch.joint_valid[..., None] * batch.is_3d[:, None, None]
    ) * w.joint_cam
    terms["smplx_joint_cam"] = coord_l1(
        jc_ra, batch.smplx_joint_cam, batch.smplx_joint_valid[..., None]
    ) * w.smplx_joint_cam

    # part boxes
    for part in ("lhand", "rhand", "face"):
        valid = getattr(batch, f"{part}_bbox_valid")
        if bool((valid != 0).any()):
            v = valid[:, None]
            terms[f"{part}_bbox"] = (
                masked_l1(getattr(pred, f"{part}_bbox_center"),
                          getattr(batch, f"{part}_bbox_center"), v)
                + masked_l1(getattr(pred, f"{part}_bbox_size"),
                            getattr(batch, f"{part}_bbox_size"), v)
            ) * w.bbox

    # 2D targets, hands moved into the predicted boxes' frames
    joint_img_t = batch.joint_img.clone()
    smplx_joint_img_t = batch.smplx_joint_img.clone()
    joint_trunc = batch.joint_trunc.clone()
    smplx_joint_trunc = batch.smplx_joint_trunc.clone()
    crop_to_hm = joints_cam.new_tensor(
        [HEATMAP_HW[1] / CROP_INPUT_HW[1], HEATMAP_HW[0] / CROP_INPUT_HW[0]] * 2
    )
    hand_boxes = {"lhand": pred.lhand_bbox, "rhand": pred.rhand_bbox}
    if bool(((batch.lhand_bbox_valid + batch.rhand_bbox_valid) != 0).any()):
        for part, box in hand_boxes.items():
            assert box is not None
            box_hm = box.detach().to(f) * crop_to_hm
            sl = _range(part)
            for coords, trunc in ((joint_img_t, joint_trunc),
                                  (smplx_joint_img_t, smplx_joint_trunc)):
                xy, _ = _to_box_frame(coords[:, sl, :2], box_hm)
                z = coords[:, sl, 2] * (HAND_HM_SHAPE[0] / 16.0)
                inside = ((xy[..., 0] >= 0) & (xy[..., 0] < HAND_HM_SHAPE[2])
                          & (xy[..., 1] >= 0) & (xy[..., 1] < HAND_HM_SHAPE[1]))
                trunc[:, sl] = trunc[:, sl] * inside.to(f)
                coords[:, sl] = torch.cat((xy, z[..., None]), dim=-1)
            proj_xy, _ = _to_box_frame(joint_proj[:, sl], box_hm)
            proj_xy = _align_translation(proj_xy, joint_img_t[:, sl, :2], joint_trunc[:, sl])
            joint_proj = torch.cat((joint_proj[:, : sl.start], proj_xy,
                                    joint_proj[:, sl.stop :]), dim=1)
    if bool((batch.face_bbox_valid != 0).any()):
        sl = _range("face")
        face_xy = _align_translation(joint_proj[:, sl], joint_img_t[:, sl, :2],
                                     joint_trunc[:, sl])
        joint_proj = torch.cat((joint_proj[:, : sl.start], face_xy, joint_proj[:, sl.stop :]),
                               dim=1)
    terms["joint_proj"] = coord_l1(
        joint_proj, joint_img_t[..., :2], joint_trunc[..., None]
    ) * w.joint_proj
    joint_img = pred.joint_img
    terms["joint_img"] = coord_l1(
        joint_img, joint_img_t[:, :65], joint_trunc[:, :65, None], batch.is_3d
    ) * w.joint_img
    terms["smplx_joint_img"] = coord_l1(
        joint_img, smplx_joint_img_t[:, :65], smplx_joint_trunc[:, :65, None]
    ) * w.smplx_joint_img
    return terms


smplerx_losses = reduced(
    smplerx_loss_terms, "smplerx_losses",
    """Named scalar terms (weighted means) plus ``"total"``, the quantity to minimise; arguments
    as :func:`smplerx_loss_terms`.""")
