"""The front chain of the stage loop (:mod:`ehps.inference.loop`): detect -> prepare -> track,
one frame at a time, and what flows from it to the back chain (:class:`FrameTask`), plus the
interface of the write stage (:class:`Sink`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ehps.errors import EhpsError
from ehps.geometry.camera import Intrinsics
from ehps.inference.detect import PeopleFinder, TrackHint
from ehps.inference.estimators import Estimator, PersonInput
from ehps.inference.sources import Frame
from ehps.inference.tracking import IoUTracker
from ehps.io.records import FrameRecord
from ehps.structures import FrameResult, PersonEstimate

__all__ = ["FrameTask", "Sink", "SequenceStats", "FrontStages", "MIN_IMAGE_SIDE", "tick"]

#: Frames smaller than this (pixels, either side) cannot show a person: they are failures.
MIN_IMAGE_SIDE = 2


def tick(timings: dict[str, float], key: str, t0: float) -> None:
    """Add the seconds since ``t0`` to ``timings[key]``."""
    timings[key] = timings.get(key, 0.0) + time.perf_counter() - t0


@dataclass
class FrameTask:
    """One frame on its way through the stages.

    Attributes:
        frame: the decoded frame.
        k_shared: its shared camera.
        inputs: the estimator's inputs of the people kept, in detection order.
        track_ids: (N,) their track ids, or ``None`` untracked.
        people: their estimates (``None`` until all are estimated).
        partial: the estimates received so far (batches may split a frame's people).
        record: the frame's record when an earlier run finished it (a replay).
        error: why the frame failed, or ``""``.
    """

    frame: Frame
    k_shared: Intrinsics | None = None
    inputs: list[PersonInput] = field(default_factory=list)
    track_ids: np.ndarray | None = None
    people: list[PersonEstimate] | None = None
    partial: list[PersonEstimate] = field(default_factory=list)
    record: FrameRecord | None = None
    error: str = ""

    @property
    def ready(self) -> bool:
        return bool(self.error) or self.record is not None or self.people is not None

    @property
    def boxes(self) -> np.ndarray:
        """(N, 4) the boxes the tracker saw."""
        return np.asarray([inp.detection.box_xywh for inp in self.inputs],
                          np.float32).reshape(-1, 4)


class Sink(Protocol):
    """Where finished frames go: files (:class:`ehps.inference.writer.SequenceWriter`) or memory
    (:class:`ehps.inference.predictor.ResultCollector`)."""

    video: bool

    def is_done(self, index: int) -> bool: ...
    def load_record(self, index: int) -> FrameRecord: ...
    def write(self, frame: Frame, result: FrameResult, raw: list[dict[str, np.ndarray]],
              tracker_boxes: np.ndarray, overlay: np.ndarray | None, smoothed: bool) -> None: ...
    def replay(self, frame: Frame, record: FrameRecord, overlay: np.ndarray | None) -> None: ...
    def fail(self, frame: Frame, message: str) -> None: ...
    def checkpoint(self) -> None: ...


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


class FrontStages:
    """detect -> prepare -> track, one frame at a time (see the module docstring).

    Args:
        estimator: the estimator (its :meth:`prepare` runs here).
        finder: the detect stage.
        camera: ``camera(frame)`` -> the frame's shared camera, or ``None`` (then: focal = image
            diagonal, centred).
        given_boxes: ``given_boxes(frame)`` -> ``(boxes_xywh, scores)`` to use instead of the
            person search, or ``None`` (search).
        tracker: the tracker, or ``None`` (untracked).
        timings: where stage seconds are added up.
    """

    def __init__(self, estimator: Estimator, finder: PeopleFinder, *,
                 camera: Callable[[Frame], Intrinsics | None] | None = None,
                 given_boxes: Callable[[Frame], tuple[np.ndarray, np.ndarray] | None]
                 | None = None,
                 tracker: IoUTracker | None = None, timings: dict[str, float]) -> None:
        self.estimator, self.finder, self.tracker = estimator, finder, tracker
        self.camera, self.given_boxes = camera, given_boxes
        self.timings = timings
        self.hints: list[TrackHint] = []

    def __call__(self, frame: Frame, record: FrameRecord | None = None) -> FrameTask:
        if frame.error or frame.image is None:
            return FrameTask(frame, error=frame.error or f"{frame.source}: unreadable frame")
        h, w = frame.image.shape[:2]
        if min(h, w) < MIN_IMAGE_SIDE:
            return FrameTask(frame, error=f"{frame.source}: the image is {w}x{h} pixels, too "
                                          "small to show a person")
        k = self.camera(frame) if self.camera is not None else None
        task = FrameTask(frame, k or Intrinsics.from_image_size(w, h))
        if record is not None:
            task.record = record
            self._track(task, record.boxes)
            return task
        try:
            t0 = time.perf_counter()
            given = self.given_boxes(frame) if self.given_boxes is not None else None
            found = self.finder.find(frame.image, given, self.hints)
            tick(self.timings, "detect", t0)
            prepared = self.estimator.prepare(frame.image, found, task.k_shared, frame.index)
        except EhpsError as exc:
            return FrameTask(frame, error=f"{frame.source}: {exc}")
        task.inputs = [inp for inp in prepared if inp is not None]
        self._track(task, task.boxes)
        return task

    def _track(self, task: FrameTask, boxes: np.ndarray) -> None:
        if self.tracker is None:
            return
        t0 = time.perf_counter()
        task.track_ids = self.tracker.update(boxes, task.frame.index)
        tick(self.timings, "track", t0)
        for inp, tid in zip(task.inputs, task.track_ids.tolist()):
            inp.track_id = int(tid)
        self.hints = [TrackHint(inp.track_id, task.frame.index, inp.detection)
                      for inp in task.inputs if inp.track_id is not None]
