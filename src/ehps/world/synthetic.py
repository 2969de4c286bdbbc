"""Synthetic walks with known ground truth: people walking on a known floor, seen by a tilted,
static camera. Used by the tests and ``benchmarks/world_synthetic.py`` to measure the floor fit,
contacts and foot-skate cleanup (on estimates from rendered videos, or on the truth plus noise).

- :func:`walk_pose`: the body-model-free part of a walk: gait timing and contacts, the pelvis
  rotation, counter-swinging arms lowered from the T-pose.
- :func:`place_walker`: the walk placed on the floor ``y = 0`` of a y-up world along a heading:
  a footstep plan and a smooth pelvis path for this body's legs, and the hips, knees and ankles
  solved by IK so that each stance foot is flat and does not move (:mod:`ehps.world.gait`).
- :class:`SyntheticScene`: walkers plus a camera at a given height and downward pitch; gives each
  walker's parameters in the camera frame (the frame ``ehps infer`` estimates in), the true floor
  in the camera frame, and renders frames with :mod:`ehps.render`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from ehps.geometry.camera import Intrinsics
from ehps.world import gait
from ehps.world.frame import rigid_inverse

__all__ = ["walk_pose", "place_walker", "Walker", "SyntheticScene", "camera_pose",
           "foot_vertex_sets"]


def _rv(axis: str, deg: np.ndarray) -> np.ndarray:
    vec = {"x": (1, 0, 0), "y": (0, 1, 0), "z": (0, 0, 1)}[axis]
    return np.radians(np.asarray(deg))[..., None] * np.asarray(vec, np.float64)


def walk_pose(n_frames: int, fps: float, cadence_hz: float = 1.05, phase: float = 0.0
              ) -> dict[str, np.ndarray]:
    """The body-model-free part of a walk (see :mod:`ehps.world.gait`): ``global_orient`` (T, 3)
    the pelvis rotation in the walking frame (lean and yaw; the heading is added by
    :func:`place_walker`), ``body_pose`` (T, 21, 3) the trunk and counter-swinging arms lowered
    from the T-pose (the legs are left at zero: :func:`place_walker` solves them for the body
    model), ``cycles`` (T,) gait time in strides (left heel strike at integers), ``contact``
    (T, 2) whether the left / right foot is planted, and ``stance_foot`` (T,) the foot that
    carries the body (0 left, 1 right; the switch is in the middle of each double support).

    ``cadence_hz`` strides (two steps) per second; ``phase`` in cycles.
    """
    cycles = np.arange(n_frames) / fps * cadence_hz + phase
    ph = 2 * np.pi * cycles
    body = np.zeros((n_frames, 21, 3))
    for side, sign in ((0, 1.0), (1, -1.0)):  # left, right
        p = ph + side * np.pi
        shoulder = 16 + 18 * np.cos(p + np.pi)  # arms swing against the legs (deg, forward)
        body[:, [15, 16][side]] = _rv("z", -sign * np.full(n_frames, 72.0)) + _rv(
            "x", -shoulder)
        body[:, [17, 18][side]] = _rv("y", sign * np.full(n_frames, 20.0))
    body[:, 2] = _rv("y", 6 * np.cos(ph))  # spine1 turns the chest against the pelvis
    orient = Rotation.from_matrix(gait.pelvis_rotation(cycles)).as_rotvec()
    return {"global_orient": orient, "body_pose": body, "cycles": cycles,
            "contact": gait.foot_contacts(cycles), "stance_foot": gait.stance_foot(cycles)}


@dataclass
class Walker:
    """A walker's ground truth in the y-up world (floor ``y = 0``).

    Attributes:
        params: ``global_orient`` (T, 3), ``body_pose`` (T, 21, 3), ``transl`` (T, 3) world,
            plus the shape (``phenotype`` (T, 6) for Anny, ``betas`` (T, 10) for SMPL-X).
        joints: (T, 55, 3) world joints; ``stance``: (T,) the foot that carries the body
            (0 left).
        sole: (T,) height of the lowest mesh vertex (0 by construction).
        vertices: (T, V, 3) world vertices when kept; ``contact``: (T, 2) whether the left /
            right foot is planted (flat on the floor, not moving).
    """

    params: dict[str, np.ndarray]
    joints: np.ndarray
    stance: np.ndarray
    sole: np.ndarray
    vertices: np.ndarray | None = None
    contact: np.ndarray | None = None


def _run(bm: Any, params: dict[str, np.ndarray]) -> Any:
    inp = {k: torch.as_tensor(v, dtype=torch.float32).reshape(len(v), -1)
           for k, v in params.items()}
    with torch.inference_mode():
        return bm(**inp)


def foot_vertex_sets(rest_vertices: np.ndarray, rest_joints: np.ndarray) -> list[np.ndarray]:
    """Indices of the left and right foot vertices: below the ankles (+2 cm) in the rest pose,
    split by side (+x = the person's left)."""
    rv, rj = rest_vertices, rest_joints
    low = rv[:, 1] < max(rj[7, 1], rj[8, 1]) + 0.02
    return [np.flatnonzero(low & (rv[:, 0] > 0)), np.flatnonzero(low & (rv[:, 0] < 0))]


def place_walker(bm: Any, pose: dict[str, np.ndarray], start_xz: tuple[float, float],
                 heading_deg: float, shape: dict[str, np.ndarray] | None = None,
                 keep_vertices: bool = False) -> Walker:
    """Put a walk on the floor ``y = 0`` of a y-up world: plan the footsteps and the pelvis for
    this body's legs, solve the legs by IK (:mod:`ehps.world.gait`) and pose the body model.

    Args:
        bm: the body model (Anny or SMPL-X).
        pose: :func:`walk_pose` output.
        start_xz: where the pelvis starts on the floor (metres).
        heading_deg: walking direction, degrees about +y from +z.
        shape: per-frame shape arrays (default: the model's mean shape); the legs are planned
            for the first frame's shape.
    """
    shape = shape or {}
    rest = _run(bm, {"global_orient": np.zeros((1, 3)), **{k: v[:1] for k, v in shape.items()}})
    rv, rj = rest.vertices[0].double().numpy(), rest.joints[0].double().numpy()
    low = [rv[s, 1].min() for s in foot_vertex_sets(rv, rj)]
    legs = gait.LegGeometry.from_rest(rj, np.asarray(low))
    ankles, pelvis, _ = gait.plan_walk(pose["cycles"], legs)
    yaw = Rotation.from_rotvec(_rv("y", heading_deg)).as_matrix()
    start = np.array([start_xz[0], 0.0, start_xz[1]])
    pelvis, ankles = pelvis @ yaw.T + start, ankles @ yaw.T + start
    orient = yaw @ Rotation.from_rotvec(pose["global_orient"]).as_matrix()
    n = len(pelvis)
    rots = gait.solve_legs(legs, pelvis, orient, ankles, np.broadcast_to(yaw, (n, 2, 3, 3)))
    body = np.array(pose["body_pose"], np.float64).reshape(n, 21, 3)
    for f in (0, 1):  # body_pose indices of the hip, knee and ankle (joints 1+f, 4+f, 7+f)
        for i, b in enumerate((f, 3 + f, 6 + f)):
            body[:, b] = Rotation.from_matrix(rots[:, f, i]).as_rotvec()
    params = {"global_orient": Rotation.from_matrix(orient).as_rotvec(), "body_pose": body,
              "transl": pelvis - legs.root, **shape}
    out = _run(bm, params)
    verts = out.vertices.double().numpy()
    return Walker(params, out.joints[:, :55].double().numpy(), np.asarray(pose["stance_foot"]),
                  verts[:, :, 1].min(1), verts if keep_vertices else None,
                  np.asarray(pose["contact"]))


def camera_pose(height_m: float, pitch_deg: float, target_xz: tuple[float, float],
                yaw_deg: float = 0.0) -> np.ndarray:
    """(4, 4) world-from-camera of an OpenCV camera ``height_m`` above the floor, pitched down by
    ``pitch_deg``, looking (horizontally) along yaw from -z towards ``target_xz`` at the floor
    point where its optical axis lands."""
    pitch = np.radians(pitch_deg)
    yaw = Rotation.from_rotvec(_rv("y", yaw_deg))
    # Camera axes in the world: x right, y down, z forward (looking towards -z, tilted down).
    fwd = yaw.apply(np.array([0.0, -np.sin(pitch), -np.cos(pitch)]))
    right = yaw.apply(np.array([1.0, 0.0, 0.0]))
    down = np.cross(fwd, right)
    m = np.eye(4)
    m[:3, :3] = np.stack([right, down, fwd], 1)
    dist = height_m / max(np.tan(pitch), 1e-6)
    back = yaw.apply(np.array([0.0, 0.0, 1.0])) * dist
    m[:3, 3] = np.array([target_xz[0], height_m, target_xz[1]]) + back
    return m


@dataclass
class SyntheticScene:
    """Walkers and a static camera (see the module docstring).

    Attributes:
        walkers: ground truth per person; ``world_from_camera``: (4, 4); ``intrinsics``;
        ``image_hw``: (height, width); ``fps``.
    """

    walkers: list[Walker]
    world_from_camera: np.ndarray
    intrinsics: Intrinsics
    image_hw: tuple[int, int]
    fps: float
    root_rest: np.ndarray = field(default_factory=lambda: np.zeros(3))

    @property
    def camera_from_world(self) -> np.ndarray:
        return rigid_inverse(self.world_from_camera)

    def floor_in_camera(self) -> tuple[np.ndarray, float]:
        """The true floor as (normal, offset) in the camera frame (height = n . p + d)."""
        m = self.world_from_camera
        n = m[:3, :3].T @ np.array([0.0, 1.0, 0.0])
        return n, float(m[1, 3])

    def camera_params(self, k: int) -> dict[str, np.ndarray]:
        """Walker ``k``'s parameters in the camera frame (what an estimator would give)."""
        c = self.camera_from_world
        p = self.walkers[k].params
        go = Rotation.from_matrix(c[:3, :3] @ Rotation.from_rotvec(p["global_orient"])
                                  .as_matrix()).as_rotvec()
        r0 = self.root_rest
        transl = (r0 + p["transl"]) @ c[:3, :3].T + c[:3, 3] - r0
        return {**p, "global_orient": go, "transl": transl}

    def joints_in_camera(self, k: int) -> np.ndarray:
        c = self.camera_from_world
        return self.walkers[k].joints @ c[:3, :3].T + c[:3, 3]


def make_scene(bm: Any, *, n_frames: int = 60, fps: float = 25.0, camera_height: float = 2.0,
               pitch_deg: float = 15.0, image_hw: tuple[int, int] = (480, 640),
               walkers: tuple[tuple[tuple[float, float], float, float], ...] = (
                   ((-1.2, -0.5), 90.0, 0.0), ((0.8, 0.8), -120.0, 0.4)),
               shape: dict[str, np.ndarray] | None = None) -> SyntheticScene:
    """A scene: walkers given as ``((x, z) start, heading_deg, phase)`` and a camera looking at
    the origin from ``camera_height`` metres, pitched down by ``pitch_deg``. The intrinsics are
    ehps's default for the image size (what ``ehps infer`` assumes without ``--intrinsics``)."""
    h, w = image_hw
    if shape is None:
        shape = ({"phenotype": np.full(6, 0.5)} if getattr(bm, "name", "") == "anny" else
                 {"betas": np.zeros(10)})
    people = []
    for start, heading, phase in walkers:
        pose = walk_pose(n_frames, fps, phase=phase)
        sh = {k: np.repeat(np.asarray(v, np.float64).reshape(1, -1), n_frames, 0)
              for k, v in shape.items()}
        people.append(place_walker(bm, pose, start, heading, sh))
    zero = {"global_orient": np.zeros((1, 3)),
            **{k: np.asarray(v, np.float64).reshape(1, -1) for k, v in shape.items()}}
    root = _run(bm, zero).joints[0, 0].double().numpy()
    return SyntheticScene(people, camera_pose(camera_height, pitch_deg, (0.0, 0.0)),
                          Intrinsics.from_image_size(w, h), (h, w), fps, root)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], std: float,
                  sigma_frames: float) -> np.ndarray:
    """Temporally correlated noise (first axis = time) with the given standard deviation."""
    from scipy.ndimage import gaussian_filter1d

    if std <= 0:
        return np.zeros(shape)
    x = gaussian_filter1d(rng.normal(size=shape), sigma_frames, axis=0, mode="nearest")
    return x * (std / max(float(x.std()), 1e-12))


