"""Face-free person proposals (:mod:`ehps.detection.segment_proposals`): window geometry, blobs,
leftover masks and segmenter agreement worked out by hand, and the bundled selfie segmenter on
a real photo."""

from __future__ import annotations

import numpy as np
import pytest

from ehps.detection.roi import Roi
from ehps.detection.segment_proposals import (
    BORDER_INSET,
    blob_boxes,
    border_windows,
    cells_in_window,
    leftover_mask,
    mask_agreement,
    segment_windows,
    touches_border,
)


def _pose_with_mask(x0, y0, x1, y1, roi):
    """A PoseResult whose person mask (256 x 256 over ``roi``) is the rectangle x0..x1, y0..y1."""
    from ehps.detection.landmarks import PoseResult

    n = 256
    u = roi.cx - roi.w / 2 + (np.arange(n) + 0.5) * roi.w / n
    v = roi.cy - roi.h / 2 + (np.arange(n) + 0.5) * roi.h / n
    inside = (u[None, :] >= x0) & (u[None, :] < x1) & (v[:, None] >= y0) & (v[:, None] < y1)
    return PoseResult(points=np.zeros((33, 3)), visibility=np.ones(33), presence=np.ones(33),
                      auxiliary=np.zeros((2, 2)), world=np.zeros((33, 3)), score=0.99, roi=roi,
                      mask_logits=np.where(inside, 5.0, -5.0).astype(np.float32), mask_roi=roi)


def test_border_windows_hug_the_edges():
    h, w = 300, 400
    wins = border_windows(h, w, (0.5,))
    side = 200.0
    # along the top and bottom: centres 100, 200, 300 (half a side apart); left/right: 100, 200
    assert len(wins) == 3 + 3 + 2 + 2
    assert all(r.w == side and r.h == side for r in wins)
    inset = BORDER_INSET * side
    tops = sorted(r.cx for r in wins if r.cy == inset)
    assert tops == [100.0, 200.0, 300.0]
    assert sorted(r.cy for r in wins if r.cx == w - inset) == [100.0, 200.0]
    # every window reaches past exactly one edge (or two at a corner), by 0.3 of its side
    for r in wins:
        out = [r.cx - side / 2 < 0, r.cy - side / 2 < 0, r.cx + side / 2 > w, r.cy + side / 2 > h]
        assert 1 <= sum(out) <= 2
    assert border_windows(h, w, ()) == []


def test_segment_windows_cover_the_image():
    wins = segment_windows(300, 400)
    assert wins[0] == Roi(200.0, 150.0, 400.0, 400.0)
    halves = wins[1:]
    assert len(halves) == 6 and all(r.w == 200.0 for r in halves)
    assert min(r.cx for r in halves) == 100.0 and max(r.cx for r in halves) == 300.0
    assert min(r.cy for r in halves) == 100.0 and max(r.cy for r in halves) == 200.0


def test_blob_boxes_keep_person_sized_blobs():
    left = np.zeros((100, 150), bool)
    left[10:40, 5:20] = True  # 30 x 15 cells -> 60 x 30 px at stride 2: kept
    left[60:64, 100:103] = True  # 8 px: too small
    boxes = blob_boxes(left, stride=2, min_side_px=32.0)
    assert len(boxes) == 1
    np.testing.assert_allclose(boxes[0], [10.0, 20.0, 30.0, 60.0])
    # a blob over most of the image is the segmenter failing on the background
    everything = np.ones((100, 150), bool)
    assert blob_boxes(everything, stride=2, min_side_px=32.0) == []


