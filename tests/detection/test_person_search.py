"""Pieces of the person search checked against cases worked out by hand: cross-scale circle
merging, tiles beyond the border, skipping covered tiles, face-explained heads, the crop guessed
from a face, part-of-a-bigger-person coverage; and the full-range face detector on a real photo."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ehps.detection.face_detector import FACE_TO_CROP, FACE_TO_HIPS, roi_from_face
from ehps.detection.person_search import (
    SearchConfig,
    explained_by,
    head_region,
    merge_circles,
    uncovered_windows,
)
from ehps.detection.roi import Roi
from ehps.detection.search import tile_grid


def _circle(cx, cy, r):
    return np.array([[cx, cy], [cx, cy - r], [0, 0], [0, 0]], np.float32)


def test_merge_circles_keeps_close_people_apart():
    kps = np.stack([
        _circle(100, 100, 50),  # a
        _circle(110, 100, 55),  # same person as a (close centre, same size): merged
        _circle(100, 100, 15),  # a small person in front of a: other size, kept
        _circle(160, 100, 50),  # a neighbour 60 px away (1.2 radii): kept
    ])
    scores = np.array([0.9, 0.95, 0.6, 0.8])
    kept = merge_circles(kps, scores, distance=0.35, scale=1.6)
    assert kept.tolist() == [1, 3, 2]  # best score first; a is b's duplicate


def test_tiles_beyond_the_border():
    plain = tile_grid(480, 640, 160, overlap=0.5)
    xs = sorted({w.cx for w in plain})
    assert xs[0] == 80 and xs[-1] == 560  # inside the image
    padded = tile_grid(480, 640, 160, overlap=0.5, border=0.25)
    xs = sorted({w.cx for w in padded})
    ys = sorted({w.cy for w in padded})
    assert xs[0] == pytest.approx(40) and xs[-1] == pytest.approx(600)
    assert ys[0] == pytest.approx(40) and ys[-1] == pytest.approx(440)
    steps = np.diff(xs)
    assert steps.max() <= 80 + 1e-6  # still at least 50 % overlap


def test_uncovered_windows():
    wins = [Roi(50, 50, 100, 100), Roi(150, 50, 100, 100), Roi(250, 50, 100, 100)]
    boxes = [np.array([0, 0, 100, 100]), np.array([100, 0, 40, 100])]
    left = uncovered_windows(wins, boxes, 100, 300, cover=0.85)
    # the first window is covered; the second only by 40 %; the third not at all
    assert [w.cx for w in left] == [150, 250]
    assert uncovered_windows(wins, [], 100, 300, 0.85) == wins


def test_head_region_and_explained_faces():
    pts = np.zeros((33, 2))
    pts[:11] = [[100 + dx, 50 + dy] for dx, dy in zip(np.linspace(-10, 10, 11),
                                                     np.linspace(-5, 5, 11))]
    pts[11:] = [[100, 150]] * 22  # the body 100 px below
    pts[30] = [100, 250]
    region = head_region(pts, grow=0.5)
    # face points span 20 x 10 px (x 90-110, y 45-55), the body 205 px (y 45-250): the size is
    # max(20, 0.2 * 205) = 41 px, and the box grows by half of it on every side
    np.testing.assert_allclose(region, [69.5, 24.5, 130.5, 75.5])
    assert explained_by(np.array([90, 40, 110, 60]), [region])
    assert not explained_by(np.array([190, 40, 210, 60]), [region])


def test_crop_from_an_upright_and_a_lying_face():
    box = np.array([90, 40, 110, 60], np.float32)  # 20 px face
    kps = np.array([[95, 45], [105, 45], [100, 50], [100, 55], [90, 47], [110, 47]], np.float32)
    roi = roi_from_face(box, kps)
    assert roi.cx == pytest.approx(100) and roi.cy == pytest.approx(45 + FACE_TO_HIPS * 20)
    assert roi.w == pytest.approx(FACE_TO_CROP * 20) and abs(roi.rotation) < 1e-6
    # the same face turned a quarter: the person lies with the head to the left (mouth to
    # the image's +x), so the hips are to the right and the crop is turned by -90 degrees
    lying = np.stack([kps[:, 1], 2 * 100 - kps[:, 0]], 1)  # (x, y) -> (y, -x) about (100, 50)
    lying = lying - lying[[0, 1]].mean(0) + [50, 100]
    roi = roi_from_face(box, lying)
    assert roi.cx == pytest.approx(50 + FACE_TO_HIPS * 20) and roi.cy == pytest.approx(100)
    assert roi.rotation == pytest.approx(-math.pi / 2)


def test_search_config_validation():
    with pytest.raises(ValueError, match="merge"):
        SearchConfig(merge="average")
    with pytest.raises(ValueError, match="fractions"):
        SearchConfig(tile_sides=(2.0,))
    with pytest.raises(ValueError, match="zoom_side"):
        SearchConfig(zoom_side=0.0)
    base = SearchConfig.baseline()
    assert base.tile_sides == (0.5, 0.25) and base.merge == "weighted" and not base.face_sides
    # the second round's changes are off in the baseline
    assert base.part_silhouette == 0 and base.zoom_score == 0 and base.min_box_px == 0


@pytest.mark.embedded
def test_full_range_face_detector_on_the_astronaut(astronaut):
    pytest.importorskip("ai_edge_litert")
    from ehps.detection.face_detector import FaceDetector

    faces = FaceDetector()(astronaut)
    assert len(faces) == 1 and faces.scores[0] > 0.8
    x0, y0, x1, y1 = faces.boxes_xyxy[0]
    # her face (by eye: eyes near (205, 105) and (248, 107), chin near y = 170)
    assert 160 < x0 < 200 and 230 < x1 < 290 and 50 < y0 < 100 and 150 < y1 < 200
    right_eye, left_eye = faces.keypoints[0, 0], faces.keypoints[0, 1]
    assert right_eye[0] < left_eye[0]  # the person's right eye on the image's left
    assert np.hypot(*(right_eye - [205, 105])) < 12 and np.hypot(*(left_eye - [248, 107])) < 12


@pytest.mark.embedded
def test_auto_finds_a_small_person_beside_a_large_one(astronaut, basketball1):
    """Issue 19: ``auto`` must not skip small people because one large person is present. A
    player of basketball1 (his box there, found by hand: x 29-190, y 73-480), scaled to 110 px
    tall, stands to the right of the astronaut, who fills most of the frame: the search before
    issue 19 stops after the large person; today's looks in the tiles she does not cover."""
    pytest.importorskip("ai_edge_litert")
    import cv2

    from ehps.detection import MediapipeDetector

    crop = basketball1[63:480, 19:200]
    s = 110 / crop.shape[0]
    small = cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    image = astronaut.copy()
    h, w = small.shape[:2]
    y0, x0 = 380 - h // 2, 440
    image[y0:y0 + h, x0:x0 + w] = small
    truth = np.array([x0, y0, w, h], np.float32)

    def found(detector) -> list[np.ndarray]:
        return [p.bbox_xywh for p in detector(image)]

    def overlaps(box: np.ndarray) -> bool:
        lo = np.maximum(box[:2], truth[:2])
        hi = np.minimum(box[:2] + box[2:], truth[:2] + truth[2:])
        inter = float(np.prod(np.clip(hi - lo, 0, None)))
        return inter / float(box[2] * box[3] + truth[2] * truth[3] - inter) > 0.5

    before = found(MediapipeDetector.baseline(hands=False, face=False))
    today = found(MediapipeDetector(hands=False, face=False))
    assert len(before) == 1 and not any(overlaps(b) for b in before)  # only the astronaut
    assert len(today) == 2 and sum(overlaps(b) for b in today) == 1


