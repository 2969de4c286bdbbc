"""The Prediction container: rotmats agree with the axis-angle fields (checked with roma's
Rodrigues, an independent conversion), the mirrored left hand is consistent, helpers work."""

from __future__ import annotations

import roma
import torch

from ehps.geometry.rotations import rot6d_to_rotmat
from ehps.modeling import ROTATION_GROUPS, build_model
from modeling_tiny import TINY


def _predict(variant: str):
    torch.manual_seed(0)
    model = build_model(variant, **TINY).eval()
    with torch.no_grad():
        return model(torch.rand(2, 3, 512, 384))


def test_rotmats_match_axis_angle_and_6d() -> None:
    for variant in ("smplerx_s32", "smplestx_s"):
        pred = _predict(variant)
        aa, rotmat = pred.pose_aa, pred.pose_rotmat
        assert aa.shape == (2, 53, 3) and rotmat.shape == (2, 53, 3, 3)
        torch.testing.assert_close(roma.rotvec_to_rotmat(aa), rotmat, atol=1e-5, rtol=1e-5)
        ortho = rotmat @ rotmat.transpose(-1, -2)
        torch.testing.assert_close(ortho, torch.eye(3).expand_as(ortho), atol=1e-5, rtol=0)
        raw = rot6d_to_rotmat(pred.pose_6d)
        if variant == "smplerx_s32":
            # left hand: the raw 6D is the mirrored hand; un-mirroring = conjugation by diag(-1,1,1)
            s = torch.diag(torch.tensor([-1.0, 1.0, 1.0]))
            torch.testing.assert_close(s @ raw[:, 22:37] @ s, rotmat[:, 22:37], atol=1e-6, rtol=0)
            keep = [i for i in range(53) if not 22 <= i < 37]
            torch.testing.assert_close(raw[:, keep], rotmat[:, keep], atol=1e-6, rtol=0)
        else:
            torch.testing.assert_close(raw, rotmat, atol=1e-6, rtol=0)
            torch.testing.assert_close(
                roma.rotvec_to_rotmat(pred.hand_root_pose),
                pred.hand_root_rotmat,
                atol=1e-5,
                rtol=1e-5,
            )


def test_to_dict_smplx_params_and_joint_img() -> None:
    pred = _predict("smplerx_s32")
    d = pred.to_dict()
    assert {"pose_aa", "pose_rotmat", "joint_img", "lhand_bbox", "hand_joint_img"} <= d.keys()
    assert "hand_root_rotmat" not in d
    torch.testing.assert_close(d["joint_img"][:, :25], pred.body_joint_img)
    torch.testing.assert_close(d["joint_img"][:, 25:], pred.hand_joint_img_box)
    params = pred.smplx_params()
    assert params["body_pose"].shape == (2, 63) and params["left_hand_pose"].shape == (2, 45)
    assert torch.equal(params["transl"], pred.cam_trans)
    assert torch.equal(params["leye_pose"], torch.zeros(2, 3))
    assert sum(n for _, n in ROTATION_GROUPS) == 53
    assert pred.detach().to("cpu").betas.shape == (2, 10)


def test_smplerx_boxes_are_square_in_crop_pixels() -> None:
    pred = _predict("smplerx_s32")
    for box in (pred.lhand_bbox, pred.rhand_bbox, pred.face_bbox):
        w, h = box[:, 2] - box[:, 0], box[:, 3] - box[:, 1]
        # square in body-input pixels: crop pixels scale x and y by the same factor 2
        torch.testing.assert_close(w, h)
    # box centre = raw centre (heatmap units) x 16 (body input) x 2 (crop)
    centre = (pred.face_bbox[:, :2] + pred.face_bbox[:, 2:]) / 2
    torch.testing.assert_close(centre, pred.face_bbox_center * 32)
    side = pred.face_bbox[:, 2] - pred.face_bbox[:, 0]
    expected = pred.face_bbox_size.max(dim=1).values * 16 * 1.5 * 2
    torch.testing.assert_close(side, expected)


def test_cam_trans_from_cam_param() -> None:
    pred = _predict("smplestx_s")
    tz = 5000 * 2.5 / (256 * 192) ** 0.5 * torch.sigmoid(pred.cam_param[:, 2])
    torch.testing.assert_close(pred.cam_trans[:, 2], tz)
    torch.testing.assert_close(pred.cam_trans[:, :2], pred.cam_param[:, :2])
