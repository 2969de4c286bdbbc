"""Scoring detections against people counted by eye: each hand-marked torso centre is matched to
at most one detected person. Used by the detector's recall test and by
``benchmarks/detection_speed.py``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ehps.detection.base import BODY_LANDMARK_NAMES, PersonLandmarks

__all__ = ["match_torso_centres"]

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
