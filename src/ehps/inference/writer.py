"""Outputs of ``ehps infer`` for one sequence (the images of a run, or one video).

Layout of a sequence folder (every file is written atomically: temporary file, then rename)::

    smplx/{frame:06d}_{person:02d}.npz   SMPL-X parameters in the keys and shapes the official
                                         SMPLer-X demo wrote (+ the fields of ``ehps demo``)
    meta/{frame:06d}_{person:02d}.json   cameras, boxes, score, track id, estimator, weights
    mesh/{frame:06d}_{person:02d}.obj|ply|glb   with --save-mesh (shared camera, metres)
    overlay/{frame:06d}.png              with --render, images
    overlay.mp4                          with --render, videos (PyAV: libx264, else mpeg4)
    tracks.npz                           videos / sequences: per-track arrays over time
    state/{frame:06d}.npz                per-frame record: boxes, ids, raw and final parameters
    manifest.json                        finished and failed frames (for --resume)

``person`` is the track id when people are tracked, else the detection order. The frame records
make ``--resume`` exact: the tracker and the smoothers are rebuilt by replaying the recorded boxes
and raw parameters of the finished frames, and ``tracks.npz`` / the overlay video are rebuilt from
the records (finished frames are decoded again, but not detected, estimated or written again).
File I/O runs on one background thread, in submission order, so the manifest never lists a frame
whose files are not all on disk.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import os
import tempfile
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ehps.errors import InputError, require
from ehps.structures import SMPLX_PARAM_KEYS, FrameResult, PersonEstimate
from ehps.utils.io import atomic_save_npz, atomic_write_image, atomic_write_json, to_jsonable

__all__ = [
    "MANIFEST_NAME",
    "FrameRecord",
    "Manifest",
    "TrackStore",
    "VideoEncoder",
    "SequenceWriter",
    "person_stem",
    "frame_ranges",
]

MANIFEST_NAME = "manifest.json"
_FORMAT = "ehps-infer"
_VERSION = 1
#: OpenCV camera axes -> glTF axes (a half turn about x), as ``ehps demo`` writes GLB files.
_GLTF_FROM_OPENCV = np.array([1.0, -1.0, -1.0], np.float32)


def person_stem(frame_index: int, person_id: int) -> str:
    """``"{frame:06d}_{person:02d}"``, the stem of a person's output files."""
    return f"{frame_index:06d}_{person_id:02d}"


def frame_ranges(indices: set[int] | list[int]) -> list[list[int]]:
    """Sorted indices -> inclusive ``[first, last]`` runs (compact manifest storage)."""
    out: list[list[int]] = []
    for i in sorted(indices):
        if out and i == out[-1][1] + 1:
            out[-1][1] = i
        else:
            out.append([i, i])
    return out


# ------------------------------------------------------------------------------ manifest


@dataclass
class Manifest:
    """Finished and failed frames of a sequence, and the settings that produced them."""

    path: Path
    settings: dict[str, Any]
    done: set[int] = field(default_factory=set)
    failed: dict[int, str] = field(default_factory=dict)
    sources: dict[int, str] = field(default_factory=dict)
    complete: bool = False

    @classmethod
    def open(cls, folder: Path, settings: dict[str, Any], resume: bool) -> Manifest:
        """A fresh manifest, or with ``resume`` the existing one (checked against ``settings``).

        Raises:
            InputError: ``resume`` and the folder was written with other settings or by
                something else.
        """
        path = folder / MANIFEST_NAME
        settings = to_jsonable(settings)
        if not resume or not path.exists():
            return cls(path, settings)
        import json

        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot resume: {path} is unreadable ({exc}); run without --resume "
                             "to start over") from exc
        if data.get("format") != _FORMAT or data.get("version") != _VERSION:
            raise InputError(f"cannot resume: {path} was not written by this ehps infer")
        old = data.get("settings", {})
        diff = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
        if diff:
            detail = "; ".join(f"{k}: {old.get(k)!r} -> {settings.get(k)!r}" for k in diff[:4])
            raise InputError(
                f"cannot resume in {folder}: settings changed since the interrupted run ({detail})"
                ". Run with the same options, or without --resume (or another --out) to start "
                "over"
            )
        done = {i for a, b in data.get("frames_done", []) for i in range(int(a), int(b) + 1)}
        sources = {int(k): str(v) for k, v in data.get("sources", {}).items()}
        return cls(path, settings, done, {}, sources, False)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "version": _VERSION,
            "settings": self.settings,
            "frames_done": frame_ranges(self.done),
            "num_done": len(self.done),
            "failed": {str(k): v for k, v in sorted(self.failed.items())},
            "sources": {str(k): v for k, v in sorted(self.sources.items())},
            "complete": self.complete,
            "updated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }


