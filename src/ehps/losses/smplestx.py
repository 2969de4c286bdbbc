"""SMPLest-X training losses, exactly as the official ``Model.forward(mode='train')`` computes them
(official-spec c.2).

Inputs as for :mod:`ehps.losses.smplerx`: the prediction, the batch and the (B, 144, 3) SMPL-X
joints of the prediction with ``transl = cam_trans``.

Terms (element-wise masked L1 on rotation matrices; each reported as its mean):

- ``smplx_orient``: the root rotation matrix (9 values) x 1; ``smplx_pose``: all 53 rotation
  matrices (477 values, masks tiled x 9) x 10. Targets are ``Rodrigues(axis-angle)``.
- ``smplx_shape`` x 1, ``smplx_expr`` x 1.
- ``joint_cam``: pelvis-relative joints, mask ``joint_trunc * is_3d * pelvis_trunc`` x 100.
- ``smplx_joint_cam``: part-relative joints, mask ``joint_trunc`` x 100.
- ``joint_proj``: projected joints vs 2D targets, mask ``joint_trunc`` x 1 (no re-alignment).
- ``hand_root``: the predicted wrist global orientation (hand-root tokens) vs the ground-truth
  wrist orientation, which is the forward kinematics of the target body pose through the 22-joint
  SMPL-X tree for full-body samples (pelvis inside the crop) or the MANO global orientation
  (``lhand_root`` / ``rhand_root``) for hand-only samples (pelvis truncated) x 1.
- ``hand_root_chain``: the wrist orientation obtained by chaining the *predicted* body rotations
  (the root detached) vs the same targets x 1 (unless ``chain=False``, official
  ``no_chain_hand_loss``).
- ``hand_align`` / ``hand_pose``: hand-joint 3D terms, only with ``hand_loss=True`` (off in the
  release).

Official quirk kept by default (``official_hand_root_broadcast``): the hand-root masks multiply a
(B, 9) tensor by the pelvis truncation shaped (B, 1, 1), which broadcasts to (B, B, 9); its mean is
``mean(|diff| * valid) * mean(pelvis_trunc)``: the per-sample gate becomes a batch-average factor.
``official_hand_root_broadcast=False`` applies the gate per sample instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ehps.bodymodels.joint_sets import JOINT_137_PARTS, ORIG_53_NAMES, SMPLX_PARENTS
from ehps.data.types import Batch
from ehps.errors import InputError
from ehps.geometry.rotations import aa_to_rotmat
from ehps.losses.common import (
    coord_l1,
    masked_l1,
    reduced,
    shape_expr_terms,
    supervision_joints,
)
from ehps.modeling.prediction import Prediction

__all__ = ["SMPLestXLossWeights", "global_rotations", "smplestx_loss_terms", "smplestx_losses"]

_LWRIST = ORIG_53_NAMES.index("L_Wrist")
_RWRIST = ORIG_53_NAMES.index("R_Wrist")
_LTHUMB = ORIG_53_NAMES.index("L_Thumb_1")
_RTHUMB = ORIG_53_NAMES.index("R_Thumb_1")
_PARENTS_22 = tuple(int(p) for p in SMPLX_PARENTS[:22])


@dataclass(frozen=True)
class SMPLestXLossWeights:
    """Official weights (``configs/config_smplest_x_h.py``, ``train`` section).

    Attributes:
        smplx_orient, smplx_pose, smplx_shape, smplx_expr (hard-coded 1), joint_cam and
        smplx_joint_cam (``smplx_kps_3d_weight``), joint_proj (``smplx_kps_2d_weight``),
        hand_root (``hand_root_weight``, also used by the chain term), hand_kps_3d
        (``smplx_hand_kps_3d_weight``, for the optional hand terms).
        chain: add ``hand_root_chain`` (official default; ``no_chain_hand_loss`` turns it off).
        hand_loss: add ``hand_align`` / ``hand_pose`` (off in the release).
        official_hand_root_broadcast: reproduce the (B, B, 9) broadcast of the official masks.
    """

    smplx_orient: float = 1.0
    smplx_pose: float = 10.0
    smplx_shape: float = 1.0
    smplx_expr: float = 1.0
    joint_cam: float = 100.0
    smplx_joint_cam: float = 100.0
    joint_proj: float = 1.0
    hand_root: float = 1.0
    hand_kps_3d: float = 1.0
    chain: bool = True
    hand_loss: bool = False
    official_hand_root_broadcast: bool = True


def global_rotations(local: torch.Tensor, detach_root: bool = False) -> torch.Tensor:
    """Chain (B, 22, 3, 3) local body rotations through the SMPL-X body tree.

    Args:
        local: pelvis + 21 body joints, parent-relative rotation matrices.
        detach_root: detach the pelvis rotation (the official chain does this for predictions).

    Returns:
        (B, 22, 3, 3) global rotation of every joint.
    """
    chain = [local[:, 0].detach() if detach_root else local[:, 0]]
    for j in range(1, 22):
        chain.append(chain[_PARENTS_22[j]] @ local[:, j])
    return torch.stack(chain, dim=1)


def _gated(diff: torch.Tensor, gate: torch.Tensor, broadcast: bool) -> torch.Tensor:
    """(B, 9) masked differences times a per-sample gate (B,), official or per-sample."""
    if broadcast:
        return diff * gate[:, None, None]  # (B, B, 9), as the official code
    return diff * gate[:, None]


def smplestx_loss_terms(
    pred: Prediction,
    batch: Batch,
    joints_cam: torch.Tensor,
    weights: SMPLestXLossWeights = SMPLestXLossWeights(),
) -> dict[str, torch.Tensor]:
    """The weighted element-wise loss tensors (see module docstring), before reduction.

    Args:
        pred: SMPLest-X prediction for the batch.
        batch: collated targets on the prediction's device.
        joints_cam: (B, 144, 3) SMPL-X joints of the prediction with ``transl = cam_trans``.
        weights: loss weights (official defaults).
    """
    if pred.hand_root_rotmat is None:
        raise InputError("smplestx losses need a SMPLest-X prediction (hand_root_rotmat)")
    w = weights
    b = pred.batch_size
    f = joints_cam.dtype
    terms: dict[str, torch.Tensor] = {}

    rot = pred.pose_rotmat  # (B, 53, 3, 3)
    rot_t = aa_to_rotmat(batch.smplx_pose.to(f))  # (B, 53, 3, 3)
    valid9 = batch.smplx_pose_valid.to(f).repeat_interleave(9, dim=1)
    pose_l1 = masked_l1(rot.reshape(b, -1), rot_t.reshape(b, -1), valid9)
    terms["smplx_orient"] = pose_l1[:, :9] * w.smplx_orient
    terms["smplx_pose"] = pose_l1 * w.smplx_pose
    terms.update(shape_expr_terms(pred, batch, w.smplx_shape, w.smplx_expr))

    joint_proj, jc_wo, jc_ra = supervision_joints(joints_cam)
    trunc = batch.joint_trunc.to(f)[..., None]  # (B, 137, 1)
    pelvis_trunc = trunc[:, 0, 0]  # (B,)
    mask_wo = trunc * batch.is_3d[:, None, None] * pelvis_trunc[:, None, None]
    terms["joint_cam"] = coord_l1(jc_wo, batch.joint_cam, mask_wo) * w.joint_cam
    hands = list(JOINT_137_PARTS["lhand"]) + list(JOINT_137_PARTS["rhand"])
    if w.hand_loss:
        terms["hand_align"] = coord_l1(jc_wo[:, hands], batch.joint_cam[:, hands],
                                       mask_wo[:, hands]) * w.hand_kps_3d
    terms["smplx_joint_cam"] = coord_l1(jc_ra, batch.smplx_joint_cam, trunc) * w.smplx_joint_cam
    if w.hand_loss:
        terms["hand_pose"] = coord_l1(jc_ra[:, hands], batch.smplx_joint_cam[:, hands],
                                      trunc[:, hands]) * w.hand_kps_3d
    terms["joint_proj"] = coord_l1(joint_proj, batch.joint_img[..., :2], trunc) * w.joint_proj

    # hand-root orientation terms
    pred_root = pred.hand_root_rotmat.reshape(b, 2, 9)
    chain_pred = global_rotations(rot[:, :22], detach_root=True)
    chain_gt = global_rotations(rot_t[:, :22])
    pv = batch.smplx_pose_valid.to(f)
    full_gate, hand_gate = pelvis_trunc, 1.0 - pelvis_trunc
    mano = [aa_to_rotmat(batch.lhand_root.to(f)).reshape(b, 9),
            aa_to_rotmat(batch.rhand_root.to(f)).reshape(b, 9)]
    bc = w.official_hand_root_broadcast
    root_terms, chain_terms = [], []
    for side, (wrist, thumb) in enumerate(((_LWRIST, _LTHUMB), (_RWRIST, _RTHUMB))):
        gt_full = chain_gt[:, wrist].reshape(b, 9)
        v_full = pv[:, wrist : wrist + 1].expand(b, 9)
        v_hand = pv[:, thumb : thumb + 1].expand(b, 9)
        chained = chain_pred[:, wrist].reshape(b, 9)
        root_terms.append(_gated(masked_l1(gt_full, pred_root[:, side], v_full), full_gate, bc))
        root_terms.append(_gated(masked_l1(mano[side], pred_root[:, side], v_hand), hand_gate, bc))
        chain_terms.append(_gated(masked_l1(gt_full, chained, v_full), full_gate, bc))
        chain_terms.append(_gated(masked_l1(mano[side], chained, v_hand), hand_gate, bc))
    terms["hand_root"] = sum(root_terms[1:], root_terms[0]) * w.hand_root
    if w.chain:
        terms["hand_root_chain"] = sum(chain_terms[1:], chain_terms[0]) * w.hand_root
    return terms


smplestx_losses = reduced(
    smplestx_loss_terms, "smplestx_losses",
    """Named scalar terms (weighted means) plus ``"total"``, the quantity to minimise; arguments
    as :func:`smplestx_loss_terms`.""")
