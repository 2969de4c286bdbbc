"""Landmark tracking in the detect stage (:mod:`ehps.inference.track_finder`): people followed by
their landmarks keep their track ids, and the full person search runs only on the schedule (first
frame, every ``search_every`` frames, right after someone was lost), counted on a scripted
detector whose people move through the frames."""

from __future__ import annotations

import numpy as np

from ehps.config import InferConfig
from ehps.detection.base import PersonLandmarks
from ehps.detection.landmark_tracking import TrackingSchedule
from ehps.detection.landmarks import PoseResult
from ehps.detection.roi import Roi
from ehps.inference.detect import LandmarkFinder
from ehps.inference.estimators import PersonInput
from ehps.inference.front import FrontStages
from ehps.inference.runner import video_finder
from ehps.inference.sources import Frame
from ehps.inference.track_finder import TrackingFinder
from ehps.inference.tracking import IoUTracker


def _pose(cx: float, cy: float, h: float, score: float = 0.9) -> PoseResult:
    """A vertical stick person: 33 points from the head (cy - h/2) to the feet (cy + h/2)."""
    ys = np.linspace(cy - h / 2, cy + h / 2, 33)
    xs = cx + 0.1 * h * np.sin(np.arange(33))
    pts = np.stack([xs, ys, np.zeros(33)], 1)
    return PoseResult(points=pts, visibility=np.ones(33), presence=np.ones(33),
                      auxiliary=np.array([[cx, cy], [cx, cy - h / 2]]),
                      world=np.zeros((33, 3)), score=score, roi=Roi(cx, cy, h, h))


class ScriptedDetector:
    """The detector API landmark tracking uses, over scripted people.

    ``people(frame) -> {identity: (cx, cy, h)}``; the frame to answer for is ``self.frame``.
    """

    min_presence = 0.5
    duplicate_distance = 0.1
    duplicate_iou = 0.5

    def __init__(self, people) -> None:
        self.people, self.frame = people, 0
        self.searches: list[int] = []
        self.face_free: list[bool] = []
        self.roi_calls = 0

    def search_people(self, image, face_free=True):
        self.searches.append(self.frame)
        self.face_free.append(face_free)
        return [(_pose(*p), 0.9, 0.8) for p in self.people(self.frame).values()]

    def pose_in_roi(self, image, roi: Roi):
        self.roi_calls += 1
        for cx, cy, h in self.people(self.frame).values():
            if abs(cx - roi.cx) < roi.w / 2 and abs(cy - roi.cy) < roi.h / 2:
                return _pose(cx, cy, h)
        return None

    def complete(self, image, pose, score, det_score=1.0, *, hands=None, face=None):
        pts = pose.points[:, :2].astype(np.float32)
        lo, hi = pts.min(0), pts.max(0)
        return PersonLandmarks(bbox_xywh=np.r_[lo, hi - lo], score=score, body_2d=pts,
                               body_conf=np.ones(33, np.float32),
                               body_world=np.zeros((33, 3), np.float32),
                               extras={"detector_score": det_score})


class BoxesOnly:
    """The estimator side of the front chain: one input per detection."""

    def prepare(self, image, detections, k_shared, frame_index):
        return [PersonInput(frame_index, d, k_shared, image.shape[:2], d.landmarks)
                for d in detections]


def _run(detector: ScriptedDetector, frames: int, search_every: int, lost_retries: int = 8):
    """Track ``frames`` frames through the front chain; returns per frame {identity: track}."""
    base = LandmarkFinder(detector=detector)
    finder = TrackingFinder(base, TrackingSchedule(search_every=search_every,
                                                   lost_retries=lost_retries))
    front = FrontStages(BoxesOnly(), finder, tracker=IoUTracker(), timings={})
    image = np.zeros((480, 640, 3), np.uint8)
    out = []
    for f in range(frames):
        detector.frame = f
        task = front(Frame(f, "v", image, f / 25))
        truth = detector.people(f)
        ids = {}
        for inp, tid in zip(task.inputs, task.track_ids.tolist()):
            cx = inp.detection.landmarks.extras["track_roi"][0]
            ident = min(truth, key=lambda k: abs(truth[k][0] - cx))
            ids[ident] = tid
        out.append(ids)
    return out, finder


def _walkers(f: int) -> dict[int, tuple[float, float, float]]:
    people = {0: (100.0 + 4 * f, 240.0, 160.0), 1: (520.0 - 3 * f, 260.0, 140.0)}
    if f >= 7:  # a third person walks in at frame 7
        people[2] = (320.0, 150.0 + f, 120.0)
    return people


def test_people_keep_their_ids_and_the_search_runs_on_schedule():
    det = ScriptedDetector(_walkers)
    ids, finder = _run(det, 20, search_every=5)
    assert det.searches == [0, 5, 10, 15]
    # a video's searches skip the face-free proposals (TrackingSchedule.face_free)
    assert det.face_free == [False] * 4
    # tracked people cost one landmark call each per frame, not a search
    assert det.roi_calls == 2 * 10 + 3 * 9  # frames 1-10 follow 2 people, frames 11-19 three
    for ident in (0, 1):
        assert len({frame[ident] for frame in ids}) == 1, ident
    # the newcomer of frame 7 is found by the search of frame 10 and then kept
    assert 2 not in ids[9] and len({frame[2] for frame in ids[10:]}) == 1
    assert len({ids[0][0], ids[0][1], ids[10][2]}) == 3
    assert finder.stats.searches == 4 and finder.stats.frames == 20