# ------------------------------------------------------------------------------ records


@dataclass
class FrameRecord:
    """What ``state/{frame:06d}.npz`` holds for one finished frame (``N`` people).

    Attributes:
        index, time_s: frame index and time (seconds).
        boxes, scores: (N, 4) xywh / (N,) the boxes given to the tracker, in that order.
        person_ids: (N,) file index of each person; ``track_ids`` (N,) track ids (-1: untracked).
        crop_boxes: (N, 4) processed crop boxes (network) or NaN (embedded).
        raw: raw (unsmoothed) parameters, each (N, ...); ``raw["transl_full"]`` (N, 3).
        final: written parameters, each (N, ...); ``final["transl_full"]`` (N, 3).
        joints_full: (N, 55, 3) skeleton joints in the shared camera, metres (N, 0, 3 without
            a body model).
    """

    index: int
    time_s: float
    boxes: np.ndarray
    scores: np.ndarray
    person_ids: np.ndarray
    track_ids: np.ndarray
    crop_boxes: np.ndarray
    raw: dict[str, np.ndarray]
    final: dict[str, np.ndarray]
    joints_full: np.ndarray

    def arrays(self) -> dict[str, np.ndarray]:
        out = {
            "index": np.int64(self.index), "time_s": np.float64(self.time_s),
            "boxes": self.boxes, "scores": self.scores, "person_ids": self.person_ids,
            "track_ids": self.track_ids, "crop_boxes": self.crop_boxes,
            "joints_full": self.joints_full,
        }
        out.update({f"raw.{k}": v for k, v in self.raw.items()})
        out.update({f"final.{k}": v for k, v in self.final.items()})
        return out

    @classmethod
    def load(cls, path: Path) -> FrameRecord:
        with np.load(path, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
        return cls(
            index=int(d["index"]), time_s=float(d["time_s"]), boxes=d["boxes"],
            scores=d["scores"], person_ids=d["person_ids"], track_ids=d["track_ids"],
            crop_boxes=d["crop_boxes"],
            raw={k[4:]: v for k, v in d.items() if k.startswith("raw.")},
            final={k[6:]: v for k, v in d.items() if k.startswith("final.")},
            joints_full=d["joints_full"],
        )


def joints_full(person: PersonEstimate) -> np.ndarray:
    """(55, 3) skeleton joints in the shared camera (empty (0, 3) without a mesh)."""
    j = np.asarray(person.joints_cam, np.float32)
    if j.shape[0] < 55 or person.transl_full is None:
        return np.zeros((0, 3), np.float32)
    own = np.asarray(person.params["transl"], np.float32).reshape(3)
    return j[:55] - own + np.asarray(person.transl_full, np.float32).reshape(3)


def _stack(dicts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if not dicts:
        return {}
    return {k: np.stack([np.asarray(d[k], np.float32) for d in dicts]) for k in dicts[0]}


def make_record(index: int, time_s: float, people: list[PersonEstimate], person_ids: list[int],
                raw: list[dict[str, np.ndarray]], tracker_boxes: np.ndarray | None = None
                ) -> FrameRecord:
    """The :class:`FrameRecord` of a finished frame. ``tracker_boxes``: the boxes given to the
    tracker when they differ from the people's boxes (default: the people's boxes)."""
    n = len(people)
    boxes = (np.asarray([p.bbox_xywh for p in people], np.float32).reshape(n, 4)
             if tracker_boxes is None else np.asarray(tracker_boxes, np.float32).reshape(-1, 4))
    crop = np.asarray([p.crop_bbox_xywh if p.crop_bbox_xywh is not None else [np.nan] * 4
                       for p in people], np.float32).reshape(n, 4)
    final = [{**p.params, "transl_full": np.asarray(p.transl_full, np.float32).reshape(3)}
             for p in people]
    js = [joints_full(p) for p in people]
    jf = np.stack(js) if js and all(j.shape[0] == 55 for j in js) else np.zeros((n, 0, 3))
    return FrameRecord(
        index=index, time_s=time_s, boxes=boxes,
        scores=np.asarray([p.score for p in people], np.float32),
        person_ids=np.asarray(person_ids, np.int64),
        track_ids=np.asarray([-1 if p.track_id is None else p.track_id for p in people],
                             np.int64),
        crop_boxes=crop, raw=_stack(raw), final=_stack(final),
        joints_full=np.asarray(jf, np.float32),
    )


# ------------------------------------------------------------------------------ tracks


class TrackStore:
    """Per-track time series, saved as ``tracks.npz``.

    Keys: ``track_ids`` (K,), ``fps``; per track ``t{id}/frame_index`` (T,) from its first to its
    last frame, ``t{id}/valid`` (T,) bool (False where the track was not seen), ``t{id}/time_s``,
    ``t{id}/bbox_xywh`` (T, 4), ``t{id}/score``, every parameter ``t{id}/<key>`` (T, ...),
    ``t{id}/transl_full`` (T, 3) and ``t{id}/joints`` (T, 55, 3) skeleton joints in the shared
    camera (metres). Invalid rows are zeros.
    """

    def __init__(self) -> None:
        self.rows: dict[int, dict[int, dict[str, np.ndarray]]] = {}

    def add(self, record: FrameRecord) -> None:
        for i, tid in enumerate(record.track_ids.tolist()):
            if tid < 0:
                continue
            row = {k: v[i] for k, v in record.final.items()}
            row["bbox_xywh"] = record.boxes[i] if i < len(record.boxes) else np.zeros(4)
            row["score"] = np.float32(record.scores[i])
            row["time_s"] = np.float64(record.time_s)
            if record.joints_full.shape[1] == 55:
                row["joints"] = record.joints_full[i]
            self.rows.setdefault(int(tid), {})[record.index] = row

    def arrays(self, fps: float) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {
            "track_ids": np.asarray(sorted(self.rows), np.int64), "fps": np.float64(fps)}
        for tid, frames in sorted(self.rows.items()):
            first, last = min(frames), max(frames)
            idx = np.arange(first, last + 1)
            valid = np.isin(idx, list(frames))
            out[f"t{tid}/frame_index"] = idx
            out[f"t{tid}/valid"] = valid
            template = frames[first]
            for key, val in template.items():
                val = np.asarray(val)
                arr = np.zeros((len(idx), *val.shape), val.dtype)
                for j, f in enumerate(idx):
                    if f in frames and key in frames[f]:
                        arr[j] = frames[f][key]
                out[f"t{tid}/{key}"] = arr
        return out


# ------------------------------------------------------------------------------ video out


class VideoEncoder:
    """An MP4 written with PyAV frame by frame, moved into place only by :meth:`close`.

    Uses libx264 (CRF 20) when the PyAV build has it, else mpeg4. Odd frame sizes are padded by
    one pixel (yuv420p needs even sizes).
    """

    def __init__(self, path: Path, fps: float) -> None:
        self.path = Path(path)
        self.fps = fps
        self._av = require("av", "video", "writing the overlay video")
        self._container: Any = None
        self._stream: Any = None
        self._tmp: Path | None = None
        self.codec = ""
        self.frames = 0

    def _open(self, h: int, w: int) -> None:
        av = self._av
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.stem}.", suffix=".tmp.mp4",
                                   dir=self.path.parent)
        os.close(fd)
        self._tmp = Path(tmp)
        self._container = av.open(str(self._tmp), mode="w", format="mp4")
        rate = Fraction(self.fps).limit_denominator(1001)
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        stream = self._container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = w + w % 2, h + h % 2, "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": "20", "preset": "veryfast"}
        else:
            stream.bit_rate = max(2_000_000, int(w * h * self.fps * 0.3))
        self._stream, self.codec = stream, codec

    def write(self, image_rgb: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 RGB frame (all frames must have the same size)."""
        h, w = image_rgb.shape[:2]
        if self._container is None:
            self._open(h, w)
        if (h + h % 2, w + w % 2) != (self._stream.height, self._stream.width):
            raise InputError(f"overlay frame size changed to {w}x{h} inside one video")
        if h % 2 or w % 2:
            image_rgb = np.pad(image_rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(image_rgb), format="rgb24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> Path | None:
        """Flush and move the file into place; ``None`` when no frame was written."""
        if self._container is None:
            return None
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        self._container = None
        assert self._tmp is not None
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Drop the partial file."""
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.close()
            self._container = None
        if self._tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._tmp)