def write_fake_sequence(scene: SyntheticScene, folder: Any, *, body_model: str = "anny",
                        noise_m: float = 0.0, noise_deg: float = 0.0, drift_m: float = 0.0,
                        drift_deg: float = 0.0, seed: int = 0, bm: Any = None,
                        frame_offset: int = 0, pan_m_per_s: float = 0.0,
                        records: bool = False, depth_scale: dict[int, float] | None = None,
                        visible: dict[int, tuple[int, int]] | None = None) -> None:
    """Write ``scene`` as the sequence folder ``ehps infer`` would (``tracks.npz`` through
    :class:`ehps.io.records.TrackStore`, ``manifest.json``, one ``meta`` file) with the
    true parameters in the camera frame plus estimator-like noise: per frame ``noise_m`` metres
    on the translation and ``noise_deg`` on every joint rotation, and slowly varying errors
    (correlated over ~0.3 s) of ``drift_m`` / ``drift_deg``; translation errors are doubled along
    the viewing ray (monocular depth is the weakest). ``bm`` (the body model) fills the
    ``joints`` column. ``pan_m_per_s`` slides the whole scene sideways in the camera frame (what a
    panning camera looks like); ``records`` also writes the per-frame ``state/*.npz`` records.
    ``depth_scale`` {walker: s} puts a walker ``s`` times too far along the viewing rays (its
    translation scaled about the camera: a monocular depth error; its body keeps its size);
    ``visible`` {walker: (first, last)} frames (inclusive) in which a walker is seen (a short
    track; others are seen in every frame)."""
    import json
    from pathlib import Path

    from ehps.io.records import FrameRecord, TrackStore
    from ehps.utils.io import atomic_save_npz

    rng = np.random.default_rng(seed)
    folder = Path(folder)
    (folder / "meta").mkdir(parents=True, exist_ok=True)
    store = TrackStore()
    n = len(scene.walkers[0].joints)
    per = []
    for k in range(len(scene.walkers)):
        p = {key: np.array(v, np.float64) for key, v in scene.camera_params(k).items()}
        corr = 0.3 * scene.fps
        p["transl"] = p["transl"] + np.outer(np.arange(n) / scene.fps, [pan_m_per_s, 0, 0])
        if depth_scale and k in depth_scale:
            # scale the pelvis position about the camera (not the body): root + transl
            pelvis = p["transl"] + scene.root_rest
            p["transl"] = depth_scale[k] * pelvis - scene.root_rest
        if noise_m or drift_m:
            ray = p["transl"] / np.linalg.norm(p["transl"], axis=1, keepdims=True)
            err = rng.normal(0, noise_m, (n, 4)) + _smooth_noise(rng, (n, 4), drift_m, corr)
            p["transl"] = p["transl"] + err[:, :3] + ray * err[:, 3:]
        if noise_deg or drift_deg:
            for key in ("global_orient", "body_pose"):
                shape = p[key].shape
                flat = p[key].reshape(n, -1, 3)
                eps = rng.normal(0, np.radians(noise_deg), flat.shape) + _smooth_noise(
                    rng, flat.shape, np.radians(drift_deg), corr)
                rot = Rotation.from_rotvec(flat.reshape(-1, 3)) * Rotation.from_rotvec(
                    eps.reshape(-1, 3))
                p[key] = rot.as_rotvec().reshape(shape)
        if bm is not None:
            p["joints"] = _run(bm, {k2: v for k2, v in p.items()
                                    if k2 not in ("joints",)}).joints[:, :55].double().numpy()
        per.append(p)
    h, w = scene.image_hw
    k_ = scene.intrinsics
    seen = {k: (0, n - 1) for k in range(len(per))} | dict(visible or {})
    for t in range(n):
        ids = [k for k in range(len(per)) if seen[k][0] <= t <= seen[k][1]]
        here = [per[k] for k in ids]
        final = {}
        keys = [key for key in per[0] if key != "joints"]
        for key in keys:
            final[key] = np.stack([np.asarray(pp[key][t], np.float32).reshape(1, -1)
                                   for pp in here])
        final["transl_full"] = np.stack([np.asarray(pp["transl"][t], np.float32) for pp in here])
        boxes = []
        for pp in here:
            j = pp["joints"][t] if "joints" in pp else np.zeros((55, 3))
            uv = j[:, :2] / np.maximum(j[:, 2:], 1e-6) * [k_.fx, k_.fy] + [k_.cx, k_.cy]
            lo, hi = uv.min(0), uv.max(0)
            boxes.append([lo[0], lo[1] - 0.1 * (hi[1] - lo[1]), hi[0] - lo[0],
                          1.15 * (hi[1] - lo[1])])
        rec = FrameRecord(
            index=t + frame_offset, time_s=(t + frame_offset) / scene.fps,
            boxes=np.asarray(boxes, np.float32), scores=np.ones(len(here), np.float32),
            person_ids=np.arange(len(here)), track_ids=np.asarray(ids, np.int64),
            crop_boxes=np.full((len(here), 4), np.nan, np.float32), raw=final, final=final,
            joints_full=np.stack([np.asarray(pp["joints"][t], np.float32) for pp in here])
            if bm is not None else np.zeros((len(here), 0, 3), np.float32))
        store.add(rec)
        if records:
            atomic_save_npz(folder / "state" / f"{rec.index:06d}.npz", **rec.arrays())
    atomic_save_npz(folder / "tracks.npz", **store.arrays(scene.fps))
    settings = {"estimator": f"fit-{body_model}", "kind": "video", "size": [w, h],
                "intrinsics": None}
    (folder / "manifest.json").write_text(json.dumps(
        {"format": "ehps-infer", "version": 1, "settings": settings,
         "frames_done": [[frame_offset, frame_offset + n - 1]], "complete": True}))
    (folder / "meta" / f"{frame_offset:06d}_00.json").write_text(json.dumps(
        {"focal_full": [k_.fx, k_.fy], "princpt_full": [k_.cx, k_.cy], "image_hw": [h, w]}))
