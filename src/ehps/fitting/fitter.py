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
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from ehps.detection.base import PersonLandmarks
from ehps.fitting.adapters import BodyAdapter, make_adapter
from ehps.fitting.camera_init import ray_rotation
from ehps.fitting.landmarks import PARTS, LandmarkMap, detected_targets, landmark_maps
from ehps.fitting.objective import LIMB_SEGMENTS, FitTargets, LossWeights, Objective, project
from ehps.fitting.optimizer import Packer, Stage, batched_lbfgs
from ehps.fitting.skeleton import SkeletonSurrogate
from ehps.fitting.starts import START_KINDS, best_rows, candidate_starts, closed_form_start
from ehps.geometry.camera import Intrinsics
from ehps.structures import PersonEstimate

__all__ = ["FitConfig", "default_stages", "fit_people", "reprojection_errors"]

_LAST_FACE_POINT = 10  # body points 0-10: nose, eyes, ears, mouth
_LOWER_BODY = (23, 24, 25, 26, 27, 28)  # hips, knees, ankles


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
        pose_prior: ``"mixture"``: the Gaussian-mixture body-pose prior fitted on synthetic
            poses (:mod:`~ehps.fitting.mixture_prior`) with weight ``mixture_weight``, the
            quadratic prior scaled by ``standing_prior_scale``; ``"standing"``: only the
            quadratic prior around a relaxed standing pose.
        mixture_weight: weight of the mixture prior (nats) in every stage.
        standing_prior_scale: factor on the quadratic prior's weight when ``pose_prior`` is
            ``"mixture"``.
        world_weight: factor on the world-landmark limb-direction weight of every stage.
        world_conf_power: a limb direction counts with ``min(conf) ** world_conf_power``.
        world_outside_weight: confidence factor of world landmarks whose 2D point lies outside
            the image (their 3D position is a guess, like their 2D one).
        upright_weight: weight of the upright prior (sin^2 of the torso's lean in depth;
            :class:`~ehps.fitting.objective.LossWeights`), in every stage.
        upright_floor: share of the upright prior for a person whose lower body is fully seen
            (a person whose hips, knees and ankles are unseen gets the full weight).
        world_consistency: lower the weight of a world-landmark limb direction whose image-plane
            part contradicts the 2D points (the cosine between the two directions falls from 1
            at 30 degrees to 0 at 75 degrees; limbs pointing at the camera are not judged).
        starts: the start variants (:data:`~ehps.fitting.starts.START_KINDS`); with more than
            one, every person is fitted from each through ``select_after`` and keeps the start
            with the lowest loss. The extra starts ``"prior"`` and ``"leg_l"``/``"leg_r"`` were
            measured on issue 19's hard-pose sets (``benchmarks/fit_hard_poses.py``, configs
            ``d+prior``, ``d+legs``) and are off by default.
        select_after: the stage after which the best start is kept.
        visibility_floor: a body landmark's confidence becomes ``presence * (floor + (1 -
            floor) * visibility)`` instead of the detector's ``visibility * presence``, when
            the detector reports both (``extras["visibility"]``, ``extras["presence"]``, as
            the embedded detector does). BlazePose's visibility says whether a point is hidden,
            not whether it is well placed: a raised arm behind the head keeps its place but
            gets visibility 0.2, and without the floor the fit leaves that arm hanging at the
            prior's rest pose. 0 keeps the detector's confidence (the fitter before issue 19's
            second hard-pose round: ``benchmarks/fit_hard_poses.py`` config ``d-vis``); 0.5
            took the hard-pose set from 61.7 to 49.9 mm PA-MPJPE (seed 0) with the ordinary set
            unchanged within noise.
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
    pose_prior: str = "mixture"
    mixture_weight: float = 0.2
    standing_prior_scale: float = 0.0
    world_weight: float = 1.0
    world_conf_power: float = 2.0
    world_outside_weight: float = 1.0
    upright_weight: float = 0.0
    upright_floor: float = 0.2
    world_consistency: bool = False
    starts: tuple[str, ...] = ("world",)
    select_after: str = "body"
    visibility_floor: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.visibility_floor <= 1.0:
            raise ValueError(f"visibility_floor must be in [0, 1], got {self.visibility_floor}")
        if self.pose_prior not in ("mixture", "standing"):
            raise ValueError(f"pose_prior must be 'mixture' or 'standing', got {self.pose_prior!r}")
        bad = [k for k in self.starts if k not in START_KINDS]
        if not self.starts or bad:
            raise ValueError(f"starts must be a non-empty tuple of {START_KINDS}, got "
                             f"{self.starts!r}")
        if len(self.starts) > 1 and self.select_after not in [st.name for st in self.stages]:
            raise ValueError(f"select_after {self.select_after!r} is not a stage name")

    def stage_weights(self, weights: LossWeights) -> LossWeights:
        """A stage's weights with this configuration's global factors applied."""
        mixture = self.pose_prior == "mixture"
        return weights.with_(
            limb_dirs=weights.limb_dirs * self.world_weight,
            limb_conf_power=self.world_conf_power,
            body_prior=weights.body_prior * (self.standing_prior_scale if mixture else 1.0),
            mixture_prior=self.mixture_weight if mixture else 0.0,
            upright=self.upright_weight,
            upright_floor=self.upright_floor,
        )

    @classmethod
    def baseline(cls) -> FitConfig:
        """The fitter as it was before issue 19 (for side-by-side benchmarks)."""
        return cls(pose_prior="standing", world_weight=1.0, world_conf_power=2.0,
                   world_outside_weight=1.0, upright_weight=0.0, starts=("world",),
                   visibility_floor=0.0)

    @classmethod
    def levers(cls) -> dict[str, FitConfig]:
        """Single changes on top of :meth:`baseline`, by name (for benchmarks)."""
        base = cls.baseline()
        return {
            "+mixture": replace(base, pose_prior="mixture", mixture_weight=0.005),
            "+mixture_lo": replace(base, pose_prior="mixture", mixture_weight=0.002),
            "+mixture_hi": replace(base, pose_prior="mixture", mixture_weight=0.012),
            "+mixture_05": replace(base, pose_prior="mixture", mixture_weight=0.05),
            "+mixture_10": replace(base, pose_prior="mixture", mixture_weight=0.1),
            "+mixture_20": replace(base, pose_prior="mixture", mixture_weight=0.2),
            "+mixture_50": replace(base, pose_prior="mixture", mixture_weight=0.5),
            "+mixture_100": replace(base, pose_prior="mixture", mixture_weight=1.0),
            "+world_x2": replace(base, world_weight=2.0),
            "+world_x0.5": replace(base, world_weight=0.5),
            "+world_p1": replace(base, world_conf_power=1.0),
            "+world_out": replace(base, world_outside_weight=0.3),
            "+world_consist": replace(base, world_consistency=True),
            "+upright": replace(base, upright_weight=4.0),
            "+upright16": replace(base, upright_weight=16.0),
            "+upright16_f05": replace(base, upright_weight=16.0, upright_floor=0.05),
            "+upright4_f0": replace(base, upright_weight=4.0, upright_floor=0.0),
            "+upright16_f0": replace(base, upright_weight=16.0, upright_floor=0.0),
            "+starts": replace(base, starts=("world", "upright", "rest")),
            "+flip": replace(base, starts=("world", "flip")),
        }


