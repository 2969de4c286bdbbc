"""Starting points of the fit: the closed-form start and its variants, given starts, and keeping
the best start per person.

Every start begins with the closed-form solution of :mod:`ehps.fitting.camera_init`: the
orientation that best aligns the rest model's torso with the world landmarks (weighted Kabsch),
arms and legs from the world landmarks' limb directions (analytic IK), and the translation that
best projects the body onto its pixels. The variants (:data:`START_KINDS`) answer the two
ambiguities a single start gets stuck in:

- ``"world"``: the closed-form start as it is;
- ``"upright"``: the torso turned upright in depth (its axis moved into the image plane, about
  the camera-frame axis that keeps it in view) before the limbs are solved: mediapipe's world
  landmarks often lean a person cut by the image border towards or away from the camera, which
  the 2D points cannot contradict;
- ``"flip"``: the orientation turned half a turn about the torso axis (front / back confusion of
  people seen from behind or from the side);
- ``"rest"``: the closed-form orientation with the relaxed standing pose instead of the IK limbs
  (for limbs whose world landmarks are wrong);
- ``"leg_l"`` / ``"leg_r"``: the IK limbs with that leg's world landmarks mirrored in depth about
  its hip (:func:`mirror_leg_depth`): the 2D points cannot tell a leg reaching towards the camera
  from one reaching away, and mediapipe's world landmarks of lunges, kicks and crouches often
  pick the wrong one. Only the start changes; the objective keeps the detected world landmarks;
- ``"prior"``: the closed-form orientation with the body pose of the mixture prior's component
  mean (:mod:`~ehps.fitting.mixture_prior`) whose start has the lowest loss (2D points and world
  limb directions, no iterations; :func:`prior_pose_start`): a start that does not come from the
  world landmarks' limbs, for poses whose world landmarks are wrong (issue 19's seed-1
  diagnosis: the fit from the true pose reaches a lower loss than the fit from the world
  landmarks on a lunge and a crouch). Without a mixture prior it is the ``"rest"`` start.

:func:`best_rows` keeps, per person, the start whose loss after the first stages is lowest.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import roma
import torch

from ehps.fitting.camera_init import (
    align_orientation,
    depth_from_height,
    limb_ik,
    solve_translation,
)
from ehps.geometry.rotations import rotmat_to_aa

__all__ = ["START_KINDS", "closed_form_start", "mirror_leg_depth", "prior_pose_start",
           "candidate_starts", "best_rows", "variables_from_arrays"]

START_KINDS: tuple[str, ...] = ("world", "upright", "flip", "rest", "leg_l", "leg_r", "prior")

#: mediapipe points of each leg below the hip (knee, ankle, heel, foot index), and the hip
_LEG_POINTS = {"leg_l": (23, (25, 27, 29, 31)), "leg_r": (24, (26, 28, 30, 32))}

_INIT_TORSO = (11, 12, 23, 24)  # shoulders, hips (world-landmark orientation)
_INIT_TRANSL = (0, 2, 5, 7, 8, 11, 12, 23, 24)  # head and torso points (translation)
_PELVIS, _NECK = 0, 12


def _upright_turn(rot: torch.Tensor, rest_joints: torch.Tensor) -> torch.Tensor:
    """(B, 3, 3) rotation (camera frame) that takes the posed torso axis into the image plane
    (x-y), the minimal turn."""
    axis_model = rest_joints[:, _NECK] - rest_joints[:, _PELVIS]
    a = torch.einsum("bij,bj->bi", rot, axis_model)
    a = a / a.norm(dim=-1, keepdim=True).clamp_min(1e-9)
    target = a.clone()
    target[:, 2] = 0.0
    target = target / target.norm(dim=-1, keepdim=True).clamp_min(1e-9)
    cross = torch.cross(a, target, dim=-1)
    angle = torch.atan2(cross.norm(dim=-1), (a * target).sum(-1))
    rotvec = cross / cross.norm(dim=-1, keepdim=True).clamp_min(1e-9) * angle[:, None]
    return roma.rotvec_to_rotmat(rotvec)


def _flip_turn(rot: torch.Tensor, rest_joints: torch.Tensor) -> torch.Tensor:
    """(B, 3, 3) half turn about the posed torso axis (camera frame)."""
    axis_model = rest_joints[:, _NECK] - rest_joints[:, _PELVIS]
    a = torch.einsum("bij,bj->bi", rot, axis_model)
    a = a / a.norm(dim=-1, keepdim=True).clamp_min(1e-9)
    return roma.rotvec_to_rotmat(a * math.pi)


def mirror_leg_depth(world: torch.Tensor, leg: str) -> torch.Tensor:
    """World landmarks with one leg mirrored in depth about its hip.

    Args:
        world: (B, 33, 3) mediapipe world landmarks in the camera frame (OpenCV axes, metres).
        leg: ``"leg_l"`` or ``"leg_r"``.

    Returns:
        (B, 33, 3) a copy in which the knee, ankle, heel and foot of ``leg`` have depth
        ``2 * z_hip - z`` (x and y, i.e. the image-plane layout, unchanged).
    """
    hip, points = _LEG_POINTS[leg]
    out = world.clone()
    idx = list(points)
    out[:, idx, 2] = 2.0 * world[:, hip:hip + 1, 2] - world[:, idx, 2]
    return out


@torch.no_grad()
def prior_pose_start(adapter: Any, objective: Any, v: dict[str, torch.Tensor]
                     ) -> dict[str, torch.Tensor]:
    """The ``"prior"`` start: per person, the mixture component mean (as body pose) whose
    closed-form start (orientation from the world torso, translation from the 2D points) has the
    lowest loss under default weights (:class:`~ehps.fitting.objective.LossWeights`).

    Args:
        adapter, objective: the fit's (``objective.mixture`` is the prior, or ``None``).
        v: (B, ...) default variables.

    Returns:
        (B, ...) variables.
    """
    from ehps.fitting.objective import LossWeights, Objective

    if objective.mixture is None:
        return closed_form_start(adapter, objective, v, True, "rest")
    b = v["transl"].shape[0]
    means = objective.mixture.means.to(v["body_pose"]).reshape(-1, 21, 3)
    k = means.shape[0]
    idx = torch.arange(b).repeat_interleave(k)
    rows = Objective(adapter, objective.maps, objective.targets.take(idx), objective.mixture)
    vr = {n: t[idx] for n, t in v.items()}
    vr = closed_form_start(adapter, rows, vr, True, "rest", pose=means.repeat(b, 1, 1))
    loss, _ = rows(vr, LossWeights())
    best = loss.reshape(b, k).nan_to_num(math.inf).argmin(1) + torch.arange(b) * k
    return {n: t[best] for n, t in vr.items()}


@torch.no_grad()
def closed_form_start(adapter: Any, objective: Any, v: dict[str, torch.Tensor],
                      use_ik: bool = True, kind: str = "world",
                      pose: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Closed-form orientation, limb pose and translation of every person (see the module
    docstring for ``kind``); ``pose`` (B, 21, 3), if given, replaces the limb pose (clamped to
    the joint limits)."""
    if kind not in START_KINDS:
        raise ValueError(f"unknown start {kind!r}; known: {START_KINDS}")
    if kind == "prior":
        return prior_pose_start(adapter, objective, v)
    t = objective.targets
    rest_out = adapter.forward(v)  # model frame, zero pose
    rest = objective.keypoints(rest_out)["body"]
    idx = list(_INIT_TORSO)
    wconf = t.world_conf[:, idx].clamp_min(0.05)
    rot = align_orientation(rest[:, idx], t.world[:, idx], wconf)
    if kind == "upright":
        rot = _upright_turn(rot, rest_out.joints) @ rot
    elif kind == "flip":
        rot = _flip_turn(rot, rest_out.joints) @ rot
    v = dict(v)
    v["global_orient"] = rotmat_to_aa(rot)
    rest_pose = objective.body_prior_mean.expand_as(v["body_pose"])
    if use_ik and kind != "rest":
        world = mirror_leg_depth(t.world, kind) if kind in _LEG_POINTS else t.world
        pose = limb_ik(rest_out.joints[:, :55], rot, world, t.world_conf, fallback=rest_pose)
        lim = objective.body_limits
        v["body_pose"] = torch.minimum(torch.maximum(pose, lim[..., 0]), lim[..., 1])
    elif kind == "rest":
        v["body_pose"] = rest_pose.clone()
    if pose is not None:
        lim = objective.body_limits
        v["body_pose"] = torch.minimum(torch.maximum(pose.to(rest_pose), lim[..., 0]), lim[..., 1])
    oriented = objective.keypoints(adapter.forward(v))["body"]  # camera orientation, no transl
    idx = list(_INIT_TRANSL) if not (use_ik or pose is not None) else list(range(33))
    w2d = t.conf["body"][:, idx] * objective.part_weight["body"][idx]
    transl = solve_translation(oriented[:, idx], t.points["body"][:, idx], w2d, t.focal, t.princpt)
    # fall back to a depth from the person's box height where the solve is unusable
    height_px = t.scale["body"]
    model_h = (oriented[..., 1].amax(1) - oriented[..., 1].amin(1)).clamp_min(0.5)
    z_fb = depth_from_height(height_px, model_h, float(t.focal[1]))
    centre = t.points["body"].mean(1)
    xy_fb = (centre - t.princpt) / t.focal * z_fb[:, None]
    fallback = torch.cat((xy_fb, z_fb[:, None]), 1) - oriented.mean(1)
    bad = ~torch.isfinite(transl).all(1) | (transl[:, 2] < 0.3) | (transl[:, 2] > 200.0)
    v["transl"] = torch.where(bad[:, None], fallback, transl)
    return v


