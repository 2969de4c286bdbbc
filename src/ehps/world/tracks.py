"""Reading the tracked people of a finished ``ehps infer`` sequence folder.

Source: ``tracks.npz`` (see :class:`ehps.io.records.TrackStore`); when it is missing or
unreadable but the per-frame records ``state/*.npz`` are there, the tracks are rebuilt from them
(the same code ``ehps infer --resume`` uses). Every size and value is checked before use: a file
from another version or a truncated one raises :class:`~ehps.errors.InputError` with the cause and
the fix; a bad track (too short, inconsistent arrays, non-finite values) is left out with a
one-line reason, and the other tracks are kept.

Gaps (frames inside a track where the person was not seen) are filled for animation: rotations by
spherical interpolation between the neighbouring seen frames, everything else linearly; ``valid``
keeps saying which frames were seen. The translation of the body model in the shared camera is
``transl_full`` (for network estimates ``transl`` is the person-crop camera's).
"""

from __future__ import annotations

import json
import logging
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ehps.errors import InputError

__all__ = ["TrackData", "SequenceTracks", "CameraInfo", "load_sequence_tracks", "fill_gaps",
           "ROTATION_KEYS"]

log = logging.getLogger(__name__)

ROTATION_KEYS = ("global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose",
                 "leye_pose", "reye_pose")
_REQUIRED = ("frame_index", "valid", "global_orient", "body_pose", "transl_full")
_PARAM_WIDTH = {"global_orient": 3, "body_pose": 63, "left_hand_pose": 45,
                "right_hand_pose": 45, "jaw_pose": 3, "leye_pose": 3, "reye_pose": 3,
                "phenotype": 6, "facial_actions": 52}  # fmt: skip
_MAX_PARAM = {"betas": 300, "expression": 100}
_RERUN = "re-run `ehps infer` on the video (add --resume to keep finished frames)"


@dataclass
class CameraInfo:
    """The sequence's shared camera: pixels ``fx, fy, cx, cy`` and image size ``width, height``
    (``width``/``height`` 0 when unknown)."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int = 0
    height: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"fx": self.fx, "fy": self.fy, "cx": self.cx, "cy": self.cy,
                "width": self.width, "height": self.height}


@dataclass
class TrackData:
    """One person over time (rows from their first to their last frame).

    Attributes:
        track_id: the tracker's id.
        body_model: ``"anny"`` or ``"smplx"``.
        frame_index: (T,) video frames; ``valid`` (T,) seen frames.
        params: per-frame parameters (T, ...), gaps filled; ``transl`` (T, 3) is the shared-camera
            translation, the shape key (``phenotype`` / ``betas``) and the face key are kept.
        bbox_xywh: (T, 4) detector boxes (pixels; zeros in gaps).
        joints: (T, 55, 3) joints ``ehps infer`` wrote (shared camera), or ``None``.
    """

    track_id: int
    body_model: str
    frame_index: np.ndarray
    valid: np.ndarray
    params: dict[str, np.ndarray]
    bbox_xywh: np.ndarray
    joints: np.ndarray | None = None


@dataclass
class SequenceTracks:
    """What :func:`load_sequence_tracks` found."""

    folder: Path
    fps: float
    tracks: list[TrackData]
    skipped: list[tuple[int, str]] = field(default_factory=list)
    source: str = "tracks.npz"
    camera: CameraInfo | None = None
    estimator: str = ""
    first_frame: int = 0
    raw: dict[str, np.ndarray] = field(default_factory=dict)


def _slerp_fill(rot: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(T, K, 3) axis-angle with gaps -> filled by per-joint slerp between seen frames."""
    from scipy.spatial.transform import Rotation, Slerp

    idx = np.flatnonzero(valid)
    out = rot.copy()
    gaps = np.flatnonzero(~valid)
    if len(gaps) == 0 or len(idx) == 0:
        return out
    gaps = gaps[(gaps > idx[0]) & (gaps < idx[-1])]
    for k in range(rot.shape[1]):
        s = Slerp(idx, Rotation.from_rotvec(rot[idx, k]))
        out[gaps, k] = s(gaps).as_rotvec()
    return out


