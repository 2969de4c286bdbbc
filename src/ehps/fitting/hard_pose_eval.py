"""A synthetic hard-pose set with known 3D joints, and the errors a fit makes on it.

Each sample renders one Anny person in a pose of :mod:`ehps.fitting.hard_poses` (lunge, kick,
crouch, arms overhead, lying, side view, self-occlusion, truncated by the image border), dressed in
the clothes-like colours of :func:`ehps.fitting.synthetic_eval.clothing_colors`, over a varied
background (:func:`~ehps.fitting.synthetic_eval.make_background`). The camera is the image camera
(focal = image diagonal) and the truth is the 55 SMPL-X skeleton joints in its frame (OpenCV axes,
metres).

Errors of a fitted person against the truth (:func:`pose_errors`), over the 22 SMPL-X body joints
(pelvis .. wrists):

- ``pa_mpjpe_mm``: after a similarity Procrustes alignment (pose only);
- ``mpjpe_mm``: after moving the pelvis onto the true pelvis (root-aligned: pose *and* global
  orientation, no translation);
- ``tilt_deg``: the angle between the fitted and true torso axes (pelvis -> neck) in the camera
  frame: a body leaning the wrong way in depth shows here even when the overlay looks right.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ehps.fitting.hard_poses import HARD_POSE_KINDS, POSE_KINDS, placement_rotation, sample_pose
from ehps.geometry.camera import Intrinsics

__all__ = [
    "HardPoseSample",
    "make_hard_sample",
    "hard_pose_samples",
    "pose_errors",
    "match_person",
    "exact_landmarks",
    "landmark_error",
    "summarise",
]

BODY_JOINTS = list(range(22))
_PELVIS, _NECK = 0, 12


@dataclass
class HardPoseSample:
    """One rendered person and its truth.

    Attributes:
        image: (H, W, 3) uint8 RGB.
        intrinsics: the render camera.
        params: the Anny keywords (batch-1 tensors) that produced ``joints_cam``.
        joints_cam: (55, 3) float32 SMPL-X skeleton joints, camera frame, metres.
        kind: the pose kind.
        index: position in its set.
        visible_fraction: fraction of the 55 joints that project inside the image.
    """

    image: np.ndarray
    intrinsics: Intrinsics
    params: dict[str, torch.Tensor]
    joints_cam: np.ndarray
    kind: str
    index: int = 0
    visible_fraction: float = 1.0


def _place(verts: torch.Tensor, k: Intrinsics, hw: tuple[int, int], rng: np.random.Generator,
           placement: dict[str, float]) -> torch.Tensor:
    """Translation (3,) that puts the posed mesh (model origin, camera axes) in view."""
    h, w = hw
    lo, hi = verts.amin(0), verts.amax(0)
    centre = 0.5 * (lo + hi)
    if placement.get("truncated", 0.0):
        # close to the camera: the image shows the head and the upper body, the legs leave it
        height_m = float(hi[1] - lo[1])
        span_px = h * rng.uniform(1.35, 1.9)
        depth = k.focal[1] * height_m / span_px
        top_px = h * rng.uniform(0.02, 0.12)
        u = w / 2 + rng.uniform(-0.2, 0.2) * w
        # the top of the mesh (smallest camera y) projects to top_px
        y_top = (top_px - k.princpt[1]) / k.focal[1] * depth
        x = (u - k.princpt[0]) / k.focal[0] * depth
        return torch.tensor([x - float(centre[0]), y_top - float(lo[1]), depth - float(centre[2])])
    depth = float(rng.uniform(3.0, 5.0) if placement.get("lying", 0.0) else rng.uniform(2.5, 5.0))
    px = np.array([w / 2 + rng.uniform(-0.12, 0.12) * w, h / 2 + rng.uniform(-0.06, 0.06) * h])
    ray = (px - np.array(k.princpt)) / np.array(k.focal) * depth
    return torch.tensor([ray[0], ray[1], depth], dtype=torch.float32) - centre


def make_hard_sample(body_model: Any, rng: np.random.Generator, kind: str, index: int = 0
                     ) -> HardPoseSample:
    """Render one person in a random pose of ``kind`` (see the module docstring).

    Lying people are rendered in a 512x768 (landscape) image, everyone else in 768x512.
    """
    from ehps.fitting.synthetic_eval import clothing_colors, make_background
    from ehps.geometry.rotations import rotmat_to_aa
    from ehps.render import render_mesh_image

    pose, placement = sample_pose(rng, kind)
    hw = (512, 768) if placement.get("lying", 0.0) else (768, 512)
    k = Intrinsics.from_image_size(hw[1], hw[0])
    rot = torch.from_numpy(placement_rotation(rng, placement))
    pheno = np.clip(rng.normal(0.5, 0.15, 6), 0.1, 0.9)
    pheno[1] = rng.uniform(0.62, 0.9)  # adults
    face = np.zeros(52, np.float32)
    face[rng.choice(52, size=3, replace=False)] = rng.uniform(0.0, 0.5, 3)
    params = {
        "global_orient": rotmat_to_aa(rot)[None].float(),
        "body_pose": torch.from_numpy(pose)[None],
        "left_hand_pose": torch.zeros(1, 15, 3),
        "right_hand_pose": torch.zeros(1, 15, 3),
        "phenotype": torch.from_numpy(pheno.astype(np.float32))[None],
        "facial_actions": torch.from_numpy(face)[None],
    }
    with torch.no_grad():
        out = body_model(**params)
        params["transl"] = _place(out.vertices[0], k, hw, rng, placement)[None].float()
        out = body_model(**params)
        rest = body_model(phenotype=params["phenotype"])
    colors = clothing_colors(body_model, rng, rest)
    background, _ = make_background(rng, hw)
    rgb, _, _ = render_mesh_image(out.vertices[0].numpy(), body_model.faces.numpy(), k, hw,
                                  background=background, color=colors, ssaa=1)
    joints = out.joints[0, :55].numpy().astype(np.float32)
    uv = joints[:, :2] / joints[:, 2:3] * np.array(k.focal) + np.array(k.princpt)
    inside = float(((uv >= 0) & (uv < [hw[1], hw[0]])).all(1).mean())
    return HardPoseSample(rgb, k, params, joints, kind, index, inside)


def hard_pose_samples(body_model: Any, per_kind: int, seed: int = 0,
                      kinds: Sequence[str] = HARD_POSE_KINDS) -> Iterator[HardPoseSample]:
    """``per_kind`` samples of every kind, kind-major; sample ``i`` of kind ``k`` depends only on
    ``(seed, k, i)`` (deterministic, and a larger set extends a smaller one)."""
    index = 0
    for kind in kinds:
        for i in range(per_kind):
            rng = np.random.default_rng([seed, POSE_KINDS.index(kind), i])
            yield make_hard_sample(body_model, rng, kind, index)
            index += 1


def _pa(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    from ehps.evaluation.alignment import procrustes_align

    return procrustes_align(torch.as_tensor(pred, dtype=torch.float64),
                            torch.as_tensor(gt, dtype=torch.float64)).numpy()


def pose_errors(pred_joints: np.ndarray, gt_joints: np.ndarray) -> dict[str, float]:
    """Errors of fitted joints against the truth (see the module docstring).

    Args:
        pred_joints: (>=22, 3) fitted SMPL-X joints, camera frame, metres.
        gt_joints: (>=22, 3) true joints, same frame.

    Returns:
        ``{"pa_mpjpe_mm", "mpjpe_mm", "tilt_deg"}``.
    """
    pred = np.asarray(pred_joints, np.float64)[BODY_JOINTS]
    gt = np.asarray(gt_joints, np.float64)[BODY_JOINTS]
    pa = float(np.linalg.norm(_pa(pred, gt) - gt, axis=1).mean() * 1000.0)
    rooted = pred - pred[_PELVIS] + gt[_PELVIS]
    mpjpe = float(np.linalg.norm(rooted - gt, axis=1).mean() * 1000.0)
    a, b = pred[_NECK] - pred[_PELVIS], gt[_NECK] - gt[_PELVIS]
    cos = float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))
    tilt = math.degrees(math.acos(min(1.0, max(-1.0, cos))))
    return {"pa_mpjpe_mm": pa, "mpjpe_mm": mpjpe, "tilt_deg": tilt}


def match_person(boxes_xywh: Sequence[np.ndarray], sample: HardPoseSample,
                 min_iou: float = 0.3) -> int | None:
    """Index of the detected box that best overlaps the true person's joint box (the box of its
    projected joints inside the image, grown by 10 %), or ``None`` below ``min_iou``."""
    from ehps.detection.people import box_iou_xywh

    k = sample.intrinsics
    j = sample.joints_cam
    uv = j[:, :2] / j[:, 2:3] * np.array(k.focal) + np.array(k.princpt)
    h, w = sample.image.shape[:2]
    uv = np.clip(uv, [0, 0], [w, h])
    lo, hi = uv.min(0), uv.max(0)
    pad = 0.1 * (hi - lo)
    truth = np.array([*(lo - pad), *(hi - lo + 2 * pad)], np.float32)
    best, best_iou = None, min_iou
    for i, box in enumerate(boxes_xywh):
        iou = box_iou_xywh(np.asarray(box, np.float32), truth)
        if iou >= best_iou:
            best, best_iou = i, iou
    return best


def exact_landmarks(body_model: Any, sample: HardPoseSample) -> Any:
    """The landmarks a perfect body detector would give for the sample (a diagnostic: fitting
    them separates the fitter's errors from the detector's): the model's own 33 body points
    projected, with confidence 1 where they fall inside the image (0.3 outside, as a detector's
    extrapolated points), and its hip-centred 3D points seen from the person's viewing ray as the
    world landmarks; no hands or face."""
    from ehps.detection.base import PersonLandmarks
    from ehps.fitting.camera_init import ray_rotation
    from ehps.fitting.landmarks import landmark_maps, model_keypoints

    k = sample.intrinsics
    f, c = torch.tensor(k.focal), torch.tensor(k.princpt)
    with torch.no_grad():
        out = body_model(**sample.params)
        body = model_keypoints(body_model, out, landmark_maps(body_model))["body"][0]
    uv = (body[:, :2] / body[:, 2:] * f + c).numpy()
    world = (body - 0.5 * (body[23] + body[24])).numpy()
    hip = torch.from_numpy(0.5 * (uv[23] + uv[24]))[None]
    world = world @ ray_rotation(hip, f, c)[0].numpy()
    h, w = sample.image.shape[:2]
    inside = (uv[:, 0] >= 0) & (uv[:, 0] <= w) & (uv[:, 1] >= 0) & (uv[:, 1] <= h)
    lo, hi = np.clip(uv.min(0), 0, [w, h]), np.clip(uv.max(0), 0, [w, h])
    return PersonLandmarks(bbox_xywh=np.r_[lo, hi - lo], score=1.0, body_2d=uv,
                           body_conf=np.where(inside, 1.0, 0.3), body_world=world)


def landmark_error(detected: Any, exact: Any) -> float:
    """Median distance between detected and exact body landmarks (confident, inside-image
    points), as a percentage of the exact landmarks' box height."""
    sel = (exact.body_conf >= 1.0) & (detected.body_conf >= 0.5)
    if not sel.any():
        return float("nan")
    d = np.linalg.norm(detected.body_2d[sel] - exact.body_2d[sel], axis=1)
    return float(np.median(d) / max(float(exact.bbox_xywh[3]), 1.0) * 100.0)


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Mean and median of each error over the found people, plus counts."""
    found = [r for r in rows if not r.get("failed", False)]
    out: dict[str, float] = {"samples": float(len(rows)), "failures": float(len(rows) - len(found))}
    for key in ("pa_mpjpe_mm", "mpjpe_mm", "tilt_deg"):
        vals = np.array([r[key] for r in found], np.float64)
        out[f"{key}_mean"] = float(vals.mean()) if vals.size else float("nan")
        out[f"{key}_median"] = float(np.median(vals)) if vals.size else float("nan")
    return out
