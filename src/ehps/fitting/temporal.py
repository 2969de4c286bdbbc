"""Warm-started, temporal fits of tracked people (video frames).

A tracked person's fit in frame t reuses what its fit in frame t-1 found (shape, hands, face,
the L-BFGS curvature memory; the pose too with ``start="previous"``), runs a short schedule
instead of the full one (:func:`warm_stages`), and can add a temporal term (off by default, see
:attr:`TemporalFitConfig.weight`):

- **acceleration** of the 55 skeleton joints relative to the pelvis and of the pelvis itself
  (second finite differences over the current and the two previous frames, m/s^2, with the real
  frame times so that gaps count right), each normalised by a scale of plausible human
  accelerations and squared: ``weight * (mean_j |a_j - a_pelvis|^2 / accel_sigma^2 +
  |a_pelvis|^2 / root_accel_sigma^2)``. The past frames are the track's raw (unsmoothed)
  estimates, posed by the body model; the joints of the current frame come from the model the
  optimiser evaluates (the skeleton surrogate or the exact model), so the term is exact;
- **shape**: the phenotype / betas are optimised during the first :attr:`TemporalFitConfig.
  settle_frames` frames of a track (from the previous frame's value) and fixed afterwards.

Cold fits (new tracks, people without history) use :func:`ehps.fitting.fit_people` unchanged.
Everything stays batched over the people of a frame and deterministic.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ehps.detection.base import PersonLandmarks
from ehps.fitting.adapters import BodyAdapter, make_adapter
from ehps.fitting.fitter import (
    HEAD_ROWS,
    FitConfig,
    _export,
    _threads,
    build_targets,
    initialise,
)
from ehps.fitting.landmarks import landmark_maps
from ehps.fitting.objective import LossWeights, Objective
from ehps.fitting.optimizer import LBFGSMemory, Packer, Stage, batched_lbfgs
from ehps.fitting.skeleton import SkeletonSurrogate
from ehps.geometry.camera import Intrinsics
from ehps.structures import PersonEstimate

__all__ = ["TemporalFitConfig", "WarmStart", "warm_stages", "fit_people_warm", "TemporalTerm"]

_JOINTS = 55


@dataclass(frozen=True)
class TemporalFitConfig:
    """Options of :func:`fit_people_warm`.

    Attributes:
        iterations: L-BFGS iterations of the main warm stage (skeleton surrogate: pose, camera,
            hands, and the shape while it settles). Rendered walk, 16 frames, 2 people
            (``benchmarks/video_speed.py --only video --skip-vtest --warm iterations=N``; per-frame
            cold fits: 36.8 mm, jitter 12.3 m/s^2): 20: 37.4 mm, 7.0 m/s^2; 16: 37.5, 10.7;
            14: 38.1, 8.3; 12 (default): 38.2, 6.9, with 42% less time in the warm stage than 20.
        camera_iterations: iterations of a camera-only stage before it (0: none).
        recentre: shift the previous solution sideways onto this frame's body points first.
        extrapolate: continue the previous motion by this factor for the start (0: none).
        face_iterations: iterations of the face stage (exact model), for batches where someone's
            face was found.
        refine_iterations: iterations of a last stage on the exact model (0: none).
        settle_frames: frames of a track during which its shape is still optimised.
        weight: weight of the temporal term (0, the default: warm start only). The term is
            causal (it sees only past frames), so it pulls the fit towards the extrapolation of
            past estimates, errors included: on synthetic walks it lowers the acceleration of
            the raw fits but raises PA-MPJPE even at ``accel_sigma=50``
            (``tests/fitting/test_temporal.py``, ``benchmarks/video_speed.py``), hence off.
        accel_sigma: scale of joint accelerations relative to the pelvis, m/s^2.
        root_accel_sigma: scale of the pelvis acceleration, m/s^2.
        history: past frames used (2: acceleration needs the current and two past frames).
        hands: fit the fingers (and the hand points) in warm fits; ``False`` (default) keeps
            the track's hand poses from its cold fit. With hands fitted in the short warm
            schedule the rendered walk's body PA-MPJPE rose from 36.3 (per-frame) to 48.1 mm;
            without, 38.7 mm (``benchmarks/video_speed.py --warm hands=True`` compares). The
            price: finger motion is not followed within a track.
        start: where the pose starts: ``"landmarks"`` (the cold fit's closed-form start from
            this frame's world landmarks, with the track's shape, hands, face and L-BFGS
            curvature memory), ``"previous"`` (the previous frame's pose, recentred), or
            ``"best"`` (default: per person, whichever of the two fits this frame's body points
            better). Measured on a rendered walk (``benchmarks/video_speed.py``, 16 frames):
            ``"landmarks"`` keeps PA-MPJPE (37.8 vs 38.1 mm per-frame) but is jittery (11.8 vs
            7.3 m/s^2), ``"best"`` with 20 iterations 38.8 mm and 6.4 m/s^2; ``"previous"``
            alone lets errors carry over from frame to frame.
        prune_cold: new tracks of followed videos get the cold fit without the stages whose
            data nobody in the frame's batch has (no hands found: no ``hands`` stage; no face:
            no ``face`` stage; :func:`ehps.inference.fit_estimator.cold_stages`).
        face_when_carried: run the face stage also when every face of the batch was carried
            over from the previous frame by landmark tracking (``extras["parts_age"] > 0``,
            :mod:`ehps.detection.landmark_tracking`) rather than looked for: a carried face is
            the previous face moved with the head, so the expression fitted last frame still
            fits it; ``False`` (default) skips the stage then (the head follows the body
            points in the main stage).
    """

    iterations: int = 12
    camera_iterations: int = 0
    recentre: bool = True
    extrapolate: float = 0.0
    face_iterations: int = 3
    refine_iterations: int = 0
    settle_frames: int = 8
    weight: float = 0.0
    accel_sigma: float = 6.0
    root_accel_sigma: float = 3.0
    history: int = 2
    start: str = "best"
    hands: bool = False
    prune_cold: bool = True
    face_when_carried: bool = False

    def __post_init__(self) -> None:
        for name in ("iterations", "camera_iterations", "face_iterations", "refine_iterations",
                     "settle_frames"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.accel_sigma <= 0 or self.root_accel_sigma <= 0 or self.weight < 0:
            raise ValueError("accel_sigma and root_accel_sigma must be > 0, weight >= 0")
        if self.start not in ("previous", "landmarks", "best"):
            raise ValueError(f"start must be previous, landmarks or best, got {self.start!r}")
        if self.history not in (1, 2):
            raise ValueError(f"history must be 1 or 2, got {self.history}")


@dataclass
class WarmStart:
    """Where one tracked person's fit starts.

    Attributes:
        params: the person's raw parameters in the previous frame (the layout of
            :attr:`ehps.structures.PersonEstimate.params`, ``transl`` in this frame's camera).
        past: ``(time_s, params)`` of the track's recent frames, oldest first, ending with the
            previous frame (``params`` again); the temporal term uses the last two.
        time_s: this frame's time, seconds.
        shape_free: optimise the shape (the track has not settled yet).
        memory: the L-BFGS curvature pairs ``(s (H, P), y (H, P), gamma)`` the previous frame's
            main stage ended with (``extras["lbfgs_memory"]`` of its estimate), or ``None``.
    """

    params: dict[str, np.ndarray]
    past: list[tuple[float, dict[str, np.ndarray]]] = field(default_factory=list)
    time_s: float = 0.0
    shape_free: bool = False
    memory: tuple[np.ndarray, np.ndarray, float] | None = None


def warm_stages(temporal: TemporalFitConfig, shape: bool, hands: bool, face: bool
                ) -> tuple[Stage, ...]:
    """The short schedule of warm fits.

    Args:
        temporal: iteration counts.
        shape: someone's shape is still free (the stage frees ``shape``; the per-person mask
            keeps it fixed for settled people).
        hands: someone's hands were found (the fingers are optimised).
        face: someone's face was found (a face stage on the exact model).
    """
    base = LossWeights()
    cam = ("global_orient", "transl")
    hands = hands and temporal.hands
    hand_vars = ("left_hand_pose", "right_hand_pose") if hands else ()
    track = (*cam, "body_pose", *hand_vars, *(("shape",) if shape else ()))
    data = {**base.data, "face": 0.0}
    if not temporal.hands:
        data.update(left_hand=0.0, right_hand=0.0)
    stages = [Stage("warm_camera", cam, temporal.camera_iterations,
                    base.with_(data=data, limb_dirs=10.0), surrogate=True),
              Stage("warm", track, temporal.iterations,
                    base.with_(data=data, limb_dirs=10.0), surrogate=True)]
    if face and temporal.face_iterations:
        stages.append(Stage(
            "warm_face", ("face", "jaw_pose", ("body_pose", HEAD_ROWS)), temporal.face_iterations,
            base.with_(data={"body": 0.3, "left_hand": 0.0, "right_hand": 0.0, "face": 1.0},
                       sigma={**base.sigma, "face": 0.3}, limb_dirs=5.0)))
    if temporal.refine_iterations:
        stages.append(Stage("warm_refine", (*cam, "body_pose", *hand_vars,
                                            *(("face", "jaw_pose") if face else ())),
                            temporal.refine_iterations,
                            base.with_(data={**base.data, "face": 0.75}, limb_dirs=10.0)))
    return tuple(s for s in stages if s.iterations > 0)


class TemporalTerm:
    """The temporal term (module docstring) for a batch of people.

    Args:
        past_joints: (B, 2, 55, 3) camera-frame joints of the two previous frames (older first).
        dt: (B, 2) seconds from the older to the previous frame, and from it to this frame.
        valid: (B,) people with two past frames (the others get no temporal term).
        config: weights and scales.
    """

    def __init__(self, past_joints: torch.Tensor, dt: torch.Tensor, valid: torch.Tensor,
                 config: TemporalFitConfig) -> None:
        self.past, self.dt, self.valid, self.config = past_joints, dt, valid, config

    def acceleration(self, joints: torch.Tensor) -> torch.Tensor:
        """(B, 55, 3) m/s^2 at the previous frame from ``joints`` (B, >=55, 3) of this one."""
        j2, j1 = self.past[:, 0], self.past[:, 1]
        dt_old, dt_new = self.dt[:, 0, None, None], self.dt[:, 1, None, None]
        v_new = (joints[:, :_JOINTS] - j1) / dt_new
        v_old = (j1 - j2) / dt_old
        return (v_new - v_old) / (0.5 * (dt_old + dt_new))

    def __call__(self, v: dict[str, torch.Tensor], joints: torch.Tensor
                 ) -> dict[str, torch.Tensor]:
        c = self.config
        acc = self.acceleration(joints)
        rel = acc - acc[:, :1]
        cost = ((rel / c.accel_sigma).square().sum(-1).mean(1)
                + (acc[:, 0] / c.root_accel_sigma).square().sum(-1))
        return {"temporal": c.weight * cost * self.valid.to(cost.dtype)}


def _past_joints(adapter: BodyAdapter, starts: Sequence[WarmStart], dtype: torch.dtype
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Posed joints of each person's two previous frames (exact model), the time steps, and
    which people have two past frames."""
    b = len(starts)
    params, dt, valid = [], torch.ones(b, 2, dtype=dtype), torch.zeros(b, dtype=torch.bool)
    for i, s in enumerate(starts):
        past = s.past[-2:] if len(s.past) >= 2 else [(s.time_s, s.params)] * 2
        (t_old, p_old), (t_prev, p_prev) = past
        if len(s.past) >= 2 and s.time_s > t_prev > t_old:
            valid[i] = True
            dt[i, 0], dt[i, 1] = t_prev - t_old, s.time_s - t_prev
        params += [p_old, p_prev]
    v = adapter.variables_from_params(params, dtype, torch.device("cpu"))
    with torch.no_grad():
        joints = adapter.forward(v).joints[:, :_JOINTS]
    return joints.reshape(b, 2, _JOINTS, 3), dt, valid


