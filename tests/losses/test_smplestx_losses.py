"""SMPLest-X losses against a transcription of the official ``Model.forward(mode='train')`` loss
code (rotation matrices from scipy's Rodrigues, the per-item kinematic chain loop, the literal
(B, B, 9) broadcast of the hand-root masks)."""

from __future__ import annotations

import pytest
import torch
from losstest_builders import B, make_batch, make_joints, make_prediction, rotmat

from ehps.bodymodels.joint_sets import JOINT_137_IDX
from ehps.errors import InputError
from ehps.losses import SMPLestXLossWeights, smplestx_loss_terms, smplestx_losses
from ehps.losses.smplestx import global_rotations

PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19]


def _chain(rot_mat: torch.Tensor, hand_idx: int) -> torch.Tensor:
    out = []
    for item in rot_mat:  # official batch_hand_global_rotation
        chain = [item[0].detach()]
        for i in range(1, 22):
            chain.append(chain[PARENTS[i]] @ item[i])
        out.append(torch.stack(chain)[hand_idx].unsqueeze(0))
    return torch.cat(out)


def _official(pred, batch, joints144, chain=True, hand_loss=False):
    def coord_loss(out, gt, valid):
        return torch.abs(out - gt) * valid

    def param_loss(out, gt, valid):
        return torch.abs(out - gt) * valid

    b = pred.batch_size
    meta_trunc = batch.joint_trunc[..., None]
    pose_valid = batch.smplx_pose_valid.repeat_interleave(9, 1)
    pose = rotmat(pred.pose_aa).reshape(b, -1)
    target_rot = rotmat(batch.smplx_pose).reshape(b, -1)
    loss = {}
    loss["smplx_orient"] = param_loss(pose, target_rot, pose_valid)[:, :9] * 1.0
    loss["smplx_pose"] = param_loss(pose, target_rot, pose_valid) * 10.0
    loss["smplx_shape"] = param_loss(pred.betas, batch.smplx_shape,
                                     batch.smplx_shape_valid[:, None])
    loss["smplx_expr"] = param_loss(pred.expression, batch.smplx_expr,
                                    batch.smplx_expr_valid[:, None])
    jc = joints144[:, list(JOINT_137_IDX)]
    x = jc[:, :, 0] / (jc[:, :, 2] + 1e-4) * 5000 + 96
    y = jc[:, :, 1] / (jc[:, :, 2] + 1e-4) * 5000 + 128
    joint_proj = torch.stack((x / 192 * 12, y / 256 * 16), 2)
    jc = jc - jc[:, 0, None]
    wo_ra = jc.clone()
    for part, anchor in ((range(25, 45), 12), (range(45, 65), 13), (range(65, 137), 7)):
        jc = torch.cat((jc[:, : part[0]], jc[:, part] - jc[:, anchor, None],
                        jc[:, part[-1] + 1 :]), 1)
    hands = list(range(25, 65))
    mask_wo = meta_trunc * batch.is_3d[:, None, None] * meta_trunc[:, 0, :][:, None]
    loss["joint_cam"] = coord_loss(wo_ra, batch.joint_cam, mask_wo) * 100
    if hand_loss:
        loss["hand_align"] = coord_loss(
            wo_ra[:, hands], batch.joint_cam[:, hands],
            meta_trunc[:, hands] * batch.is_3d[:, None, None] * meta_trunc[:, 0, :][:, None])
    loss["smplx_joint_cam"] = coord_loss(jc, batch.smplx_joint_cam, meta_trunc) * 100
    if hand_loss:
        loss["hand_pose"] = coord_loss(jc[:, hands], batch.smplx_joint_cam[:, hands],
                                       meta_trunc[:, hands])
    loss["joint_proj"] = coord_loss(joint_proj, batch.joint_img[:, :, :2], meta_trunc)
    full_body = pose[:, : 22 * 9].reshape(b, 22, 3, 3)
    lchain, rchain = _chain(full_body, 20).view(-1, 9), _chain(full_body, 21).view(-1, 9)
    gt22 = target_rot.view(b, -1, 3, 3)[:, :22]
    lgt, rgt = _chain(gt22, 20).view(-1, 9), _chain(gt22, 21).view(-1, 9)
    pv = pose_valid.view(b, -1, 9)
    lval, rval = pv[:, 20], pv[:, 21]
    lroot = pred.hand_root_rotmat[:, 0].reshape(b, 9)
    rroot = pred.hand_root_rotmat[:, 1].reshape(b, 9)
    pelvis = meta_trunc[:, 0, :][:, None]  # (B, 1, 1): broadcasts to (B, B, 9), as official
    loss["hand_root"] = (param_loss(lgt, lroot, lval) * pelvis
                         + param_loss(rgt, rroot, rval) * pelvis)
    if chain:
        loss["hand_root_chain"] = (param_loss(lgt, lchain, lval) * pelvis
                                   + param_loss(rgt, rchain, rval) * pelvis)
    lval, rval = pv[:, 34], pv[:, 49]  # L_Thumb_1 / R_Thumb_1
    lm = rotmat(batch.lhand_root).reshape(b, 9)
    rm = rotmat(batch.rhand_root).reshape(b, 9)
    loss["hand_root"] = loss["hand_root"] + (param_loss(lm, lroot, lval) * (1 - pelvis)
                                             + param_loss(rm, rroot, rval) * (1 - pelvis))
    if chain:
        loss["hand_root_chain"] = loss["hand_root_chain"] + (
            param_loss(lm, lchain, lval) * (1 - pelvis)
            + param_loss(rm, rchain, rval) * (1 - pelvis))
    assert loss["hand_root"].shape == (b, b, 9)
    return {k: v.mean() for k, v in loss.items()}