def _part_points(p: PersonLandmarks) -> tuple[dict[str, np.ndarray | None], dict[str, Any]]:
    pts = {"body": p.body_2d, "left_hand": p.left_hand_2d, "right_hand": p.right_hand_2d,
           "face": p.face_2d}
    conf = {"body": p.body_conf, "left_hand": p.left_hand_conf,
            "right_hand": p.right_hand_conf, "face": p.face_conf}
    return pts, conf


def floored_confidence(person: PersonLandmarks, floor: float) -> PersonLandmarks:
    """The person with body confidences ``presence * (floor + (1 - floor) * visibility)`` (see
    :attr:`FitConfig.visibility_floor`); unchanged when ``floor`` is 0 or the detector does not
    report visibility and presence separately.

    Args:
        person: detected landmarks; ``extras["visibility"]``, ``extras["presence"]``: (33,).
        floor: in [0, 1].
    """
    vis, pres = person.extras.get("visibility"), person.extras.get("presence")
    if floor <= 0.0 or vis is None or pres is None:
        return person
    vis, pres = np.asarray(vis, np.float64), np.asarray(pres, np.float64)
    if vis.shape != person.body_conf.shape or pres.shape != person.body_conf.shape:
        return person
    conf = np.clip(pres * (floor + (1.0 - floor) * vis), 0.0, 1.0)
    return replace(person, body_conf=conf.astype(person.body_conf.dtype))


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
    people = [floored_confidence(p, config.visibility_floor) for p in people]
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
    inside = ((body2d[..., 0] >= 0) & (body2d[..., 0] <= w) & (body2d[..., 1] >= 0)
              & (body2d[..., 1] <= h))
    if config.world_outside_weight != 1.0:
        world_conf = torch.where(inside, world_conf, world_conf * config.world_outside_weight)
    lower = list(_LOWER_BODY)
    seen = inside[:, lower] & (torch.as_tensor(np.stack([p.body_conf for p in people]),
                                               dtype=dt)[:, lower] >= 0.5)
    lower_body_unseen = 1.0 - seen.to(dt).mean(1)
    segment_weight = None
    hip_px = 0.5 * (body2d[:, 23] + body2d[:, 24])
    if config.ray_correction:
        rot = ray_rotation(hip_px, focal, princpt)
        world = world @ rot.transpose(1, 2)
    if config.world_consistency:
        segment_weight = _segment_consistency(body2d, world)
    return FitTargets(
        points={p: torch.as_tensor(np.stack(pts_b[p]), dtype=dt) for p in PARTS},
        conf={p: torch.as_tensor(np.stack(conf_b[p]), dtype=dt) for p in PARTS},
        report_conf={p: np.stack(report_b[p]) for p in PARTS},
        scale={p: torch.tensor(scale_b[p], dtype=dt) for p in PARTS},
        world=world,
        world_conf=world_conf,
        focal=focal,
        princpt=princpt,
        lower_body_unseen=lower_body_unseen,
        segment_weight=segment_weight,
    )


