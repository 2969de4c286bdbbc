"""The face-free step's search (:mod:`ehps.detection.segment_search`): which blobs and windows
get landmark crops, with a fake segmenter and recorded verifiers (no model runs), against
geometry worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from ehps.detection.roi import ImagePyramid, Roi
from ehps.detection.segment_search import box_inside, confirms


def _pose(x0, y0, x1, y1):
    """A PoseResult whose landmarks sit at the centre of, and whose person mask is, the
    rectangle x0..x1, y0..y1 (mask over a square crop around it)."""
    from ehps.detection.landmarks import PoseResult

    side = 1.2 * max(x1 - x0, y1 - y0)
    roi = Roi((x0 + x1) / 2, (y0 + y1) / 2, side, side)
    n = 256
    u = roi.cx - roi.w / 2 + (np.arange(n) + 0.5) * roi.w / n
    v = roi.cy - roi.h / 2 + (np.arange(n) + 0.5) * roi.h / n
    inside = (u[None, :] >= x0) & (u[None, :] < x1) & (v[:, None] >= y0) & (v[:, None] < y1)
    points = np.tile([(x0 + x1) / 2, (y0 + y1) / 2, 0.0], (33, 1))
    return PoseResult(points=points, visibility=np.ones(33), presence=np.ones(33),
                      auxiliary=np.zeros((2, 2)), world=np.zeros((33, 3)), score=0.999,
                      roi=roi, mask_logits=np.where(inside, 5.0, -5.0).astype(np.float32),
                      mask_roi=roi)


def _fake(prob, **config):
    from ehps.detection.person_search import PersonSearch, SearchConfig

    class Fake(PersonSearch):
        search = "auto"

        def __init__(self):
            # the windows and their guard only where a test asks for them
            self.search_config = SearchConfig(**{"border_sides": (), "leftover_sides": (),
                                                 "leftover_confirm": 0.0, **config})
            self.selfie_segmenter = lambda pyr, wins, stride: prob
            self.blobs, self.windows = [], []
            self.blob_answers, self.window_answers = [], []

        def _blob_pose(self, pyramid, blob):
            self.blobs.append(np.round(blob).tolist())
            return self.blob_answers.pop(0) if self.blob_answers else None

        def _segment_pose(self, pyramid, roi):
            self.windows.append((round(roi.cx), round(roi.cy), round(roi.w)))
            return self.window_answers.pop(0) if self.window_answers else None

    return Fake()


def test_box_inside():
    assert box_inside(np.array([0, 0, 10, 10]), np.array([5, 0, 20, 20])) == pytest.approx(0.5)
    assert box_inside(np.array([0, 0, 10, 10]), np.array([-5, -5, 30, 30])) == 1.0
    assert box_inside(np.array([0, 0, 10, 10]), np.array([20, 20, 5, 5])) == 0.0
    assert box_inside(np.array([0, 0, 0, 10]), np.array([0, 0, 5, 5])) == 0.0


def test_the_leftover_is_looked_at_again_without_the_person_found():
    """Two people in one 120 x 100 px blob (x 80-200, y 40-140): the first crop verifies the
    left one (mask x 80-140); with ``segment_rounds`` the rest of the blob (its cells right of
    the mask grown by 2 cells of 2 px: x 144-200) is a blob of its own and gets crops."""
    image = np.zeros((200, 300, 3), np.uint8)
    prob = np.zeros((100, 150), np.float32)
    prob[20:70, 40:100] = 0.9
    for rounds, asked in ((0, [[80, 40, 120, 100]]),
                          (2, [[80, 40, 120, 100], [144, 40, 56, 100]])):
        s = _fake(prob, segment_rounds=rounds)
        s.blob_answers = [_pose(80, 40, 140, 140)]
        found = s._segment_candidates(ImagePyramid(image), [])
        assert s.blobs == asked
        assert len(found) == 1


def test_leftover_windows_go_most_covered_first_and_skip_what_a_person_explains():
    """A 100 x 100 px leftover (x 100-200, y 50-150) in a 200 x 400 image, windows of 1/4 of
    the long side (100 px, centres 50 px apart), cover 0.3: the window on it (150, 100) holds
    all of it, the four beside it half of it (1250 of 2500 cells >= 750), the diagonal ones a
    quarter (too little). Nobody verified: all five are asked, the full one first. The first
    one verifies a person whose mask is the whole leftover: nothing else is asked."""
    image = np.zeros((200, 400, 3), np.uint8)
    prob = np.zeros((100, 200), np.float32)
    prob[25:75, 50:100] = 0.9
    s = _fake(prob, leftover_sides=(0.25,))
    assert s._segment_candidates(ImagePyramid(image), []) == []
    assert s.blobs == [[100, 50, 100, 100]]
    assert s.windows[0] == (150, 100, 100)
    assert sorted(s.windows[1:]) == [(100, 100, 100), (150, 50, 100), (150, 150, 100),
                                     (200, 100, 100)]
    s = _fake(prob, leftover_sides=(0.25,))
    s.window_answers = [_pose(100, 50, 200, 150)]
    found = s._segment_candidates(ImagePyramid(image), [])
    assert s.windows == [(150, 100, 100)] and len(found) == 1


def test_a_window_person_must_stand_on_the_leftover():
    """The segmenter sees two regions (x 100-200 and x 240-320); a person found already (mask
    x 240-320) explains the second. A window's verified result on the second region (mask
    x 260-300, y 70-130: too little of the known person inside it to swallow them) is a new
    person only while that region is leftover."""
    from ehps.detection.person_search import Candidate

    image = np.zeros((200, 400, 3), np.uint8)
    prob = np.zeros((100, 200), np.float32)
    prob[25:75, 50:100] = 0.9
    prob[25:75, 120:160] = 0.9
    for known, expected in (([], 1), ([Candidate(_pose(240, 50, 320, 150), 0.9, 0.99)], 0)):
        s = _fake(prob, leftover_sides=(0.25,), segment_min_px=0.0)
        s.window_answers = [_pose(260, 70, 300, 130)]
        assert len(s._segment_candidates(ImagePyramid(image), known)) == expected
        assert len(s.windows) >= 1


def _scored(pose, score):
    pose.score = score
    return pose


def test_the_wider_crop_confirms_a_whole_person_and_not_a_part():
    """Box of the window's person: x 100-200, y 50-150 (a 100 px square, grown by 2 % by
    person_box). A wider crop seeing the same square confirms it (IoU ~1); one seeing the whole
    body below it (x 100-200, y 50-300: IoU 100*100 / (100*250) = 0.4) does not at 0.6, but
    does at 0.35; a sure-enough box with presence 0.98 < 0.99 does not; nothing does not."""
    from ehps.detection.people import person_box
    from ehps.detection.search_config import SearchConfig

    h = w = 400
    box = person_box(_pose(100, 50, 200, 150), [], h, w)
    assert box[2] == pytest.approx(104, abs=2) and box[3] == pytest.approx(104, abs=2)
    cfg = SearchConfig(leftover_confirm=0.6)
    assert confirms(box, _pose(100, 50, 200, 150), h, w, cfg)
    assert not confirms(box, _pose(100, 50, 200, 300), h, w, cfg)
    assert confirms(box, _pose(100, 50, 200, 300), h, w, SearchConfig(leftover_confirm=0.35))
    assert not confirms(box, _scored(_pose(100, 50, 200, 150), 0.98), h, w, cfg)
    assert confirms(box, _scored(_pose(100, 50, 200, 150), 0.98), h, w,
                    SearchConfig(leftover_confirm=0.6, segment_presence_agreed=0.95))
    assert not confirms(box, None, h, w, cfg)


def test_a_window_person_is_kept_only_when_the_wider_crop_agrees():
    """The leftover of the window test above (x 100-200, y 50-150, image 200 x 400); the first
    window verifies a person filling it. With ``leftover_confirm`` the landmark model is asked
    once more, on a square of 1.5 x the person box's long side (1.5 x ~104 = ~156 px) centred
    on (150, 100); the person is kept when that crop sees the same box, dropped when it sees
    a bigger body (the window showed a part)."""
    image = np.zeros((200, 400, 3), np.uint8)
    prob = np.zeros((100, 200), np.float32)
    prob[25:75, 50:100] = 0.9
    for wider, kept in ((_pose(100, 50, 200, 150), 1), (_pose(40, 10, 260, 200), 0)):
        s = _fake(prob, leftover_sides=(0.25,), leftover_confirm=0.6)
        asked = []

        def landmarker(pyramid, roi, _w=wider, _a=asked):
            _a.append(roi)
            return _w

        s.pose_landmarker = landmarker
        s.window_answers = [_pose(100, 50, 200, 150)]
        found = s._segment_candidates(ImagePyramid(image), [])
        assert len(found) == kept
        assert len(asked) == 1
        assert (asked[0].cx, asked[0].cy) == pytest.approx((150, 100), abs=1)
        assert asked[0].w == pytest.approx(156, abs=3) and asked[0].h == asked[0].w


def test_a_blob_person_admitted_by_agreement_needs_the_wider_crop_with_agreed_confirm():
    """A blob (x 80-200, y 40-140) verified with presence 0.97 (under 0.99) that the segmenter
    fully agrees with: counted with ``segment_presence_agreed`` 0.95. With ``agreed_confirm``
    0.6 the landmark model is asked once more on a 1.5x crop (side 1.5 x 1.04 x 120 px): the
    person stays when that crop gives the same box, goes when it gives one of about 3x the area
    (IoU ~0.3); a person with presence 0.995 is not asked again."""
    image = np.zeros((200, 300, 3), np.uint8)
    prob = np.zeros((100, 150), np.float32)
    prob[20:70, 40:100] = 0.9
    same, taller = _pose(80, 40, 200, 140), _pose(20, 0, 280, 200)
    cases = ((0.97, same, 0.0, 1, 0), (0.97, same, 0.6, 1, 1), (0.97, taller, 0.6, 0, 1),
             (0.995, taller, 0.6, 1, 0))
    for score, wider, need, kept, calls in cases:
        s = _fake(prob, segment_presence_agreed=0.95, agreed_confirm=need)
        asked = []

        def landmarker(pyramid, roi, _w=wider, _a=asked):
            _a.append(roi)
            return _w

        s.pose_landmarker = landmarker
        s.blob_answers = [_scored(_pose(80, 40, 200, 140), score)]
        assert len(s._segment_candidates(ImagePyramid(image), [])) == kept
        assert len(asked) == calls
        if calls:
            assert asked[0].w == pytest.approx(1.5 * 120 * 1.04, abs=2)  # box grown 2 % a side


def test_config_validates_the_new_fields():
    from ehps.detection.person_search import SearchConfig

    for bad in ({"segment_rounds": -1}, {"segment_inside": 1.5}, {"leftover_sides": (0.0,)},
                {"leftover_cover": 0.0}, {"leftover_confirm": 1.5},
                {"leftover_confirm_scale": 0.5}, {"agreed_confirm": -0.1}):
        with pytest.raises(ValueError):
            SearchConfig(**bad)
    base = SearchConfig.baseline()
    assert base.segment_rounds == 0 and base.leftover_sides == () and base.segment_inside == 0
    assert base.leftover_confirm == 0.0
