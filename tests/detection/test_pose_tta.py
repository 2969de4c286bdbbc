"""Test-time augmentation of the pose landmarks: the mirrored pass maps back exactly (checked
against the plain pass on the mirrored image), and the merge rule on hand-made arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ehps.detection.landmarks import POSE_MIRROR, PoseResult
from ehps.detection.pose_tta import body_size, disagreement_weight, merge_flipped
from ehps.detection.roi import Roi


def test_mirror_table_swaps_sides():
    assert sorted(POSE_MIRROR.tolist()) == list(range(33))
    np.testing.assert_array_equal(POSE_MIRROR[POSE_MIRROR], np.arange(33))  # an involution
    pairs = {0: 0, 1: 4, 2: 5, 3: 6, 7: 8, 9: 10, 11: 12, 15: 16, 23: 24, 27: 28, 31: 32}
    for a, b in pairs.items():
        assert POSE_MIRROR[a] == b and POSE_MIRROR[b] == a


@pytest.mark.embedded
def test_mirrored_pass_equals_plain_pass_on_the_mirrored_image(astronaut):
    """The model on the mirrored crop of an image sees the same pixels as on the plain crop of
    the mirrored image; mapped back, the two answers must be mirror images of each other, with
    the person's left and right swapped and world x negated."""
    pytest.importorskip("ai_edge_litert")
    from ehps.detection.landmarks import PoseLandmarker

    lmk = PoseLandmarker()
    h, w = astronaut.shape[:2]
    roi = Roi(260.0, 250.0, 420.0, 420.0, math.radians(12.0))
    mirrored_image = np.ascontiguousarray(astronaut[:, ::-1])
    mirrored_roi = Roi(w - 1.0 - roi.cx, roi.cy, roi.w, roi.h, -roi.rotation)
    flipped = lmk(astronaut, roi, flip=True)
    plain_of_mirror = lmk(mirrored_image, mirrored_roi)
    expect = plain_of_mirror.points[POSE_MIRROR].copy()
    expect[:, 0] = w - 1.0 - expect[:, 0]
    # the two crops hold the same pixels up to OpenCV's fixed-point interpolation weights, so
    # the answers agree to a fraction of a crop pixel (420 / 256 image px); a mirror mapped one
    # crop pixel off, or an unswapped side, would be off by 1.6 px or by a shoulder width
    err = np.linalg.norm(flipped.points[:, :2] - expect[:, :2], axis=1)
    assert np.median(err) < 0.3 and err.max() < 1.5, err
    dz = np.abs(flipped.points[:, 2] - expect[:, 2])  # relative depth: not mirrored
    assert np.median(dz) < 1.0 and dz.max() < 0.02 * np.ptp(expect[:, 2]), dz
    world = plain_of_mirror.world[POSE_MIRROR] * [-1.0, 1.0, 1.0]
    np.testing.assert_allclose(flipped.world, world, atol=0.01)  # metres; shoulders: 0.3 m
    np.testing.assert_allclose(flipped.visibility, plain_of_mirror.visibility[POSE_MIRROR],
                               atol=0.02)
    # and the mirrored pass is a real second opinion that agrees with the plain pass
    plain = lmk(astronaut, roi)
    d = np.linalg.norm(plain.points[:13, :2] - flipped.points[:13, :2], axis=1)  # face, arms
    shoulders = np.linalg.norm(plain.points[11, :2] - plain.points[12, :2])
    assert np.median(d) < 0.1 * shoulders and d.max() > 0.0, (d, shoulders)
    assert plain.points[11, 0] > plain.points[12, 0]  # she faces us: her left is image right
    assert flipped.points[11, 0] > flipped.points[12, 0]


def _pose(points: np.ndarray, vis: float) -> PoseResult:
    n = points.shape[0]
    return PoseResult(points=points, visibility=np.full(n, vis), presence=np.full(n, 0.9),
                      auxiliary=points[:2, :2].copy(), world=points / 100.0, score=0.8,
                      roi=Roi(50.0, 50.0, 100.0, 100.0), mask_logits=np.zeros((4, 4)),
                      mask_roi=Roi(50.0, 50.0, 100.0, 100.0))


def test_disagreement_weight_by_hand():
    a = np.zeros((4, 2))
    b = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 8.0], [6.0, 8.0]])  # 0, 4, 8, 10 px apart
    wgt = disagreement_weight(a, b, size_px=100.0, scale=0.08)  # 1/e at 8 px
    np.testing.assert_allclose(wgt, [1.0, math.exp(-0.25), math.exp(-1.0), math.exp(-100 / 64)])


def test_merge_flipped_means_and_down_weights_the_disagreeing_landmark():
    rng = np.random.default_rng(0)
    pts = np.zeros((33, 3))
    pts[:, 1] = np.linspace(0.0, 200.0, 33)  # a 200 px tall column of points
    pts[:, 0] = rng.uniform(0.0, 20.0, 33)
    other = pts.copy()
    other[:, 0] += 1.0  # every point 1 px apart ...
    other[27, :2] += [0.0, 40.0]  # ... and one ankle 40 px off
    a, b = _pose(pts, 0.9), _pose(other, 0.7)
    m = merge_flipped(a, b)
    np.testing.assert_allclose(m.points, 0.5 * (pts + other))
    np.testing.assert_allclose(m.world, 0.5 * (a.world + b.world))
    np.testing.assert_allclose(m.presence, 0.9)
    size = body_size(m.points)
    expect = 0.8 * np.exp(-(np.linalg.norm(pts[:, :2] - other[:, :2], axis=1) / (0.08 * size))
                          ** 2)
    np.testing.assert_allclose(m.visibility, expect)
    assert m.visibility[27] < 0.2 * 0.8 and (np.delete(m.visibility, 27) > 0.79).all()
    assert m.score == a.score and m.roi == a.roi
    plain_mean = merge_flipped(a, b, down_weight=False)
    np.testing.assert_allclose(plain_mean.visibility, 0.8)
    only_2d = merge_flipped(a, b, down_weight=False, world=False)
    np.testing.assert_array_equal(only_2d.world, a.world)
    np.testing.assert_allclose(only_2d.points, m.points)


def test_detector_option():
    pytest.importorskip("ai_edge_litert")
    from ehps.detection import MediapipeDetector

    assert MediapipeDetector.baseline().pose_tta == "none"
    assert MediapipeDetector().pose_tta == "none"  # measured: not better beyond noise
    with pytest.raises(ValueError, match="pose_tta"):
        MediapipeDetector(pose_tta="twice")