# ------------------------------------------------------------------------------ writer


class SequenceWriter:
    """Writes the outputs of one sequence (see the module docstring) from a background thread.

    Args:
        folder: the sequence's output folder.
        settings: what must match for ``--resume`` (estimator, weights, smoothing, ...).
        resume: keep the manifest of an earlier run and report its finished frames.
        video: a video (``overlay.mp4``) rather than images (``overlay/*.png``).
        save_mesh: mesh formats to write (``"obj"``, ``"ply"``, ``"glb"``).
        render: write overlays; ``fps``: frame rate of the overlay video and of ``tracks.npz``.
        tracks: keep per-track series and write ``tracks.npz`` at the end.
        weights: the weight file recorded in the meta files.
    """

    def __init__(
        self,
        folder: Path,
        settings: dict[str, Any],
        *,
        resume: bool = False,
        video: bool = False,
        save_mesh: tuple[str, ...] = (),
        render: bool = False,
        fps: float = 30.0,
        tracks: bool = False,
        weights: str = "",
        max_pending: int = 64,
    ) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.manifest = Manifest.open(self.folder, settings, resume)
        self.video, self.save_mesh, self.render = video, tuple(save_mesh), render
        self.fps, self.weights = float(fps), weights
        self.tracks = TrackStore() if tracks else None
        self.encoder = VideoEncoder(self.folder / "overlay.mp4", fps) if (render and video) \
            else None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ehps-writer")
        self._pending: deque[Future[Any]] = deque()
        self._max_pending = max_pending
        self._lock = threading.Lock()
        self.files_written = 0

    # -- background queue ------------------------------------------------------------------
    def _submit(self, fn: Callable[..., Any], *args: Any) -> None:
        while self._pending and self._pending[0].done():
            self._pending.popleft().result()  # re-raise a failed write here
        while len(self._pending) >= self._max_pending:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(fn, *args))

    def flush(self) -> None:
        """Wait for every queued write (re-raising the first failure)."""
        while self._pending:
            self._pending.popleft().result()

    # -- queries ---------------------------------------------------------------------------
    def is_done(self, index: int) -> bool:
        return index in self.manifest.done

    def record_path(self, index: int) -> Path:
        return self.folder / "state" / f"{index:06d}.npz"

    def load_record(self, index: int) -> FrameRecord:
        return FrameRecord.load(self.record_path(index))

    # -- writing ---------------------------------------------------------------------------
    def write_frame(
        self,
        result: FrameResult,
        record: FrameRecord,
        source: str,
        overlay: np.ndarray | None = None,
        faces: np.ndarray | None = None,
        smoothed: bool = False,
    ) -> None:
        """Queue every file of one finished frame, then its manifest entry."""
        people = list(result.people)
        ids = record.person_ids.tolist()
        for person, pid in zip(people, ids):
            stem = person_stem(record.index, pid)
            arrays = _npz_arrays(person)
            meta = _meta(person, pid, record, result, source, self.weights, smoothed)
            meshes = []
            if self.save_mesh and faces is not None and person.vertices_cam.shape[0]:
                verts = person.vertices_full()
                meshes = [(self.folder / "mesh" / f"{stem}.{fmt}", fmt) for fmt in self.save_mesh]
                self._submit(_write_meshes, meshes, verts, faces)
            self._submit(functools.partial(atomic_save_npz, self.folder / "smplx" / f"{stem}.npz",
                                           **arrays))
            self._submit(atomic_write_json, self.folder / "meta" / f"{stem}.json", meta)
            self.files_written += 2 + len(meshes)
        self._submit(_save_record, self.record_path(record.index), record)
        if overlay is not None:
            if self.encoder is not None:
                self._submit(self.encoder.write, overlay)
            else:
                self._submit(atomic_write_image,
                             self.folder / "overlay" / f"{record.index:06d}.png", overlay)
        self.mark_done(record, source)

    def replay_frame(self, record: FrameRecord, overlay: np.ndarray | None = None) -> None:
        """A frame finished by an earlier run: only its overlay (video) and tracks are rebuilt."""
        if self.tracks is not None:
            self.tracks.add(record)
        if overlay is not None and self.encoder is not None:
            self._submit(self.encoder.write, overlay)

    def mark_done(self, record: FrameRecord, source: str) -> None:
        if self.tracks is not None:
            self.tracks.add(record)
        self._submit(self._mark, record.index, source)

    def _mark(self, index: int, source: str) -> None:
        with self._lock:
            self.manifest.done.add(index)
            self.manifest.failed.pop(index, None)
            if not self.video:
                self.manifest.sources[index] = source

    def checkpoint(self) -> None:
        """Queue a manifest write (after the files queued so far): call it after each group of
        finished frames, so that an interrupted run loses at most the group in flight."""
        self._submit(self._write_manifest)

    def _write_manifest(self) -> None:
        with self._lock:
            data = self.manifest.to_json()
        atomic_write_json(self.manifest.path, data)

    def record_failure(self, index: int, message: str) -> None:
        def fail() -> None:
            with self._lock:
                self.manifest.failed[index] = message

        self._submit(fail)

    def close(self, complete: bool) -> dict[str, Path]:
        """Finish: the overlay video and ``tracks.npz`` (when ``complete``), the manifest.

        Returns:
            name -> path of the sequence-level files written.
        """
        files: dict[str, Path] = {}
        try:
            self.flush()
        finally:
            self._pool.shutdown(wait=True)
        if self.encoder is not None:
            if complete:
                path = self.encoder.close()
                if path is not None:
                    files["overlay.mp4"] = path
            else:
                self.encoder.abort()
        if self.tracks is not None and complete:
            path = self.folder / "tracks.npz"
            atomic_save_npz(path, **self.tracks.arrays(self.fps))
            files["tracks.npz"] = path
        self.manifest.complete = complete
        atomic_write_json(self.manifest.path, self.manifest.to_json())
        files["manifest.json"] = self.manifest.path
        return files


