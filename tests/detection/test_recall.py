"""``match_torso_centres`` on hand-built detections whose true/false positive counts are worked
out by hand (boxes containing the centres, nearest torso first, one match per person)."""

from __future__ import annotations

import numpy as np

from ehps.detection import BODY_LANDMARK_NAMES, PersonLandmarks
from ehps.detection.recall import match_torso_centres


def _person(box_xywh: tuple[float, float, float, float], torso_xy: tuple[float, float]):
    body = np.zeros((33, 2), np.float32)  # non-torso points far away: they must not count
    body[:] = (-1000.0, -1000.0)
    for name in ("left_shoulder", "right_shoulder", "left_hip", "right_hip"):
        body[BODY_LANDMARK_NAMES.index(name)] = torso_xy
    body[BODY_LANDMARK_NAMES.index("left_shoulder")] += (-5.0, -10.0)
    body[BODY_LANDMARK_NAMES.index("right_shoulder")] += (5.0, -10.0)
    body[BODY_LANDMARK_NAMES.index("left_hip")] += (-5.0, 10.0)
    body[BODY_LANDMARK_NAMES.index("right_hip")] += (5.0, 10.0)
    return PersonLandmarks(np.array(box_xywh, np.float32), 0.9, body,
                           np.ones(33, np.float32), np.zeros((33, 3), np.float32))


def test_nearest_torso_inside_the_box_wins() -> None:
    # both boxes contain (50, 50); person b's torso is nearer, so a stays free for (60, 50)
    a = _person((0, 0, 100, 100), (80, 50))
    b = _person((30, 30, 40, 40), (48, 50))
    assert match_torso_centres([a, b], [(50, 50)]) == (1, 1)
    assert match_torso_centres([a, b], [(50, 50), (60, 50)]) == (2, 0)
    # a person is matched once: the second centre, nearest to b too, falls back to a; with b
    # alone it stays unmatched
    assert match_torso_centres([a, b], [(50, 50), (35, 35)]) == (2, 0)
    assert match_torso_centres([b], [(50, 50), (35, 35)]) == (1, 0)


def test_centres_outside_every_box_and_empty_inputs() -> None:
    a = _person((0, 0, 10, 10), (5, 5))
    assert match_torso_centres([a], [(20, 20)]) == (0, 1)
    assert match_torso_centres([a], [(10, 10)]) == (1, 0)  # box edges are inside
    assert match_torso_centres([], [(5, 5)]) == (0, 0)
    assert match_torso_centres([a], []) == (0, 1)
