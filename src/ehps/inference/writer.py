"""The write stage: one sequence's result files (layout: :mod:`ehps.io.results`), written from a
background thread.

Every file is written atomically (temporary file, then rename) with ordinary permissions. File
I/O runs on one background thread, in submission order, so the manifest never lists a frame whose
files are not all on disk, and an interrupted run loses at most the frames in flight. The frame
records make ``--resume`` exact (see :mod:`ehps.inference.loop`); ``tracks.npz`` and the overlay
video are rebuilt from the records of finished frames.
"""

from __future__ import annotations

import functools
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ehps.errors import OutputError
from ehps.inference.sources import Frame
from ehps.io.manifest import MANIFEST_NAME, Manifest
from ehps.io.outdir import reason
from ehps.io.records import FrameRecord, TrackStore, make_record
from ehps.io.results import person_meta, person_npz_arrays, person_stem
from ehps.io.video import VideoEncoder
from ehps.structures import FrameResult
from ehps.utils.io import atomic_save_npz, atomic_write_image, atomic_write_json

__all__ = ["SequenceWriter"]

#: OpenCV camera axes -> glTF axes (a half turn about x), as GLB files are written.
_GLTF_FROM_OPENCV = np.array([1.0, -1.0, -1.0], np.float32)


class SequenceWriter:
    """Writes the outputs of one sequence (a :class:`ehps.inference.loop.Sink`).

    Args:
        folder: the sequence's output folder.
        settings: what must match for ``--resume`` (estimator, weights, smoothing, ...).
        resume: keep the manifest of an earlier run and report its finished frames.
        video: a video (``overlay.mp4``) rather than images (``overlay/*.png``).
        save_mesh: mesh formats to write (``"obj"``, ``"ply"``, ``"glb"``).
        render: write overlays; ``fps``: frame rate of the overlay video and of ``tracks.npz``.
        tracks: keep per-track series and write ``tracks.npz`` at the end.
        weights: the weight file recorded in the meta files.
        faces: (F, 3) mesh triangles (needed for ``save_mesh``).
        manifest_name: where the manifest goes, relative to ``folder`` (scale-out ranks that
            share a folder each write a part: :func:`ehps.io.manifest.part_name`).
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
        faces: np.ndarray | None = None,
        max_pending: int = 64,
        manifest_name: str = MANIFEST_NAME,
    ) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.manifest = Manifest.open(self.folder, settings, resume, manifest_name)
        self.video, self.save_mesh, self.render = video, tuple(save_mesh), render
        self.fps, self.weights, self.faces = float(fps), weights, faces
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
            self._result(self._pending.popleft())
        while len(self._pending) >= self._max_pending:
            self._result(self._pending.popleft())
        self._pending.append(self._pool.submit(fn, *args))

    def _result(self, future: Future[Any]) -> None:
        """Re-raise a failed write here, as one line naming the folder and the reason."""
        try:
            future.result()
        except OSError as exc:
            where = exc.filename or self.folder
            raise OutputError(f"cannot write the results to {where}: {reason(exc)}") from None

    def flush(self) -> None:
        """Wait for every queued write (re-raising the first failure)."""
        while self._pending:
            self._result(self._pending.popleft())

    # -- queries ---------------------------------------------------------------------------
    def is_done(self, index: int) -> bool:
        return index in self.manifest.done

    def record_path(self, index: int) -> Path:
        return self.folder / "state" / f"{index:06d}.npz"

    def load_record(self, index: int) -> FrameRecord:
        return FrameRecord.load(self.record_path(index))

    # -- the sink --------------------------------------------------------------------------
    def write(self, frame: Frame, result: FrameResult, raw: list[dict[str, np.ndarray]],
              tracker_boxes: np.ndarray, overlay: np.ndarray | None, smoothed: bool) -> None:
        """Queue every file of one finished frame, then its manifest entry."""
        people = list(result.people)
        ids = [p.track_id if p.track_id is not None else i for i, p in enumerate(people)]
        record = make_record(frame.index, frame.time_s, people, ids, raw, tracker_boxes)
        for person, pid in zip(people, ids):
            stem = person_stem(frame.index, pid)
            meta = person_meta(person, pid, frame.index, frame.time_s, result, frame.source,
                               self.weights, smoothed)
            meshes = []
            if self.save_mesh and self.faces is not None and person.vertices_cam.shape[0]:
                meshes = [(self.folder / "mesh" / f"{stem}.{fmt}", fmt) for fmt in self.save_mesh]
                self._submit(_write_meshes, meshes, person.vertices_full(), self.faces)
            self._submit(functools.partial(atomic_save_npz, self.folder / "smplx" / f"{stem}.npz",
                                           **person_npz_arrays(person)))
            self._submit(atomic_write_json, self.folder / "meta" / f"{stem}.json", meta)
            self.files_written += 2 + len(meshes)
        self._submit(_save_record, self.record_path(frame.index), record)
        if overlay is not None:
            if self.encoder is not None:
                self._submit(self.encoder.write, overlay)
            else:
                self._submit(atomic_write_image,
                             self.folder / "overlay" / f"{frame.index:06d}.png", overlay)
        if self.tracks is not None:
            self.tracks.add(record)
        self._submit(self._mark, frame.index, frame.source)

    def replay(self, frame: Frame, record: FrameRecord, overlay: np.ndarray | None) -> None:
        """A frame finished by an earlier run: only its overlay (video) and tracks are rebuilt."""
        if self.tracks is not None:
            self.tracks.add(record)
        if overlay is not None and self.encoder is not None:
            self._submit(self.encoder.write, overlay)

    def fail(self, frame: Frame, message: str) -> None:
        def fail() -> None:
            with self._lock:
                self.manifest.failed[frame.index] = message

        self._submit(fail)

    def checkpoint(self) -> None:
        """Queue a manifest write (after the files queued so far): called after each group of
        finished frames, so that an interrupted run loses at most the group in flight."""
        self._submit(self._write_manifest)

    def _mark(self, index: int, source: str) -> None:
        with self._lock:
            self.manifest.done.add(index)
            self.manifest.failed.pop(index, None)
            if not self.video:
                self.manifest.sources[index] = source

    def _write_manifest(self) -> None:
        with self._lock:
            data = self.manifest.to_json()
        atomic_write_json(self.manifest.path, data)

    def close(self, complete: bool) -> dict[str, Path]:
        """Finish: the overlay video and ``tracks.npz`` (when ``complete``), the manifest.

        Returns:
            name -> path of the sequence-level files written.
        """
        files: dict[str, Path] = {}
        try:
            self.flush()
        except BaseException:
            self._pool.shutdown(wait=True)
            if self.encoder is not None:
                self.encoder.abort()
            raise
        self._pool.shutdown(wait=True)
        if not complete and self.encoder is not None:
            self.encoder.abort()
        try:
            if self.encoder is not None and complete:
                path = self.encoder.close()
                if path is not None:
                    files["overlay.mp4"] = path
            if self.tracks is not None and complete:
                path = self.folder / "tracks.npz"
                atomic_save_npz(path, **self.tracks.arrays(self.fps))
                files["tracks.npz"] = path
            self.manifest.complete = complete
            atomic_write_json(self.manifest.path, self.manifest.to_json())
        except OSError as exc:
            if self.encoder is not None:
                self.encoder.abort()
            raise OutputError(f"cannot write the results to {exc.filename or self.folder}: "
                              f"{reason(exc)}") from None
        files["manifest.json"] = self.manifest.path
        return files


def _write_meshes(targets: list[tuple[Path, str]], verts: np.ndarray, faces: np.ndarray) -> None:
    from ehps.export.mesh import save_mesh

    for path, fmt in targets:
        v = verts * _GLTF_FROM_OPENCV if fmt == "glb" else verts
        save_mesh(path, v, faces, file_format=fmt)


def _save_record(path: Path, record: FrameRecord) -> None:
    atomic_save_npz(path, **record.arrays())