def fill_gaps(params: dict[str, np.ndarray], valid: np.ndarray) -> dict[str, np.ndarray]:
    """Fill the unseen rows of per-frame parameters (see the module docstring)."""
    out = {}
    idx = np.flatnonzero(valid)
    t = np.arange(len(valid))
    for key, val in params.items():
        v = np.asarray(val, np.float64)
        if valid.all():
            out[key] = v
        elif key in ROTATION_KEYS:
            flat = v.reshape(len(v), -1, 3)
            out[key] = _slerp_fill(flat, valid).reshape(v.shape)
        else:
            flat = v.reshape(len(v), -1)
            filled = np.stack([np.interp(t, idx, flat[idx, c]) for c in range(flat.shape[1])], 1)
            out[key] = filled.reshape(v.shape)
    return out


def _bad_file(path: Path, cause: str) -> InputError:
    return InputError(f"{path}: {cause}; {_RERUN}")


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        raise _bad_file(path, f"unreadable, truncated or not an npz file "
                              f"({type(exc).__name__}: {exc})") from exc


def _from_records(folder: Path) -> dict[str, np.ndarray]:
    """tracks.npz content rebuilt from ``state/*.npz`` (as ``ehps infer --resume`` does)."""
    from ehps.io.records import FrameRecord, TrackStore

    store = TrackStore()
    times = []
    for path in sorted((folder / "state").glob("*.npz")):
        try:
            rec = FrameRecord.load(path)
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
            log.warning("skipping the unreadable frame record %s (%s)", path, exc)
            continue
        store.add(rec)
        times.append((rec.index, rec.time_s))
    if not store.rows:
        raise InputError(f"{folder}: no readable tracks.npz and no tracked frame records in "
                         f"state/; {_RERUN}")
    times.sort()
    fps = 30.0
    if len(times) > 1:
        di = np.diff([a for a, _ in times])
        dt = np.diff([b for _, b in times])
        ok = (di > 0) & (dt > 0)
        if ok.any():
            fps = float(np.median(di[ok] / dt[ok]))
    return store.arrays(fps)


def _camera(folder: Path, settings: dict[str, Any]) -> CameraInfo | None:
    for path in sorted((folder / "meta").glob("*.json"))[:1]:
        try:
            m = json.loads(path.read_text(encoding="utf-8"))
            (fx, fy), (cx, cy) = m["focal_full"], m["princpt_full"]
            h, w = m.get("image_hw", [0, 0])
            cam = CameraInfo(float(fx), float(fy), float(cx), float(cy), int(w), int(h))
            if min(cam.fx, cam.fy) > 0 and np.isfinite([cam.fx, cam.fy, cam.cx, cam.cy]).all():
                return cam
        except (OSError, ValueError, KeyError, TypeError):
            pass
    size = settings.get("size")
    k = settings.get("intrinsics")
    try:
        if k:
            w, h = (int(size[0]), int(size[1])) if size else (0, 0)
            return CameraInfo(*map(float, k), w, h)
        if size:
            from ehps.geometry.camera import Intrinsics

            kk = Intrinsics.from_image_size(int(size[0]), int(size[1]))
            return CameraInfo(kk.fx, kk.fy, kk.cx, kk.cy, int(size[0]), int(size[1]))
    except (TypeError, ValueError, IndexError):
        pass
    return None