def _pose_with_mask(x0, y0, x1, y1, roi, points):
    """A PoseResult whose person mask (256 x 256 over ``roi``, unrotated) is the image-pixel
    rectangle x0..x1, y0..y1, and whose 33 landmarks span ``points`` (2, 2) corners."""
    from ehps.detection.landmarks import PoseResult

    n = 256
    u = roi.cx - roi.w / 2 + (np.arange(n) + 0.5) * roi.w / n
    v = roi.cy - roi.h / 2 + (np.arange(n) + 0.5) * roi.h / n
    inside = ((u[None, :] >= x0) & (u[None, :] < x1) & (v[:, None] >= y0) & (v[:, None] < y1))
    logits = np.where(inside, 5.0, -5.0).astype(np.float32)
    pts = np.zeros((33, 3))
    pts[:, :2] = np.linspace(points[0], points[1], 33)
    return PoseResult(points=pts, visibility=np.ones(33), presence=np.ones(33),
                      auxiliary=np.zeros((2, 2)), world=np.zeros((33, 3)), score=0.9, roi=roi,
                      mask_logits=logits, mask_roi=roi)


def test_parts_of_a_bigger_person_by_their_own_silhouette():
    """A pair of legs inside a big person's silhouette is a part of it; a small person standing
    beside it, whose box is half inside the big person's box, is not (fractions by hand)."""
    from ehps.detection.people import silhouette_inside
    from ehps.detection.person_search import Candidate, PersonSearch

    big = _pose_with_mask(100, 50, 200, 350, Roi(150, 200, 320, 320), [(100, 50), (200, 350)])
    # legs: all of their mask inside the big one's
    legs = _pose_with_mask(120, 250, 180, 340, Roi(150, 295, 128, 128), [(120, 250), (180, 340)])
    # a small person x 170..230: 30 of its 60 px width overlap the big silhouette
    beside = _pose_with_mask(170, 200, 230, 320, Roi(200, 260, 160, 160),
                             [(170, 200), (230, 320)])
    assert silhouette_inside(legs, big, 400, 400) == pytest.approx(1.0)
    assert silhouette_inside(beside, big, 400, 400) == pytest.approx(0.5, abs=0.05)
    assert silhouette_inside(big, legs, 400, 400) < 0.2

    search = PersonSearch()
    search.search_config = SearchConfig(contained=0.0, part_silhouette=0.6)
    people = [Candidate(p, 0.9, 0.9) for p in (big, legs, beside)]
    kept = search._drop_parts(people, 400, 400)
    assert [c.pose for c in kept] == [big, beside]
    search.search_config = SearchConfig(contained=0.0, part_silhouette=0.0)  # off
    assert len(search._drop_parts(people, 400, 400)) == 3


