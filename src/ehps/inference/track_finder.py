"""The detect stage of tracked videos: people followed by their landmarks from frame to frame
(:class:`ehps.detection.landmark_tracking.LandmarkTracker`), the whole frame searched only on a
schedule.

:class:`TrackingFinder` wraps the estimator's ordinary finder (:class:`~ehps.inference.detect.
LandmarkFinder` for the fit, :class:`~ehps.inference.detect.BoxFinder` for networks) and shares
its detector. Given boxes (``--boxes``) and untracked sequences (independent images,
``--no-track``) go to the ordinary finder unchanged; a tracked sequence gets its own tracking
state from :meth:`TrackingFinder.for_sequence`. The IoU tracker downstream
(:class:`~ehps.inference.tracking.IoUTracker`) still decides the identities: the finder only
decides where to look.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from ehps.detection.base import PersonLandmarks
from ehps.detection.landmark_tracking import PARTS_SKIPPED_KEY, LandmarkTracker, TrackingSchedule
from ehps.inference.detect import (
    BoxFinder,
    Detection,
    LandmarkFinder,
    PeopleFinder,
    TrackHint,
    limit_people,
)

__all__ = ["TrackingFinder", "FinderStats"]


@dataclass
class FinderStats:
    """What the detect stage of one sequence did (reported in ``summary.json``).

    Attributes:
        frames: frames looked at; searches: frames with a full person search;
        tracked: people found by following their landmarks; searched: people found by a search;
        parts_skipped: people for whom hands and face were not looked for (too small);
        parts_carried: tracked people whose hands and face were carried from the previous frame
        instead of looked for (:attr:`~ehps.detection.landmark_tracking.TrackingSchedule.
        parts_every`); recovered: lost people found again where they were last seen;
        motion_found: newcomers found between searches in windows where the frame changed.
    """

    frames: int = 0
    searches: int = 0
    tracked: int = 0
    searched: int = 0
    parts_skipped: int = 0
    parts_carried: int = 0
    recovered: int = 0
    motion_found: int = 0

    def to_json(self) -> dict[str, int]:
        return dict(vars(self))


class TrackingFinder:
    """A :class:`~ehps.inference.detect.PeopleFinder` that tracks landmarks (module docstring).

    Args:
        base: the ordinary finder (its detector is used; it handles given boxes and untracked
            sequences).
        schedule: when to search, who gets hands and face (for a box finder, hands and face are
            never looked for).
    """

    def __init__(self, base: LandmarkFinder | BoxFinder,
                 schedule: TrackingSchedule | None = None) -> None:
        self.base = base
        schedule = schedule or TrackingSchedule()
        if isinstance(base, BoxFinder):
            schedule = replace(schedule, hands=False, face=False)
        self.schedule = schedule
        self.boxes_only = isinstance(base, BoxFinder)
        self.stats = FinderStats()
        self._tracker: LandmarkTracker | None = None

    @property
    def min_score(self) -> float:
        return self.base.min_score

    @property
    def max_people(self) -> int | None:
        return self.base.max_people

    def for_sequence(self, tracked: bool) -> PeopleFinder:
        """The finder of a new sequence: a fresh tracking state when ``tracked``, else the
        ordinary finder."""
        return TrackingFinder(self.base, self.schedule) if tracked else self.base

    def find(self, image: np.ndarray, given: tuple[np.ndarray, np.ndarray] | None = None,
             hints: Sequence[TrackHint] = ()) -> list[Detection]:
        """The people of one frame (see :class:`~ehps.inference.detect.PeopleFinder`)."""
        if given is not None:
            return self.base.find(image, given, hints)
        if self._tracker is None:
            self._tracker = LandmarkTracker(self.base.detector, self.schedule)
        previous = [h.detection.landmarks for h in hints
                    if isinstance(h.detection.landmarks, PersonLandmarks)]
        tr = self._tracker
        searches, carried, recovered = tr.searches, tr.parts_carried, tr.recovered
        moved = tr.motion_found
        people = self._tracker.step(image, previous)
        found = [Detection(np.asarray(p.bbox_xywh, np.float32), float(p.score), p)
                 for p in people]
        keep = limit_people(np.zeros((len(found), 4)), np.array([d.score for d in found]),
                            self.max_people)
        found = [found[i] for i in keep]
        st = self.stats
        st.frames += 1
        st.searches += self._tracker.searches - searches
        st.parts_carried += self._tracker.parts_carried - carried
        st.recovered += self._tracker.recovered - recovered
        st.motion_found += self._tracker.motion_found - moved
        for d in found:
            extras = d.landmarks.extras
            if extras.get("tracked"):
                st.tracked += 1
            else:
                st.searched += 1
            st.parts_skipped += PARTS_SKIPPED_KEY in extras
        return found
