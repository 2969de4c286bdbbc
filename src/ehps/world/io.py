"""What the world step writes: ``world.json`` and the world arrays added to ``tracks.npz``.

``tracks.npz`` keeps every key ``ehps infer`` wrote and gains (all in the world frame of
``world.json``, metres; replaced on every run):

- ``world/format_version`` (int), ``world/up`` ("y" or "z"), ``world/has_floor`` (bool),
  ``world/world_from_camera`` (4, 4), ``world/floor_normal_cam`` (3,) and
  ``world/floor_offset_cam`` (floor: ``n . p + d = 0`` for camera points ``p``; NaN without a
  floor);
- per track ``t{id}/contact`` (T, 2) bool (left, right foot) and under ``t{id}/world/``:
  ``joints`` (T, 55, 3) SMPL-X skeleton joints after the foot-skate cleanup, ``joints_raw`` before
  it, ``root_position`` (T, 3) the pelvis, ``global_orient`` (T, 3) and ``transl`` (T, 3): the
  root rotation (axis-angle) and body-model translation in the world, ``body_pose`` (T, 21, 3)
  after the cleanup, and the shape the body model was evaluated at (``betas`` (10,) or
  ``phenotype`` (6,)). Feeding ``global_orient``, ``transl``, ``body_pose``, the track's other
  pose and face parameters and that shape to the track's body model gives ``joints``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ehps.world.frame import camera_angles
from ehps.world.sequence import TrackMotion, WorldSolution

__all__ = ["WORLD_FORMAT_VERSION", "world_json", "world_arrays", "write_world"]

WORLD_FORMAT_VERSION = 1


def _r(x: float, nd: int = 4) -> float | None:
    return None if not np.isfinite(x) else round(float(x), nd)


def _track_json(m: TrackMotion) -> dict[str, Any]:
    tr = m.track
    return {
        "body_model": tr.body_model,
        "frames": [int(tr.frame_index[0]), int(tr.frame_index[-1])],
        "frames_seen": int(tr.valid.sum()),
        "contact_frames": [int(c) for c in m.contacts.sum(0)],
        "sliding_before_mm_per_frame": _r(m.sliding_before_mm, 2),
        "sliding_after_mm_per_frame": _r(m.sliding_after_mm, 2),
        "mean_joint_change_cm": _r(m.change_cm, 2),
        "max_joint_change_cm": _r(m.max_change_cm, 2),
        "ik_error_mm": _r(m.ik_error_mm, 3),
        "shape": {k: [round(float(v), 5) for v in np.ravel(x)] for k, x in m.rig.shape.items()},
    }


def _pooled(sol: WorldSolution, attr: str) -> float | None:
    """Contact-frame-weighted mean of a per-track sliding figure."""
    vals, wts = [], []
    for m in sol.motions:
        v = getattr(m, attr)
        if np.isfinite(v):
            vals.append(v)
            wts.append(float(m.contacts.sum()))
    return _r(float(np.average(vals, weights=wts)), 2) if vals and sum(wts) > 0 else None


def world_json(sol: WorldSolution, exports: dict[str, Any] | None = None) -> dict[str, Any]:
    """The content of ``world.json``."""
    w = sol.world
    floor = w.floor if w.has_floor else None
    cam = sol.tracks_in.camera
    changes = [m.change_cm for m in sol.motions if m.contacts.any()]
    out: dict[str, Any] = {
        "format": "ehps-world",
        "version": WORLD_FORMAT_VERSION,
        "frame": "floor" if floor is not None else "camera",
        "up_axis": w.up,
        "units": "metres",
        "fps": sol.fps,
        "first_frame": sol.tracks_in.first_frame,
        "fallback_reason": None if floor is not None else (
            sol.world.floor.reason if sol.world.floor is not None else "no floor"),
        "floor": None if floor is None else {
            "normal_cam": [round(float(v), 6) for v in floor.normal],
            "offset_cam_m": round(float(floor.offset), 5),
            "equation": "n . p + d = 0 for camera-frame points p (OpenCV axes, metres)",
            "inliers": floor.inliers, "candidates": floor.candidates,
            "residual_cm": _r(floor.residual_m * 100, 2),
            "inlier_band_cm": _r(floor.inlier_tol_m * 100, 2),
            "frames": floor.frames, "tracks": floor.tracks,
            "body_tilt_deg": _r(floor.body_tilt_deg, 2),
            "pelvis_height_m": _r(floor.pelvis_height_m, 3),
            "method": floor.method,
            "track_support": _r(floor.support, 3),
            "tracks_supporting": [int(t) for t in floor.supporting],
            "tracks_disagreeing": [int(t) for t in floor.disagreeing],
        },
        "camera": {
            "convention": "OpenCV camera axes: x right, y down, z forward",
            "world_from_camera": np.round(w.world_from_camera, 6).tolist(),
            "camera_from_world": np.round(w.camera_from_world, 6).tolist(),
            "position_m": [round(float(v), 5) for v in w.world_from_camera[:3, 3]],
            **{k: round(v, 3) for k, v in camera_angles(w).items()},
            "intrinsics": None if cam is None else cam.to_json(),
        },
        "origin": {"track_id": w.origin_track, "frame": w.origin_frame,
                   "rule": "on the floor under the first person's pelvis at their first frame"
                   if floor is not None else "the camera centre"},
        "static_camera": {"scene_slide_m_per_s": _r(sol.slide_m_per_s, 3),
                          "note": "the world frame assumes a static camera"},
        "cleanup": {
            "enabled": bool(sol.options.cleanup and floor is not None),
            "sliding_before_mm_per_frame": _pooled(sol, "sliding_before_mm"),
            "sliding_after_mm_per_frame": _pooled(sol, "sliding_after_mm"),
            "mean_joint_change_cm": _r(float(np.mean(changes)), 2) if changes else None,
        },
        "warnings": list(sol.warnings),
        "tracks": {str(m.track_id): _track_json(m) for m in sol.motions},
        "skipped_tracks": {str(t): why for t, why in sol.skipped},
        "source": sol.tracks_in.source,
    }
    if exports:
        out["exports"] = exports
    return out


def world_arrays(sol: WorldSolution) -> dict[str, np.ndarray]:
    """The ``world/*`` and ``t{id}/...`` arrays (see the module docstring)."""
    from scipy.spatial.transform import Rotation

    w = sol.world
    m44 = w.world_from_camera
    rot, t = m44[:3, :3], m44[:3, 3]
    floor = w.floor if w.has_floor else None
    out: dict[str, np.ndarray] = {
        "world/format_version": np.int64(WORLD_FORMAT_VERSION),
        "world/up": np.array(w.up),
        "world/has_floor": np.bool_(floor is not None),
        "world/world_from_camera": m44.astype(np.float64),
        "world/floor_normal_cam": (floor.normal if floor is not None else np.full(3, np.nan)),
        "world/floor_offset_cam": np.float64(floor.offset if floor is not None else np.nan),
    }
    for m in sol.motions:
        pre = f"t{m.track_id}/"
        n = len(m.joints)
        go = Rotation.from_rotvec(m.params["global_orient"].reshape(n, 3)).as_matrix()
        r0 = m.rig.bind[0, :3, 3]  # the root: the rotation centre of the body model
        out[pre + "contact"] = m.contacts.astype(bool)
        out[pre + "world/joints"] = (m.joints @ rot.T + t).astype(np.float32)
        out[pre + "world/joints_raw"] = (m.joints_raw @ rot.T + t).astype(np.float32)
        out[pre + "world/root_position"] = out[pre + "world/joints"][:, 0]
        out[pre + "world/global_orient"] = Rotation.from_matrix(rot @ go).as_rotvec().astype(
            np.float32)
        transl = (r0 + m.params["transl"].reshape(n, 3)) @ rot.T + t - r0
        out[pre + "world/transl"] = transl.astype(np.float32)
        out[pre + "world/body_pose"] = m.params["body_pose"].reshape(n, 21, 3).astype(np.float32)
        for key, val in m.rig.shape.items():
            out[pre + f"world/{key}"] = np.asarray(val, np.float32)
    return out


def write_world(sol: WorldSolution, exports: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write ``world.json`` and the world arrays into ``tracks.npz`` (both atomically; earlier
    world arrays are replaced, every other key is kept)."""
    from ehps.utils.io import atomic_save_npz, atomic_write_json

    folder = sol.tracks_in.folder
    files = {"world.json": folder / "world.json", "tracks.npz": folder / "tracks.npz"}
    kept = {k: v for k, v in sol.tracks_in.raw.items()
            if not (k.startswith("world/") or "/world/" in k or k.endswith("/contact"))}
    atomic_save_npz(files["tracks.npz"], **kept, **world_arrays(sol))
    atomic_write_json(files["world.json"], world_json(sol, exports))
    return files
