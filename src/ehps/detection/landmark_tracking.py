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
   person explains (:func:`~ehps.detection.people.same_person`) are added; a lost person is
   looked for again where they were last seen on each of the next
   :attr:`TrackingSchedule.lost_retries` frames (one landmark model call: a person standing
   still whose presence dipped below the threshold for a frame, or who was hidden for a moment,
   comes back before the next scheduled search), until someone found there explains them;
   between searches, the detector also runs on the few windows where the frame changed and
   nobody followed explains the change (:class:`~ehps.detection.motion_search.MotionWindows`,
   at most :attr:`TrackingSchedule.motion_windows` per frame): newcomers are found as they walk
   in rather than at the next search;
4. hands and face are looked for (as the detector does on photos) only for people whose body
   landmarks span at least :attr:`TrackingSchedule.part_min_height` pixels: on smaller people the
   hand and face models see a few pixels and their landmarks do not help the fit; such people
   say so in ``extras["parts_skipped"]``;
5. a tracked person's hands and face are not looked for again on every frame: for up to
   :attr:`TrackingSchedule.parts_every` - 1 frames after they were found, the previous frame's
   hand and face landmarks are carried onto this frame by the 2D similarity (rotation, scale,
   shift) that maps their anchoring pose points then (wrist, pinky, index; the 11 head points)
   onto the same points now, unless that similarity explains the anchors badly (residual above
   :attr:`TrackingSchedule.parts_motion` of the body size: the hand turned, the head turned), in
   which case they are looked for again. ``extras["parts_age"]`` counts the frames since the
   person's hands and face were last looked for (0: this frame).

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
from ehps.detection.motion_search import MotionWindows
from ehps.detection.people import body_size, person_box, roi_from_pose, same_person
from ehps.detection.roi import ImagePyramid, Roi, transform_roi
from ehps.io.image import as_rgb_uint8

__all__ = ["TrackingSchedule", "LandmarkTracker", "PARTS_SKIPPED_KEY", "PARTS_AGE_KEY",
           "previous_roi", "similarity_2d"]

#: ``PersonLandmarks.extras`` key naming the parts not looked for, and why.
PARTS_SKIPPED_KEY = "parts_skipped"
#: ``PersonLandmarks.extras`` key: frames since hands and face were last looked for.
PARTS_AGE_KEY = "parts_age"
#: Pose landmark indices that anchor each part (mediapipe derives the crops from them):
#: (wrist, pinky, index) per hand, the 11 head points for the face.
_PART_ANCHORS = {"left_hand": (15, 17, 19), "right_hand": (16, 18, 20), "face": tuple(range(11))}
#: Minimum pose wrist visibility for a hand (the detector's rule, mediapipe holistic's 0.1).
_WRIST_VISIBILITY = 0.1


@dataclass(frozen=True)
class TrackingSchedule:
    """When the person search runs and who gets hands and face.

    Attributes:
        search_every: frames between two full person searches (1: every frame). A search also
            runs on the first frame and right after a tracked person was lost.
        part_min_height: hands and face landmarks only for people whose body landmarks span at
            least this many pixels (0: everyone).
        hands, face: look for hands / faces at all.
        parts_every: look for a tracked person's hands and face at least every this many frames
            and carry them from the previous frame in between (1: every frame; module
            docstring, step 5). Searched (new) people always get them looked for.
        parts_motion: look again earlier when the similarity that carries a part leaves its
            anchoring pose points more than this fraction of the body size (RMS) off.
        lost_retries: frames during which a lost person is looked for again in the crop they
            were last seen in (0: never; module docstring, step 3).
        motion_windows: detector windows per frame where the frame changed and nobody
            followed explains it, between searches (0: none; module docstring, step 3).
        face_free: the full searches also run the face-free proposals of the person search
            (:attr:`ehps.detection.person_search.SearchConfig.segment_proposals`). Off: the
            people they add in a video (cut by the border, turned away) are followed badly by
            their landmarks; on vtest's first 200 frames they added 85 person-frames (+9%) and
            raised the mean joint jitter from 132 to 201 m/s^2, above the per-frame path's 177
            (``benchmarks/video_speed.py``).
    """

    search_every: int = 8
    part_min_height: float = 0.0
    hands: bool = True
    face: bool = True
    parts_every: int = 4
    parts_motion: float = 0.02
    lost_retries: int = 8
    motion_windows: int = 2
    face_free: bool = False

    def __post_init__(self) -> None:
        if self.search_every < 1:
            raise ValueError(f"search_every must be >= 1, got {self.search_every}")
        if not self.part_min_height >= 0:
            raise ValueError(f"part_min_height must be >= 0, got {self.part_min_height}")
        if self.parts_every < 1:
            raise ValueError(f"parts_every must be >= 1, got {self.parts_every}")
        if self.motion_windows < 0:
            raise ValueError(f"motion_windows must be >= 0, got {self.motion_windows}")
        if self.lost_retries < 0:
            raise ValueError(f"lost_retries must be >= 0, got {self.lost_retries}")
        if not self.parts_motion >= 0:
            raise ValueError(f"parts_motion must be >= 0, got {self.parts_motion}")