def _npz_arrays(person: PersonEstimate) -> dict[str, np.ndarray]:
    """The person's npz: the official SMPLer-X demo keys and shapes first, then the fields
    ``ehps demo`` writes (model-specific parameters, body_model, camera, box, score, joints)."""
    from ehps.fitting.demo import person_npz_arrays

    arrays = person_npz_arrays(person, person.intrinsics)
    for key, shape in SMPLX_PARAM_KEYS.items():
        arrays[key] = np.asarray(arrays[key], np.float32).reshape(shape)
    arrays["transl_full"] = np.asarray(person.transl_full, np.float32).reshape(1, 3)
    if person.track_id is not None:
        arrays["track_id"] = np.int64(person.track_id)
    return arrays


def _meta(person: PersonEstimate, pid: int, record: FrameRecord, result: FrameResult,
          source: str, weights: str, smoothed: bool) -> dict[str, Any]:
    k, ks = person.intrinsics, result.intrinsics
    crop = person.crop_bbox_xywh
    return {
        "img_path": source,
        "frame": record.index,
        "time_s": round(float(record.time_s), 6),
        "person": pid,
        "track_id": person.track_id,
        "estimator": person.estimator,
        "weights": weights,
        "body_model": person.body_model,
        "focal": [float(k.fx), float(k.fy)],
        "princpt": [float(k.cx), float(k.cy)],
        "bbox": [float(v) for v in (crop if crop is not None else person.bbox_xywh)],
        "bbox_raw": [float(v) for v in person.bbox_xywh],
        "score": float(person.score),
        "transl": [float(v) for v in np.asarray(person.params["transl"]).reshape(3)],
        "transl_full": [float(v) for v in np.asarray(person.transl_full).reshape(3)],
        "focal_full": [float(ks.fx), float(ks.fy)],
        "princpt_full": [float(ks.cx), float(ks.cy)],
        "image_hw": [int(result.image_hw[0]), int(result.image_hw[1])],
        "smoothed": bool(smoothed),
    }


def _write_meshes(targets: list[tuple[Path, str]], verts: np.ndarray, faces: np.ndarray) -> None:
    from ehps.export.mesh import save_mesh

    for path, fmt in targets:
        v = verts * _GLTF_FROM_OPENCV if fmt == "glb" else verts
        save_mesh(path, v, faces, file_format=fmt)


def _save_record(path: Path, record: FrameRecord) -> None:
    atomic_save_npz(path, **record.arrays())
