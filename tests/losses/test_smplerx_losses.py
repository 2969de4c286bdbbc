"""SMPLer-X losses against a transcription of the official ``Model.forward(mode='train')`` loss
code (per-sample loops, dict targets), on random float64 tensors with masks."""

from __future__ import annotations

import pytest
import torch
from losstest_builders import make_batch, make_joints, make_prediction

from ehps.bodymodels.joint_sets import JOINT_137_IDX
from ehps.errors import InputError
from ehps.losses import SMPLerXLossWeights, smplerx_loss_terms, smplerx_losses

LHAND, RHAND, FACE = range(25, 45), range(45, 65), range(65, 137)


def _loop_align(joint_proj, coord, part, meta, targets):
    """Official per-sample loop: shift ``coord`` (the part's projected joints) by the mean
    target offset of its valid joints, and put it back into ``joint_proj``."""
    trans = []
    for bid in range(coord.shape[0]):
        mask = meta["joint_trunc"][bid, part, 0] == 1
        if torch.sum(mask) == 0:
            trans.append(torch.zeros(2, dtype=coord.dtype))
        else:
            trans.append((-coord[bid, mask, :2]
                          + targets["joint_img"][:, part, :][bid, mask, :2]).mean(0))
    coord = coord + torch.stack(trans)[:, None, :]
    return torch.cat((joint_proj[:, : part[0]], coord, joint_proj[:, part[-1] + 1 :]), 1)


def _official(pred, batch, joints144, supervise_root=True):
    """The official loss code with cfg values inlined (focal 5000, princpt (96, 128), body input
    192x256, heatmap 12x16x16, hand heatmap 16x16x16)."""
    targets = {k: getattr(batch, k).clone() for k in (
        "joint_img", "smplx_joint_img", "joint_cam", "smplx_joint_cam", "smplx_pose",
        "smplx_shape", "smplx_expr", "lhand_bbox_center", "lhand_bbox_size", "rhand_bbox_center",
        "rhand_bbox_size", "face_bbox_center", "face_bbox_size")}
    targets["smplx_pose"] = targets["smplx_pose"].reshape(-1, 159)
    meta = {k: getattr(batch, k).clone() for k in (
        "joint_valid", "joint_trunc", "smplx_joint_valid", "smplx_joint_trunc", "smplx_pose_valid",
        "smplx_shape_valid", "smplx_expr_valid", "is_3D", "lhand_bbox_valid", "rhand_bbox_valid",
        "face_bbox_valid") if k != "is_3D"}
    meta["is_3D"] = batch.is_3d
    for k in ("joint_valid", "joint_trunc", "smplx_joint_valid", "smplx_joint_trunc"):
        meta[k] = meta[k][..., None]
    meta["smplx_pose_valid"] = meta["smplx_pose_valid"].repeat_interleave(3, 1)

    def coord_loss(out, gt, valid, is_3d=None):
        loss = torch.abs(out - gt) * valid
        if is_3d is not None:
            loss = torch.cat((loss[:, :, :2], loss[:, :, 2:] * is_3d[:, None, None].float()), 2)
        return loss

    def param_loss(out, gt, valid):
        return torch.abs(out - gt) * valid

    idx = list(JOINT_137_IDX)
    joint_cam = joints144[:, idx, :]
    x = joint_cam[:, :, 0] / (joint_cam[:, :, 2] + 1e-4) * 5000 + 96
    y = joint_cam[:, :, 1] / (joint_cam[:, :, 2] + 1e-4) * 5000 + 128
    joint_proj = torch.stack((x / 192 * 12, y / 256 * 16), 2)
    joint_cam = joint_cam - joint_cam[:, 0, None, :]
    joint_cam_wo_ra = joint_cam.clone()
    for part, wrist in ((LHAND, 12), (RHAND, 13), (FACE, 7)):
        sub = joint_cam[:, part, :] - joint_cam[:, wrist, None, :]
        joint_cam = torch.cat((joint_cam[:, : part[0]], sub, joint_cam[:, part[-1] + 1 :]), 1)
    pose = pred.pose_aa.reshape(-1, 159)
    loss = {}
    pl = param_loss(pose, targets["smplx_pose"], meta["smplx_pose_valid"])
    loss["smplx_pose"] = (pl if supervise_root else pl[:, 3:]) * 10.0
    loss["smplx_shape"] = param_loss(pred.betas, targets["smplx_shape"],
                                     meta["smplx_shape_valid"][:, None]) * 1.0
    loss["smplx_expr"] = param_loss(pred.expression, targets["smplx_expr"],
                                    meta["smplx_expr_valid"][:, None])
    loss["joint_cam"] = coord_loss(joint_cam_wo_ra, targets["joint_cam"],
                                   meta["joint_valid"] * meta["is_3D"][:, None, None]) * 100.0
    loss["smplx_joint_cam"] = coord_loss(joint_cam, targets["smplx_joint_cam"],
                                         meta["smplx_joint_valid"]) * 100.0
    for part in ("lhand", "rhand", "face"):
        if not (meta[f"{part}_bbox_valid"] == 0).all():
            loss[f"{part}_bbox"] = (
                coord_loss(getattr(pred, f"{part}_bbox_center"), targets[f"{part}_bbox_center"],
                           meta[f"{part}_bbox_valid"][:, None])
                + coord_loss(getattr(pred, f"{part}_bbox_size"), targets[f"{part}_bbox_size"],
                             meta[f"{part}_bbox_valid"][:, None]))
    # boxes in 192x256 body-input pixels, as the official restore_bbox output
    lhand_bbox, rhand_bbox = pred.lhand_bbox / 2, pred.rhand_bbox / 2
    if not (meta["lhand_bbox_valid"] + meta["rhand_bbox_valid"] == 0).all():
        for part_name, bbox in ((LHAND, lhand_bbox), (RHAND, rhand_bbox)):
            for coord_name, trunc_name in (("joint_img", "joint_trunc"),
                                           ("smplx_joint_img", "smplx_joint_trunc")):
                x = targets[coord_name][:, part_name, 0]
                y = targets[coord_name][:, part_name, 1]
                z = targets[coord_name][:, part_name, 2]
                trunc = meta[trunc_name][:, part_name, 0]
                x -= bbox[:, None, 0] / 192 * 12
                x *= 16 / ((bbox[:, None, 2] - bbox[:, None, 0]) / 192 * 12)
                y -= bbox[:, None, 1] / 256 * 16
                y *= 16 / ((bbox[:, None, 3] - bbox[:, None, 1]) / 256 * 16)
                z *= 16 / 16
                trunc *= (x >= 0) * (x < 16) * (y >= 0) * (y < 16)
                coord = torch.stack((x, y, z), 2)
                targets[coord_name] = torch.cat((targets[coord_name][:, : part_name[0]], coord,
                                                 targets[coord_name][:, part_name[-1] + 1 :]), 1)
                meta[trunc_name] = torch.cat((meta[trunc_name][:, : part_name[0]],
                                              trunc[:, :, None],
                                              meta[trunc_name][:, part_name[-1] + 1 :]), 1)
        for part_name, bbox in ((LHAND, lhand_bbox), (RHAND, rhand_bbox)):
            x = joint_proj[:, part_name, 0]
            y = joint_proj[:, part_name, 1]
            x -= bbox[:, None, 0] / 192 * 12
            x *= 16 / ((bbox[:, None, 2] - bbox[:, None, 0]) / 192 * 12)
            y -= bbox[:, None, 1] / 256 * 16
            y *= 16 / ((bbox[:, None, 3] - bbox[:, None, 1]) / 256 * 16)
            joint_proj = _loop_align(joint_proj, torch.stack((x, y), 2), part_name, meta,
                                     targets)
    if not (meta["face_bbox_valid"] == 0).all():
        joint_proj = _loop_align(joint_proj, joint_proj[:, FACE, :], FACE, meta, targets)
    joint_img = torch.cat((pred.body_joint_img, pred.hand_joint_img_box), 1)
    loss["joint_proj"] = coord_loss(joint_proj, targets["joint_img"][:, :, :2],
                                    meta["joint_trunc"])
    loss["joint_img"] = coord_loss(joint_img, targets["joint_img"][:, :65],
                                   meta["joint_trunc"][:, :65], meta["is_3D"])
    loss["smplx_joint_img"] = coord_loss(joint_img, targets["smplx_joint_img"][:, :65],
                                         meta["smplx_joint_trunc"][:, :65])
    return {k: v.mean() for k, v in loss.items()}


