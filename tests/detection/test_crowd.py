"""The synthetic crowd set and its scoring: matching and per-height counts worked out by hand, a
rendered scene whose truth agrees with its pixels, the file round trip, and the detector on a
small rendered crowd."""

from __future__ import annotations

import numpy as np
import pytest

from ehps.testing.crowd_metrics import CrowdScore, height_bin, match_scene
from ehps.testing.synthetic_crowd import (
    CrowdPerson,
    CrowdScene,
    load_scene,
    make_crowd_scene,
    save_scene,
)


def _person(box, height, ignore=False, amodal=None):
    box = np.asarray(box, np.float32)
    return CrowdPerson(box, np.asarray(amodal if amodal is not None else box, np.float32),
                       float(height), 0.3 if ignore else 1.0, "standing", ignore)


def _scene(people, regions=()):
    return CrowdScene(np.zeros((200, 300, 3), np.uint8), people,
                      np.asarray(regions, np.float32).reshape(-1, 4), "test")


def test_matching_by_hand():
    scene = _scene(
        [_person((10, 10, 20, 60), 60),  # 0: found by detection a
         _person((100, 10, 40, 100), 100),  # 1: found by b, then b' is a duplicate
         _person((200, 10, 30, 50), 170, amodal=(200, -150, 30, 210)),  # 2: cut at the top
         _person((250, 100, 30, 60), 60, ignore=True)],  # 3: less than half visible
        regions=[(0, 150, 100, 50)])
    boxes = np.array([
        [12, 10, 20, 58],  # a -> person 0
        [100, 12, 40, 98],  # b -> person 1
        [102, 12, 38, 96],  # b' duplicate of 1 -> false positive
        [200, 0, 30, 60],  # c -> person 2 by the visible box
        [251, 101, 29, 58],  # d -> the ignore person: neither
        [10, 160, 40, 30],  # e -> inside the real person of the background: neither
        [150, 150, 20, 40],  # f -> nobody: false positive
    ], np.float32)
    scores = np.array([0.9, 0.95, 0.8, 0.7, 0.6, 0.5, 0.4])
    m = match_scene(boxes, scores, scene)
    assert m.detection_status == ["tp", "tp", "fp", "tp", "ignored", "ignored", "fp"]
    assert m.detection_person[:4] == [0, 1, -1, 2]
    assert m.found == [True, True, True, False]
    score = CrowdScore()
    score.add(boxes, scores, scene, seconds=1.0)
    assert score.people.tolist() == [1, 1, 1] and score.found.tolist() == [1, 1, 1]
    # true positives in their person's bin; false positives by their own box: 98 and 40 px
    assert score.tp.tolist() == [1, 1, 1] and score.fp.tolist() == [1, 1, 0]
    o = score.overall()
    assert o["recall_80plus"] == 1.0 and o["precision"] == pytest.approx(3 / 5)
    assert [height_bin(h) for h in (39.9, 40, 79.9, 80, 159, 160, 1e4)] == [-1, 0, 0, 1, 1, 2, 2]


@pytest.fixture(scope="module")
def small_crowd(anny_body):
    pytest.importorskip("skimage")
    return make_crowd_scene(anny_body, np.random.default_rng([77, 3]), max_people=3)


@pytest.mark.embedded
def test_rendered_scene_truth_agrees_with_its_pixels(small_crowd, tmp_path):
    scene = small_crowd
    h, w = scene.image.shape[:2]
    assert scene.image.dtype == np.uint8 and (h, w) in ((480, 640), (576, 768))
    assert 1 <= len(scene.people) <= 3
    for p in scene.people:
        x, y, bw, bh = p.box_xywh
        assert 0 <= x and 0 <= y and x + bw <= w and y + bh <= h
        ax, ay, aw, ah = p.amodal_xywh
        # the visible box lies inside the whole silhouette's box
        assert ax - 1 <= x and ay - 1 <= y and x + bw <= ax + aw + 1 and y + bh <= ay + ah + 1
        assert 0.0 <= p.visible_fraction <= 1.0 and p.height_px == max(aw, ah)
        assert p.ignore == (p.visible_fraction < 0.5)
        inside = ax >= 0 and ay >= 0 and ax + aw <= w and ay + ah <= h
        if inside and p.visible_fraction > 0.999:
            # nobody in front and no border cut: the visible box is the whole silhouette's box
            np.testing.assert_allclose(p.box_xywh, p.amodal_xywh, atol=0.5)
    path = tmp_path / "scene.npz"
    save_scene(path, scene)
    back = load_scene(path)
    np.testing.assert_array_equal(back.image, scene.image)
    assert [(q.kind, q.ignore) for q in back.people] == [(q.kind, q.ignore) for q in scene.people]
    np.testing.assert_allclose([q.box_xywh for q in back.people],
                               [q.box_xywh for q in scene.people])


@pytest.mark.embedded
def test_detector_on_a_small_rendered_crowd(small_crowd):
    pytest.importorskip("ai_edge_litert")
    from ehps.detection import MediapipeDetector

    det = MediapipeDetector(hands=False, face=False)
    people = det(small_crowd.image)
    m = match_scene(np.array([p.bbox_xywh for p in people]).reshape(-1, 4),
                    np.array([p.score for p in people]), small_crowd)
    big = [f for f, p in zip(m.found, small_crowd.people) if not p.ignore and p.height_px >= 80]
    assert all(big), (m, [(p.height_px, p.visible_fraction) for p in small_crowd.people])
    assert m.detection_status.count("fp") == 0