def test_zoom_windows_from_weak_tile_detections():
    """Weak tile detections become zoom windows centred on them: one per person (the same
    circle twice gives one window), none on a person already found, at most ``zoom_max``."""
    from ehps.detection.person_search import Candidate, PersonSearch
    from ehps.detection.pose_detector import PoseDetections

    kps = np.stack([
        _circle(100, 100, 20),  # a small person
        _circle(104, 100, 21),  # the same one seen by a neighbouring tile
        _circle(300, 200, 20),  # someone already found (below)
        _circle(500, 300, 18),
        _circle(700, 300, 18),
    ])
    scores = np.array([0.3, 0.2, 0.4, 0.25, 0.2], np.float32)
    hints = PoseDetections(np.zeros((5, 4), np.float32), kps, scores)
    known = _pose_with_mask(280, 150, 320, 250, Roi(300, 200, 100, 100), [(280, 150), (320, 250)])
    known.auxiliary = np.array([[300.0, 200.0], [300.0, 180.0]])
    search = PersonSearch()
    search.search_config = SearchConfig(zoom_score=0.15, zoom_side=1 / 8, zoom_max=2)
    wins = search._zoom_windows(hints, [Candidate(known, 0.9, 0.9)], 800)
    assert [(w.cx, w.cy, w.w) for w in wins] == [(100, 100, 100), (500, 300, 100)]
    search.search_config = SearchConfig(zoom_score=0.15, zoom_max=12)
    assert len(search._zoom_windows(hints, [], 800)) == 4


def test_weak_detections_leave_the_strong_ones_unchanged(astronaut):
    """``detect_with_weak`` gives exactly the detections of a plain call, plus weaker ones."""
    pytest.importorskip("ai_edge_litert")
    from ehps.detection.pose_detector import PoseDetector

    det = PoseDetector(1)
    win = Roi(256, 256, 256, 256)
    plain = det(astronaut, win)
    strong, weak = det.detect_with_weak(astronaut, win, 0.05)
    np.testing.assert_array_equal(strong.keypoints, plain.keypoints)
    np.testing.assert_array_equal(strong.scores, plain.scores)
    assert len(weak) > 0 and (weak.scores < 0.5).all() and (weak.scores >= 0.05).all()