@pytest.mark.parametrize(("chain", "hand_loss"), [(True, False), (False, True)])
def test_matches_official_transcription(gen: torch.Generator, chain: bool, hand_loss: bool) -> None:
    pred, batch, joints = make_prediction(gen, smplerx=False), make_batch(gen), make_joints(gen)
    ours = smplestx_losses(pred, batch, joints, SMPLestXLossWeights(chain=chain,
                                                                    hand_loss=hand_loss))
    ref = _official(pred, batch, joints, chain, hand_loss)
    assert set(ours) == set(ref) | {"total"}
    for k, v in ref.items():
        torch.testing.assert_close(ours[k], v, rtol=1e-9, atol=1e-9, msg=k)
    torch.testing.assert_close(ours["total"], sum(ref.values()), rtol=1e-9, atol=1e-9)


def test_per_sample_hand_root_gate(gen: torch.Generator) -> None:
    pred, batch, joints = make_prediction(gen, smplerx=False), make_batch(gen), make_joints(gen)
    terms = smplestx_loss_terms(pred, batch, joints,
                                SMPLestXLossWeights(official_hand_root_broadcast=False))
    assert terms["hand_root"].shape == (B, 9)
    gate = batch.joint_trunc[:, 0]
    chain_gt = global_rotations(rotmat(batch.smplx_pose)[:, :22])
    diff_l = (chain_gt[:, 20].reshape(B, 9) - pred.hand_root_rotmat[:, 0].reshape(B, 9)).abs()
    diff_l = diff_l * batch.smplx_pose_valid[:, 20:21]
    # sample 0 has its pelvis inside the crop: only the full-body target gates in
    ref0 = (diff_l[0] + (chain_gt[0, 21].reshape(9) - pred.hand_root_rotmat[0, 1].reshape(9)).abs()
            * batch.smplx_pose_valid[0, 21]) * gate[0]
    torch.testing.assert_close(terms["hand_root"][0], ref0)
    official = smplestx_loss_terms(pred, batch, joints)["hand_root"]
    torch.testing.assert_close(official.mean(), official.mean(0).mean(0).mean())


def test_chain_matches_forward_kinematics(gen: torch.Generator) -> None:
    """The chained wrist rotation equals a product along the parent path, and the predicted root
    gets no gradient through the chain term."""
    pred = make_prediction(gen, smplerx=False)
    local = rotmat(pred.pose_aa)[:, :22].clone().requires_grad_()
    glob = global_rotations(local, detach_root=True)
    path = [20, 18, 16, 13, 9, 6, 3, 0]
    ref = torch.eye(3, dtype=local.dtype).expand(B, 3, 3)
    for j in reversed(path):
        ref = ref @ local[:, j]
    torch.testing.assert_close(glob[:, 20], ref)
    glob[:, 20].sum().backward()
    assert float(local.grad[:, 0].abs().sum()) == 0.0 and float(local.grad[:, 18].abs().sum()) > 0


def test_rejects_a_smplerx_prediction(gen: torch.Generator) -> None:
    with pytest.raises(InputError, match="SMPLest-X prediction"):
        smplestx_losses(make_prediction(gen), make_batch(gen), make_joints(gen))
