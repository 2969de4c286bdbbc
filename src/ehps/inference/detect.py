"""The detect stage: who is in a frame, as :class:`Detection` objects.

A :class:`PeopleFinder` is chosen by the estimator (:meth:`ehps.inference.estimators.Estimator.
make_finder`), because estimators need different things from the image:

- :class:`BoxFinder` (networks): person boxes only (mediapipe's person detection and body
  landmarks, no hands or face);
- :class:`LandmarkFinder` (the embedded fit): every person's whole-body landmarks.

Both take, per frame, optional **given boxes** (``--boxes``: used instead of the person search)
and **hints**: the previous frame's tracked detections (:class:`TrackHint`). The finders here do
not use the hints yet (every frame is searched afresh); a finder that tracks landmarks, i.e. takes
each tracked person's region of interest for this frame from the previous frame's landmarks and
searches the whole frame only on a schedule, plugs in here without touching the loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

__all__ = [
    "Detection",
    "TrackHint",
    "PeopleFinder",
    "BoxFinder",
    "LandmarkFinder",
    "limit_people",
]


@dataclass
class Detection:
    """One person found in a frame.

    Attributes:
        box_xywh: (4,) float32 person box in image pixels (what the tracker matches).
        score: detection confidence in [0, 1].
        landmarks: the person's :class:`ehps.detection.PersonLandmarks` when the finder gives
            them (pixels of the frame), else ``None``.
    """

    box_xywh: np.ndarray
    score: float
    landmarks: Any = None


@dataclass
class TrackHint:
    """A tracked person's detection in the previous frame (input of landmark tracking).

    Attributes:
        track_id: the track.
        frame_index: the frame ``detection`` is from.
        detection: box, score and (for landmark finders) landmarks in that frame.
    """

    track_id: int
    frame_index: int
    detection: Detection


class PeopleFinder(Protocol):
    """The detect stage's interface."""

    def find(self, image: np.ndarray, given: tuple[np.ndarray, np.ndarray] | None = None,
             hints: Sequence[TrackHint] = ()) -> list[Detection]:
        """The people of one (H, W, 3) uint8 RGB frame, in a stable order.

        Args:
            image: the frame.
            given: ``(boxes_xywh (N, 4), scores (N,))`` to use instead of the person search.
            hints: the previous frame's tracked detections (may be ignored).
        """
        ...


def limit_people(boxes: np.ndarray, scores: np.ndarray, max_people: int | None
                 ) -> np.ndarray:
    """Indices of the ``max_people`` highest-scoring boxes, in their original order (all when
    ``max_people`` is ``None``)."""
    n = len(np.asarray(scores).reshape(-1))
    if max_people is None or n <= max_people:
        return np.arange(n)
    return np.sort(np.argsort(-np.asarray(scores, np.float32).reshape(-1),
                              kind="stable")[:max_people])


def _as_boxes(boxes: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    return (np.asarray(boxes, np.float32).reshape(-1, 4),
            np.asarray(scores, np.float32).reshape(-1))


class _MediapipeFinder:
    """Shared part of the finders: options and the detector, built on first use."""

    def __init__(self, min_score: float = 0.5, max_people: int | None = None,
                 detector: Any = None) -> None:
        self.min_score, self.max_people = min_score, max_people
        self._detector = detector

    def _build(self) -> Any:
        raise NotImplementedError

    @property
    def detector(self) -> Any:
        if self._detector is None:
            self._detector = self._build()
        return self._detector


class BoxFinder(_MediapipeFinder):
    """Person boxes: mediapipe's person detection and body landmarks (no hands, no face).

    Args:
        min_score: detector score threshold.
        max_people: keep at most this many people per frame (highest scores).
        detector: a detector with ``detect_people(image) -> (boxes, scores)`` (default
            :class:`ehps.detection.MediapipeDetector` without hands and face, built on first use).
    """

    def _build(self) -> Any:
        from ehps.detection import MediapipeDetector

        return MediapipeDetector(min_score=self.min_score, max_people=self.max_people,
                                 hands=False, face=False)

    def find(self, image: np.ndarray, given: tuple[np.ndarray, np.ndarray] | None = None,
             hints: Sequence[TrackHint] = ()) -> list[Detection]:
        boxes, scores = _as_boxes(*(given if given is not None
                                    else self.detector.detect_people(image)))
        keep = limit_people(boxes, scores, self.max_people)
        return [Detection(boxes[i], float(scores[i])) for i in keep]


class LandmarkFinder(_MediapipeFinder):
    """Whole-body landmarks of every person (:class:`ehps.detection.MediapipeDetector`).

    With given boxes, the landmarks are looked for inside each box (the best ``max_people``
    boxes first); people come back with the landmarks' own box.

    Args:
        min_score: detector score threshold.
        max_people: keep at most this many people per frame (highest scores).
        detector: a detector with ``detect(image, boxes_xywh=None) -> list[PersonLandmarks]``
            (default :class:`ehps.detection.MediapipeDetector`, built on first use).
    """

    def _build(self) -> Any:
        from ehps.detection import MediapipeDetector

        return MediapipeDetector(min_score=self.min_score, max_people=self.max_people)

    def find(self, image: np.ndarray, given: tuple[np.ndarray, np.ndarray] | None = None,
             hints: Sequence[TrackHint] = ()) -> list[Detection]:
        if given is None:
            people = self.detector(image)
        else:
            boxes, scores = _as_boxes(*given)
            boxes = boxes[limit_people(boxes, scores, self.max_people)]
            people = self.detector.detect(image, boxes) if len(boxes) else []
        found = [Detection(np.asarray(p.bbox_xywh, np.float32), float(p.score), p)
                 for p in people]
        keep = limit_people(np.zeros((len(found), 4)), np.array([d.score for d in found]),
                            self.max_people)
        return [found[i] for i in keep]
