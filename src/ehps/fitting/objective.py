"""The fitting objective, per person: robust 2D reprojection, 3D limb directions from the world
landmarks, priors, joint limits and self-penetration.

Units: 2D residuals are divided by a per-person, per-part scale in pixels (body height, hand size,
face size), so one robust scale works for every image size; the data term is then expressed in
units of "1 % of the part's size squared". Angles in radians; metres elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from ehps.bodymodels.output import BodyModelOutput
from ehps.fitting.adapters import BodyAdapter
from ehps.fitting.landmarks import PARTS, LandmarkMap, model_keypoints
from ehps.fitting.priors import (
    body_prior_tables,
    hand_prior_tables,
    limit_penalty,
    pose_prior,
    self_penetration_penalty,
)

__all__ = [
    "FitTargets",
    "LossWeights",
    "LIMB_SEGMENTS",
    "geman_mcclure",
    "project",
    "Objective",
]

#: Body-landmark index pairs (mediapipe order) whose 3D directions the world landmarks constrain.
LIMB_SEGMENTS: tuple[tuple[int, int], ...] = (
    (11, 13), (13, 15), (12, 14), (14, 16),  # arms
    (23, 25), (25, 27), (24, 26), (26, 28),  # legs
    (11, 12), (23, 24), (11, 23), (12, 24),  # torso
    (27, 31), (28, 32), (29, 31), (30, 32),  # feet
    (15, 19), (16, 20),  # hands
    (7, 8), (0, 7), (0, 8),  # head
)  # fmt: skip
_TORSO_POINTS = (0, 2, 5, 7, 8, 11, 12, 23, 24)


def geman_mcclure(sq_residual: torch.Tensor, sigma: float) -> torch.Tensor:
    """Geman-McClure robust cost of squared residuals: sigma^2 r^2 / (sigma^2 + r^2).

    Quadratic (= r^2) for r << sigma, saturating at sigma^2 for outliers.
    """
    s2 = sigma * sigma
    return s2 * sq_residual / (s2 + sq_residual)


def project(points_cam: torch.Tensor, focal: torch.Tensor, princpt: torch.Tensor,
            min_depth: float = 0.05) -> torch.Tensor:
    """Pinhole projection (..., N, 3) camera metres -> (..., N, 2) pixels; depth clamped to
    ``min_depth`` so that points behind the camera cannot produce infinities."""
    z = points_cam[..., 2:3].clamp_min(min_depth)
    return points_cam[..., :2] / z * focal + princpt


@dataclass
class FitTargets:
    """Batched detections of B people, as tensors.

    Attributes:
        points: part -> (B, Nt, 2) target pixels (see :func:`landmarks.detected_targets`).
        conf: part -> (B, Nt) confidences (0 = ignore).
        scale: part -> (B,) part size in pixels (residual normaliser).
        world: (B, 33, 3) world landmarks rotated into the camera frame, metres (hip-centred).
        world_conf: (B, 33) their confidences.
        focal: (2,) pixels. princpt: (2,) pixels.
        report_conf: part -> (B, Nt) the detector's confidences (numpy), which select the points
            the reported reprojection errors are measured on (independent of fit weighting).
        lower_body_unseen: (B,) fraction of the hips, knees and ankles that are outside the image
            or not confidently seen, in [0, 1] (scales the upright prior); ``None``: 0.
        segment_weight: (B, S) factor per limb segment of :data:`LIMB_SEGMENTS` on the
            world-landmark direction term (e.g. lowered where the world landmarks contradict
            the 2D points); ``None``: 1.
    """

    points: dict[str, torch.Tensor]
    conf: dict[str, torch.Tensor]
    scale: dict[str, torch.Tensor]
    world: torch.Tensor
    world_conf: torch.Tensor
    focal: torch.Tensor
    princpt: torch.Tensor
    report_conf: dict[str, np.ndarray] = field(default_factory=dict)
    lower_body_unseen: torch.Tensor | None = None
    segment_weight: torch.Tensor | None = None

    def take(self, index: torch.Tensor) -> FitTargets:
        """The targets of people ``index`` (R,) (repeats allowed), e.g. one row per start."""
        idx = index.long()
        np_idx = idx.cpu().numpy()
        return FitTargets(
            points={p: t[idx] for p, t in self.points.items()},
            conf={p: t[idx] for p, t in self.conf.items()},
            scale={p: t[idx] for p, t in self.scale.items()},
            world=self.world[idx],
            world_conf=self.world_conf[idx],
            focal=self.focal,
            princpt=self.princpt,
            report_conf={p: a[np_idx] for p, a in self.report_conf.items()},
            lower_body_unseen=(None if self.lower_body_unseen is None
                               else self.lower_body_unseen[idx]),
            segment_weight=None if self.segment_weight is None else self.segment_weight[idx],
        )


@dataclass(frozen=True)
class LossWeights:
    """Weights of the objective's terms (one set per optimiser stage).

    Attributes:
        data: per part, weight of the 2D term: the confidence-weighted mean over the part's points
            of the Geman-McClure cost of the residual in units of 1 % of the part's size.
        sigma: per part, the robust scale as a fraction of the part's size (residuals well
            beyond it stop pulling).
        limb_dirs: weight of the mean (1 - cos) between model and world-landmark limb directions.
        body_prior / body_limits: quadratic pose prior (rad^2) / squared limit excess (rad^2).
        hand_prior / hand_limits: the same for the fingers.
        shape, face: weights of the adapter's shape and face priors.
        penetration: weight of :func:`~ehps.fitting.priors.self_penetration_penalty`.
        torso_only: restrict the body data term to head and torso points (first stage).
        mixture_prior: weight of the mixture body-pose prior (nats;
            :mod:`~ehps.fitting.mixture_prior`), used when the objective has one.
        limb_conf_power: a limb direction counts with weight ``min(conf_a, conf_b) **
            limb_conf_power`` (the world landmarks of occluded points are guesses).
        upright: weight of the upright prior: the squared depth component of the unit torso
            axis (pelvis -> neck) in the camera frame, i.e. sin^2 of the torso's lean towards or
            away from the camera, which 2D points cannot see; per person it is multiplied by
            ``upright_floor + (1 - upright_floor) * lower_body_unseen``.
        upright_floor: the upright prior's share for a fully seen person.
    """

    data: dict[str, float] = field(
        default_factory=lambda: {"body": 1.0, "left_hand": 0.5, "right_hand": 0.5, "face": 0.5}
    )
    sigma: dict[str, float] = field(
        default_factory=lambda: {"body": 0.05, "left_hand": 0.12, "right_hand": 0.12, "face": 0.08}
    )
    limb_dirs: float = 2.0
    body_prior: float = 0.03
    body_limits: float = 30.0
    hand_prior: float = 0.01
    hand_limits: float = 10.0
    shape: float = 2.0
    face: float = 1.0
    penetration: float = 50.0
    torso_only: bool = False
    mixture_prior: float = 0.0
    limb_conf_power: float = 2.0
    upright: float = 0.0
    upright_floor: float = 1.0

    def with_(self, **changes: object) -> LossWeights:
        return replace(self, **changes)


class Objective:
    """Evaluates the per-person loss of a batch of fit variables.

    Args:
        adapter: the body-model adapter.
        maps: part -> :class:`LandmarkMap`.
        targets: the people's detections.
        mixture: optional mixture body-pose prior (weighted by ``LossWeights.mixture_prior``).
    """

    def __init__(self, adapter: BodyAdapter, maps: dict[str, LandmarkMap], targets: FitTargets,
                 mixture: Any = None) -> None:
        self.adapter = adapter
        self.maps = maps
        self.targets = targets
        #: the mixture body-pose prior (a :class:`~ehps.fitting.mixture_prior.MixturePosePrior`)
        self.mixture = mixture
        dev, dt = targets.world.device, targets.world.dtype
        lim, w, mean = body_prior_tables()
        self.body_limits = torch.as_tensor(lim, dtype=dt, device=dev)
        self.body_prior_w = torch.as_tensor(w, dtype=dt, device=dev)
        self.body_prior_mean = torch.as_tensor(mean, dtype=dt, device=dev)
        self.hand_tables = {}
        for side in ("left", "right"):
            hl, hm, hw = hand_prior_tables(side)
            self.hand_tables[side] = tuple(torch.as_tensor(a, dtype=dt, device=dev)
                                           for a in (hl, hm, hw))
        self.part_weight = {
            p: torch.as_tensor(m.weight, dtype=dt, device=dev) for p, m in maps.items()
        }
        seg = np.asarray(LIMB_SEGMENTS)
        self.seg_a = torch.as_tensor(seg[:, 0], device=dev)
        self.seg_b = torch.as_tensor(seg[:, 1], device=dev)
        torso = torch.zeros(33, dtype=dt, device=dev)
        torso[list(_TORSO_POINTS)] = 1.0
        self.torso_mask = torso
        #: optional ``extra_terms(v, joints (B, >=55, 3)) -> {name: (B,)}`` added to the loss
        #: (the temporal term of video fits, :mod:`ehps.fitting.temporal`)
        self.extra_terms: Callable[[dict[str, torch.Tensor], torch.Tensor],
                                   dict[str, torch.Tensor]] | None = None

    def keypoints(self, output: BodyModelOutput) -> dict[str, torch.Tensor]:
        """part -> (B, Nt, 3) model points in the camera frame."""
        return model_keypoints(self.adapter.fit_model, output, self.maps)

    def __call__(
        self, v: dict[str, torch.Tensor], weights: LossWeights, surrogate: Any = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Per-person total loss (B,) and each weighted term (B,).

        Evaluates the adapter's fitting model, or ``surrogate`` (a
        :class:`~ehps.fitting.skeleton.SkeletonSurrogate`) when given.
        """
        if surrogate is None:
            output = self.adapter.forward(v)
            joints = output.joints
            kp = self.keypoints(output)
        else:
            joints, kp = surrogate(v)
        t = self.targets
        terms: dict[str, torch.Tensor] = {}
        for part in PARTS:
            wd = weights.data.get(part, 0.0)
            if wd == 0.0 or part not in kp:
                continue
            uv = project(kp[part], t.focal, t.princpt)
            r2 = ((uv - t.points[part]) / t.scale[part][:, None, None]).square().sum(-1)
            # residuals in units of 1 % of the part size
            rho = geman_mcclure(r2 / 1e-4, weights.sigma[part] / 0.01)
            c = t.conf[part] * self.part_weight[part]
            if part == "body" and weights.torso_only:
                c = c * self.torso_mask
            terms[f"data_{part}"] = wd * (c * rho).sum(1) / c.sum(1).clamp_min(1e-6)
        if weights.limb_dirs > 0:
            terms["limb_dirs"] = weights.limb_dirs * self._limb_dirs(kp["body"],
                                                                     weights.limb_conf_power)
        if weights.body_prior > 0:
            terms["body_prior"] = weights.body_prior * pose_prior(
                v["body_pose"], self.body_prior_mean, self.body_prior_w
            )
        if weights.mixture_prior > 0 and self.mixture is not None:
            terms["mixture_prior"] = weights.mixture_prior * self.mixture(v["body_pose"])
        if weights.upright > 0:
            terms["upright"] = weights.upright * self._upright(joints, weights.upright_floor)
        terms["body_limits"] = weights.body_limits * limit_penalty(
            v["body_pose"], self.body_limits
        )
        for side in ("left", "right"):
            lim, mean, w = self.hand_tables[side]
            pose = v[f"{side}_hand_pose"]
            terms[f"{side}_hand_prior"] = weights.hand_prior * pose_prior(pose, mean, w)
            terms[f"{side}_hand_limits"] = weights.hand_limits * limit_penalty(pose, lim)
        terms["shape"] = weights.shape * self.adapter.shape_prior(v)
        terms["face"] = weights.face * self.adapter.face_prior(v)
        if weights.penetration > 0:
            terms["penetration"] = weights.penetration * self_penetration_penalty(joints)
        if self.extra_terms is not None:
            terms.update(self.extra_terms(v, joints))
        total = torch.stack(list(terms.values()), 0).sum(0)
        return total, terms

    def _limb_dirs(self, body_cam: torch.Tensor, power: float = 2.0) -> torch.Tensor:
        """(B,) mean of (1 - cos) between model and world-landmark limb directions."""
        t = self.targets
        dm = body_cam[:, self.seg_b] - body_cam[:, self.seg_a]
        dw = t.world[:, self.seg_b] - t.world[:, self.seg_a]
        cos = torch.nn.functional.cosine_similarity(dm, dw, dim=-1, eps=1e-6)
        # occluded or out-of-frame points have guessed world positions: trust them little
        c = torch.minimum(t.world_conf[:, self.seg_a], t.world_conf[:, self.seg_b])
        w = c.square() if power == 2.0 else c.clamp_min(0.0).pow(power)
        if t.segment_weight is not None:
            w = w * t.segment_weight
        return (w * (1.0 - cos)).sum(1) / w.sum(1).clamp_min(0.5)

    def _upright(self, joints: torch.Tensor, floor: float) -> torch.Tensor:
        """(B,) squared depth component of the unit torso axis (pelvis -> neck), camera frame,
        scaled per person by how much of the lower body is unseen."""
        axis = joints[:, 12] - joints[:, 0]
        lean = axis[:, 2].square() / axis.square().sum(-1).clamp_min(1e-8)
        unseen = self.targets.lower_body_unseen
        if unseen is None:
            return floor * lean
        return (floor + (1.0 - floor) * unseen) * lean