def variables_from_arrays(template: dict[str, torch.Tensor], values: dict[str, Any]
                          ) -> dict[str, torch.Tensor]:
    """One person's fit variables (batch 1) from arrays shaped like ``template``'s rows (e.g.
    ``PersonEstimate.extras["fit_variables"]`` of an earlier fit); missing names keep the
    template's value.

    Raises:
        ValueError: an unknown name, or a value of the wrong size or not finite.
    """
    out = {k: t[:1].clone() for k, t in template.items()}
    for name, val in values.items():
        if name not in out:
            raise ValueError(f"initial solution: unknown variable {name!r}; known: {sorted(out)}")
        arr = torch.as_tensor(np.asarray(val, np.float64), dtype=out[name].dtype)
        if arr.numel() != out[name].numel() or not torch.isfinite(arr).all():
            raise ValueError(f"initial solution: {name} must be {tuple(out[name].shape[1:])} "
                             f"finite values, got shape {tuple(arr.shape)}")
        out[name] = arr.reshape(out[name].shape)
    return out


def candidate_starts(adapter: Any, objective: Any, v0: dict[str, torch.Tensor],
                     kinds: Sequence[str], use_ik: bool = True,
                     given: Sequence[dict[str, Any] | None] | None = None
                     ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    """Starts of every person, one row per (person, start).

    Args:
        adapter, objective: the fit's (objective over all B people).
        v0: (B, ...) default variables (mean shape, zero pose).
        kinds: the start variants (:data:`START_KINDS`), at least one.
        use_ik: solve the limbs from the world landmarks.
        given: per person, an initial solution (fit-variable arrays) that replaces the
            closed-form starts (that person then has exactly one start), or ``None``.

    Returns:
        ``(variables (R, ...), person (R,) int64, kind (R,) int64)``: rows grouped by start
        kind (``kind`` indexes ``kinds``); the first group holds every person.
    """
    if not kinds:
        raise ValueError("at least one start kind is needed")
    b = v0["transl"].shape[0]
    given = list(given) if given is not None else [None] * b
    if len(given) != b:
        raise ValueError(f"{len(given)} initial solutions for {b} people")
    rows: list[dict[str, torch.Tensor]] = []
    person: list[torch.Tensor] = []
    kind_index: list[torch.Tensor] = []
    free = torch.tensor([g is None for g in given])
    for k, kind in enumerate(kinds):
        if not bool(free.any()) and k > 0:
            break
        v = (closed_form_start(adapter, objective, v0, use_ik, kind) if bool(free.any())
             else {n: t.clone() for n, t in v0.items()})
        keep = free if k > 0 else torch.ones(b, dtype=torch.bool)
        if k == 0:
            for i, g in enumerate(given):
                if g is not None:
                    gi = variables_from_arrays(v0, g)
                    v = {n: torch.cat((t[:i], gi[n], t[i + 1:])) for n, t in v.items()}
        idx = torch.nonzero(keep).flatten()
        rows.append({n: t[idx] for n, t in v.items()})
        person.append(idx)
        kind_index.append(torch.full_like(idx, k))
    out = {n: torch.cat([r[n] for r in rows]) for n in v0}
    return out, torch.cat(person), torch.cat(kind_index)


def best_rows(loss: torch.Tensor, person: torch.Tensor, num_people: int) -> torch.Tensor:
    """(B,) row index of each person's lowest-loss start (the first start on ties; a non-finite
    loss counts as infinite)."""
    loss = torch.where(torch.isfinite(loss), loss, torch.full_like(loss, math.inf))
    best = torch.full((num_people,), -1, dtype=torch.long)
    best_loss = [math.inf] * num_people
    for r in range(loss.shape[0]):
        p, val = int(person[r]), float(loss[r])
        if best[p] < 0 or val < best_loss[p]:
            best[p] = r
            best_loss[p] = val
    return best
