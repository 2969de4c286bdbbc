"""Test helpers: landmarks made from a body model's own points (exact 2D and world landmarks),
so a fit can be checked against known parameters."""

from __future__ import annotations

import numpy as np
import torch

from ehps.detection.base import PersonLandmarks
from ehps.fitting.camera_init import ray_rotation
from ehps.fitting.landmarks import landmark_maps, model_keypoints
from ehps.fitting.synthetic_eval import sample_params
from ehps.geometry.camera import Intrinsics
from ehps.geometry.rotations import aa_to_rotmat, rotmat_to_aa

FLIP = torch.tensor([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])


def known_people(body_model, seeds, intrinsics: Intrinsics, spacing: float = 1.6,
                 depth: float = 4.0, face: bool = True):
    """People posed with :func:`sample_params` and their exact landmarks.

    Returns ``(landmarks, params, outputs)``: one :class:`PersonLandmarks` per seed (2D = the
    model's own points projected; world = its body points, hip-centred, as seen from the
    person's viewing ray, i.e. the convention the fitter undoes), the body-model keywords and
    the model outputs.
    """
    maps = landmark_maps(body_model)
    f = torch.tensor(intrinsics.focal)
    c = torch.tensor(intrinsics.princpt)
    people, params_list, outs = [], [], []
    for k, seed in enumerate(seeds):
        p = sample_params(np.random.default_rng(seed))
        rot = FLIP @ aa_to_rotmat(torch.tensor([0.0, float(p["yaw"]), 0.0]))
        params = {
            "global_orient": rotmat_to_aa(rot)[None].float(),
            "body_pose": torch.from_numpy(p["body_pose"])[None],
            "left_hand_pose": torch.from_numpy(p["left_hand_pose"])[None],
            "right_hand_pose": torch.from_numpy(p["right_hand_pose"])[None],
            "transl": torch.tensor([[(k - (len(seeds) - 1) / 2) * spacing, 0.2, depth]]),
        }
        if body_model.name == "anny":
            params["phenotype"] = torch.from_numpy(p["phenotype"])[None]
            params["facial_actions"] = torch.from_numpy(p["facial_actions"])[None]
        else:  # official SMPL-X convention: hand poses relative to the mean hand
            params["left_hand_pose"] = params["left_hand_pose"] - body_model.left_hand_mean.reshape(
                1, 15, 3)
            params["right_hand_pose"] = (params["right_hand_pose"]
                                         - body_model.right_hand_mean.reshape(1, 15, 3))
            g = torch.Generator().manual_seed(seed)
            params["betas"] = torch.randn(1, 10, generator=g) * 0.5
            params["expression"] = torch.randn(1, 10, generator=g) * 0.5
        with torch.no_grad():
            out = body_model(**params)
            kp = model_keypoints(body_model, out, maps)
        proj = {part: (v[0, :, :2] / v[0, :, 2:] * f + c).numpy() for part, v in kp.items()}
        body = kp["body"][0].numpy()
        world = body - 0.5 * (body[23] + body[24])
        hip_px = torch.from_numpy(0.5 * (proj["body"][23] + proj["body"][24]))[None]
        world = world @ ray_rotation(hip_px, f, c)[0].numpy()  # the crop's view of it
        lo, hi = proj["body"].min(0), proj["body"].max(0)
        face_pts = proj.get("face") if face and body_model.name == "anny" else None
        people.append(
            PersonLandmarks(
                bbox_xywh=np.r_[lo, hi - lo],
                score=1.0,
                body_2d=proj["body"],
                body_conf=np.ones(33),
                body_world=world,
                left_hand_2d=proj["left_hand"],
                left_hand_conf=np.ones(21),
                right_hand_2d=proj["right_hand"],
                right_hand_conf=np.ones(21),
                face_2d=face_pts,
                face_conf=None if face_pts is None else np.ones(478),
            )
        )
        params_list.append(params)
        outs.append(out)
    return people, params_list, outs


def pa_mpjpe_mm(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean joint error after a similarity Procrustes alignment, millimetres (roma reference)."""
    import roma

    p = torch.as_tensor(pred, dtype=torch.float64)
    g = torch.as_tensor(gt, dtype=torch.float64)
    rot, trans, scale = roma.rigid_points_registration(p, g, compute_scaling=True)
    aligned = scale * p @ rot.T + trans
    return float((aligned - g).norm(dim=-1).mean() * 1000.0)