def test_leftover_mask_removes_found_people():
    stride = 2
    prob = np.zeros((50, 100), np.float32)
    prob[10:40, 10:30] = 0.9  # person A: x 20..60, y 20..80 px
    prob[10:40, 60:80] = 0.9  # person B: x 120..160
    found = _pose_with_mask(20, 20, 60, 80, Roi(40.0, 50.0, 100.0, 100.0))
    left = leftover_mask(prob, [found], stride, grow=0)
    assert not left[10:40, 10:30].any()
    assert left[11:39, 61:79].all()
    assert leftover_mask(prob, [], stride, grow=0)[11:39, 11:29].all()
    assert cells_in_window(left, stride, Roi(140.0, 50.0, 60.0, 80.0)) == left.sum()
    assert cells_in_window(left, stride, Roi(40.0, 50.0, 60.0, 80.0)) == 0


def test_mask_agreement_by_hand():
    stride = 2
    prob = np.zeros((100, 100), np.float32)
    prob[:, :50] = 0.8  # the segmenter sees a person left of x = 100 px
    # a mask over x 60..140: half of it (60..100) where the segmenter agrees
    pose = _pose_with_mask(60, 40, 140, 120, Roi(100.0, 80.0, 128.0, 128.0))
    assert mask_agreement(pose, prob, stride) == pytest.approx(0.5, abs=0.03)
    assert mask_agreement(pose, np.zeros_like(prob), stride) == 0.0
    assert touches_border(np.array([0.0, 10, 20, 20]), 100, 100)
    assert touches_border(np.array([50.0, 50, 49, 20]), 100, 100)
    assert not touches_border(np.array([10.0, 10, 20, 20]), 100, 100)


def test_search_config_checks_the_new_fields():
    from ehps.detection.person_search import SearchConfig

    assert SearchConfig().segment_proposals and SearchConfig().border_sides
    assert not SearchConfig.baseline().segment_proposals
    assert SearchConfig.baseline().border_sides == ()
    with pytest.raises(ValueError, match="border_sides"):
        SearchConfig(border_sides=(0.0,))
    with pytest.raises(ValueError, match="segment_presence"):
        SearchConfig(segment_presence=1.5)
    with pytest.raises(ValueError, match="segment_agreement"):
        SearchConfig(segment_agreement=-0.1)


@pytest.mark.embedded
def test_selfie_segmenter_sees_the_astronaut(astronaut):
    """On the astronaut photo the bundled segmenter's map covers her body (the landmark model's
    own person mask, an independent model) and not the background's top corners."""
    pytest.importorskip("ai_edge_litert")
    from ehps.detection import MediapipeDetector
    from ehps.detection.roi import ImagePyramid
    from ehps.detection.segment_proposals import SelfieSegmenter, map_stride

    pyramid = ImagePyramid(astronaut)
    assert map_stride(512, 512) == 2 and map_stride(9000, 12000) == 12
    prob = SelfieSegmenter()(pyramid, segment_windows(*astronaut.shape[:2]), 2)
    assert prob.shape == (256, 256) and 0.0 <= prob.min() and prob.max() <= 1.0
    det = MediapipeDetector(hands=False, face=False)
    people = det.search_people(pyramid)
    assert len(people) == 1
    assert mask_agreement(people[0][0], prob, 2) > 0.8
    assert prob[:20, :20].mean() < 0.2 and prob[:20, -20:].mean() < 0.2


