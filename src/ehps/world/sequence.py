"""The world step over a finished sequence folder: floor, world frame, contacts, foot-skate
cleanup, and the per-track motion that the animation exports play.

:func:`solve_world` reads the folder (:func:`ehps.world.tracks.load_sequence_tracks`), puts every
track on its body model at the track's mean shape (the translation corrected so that the pelvis
stays where ``ehps infer`` put it), fits the floor to everybody's feet
(:func:`ehps.world.floor.fit_floor`), builds the world frame, detects contacts and cleans the foot
skate per track, and returns a :class:`WorldSolution`. :func:`write_world` writes ``world.json``
and the world arrays into ``tracks.npz`` (see :func:`ehps.world.io.world_arrays`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ehps.errors import BodyModelError, EhpsError
from ehps.export.anim.rig import Clip, Rig, build_rig, mean_shape, pose_clip
from ehps.world.contacts import ContactConfig, detect_contacts, horizontal_speed
from ehps.world.floor import (
    FloorConfig,
    FloorFit,
    FootTrack,
    fit_floor,
    foot_heights,
    smooth_time,
)
from ehps.world.floor_refit import refit_floor
from ehps.world.frame import WorldFrame, make_world_frame
from ehps.world.skate import LEGS, CleanupConfig, clean_foot_skate, foot_sliding_mm
from ehps.world.tracks import SequenceTracks, TrackData, load_sequence_tracks
from ehps.world.upright import image_line_normals, standing_axis

__all__ = ["WorldOptions", "TrackMotion", "WorldSolution", "solve_world", "scene_slide"]

log = logging.getLogger(__name__)
_EDGE_MARGIN = 0.02  # a box whose bottom is this close to the image bottom has its feet cut


@dataclass(frozen=True)
class WorldOptions:
    """Options of :func:`solve_world`.

    Attributes:
        up: ``"y"`` or ``"z"``: the up axis of ``world.json`` and the world arrays.
        cleanup: clean the foot skate (needs a floor).
        smplx_path: where to find SMPL-X files for SMPL-X tracks.
        root_smooth_s: the floor fit and the contacts look at the feet relative to the pelvis
            trajectory smoothed over this many seconds (see ``_foot_track``); 0 = raw feet.
        refit_floor: after a first contact detection, refit the floor to the soles of every
            contact frame and detect the contacts again on it
            (:func:`~ehps.world.floor_refit.refit_floor`).
    """

    up: str = "y"
    cleanup: bool = True
    smplx_path: str | None = None
    root_smooth_s: float = 0.15
    refit_floor: bool = True
    floor: FloorConfig = field(default_factory=FloorConfig)
    contacts: ContactConfig = field(default_factory=ContactConfig)
    skate: CleanupConfig = field(default_factory=CleanupConfig)


@dataclass
class TrackMotion:
    """One track on its body model (camera frame unless stated).

    Attributes:
        track: the loaded :class:`~ehps.world.tracks.TrackData`.
        bm: the body model; ``rig``: it at the track's shape.
        params: the parameters at the track's shape (``transl`` (T, 3) shared camera), after the
            cleanup when there was one.
        joints_raw, joints: (T, 55, 3) before / after the cleanup.
        contacts: (T, 2) bool (left, right foot); all False without a floor.
        clearance: (2, 2) rest heights of (ankle, ball of the foot) above the sole.
        body_up: (T, 3) the body's up axis (the pelvis frame's +y).
        sliding_before_mm, sliding_after_mm: mean foot speed in contact (mm/frame).
        change_cm, max_change_cm: mean / largest joint displacement by the cleanup.
        ik_error_mm: largest distance of a locked ankle from its target.
    """

    track: TrackData
    bm: Any
    rig: Rig
    params: dict[str, np.ndarray]
    joints_raw: np.ndarray
    joints: np.ndarray
    contacts: np.ndarray
    clearance: np.ndarray
    body_up: np.ndarray
    sliding_before_mm: float = float("nan")
    sliding_after_mm: float = float("nan")
    change_cm: float = 0.0
    max_change_cm: float = 0.0
    ik_error_mm: float = 0.0

    @property
    def track_id(self) -> int:
        return self.track.track_id

    def clip(self, world_from_camera: np.ndarray, fps: float) -> Clip:
        """The motion as a :class:`~ehps.export.anim.rig.Clip` in a world frame."""
        return pose_clip(self.bm, self.rig, self.params, self.track.frame_index, fps,
                         world_from_model=world_from_camera)


@dataclass
class WorldSolution:
    """Result of :func:`solve_world`."""

    tracks_in: SequenceTracks
    world: WorldFrame
    motions: list[TrackMotion]
    skipped: list[tuple[int, str]]
    slide_m_per_s: float = 0.0
    warnings: list[str] = field(default_factory=list)
    options: WorldOptions = field(default_factory=WorldOptions)

    @property
    def fps(self) -> float:
        return self.tracks_in.fps


class _Models:
    """Body models by name, loaded once (a missing SMPL-X file fails only SMPL-X tracks)."""

    def __init__(self, smplx_path: str | None) -> None:
        self.smplx_path = smplx_path
        self.cache: dict[str, Any] = {}

    def get(self, name: str) -> Any:
        if name not in self.cache:
            try:
                if name == "anny":
                    from ehps.bodymodels.anny import load_anny

                    self.cache[name] = load_anny()
                else:
                    from ehps.bodymodels.paths import find_smplx_dir
                    from ehps.bodymodels.smplx import load_smplx

                    self.cache[name] = load_smplx(find_smplx_dir(self.smplx_path))
            except (BodyModelError, ImportError) as exc:
                self.cache[name] = exc
        model = self.cache[name]
        if isinstance(model, Exception):
            first = str(model).strip().splitlines()[0] if str(model).strip() else repr(model)
            hint = ("; pass --smplx-path DIR or set EHPS_BODY_MODELS (`ehps info` shows where "
                    "ehps looks)") if name == "smplx" else ""
            raise BodyModelError(f"its body model ({name}) is not available: {first}{hint}")
        return model


def _forward(bm: Any, rig: Rig, params: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Joints (T, 55, 3) and SMPL-X global rotations (T, 55, 3, 3), camera frame."""
    import torch

    from ehps.export.anim.rig import FACE_KEYS, SHAPE_KEYS

    n = len(params["transl"])
    keys = ("global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose")
    keys += ("leye_pose", "reye_pose") if rig.body_model == "smplx" else ()
    shape_key = SHAPE_KEYS[rig.body_model]
    joints, rots = [], []
    for s in range(0, n, 128):
        e = min(n, s + 128)
        inp = {k: torch.as_tensor(params[k][s:e], dtype=torch.float32).reshape(e - s, -1)
               for k in (*keys, "transl", FACE_KEYS[rig.body_model]) if k in params}
        inp[shape_key] = torch.as_tensor(rig.shape[shape_key], dtype=torch.float32).expand(
            e - s, -1)
        with torch.inference_mode():
            out = bm(**inp)
        joints.append(out.joints[:, :55].double().numpy())
        rots.append(out.joint_transforms[:, :, :3, :3].double().numpy())
    return np.concatenate(joints), np.concatenate(rots)