@torch.no_grad()
def _extrapolate(adapter: BodyAdapter, starts: Sequence[WarmStart], v: dict[str, torch.Tensor],
                 factor: float) -> dict[str, torch.Tensor]:
    """Continue each person's motion: pose and translation moved by ``factor`` times their
    change between the two previous frames (scaled to this frame's time step)."""
    older = [s.past[-2][1] if len(s.past) >= 2 else s.params for s in starts]
    vo = adapter.variables_from_params(older, v["transl"].dtype, v["transl"].device)
    v = dict(v)
    for i, s in enumerate(starts):
        if len(s.past) < 2 or not s.time_s > s.past[-1][0] > s.past[-2][0]:
            continue
        ratio = factor * (s.time_s - s.past[-1][0]) / (s.past[-1][0] - s.past[-2][0])
        for key in ("global_orient", "body_pose", "transl"):
            v[key] = v[key].clone()
            v[key][i] = v[key][i] + ratio * (v[key][i] - vo[key][i])
    return v


@torch.no_grad()
def _recentre(adapter: BodyAdapter, objective: Objective, v: dict[str, torch.Tensor]
              ) -> dict[str, torch.Tensor]:
    """Move each person sideways (depth kept) so that its previous pose projects onto this
    frame's body points best: weighted least squares of ``fx (X + t_x) / (Z + t_z) = u - cx``
    (and y) for ``t_x, t_y`` with ``t_z`` fixed. People move between frames; this removes most
    of that motion before the optimiser starts."""
    t = objective.targets
    pts = objective.keypoints(adapter.forward(v))["body"]  # (B, 33, 3) camera, with transl
    z = pts[..., 2].clamp_min(0.1)
    w = t.conf["body"] * objective.part_weight["body"]
    uv = t.points["body"]
    shift = []
    for axis in (0, 1):
        # (u - c) z / f - X for every point: the shift that puts it on its target
        need = (uv[..., axis] - t.princpt[axis]) * z / t.focal[axis] - pts[..., axis]
        shift.append((w * need).sum(1) / w.sum(1).clamp_min(1e-6))
    v = dict(v)
    ok = (w.sum(1) > 0)[:, None]
    delta = torch.stack((shift[0], shift[1], torch.zeros_like(shift[0])), 1)
    v["transl"] = v["transl"] + torch.where(ok, delta, torch.zeros_like(delta))
    return v