def _segment_consistency(body2d: torch.Tensor, world: torch.Tensor, judge: float = 0.5,
                         cos_hi: float = math.cos(math.radians(30.0)),
                         cos_lo: float = math.cos(math.radians(75.0))) -> torch.Tensor:
    """(B, S) agreement of each limb segment's world direction with its 2D direction: 1 when
    the image-plane part of the world direction is within 30 degrees of the 2D one, falling to 0
    at 75 degrees; 1 for segments whose world direction is mostly along the viewing axis (its
    image-plane part below ``judge`` of its length), where 2D directions say little."""
    seg = torch.as_tensor(LIMB_SEGMENTS)
    d2 = body2d[:, seg[:, 1]] - body2d[:, seg[:, 0]]
    dw = world[:, seg[:, 1]] - world[:, seg[:, 0]]
    planar = dw[..., :2].norm(dim=-1)
    cos = (d2 * dw[..., :2]).sum(-1) / (d2.norm(dim=-1) * planar).clamp_min(1e-9)
    agree = ((cos - cos_lo) / (cos_hi - cos_lo)).clamp(0.0, 1.0)
    judged = planar > judge * dw.norm(dim=-1)
    return torch.where(judged, agree, torch.ones_like(agree))


def initialise(adapter: BodyAdapter, objective: Objective, v: dict[str, torch.Tensor],
               use_ik: bool = True, kind: str = "world") -> dict[str, torch.Tensor]:
    """Closed-form orientation, limb pose (``use_ik``) and translation (module docstring,
    step 2; :func:`ehps.fitting.starts.closed_form_start`)."""
    return closed_form_start(adapter, objective, v, use_ik, kind)