def _clearance(rig: Rig) -> np.ndarray:
    """(2, 2) rest heights of (ankle, ball of foot) per foot above the rest sole."""
    rest = rig.markers(rig.bind)
    sole = float(rig.vertices[:, 1].min())
    return np.array([[rest[leg[2], 1] - sole, rest[leg[3], 1] - sole] for leg in LEGS])


def _feet_in_view(track: TrackData, height: int) -> np.ndarray:
    if height <= 0:
        return track.valid.copy()
    bottom = track.bbox_xywh[:, 1] + track.bbox_xywh[:, 3]
    return track.valid & (bottom < height * (1.0 - _EDGE_MARGIN))


def _motion(track: TrackData, models: _Models) -> TrackMotion:
    bm = models.get(track.body_model)
    rig = build_rig(bm, mean_shape(track.body_model, track.params, track.valid))
    params = dict(track.params)
    if track.joints is not None:
        # Keep the pelvis where `ehps infer` put it: the root is the rotation centre of both
        # models, so at the mean shape the pelvis is at rest_root + transl.
        shift = track.joints[:, 0] - (rig.bind[0, :3, 3] + params["transl"])
        v = track.valid
        shift = np.stack([np.interp(np.arange(len(v)), np.flatnonzero(v), shift[v, c])
                          for c in range(3)], 1)
        params["transl"] = params["transl"] + shift
    joints, rots = _forward(bm, rig, params)
    return TrackMotion(track, bm, rig, params, joints, joints.copy(),
                       np.zeros((len(joints), 2), bool), _clearance(rig), rots[:, 0, :, 1])