@torch.no_grad()
def _pose_start(adapter: BodyAdapter, objective: Objective, v: dict[str, torch.Tensor],
                start: str, use_ik: bool, surrogate: SkeletonSurrogate | None = None
                ) -> dict[str, torch.Tensor]:
    """The closed-form start of cold fits (orientation, limb IK from this frame's world
    landmarks, translation) with the track's shape, hands and face; ``start="best"`` keeps,
    per person, whichever of it and ``v`` (the previous pose) fits this frame's body points
    better (judged on ``surrogate`` when given, the skeleton the main stage optimises, else on
    the exact model)."""
    zero = adapter.init_variables(v["transl"].shape[0], v["transl"].dtype, v["transl"].device)
    rest = {**v, **{k: zero[k] for k in ("global_orient", "body_pose", "transl")}}
    fresh = initialise(adapter, objective, rest, use_ik=use_ik)
    if start == "landmarks":
        return fresh
    weights = warm_stages(TemporalFitConfig(), False, False, False)[-1].weights
    loss_prev = objective(v, weights, surrogate)[0]
    loss_new = objective(fresh, weights, surrogate)[0]
    better = loss_new < loss_prev
    return {k: torch.where(better.reshape(-1, *([1] * (t.ndim - 1))), fresh[k], t)
            for k, t in v.items()}


