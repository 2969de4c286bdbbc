"""One sequence through the predictor: detect -> track -> batch -> network / fit -> smooth ->
mesh -> render -> write, frame by frame in order.

Network path: each frame is detected (or given boxes), tracked and cropped as it arrives; crops
from consecutive frames queue up and go through the network in full batches of ``batch_size``
(a smaller final batch at the end). A frame is finished once all its people have network outputs,
and finished frames leave the queue in frame order: their people are smoothed per track, meshed
by one batched SMPL-X pass, rendered and written. Embedded path: one fit per frame (batched over
its people), then the same tracking, smoothing and writing.

Smoothing (videos and ``--sequence``; per track): the One-Euro filter of
:mod:`ehps.inference.smoothing` on every parameter, rotations on SO(3) (:class:`PackedSmoother`:
the arithmetic of ``ParamSmoother`` with all keys packed into two filters). The
translation is smoothed in the shared camera (``transl_full``): per-person crop cameras change
from frame to frame, so their translations are not one signal. The person-camera ``transl`` is
then recomputed from the smoothed ``transl_full`` (exact inverse map).

Resume: a frame finished by an earlier run is not estimated again; its record replays the tracker
(the recorded boxes, in the recorded order) and the smoothers (the recorded raw parameters), so
the state after it equals that of an uninterrupted run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ehps.geometry.camera import Intrinsics
from ehps.inference.predictor import Predictor
from ehps.inference.smoothing import ROTATION_KEYS, OneEuroFilter, RotationOneEuroFilter
from ehps.inference.sources import BoxesTable, Frame
from ehps.inference.tracking import IoUTracker
from ehps.inference.writer import FrameRecord, SequenceWriter, make_record
from ehps.structures import FrameResult, PersonEstimate

__all__ = ["SmoothingConfig", "SequenceStats", "SequenceRunner", "PackedSmoother",
           "render_frame", "OVERLAY_MAX_SIDE"]

log = logging.getLogger(__name__)

#: Most decoded frames held back waiting for network or body-model batches.
_MAX_HELD_FRAMES = 64
#: Longest side of overlay images (larger frames are drawn downscaled), as ``ehps demo``.
OVERLAY_MAX_SIDE = 1600


@dataclass(frozen=True)
class SmoothingConfig:
    """One-Euro parameters (see :class:`ParamSmoother`); ``enabled=False`` turns it off."""

    enabled: bool = True
    min_cutoff: float = 1.0
    beta: float = 0.5
    d_cutoff: float = 1.0


class PackedSmoother:
    """:class:`ehps.inference.smoothing.ParamSmoother` with all rotations in one filter and all
    other floating-point parameters in another: the same arithmetic (both filters work per
    rotation / per element), about ten times fewer calls. Every call must pass the same keys.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.5, d_cutoff: float = 1.0
                 ) -> None:
        self.rot = RotationOneEuroFilter(min_cutoff, beta, d_cutoff)
        self.vec = OneEuroFilter(min_cutoff, beta, d_cutoff)

    def __call__(self, params: dict[str, np.ndarray], t: float) -> dict[str, np.ndarray]:
        arrays = {k: np.asarray(v) for k, v in params.items()}
        floats = {k: v for k, v in arrays.items() if np.issubdtype(v.dtype, np.floating)}
        rot_keys = [k for k in floats if k in ROTATION_KEYS]
        vec_keys = [k for k in floats if k not in ROTATION_KEYS]
        out = dict(arrays)
        if rot_keys:
            packed = np.concatenate([floats[k].reshape(-1, 3) for k in rot_keys])
            res = self.rot(packed.astype(np.float64), t)
            start = 0
            for k in rot_keys:
                n = floats[k].size // 3
                out[k] = res[start : start + n].astype(floats[k].dtype).reshape(floats[k].shape)
                start += n
        if vec_keys:
            packed = np.concatenate([floats[k].reshape(-1) for k in vec_keys])
            res = self.vec(packed.astype(np.float64), t)
            start = 0
            for k in vec_keys:
                n = floats[k].size
                out[k] = res[start : start + n].astype(floats[k].dtype).reshape(floats[k].shape)
                start += n
        return out