def fit_people(
    image_hw: tuple[int, int],
    landmarks: Sequence[PersonLandmarks],
    body_model: Any,
    intrinsics: Intrinsics | None = None,
    config: FitConfig | None = None,
    timings: dict[str, float] | None = None,
    initial: Sequence[dict[str, Any] | None] | None = None,
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
        initial: optional, per person, a starting solution that replaces the closed-form starts
            (e.g. the previous video frame's ``extras["fit_variables"]`` of the same person;
            any subset of the fit variables, the rest start from the defaults), or ``None``
            for the closed-form starts.
        meshes: run the full body model on the result (``vertices_cam``, ``joints_cam``,
            ``joints_img``); ``False`` leaves them empty for a caller that poses the parameters
            itself (the inference pipeline's pose stage), so the body model runs once.

    Returns:
        One :class:`PersonEstimate` per input person, in input order. Its ``params`` follow
        ``PersonEstimate``'s layout; ``transl_full == params["transl"]`` (the fit's camera is the
        shared image camera); ``extras`` holds ``"reproj_px"`` (median pixel error per part),
        ``"keypoints_2d"`` (fitted model points per part), ``"fit_loss"``, ``"fit_start"`` (the
        start variant kept, or ``"given"``) and ``"fit_variables"`` (the raw fit variables, a
        valid ``initial`` entry).
    """
    config = config or FitConfig()
    h, w = int(image_hw[0]), int(image_hw[1])
    intrinsics = intrinsics or Intrinsics.from_image_size(w, h)
    if len(landmarks) == 0:
        return []
    if initial is not None and len(initial) != len(landmarks):
        raise ValueError(f"{len(initial)} initial solutions for {len(landmarks)} people")
    timings = timings if timings is not None else {}
    with _threads(config.num_threads):
        return _fit(h, w, landmarks, body_model, intrinsics, config, timings, initial, meshes)


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


def _mixture(config: FitConfig) -> Any:
    if config.pose_prior != "mixture":
        return None
    from ehps.fitting.mixture_prior import default_prior

    return default_prior()


def _run_stages(stages: Sequence[Stage], x: torch.Tensor, packer: Packer, adapter: BodyAdapter,
                maps: dict[str, LandmarkMap], objective: Objective, config: FitConfig,
                timings: dict[str, float]) -> torch.Tensor:
    """Run optimisation stages from the packed variables ``x`` (R, P)."""
    surrogate: SkeletonSurrogate | None = None
    for stage in stages:
        t1 = time.perf_counter()
        if stage.surrogate and surrogate is None:
            surrogate = SkeletonSurrogate(adapter, maps, packer.unpack(x))
        free = [item for item in stage.variables
                if (item if isinstance(item, str) else item[0]) in adapter.fitted_variables()]
        names = [item if isinstance(item, str) else item[0] for item in free]
        mask = packer.mask(free, x.dtype, x.device)
        weights = config.stage_weights(stage.weights)

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
        timings[stage.name] = timings.get(stage.name, 0.0) + time.perf_counter() - t1
    return x


def _fit(h: int, w: int, landmarks: Sequence[PersonLandmarks], body_model: Any,
         intrinsics: Intrinsics, config: FitConfig, timings: dict[str, float],
         initial: Sequence[dict[str, Any] | None] | None = None,
         meshes: bool = True) -> list[PersonEstimate]:
    t0 = time.perf_counter()
    b = len(landmarks)
    adapter = make_adapter(body_model)
    maps = landmark_maps(body_model)
    targets = build_targets(landmarks, maps, (h, w), intrinsics, config)
    mixture = _mixture(config)
    objective = Objective(adapter, maps, targets, mixture)
    v0 = adapter.init_variables(b, config.dtype, torch.device("cpu"))
    v, person, row_kind = candidate_starts(adapter, objective, v0, config.starts,
                                           config.limb_ik, initial)
    timings["init"] = time.perf_counter() - t0

    packer = Packer(v, adapter.variable_scales)
    x = packer.pack(v)
    stages = list(config.stages)
    if len(person) > b:  # several starts: fit each through `select_after`, keep the best
        cut = [st.name for st in stages].index(config.select_after) + 1
        rows_objective = Objective(adapter, maps, targets.take(person), mixture)
        x = _run_stages(stages[:cut], x, packer, adapter, maps, rows_objective, config, timings)
        with torch.no_grad():
            weights = config.stage_weights(stages[cut - 1].weights)
            loss, _ = rows_objective(packer.unpack(x), weights)
        best = best_rows(loss, person, b)
        x = x[best]
        start_kind = [config.starts[int(row_kind[r])] for r in best]
        packer = Packer(packer.unpack(x), adapter.variable_scales)
        stages = stages[cut:]
    else:
        start_kind = [config.starts[int(k)] for k in row_kind]
    if initial is not None:
        start_kind = ["given" if g is not None else k for g, k in zip(initial, start_kind)]
    x = _run_stages(stages, x, packer, adapter, maps, objective, config, timings)

    t2 = time.perf_counter()
    v = packer.unpack(x)
    with torch.no_grad():
        last = config.stages[-1].weights if config.stages else LossWeights()
        loss, terms = objective(v, config.stage_weights(last))
        kp = objective.keypoints(adapter.forward(v))
        output = adapter.forward(v, full=True) if meshes else None
    estimates = _export(adapter, v, output, kp, targets, landmarks, intrinsics, loss, terms)
    for i, est in enumerate(estimates):
        est.extras["fit_start"] = start_kind[i]
        est.extras["fit_variables"] = {k: t[i].detach().cpu().numpy().copy()
                                       for k, t in v.items()}
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