def _batch_memory(starts: Sequence[WarmStart], x: torch.Tensor) -> LBFGSMemory | None:
    """The people's carried curvature pairs as one batch (empty slots for people without)."""
    mems = [s.memory for s in starts]
    known = [m for m in mems if m is not None and m[0].shape[1] == x.shape[1]]
    if not known:
        return None
    h = max(m[0].shape[0] for m in known)
    s_b = torch.zeros(h, x.shape[0], x.shape[1], dtype=x.dtype)
    y_b = torch.zeros_like(s_b)
    gamma = torch.ones(x.shape[0], dtype=x.dtype)
    for i, m in enumerate(mems):
        if m is None or m[0].shape[1] != x.shape[1]:
            continue
        k = m[0].shape[0]
        s_b[h - k:, i] = torch.as_tensor(m[0], dtype=x.dtype)
        y_b[h - k:, i] = torch.as_tensor(m[1], dtype=x.dtype)
        gamma[i] = float(m[2])
    return LBFGSMemory(s_b, y_b, gamma)


def fit_people_warm(
    image_hw: tuple[int, int],
    landmarks: Sequence[PersonLandmarks],
    body_model: Any,
    starts: Sequence[WarmStart],
    intrinsics: Intrinsics | None = None,
    config: FitConfig | None = None,
    temporal: TemporalFitConfig | None = None,
    timings: dict[str, float] | None = None,
) -> list[PersonEstimate]:
    """Fit tracked people from their previous solutions (module docstring).

    Args:
        image_hw: (height, width) of the frame, pixels.
        landmarks: one :class:`PersonLandmarks` per person (pixels of this frame).
        body_model: the body model (the one that produced the ``starts``' parameters).
        starts: one :class:`WarmStart` per person.
        intrinsics: the frame's camera (default: focal = diagonal, centred).
        config: the fit's options (targets, robust scales, threads).
        temporal: the warm schedule and the temporal term.
        timings: filled with seconds per step (``"init"``, stage names, ``"export"``).

    Returns:
        One :class:`PersonEstimate` per person, as :func:`ehps.fitting.fit_people` returns them
        without meshes (``extras["fit_terms"]["temporal"]`` holds the temporal term).
    """
    if len(starts) != len(landmarks):
        raise ValueError(f"{len(starts)} warm starts for {len(landmarks)} people")
    config = config or FitConfig()
    temporal = temporal or TemporalFitConfig()
    h, w = int(image_hw[0]), int(image_hw[1])
    intrinsics = intrinsics or Intrinsics.from_image_size(w, h)
    if not landmarks:
        return []
    timings = timings if timings is not None else {}
    with _threads(config.num_threads):
        return _fit_warm(h, w, landmarks, body_model, starts, intrinsics, config, temporal,
                         timings)