def _track(data: dict[str, np.ndarray], tid: int) -> TrackData:
    """One validated track; raises ValueError with a one-line reason."""
    pre = f"t{tid}/"
    missing = [k for k in _REQUIRED if pre + k not in data]
    if missing:
        raise ValueError(f"missing {', '.join(missing)} (a tracks.npz of another version?)")
    frames = np.asarray(data[pre + "frame_index"])
    n = len(frames)
    if frames.ndim != 1 or not np.issubdtype(frames.dtype, np.integer):
        raise ValueError("frame_index is not a 1-D integer array")
    if n < 2:
        raise ValueError(f"it has {n} frame: an animation needs at least 2")
    if np.any(np.diff(frames) != 1) or frames[0] < 0:
        raise ValueError("its frame indices are not consecutive")
    valid = np.asarray(data[pre + "valid"]).astype(bool).reshape(-1)
    if len(valid) != n or not valid[0] or not valid[-1]:
        raise ValueError("its valid mask does not match its frames")
    if valid.sum() < 2:
        raise ValueError("it was seen in fewer than 2 frames")
    params: dict[str, np.ndarray] = {}
    for key, width in {**_PARAM_WIDTH, "betas": None, "expression": None}.items():
        if pre + key not in data:
            continue
        v = np.asarray(data[pre + key], np.float64)
        if v.shape[0] != n:
            raise ValueError(f"{key} has {v.shape[0]} rows for {n} frames")
        flat = v.reshape(n, -1)
        if width is not None and flat.shape[1] != width:
            raise ValueError(f"{key} has {flat.shape[1]} values per frame, expected {width}")
        if width is None and flat.shape[1] > _MAX_PARAM[key]:
            raise ValueError(f"{key} has {flat.shape[1]} values per frame")
        if not np.isfinite(flat[valid]).all():
            raise ValueError(f"{key} holds non-finite values")
        params[key] = flat
    transl = np.asarray(data[pre + "transl_full"], np.float64).reshape(n, -1)
    if transl.shape[1] != 3 or not np.isfinite(transl[valid]).all():
        raise ValueError("transl_full is not a finite (T, 3) array")
    params["transl"] = transl
    bbox = np.asarray(data.get(pre + "bbox_xywh", np.zeros((n, 4))), np.float64).reshape(n, -1)
    joints = data.get(pre + "joints")
    if joints is not None:
        joints = np.asarray(joints, np.float64)
        if joints.shape != (n, 55, 3) or not np.isfinite(joints[valid]).all():
            joints = None
    body = "anny" if "phenotype" in params else "smplx"
    return TrackData(tid, body, frames.astype(np.int64), valid, fill_gaps(params, valid),
                     bbox if bbox.shape[1] == 4 else np.zeros((n, 4)), joints)


def load_sequence_tracks(folder: str | Path) -> SequenceTracks:
    """Read and check the tracks of a sequence folder (see the module docstring).

    Raises:
        InputError: the folder, or both ``tracks.npz`` and the frame records, are missing or
            unusable (the message says which and how to fix it).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder: give the sequence folder `ehps infer` "
                         "wrote (for a video: <out>/<video name>)")
    path = folder / "tracks.npz"
    source = "tracks.npz"
    try:
        if not path.exists():
            raise _bad_file(path, "missing (no tracked video or --sequence in this folder?)")
        data = _load_npz(path)
    except InputError as exc:
        if not (folder / "state").is_dir():
            raise
        log.warning("%s; rebuilding the tracks from the frame records in state/", exc)
        data, source = _from_records(folder), "state records"
    if "track_ids" not in data or "fps" not in data:
        raise _bad_file(path, "not an ehps tracks file of this version (no track_ids / fps)")
    fps = float(np.asarray(data["fps"]).reshape(-1)[0]) if np.size(data["fps"]) else 0.0
    if not (np.isfinite(fps) and 0 < fps <= 1000):
        raise _bad_file(path, f"its frame rate {fps} is not a usable fps")
    ids = np.asarray(data["track_ids"]).reshape(-1)
    if not np.issubdtype(ids.dtype, np.integer):
        raise _bad_file(path, "track_ids is not an integer array")
    settings: dict[str, Any] = {}
    first_frame = None
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        settings = dict(manifest.get("settings", {}))
        done = manifest.get("frames_done") or []
        first_frame = int(done[0][0]) if done else None
    except (OSError, ValueError, TypeError, IndexError, KeyError):
        pass
    out = SequenceTracks(folder, fps, [], source=source, camera=_camera(folder, settings),
                         estimator=str(settings.get("estimator", "")), raw=data)
    for tid in ids.tolist():
        try:
            out.tracks.append(_track(data, int(tid)))
        except (ValueError, TypeError, IndexError) as exc:
            out.skipped.append((int(tid), str(exc)))
    starts = [int(t.frame_index[0]) for t in out.tracks]
    out.first_frame = first_frame if first_frame is not None else min(starts, default=0)
    return out