def test_a_lost_person_triggers_a_search():
    def people(f):
        p = {0: (100.0 + 4 * f, 240.0, 160.0)}
        if f < 6 or f >= 8:  # person 1 is hidden in frames 6-7
            p[1] = (500.0, 260.0, 140.0)
        return p

    det = ScriptedDetector(people)
    ids, _ = _run(det, 14, search_every=5, lost_retries=0)
    # start, schedule, person 1 lost at 6 (the schedule restarts there), schedule
    assert det.searches == [0, 5, 6, 11]
    assert len({frame[0] for frame in ids}) == 1
    assert all(1 not in ids[f] for f in (6, 7, 8, 9, 10)) and 1 in ids[11]
    assert ids[11][1] == ids[5][1]  # the IoU tracker bridges the gap: same id

    # with retries, person 1 is looked for where last seen and is back as soon as visible
    det = ScriptedDetector(people)
    ids, finder = _run(det, 14, search_every=5)
    assert det.searches == [0, 5, 6, 11]
    assert all(1 not in ids[f] for f in (6, 7)) and all(1 in ids[f] for f in range(8, 14))
    assert {ids[f][1] for f in range(8, 14)} == {ids[5][1]}  # same id
    assert finder.stats.recovered == 1
    # frames 7 and 8 retry person 1 (one landmark call each) on top of one call per person
    assert det.roi_calls == 2 * 6 + 1 * 2 + 2 + 2 * 6 - 2


def test_a_person_who_left_is_retried_only_lost_retries_frames():
    def people(f):
        p = {0: (100.0 + 4 * f, 240.0, 160.0)}
        if f < 3:  # person 1 leaves for good after frame 2
            p[1] = (500.0, 260.0, 140.0)
        return p

    for retries in (0, 4):
        det = ScriptedDetector(people)
        _run(det, 12, search_every=100, lost_retries=retries)
        # frames 1-3: two people (person 1 is lost at 3); 4-11: person 0, plus person 1
        # retried on frames 4..3+retries
        assert det.roi_calls == 2 * 3 + 8 + retries


def test_video_finder_wraps_landmark_finders_only():
    cfg = InferConfig()
    base = LandmarkFinder(detector=ScriptedDetector(_walkers))
    wrapped = video_finder(base, cfg.tracking)
    assert isinstance(wrapped, TrackingFinder) and wrapped.base is base
    assert wrapped.schedule.search_every == cfg.tracking.search_every == 8
    again = video_finder(wrapped, cfg.tracking)
    assert isinstance(again, TrackingFinder) and again is not wrapped  # fresh state
    custom = object()
    assert video_finder(custom, cfg.tracking) is custom  # type: ignore[arg-type]


class DrawnDetector(ScriptedDetector):
    """A scripted detector whose people are also drawn into the frames (bright boxes), with the
    windowed search of :meth:`ehps.detection.MediapipeDetector.people_in_windows`."""

    def __init__(self, people) -> None:
        super().__init__(people)
        self.window_calls: list[tuple[int, int]] = []

    def image(self, f: int) -> np.ndarray:
        img = np.zeros((480, 640, 3), np.uint8)
        for cx, cy, h in self.people(f).values():
            img[int(cy - h / 2):int(cy + h / 2), int(cx - h / 5):int(cx + h / 5)] = 200
        return img

    def people_in_windows(self, image, windows, known=()):
        self.window_calls.append((self.frame, len(windows)))
        out = []
        for cx, cy, h in self.people(self.frame).values():
            inside = any(abs(cx - w.cx) < w.w / 2 and abs(cy - w.cy) < w.h / 2 for w in windows)
            if inside and not any(abs(k.points[:, 0].mean() - cx) < 5 for k in known):
                out.append((_pose(cx, cy, h), 0.9, 0.8))
        return out


def test_a_newcomer_is_found_where_the_frame_changed():
    det = DrawnDetector(_walkers)
    finder = TrackingFinder(LandmarkFinder(detector=det), TrackingSchedule(search_every=10))
    front = FrontStages(BoxesOnly(), finder, tracker=IoUTracker(), timings={})
    seen = []
    for f in range(12):
        det.frame = f
        task = front(Frame(f, "v", det.image(f), f / 25))
        seen.append(len(task.inputs))
    # the third person walks in at frame 7 and is found there, not at the search of frame 10
    assert det.searches == [0, 10]
    assert seen == [2] * 7 + [3] * 5
    assert finder.stats.motion_found == 1
    # only frames with unexplained change search windows, at most two of them
    assert det.window_calls and all(n <= 2 for _, n in det.window_calls)
    assert 7 in {f for f, _ in det.window_calls}
    assert not any(f in (0, 10) for f, _ in det.window_calls)
