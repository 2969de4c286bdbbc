"""Random predictions and batches for the loss tests (imported by name: pytest puts this
folder on ``sys.path``)."""

from __future__ import annotations

import torch
from scipy.spatial.transform import Rotation

from ehps.data.types import Batch
from ehps.modeling.prediction import Prediction

B = 4


def rotmat(aa: torch.Tensor) -> torch.Tensor:
    """Rodrigues through scipy (independent of the roma-based helpers)."""
    flat = aa.detach().reshape(-1, 3).double().numpy()
    mats = Rotation.from_rotvec(flat).as_matrix()
    return torch.from_numpy(mats).to(aa.dtype).reshape(*aa.shape[:-1], 3, 3)


def make_prediction(g: torch.Generator, smplerx: bool = True) -> Prediction:
    def r(*shape: int, scale: float = 1.0) -> torch.Tensor:
        return (torch.rand(*shape, generator=g, dtype=torch.float64) - 0.5) * 2 * scale

    go, bp = r(B, 3, scale=0.8), r(B, 21, 3, scale=0.5)
    lh, rh, jaw = r(B, 15, 3, scale=0.5), r(B, 15, 3, scale=0.5), r(B, 3, scale=0.2)
    kw: dict = dict(
        global_orient=go, body_pose=bp, left_hand_pose=lh, right_hand_pose=rh, jaw_pose=jaw,
        betas=r(B, 10), expression=r(B, 10), cam_trans=r(B, 3), cam_param=r(B, 3),
        global_orient_rotmat=rotmat(go), body_pose_rotmat=rotmat(bp),
        left_hand_pose_rotmat=rotmat(lh), right_hand_pose_rotmat=rotmat(rh),
        jaw_pose_rotmat=rotmat(jaw), pose_6d=r(B, 53, 6),
    )
    if smplerx:
        boxes = {}
        for part in ("lhand", "rhand", "face"):
            lo = torch.rand(B, 2, generator=g, dtype=torch.float64) * torch.tensor([250.0, 350.0])
            size = 40 + torch.rand(B, 1, generator=g, dtype=torch.float64) * 80
            boxes[part] = torch.cat([lo, lo + size], dim=1)
        kw.update(
            body_joint_img=torch.rand(B, 25, 3, generator=g, dtype=torch.float64) * 14,
            hand_joint_img_box=torch.rand(B, 40, 3, generator=g, dtype=torch.float64) * 16,
            hand_joint_img=torch.rand(B, 40, 3, generator=g, dtype=torch.float64) * 12,
            lhand_bbox=boxes["lhand"], rhand_bbox=boxes["rhand"], face_bbox=boxes["face"],
            lhand_bbox_center=r(B, 2, scale=6) + 6, rhand_bbox_center=r(B, 2, scale=6) + 6,
            face_bbox_center=r(B, 2, scale=6) + 6, lhand_bbox_size=r(B, 2) + 2,
            rhand_bbox_size=r(B, 2) + 2, face_bbox_size=r(B, 2) + 2,
        )
    else:
        hr = r(B, 2, 3, scale=1.0)
        kw.update(hand_root_pose=hr, hand_root_rotmat=rotmat(hr))
    return Prediction(**kw)


def make_batch(g: torch.Generator) -> Batch:
    def r(*shape: int, scale: float = 1.0) -> torch.Tensor:
        return torch.rand(*shape, generator=g, dtype=torch.float64) * scale

    def mask(*shape: int, p: float = 0.7) -> torch.Tensor:
        return (torch.rand(*shape, generator=g) < p).double()

    trunc = mask(B, 137)
    trunc[0, 0] = 1.0  # sample 0: pelvis inside (full-body); sample 1: pelvis truncated (hand-only)
    trunc[1, 0] = 0.0
    return Batch(
        image=torch.zeros(B, 3, 8, 6), joint_img=r(B, 137, 3, scale=14),
        smplx_joint_img=r(B, 137, 3, scale=14), joint_cam=r(B, 137, 3) - 0.5,
        smplx_joint_cam=r(B, 137, 3) - 0.5, smplx_pose=(r(B, 53, 3) - 0.5) * 2,
        smplx_shape=r(B, 10), smplx_expr=r(B, 10), smplx_cam_trans=r(B, 3),
        lhand_bbox_center=r(B, 2, scale=12), rhand_bbox_center=r(B, 2, scale=12),
        face_bbox_center=r(B, 2, scale=12), lhand_bbox_size=r(B, 2, scale=3),
        rhand_bbox_size=r(B, 2, scale=3), face_bbox_size=r(B, 2, scale=3),
        lhand_root=r(B, 3) - 0.5, rhand_root=r(B, 3) - 0.5,
        joint_valid=mask(B, 137), joint_trunc=trunc, smplx_joint_valid=mask(B, 137),
        smplx_joint_trunc=mask(B, 137), smplx_pose_valid=mask(B, 53, p=0.8),
        smplx_shape_valid=torch.tensor([1.0, 0.0, 1.0, 1.0], dtype=torch.float64),
        smplx_expr_valid=torch.tensor([1.0, 1.0, 0.0, 1.0], dtype=torch.float64),
        is_3d=torch.tensor([1.0, 0.0, 1.0, 0.0], dtype=torch.float64),
        lhand_bbox_valid=torch.tensor([1.0, 0.0, 0.0, 1.0], dtype=torch.float64),
        rhand_bbox_valid=torch.tensor([0.0, 0.0, 1.0, 0.0], dtype=torch.float64),
        face_bbox_valid=torch.tensor([0.0, 1.0, 0.0, 0.0], dtype=torch.float64),
        img2crop=torch.zeros(B, 2, 3), crop_bbox_xywh=torch.zeros(B, 4), aug=torch.zeros(B, 6),
        dataset_index=torch.zeros(B, dtype=torch.long),
        sample_seed=torch.zeros(B, dtype=torch.long),
    )


def make_joints(g: torch.Generator) -> torch.Tensor:
    j = (torch.rand(B, 144, 3, generator=g, dtype=torch.float64) - 0.5) * 0.8
    j[..., 2] += 8.0
    return j