@pytest.mark.parametrize("supervise_root", [True, False])
def test_matches_official_transcription(gen: torch.Generator, supervise_root: bool) -> None:
    pred, batch, joints = make_prediction(gen), make_batch(gen), make_joints(gen)
    weights = SMPLerXLossWeights(supervise_root=supervise_root)
    ours = smplerx_losses(pred, batch, joints, weights)
    ref = _official(pred, batch, joints, supervise_root)
    assert set(ours) == set(ref) | {"total"}
    for k, v in ref.items():
        torch.testing.assert_close(ours[k], v, rtol=1e-9, atol=1e-9, msg=k)
    torch.testing.assert_close(ours["total"], sum(ref.values()), rtol=1e-9, atol=1e-9)
    # the hand re-mapping path was exercised: some hand targets survived the box truncation
    assert batch.lhand_bbox_valid.sum() > 0 and batch.face_bbox_valid.sum() > 0


def test_masks_and_box_terms(gen: torch.Generator) -> None:
    pred, batch, joints = make_prediction(gen), make_batch(gen), make_joints(gen)
    batch.lhand_bbox_valid.zero_()
    batch.rhand_bbox_valid.zero_()
    batch.face_bbox_valid.zero_()
    ours = smplerx_losses(pred, batch, joints)
    assert not {"lhand_bbox", "rhand_bbox", "face_bbox"} & set(ours)
    ref = _official(pred, batch, joints)
    for k, v in ref.items():
        torch.testing.assert_close(ours[k], v, rtol=1e-9, atol=1e-9, msg=k)
    # masked-out entries do not matter: change targets where every mask is zero
    batch.smplx_pose_valid.zero_()
    batch.smplx_pose.normal_()
    terms = smplerx_loss_terms(pred, batch, joints)
    assert float(terms["smplx_pose"].abs().sum()) == 0.0


def test_gradients_flow_to_joints_and_parameters(gen: torch.Generator) -> None:
    pred, batch = make_prediction(gen), make_batch(gen)
    joints = make_joints(gen).requires_grad_()
    pred.body_joint_img.requires_grad_()
    out = smplerx_losses(pred, batch, joints)
    out["total"].backward()
    assert torch.isfinite(joints.grad).all() and joints.grad.abs().sum() > 0
    assert pred.body_joint_img.grad.abs().sum() > 0


def test_rejects_a_smplestx_prediction(gen: torch.Generator) -> None:
    with pytest.raises(InputError, match="SMPLer-X prediction"):
        smplerx_losses(make_prediction(gen, smplerx=False), make_batch(gen), make_joints(gen))
    with pytest.raises(InputError, match=r"\(B, 144, 3\)"):
        smplerx_losses(make_prediction(gen), make_batch(gen), make_joints(gen)[:, :127])