@dataclass
class SequenceStats:
    """What happened to one sequence."""

    frames_done: int = 0
    frames_resumed: int = 0
    frames_failed: int = 0
    frames_without_people: int = 0
    people: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    tracks: int = 0
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class _Job:
    frame: Frame
    k_shared: Intrinsics
    boxes: np.ndarray
    scores: np.ndarray
    crop_boxes: np.ndarray
    track_ids: np.ndarray | None
    crops: np.ndarray | None
    outputs: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return len(self.outputs) == len(self.crop_boxes)


def render_frame(
    image: np.ndarray,
    result: FrameResult,
    faces: np.ndarray | None,
    side_view: bool = False,
    backend: str = "auto",
    boxes: bool = True,
) -> np.ndarray:
    """Overlay of every person's mesh (own camera, colour by track id) with labelled boxes."""
    import cv2

    from ehps.render import color_for_index, draw_boxes, render_overlay

    h, w = image.shape[:2]
    scale = min(1.0, OVERLAY_MAX_SIDE / max(h, w))
    if scale < 1.0:
        image = cv2.resize(image, (round(w * scale), round(h * scale)),
                           interpolation=cv2.INTER_AREA)
    people = [p for p in result.people if p.vertices_cam.shape[0]]
    ids = [p.track_id if p.track_id is not None else i for i, p in enumerate(people)]
    colors = [color_for_index(int(i)) for i in ids]
    cams = [Intrinsics(p.intrinsics.fx * scale, p.intrinsics.fy * scale,
                       p.intrinsics.cx * scale, p.intrinsics.cy * scale) for p in people]
    meshes = [(p.vertices_cam, faces) for p in people] if faces is not None else []
    out = render_overlay(image, meshes, cams if meshes else result.intrinsics,
                         colors=colors if meshes else None, side_view=side_view, backend=backend)
    if boxes and result.people:
        labels = [f"id {p.track_id}" if p.track_id is not None else f"#{i}"
                  for i, p in enumerate(result.people)]
        box_ids = [p.track_id if p.track_id is not None else i
                   for i, p in enumerate(result.people)]
        panel = draw_boxes(np.ascontiguousarray(out[:, : image.shape[1]]),
                           np.asarray([p.bbox_xywh for p in result.people]) * scale,
                           colors=[color_for_index(int(i)) for i in box_ids], labels=labels)
        out = np.concatenate([panel, out[:, image.shape[1]:]], axis=1) if side_view else panel
    return out


