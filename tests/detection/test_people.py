"""Candidate geometry: silhouette IoU, person boxes and duplicate tests on synthetic candidates
with analytic answers."""

from __future__ import annotations

import numpy as np

from ehps.detection.landmarks import PoseResult
from ehps.detection.people import mask_iou, mask_points, person_box, same_hand, same_person
from ehps.detection.roi import Roi


def _candidate(cx: float, cy: float, side: float, mask_rows: slice, mask_cols: slice,
               points: np.ndarray | None = None) -> PoseResult:
    logits = np.full((256, 256), -5.0, np.float32)
    logits[mask_rows, mask_cols] = 5.0
    roi = Roi(cx, cy, side, side)
    if points is None:
        points = np.zeros((33, 3))
        points[:, :2] = [cx, cy]
    return PoseResult(points=points, visibility=np.ones(33), presence=np.ones(33),
                      auxiliary=np.zeros((2, 2)), world=np.zeros((33, 3)), score=1.0, roi=roi,
                      mask_logits=logits, mask_roi=roi)


def test_mask_iou_analytic():
    # a 128x128-cell square in the middle of a 256-pixel crop: 128 px wide in the image
    a = _candidate(500.0, 500.0, 256.0, slice(64, 192), slice(64, 192))
    assert abs(mask_iou(a, a) - 1.0) < 1e-6
    # the same silhouette seen from a crop shifted by 64 px: it overlaps itself completely
    b = _candidate(564.0, 500.0, 256.0, slice(64, 192), slice(0, 128))
    assert mask_iou(a, b) > 0.95
    # shifted by half its width: IoU = 1/3
    c = _candidate(564.0, 500.0, 256.0, slice(64, 192), slice(64, 192))
    assert abs(mask_iou(a, c) - 1.0 / 3.0) < 0.03
    far = _candidate(2000.0, 500.0, 256.0, slice(64, 192), slice(64, 192))
    assert mask_iou(a, far) == 0.0


def test_person_box_is_the_silhouette_and_landmarks():
    p = _candidate(500.0, 400.0, 256.0, slice(64, 192), slice(96, 160))
    corners = mask_points(p)
    np.testing.assert_allclose(corners.min(0), [468.0, 336.0])
    np.testing.assert_allclose(corners.max(0), [532.0, 464.0])
    box = person_box(p, [np.array([[300.0, 400.0]])], height=1000, width=1000)
    # union [300, 336] - [532, 464] grown by 2% of its longer side (232 px)
    pad = 0.02 * 232.0
    np.testing.assert_allclose(box, [300 - pad, 336 - pad, 232 + 2 * pad, 128 + 2 * pad],
                               rtol=1e-5)
    clipped = person_box(p, [np.array([[-50.0, 400.0]])], height=1000, width=1000)
    assert clipped[0] == 0.0


def test_duplicates():
    rng = np.random.default_rng(0)
    pts = np.zeros((33, 3))
    pts[:, :2] = rng.uniform(400, 600, (33, 2))
    a = _candidate(500.0, 500.0, 256.0, slice(0, 1), slice(0, 1), pts)
    near = pts.copy()
    near[:, :2] += 5.0  # 7 px apart on a ~200 px body
    b = _candidate(900.0, 900.0, 256.0, slice(0, 1), slice(0, 1), near)
    assert same_person(a, b, distance=0.1, iou=0.35)
    apart = pts.copy()
    apart[:, :2] += 60.0
    c = _candidate(900.0, 900.0, 256.0, slice(0, 1), slice(0, 1), apart)
    assert not same_person(a, c, distance=0.1, iou=0.35)
    hand = rng.uniform(0, 40, (21, 2))
    assert same_hand(hand, hand + 3.0) and not same_hand(hand, hand + 30.0)