def similarity_2d(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The 2D similarity (rotation, uniform scale, shift; no reflection) that maps the points
    ``src`` (N, 2) onto ``dst`` (N, 2) best in the least-squares sense (Umeyama's closed form).

    Returns:
        ``(a (2, 2), t (2,), rms)``: ``dst ~ src @ a.T + t``, and the RMS residual (pixels).
        With fewer than 2 distinct source points, a pure shift.
    """
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    cs, cd = src - mu_s, dst - mu_d
    var_s = float((cs**2).sum(1).mean())
    if var_s < 1e-9:
        a = np.eye(2)
    else:
        u, sv, vt = np.linalg.svd(cd.T @ cs / len(src))
        d = np.diag([1.0, float(np.sign(np.linalg.det(u @ vt)) or 1.0)])
        a = float(np.trace(np.diag(sv) @ d)) / var_s * (u @ d @ vt)
    t = mu_d - a @ mu_s
    rms = float(np.sqrt(((src @ a.T + t - dst) ** 2).sum(1).mean()))
    return a, t, rms


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


def _det_score(person: PersonLandmarks) -> float:
    return float(person.extras.get("detector_score", 1.0)) if person.extras else 1.0


def _points_box(pose: PoseResult) -> np.ndarray:
    """(4,) xywh box of a pose's landmarks, pixels."""
    pts = pose.points[:, :2]
    lo, hi = pts.min(0), pts.max(0)
    return np.r_[lo, hi - lo]


def _explained(person: PersonLandmarks, found: Sequence[_Found]) -> bool:
    """Someone found in this frame covers where ``person`` was last seen (the centre of their
    tracking crop lies in the box of a found person's landmarks)."""
    roi = previous_roi(person)
    for f in found:
        pts = f.pose.points[:, :2]
        lo, hi = pts.min(0), pts.max(0)
        if lo[0] <= roi.cx <= hi[0] and lo[1] <= roi.cy <= hi[1]:
            return True
    return False


@dataclass
class _Found:
    pose: PoseResult
    score: float
    det_score: float
    tracked: bool
    source: PersonLandmarks | None = None


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
        #: people whose hands and face were carried rather than looked for
        self.parts_carried = 0
        #: lost people found again where they were last seen
        self.recovered = 0
        self._lost: list[tuple[PersonLandmarks, int]] = []
        #: people found by the search of the windows where the frame changed
        self.motion_found = 0
        self._motion = MotionWindows(self.schedule.motion_windows)
        self._motion_search = (self.schedule.motion_windows > 0
                               and hasattr(detector, "people_in_windows"))

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
        newly_lost: list[PersonLandmarks] = []
        for person in previous:
            pose = det.pose_in_roi(pyramid, previous_roi(person))
            if pose is None:
                newly_lost.append(person)
                continue
            found.append(_Found(pose, pose.score, _det_score(person), True, person))
        lost = len(newly_lost)
        retry, self._lost = self._lost, []
        for person, age in retry:  # people lost earlier: where they were last seen
            if _explained(person, found):
                continue
            pose = det.pose_in_roi(pyramid, previous_roi(person))
            if pose is not None:
                found.append(_Found(pose, pose.score, _det_score(person), True, person))
                self.recovered += 1
            elif age + 1 < self.schedule.lost_retries:
                self._lost.append((person, age + 1))
        if self.schedule.lost_retries:
            self._lost += [(p, 0) for p in newly_lost]
        found = self._unique(found)
        first = self.frames == 0
        self.frames += 1
        self.since_search += 1
        search = first or lost or self.since_search >= self.schedule.search_every
        if self._motion_search:
            windows = self._motion(pyramid.image, [_points_box(f.pose) for f in found])
            if windows and not search:
                for pose, score, det_score in det.people_in_windows(
                        pyramid, windows, [f.pose for f in found]):
                    if not any(self._same(pose, f.pose) for f in found):
                        found.append(_Found(pose, score, det_score, False))
                        self.motion_found += 1
        if search:
            self.since_search = 0
            self.searches += 1
            for pose, score, det_score in det.search_people(pyramid,
                                                            face_free=self.schedule.face_free):
                if not any(self._same(pose, f.pose) for f in found):
                    found.append(_Found(pose, score, det_score, False))
            self._lost = [(p, a) for p, a in self._lost if not _explained(p, found)]
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
        looked = (s.hands or s.face) and not small
        carried = self._carry(f, size) if looked else None
        if carried is not None:
            person = self.detector.complete(pyramid, f.pose, f.score, f.det_score,
                                            hands=False, face=False)
            for key, value in carried.items():
                setattr(person, key, value)
            extra = [carried[k] for k in ("left_hand_2d", "right_hand_2d", "face_2d")
                     if carried[k] is not None]
            if extra:
                h, w = pyramid.shape[:2]
                person.bbox_xywh = person_box(f.pose, extra, h, w)
            assert f.source is not None
            person.extras[PARTS_AGE_KEY] = int(f.source.extras[PARTS_AGE_KEY]) + 1
            self.parts_carried += 1
        else:
            person = self.detector.complete(pyramid, f.pose, f.score, f.det_score,
                                            hands=s.hands and not small,
                                            face=s.face and not small)
            if looked:
                person.extras[PARTS_AGE_KEY] = 0
        person.extras["track_roi"] = roi_from_pose(f.pose).as_array()
        person.extras["tracked"] = f.tracked
        if small and (s.hands or s.face):
            parts = [p for p, on in (("hands", s.hands), ("face", s.face)) if on]
            person.extras[PARTS_SKIPPED_KEY] = (
                f"{' and '.join(parts)} not looked for: the person is {size:.0f} px tall, "
                f"below {s.part_min_height:.0f} px")
        return person

    def _carry(self, f: _Found, size: float) -> dict[str, np.ndarray | None] | None:
        """The previous frame's hand and face landmarks carried onto this frame (module
        docstring, step 5), or ``None`` when they must be looked for again."""
        s, prev = self.schedule, f.source
        if not f.tracked or prev is None or s.parts_every <= 1:
            return None
        age = prev.extras.get(PARTS_AGE_KEY) if prev.extras else None
        if not isinstance(age, int) or age + 1 >= s.parts_every:
            return None
        before = np.asarray(prev.body_2d, np.float64)
        now = f.pose.points[:, :2].astype(np.float64)
        out: dict[str, np.ndarray | None] = {}
        for part, anchors in _PART_ANCHORS.items():
            pts = getattr(prev, f"{part}_2d")
            on = s.face if part == "face" else s.hands
            out[f"{part}_2d"] = out[f"{part}_conf"] = None
            if pts is None or not on:
                continue
            if part != "face" and not f.pose.visibility[anchors[0]] > _WRIST_VISIBILITY:
                continue  # the detector would not look for this hand now
            idx = list(anchors)
            a, t, rms = similarity_2d(before[idx], now[idx])
            if rms > s.parts_motion * size:
                return None
            out[f"{part}_2d"] = (np.asarray(pts, np.float64) @ a.T + t).astype(np.float32)
            out[f"{part}_conf"] = getattr(prev, f"{part}_conf")
        return out
