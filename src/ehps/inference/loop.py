"""The one stage loop of inference: decode -> detect -> track -> estimate -> smooth -> pose ->
render -> write, for single images, image sequences and videos alike.

It runs as two chains joined by a first-in first-out queue of :class:`FrameTask` objects:

- :class:`FrontStages` (per frame, as it is decoded): detect (:mod:`ehps.inference.detect`),
  prepare (the estimator's per-person input, e.g. the network crop), track (IoU + motion,
  :mod:`ehps.inference.tracking`). Its state depends only on earlier frames' detections.
- :class:`BackStages` (in frame order): estimate (:meth:`Estimator.estimate
  <ehps.inference.estimators.Estimator.estimate>`, in batches of the estimator's size: across
  frames for networks, one frame at a time for the fit), smooth (One-Euro per track, in the shared
  camera), pose (one batched body-model pass for the people of all finished frames, at least
  ``pose_batch`` people at a time), render and write (a :class:`Sink`). Its state depends only on
  earlier frames' estimates.

Because each chain's state depends only on its own past, the two chains (and the writer, which
already runs on its own thread) can later run on separate threads with a bounded queue between
them without changing any result: the order of frames through each chain is fixed.

Resume: a frame finished by an earlier run arrives with its record (``FrameTask.record``); the
front chain replays the tracker with the recorded boxes, the back chain replays the smoothers
with the recorded raw parameters (and re-renders a video's overlay), so that the state after it
equals that of an uninterrupted run. The recorded raw parameters of the embedded fit also become
the tracks' contexts, so that the first new frame is fitted warm.

Failures: a frame that cannot be decoded, or whose detection or estimation raises an ehps error
(:class:`~ehps.errors.EhpsError`), is named, counted and skipped; the others go on.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ehps.errors import EhpsError
from ehps.inference.camera import person_intrinsics
from ehps.inference.estimators import (
    CONTEXT_HISTORY,
    Estimator,
    PersonInput,
    TrackContext,
    pose_people,
)
from ehps.inference.front import FrameTask, FrontStages, SequenceStats, Sink, tick
from ehps.inference.smoothing import TrackSmoothers
from ehps.inference.sources import Frame
from ehps.structures import FrameResult, PersonEstimate

__all__ = ["BackStages", "StageLoop", "MAX_HELD_FRAMES"]

log = logging.getLogger(__name__)

#: Most frames held back waiting for estimation or body-model batches.
MAX_HELD_FRAMES = 64


class BackStages:
    """estimate -> smooth -> pose -> render -> write, in frame order (module docstring).

    Args:
        estimator: the estimator.
        sink: where finished frames go.
        smoother: per-track smoothing, or ``None``.
        render: ``render(image, result) -> overlay`` or ``None`` (no overlays).
        faces: (F, 3) triangles recorded in the results (meshes and overlays), or ``None``.
        pose_batch: finished frames wait until they hold this many people (one body-model
            batch), unless the input ends or ``MAX_HELD_FRAMES`` frames wait.
        on_frame: ``on_frame(frame_index, people, failed)`` after each frame (progress).
        on_result: ``on_result(result)`` with each newly estimated frame's
            :class:`~ehps.structures.FrameResult` (people with meshes and ``extras``), after it
            was handed to the sink.
        max_gap: frames after which an unseen track's context is forgotten.
        contexts: give tracked people their track's earlier estimates
            (:attr:`PersonInput.context <ehps.inference.estimators.PersonInput.context>`, warm
            starts); ``False``: every frame is estimated as if alone (``--per-frame``).
    """

    def __init__(self, estimator: Estimator, sink: Sink, stats: SequenceStats, *,
                 smoother: TrackSmoothers | None = None,
                 render: Callable[[np.ndarray, FrameResult], np.ndarray] | None = None,
                 faces: np.ndarray | None = None, pose_batch: int = 64,
                 on_frame: Callable[[int, int, bool], None] | None = None,
                 on_result: Callable[[FrameResult], None] | None = None,
                 max_gap: int = 16, contexts: bool = True) -> None:
        self.estimator, self.sink, self.stats = estimator, sink, stats
        self.smoother, self.render, self.faces = smoother, render, faces
        self.pose_batch = max(pose_batch, estimator.batch_size if not
                              estimator.frame_batches else 1)
        self.on_frame, self.on_result, self.max_gap = on_frame, on_result, max_gap
        self.pending: list[FrameTask] = []
        self.queue: list[PersonInput] = []
        self.memory: dict[int, TrackContext] = {}
        self.contexts = contexts

    # ------------------------------------------------------------------------------ input
    def push(self, task: FrameTask) -> None:
        """Take the next frame (in order)."""
        self.pending.append(task)
        if task.record is not None:
            self._remember_record(task)
        if not task.ready and (self.estimator.frame_batches or not task.inputs):
            self._estimate_frames([task])
        elif not task.ready:
            self.queue.extend(task.inputs)
            while len(self.queue) >= self.estimator.batch_size:
                self._run_batch(self.estimator.batch_size)
        if len(self.pending) > MAX_HELD_FRAMES:
            self.finish()
        else:
            self._finish_ready(final=False)

    def finish(self) -> None:
        """Estimate what is queued and write every frame."""
        while self.queue:
            self._run_batch(self.estimator.batch_size)
        self._finish_ready(final=True)

    # ------------------------------------------------------------------------- estimation
    def _contexts(self, inputs: list[PersonInput]) -> None:
        for inp in inputs:
            ctx = (self.memory.get(inp.track_id) if inp.track_id is not None and self.contexts
                   else None)
            if ctx is not None and inp.frame_index - ctx.frame_index > self.max_gap:
                del self.memory[ctx.track_id]
                ctx = None
            inp.context = ctx
            inp.followed = self.contexts and inp.track_id is not None

    def _remember(self, inputs: list[PersonInput], people: list[PersonEstimate]) -> None:
        if not self.contexts:
            return
        for inp, p in zip(inputs, people):
            if inp.track_id is not None:
                self._remember_one(inp.track_id, inp.frame_index, inp.time_s,
                                   dataclasses.replace(p, params=dict(p.params)))

    def _remember_one(self, track_id: int, frame_index: int, time_s: float,
                      raw: PersonEstimate) -> None:
        old = self.memory.get(track_id)
        chained = old is not None and frame_index - old.frame_index <= self.max_gap
        past = (old.past if chained and old is not None else ()) + ((time_s, raw.params),)
        frames = old.frames + 1 if chained and old is not None else 1
        self.memory[track_id] = TrackContext(track_id, frame_index, raw,
                                             past[-CONTEXT_HISTORY:], frames)

    def _remember_record(self, task: FrameTask) -> None:
        """A replayed frame's recorded raw estimates become its tracks' contexts, so that the
        first new frame after ``--resume`` is fitted warm, as in an uninterrupted run (without
        what the record does not keep: the optimiser's memory and the landmarks). Only people
        fitted in the shared camera (no crop box: the embedded fit) are carried."""
        rec, frame = task.record, task.frame
        if not self.contexts or rec is None or task.k_shared is None:
            return
        for i, tid in enumerate(rec.track_ids.tolist()):
            if tid < 0 or np.isfinite(rec.crop_boxes[i]).all() or "transl" not in rec.raw:
                continue
            params = {k: np.array(v[i]) for k, v in rec.raw.items() if k != "transl_full"}
            empty = np.zeros((0, 3), np.float32)
            raw = PersonEstimate(
                bbox_xywh=rec.boxes[i], score=float(rec.scores[i]),
                body_model=self.estimator.body_model_name, params=params, vertices_cam=empty,
                joints_cam=empty, joints_img=np.zeros((0, 2), np.float32),
                intrinsics=task.k_shared, transl_full=rec.raw["transl_full"][i], track_id=tid,
                estimator=self.estimator.name)
            self._remember_one(int(tid), frame.index, frame.time_s, raw)

    def _estimate_frames(self, tasks: list[FrameTask]) -> None:
        """Each task's people in one call (a failing frame fails alone)."""
        for task in tasks:
            self._contexts(task.inputs)
            try:
                task.people = self.estimator.estimate(task.inputs) if task.inputs else []
            except EhpsError as exc:
                task.error = f"{task.frame.source}: {exc}"
                continue
            self._remember(task.inputs, task.people)

    def _run_batch(self, n: int) -> None:
        """The next ``n`` queued people (of one or more frames) in one call."""
        take, self.queue = self.queue[:n], self.queue[n:]
        if not take:
            return
        self._contexts(take)
        try:
            people = self.estimator.estimate(take)
        except EhpsError:  # find the failing frame(s): their people one frame at a time
            frames = {inp.frame_index for inp in take}
            self.queue = [inp for inp in self.queue if inp.frame_index not in frames]
            tasks = [t for t in self.pending if t.frame.index in frames and not t.ready]
            for t in tasks:
                t.partial = []
            self._estimate_frames(tasks)
            return
        self._remember(take, people)
        waiting = {t.frame.index: t for t in self.pending if not t.ready}
        for inp, p in zip(take, people):
            task = waiting[inp.frame_index]
            task.partial.append(p)
            if len(task.partial) == len(task.inputs):
                task.people, task.partial = task.partial, []

    # ------------------------------------------------------------------------ the rest
    def _finish_ready(self, final: bool) -> None:
        n = 0
        while n < len(self.pending) and self.pending[n].ready:
            n += 1
        people = sum(len(t.people or []) for t in self.pending[:n])
        if n == 0 or (not final and people < self.pose_batch and n < MAX_HELD_FRAMES):
            return
        ready, self.pending = self.pending[:n], self.pending[n:]
        finished = []
        for task in ready:
            if task.error:
                self._fail(task)
            elif task.record is not None:
                finished.append((task, self._replayed(task), []))
            else:
                result, raw = self._result(task)
                finished.append((task, result, raw))
        t0 = time.perf_counter()
        to_pose = [p for _, res, _ in finished if res is not None for p in res.people
                   if not p.vertices_cam.shape[0]]
        pose_people(self.estimator.body_model(), to_pose, self.estimator.device)
        tick(self.stats.timings, "body_model", t0)
        for task, result, raw in finished:
            self._write(task, result, raw)
        self.sink.checkpoint()

    def _result(self, task: FrameTask) -> tuple[FrameResult, list[dict[str, np.ndarray]]]:
        """The frame's result, smoothed; returns it and the people's raw parameters."""
        frame = task.frame
        assert frame.image is not None and task.k_shared is not None and task.people is not None
        res = FrameResult(frame.source, frame.index, frame.image.shape[:2], task.k_shared,
                          faces=self.faces)
        res.people = task.people
        raw = [{**{k: np.array(v, np.float32) for k, v in p.params.items()},
                "transl_full": np.asarray(p.transl_full, np.float32).reshape(3).copy()}
               for p in res.people]
        if self.smoother is not None and res.people:
            t0 = time.perf_counter()
            for p, r in zip(res.people, raw):
                if p.track_id is None:
                    continue
                smoothed = self.smoother(p.track_id, _smoother_input(r), frame.index,
                                         frame.time_s)
                p.params = {k: smoothed[k] for k in p.params if k != "transl"}
                p.params["transl"] = np.zeros((1, 3), np.float32)
                self.estimator.relocate(p, smoothed["transl"], res.intrinsics)
                p.vertices_cam = np.zeros((0, 3), np.float32)  # the mesh is posed afresh
            tick(self.stats.timings, "smooth", t0)
        return res, raw

    def _overlay_on_replay(self) -> bool:
        return self.render is not None and self.sink.video

    def _replayed(self, task: FrameTask) -> FrameResult | None:
        """Smoothers replayed from the record; the result (for a video overlay) or ``None``."""
        rec, frame = task.record, task.frame
        assert rec is not None and task.k_shared is not None and frame.image is not None
        if self.smoother is not None:
            for i, tid in enumerate(rec.track_ids.tolist()):
                if tid >= 0:
                    r = {k: v[i] for k, v in rec.raw.items()}
                    self.smoother(int(tid), _smoother_input(r), frame.index, frame.time_s)
        if not self._overlay_on_replay():
            return None
        res = FrameResult(frame.source, frame.index, frame.image.shape[:2], task.k_shared,
                          faces=self.faces)
        for i in range(len(rec.person_ids)):
            crop = rec.crop_boxes[i]
            own = bool(np.isfinite(crop).all())  # people with a crop live in its camera
            tid = int(rec.track_ids[i])
            res.people.append(PersonEstimate(
                bbox_xywh=rec.boxes[i], score=float(rec.scores[i]),
                body_model=self.estimator.body_model_name,
                params={k: np.asarray(v[i]) for k, v in rec.final.items() if k != "transl_full"},
                vertices_cam=np.zeros((0, 3), np.float32), joints_cam=np.zeros((0, 3), np.float32),
                joints_img=np.zeros((0, 2), np.float32),
                intrinsics=person_intrinsics(crop) if own else task.k_shared,
                transl_full=rec.final["transl_full"][i], crop_bbox_xywh=crop if own else None,
                track_id=None if tid < 0 else tid, estimator=self.estimator.name))
        return res

    def _write(self, task: FrameTask, result: FrameResult | None,
               raw: list[dict[str, np.ndarray]]) -> None:
        frame = task.frame
        overlay = None
        if self.render is not None and result is not None and (task.record is None
                                                               or self.sink.video):
            t0 = time.perf_counter()
            assert frame.image is not None
            overlay = self.render(frame.image, result)
            tick(self.stats.timings, "render", t0)
        t0 = time.perf_counter()
        if task.record is not None:
            self.sink.replay(frame, task.record, overlay)
            self.stats.frames_resumed += 1
            people = len(task.record.person_ids)
        else:
            assert result is not None
            self.sink.write(frame, result, raw, task.boxes, overlay,
                            smoothed=self.smoother is not None)
            if self.on_result is not None:
                self.on_result(result)
            self.stats.frames_done += 1
            people = len(result.people)
            self.stats.people += people
            if not people:
                self.stats.frames_without_people += 1
                if not self.sink.video:
                    log.warning("no person found in %s", frame.source)
        tick(self.stats.timings, "write", t0)
        if self.on_frame is not None:
            self.on_frame(frame.index, people, False)

    def _fail(self, task: FrameTask) -> None:
        self.stats.frames_failed += 1
        self.stats.failures.append((task.frame.source, task.error))
        self.sink.fail(task.frame, task.error)
        log.warning("%s", task.error)
        if self.on_frame is not None:
            self.on_frame(task.frame.index, 0, True)


def _smoother_input(raw: dict[str, Any]) -> dict[str, np.ndarray]:
    """What the smoother sees: the parameters with the translation in the shared camera."""
    out = {k: np.asarray(v, np.float32) for k, v in raw.items() if k != "transl_full"}
    out["transl"] = np.asarray(raw["transl_full"], np.float32).reshape(1, 3)
    return out


class StageLoop:
    """The front and back chains of one sequence, run in turn on this thread.

    Args:
        front: the front chain.
        back: the back chain.
        sink: where frames go (asked which frames an earlier run finished).
    """

    def __init__(self, front: FrontStages, back: BackStages, sink: Sink) -> None:
        self.front, self.back, self.sink = front, back, sink

    def push(self, frame: Frame) -> None:
        """Take one decoded frame (or a frame that failed to decode)."""
        record = None
        if not frame.error and self.sink.is_done(frame.index):
            try:
                record = self.sink.load_record(frame.index)
            except (OSError, ValueError, KeyError):
                record = None  # its record is gone: estimate it again
        self.back.push(self.front(frame, record))

    def finish(self) -> None:
        self.back.finish()