class SequenceRunner:
    """Runs the frames of one sequence (see the module docstring).

    Args:
        predictor: the :class:`Predictor`.
        writer: the sequence's :class:`SequenceWriter`.
        intrinsics: the shared camera; ``None``: derived from each frame's size.
        boxes: boxes given instead of the detector (frames without an entry have nobody).
        track: give people stable ids (IoU + motion, Hungarian matching).
        smoothing: temporal smoothing per track (needs ``track``).
        render: draw overlays; ``side_view``, ``render_backend``, ``draw_boxes`` as in
            :func:`render_frame`.
        pose_batch: finished frames wait until they hold this many people, so that the
            body model runs in large batches (memory: the held frames' images).
        on_frame: called with each frame index once it is written (progress bars, tests).
    """

    def __init__(
        self,
        predictor: Predictor,
        writer: SequenceWriter,
        *,
        intrinsics: Intrinsics | None = None,
        boxes: BoxesTable | None = None,
        track: bool = False,
        smoothing: SmoothingConfig | None = None,
        render: bool = False,
        side_view: bool = False,
        render_backend: str = "auto",
        draw_boxes: bool = True,
        max_misses: int = 15,
        pose_batch: int = 64,
        on_frame: Callable[[int, int], None] | None = None,
    ) -> None:
        self.predictor = predictor
        self.writer = writer
        self.intrinsics = intrinsics
        self.boxes = boxes
        self.tracker = IoUTracker(max_misses=max_misses) if track else None
        smoothing = smoothing or SmoothingConfig(enabled=False)
        self.smoothing = smoothing if (track and smoothing.enabled) else None
        self.smoothers: dict[int, PackedSmoother] = {}
        self._last_smoothed: dict[int, int] = {}
        self.max_misses = max_misses
        self.render = render
        self.side_view, self.render_backend, self.draw_boxes = side_view, render_backend, \
            draw_boxes
        self.on_frame = on_frame
        self.stats = SequenceStats()
        self._pending: list[_Job] = []
        self._queue: list[tuple[_Job, int]] = []
        self.pose_batch = max(pose_batch, predictor.batch_size)
        self._faces = predictor.faces if (render or writer.save_mesh) else None

    # ------------------------------------------------------------------------------ public

    def process(self, frame: Frame) -> None:
        """Take one decoded frame (or a frame that failed to decode)."""
        if frame.error or frame.image is None:
            self.stats.frames_failed += 1
            self.stats.failures.append((frame.source, frame.error or "unreadable frame"))
            self.writer.record_failure(frame.index, frame.error)
            log.warning("%s", frame.error)
            return
        if self.writer.is_done(frame.index):
            old = self.writer.manifest.sources.get(frame.index)
            if old is not None and old != frame.source:
                from ehps.errors import InputError

                raise InputError(
                    f"cannot resume: frame {frame.index} was {old!r} in the interrupted run but "
                    f"is {frame.source!r} now (the input list changed); run without --resume"
                )
            try:
                record = self.writer.load_record(frame.index)
            except (OSError, ValueError, KeyError):
                record = None  # its record is gone: estimate it again
            if record is not None:
                self._flush(final=True)
                self._replay(frame, record)
                return
        h, w = frame.image.shape[:2]
        k = self.intrinsics or Intrinsics.from_image_size(w, h)
        given = None
        if self.boxes is not None:
            given = self.boxes.lookup(frame.source, frame.index, frame.path)
            if given is None:
                given = (np.zeros((0, 4), np.float32), np.zeros((0,), np.float32))
        if self.predictor.kind == "embedded":
            self._embedded(frame, k, given)
            return
        if given is None:
            boxes, scores = self.predictor.detect(frame.image)
        else:
            boxes, scores = self.predictor.limit_people(*given)
        crops, crop_boxes, keep = self.predictor.crop(frame.image, boxes)
        boxes, scores = boxes[keep], scores[keep]
        ids = self._track(boxes, frame.index)
        job = _Job(frame, k, boxes, scores, crop_boxes, ids, crops)
        self._pending.append(job)
        self._queue.extend((job, i) for i in range(len(crop_boxes)))
        while len(self._queue) >= self.predictor.batch_size:
            self._run_batch(self.predictor.batch_size)
        if len(self._pending) > _MAX_HELD_FRAMES:
            self._flush(final=True)
        else:
            self._finish_ready(final=False)

    def finish(self) -> None:
        """Run what is still queued and write it."""
        self._flush(final=True)

    # --------------------------------------------------------------------------- internals

    def _tick(self, key: str, t0: float) -> None:
        self.stats.timings[key] = self.stats.timings.get(key, 0.0) + time.perf_counter() - t0

    def _track(self, boxes: np.ndarray, index: int) -> np.ndarray | None:
        if self.tracker is None:
            return None
        t0 = time.perf_counter()
        ids = self.tracker.update(boxes, index)
        self._tick("track", t0)
        return ids

    def _run_batch(self, n: int) -> None:
        take, self._queue = self._queue[:n], self._queue[n:]
        if not take:
            return
        crops = np.stack([job.crops[i] for job, i in take])
        out = self.predictor.run_network(crops)
        for row, (job, i) in enumerate(take):
            job.outputs[i] = {k: v[row] for k, v in out.items()}
            if job.complete:
                job.crops = None  # free the crops early

    def _flush(self, final: bool) -> None:
        while self._queue:
            self._run_batch(self.predictor.batch_size)
        self._finish_ready(final=final)

    def _finish_ready(self, final: bool) -> None:
        """Finish the complete frames at the head of the queue, in order. Unless ``final``,
        wait until they hold ``pose_batch`` people (one efficient body-model batch)."""
        n = 0
        while n < len(self._pending) and self._pending[n].complete:
            n += 1
        people = sum(len(job.crop_boxes) for job in self._pending[:n])
        if n == 0 or (not final and people < self.pose_batch and n < _MAX_HELD_FRAMES):
            return
        ready, self._pending = self._pending[:n], self._pending[n:]
        results = []
        for job in ready:
            n = len(job.crop_boxes)
            outputs = {k: np.stack([job.outputs[i][k] for i in range(n)])
                       for k in (job.outputs[0] if n else {})}
            res = FrameResult(job.frame.source, job.frame.index, job.frame.image.shape[:2],
                              job.k_shared, faces=self._faces)
            res.people = self.predictor.make_people(job.boxes, job.scores, job.crop_boxes,
                                                    outputs, job.k_shared) if n else []
            if job.track_ids is not None:
                for p, tid in zip(res.people, job.track_ids.tolist()):
                    p.track_id = int(tid)
            raw = self._smooth(job.frame, res)
            results.append((job.frame, res, raw, job.boxes))
        self.predictor.pose([p for _, r, _, _ in results for p in r.people])
        for frame, res, raw, boxes in results:
            self._write(frame, res, raw, boxes)
        self.writer.checkpoint()

    def _embedded(self, frame: Frame, k: Intrinsics,
                  given: tuple[np.ndarray, np.ndarray] | None) -> None:
        assert frame.image is not None
        res = self.predictor.estimate_embedded(
            frame.image, k, None if given is None else given[0], frame.source, frame.index,
            scores=None if given is None else given[1])
        res.faces = self._faces
        boxes = np.asarray([p.bbox_xywh for p in res.people], np.float32).reshape(-1, 4)
        ids = self._track(boxes, frame.index)
        if ids is not None:
            for p, tid in zip(res.people, ids.tolist()):
                p.track_id = int(tid)
        raw = self._smooth(frame, res)
        if self.smoothing is not None and res.people:
            self.predictor.pose(res.people)
        self._write(frame, res, raw, boxes)
        self.writer.checkpoint()

    def _smooth(self, frame: Frame, res: FrameResult) -> list[dict[str, np.ndarray]]:
        """Smooth the people of a frame in place; returns their raw parameters."""
        raw = [{**{k: np.array(v, np.float32) for k, v in p.params.items()},
                "transl_full": np.asarray(p.transl_full, np.float32).reshape(3).copy()}
               for p in res.people]
        if self.smoothing is None:
            return raw
        t0 = time.perf_counter()
        for p, r in zip(res.people, raw):
            if p.track_id is None:
                continue
            smoothed = self._smooth_step(p.track_id, r, frame)
            p.params = {k: smoothed[k] for k in p.params if k != "transl"}
            p.params["transl"] = np.zeros((1, 3), np.float32)
            self.predictor.set_transl_full(p, smoothed["transl"], res.intrinsics)
        self._tick("smooth", t0)
        return raw

    def _smooth_step(self, track_id: int, raw: dict[str, np.ndarray], frame: Frame
                     ) -> dict[str, np.ndarray]:
        """One sample of a track's filter. Filters of tracks unseen for longer than the
        tracker keeps a track are dropped here, in frame order (the tracker itself runs ahead
        of smoothing by up to a batch of frames)."""
        s = self.smoothing
        assert s is not None
        stale = [t for t, last in self._last_smoothed.items()
                 if frame.index - last > self.max_misses + 1]
        for t in stale:
            del self.smoothers[t], self._last_smoothed[t]
        if track_id not in self.smoothers:
            self.smoothers[track_id] = PackedSmoother(s.min_cutoff, s.beta, s.d_cutoff)
        self._last_smoothed[track_id] = frame.index
        return self.smoothers[track_id](_smoother_input(raw), frame.time_s)

    def _write(self, frame: Frame, res: FrameResult, raw: list[dict[str, np.ndarray]],
               tracker_boxes: np.ndarray) -> None:
        people = res.people
        ids = [p.track_id if p.track_id is not None else i for i, p in enumerate(people)]
        record = make_record(frame.index, frame.time_s, people, ids, raw, tracker_boxes)
        overlay = None
        if self.render:
            t0 = time.perf_counter()
            assert frame.image is not None
            overlay = render_frame(frame.image, res, self._faces, self.side_view,
                                   self.render_backend, self.draw_boxes)
            self._tick("render", t0)
        t0 = time.perf_counter()
        self.writer.write_frame(res, record, frame.source, overlay, self._faces,
                                smoothed=self.smoothing is not None)
        self._tick("write", t0)
        self.stats.frames_done += 1
        self.stats.people += len(people)
        if not people:
            self.stats.frames_without_people += 1
            if not self.writer.video:
                log.warning("no person found in %s", frame.source)
        if self.on_frame is not None:
            self.on_frame(frame.index, len(people))

    def _replay(self, frame: Frame, record: FrameRecord) -> None:
        """A frame finished by an earlier run: rebuild tracker, smoothers, tracks, overlay."""
        if self.tracker is not None:
            ids = self._track(record.boxes, frame.index)
            if ids is not None and record.track_ids.size and not np.array_equal(
                    ids, record.track_ids):
                log.warning("frame %d: the replayed tracker gave other ids than the recorded "
                            "ones (the recorded ids are kept)", frame.index)
        if self.smoothing is not None:
            for i, tid in enumerate(record.track_ids.tolist()):
                if tid >= 0:
                    r = {k: v[i] for k, v in record.raw.items()}
                    self._smooth_step(int(tid), r, frame)
        overlay = None
        if self.render and self.writer.video:
            t0 = time.perf_counter()
            res = self._result_from_record(frame, record)
            self.predictor.pose(res.people)
            overlay = render_frame(frame.image, res, self._faces, self.side_view,
                                   self.render_backend, self.draw_boxes)
            self._tick("render", t0)
        self.writer.replay_frame(record, overlay)
        self.stats.frames_resumed += 1
        if self.on_frame is not None:
            self.on_frame(frame.index, len(record.person_ids))

    def _result_from_record(self, frame: Frame, record: FrameRecord) -> FrameResult:
        from ehps.inference.camera import person_intrinsics

        assert frame.image is not None
        h, w = frame.image.shape[:2]
        k = self.intrinsics or Intrinsics.from_image_size(w, h)
        res = FrameResult(frame.source, frame.index, (h, w), k, faces=self._faces)
        for i in range(len(record.person_ids)):
            params = {key: np.asarray(v[i]) for key, v in record.final.items()
                      if key != "transl_full"}
            crop = record.crop_boxes[i]
            network = bool(np.isfinite(crop).all())
            tid = int(record.track_ids[i])
            res.people.append(PersonEstimate(
                bbox_xywh=record.boxes[i], score=float(record.scores[i]),
                body_model="smplx" if network else self.predictor.load_body_model().name,
                params=params, vertices_cam=np.zeros((0, 3), np.float32),
                joints_cam=np.zeros((0, 3), np.float32), joints_img=np.zeros((0, 2), np.float32),
                intrinsics=person_intrinsics(crop) if network else k,
                transl_full=record.final["transl_full"][i],
                crop_bbox_xywh=crop if network else None,
                track_id=None if tid < 0 else tid, estimator=self.predictor.name,
            ))
        return res


def _smoother_input(raw: dict[str, Any]) -> dict[str, np.ndarray]:
    """What the smoother sees: the parameters with the translation in the shared camera."""
    out = {k: np.asarray(v, np.float32) for k, v in raw.items() if k not in ("transl_full",)}
    out["transl"] = np.asarray(raw["transl_full"], np.float32).reshape(1, 3)
    return out