@pytest.mark.slow
@pytest.mark.embedded
def test_auto_finds_a_person_cut_by_the_border(anny_body, shared_data):
    """Scene 1 of the benchmark's crowd set (seed 0): a crouching person cut by the right border
    has no face for the BlazePose detector, so the search of the second round misses them; the
    face-free proposals find them, with no false positive added (truth from the renderer)."""
    pytest.importorskip("ai_edge_litert")
    from dataclasses import replace

    from ehps.detection import MediapipeDetector
    from ehps.detection.person_search import SearchConfig
    from ehps.testing.crowd_metrics import match_scene
    from ehps.testing.synthetic_crowd import make_crowd_scene

    if not (shared_data / "vtest.avi").is_file():
        pytest.skip("the shared data (the crowd set's backgrounds) is not there")
    scene = make_crowd_scene(anny_body, np.random.default_rng([0, 1]), 1, str(shared_data))
    h, w = scene.image.shape[:2]

    def cut(p):
        x, y, bw, bh = p.amodal_xywh
        return x < 0 or y < 0 or x + bw > w or y + bh > h

    wanted = [j for j, p in enumerate(scene.people)
              if not p.ignore and p.height_px >= 80 and cut(p)]
    assert wanted, [(p.height_px, p.amodal_xywh) for p in scene.people]
    found = {}
    for name, cfg in (("r2", replace(SearchConfig(), segment_proposals=False)),
                      ("now", SearchConfig())):
        det = MediapipeDetector(hands=False, face=False, search_config=cfg)
        people = det(scene.image)
        found[name] = match_scene(np.array([p.bbox_xywh for p in people]).reshape(-1, 4),
                                  np.array([p.score for p in people]), scene)
    assert not any(found["r2"].found[j] for j in wanted)
    assert any(found["now"].found[j] for j in wanted)
    assert found["now"].detection_status.count("fp") <= found["r2"].detection_status.count("fp")


@pytest.mark.embedded
def test_no_face_free_crops_where_the_segmenter_fails():
    """The selfie segmenter marks most of a close-up cat photo as a person; the face-free step
    then runs no landmark crop at all (and finds nobody)."""
    pytest.importorskip("ai_edge_litert")
    data = pytest.importorskip("skimage.data")
    from ehps.detection import MediapipeDetector
    from ehps.detection.roi import ImagePyramid
    from ehps.detection.segment_proposals import SelfieSegmenter

    cat = np.ascontiguousarray(data.chelsea())
    pyramid = ImagePyramid(cat)
    prob = SelfieSegmenter()(pyramid, segment_windows(*cat.shape[:2]), 2)
    assert (prob > 0.5).mean() > 0.5
    det = MediapipeDetector(hands=False, face=False)
    calls = []
    det._segment_pose = lambda pyr, roi: calls.append(roi)  # type: ignore[method-assign]
    assert det._segment_candidates(pyramid, []) == [] and calls == []


def test_a_blob_no_crop_verifies_is_tried_as_two_halves():
    """Two people side by side make one wide blob; when no crop on it verifies, each half gets
    its own crops (and a tall blob, or a verified one, is not split). No model runs: a fake
    segmenter gives the map and the blob verifier is recorded."""
    from ehps.detection.person_search import PersonSearch, SearchConfig
    from ehps.detection.roi import ImagePyramid

    class Fake(PersonSearch):
        search = "auto"

        def __init__(self, prob, verified):
            self.search_config = SearchConfig(border_sides=(), leftover_sides=(),
                                              segment_split=True)
            self.selfie_segmenter = lambda pyr, wins, stride: prob
            self.asked, self.verified = [], verified

        def _blob_pose(self, pyramid, blob):
            self.asked.append(np.round(blob).tolist())
            return None if not self.verified else _pose_with_mask(0, 0, 1, 1, Roi(0, 0, 2, 2))

    image = np.zeros((200, 300, 3), np.uint8)
    prob = np.zeros((100, 150), np.float32)
    prob[20:70, 40:100] = 0.9  # a blob 120 px wide, 100 px tall at x 80, y 40
    s = Fake(prob, verified=False)
    assert s._segment_candidates(ImagePyramid(image), []) == []
    assert s.asked == [[80, 40, 120, 100], [80, 40, 60, 100], [140, 40, 60, 100]]
    tall = np.zeros_like(prob)
    tall[10:90, 60:80] = 0.9  # 40 px wide, 160 px tall: one person, not split
    s = Fake(tall, verified=False)
    s._segment_candidates(ImagePyramid(image), [])
    assert s.asked == [[120, 20, 40, 160]]
    s = Fake(prob, verified=True)  # verified on the whole blob: no halves
    s._segment_candidates(ImagePyramid(image), [])
    assert s.asked == [[80, 40, 120, 100]]