def _fit_warm(h: int, w: int, landmarks: Sequence[PersonLandmarks], body_model: Any,
              starts: Sequence[WarmStart], intrinsics: Intrinsics, config: FitConfig,
              temporal: TemporalFitConfig, timings: dict[str, float]) -> list[PersonEstimate]:
    t0 = time.perf_counter()
    dt = config.dtype
    adapter = make_adapter(body_model)
    maps = landmark_maps(body_model)
    targets = build_targets(landmarks, maps, (h, w), intrinsics, config)
    objective = Objective(adapter, maps, targets)
    v = adapter.variables_from_params([s.params for s in starts], dt, torch.device("cpu"))
    if temporal.extrapolate:
        v = _extrapolate(adapter, starts, v, temporal.extrapolate)
    if temporal.recentre:
        v = _recentre(adapter, objective, v)
    shape_free = torch.tensor([s.shape_free for s in starts])
    hands = bool((targets.conf["left_hand"].sum() + targets.conf["right_hand"].sum()) > 0)
    face = bool(targets.conf["face"].sum() > 0)
    if face and not temporal.face_when_carried:
        face = any(lm.face_2d is not None and not lm.extras.get("parts_age", 0)
                   for lm in landmarks)
    stages = warm_stages(temporal, bool(shape_free.any()), hands, face)
    # the skeleton surrogate depends on the shape (and other non-pose variables) only, which
    # the pose start keeps: built once, it judges the starts and runs the first stage
    surrogate: SkeletonSurrogate | None = None
    if any(st.surrogate for st in stages):
        surrogate = SkeletonSurrogate(adapter, maps, v)
    if temporal.start != "previous":
        v = _pose_start(adapter, objective, v, temporal.start, config.limb_ik, surrogate)
    if temporal.weight > 0:
        objective.extra_terms = TemporalTerm(*_past_joints(adapter, starts, dt), temporal)
    timings["init"] = time.perf_counter() - t0

    packer = Packer(v, adapter.variable_scales)
    x = packer.pack(v)
    carried: LBFGSMemory | None = None
    fitted = adapter.fitted_variables()
    for stage in stages:
        t1 = time.perf_counter()
        if stage.surrogate and surrogate is None:
            surrogate = SkeletonSurrogate(adapter, maps, packer.unpack(x))
        free = [it for it in stage.variables if (it if isinstance(it, str) else it[0]) in fitted]
        names = frozenset(it if isinstance(it, str) else it[0] for it in free)
        mask = packer.mask(free, x.dtype, x.device).expand(x.shape[0], -1).clone()
        if "shape" in names:  # settled people keep their shape
            a, b = packer.slices["shape"]
            mask[~shape_free, a:b] = 0.0
        model = surrogate if stage.surrogate else None

        def fn(xx: torch.Tensor, _w: Any = stage.weights, _free: Any = names,
               _m: Any = model) -> torch.Tensor:
            vv = {k: (t if k in _free else t.detach()) for k, t in packer.unpack(xx).items()}
            return objective(vv, _w, _m)[0]

        memory = _batch_memory(starts, x) if stage.name == "warm" else None
        res = batched_lbfgs(fn, x, mask, stage.iterations, history=config.history,
                            memory=memory)
        x = res.x
        if stage.name == "warm" and res.memory is not None:
            carried = res.memory
        if "shape" in names:
            surrogate = None
        timings[stage.name] = time.perf_counter() - t1

    t2 = time.perf_counter()
    v = packer.unpack(x)
    with torch.no_grad():
        final = stages[-1].weights if stages else LossWeights()
        output = adapter.forward(v)
        kp = objective.keypoints(output)
        # the loss from the same evaluation (the objective takes any joints/keypoints source)
        loss, terms = objective(v, final, lambda _v: (output.joints, kp))
    estimates = _export(adapter, v, None, kp, targets, landmarks, intrinsics, loss, terms)
    if carried is not None:
        for i, est in enumerate(estimates):
            est.extras["lbfgs_memory"] = (carried.s[:, i].numpy().copy(),
                                          carried.y[:, i].numpy().copy(),
                                          float(carried.gamma[i]))
    timings["export"] = time.perf_counter() - t2
    timings["fit"] = time.perf_counter() - t0
    return estimates
