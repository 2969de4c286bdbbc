"""Hands and face of followed people carried between looks (landmark tracking, step 5 of
:mod:`ehps.detection.landmark_tracking`): the carried landmarks equal the ones a detector would
find again when the parts move rigidly with their anchoring pose points, the hand and face models
run only every ``parts_every`` frames, and a part that changed shape is looked for again."""

from __future__ import annotations

import numpy as np
import pytest

from ehps.detection.base import PersonLandmarks
from ehps.detection.landmark_tracking import (
    PARTS_AGE_KEY,
    LandmarkTracker,
    TrackingSchedule,
    similarity_2d,
)
from ehps.detection.landmarks import PoseResult
from ehps.detection.roi import Roi

_RNG = np.random.default_rng(3)
#: parts as fixed affine combinations of their anchors (rows sum to 1): they move exactly with
#: any similarity of the anchors, as a rigid hand or head would
_HAND_W = _RNG.dirichlet(np.ones(3), 21) * 1.6 - 0.2
_FACE_W = _RNG.dirichlet(np.ones(11), 478) * 1.4 - 0.4 / 11
_ANCHORS = {"left_hand": (15, 17, 19), "right_hand": (16, 18, 20), "face": tuple(range(11))}


def test_similarity_2d_recovers_a_known_similarity():
    src = _RNG.normal(size=(7, 2)) * 30
    ang, scale, shift = 0.7, 1.3, np.array([5.0, -2.0])
    a_true = scale * np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    a, t, rms = similarity_2d(src, src @ a_true.T + shift)
    np.testing.assert_allclose(a, a_true, atol=1e-9)
    np.testing.assert_allclose(t, shift, atol=1e-9)
    assert rms < 1e-9
    # a mirror image is not a similarity: large residual, no reflection in the answer
    _, _, rms_mirror = similarity_2d(src, src * np.array([-1.0, 1.0]))
    assert rms_mirror > 5.0


def _pose(cx: float, cy: float, h: float, angle: float, pinky: float) -> PoseResult:
    """A stick person rotated by ``angle`` about its centre; ``pinky`` moves both pinky points
    (17, 18) sideways relative to the rest (the hand changes shape)."""
    ys = np.linspace(-h / 2, h / 2, 33)
    xs = 0.1 * h * np.sin(np.arange(33))
    xs[[17, 18]] += pinky
    c, s = np.cos(angle), np.sin(angle)
    pts = np.stack([cx + c * xs - s * ys, cy + s * xs + c * ys, np.zeros(33)], 1)
    return PoseResult(points=pts, visibility=np.ones(33), presence=np.ones(33),
                      auxiliary=np.array([[cx, cy], [cx, cy - h / 2]]),
                      world=np.zeros((33, 3)), score=0.9, roi=Roi(cx, cy, h, h))


class PartsDetector:
    """The detector API of landmark tracking over one scripted person whose hands and face are
    affine combinations of their anchors; counts the hand/face model runs."""

    min_presence = 0.5
    duplicate_distance = 0.1
    duplicate_iou = 0.5

    def __init__(self, script) -> None:
        self.script, self.frame = script, 0
        self.part_runs: list[int] = []

    def search_people(self, image, face_free=True):
        return [(_pose(*self.script(self.frame)), 0.9, 0.8)]

    def pose_in_roi(self, image, roi: Roi):
        return _pose(*self.script(self.frame))

    def complete(self, image, pose, score, det_score=1.0, *, hands=None, face=None):
        pts = pose.points[:, :2]
        parts = {}
        if hands or face:
            self.part_runs.append(self.frame)
        for part, idx in _ANCHORS.items():
            on = face if part == "face" else hands
            w = _FACE_W if part == "face" else _HAND_W
            parts[f"{part}_2d"] = (w @ pts[list(idx)]).astype(np.float32) if on else None
            parts[f"{part}_conf"] = np.full(len(w), 0.9, np.float32) if on else None
        lo, hi = pts.min(0), pts.max(0)
        return PersonLandmarks(bbox_xywh=np.r_[lo, hi - lo].astype(np.float32), score=score,
                               body_2d=pts.astype(np.float32),
                               body_conf=np.ones(33, np.float32),
                               body_world=np.zeros((33, 3), np.float32),
                               extras={"detector_score": det_score}, **parts)


def _follow(script, frames: int, parts_every: int):
    det = PartsDetector(script)
    tracker = LandmarkTracker(det, TrackingSchedule(search_every=100, parts_every=parts_every))
    image = np.zeros((480, 640, 3), np.uint8)
    out, previous = [], []
    for f in range(frames):
        det.frame = f
        previous = tracker.step(image, previous)
        out.append(previous)
    return out, det, tracker


def _walk_and_turn(f: int):
    return 100.0 + 6 * f, 240.0 + f, 160.0 + 2 * f, 0.05 * f, 0.0


@pytest.mark.parametrize("parts_every", [2, 4])
def test_carried_parts_equal_the_parts_found_again(parts_every):
    every, det_every, _ = _follow(_walk_and_turn, 10, 1)
    carried, det, tracker = _follow(_walk_and_turn, 10, parts_every)
    assert det_every.part_runs == list(range(10))
    assert det.part_runs == list(range(0, 10, parts_every))
    assert tracker.parts_carried == 10 - len(det.part_runs)
    for f, (a, b) in enumerate(zip(every, carried)):
        assert len(a) == len(b) == 1
        assert b[0].extras[PARTS_AGE_KEY] == f % parts_every
        for part in ("left_hand_2d", "right_hand_2d", "face_2d"):
            np.testing.assert_allclose(getattr(b[0], part), getattr(a[0], part), atol=1e-3)
        np.testing.assert_array_equal(b[0].body_2d, a[0].body_2d)


def test_a_hand_that_changes_shape_is_looked_for_again():
    def script(f):  # the pinky jumps at frame 5 (the hand turned): not a similarity
        return 100.0 + 6 * f, 240.0, 160.0, 0.0, 12.0 if f >= 5 else 0.0

    carried, det, _ = _follow(script, 8, 4)
    assert det.part_runs == [0, 4, 5]
    every, _, _ = _follow(script, 8, 1)
    for a, b in zip(every, carried):
        np.testing.assert_allclose(b[0].left_hand_2d, a[0].left_hand_2d, atol=1e-3)


def test_schedule_rejects_bad_values():
    with pytest.raises(ValueError, match="parts_every"):
        TrackingSchedule(parts_every=0)
    with pytest.raises(ValueError, match="parts_motion"):
        TrackingSchedule(parts_motion=-1.0)