def scene_slide(motions: list[TrackMotion], floor: FloorFit, fps: float
                ) -> tuple[float, bool]:
    """How fast the planted feet of everybody drift together along the floor (m/s), and whether
    that looks like a moving camera.

    Per track, the planted foot of each frame is the slower of the two ankles; its velocity
    along the floor averages to about zero for a static camera (a planted foot does not move;
    estimator noise cancels out) and to minus the camera's velocity for a moving one. The camera
    is said to move when that mean exceeds 0.15 m/s for every track with the same direction
    (cosine > 0.8) or, with a single track, when it exceeds 0.4 m/s.
    """
    means, weights = [], []
    for m in motions:
        v = m.track.valid
        if v.sum() < 10:
            continue
        ank = m.joints_raw[:, [LEGS[0][2], LEGS[1][2]]]
        ank = ank - (ank @ floor.normal)[..., None] * floor.normal
        vel = np.zeros_like(ank)
        vel[1:-1] = (ank[2:] - ank[:-2]) * fps / 2.0
        planted = np.linalg.norm(vel, axis=-1).argmin(1)
        vel = vel[np.arange(len(vel)), planted]
        ok = v.copy()
        ok[1:-1] &= v[2:] & v[:-2]
        ok[[0, -1]] = False
        if ok.sum() < 5:
            continue
        means.append(vel[ok].mean(0))
        weights.append(float(ok.sum()))
    if not means:
        return 0.0, False
    m_arr = np.asarray(means)
    overall = float(np.linalg.norm(np.average(m_arr, axis=0, weights=weights)))
    if len(means) == 1:
        return overall, overall > 0.4
    mags = np.linalg.norm(m_arr, axis=1)
    unit = m_arr / np.maximum(mags[:, None], 1e-9)
    consistent = bool((unit @ unit.T).min() > 0.8 and mags.min() > 0.15)
    return overall, consistent and overall > 0.15


def _foot_track(m: TrackMotion, fps: float, image_height: int = 0, root_s: float = 0.0
                ) -> FootTrack:
    """The feet of a track for the floor fit and the contacts. With ``root_s`` > 0 the feet are
    *stabilised*: taken relative to the pelvis and put back on the pelvis trajectory smoothed
    over ``root_s`` seconds, which removes the frame-to-frame jitter of the global translation
    (the largest error of monocular estimates, mostly along the viewing ray) and keeps the legs'
    own motion."""
    j = m.joints_raw
    feet = np.stack([j[:, [leg[2], leg[3]]] for leg in LEGS], 1)
    pelvis = j[:, 0]
    if root_s > 0:
        feet = feet - pelvis[:, None, None] + smooth_time(pelvis, fps, root_s)[:, None, None]
    axis, straight = standing_axis(j, m.body_up)
    return FootTrack(m.track_id, feet, m.clearance, pelvis, axis,
                     _feet_in_view(m.track, image_height), fps, image_line_normals(j, straight))


