"""Fit body-model parameters to the whole-body landmarks of every person in an image.

Pipeline (batched over people, CPU, float32, deterministic):

1. targets: detected points mapped onto the model's points (:mod:`ehps.fitting.landmarks`),
   confidences (points outside the image count less), part sizes, world landmarks rotated from
   each person's viewing ray into the camera frame;
2. closed-form start: orientation by weighted Kabsch between the rest model's torso and the world
   landmarks, arms and legs by analytic limb IK on the world landmarks' directions, translation
   by linear least squares on the body pixels (:mod:`ehps.fitting.camera_init`);
3. staged batched L-BFGS (:mod:`ehps.fitting.optimizer`, schedule :func:`default_stages`):
   camera and orientation on the torso, body pose and shape, hands, face, then everything; the
   early stages evaluate a mesh-free skeleton surrogate (:mod:`ehps.fitting.skeleton`), the late
   ones the body model (for Anny its landmark view, :mod:`ehps.fitting.fast_anny`);
4. results as :class:`ehps.structures.PersonEstimate` (same layout as a network prediction),
   with the full mesh from the body model.

Robustness: Geman-McClure 2D residuals weighted by confidence (points below ``min_conf`` are
ignored, points outside the image count less), world-landmark directions weighted by the square
of their confidence (occluded limbs follow the pose prior, a relaxed standing pose), joint limits
(no backward knees or elbows), and a penalty keeping wrists, elbows, knees and ankles out of the
torso, the head and the other leg.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ehps.detection.base import PersonLandmarks
from ehps.fitting.adapters import BodyAdapter, make_adapter
from ehps.fitting.camera_init import (
    align_orientation,
    depth_from_height,
    limb_ik,
    ray_rotation,
    solve_translation,
)
from ehps.fitting.landmarks import PARTS, LandmarkMap, detected_targets, landmark_maps
from ehps.fitting.objective import FitTargets, LossWeights, Objective, project
from ehps.fitting.optimizer import Packer, Stage, batched_lbfgs
from ehps.fitting.skeleton import SkeletonSurrogate
from ehps.geometry.camera import Intrinsics
from ehps.geometry.rotations import rotmat_to_aa
from ehps.structures import PersonEstimate

__all__ = ["FitConfig", "default_stages", "fit_people", "reprojection_errors"]

_INIT_TORSO = (11, 12, 23, 24)  # shoulders, hips (world-landmark orientation)
_INIT_TRANSL = (0, 2, 5, 7, 8, 11, 12, 23, 24)  # head and torso points (translation)
_LAST_FACE_POINT = 10  # body points 0-10: nose, eyes, ears, mouth


#: body_pose rows (SMPL-X joint - 1) of the forearms and wrists, and of the neck and head
ARM_ROWS: tuple[int, ...] = (17, 18, 19, 20)
HEAD_ROWS: tuple[int, ...] = (11, 14)


def default_stages() -> tuple[Stage, ...]:
    """The default schedule (iterations of the batched L-BFGS):

    1. ``camera``: orientation and translation on the torso and head points;
    2. ``body``: + body pose and shape, body points and world-landmark limb directions;
    3. ``hands``: finger poses with the forearms and wrists, hand points with a wide robust scale
       (the flat-hand start is far from most hands);
    4. ``face``: facial actions / expression and jaw with the neck and head;
    5. ``full``: everything but the shape, all points, final robust scales.

    ``camera``, ``body`` and ``hands`` evaluate the mesh-free skeleton surrogate (shape enters
    through its linearisation); ``face`` and ``full`` the exact model with the shape frozen (for
    Anny a free phenotype would rebuild the rest model at every evaluation).
    """
    base = LossWeights()
    no_parts = {"body": 1.0, "left_hand": 0.0, "right_hand": 0.0, "face": 0.0}
    body_only = base.with_(data=no_parts, sigma={**base.sigma, "body": 0.1}, limb_dirs=20.0)
    cam = ("global_orient", "transl")
    hands = ("left_hand_pose", "right_hand_pose")
    face = ("face", "jaw_pose")
    return (
        Stage("camera", cam, 12, body_only.with_(torso_only=True), surrogate=True),
        Stage("body", (*cam, "body_pose", "shape"), 30, body_only, surrogate=True),
        Stage(
            "hands",
            (*hands, ("body_pose", ARM_ROWS)),
            45,
            base.with_(
                data={"body": 0.3, "left_hand": 1.0, "right_hand": 1.0, "face": 0.0},
                sigma={**base.sigma, "left_hand": 0.4, "right_hand": 0.4},
                limb_dirs=5.0,
            ),
            surrogate=True,
        ),
        Stage(
            "face",
            (*face, ("body_pose", HEAD_ROWS)),
            12,
            base.with_(
                data={"body": 0.3, "left_hand": 0.0, "right_hand": 0.0, "face": 1.0},
                sigma={**base.sigma, "face": 0.3},
                limb_dirs=5.0,
            ),
        ),
        Stage(
            "full",
            (*cam, "body_pose", *hands, *face),
            20,
            base.with_(data={**base.data, "face": 0.75}, limb_dirs=10.0),
        ),
    )


@dataclass
class FitConfig:
    """Options of :func:`fit_people`.

    Attributes:
        stages: the optimisation schedule (default :func:`default_stages`).
        outside_weight: confidence factor of landmarks that fall outside the image.
        min_conf: confidences below this are treated as 0.
        face_overlap: weight factor of the pose model's face points (nose, eyes, ears, mouth)
            when the face mesh was found (they duplicate it, less precisely; lowering this
            trades body-point error for face-point error).
        history: L-BFGS history size.
        limb_ik: start arms and legs from the analytic limb directions of the world landmarks.
        ray_correction: rotate each person's world landmarks from its viewing ray into the
            camera frame (mediapipe estimates them from a crop centred on the person).
        num_threads: torch intra-op threads during the fit (restored afterwards); ``None``
            keeps the current setting. The fit is thousands of small tensor operations, for
            which extra threads only add synchronisation (``benchmarks/fit_speed.py`` compares).
        dtype: computation dtype (float32 is enough and twice as fast as float64).
    """

    stages: tuple[Stage, ...] = field(default_factory=default_stages)
    outside_weight: float = 0.3
    min_conf: float = 0.2
    face_overlap: float = 1.0
    history: int = 10
    limb_ik: bool = True
    num_threads: int | None = 1
    ray_correction: bool = True
    dtype: torch.dtype = torch.float32


def _part_points(p: PersonLandmarks) -> tuple[dict[str, np.ndarray | None], dict[str, Any]]:
    pts = {"body": p.body_2d, "left_hand": p.left_hand_2d, "right_hand": p.right_hand_2d,
           "face": p.face_2d}
    conf = {"body": p.body_conf, "left_hand": p.left_hand_conf,
            "right_hand": p.right_hand_conf, "face": p.face_conf}
    return pts, conf


def _extent(points: np.ndarray, conf: np.ndarray, floor: float) -> float:
    sel = points[conf > 0] if (conf > 0).any() else points
    if len(sel) == 0:
        return floor
    span = sel.max(0) - sel.min(0)
    return float(max(floor, float(span.max())))


def build_targets(
    people: Sequence[PersonLandmarks],
    maps: dict[str, LandmarkMap],
    image_hw: tuple[int, int],
    intrinsics: Intrinsics,
    config: FitConfig,
) -> FitTargets:
    """Batched :class:`FitTargets` of the people (see the module docstring, step 1)."""
    h, w = image_hw
    dt = config.dtype
    pts_b: dict[str, list[np.ndarray]] = {p: [] for p in PARTS}
    conf_b: dict[str, list[np.ndarray]] = {p: [] for p in PARTS}
    scale_b: dict[str, list[float]] = {p: [] for p in PARTS}
    report_b: dict[str, list[np.ndarray]] = {p: [] for p in PARTS}
    for person in people:
        points, conf = _part_points(person)
        mapped = detected_targets(maps, points, conf)
        face_found = mapped["face"][1].max() > 0 if len(mapped["face"][1]) else False
        for part in PARTS:
            tgt, c = mapped[part]
            report_b[part].append(c.astype(np.float32))
            if part == "body" and face_found and config.face_overlap != 1.0:
                # the pose model's face points duplicate the (far more precise) face mesh
                c = c * np.where(np.arange(len(c)) <= _LAST_FACE_POINT, config.face_overlap, 1.0)
            inside = (
                (tgt[:, 0] >= 0) & (tgt[:, 0] <= w) & (tgt[:, 1] >= 0) & (tgt[:, 1] <= h)
            )
            c = np.where(inside, c, c * config.outside_weight)
            c = np.where(c >= config.min_conf, c, 0.0).astype(np.float32)
            pts_b[part].append(tgt[:, :2])
            conf_b[part].append(c)
            if part == "body":
                bw, bh = float(person.bbox_xywh[2]), float(person.bbox_xywh[3])
                scale_b[part].append(max(bh, bw, 16.0))
            else:
                scale_b[part].append(_extent(tgt[:, :2], c, 8.0))
    focal = torch.tensor(intrinsics.focal, dtype=dt)
    princpt = torch.tensor(intrinsics.princpt, dtype=dt)
    world = torch.as_tensor(np.stack([p.body_world for p in people]), dtype=dt)
    world_conf = torch.as_tensor(np.stack([p.body_conf for p in people]), dtype=dt)
    # rotate each person's world landmarks from its viewing ray into the camera frame
    body2d = torch.as_tensor(np.stack([p.body_2d for p in people]), dtype=dt)
    hip_px = 0.5 * (body2d[:, 23] + body2d[:, 24])
    if config.ray_correction:
        rot = ray_rotation(hip_px, focal, princpt)
        world = world @ rot.transpose(1, 2)
    return FitTargets(
        points={p: torch.as_tensor(np.stack(pts_b[p]), dtype=dt) for p in PARTS},
        conf={p: torch.as_tensor(np.stack(conf_b[p]), dtype=dt) for p in PARTS},
        report_conf={p: np.stack(report_b[p]) for p in PARTS},
        scale={p: torch.tensor(scale_b[p], dtype=dt) for p in PARTS},
        world=world,
        world_conf=world_conf,
        focal=focal,
        princpt=princpt,
    )


@torch.no_grad()
def initialise(adapter: BodyAdapter, objective: Objective, v: dict[str, torch.Tensor],
               use_ik: bool = True) -> dict[str, torch.Tensor]:
    """Closed-form orientation, limb pose (``use_ik``) and translation (module docstring,
    step 2)."""
    t = objective.targets
    rest_out = adapter.forward(v)  # model frame, zero pose
    rest = objective.keypoints(rest_out)["body"]
    idx = list(_INIT_TORSO)
    wconf = t.world_conf[:, idx].clamp_min(0.05)
    rot = align_orientation(rest[:, idx], t.world[:, idx], wconf)
    v = dict(v)
    v["global_orient"] = rotmat_to_aa(rot)
    if use_ik:
        rest_pose = objective.body_prior_mean.expand_as(v["body_pose"])
        pose = limb_ik(rest_out.joints[:, :55], rot, t.world, t.world_conf, fallback=rest_pose)
        lim = objective.body_limits
        v["body_pose"] = torch.minimum(torch.maximum(pose, lim[..., 0]), lim[..., 1])
    oriented = objective.keypoints(adapter.forward(v))["body"]  # camera orientation, no transl
    idx = list(_INIT_TRANSL) if not use_ik else list(range(33))
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


def fit_people(
    image_hw: tuple[int, int],
    landmarks: Sequence[PersonLandmarks],
    body_model: Any,
    intrinsics: Intrinsics | None = None,
    config: FitConfig | None = None,
    timings: dict[str, float] | None = None,
    meshes: bool = True,
) -> list[PersonEstimate]:
    """Fit a body model to every person's landmarks (one batched optimisation).

    Args:
        image_hw: (height, width) of the image the landmarks are in, pixels.
        landmarks: one :class:`PersonLandmarks` per person (pixels of that image).
        body_model: an ``AnnyBody`` or ``SMPLX`` instance (the body-model protocol).
        intrinsics: the camera; default :meth:`Intrinsics.from_image_size` (focal = diagonal).
        config: fit options.
        timings: if given, filled with seconds per step (``"init"``, each stage's name,
            ``"export"``, and ``"fit"`` for the whole fit).
        meshes: run the full body model on the result (``vertices_cam``, ``joints_cam``,
            ``joints_img``); ``False`` leaves them empty for a caller that poses the parameters
            itself (the inference pipeline's pose stage), so the body model runs once.

    Returns:
        One :class:`PersonEstimate` per input person, in input order. Its ``params`` follow
        ``PersonEstimate``'s layout; ``transl_full == params["transl"]`` (the fit's camera is the
        shared image camera); ``extras`` holds ``"reproj_px"`` (median pixel error per part),
        ``"keypoints_2d"`` (fitted model points per part) and ``"fit_loss"``.
    """
    config = config or FitConfig()
    h, w = int(image_hw[0]), int(image_hw[1])
    intrinsics = intrinsics or Intrinsics.from_image_size(w, h)
    if len(landmarks) == 0:
        return []
    timings = timings if timings is not None else {}
    with _threads(config.num_threads):
        return _fit(h, w, landmarks, body_model, intrinsics, config, timings, meshes)


@contextlib.contextmanager
def _threads(n: int | None) -> Iterator[None]:
    previous = torch.get_num_threads()
    if n is not None and n != previous:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


def _fit(h: int, w: int, landmarks: Sequence[PersonLandmarks], body_model: Any,
         intrinsics: Intrinsics, config: FitConfig, timings: dict[str, float],
         meshes: bool = True) -> list[PersonEstimate]:
    t0 = time.perf_counter()
    adapter = make_adapter(body_model)
    maps = landmark_maps(body_model)
    targets = build_targets(landmarks, maps, (h, w), intrinsics, config)
    objective = Objective(adapter, maps, targets)
    v = adapter.init_variables(len(landmarks), config.dtype, torch.device("cpu"))
    v = initialise(adapter, objective, v, use_ik=config.limb_ik)
    timings["init"] = time.perf_counter() - t0

    packer = Packer(v, adapter.variable_scales)
    x = packer.pack(v)
    surrogate: SkeletonSurrogate | None = None
    for stage in config.stages:
        t1 = time.perf_counter()
        if stage.surrogate and surrogate is None:
            surrogate = SkeletonSurrogate(adapter, maps, packer.unpack(x))
        free = [item for item in stage.variables
                if (item if isinstance(item, str) else item[0]) in adapter.fitted_variables()]
        names = [item if isinstance(item, str) else item[0] for item in free]
        mask = packer.mask(free, x.dtype, x.device)
        weights = stage.weights

        model = surrogate if stage.surrogate else None

        def fn(xx: torch.Tensor, _w: Any = weights, _free: Any = frozenset(names),
               _m: Any = model) -> torch.Tensor:
            # frozen variables enter as constants: no gradient work, and Anny's rest model
            # stays memoised while the phenotype is frozen
            vv = {k: (t if k in _free else t.detach()) for k, t in packer.unpack(xx).items()}
            return objective(vv, _w, _m)[0]

        res = batched_lbfgs(fn, x, mask, stage.iterations, history=config.history)
        x = res.x
        if "shape" in names:
            surrogate = None  # the rest skeleton changed
        timings[stage.name] = time.perf_counter() - t1

    t2 = time.perf_counter()
    v = packer.unpack(x)
    with torch.no_grad():
        final_weights = config.stages[-1].weights if config.stages else LossWeights()
        loss, terms = objective(v, final_weights)
        kp = objective.keypoints(adapter.forward(v))
        output = adapter.forward(v, full=True) if meshes else None
    estimates = _export(adapter, v, output, kp, targets, landmarks, intrinsics, loss, terms)
    timings["export"] = time.perf_counter() - t2
    timings["fit"] = time.perf_counter() - t0
    return estimates


def reprojection_errors(kp2d: dict[str, np.ndarray], targets: dict[str, np.ndarray],
                        conf: dict[str, np.ndarray], min_conf: float = 0.5
                        ) -> dict[str, float]:
    """Median pixel distance per part between fitted and detected points whose *detector*
    confidence is >= min_conf (NaN for a part without such points)."""
    out = {}
    for part in PARTS:
        sel = conf[part] >= min_conf
        if not sel.any():
            out[part] = float("nan")
            continue
        d = np.linalg.norm(kp2d[part][sel] - targets[part][sel], axis=-1)
        out[part] = float(np.median(d))
    return out


def _export(
    adapter: BodyAdapter,
    v: dict[str, torch.Tensor],
    output: Any,
    kp: dict[str, torch.Tensor],
    targets: FitTargets,
    people: Sequence[PersonLandmarks],
    intrinsics: Intrinsics,
    loss: torch.Tensor,
    terms: dict[str, torch.Tensor],
) -> list[PersonEstimate]:
    params = adapter.export_params(v)
    n = len(people)
    if output is None:  # meshes left to the caller
        verts, joints = np.zeros((n, 0, 3), np.float32), np.zeros((n, 0, 3), np.float32)
        joints_img = np.zeros((n, 0, 2), np.float32)
    else:
        verts = output.vertices.detach().cpu().numpy().astype(np.float32)
        joints = output.joints.detach().cpu().numpy().astype(np.float32)
        focal = torch.tensor(intrinsics.focal, dtype=output.joints.dtype)
        princpt = torch.tensor(intrinsics.princpt, dtype=output.joints.dtype)
        joints_img = project(output.joints, focal, princpt).cpu().numpy().astype(np.float32)
    kp2d = {p: project(k, targets.focal, targets.princpt).cpu().numpy() for p, k in kp.items()}
    out = []
    for i, person in enumerate(people):
        kpi = {p: kp2d[p][i] for p in PARTS}
        tgt = {p: targets.points[p][i].cpu().numpy() for p in PARTS}
        cf = {p: targets.report_conf[p][i] for p in PARTS}
        errs = reprojection_errors(kpi, tgt, cf)
        transl = params[i]["transl"].reshape(3).copy()
        out.append(
            PersonEstimate(
                bbox_xywh=np.asarray(person.bbox_xywh, np.float32),
                score=float(person.score),
                body_model=adapter.name,
                params=params[i],
                vertices_cam=verts[i],
                joints_cam=joints[i],
                joints_img=joints_img[i],
                intrinsics=intrinsics,
                transl_full=transl,
                estimator=adapter.estimator,
                extras={
                    "reproj_px": errs,
                    "keypoints_2d": kpi,
                    "fit_loss": float(loss[i]),
                    "fit_terms": {k: float(t[i]) for k, t in terms.items()},
                },
            )
        )
    return out
