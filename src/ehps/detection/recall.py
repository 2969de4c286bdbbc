"""Scoring detections against people counted by eye: each hand-marked torso centre is matched to
at most one detected person. Used by the detector's recall test and by
``benchmarks/detection_speed.py``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ehps.detection.base import BODY_LANDMARK_NAMES, PersonLandmarks

__all__ = ["match_torso_centres", "VTEST_PEOPLE"]

#: Visible pedestrians (torso centres, pixels) in frames of the shared ``vtest.avi`` (OpenCV's
#: sample video, 768x576), counted by eye.
VTEST_PEOPLE: dict[int, list[tuple[int, int]]] = {
    0: [(267, 262), (515, 192), (662, 280)],
    100: [(362, 240), (393, 218), (437, 220), (507, 185), (528, 188), (603, 195)],
    200: [(95, 185), (235, 230), (500, 185), (687, 125), (712, 125), (632, 320), (722, 305)],
    300: [(200, 195), (255, 188), (310, 190), (328, 255), (597, 195), (630, 200)],
    400: [(288, 245), (603, 170), (715, 355)],
    500: [(320, 220), (575, 275), (588, 335), (627, 320)],
    600: [(197, 180), (580, 245), (687, 255), (472, 360), (655, 355), (305, 500)],
    700: [(197, 200), (293, 250), (380, 210), (413, 180), (485, 165), (532, 195), (705, 260),
          (120, 335)],
}

#: Shoulders and hips, whose mean is a person's torso centre.
_TORSO = [BODY_LANDMARK_NAMES.index(n) for n in
          ("left_shoulder", "right_shoulder", "left_hip", "right_hip")]


def match_torso_centres(
    people: Sequence[PersonLandmarks], centres: Sequence[tuple[float, float]]
) -> tuple[int, int]:
    """Count true and false positives against hand-marked torso centres.

    Centres are taken in order; each is matched to the not-yet-matched person whose box
    (``bbox_xywh``) contains it and whose torso centre (mean of the shoulder and hip landmarks)
    is nearest to it. People left unmatched are false positives.

    Args:
        people: detections of one image (image pixels).
        centres: (x, y) torso centres in image pixels, one per visible person.

    Returns:
        ``(true_positives, false_positives)``.
    """
    used: set[int] = set()
    for point in centres:
        best: tuple[float, int] | None = None
        for i, p in enumerate(people):
            x, y, w, h = p.bbox_xywh
            if i in used or not (x <= point[0] <= x + w and y <= point[1] <= y + h):
                continue
            dist = float(np.hypot(*(p.body_2d[_TORSO].mean(0) - point)))
            if best is None or dist < best[0]:
                best = (dist, i)
        if best is not None:
            used.add(best[1])
    return len(used), len(people) - len(used)