def solve_world(folder: str | Path, options: WorldOptions | None = None) -> WorldSolution:
    """Floor, world frame, contacts and cleanup of a sequence folder (nothing is written).

    Raises:
        InputError: the folder has no usable tracks (see
            :func:`~ehps.world.tracks.load_sequence_tracks`).
    """
    opt = options or WorldOptions()
    seq = load_sequence_tracks(folder)
    models = _Models(opt.smplx_path)
    skipped = list(seq.skipped)
    motions: list[TrackMotion] = []
    for tr in seq.tracks:
        try:
            motions.append(_motion(tr, models))
        except EhpsError as exc:
            skipped.append((tr.track_id, str(exc)))
    height = seq.camera.height if seq.camera is not None else 0
    foot_tracks = [_foot_track(m, seq.fps, height, opt.root_smooth_s) for m in motions]
    if motions:
        floor = fit_floor(foot_tracks, opt.floor)
    else:
        floor = FloorFit(False, "no usable track")
    warnings = []
    if not floor.ok:
        warnings.append(f"no floor: {floor.reason}; results stay in the camera frame")
    origin_track, origin_frame, origin = -1, -1, None
    if motions:
        first = min(motions, key=lambda m: (int(m.track.frame_index[0]), m.track_id))
        origin_track, origin_frame = first.track_id, int(first.track.frame_index[0])
        origin = first.joints_raw[0, 0]
    world = make_world_frame(floor, origin, opt.up, origin_track, origin_frame)
    sol = WorldSolution(seq, world, motions, skipped, warnings=warnings, options=opt)
    if not floor.ok:
        return sol
    sol.slide_m_per_s, moving = scene_slide(motions, floor, seq.fps)
    if moving:
        warnings.append(f"the planted feet of everybody drift together at "
                        f"{sol.slide_m_per_s:.2f} m/s: the camera seems to move, but the world "
                        "frame assumes a static camera")
    ccfg = opt.contacts.for_residual(floor.residual_m)

    def contacts(m: TrackMotion, ft: FootTrack, fl: FloorFit) -> np.ndarray:
        smooth = smooth_time(ft.feet, seq.fps, opt.floor.smooth_s)
        h = foot_heights(replace(ft, feet=smooth), fl.normal, fl.offset)
        speed = horizontal_speed(smooth, fl.normal, seq.fps, m.track.valid).max(-1)
        return detect_contacts(h, speed, m.track.valid, ccfg.for_noise(h, speed, m.track.valid))

    standing = []
    for m in motions:
        pelvis_h = float(np.median(floor.height(m.joints_raw[m.track.valid, 0])))
        lo, hi = opt.floor.pelvis_range
        standing.append(lo <= pelvis_h <= hi)
        if not standing[-1]:
            sol.warnings.append(f"track {m.track_id}: its pelvis is {pelvis_h:.2f} m above the "
                                "floor (its depth disagrees with the others): no contacts")
    if opt.refit_floor:
        first_contacts = [contacts(m, ft, floor) if ok else np.zeros((len(m.joints), 2), bool)
                 for m, ft, ok in zip(motions, foot_tracks, standing)]
        refit = refit_floor(floor, foot_tracks, first_contacts, opt.floor)
        if refit is not floor:
            floor = refit
            sol.world = make_world_frame(floor, origin, opt.up, origin_track, origin_frame)
    for m, ft, ok in zip(motions, foot_tracks, standing):
        if not ok:
            continue
        m.contacts = contacts(m, ft, floor)
        if opt.cleanup and m.contacts.any():
            res = clean_foot_skate(lambda p, m=m: _forward(m.bm, m.rig, p), m.params, m.contacts,
                                   floor.normal, floor.offset, m.clearance, opt.skate)
            m.params, m.joints = res.params, res.joints_after
            d = np.linalg.norm(m.joints - m.joints_raw, axis=-1)[m.track.valid]
            m.change_cm, m.max_change_cm = float(d.mean() * 100), float(d.max() * 100)
            m.ik_error_mm = res.ik_error_m * 1000
        # Both figures over the final contacts (the cleanup leaves implausible ones alone).
        m.sliding_before_mm = foot_sliding_mm(m.joints_raw, m.contacts, floor.normal,
                                              m.track.valid)
        m.sliding_after_mm = foot_sliding_mm(m.joints, m.contacts, floor.normal, m.track.valid)
    return sol
