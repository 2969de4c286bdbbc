"""Landmark tracking: the people of a video frame from the previous frame's landmarks, as
mediapipe's own video mode finds them, with the full person search only on a schedule.

mediapipe's pose graph in video mode runs its person detector only when it tracks nobody; while it
tracks someone, the crop of the next frame is derived from the current landmarks (the two
auxiliary alignment points: hip centre and scale point, :func:`~ehps.detection.people.
roi_from_pose`), and the landmark model's presence score tells when the person is lost. This module
does the same for several people:

1. every person of the previous frame gets the crop its landmarks imply, and the pose landmark
   model runs there (about one landmark model call per person instead of a search over up to 44
   detector windows); a person whose pose presence is not above the detector's ``min_presence``
   is lost;
2. two tracked crops that converged on one person (a crossing) are one person: the one with the
   higher presence stays (the IoU tracker downstream decides the identities);
3. the full person search (:meth:`~ehps.detection.MediapipeDetector.search_people`, every search
   mode and refinement the detector has) runs on the first frame, every :attr:`TrackingSchedule.
   search_every` frames and right after a person was lost; the people it finds that no tracked
   person explains (:func:`~ehps.detection.people.same_person`) are added;
4. hands and face are looked for (as the detector does on photos) only for people whose body
   landmarks span at least :attr:`TrackingSchedule.part_min_height` pixels: on smaller people the
   hand and face models see a few pixels and their landmarks do not help the fit
   (``benchmarks/part_size.py`` measures it); such people say so in ``extras["parts_skipped"]``.

Every person comes back with ``extras["track_roi"]`` (the crop for the next frame, ``[cx, cy, w,
h, rotation]`` pixels / radians) and ``extras["tracked"]`` (found by tracking rather than by the
search). The result depends only on the frames and on the previous landmarks: deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ehps.detection.base import PersonLandmarks
from ehps.detection.landmarks import PoseResult
from ehps.detection.people import body_size, roi_from_pose, same_person
from ehps.detection.roi import ImagePyramid, Roi, transform_roi
from ehps.io.image import as_rgb_uint8

__all__ = ["TrackingSchedule", "LandmarkTracker", "PARTS_SKIPPED_KEY", "previous_roi"]

#: ``PersonLandmarks.extras`` key naming the parts not looked for, and why.
PARTS_SKIPPED_KEY = "parts_skipped"


@dataclass(frozen=True)
class TrackingSchedule:
    """When the person search runs and who gets hands and face.

    Attributes:
        search_every: frames between two full person searches (1: every frame). A search also
            runs on the first frame and right after a tracked person was lost.
        part_min_height: hands and face landmarks only for people whose body landmarks span at
            least this many pixels (0: everyone).
        hands, face: look for hands / faces at all.
    """

    search_every: int = 8
    part_min_height: float = 0.0
    hands: bool = True
    face: bool = True

    def __post_init__(self) -> None:
        if self.search_every < 1:
            raise ValueError(f"search_every must be >= 1, got {self.search_every}")
        if not self.part_min_height >= 0:
            raise ValueError(f"part_min_height must be >= 0, got {self.part_min_height}")


def previous_roi(person: PersonLandmarks) -> Roi:
    """The crop in which to look for ``person`` in the next frame: ``extras["track_roi"]`` when
    the person was found by this module, else a square 1.25 times the long side of its body
    landmarks' box (an upright crop, for people found otherwise)."""
    roi = person.extras.get("track_roi") if person.extras else None
    if roi is not None and np.isfinite(np.asarray(roi, np.float64)).all():
        return Roi(*(float(v) for v in np.asarray(roi).reshape(5)))
    pts = np.asarray(person.body_2d, np.float64)[:, :2]
    lo, hi = pts.min(0), pts.max(0)
    box = Roi(float(lo[0] + hi[0]) / 2, float(lo[1] + hi[1]) / 2, float(hi[0] - lo[0]),
              float(hi[1] - lo[1]))
    return transform_roi(box, 1.25, 1.25, square_long=True)


@dataclass
class _Found:
    pose: PoseResult
    score: float
    det_score: float
    tracked: bool


class LandmarkTracker:
    """Finds the people of consecutive frames of one sequence (module docstring).

    Args:
        detector: a :class:`~ehps.detection.MediapipeDetector` (its models, search,
            ``min_presence`` and duplicate thresholds are used).
        schedule: when to search and who gets hands and face.
    """

    def __init__(self, detector: Any, schedule: TrackingSchedule | None = None) -> None:
        self.detector = detector
        self.schedule = schedule or TrackingSchedule()
        self.frames = 0
        self.since_search = 0
        self.searches = 0

    def step(self, image: np.ndarray, previous: Sequence[PersonLandmarks]
             ) -> list[PersonLandmarks]:
        """The people of the next frame: tracked people first (in the order of ``previous``),
        then the people the search added (search order).

        Args:
            image: (H, W, 3) uint8 RGB frame.
            previous: the people to follow (landmarks in the previous frame's pixels).
        """
        det = self.detector
        pyramid = ImagePyramid(as_rgb_uint8(image, name="frame"))
        found: list[_Found] = []
        lost = 0
        for person in previous:
            pose = det.pose_in_roi(pyramid, previous_roi(person))
            if pose is None:
                lost += 1
                continue
            prev_det = float(person.extras.get("detector_score", 1.0)) if person.extras else 1.0
            found.append(_Found(pose, pose.score, prev_det, True))
        found = self._unique(found)
        first = self.frames == 0
        self.frames += 1
        self.since_search += 1
        if first or lost or self.since_search >= self.schedule.search_every:
            self.since_search = 0
            self.searches += 1
            for pose, score, det_score in det.search_people(pyramid):
                if not any(self._same(pose, f.pose) for f in found):
                    found.append(_Found(pose, score, det_score, False))
        return [self._complete(pyramid, f) for f in found]

    def _same(self, a: PoseResult, b: PoseResult) -> bool:
        return same_person(a, b, self.detector.duplicate_distance, self.detector.duplicate_iou)

    def _unique(self, found: list[_Found]) -> list[_Found]:
        """Drop tracked people that converged on someone with a higher presence (order kept)."""
        order = sorted(range(len(found)), key=lambda i: -found[i].score)
        kept: list[int] = []
        for i in order:
            if not any(self._same(found[i].pose, found[k].pose) for k in kept):
                kept.append(i)
        return [found[i] for i in sorted(kept)]

    def _complete(self, pyramid: ImagePyramid, f: _Found) -> PersonLandmarks:
        s = self.schedule
        size = body_size(f.pose.points[:, :2])
        small = size < s.part_min_height
        person = self.detector.complete(pyramid, f.pose, f.score, f.det_score,
                                        hands=s.hands and not small, face=s.face and not small)
        person.extras["track_roi"] = roi_from_pose(f.pose).as_array()
        person.extras["tracked"] = f.tracked
        if small and (s.hands or s.face):
            parts = [p for p, on in (("hands", s.hands), ("face", s.face)) if on]
            person.extras[PARTS_SKIPPED_KEY] = (
                f"{' and '.join(parts)} not looked for: the person is {size:.0f} px tall, "
                f"below {s.part_min_height:.0f} px")
        return person
